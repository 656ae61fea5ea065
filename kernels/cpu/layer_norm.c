/* kernels/cpu/layer_norm.c — layer norm over the last dim on the CPU.
 *
 *   x (R, C) (R = product of the leading dims)
 *   forward:  mu = mean(x_r), var = mean((x_r - mu)^2), rstd = 1/sqrt(var + eps),
 *             xh = (x - mu) rstd, y = xh gamma + beta
 *   backward: dbeta += sum_r dy, dgamma += sum_r dy xh,
 *             dx += rstd (dy gamma - mean_c(dy gamma) - xh mean_c(dy gamma xh))
 *
 * Statistics in one pass: sums of d = x - x_r[0] and d^2 (shifted data, so no cancellation
 * when |mu| >> std), VW lanes in float, the lanes added in double.
 * Cost per element: forward ~7 FLOP, x read twice (the second time from cache) and y
 * written: 8 bytes from memory. Backward ~12 FLOP, x and dy read (twice, from cache), dx read
 * and written: 16 bytes.
 *
 * OpenMP over rows (forward) and over a fixed split of the rows into at most LN_MAX_CHUNKS
 * chunks (backward): dgamma and dbeta are summed per chunk (float lanes over the chunk's
 * rows, stored in double), then over chunks in order; the chunking depends only on R, so the
 * result does not depend on the thread count.
 */
#include <math.h>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/layer_norm.h"

#define LN_MAX_CHUNKS 64

// ----------------------------------------------------------------------------
// forward

int layer_norm_forward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *beta, float eps, Tensor *y,
                           Tensor *mean, Tensor *rstd) {
    const long rows = (long)tensor_rows(x);
    const int c = tensor_cols(x);
    const float *gm = gamma->data, *bt = beta->data;
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * (double)x->numel))
    for (long r = 0; r < rows; r++) {
        const float *xr = x->data + (size_t)r * c;
        float *yr = y->data + (size_t)r * c;
        const float k = xr[0];
        const vf vk = vf_set1(k);
        vf a = vf_set1(0.0f), b = vf_set1(0.0f);
        int j = 0;
        for (; j + VW <= c; j += VW) {
            vf d = vf_sub(vf_load(xr + j), vk);
            a = vf_add(a, d);
            b = vf_fma(d, d, b);
        }
        double s = vf_hsum(a), ss = vf_hsum(b);
        for (; j < c; j++) {
            double d = xr[j] - k;
            s += d;
            ss += d * d;
        }
        const double dm = s / c, var = fmax(ss / c - dm * dm, 0.0);
        /* The backward recomputes xh from these rounded values; use the same ones here. */
        const float muf = (float)(k + dm), rs = (float)(1.0 / sqrt(var + eps));
        mean->data[r] = muf;
        rstd->data[r] = rs;
        const vf vmu = vf_set1(muf), vrs = vf_set1(rs);
        for (j = 0; j + VW <= c; j += VW)
            vf_store(yr + j, vf_fma(vf_mul(vf_sub(vf_load(xr + j), vmu), vrs), vf_load(gm + j), vf_load(bt + j)));
        for (; j < c; j++) yr[j] = fma_s((xr[j] - muf) * rs, gm[j], bt[j]);
    }
    return 0;
}

// ----------------------------------------------------------------------------
// backward

/* dx += rs (dy gamma - c1 - xh c2) for one row, c1 = mean(dy gamma), c2 = mean(dy gamma xh). */
static void row_dx(const float *xr, const float *dyr, const float *gm, float mu, float rs, int c, float *dxr) {
    const vf vmu = vf_set1(mu), vrs = vf_set1(rs);
    vf a = vf_set1(0.0f), b = vf_set1(0.0f);
    int j = 0;
    for (; j + VW <= c; j += VW) {
        vf dg = vf_mul(vf_load(dyr + j), vf_load(gm + j)), xh = vf_mul(vf_sub(vf_load(xr + j), vmu), vrs);
        a = vf_add(a, dg);
        b = vf_fma(dg, xh, b);
    }
    double s1 = vf_hsum(a), s2 = vf_hsum(b);
    for (; j < c; j++) {
        float dg = dyr[j] * gm[j];
        s1 += dg;
        s2 += (double)dg * ((xr[j] - mu) * rs);
    }
    const float c1 = (float)(s1 / c), c2 = (float)(s2 / c);
    const vf v1 = vf_set1(c1), v2 = vf_set1(c2);
    for (j = 0; j + VW <= c; j += VW) {
        vf dg = vf_mul(vf_load(dyr + j), vf_load(gm + j)), xh = vf_mul(vf_sub(vf_load(xr + j), vmu), vrs);
        vf u = vf_sub(vf_sub(dg, v1), vf_mul(xh, v2));
        vf_store(dxr + j, vf_fma(vrs, u, vf_load(dxr + j)));
    }
    for (; j < c; j++) dxr[j] = fma_s(rs, dyr[j] * gm[j] - c1 - (xr[j] - mu) * rs * c2, dxr[j]);
}

int layer_norm_backward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *mean, const Tensor *rstd,
                            const Tensor *dy, Tensor *dx, Tensor *dgamma, Tensor *dbeta) {
    const long rows = (long)tensor_rows(x);
    const int c = tensor_cols(x);
    const float *gm = gamma->data, *mu = mean->data, *rsd = rstd->data;
    const bool params = dgamma || dbeta;
    const long chunks = rows < LN_MAX_CHUNKS ? rows : LN_MAX_CHUNKS;
    /* Per chunk sums of dy xh and dy: (chunks, 2, C). */
    double *part = params ? cpu_scratch(SCRATCH_LAYER_NORM, (size_t)chunks * 2 * c * sizeof(double),
                                        "layer_norm_backward")
                          : NULL;
    if (params && !part) return -1;
#pragma omp parallel for schedule(static) if (cpu_par(16.0 * (double)x->numel))
    for (long k = 0; k < chunks; k++) {
        const long r0 = rows * k / chunks, r1 = rows * (k + 1) / chunks;
        if (params) {
            double *pgx = part + (size_t)k * 2 * c, *pg = pgx + c;
            int j = 0;
            for (; j + VW <= c; j += VW) {
                vf a = vf_set1(0.0f), b = vf_set1(0.0f);
                for (long r = r0; r < r1; r++) {
                    const float *xr = x->data + (size_t)r * c, *dyr = dy->data + (size_t)r * c;
                    vf g = vf_load(dyr + j), xh = vf_mul(vf_sub(vf_load(xr + j), vf_set1(mu[r])), vf_set1(rsd[r]));
                    a = vf_fma(g, xh, a);
                    b = vf_add(b, g);
                }
                float la[VW], lb[VW];
                vf_store(la, a);
                vf_store(lb, b);
                for (int i = 0; i < VW; i++) pgx[j + i] = la[i], pg[j + i] = lb[i];
            }
            for (; j < c; j++) {
                float a = 0, b = 0;
                for (long r = r0; r < r1; r++) {
                    float g = dy->data[(size_t)r * c + j];
                    a = fma_s(g, (x->data[(size_t)r * c + j] - mu[r]) * rsd[r], a);
                    b += g;
                }
                pgx[j] = a, pg[j] = b;
            }
        }
        if (dx)
            for (long r = r0; r < r1; r++)
                row_dx(x->data + (size_t)r * c, dy->data + (size_t)r * c, gm, mu[r], rsd[r], c,
                       dx->data + (size_t)r * c);
    }
    if (params) {
        for (int j = 0; j < c; j++) {
            double sgx = 0, sg = 0;
            for (long k = 0; k < chunks; k++) {
                sgx += part[(size_t)k * 2 * c + j];
                sg += part[(size_t)k * 2 * c + c + j];
            }
            if (dgamma) dgamma->data[j] += (float)sgx;
            if (dbeta) dbeta->data[j] += (float)sg;
        }
    }
    return 0;
}
