/* kernels/cpu/silu.c — SiLU on the CPU.
 *   forward  y = x * s,  s = 1 / (1 + exp(-x))
 *   backward dx += dy * s * (1 + x * (1 - s))
 * Per element: forward ~4 FLOP + exp, 8 bytes; backward ~7 FLOP + exp, 16 bytes.
 * Memory-bound; OpenMP over elements. x and y may be bf16 (fp32 math, y rounded once); in
 * bf16 the bytes are 4 forward, 12 backward. */
#include <math.h>

#include "kernels/cpu/elem.h"
#include "kernels/silu.h"

int silu_forward_cpu(const Tensor *x, Tensor *y) {
    long n = (long)x->numel;
    if (x->dtype == DT_F32) { /* the plain loop, vectorised as before */
        const float *xp = x->data;
        float *yp = y->data;
#pragma omp parallel for schedule(static) if (n > 32768)
        for (long i = 0; i < n; i++) yp[i] = xp[i] / (1.0f + expf(-xp[i]));
        return 0;
    }
#pragma omp parallel for schedule(static) if (n > 32768)
    for (long i = 0; i < n; i++) {
        float v = elem_get(x, i);
        elem_set(y, i, v / (1.0f + expf(-v)));
    }
    return 0;
}

int silu_backward_cpu(const Tensor *x, const Tensor *dy, Tensor *dx) {
    const float *g = dy->data;
    float *d = dx->data;
    long n = (long)x->numel;
    if (x->dtype == DT_F32) {
        const float *xp = x->data;
#pragma omp parallel for schedule(static) if (n > 32768)
        for (long i = 0; i < n; i++) {
            float s = 1.0f / (1.0f + expf(-xp[i]));
            d[i] += g[i] * s * (1.0f + xp[i] * (1.0f - s));
        }
        return 0;
    }
#pragma omp parallel for schedule(static) if (n > 32768)
    for (long i = 0; i < n; i++) {
        float v = elem_get(x, i), s = 1.0f / (1.0f + expf(-v));
        d[i] += g[i] * s * (1.0f + v * (1.0f - s));
    }
    return 0;
}
