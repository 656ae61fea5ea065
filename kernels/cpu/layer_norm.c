/* kernels/cpu/layer_norm.c — layer norm over the last dim on the CPU.
 *
 *   x (R, C) (R = product of the leading dims)
 *   forward:  mu = mean(x_r), var = mean((x_r - mu)^2) (two passes, in double),
 *             rstd = 1/sqrt(var + eps), xh = (x - mu) rstd, y = xh gamma + beta
 *   backward: dbeta += sum_r dy, dgamma += sum_r dy xh,
 *             dx += rstd (dy gamma - mean_c(dy gamma) - xh mean_c(dy gamma xh))
 *
 * Cost per element: forward ~8 FLOP, x read three times (twice from cache) and y
 * written: 8 bytes from memory. Backward ~12 FLOP, x and dy read, dx read and written:
 * 16 bytes.
 *
 * OpenMP over rows. dgamma and dbeta are summed in double per fixed chunk of rows (the
 * chunking depends only on R), then reduced over chunks in order: the result does not
 * depend on the thread count.
 */
#include <math.h>
#include <stdlib.h>

#include "kernels/layer_norm.h"

#define LN_MAX_CHUNKS 64

// ----------------------------------------------------------------------------
// forward

int layer_norm_forward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *beta, float eps, Tensor *y,
                           Tensor *mean, Tensor *rstd) {
    const long rows = (long)tensor_rows(x);
    const int c = tensor_cols(x);
    const float *gm = gamma->data, *bt = beta->data;
#pragma omp parallel for schedule(static) if (x->numel > 32768)
    for (long r = 0; r < rows; r++) {
        const float *xr = x->data + (size_t)r * c;
        float *yr = y->data + (size_t)r * c;
        double s = 0, ss = 0;
        for (int j = 0; j < c; j++) s += xr[j];
        const double mu = s / c;
        for (int j = 0; j < c; j++) {
            double d = xr[j] - mu;
            ss += d * d;
        }
        /* The backward recomputes xh from these rounded values; use the same ones here. */
        const float muf = (float)mu, rs = (float)(1.0 / sqrt(ss / c + eps));
        mean->data[r] = muf;
        rstd->data[r] = rs;
        for (int j = 0; j < c; j++) yr[j] = (xr[j] - muf) * rs * gm[j] + bt[j];
    }
    return 0;
}

// ----------------------------------------------------------------------------
// backward

int layer_norm_backward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *mean, const Tensor *rstd,
                            const Tensor *dy, Tensor *dx, Tensor *dgamma, Tensor *dbeta) {
    const long rows = (long)tensor_rows(x);
    const int c = tensor_cols(x);
    const float *gm = gamma->data;
    const bool params = dgamma || dbeta;
    const long chunks = rows < LN_MAX_CHUNKS ? rows : LN_MAX_CHUNKS;
    /* Per chunk sums of dy xh and dy: (chunks, C) each. */
    double *part = params ? calloc((size_t)chunks * c * 2, sizeof(double)) : NULL;
    if (params && !part) return ldm_error("layer_norm_backward", "out of host memory for x %s", tshape(x));
#pragma omp parallel for schedule(static) if (x->numel > 32768)
    for (long k = 0; k < chunks; k++) {
        double *pgx = params ? part + (size_t)k * c : NULL, *pg = params ? part + (size_t)(chunks + k) * c : NULL;
        for (long r = rows * k / chunks; r < rows * (k + 1) / chunks; r++) {
            const float *xr = x->data + (size_t)r * c, *dyr = dy->data + (size_t)r * c;
            const float mu = mean->data[r], rs = rstd->data[r];
            if (params)
                for (int j = 0; j < c; j++) {
                    pgx[j] += (double)dyr[j] * ((xr[j] - mu) * rs);
                    pg[j] += dyr[j];
                }
            if (!dx) continue;
            double s1 = 0, s2 = 0; /* sum dy gamma, sum dy gamma xh */
            for (int j = 0; j < c; j++) {
                float dg = dyr[j] * gm[j];
                s1 += dg;
                s2 += (double)dg * ((xr[j] - mu) * rs);
            }
            const float c1 = (float)(s1 / c), c2 = (float)(s2 / c);
            float *dxr = dx->data + (size_t)r * c;
            for (int j = 0; j < c; j++) dxr[j] += rs * (dyr[j] * gm[j] - c1 - (xr[j] - mu) * rs * c2);
        }
    }
    if (params) {
        for (int j = 0; j < c; j++) {
            double sgx = 0, sg = 0;
            for (long k = 0; k < chunks; k++) {
                sgx += part[(size_t)k * c + j];
                sg += part[(size_t)(chunks + k) * c + j];
            }
            if (dgamma) dgamma->data[j] += (float)sgx;
            if (dbeta) dbeta->data[j] += (float)sg;
        }
    }
    free(part);
    return 0;
}
