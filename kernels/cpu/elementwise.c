/* kernels/cpu/elementwise.c — elementwise ops on the CPU (math in kernels/elementwise.h).
 *   fill:  4 bytes/elem written.           axpy: 2 FLOP, 12 bytes/elem.
 *   add:   1 FLOP, 12 bytes/elem.          mul:  1 FLOP, 12 bytes/elem.
 *   mul backward: 4 FLOP, up to 28 bytes/elem.   scale: 1 FLOP, 8 bytes/elem.
 *   scale_shift forward: 2 FLOP, 8 bytes/elem (+ the (N, C) modulation, cached).
 *   scale_shift backward: dx 2 FLOP, 12 bytes/elem; dscale/dshift 2 FLOP and 8 bytes/elem,
 *     summed over the broadcast axis in double, in a fixed order (deterministic).
 * Memory-bound; OpenMP over elements (or rows) above cpu_par's size (cpu_util.h), `omp simd`
 * on the inner loops (gcc -O2 leaves loops of unknown trip count scalar). A combined
 * `parallel for simd` takes `if (parallel: ...)`: a bare `if` applies to the simd part too,
 * and below the threshold the loop ran scalar (add of 8192 floats 3.6 us, not 1.0).
 * add, mul, scale and scale_shift read and write fp32 or bf16 activations: fp32 tensors take
 * the loops above; a bf16 operand takes a loop of the same shape through elem.h (fp32 math,
 * one rounding per stored value, so the result is the fp32 result rounded). Gradients are
 * fp32. */
#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/elem.h"
#include "kernels/elementwise.h"

#define SS_CBLOCK 64 /* channels per scale_shift reduction task */

int fill_cpu(Tensor *y, float value) {
    float *p = y->data;
    long n = (long)y->numel;
#pragma omp parallel for simd schedule(static) if (parallel: cpu_par(4.0 * n))
    for (long i = 0; i < n; i++) p[i] = value;
    return 0;
}

int axpy_cpu(Tensor *y, const Tensor *x, float alpha) {
    float *yp = y->data;
    const float *xp = x->data;
    long n = (long)y->numel;
#pragma omp parallel for simd schedule(static) if (parallel: cpu_par(12.0 * n))
    for (long i = 0; i < n; i++) yp[i] += alpha * xp[i];
    return 0;
}

/* Whether every non-NULL tensor is fp32 (the fast loops); else some operand is bf16. */
static bool all_f32(const Tensor *a, const Tensor *b, const Tensor *c) {
    return (!a || a->dtype == DT_F32) && (!b || b->dtype == DT_F32) && (!c || c->dtype == DT_F32);
}

/* Bytes an elementwise op over n elements moves: the sum of its tensors' element sizes. */
static double bytes_of(long n, const Tensor *a, const Tensor *b, const Tensor *c) {
    size_t e = (a ? dtype_bytes(a->dtype) : 0) + (b ? dtype_bytes(b->dtype) : 0) + (c ? dtype_bytes(c->dtype) : 0);
    return (double)n * (double)e;
}

int add_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y) {
    long n = (long)a->numel;
    if (!all_f32(a, b, y)) {
#pragma omp parallel for schedule(static) if (cpu_par(bytes_of(n, a, b, y)))
        for (long i = 0; i < n; i++) elem_set(y, i, elem_get(a, i) + elem_get(b, i));
        return 0;
    }
    const float *ap = a->data, *bp = b->data;
    float *yp = y->data;
#pragma omp parallel for simd schedule(static) if (parallel: cpu_par(12.0 * n))
    for (long i = 0; i < n; i++) yp[i] = ap[i] + bp[i];
    return 0;
}

int mul_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y) {
    long n = (long)a->numel;
    if (!all_f32(a, b, y)) {
#pragma omp parallel for schedule(static) if (cpu_par(bytes_of(n, a, b, y)))
        for (long i = 0; i < n; i++) elem_set(y, i, elem_get(a, i) * elem_get(b, i));
        return 0;
    }
    const float *ap = a->data, *bp = b->data;
    float *yp = y->data;
#pragma omp parallel for simd schedule(static) if (parallel: cpu_par(12.0 * n))
    for (long i = 0; i < n; i++) yp[i] = ap[i] * bp[i];
    return 0;
}

/* da and db may be the same buffer (y = x * x): both contributions land. */
int mul_backward_cpu(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    const float *g = dy->data;
    long n = (long)a->numel;
    if (!all_f32(a, b, NULL)) {
        if (da) {
            float *d = da->data;
#pragma omp parallel for schedule(static) if (cpu_par(bytes_of(n, b, dy, da) + 4.0 * n))
            for (long i = 0; i < n; i++) d[i] += g[i] * elem_get(b, i);
        }
        if (db) {
            float *d = db->data;
#pragma omp parallel for schedule(static) if (cpu_par(bytes_of(n, a, dy, db) + 4.0 * n))
            for (long i = 0; i < n; i++) d[i] += g[i] * elem_get(a, i);
        }
        return 0;
    }
    const float *ap = a->data, *bp = b->data;
    if (da) {
        float *d = da->data;
#pragma omp parallel for simd schedule(static) if (parallel: cpu_par(16.0 * n))
        for (long i = 0; i < n; i++) d[i] += g[i] * bp[i];
    }
    if (db) {
        float *d = db->data;
#pragma omp parallel for simd schedule(static) if (parallel: cpu_par(16.0 * n))
        for (long i = 0; i < n; i++) d[i] += g[i] * ap[i];
    }
    return 0;
}

int scale_forward_cpu(const Tensor *x, float s, Tensor *y) {
    long n = (long)x->numel;
    if (!all_f32(x, y, NULL)) {
#pragma omp parallel for schedule(static) if (cpu_par(bytes_of(n, x, y, NULL)))
        for (long i = 0; i < n; i++) elem_set(y, i, s * elem_get(x, i));
        return 0;
    }
    const float *xp = x->data;
    float *yp = y->data;
#pragma omp parallel for simd schedule(static) if (parallel: cpu_par(8.0 * n))
    for (long i = 0; i < n; i++) yp[i] = s * xp[i];
    return 0;
}

// ----------------------------------------------------------------------------
// scale_shift: x viewed as (N, L, C), L = product of the middle dims

int scale_shift_forward_cpu(const Tensor *x, const Tensor *scale, const Tensor *shift, Tensor *y) {
    if (x->numel == 0) return 0; /* an empty batch: L = rows / N would divide by zero */
    const int C = tensor_cols(x);
    const long rows = (long)tensor_rows(x), L = rows / x->shape[0];
    if (!all_f32(x, scale, shift) || y->dtype != DT_F32) {
#pragma omp parallel for schedule(static) if (cpu_par(bytes_of((long)x->numel, x, y, NULL)))
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
    const float *xp = x->data, *sc = scale ? scale->data : NULL, *sh = shift ? shift->data : NULL;
    float *yp = y->data;
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * (double)x->numel))
    for (long r = 0; r < rows; r++) {
        const long n = r / L;
        const float *xr = xp + r * C; /* (C) */
        float *yr = yp + r * C;       /* (C) */
        const float *s = sc ? sc + n * C : NULL, *b = sh ? sh + n * C : NULL;
        if (s && b) {
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = xr[c] * (1.0f + s[c]) + b[c];
        } else if (s) {
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = xr[c] * (1.0f + s[c]);
        } else if (b) {
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = xr[c] + b[c];
        } else {
#pragma omp simd
            for (int c = 0; c < C; c++) yr[c] = xr[c];
        }
    }
    return 0;
}

/* scale_shift_backward_cpu with a bf16 x or scale: the same loops through elem.h. */
static int scale_shift_backward_elem(const Tensor *x, const Tensor *scale, const Tensor *dy, Tensor *dx,
                                     Tensor *dscale, Tensor *dshift) {
    const int C = tensor_cols(x), N = x->shape[0];
    const long rows = (long)tensor_rows(x), L = rows / N;
    const float *g = dy->data;
    if (dx) {
        float *d = dx->data;
#pragma omp parallel for schedule(static) if (cpu_par(bytes_of((long)x->numel, dy, dx, dx) + 2.0 * (double)x->numel))
        for (long r = 0; r < rows; r++) {
            const size_t m = (size_t)(r / L) * C;
            for (int c = 0; c < C; c++)
                d[r * C + c] += g[r * C + c] * (scale ? 1.0f + elem_get(scale, m + c) : 1.0f);
        }
    }
    if (!dscale && !dshift) return 0;
    float *ds = dscale ? dscale->data : NULL, *db = dshift ? dshift->data : NULL;
    const int nblk = (C + SS_CBLOCK - 1) / SS_CBLOCK;
#pragma omp parallel for schedule(static) if (cpu_par(bytes_of((long)x->numel, x, dy, NULL)))
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

int scale_shift_backward_cpu(const Tensor *x, const Tensor *scale, const Tensor *dy, Tensor *dx, Tensor *dscale,
                             Tensor *dshift) {
    if (x->numel == 0) return 0; /* an empty batch: nothing to write or accumulate */
    const int C = tensor_cols(x), N = x->shape[0];
    const long rows = (long)tensor_rows(x), L = rows / N;
    if (!all_f32(x, scale, NULL)) return scale_shift_backward_elem(x, scale, dy, dx, dscale, dshift);
    const float *xp = x->data, *g = dy->data, *sc = scale ? scale->data : NULL;
    if (dx) {
        float *d = dx->data;
#pragma omp parallel for schedule(static) if (cpu_par(16.0 * (double)x->numel))
        for (long r = 0; r < rows; r++) {
            const float *s = sc ? sc + (r / L) * C : NULL;
            if (s) {
#pragma omp simd
                for (int c = 0; c < C; c++) d[r * C + c] += g[r * C + c] * (1.0f + s[c]);
            } else {
#pragma omp simd
                for (int c = 0; c < C; c++) d[r * C + c] += g[r * C + c];
            }
        }
    }
    if (!dscale && !dshift) return 0;
    /* One task per (n, block of SS_CBLOCK channels): sums over l in order, in double. */
    float *ds = dscale ? dscale->data : NULL, *db = dshift ? dshift->data : NULL;
    const int nblk = (C + SS_CBLOCK - 1) / SS_CBLOCK;
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * (double)x->numel))
    for (long task = 0; task < (long)N * nblk; task++) {
        const long n = task / nblk;
        const int c0 = (int)(task % nblk) * SS_CBLOCK, cn = C - c0 < SS_CBLOCK ? C - c0 : SS_CBLOCK;
        double as[SS_CBLOCK] = {0}, ab[SS_CBLOCK] = {0};
        for (long l = 0; l < L; l++) {
            const long off = (n * L + l) * C + c0;
#pragma omp simd
            for (int c = 0; c < cn; c++) {
                as[c] += (double)g[off + c] * xp[off + c];
                ab[c] += g[off + c];
            }
        }
#pragma omp simd
        for (int c = 0; c < cn; c++) {
            if (ds) ds[n * C + c0 + c] += (float)as[c];
            if (db) db[n * C + c0 + c] += (float)ab[c];
        }
    }
    return 0;
}
