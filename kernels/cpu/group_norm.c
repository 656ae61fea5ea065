/* kernels/cpu/group_norm.c — group norm (+ optional fused SiLU) on the CPU, NHWC.
 *
 *   x (N, L, C) with L = product of the middle dims; G groups of Cg = C/G contiguous
 *   channels; a group (n, g) holds M = L*Cg values.
 *   forward:  mu = mean(x), var = mean((x - mu)^2) (two passes, accumulated in double),
 *             rstd = 1/sqrt(var + eps), xh = (x - mu) rstd, z = xh gamma_c + beta_c,
 *             y = silu ? z sigmoid(z) : z
 *   backward: g = dy (times silu'(z) = s (1 + z (1 - s)) when fused; z recomputed from
 *             x, mean, rstd, gamma, beta), dbeta_c += sum g, dgamma_c += sum g xh,
 *             dx += rstd (g gamma_c - mean_grp(g gamma) - xh mean_grp(g gamma xh))
 *
 * Cost per element: forward ~8 FLOP (+ exp and ~4 FLOP with SiLU), x read three times
 * (sum, centred sum of squares, output) and y written: 16 bytes, the re-reads mostly
 * from cache. Backward ~14 FLOP (+ 2 exp with SiLU), x and dy read twice, dx read and
 * written: 24 bytes.
 *
 * OpenMP over (n, g): each task owns its group's channels of sample n. dgamma and dbeta
 * are first summed per (n, c) in double into a scratch buffer, then reduced over n in a
 * fixed order, so results do not depend on the thread count.
 *
 * x and y may be bf16 (elem.h): the statistics and all arithmetic stay fp32 (double for
 * the sums), y is rounded once.
 */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/elem.h"
#include "kernels/group_norm.h"

// ----------------------------------------------------------------------------
// forward

int group_norm_forward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *beta, int groups, float eps,
                           bool silu, Tensor *y, Tensor *mean, Tensor *rstd) {
    if (x->numel == 0) return 0; /* an empty batch: l = numel / (N C) would divide by zero */
    const int n_batch = x->shape[0], c = x->shape[x->ndim - 1], cg = c / groups;
    const long l = (long)(x->numel / ((size_t)n_batch * (size_t)c));
    const double m = (double)l * cg;
    const float *gm = gamma->data, *bt = beta->data;
#pragma omp parallel for collapse(2) schedule(static) if (x->numel > 32768)
    for (int n = 0; n < n_batch; n++) {
        for (int g = 0; g < groups; g++) {
            const size_t off = (size_t)n * l * c + (size_t)g * cg; /* group (L, Cg) with row stride C */
            double s = 0;
            for (long p = 0; p < l; p++)
                for (int j = 0; j < cg; j++) s += elem_get(x, off + p * c + j);
            const double mu = s / m;
            double ss = 0;
            for (long p = 0; p < l; p++)
                for (int j = 0; j < cg; j++) {
                    double d = elem_get(x, off + p * c + j) - mu;
                    ss += d * d;
                }
            /* The backward recomputes z from these rounded values; use the same ones here. */
            const float muf = (float)mu, r = (float)(1.0 / sqrt(ss / m + eps));
            mean->data[n * groups + g] = muf;
            rstd->data[n * groups + g] = r;
            const float *gmg = gm + g * cg, *btg = bt + g * cg;
            for (long p = 0; p < l; p++)
                for (int j = 0; j < cg; j++) {
                    float z = (elem_get(x, off + p * c + j) - muf) * r * gmg[j] + btg[j];
                    elem_set(y, off + p * c + j, silu ? z / (1.0f + expf(-z)) : z);
                }
        }
    }
    return 0;
}

// ----------------------------------------------------------------------------
// backward

/* dL/dz at one element: dy, times the SiLU derivative at z when fused. */
static inline float grad_z(float dy, float xh, float gm, float bt, bool silu) {
    if (!silu) return dy;
    float z = xh * gm + bt, s = 1.0f / (1.0f + expf(-z));
    return dy * s * (1.0f + z * (1.0f - s));
}

int group_norm_backward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *beta, const Tensor *mean,
                            const Tensor *rstd, const Tensor *dy, int groups, bool silu, Tensor *dx, Tensor *dgamma,
                            Tensor *dbeta) {
    if (x->numel == 0) return 0; /* an empty batch: nothing to write or accumulate */
    const int n_batch = x->shape[0], c = x->shape[x->ndim - 1], cg = c / groups;
    const long l = (long)(x->numel / ((size_t)n_batch * (size_t)c));
    const double m = (double)l * cg;
    const float *gm = gamma->data, *bt = beta ? beta->data : NULL;
    /* Per (n, c) sums of g xh and g: (N, C) each. */
    double *part = malloc((size_t)n_batch * c * 2 * sizeof(double));
    if (!part) return ldm_error("group_norm_backward", "out of host memory for x %s", tshape(x));
    double *pgx = part, *pg = part + (size_t)n_batch * c;
#pragma omp parallel for collapse(2) schedule(static) if (x->numel > 32768)
    for (int n = 0; n < n_batch; n++) {
        for (int g = 0; g < groups; g++) {
            const size_t off = (size_t)n * l * c + (size_t)g * cg;
            const float *dyp = dy->data + off; /* (L, Cg), row stride C */
            const float mu = mean->data[n * groups + g], r = rstd->data[n * groups + g];
            const float *gmg = gm + g * cg, *btg = bt ? bt + g * cg : NULL;
            double *pgx_g = pgx + (size_t)n * c + g * cg, *pg_g = pg + (size_t)n * c + g * cg;
            for (int j = 0; j < cg; j++) pgx_g[j] = pg_g[j] = 0;
            for (long p = 0; p < l; p++)
                for (int j = 0; j < cg; j++) {
                    float xh = (elem_get(x, off + p * c + j) - mu) * r;
                    float gz = grad_z(dyp[p * c + j], xh, gmg[j], btg ? btg[j] : 0.0f, silu);
                    pgx_g[j] += (double)gz * xh;
                    pg_g[j] += gz;
                }
            if (!dx) continue;
            double s1 = 0, s2 = 0; /* sum g gamma, sum g gamma xh */
            for (int j = 0; j < cg; j++) {
                s1 += gmg[j] * pg_g[j];
                s2 += gmg[j] * pgx_g[j];
            }
            const float c1 = (float)(s1 / m), c2 = (float)(s2 / m);
            float *dxp = dx->data + off;
            for (long p = 0; p < l; p++)
                for (int j = 0; j < cg; j++) {
                    float xh = (elem_get(x, off + p * c + j) - mu) * r;
                    float gz = grad_z(dyp[p * c + j], xh, gmg[j], btg ? btg[j] : 0.0f, silu);
                    dxp[p * c + j] += r * (gz * gmg[j] - c1 - xh * c2);
                }
        }
    }
    for (int ch = 0; ch < c; ch++) {
        double sgx = 0, sg = 0;
        for (int n = 0; n < n_batch; n++) {
            sgx += pgx[(size_t)n * c + ch];
            sg += pg[(size_t)n * c + ch];
        }
        if (dgamma) dgamma->data[ch] += (float)sgx;
        if (dbeta) dbeta->data[ch] += (float)sg;
    }
    free(part);
    return 0;
}
