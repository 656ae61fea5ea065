/* kernels/cpu/group_norm.c — group norm (+ optional fused SiLU) on the CPU, NHWC.
 *
 *   x (N, L, C) with L = product of the middle dims; G groups of Cg = C/G contiguous
 *   channels; a group (n, g) holds M = L*Cg values.
 *   forward:  mu = mean(x), var = mean((x - mu)^2), rstd = 1/sqrt(var + eps),
 *             z = (x - mu) a_c + beta_c with a_c = rstd gamma_c, y = silu ? z sigmoid(z) : z
 *   backward: g = dy (times silu'(z) = s (1 + z (1 - s)) when fused; z recomputed exactly as
 *             the forward made it), xh = (x - mu) rstd, dbeta_c += sum g, dgamma_c += sum g xh,
 *             dx += rstd (g gamma_c - mean_grp(g gamma) - xh mean_grp(g gamma xh))
 *
 * One pass for the statistics: sums of d = x - K and d^2 with K a value of the group (its
 * first element), so E[d^2] - E[d]^2 does not cancel when |mu| >> std (the shifted-data
 * algorithm). Sums run in float over a chunk of GN_CHUNK positions, VW channels at a time
 * (a channel per lane: NHWC rows are contiguous in C, a group's Cg channels are not
 * contiguous across positions), then in double across chunks and channels.
 *
 * Cost per element: forward ~6 FLOP (+ exp and ~3 FLOP with SiLU), x read twice (stats,
 * output) and y written: 12 bytes. Backward ~14 FLOP (+ 2 exp with SiLU), x and dy read twice,
 * dx read and written: 24 bytes. exp is vec_math.h's.
 *
 * OpenMP over tasks (n, chunk of GN_CHUNK positions), in one parallel region: chunk sums,
 * then per-(n, group) statistics, then the elementwise pass. Every sum has a fixed order that
 * depends on the shape alone, so results do not depend on the thread count. Scratch comes from
 * cpu_scratch (no malloc once a shape has been seen).
 */
#include <math.h>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/group_norm.h"

#define GN_CHUNK 64

typedef struct {
    int n_batch, c, groups, cg;
    long l, nch, tasks; /* positions, chunks per sample, n_batch * nch */
} GnShape;

static GnShape gn_shape(const Tensor *x, int groups) {
    GnShape s;
    s.n_batch = x->shape[0];
    s.c = x->shape[x->ndim - 1];
    s.groups = groups;
    s.cg = s.c / groups;
    s.l = (long)(x->numel / ((size_t)s.n_batch * (size_t)s.c));
    s.nch = (s.l + GN_CHUNK - 1) / GN_CHUNK;
    s.tasks = (long)s.n_batch * s.nch;
    return s;
}

/* Positions [p0, p1) of task t's sample n. */
static void chunk_of(const GnShape *s, long t, int *n, long *p0, long *p1) {
    *n = (int)(t / s->nch);
    *p0 = (t % s->nch) * GN_CHUNK;
    *p1 = *p0 + GN_CHUNK < s->l ? *p0 + GN_CHUNK : s->l;
}

/* Per-channel sums over positions [p0, p1) of one sample: s0 += sum u, s1 += sum v where
 * (u, v) = (x - k, (x - k)^2). x points at the sample, k at the (C) shift row. */
static void chunk_stats(const float *x, const float *k, int c, long p0, long p1, double *s0, double *s1) {
    int j = 0;
    for (; j + VW <= c; j += VW) {
        const vf vk = vf_load(k + j);
        vf a = vf_set1(0.0f), b = vf_set1(0.0f);
        for (long p = p0; p < p1; p++) {
            vf d = vf_sub(vf_load(x + p * c + j), vk);
            a = vf_add(a, d);
            b = vf_fma(d, d, b);
        }
        float la[VW], lb[VW];
        vf_store(la, a);
        vf_store(lb, b);
        for (int i = 0; i < VW; i++) s0[j + i] = la[i], s1[j + i] = lb[i];
    }
    for (; j < c; j++) {
        float a = 0, b = 0;
        for (long p = p0; p < p1; p++) {
            float d = x[p * c + j] - k[j];
            a += d;
            b = fma_s(d, d, b);
        }
        s0[j] = a, s1[j] = b;
    }
}

// ----------------------------------------------------------------------------
// forward

int group_norm_forward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *beta, int groups, float eps,
                           bool silu, Tensor *y, Tensor *mean, Tensor *rstd) {
    if (x->numel == 0) return 0; /* an empty batch: l = numel / (N C) would divide by zero */
    const GnShape s = gn_shape(x, groups);
    const int c = s.c, cg = s.cg;
    const double m = (double)s.l * cg;
    /* part (tasks, 2, C) chunk sums; shift, mu, a (N, C) each */
    double *part = cpu_scratch(SCRATCH_GROUP_NORM,
                               (size_t)s.tasks * 2 * c * sizeof(double) + (size_t)3 * s.n_batch * c * sizeof(float),
                               "group_norm");
    if (!part) return -1;
    float *shift = (float *)(part + (size_t)s.tasks * 2 * c), *muv = shift + (size_t)s.n_batch * c,
          *av = muv + (size_t)s.n_batch * c;
    const float *xd = x->data, *gm = gamma->data, *bt = beta->data;
    for (int n = 0; n < s.n_batch; n++)
        for (int ch = 0; ch < c; ch++) shift[(size_t)n * c + ch] = xd[(size_t)n * s.l * c + ch / cg * cg];
#pragma omp parallel if (cpu_par(12.0 * (double)x->numel))
    {
#pragma omp for schedule(static)
        for (long t = 0; t < s.tasks; t++) {
            int n;
            long p0, p1;
            chunk_of(&s, t, &n, &p0, &p1);
            double *pt = part + (size_t)t * 2 * c;
            chunk_stats(xd + (size_t)n * s.l * c, shift + (size_t)n * c, c, p0, p1, pt, pt + c);
        }
#pragma omp for schedule(static)
        for (int ng = 0; ng < s.n_batch * groups; ng++) {
            const int n = ng / groups, g = ng % groups;
            double s0 = 0, s1 = 0;
            for (long k = 0; k < s.nch; k++) {
                const double *pt = part + ((size_t)n * s.nch + k) * 2 * c + g * cg;
                for (int j = 0; j < cg; j++) s0 += pt[j], s1 += pt[c + j];
            }
            const double dm = s0 / m, var = fmax(s1 / m - dm * dm, 0.0);
            /* The backward recomputes z from these rounded values; so does the pass below. */
            const float muf = (float)(shift[(size_t)n * c + g * cg] + dm), r = (float)(1.0 / sqrt(var + eps));
            mean->data[ng] = muf;
            rstd->data[ng] = r;
            for (int j = g * cg; j < (g + 1) * cg; j++) {
                muv[(size_t)n * c + j] = muf;
                av[(size_t)n * c + j] = r * gm[j];
            }
        }
#pragma omp for schedule(static)
        for (long t = 0; t < s.tasks; t++) {
            int n;
            long p0, p1;
            chunk_of(&s, t, &n, &p0, &p1);
            const float *xp = xd + (size_t)n * s.l * c, *mu = muv + (size_t)n * c, *a = av + (size_t)n * c;
            float *yp = y->data + (size_t)n * s.l * c;
            int j = 0;
            for (; j + VW <= c; j += VW) {
                const vf vmu = vf_load(mu + j), va = vf_load(a + j), vb = vf_load(bt + j), zero = vf_set1(0.0f),
                         one = vf_set1(1.0f);
                for (long p = p0; p < p1; p++) {
                    vf z = vf_fma(vf_sub(vf_load(xp + p * c + j), vmu), va, vb);
                    if (silu) z = vf_div(z, vf_add(one, vf_exp(vf_sub(zero, z))));
                    vf_store(yp + p * c + j, z);
                }
            }
            for (; j < c; j++)
                for (long p = p0; p < p1; p++) {
                    float z = fma_s(xp[p * c + j] - mu[j], a[j], bt[j]);
                    yp[p * c + j] = silu ? z / (1.0f + exp_s(-z)) : z;
                }
        }
    }
    return 0;
}

// ----------------------------------------------------------------------------
// backward

typedef struct {
    const float *x, *dy, *mu, *r, *a, *b; /* x, dy at the sample; the rest (C) rows of its (N, C) */
    bool silu;
} GnRow;

/* dL/dz and xh of VW channels at one position. */
static inline vf grad_z_v(const GnRow *w, long i, vf vmu, vf vr, vf va, vf vb, vf *xh) {
    vf d = vf_sub(vf_load(w->x + i), vmu), g = vf_load(w->dy + i);
    *xh = vf_mul(d, vr);
    if (!w->silu) return g;
    const vf one = vf_set1(1.0f);
    vf z = vf_fma(d, va, vb), sg = vf_sigmoid(z);
    return vf_mul(vf_mul(g, sg), vf_fma(z, vf_sub(one, sg), one));
}

static inline float grad_z_s(const GnRow *w, long i, int j, float *xh) {
    float d = w->x[i] - w->mu[j], g = w->dy[i];
    *xh = d * w->r[j];
    if (!w->silu) return g;
    float z = fma_s(d, w->a[j], w->b[j]), sg = 1.0f / (1.0f + exp_s(-z));
    return g * sg * fma_s(z, 1.0f - sg, 1.0f);
}

int group_norm_backward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *beta, const Tensor *mean,
                            const Tensor *rstd, const Tensor *dy, int groups, bool silu, Tensor *dx, Tensor *dgamma,
                            Tensor *dbeta) {
    if (x->numel == 0) return 0; /* an empty batch: nothing to write or accumulate */
    const GnShape s = gn_shape(x, groups);
    const int c = s.c, cg = s.cg;
    const double m = (double)s.l * cg;
    const size_t nc = (size_t)s.n_batch * c;
    /* part (tasks, 2, C) chunk sums of g xh and g; tot (N, 2, C) their sums over chunks;
     * mu, r, a (= r gamma), b (beta, or 0 without one), c1, c2 (N, C) each */
    double *part = cpu_scratch(SCRATCH_GROUP_NORM,
                               ((size_t)s.tasks * 2 * c + 2 * nc) * sizeof(double) + 6 * nc * sizeof(float),
                               "group_norm_backward");
    if (!part) return -1;
    double *tot = part + (size_t)s.tasks * 2 * c;
    float *muv = (float *)(tot + 2 * nc), *rv = muv + nc, *av = rv + nc, *bv = av + nc, *c1v = bv + nc,
          *c2v = c1v + nc;
    const float *gm = gamma->data;
    for (int n = 0; n < s.n_batch; n++)
        for (int ch = 0; ch < c; ch++) {
            const int ng = n * groups + ch / cg;
            const size_t i = (size_t)n * c + ch;
            muv[i] = mean->data[ng];
            rv[i] = rstd->data[ng];
            av[i] = rstd->data[ng] * gm[ch];
            bv[i] = beta ? beta->data[ch] : 0.0f;
        }
#pragma omp parallel if (cpu_par(24.0 * (double)x->numel))
    {
#pragma omp for schedule(static)
        for (long t = 0; t < s.tasks; t++) {
            int n;
            long p0, p1;
            chunk_of(&s, t, &n, &p0, &p1);
            const size_t off = (size_t)n * s.l * c, o = (size_t)n * c;
            const GnRow w = {x->data + off, dy->data + off, muv + o, rv + o, av + o, bv + o, silu};
            double *pgx = part + (size_t)t * 2 * c, *pg = pgx + c;
            int j = 0;
            for (; j + VW <= c; j += VW) {
                const vf vmu = vf_load(w.mu + j), vr = vf_load(w.r + j), va = vf_load(w.a + j),
                         vb = vf_load(w.b + j);
                vf sgx = vf_set1(0.0f), sg = vf_set1(0.0f), xh;
                for (long p = p0; p < p1; p++) {
                    vf gz = grad_z_v(&w, p * c + j, vmu, vr, va, vb, &xh);
                    sgx = vf_fma(gz, xh, sgx);
                    sg = vf_add(sg, gz);
                }
                float la[VW], lb[VW];
                vf_store(la, sgx);
                vf_store(lb, sg);
                for (int i = 0; i < VW; i++) pgx[j + i] = la[i], pg[j + i] = lb[i];
            }
            for (; j < c; j++) {
                float sgx = 0, sg = 0, xh;
                for (long p = p0; p < p1; p++) {
                    float gz = grad_z_s(&w, p * c + j, j, &xh);
                    sgx = fma_s(gz, xh, sgx);
                    sg += gz;
                }
                pgx[j] = sgx, pg[j] = sg;
            }
        }
#pragma omp for schedule(static)
        for (int ng = 0; ng < s.n_batch * groups; ng++) {
            const int n = ng / groups, g = ng % groups;
            double *tgx = tot + (size_t)n * 2 * c, *tg = tgx + c;
            double s1 = 0, s2 = 0; /* sum g gamma, sum g gamma xh */
            for (int j = g * cg; j < (g + 1) * cg; j++) {
                double a = 0, b = 0;
                for (long k = 0; k < s.nch; k++) {
                    const double *pt = part + ((size_t)n * s.nch + k) * 2 * c;
                    a += pt[j], b += pt[c + j];
                }
                tgx[j] = a, tg[j] = b;
                s1 += gm[j] * b;
                s2 += gm[j] * a;
            }
            for (int j = g * cg; j < (g + 1) * cg; j++) {
                c1v[(size_t)n * c + j] = (float)(s1 / m);
                c2v[(size_t)n * c + j] = (float)(s2 / m);
            }
        }
        if (dx) {
#pragma omp for schedule(static)
            for (long t = 0; t < s.tasks; t++) {
                int n;
                long p0, p1;
                chunk_of(&s, t, &n, &p0, &p1);
                const size_t off = (size_t)n * s.l * c, o = (size_t)n * c;
                const GnRow w = {x->data + off, dy->data + off, muv + o, rv + o, av + o, bv + o, silu};
                const float *c1 = c1v + o, *c2 = c2v + o;
                float *dxp = dx->data + off;
                int j = 0;
                for (; j + VW <= c; j += VW) {
                    const vf vmu = vf_load(w.mu + j), vr = vf_load(w.r + j), va = vf_load(w.a + j),
                             vb = vf_load(w.b + j), vg = vf_load(gm + j), v1 = vf_load(c1 + j), v2 = vf_load(c2 + j);
                    vf xh;
                    for (long p = p0; p < p1; p++) {
                        vf gz = grad_z_v(&w, p * c + j, vmu, vr, va, vb, &xh);
                        /* r (g gamma - c1 - xh c2) */
                        vf u = vf_sub(vf_sub(vf_mul(gz, vg), v1), vf_mul(xh, v2));
                        vf_store(dxp + p * c + j, vf_fma(vr, u, vf_load(dxp + p * c + j)));
                    }
                }
                for (; j < c; j++)
                    for (long p = p0; p < p1; p++) {
                        float xh, gz = grad_z_s(&w, p * c + j, j, &xh);
                        dxp[p * c + j] = fma_s(w.r[j], gz * gm[j] - c1[j] - xh * c2[j], dxp[p * c + j]);
                    }
            }
        }
    }
    for (int ch = 0; ch < c; ch++) {
        double sgx = 0, sg = 0;
        for (int n = 0; n < s.n_batch; n++) {
            sgx += tot[(size_t)n * 2 * c + ch];
            sg += tot[(size_t)n * 2 * c + c + ch];
        }
        if (dgamma) dgamma->data[ch] += (float)sgx;
        if (dbeta) dbeta->data[ch] += (float)sg;
    }
    return 0;
}
