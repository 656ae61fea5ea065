/* kernels/cpu/elementwise.c — elementwise ops on the CPU (math in kernels/elementwise.h).
 *   fill:  4 bytes/elem written.           axpy: 2 FLOP, 12 bytes/elem.
 *   add:   1 FLOP, 12 bytes/elem.          mul:  1 FLOP, 12 bytes/elem.
 *   mul backward: 4 FLOP, up to 28 bytes/elem.   scale: 1 FLOP, 8 bytes/elem.
 *   scale_shift forward: 2 FLOP, 8 bytes/elem (+ the (N, C) modulation, cached).
 *   scale_shift backward: dx 2 FLOP, 12 bytes/elem; dscale/dshift 2 FLOP and 8 bytes/elem,
 *     summed over the broadcast axis in double, in a fixed order (deterministic).
 * Memory-bound; OpenMP over elements (or rows) above a size where threads pay off.
 * add, mul, scale and scale_shift read and write fp32 or bf16 activations (elem.h: fp32
 * math, one rounding per stored value); gradients are fp32. */
#include "kernels/cpu/elem.h"
#include "kernels/elementwise.h"

#define PAR_MIN 32768
#define SS_CBLOCK 64 /* channels per scale_shift reduction task */

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

int add_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y) {
    long n = (long)a->numel;
    if (a->dtype == DT_F32) { /* the plain loop, vectorised */
        const float *ap = a->data, *bp = b->data;
        float *yp = y->data;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) yp[i] = ap[i] + bp[i];
        return 0;
    }
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) elem_set(y, i, elem_get(a, i) + elem_get(b, i));
    return 0;
}

int mul_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y) {
    long n = (long)a->numel;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) elem_set(y, i, elem_get(a, i) * elem_get(b, i));
    return 0;
}

/* da and db may be the same buffer (y = x * x): both contributions land. */
int mul_backward_cpu(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    const float *g = dy->data;
    long n = (long)a->numel;
    if (da) {
        float *d = da->data;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) d[i] += g[i] * elem_get(b, i);
    }
    if (db) {
        float *d = db->data;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) d[i] += g[i] * elem_get(a, i);
    }
    return 0;
}

int scale_forward_cpu(const Tensor *x, float s, Tensor *y) {
    long n = (long)x->numel;
    if (x->dtype == DT_F32) { /* the plain loop, vectorised */
        const float *xp = x->data;
        float *yp = y->data;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long i = 0; i < n; i++) yp[i] = s * xp[i];
        return 0;
    }
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) elem_set(y, i, s * elem_get(x, i));
    return 0;
}

// ----------------------------------------------------------------------------
// scale_shift: x viewed as (N, L, C), L = product of the middle dims

int scale_shift_forward_cpu(const Tensor *x, const Tensor *scale, const Tensor *shift, Tensor *y) {
    if (x->numel == 0) return 0; /* an empty batch: L = rows / N would divide by zero */
    const int C = tensor_cols(x);
    const long rows = (long)tensor_rows(x), L = rows / x->shape[0];
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN)
    for (long r = 0; r < rows; r++) {
        const size_t xr = (size_t)r * C, m = (size_t)(r / L) * C; /* row r of x and y; row n of scale, shift */
        for (int c = 0; c < C; c++) {
            float v = elem_get(x, xr + c);
            if (scale) v *= 1.0f + elem_get(scale, m + c);
            if (shift) v += elem_get(shift, m + c);
            elem_set(y, xr + c, v);
        }
    }
    return 0;
}

int scale_shift_backward_cpu(const Tensor *x, const Tensor *scale, const Tensor *dy, Tensor *dx, Tensor *dscale,
                             Tensor *dshift) {
    if (x->numel == 0) return 0; /* an empty batch: nothing to write or accumulate */
    const int C = tensor_cols(x), N = x->shape[0];
    const long rows = (long)tensor_rows(x), L = rows / N;
    const float *g = dy->data;
    if (dx) {
        float *d = dx->data;
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN)
        for (long r = 0; r < rows; r++) {
            const size_t m = (size_t)(r / L) * C;
            for (int c = 0; c < C; c++)
                d[r * C + c] += g[r * C + c] * (scale ? 1.0f + elem_get(scale, m + c) : 1.0f);
        }
    }
    if (!dscale && !dshift) return 0;
    /* One task per (n, block of SS_CBLOCK channels): sums over l in order, in double. */
    float *ds = dscale ? dscale->data : NULL, *db = dshift ? dshift->data : NULL;
    const int nblk = (C + SS_CBLOCK - 1) / SS_CBLOCK;
#pragma omp parallel for schedule(static) if (x->numel > PAR_MIN)
    for (long task = 0; task < (long)N * nblk; task++) {
        const long n = task / nblk;
        const int c0 = (int)(task % nblk) * SS_CBLOCK, cn = C - c0 < SS_CBLOCK ? C - c0 : SS_CBLOCK;
        double as[SS_CBLOCK] = {0}, ab[SS_CBLOCK] = {0};
        for (long l = 0; l < L; l++) {
            const long off = (n * L + l) * C + c0;
            for (int c = 0; c < cn; c++) {
                as[c] += (double)g[off + c] * elem_get(x, off + c);
                ab[c] += g[off + c];
            }
        }
        for (int c = 0; c < cn; c++) {
            if (ds) ds[n * C + c0 + c] += (float)as[c];
            if (db) db[n * C + c0 + c] += (float)ab[c];
        }
    }
    return 0;
}
