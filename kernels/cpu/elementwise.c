/* kernels/cpu/elementwise.c — elementwise ops on the CPU (math in kernels/elementwise.h).
 *   fill: 4 bytes/elem written.  axpy: 2 FLOP, 12 bytes/elem.
 * Memory-bound; OpenMP over elements above a size where threads pay off. */
#include "kernels/elementwise.h"

#define PAR_MIN 32768

int fill_cpu(Tensor *y, float value) {
    float *p = y->data;
    long n = (long)y->numel;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) p[i] = value;
    return 0;
}

int axpy_cpu(Tensor *y, const Tensor *x, float alpha) {
    float *yp = y->data;
    const float *xp = x->data;
    long n = (long)y->numel;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) yp[i] += alpha * xp[i];
    return 0;
}
