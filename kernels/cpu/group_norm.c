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
 * contiguous across positions), then in double across chunks and channels. Every pass walks
 * positions outer and channels inner, so memory is read and written in order (up to
 * GN_SUM_VECS vectors of channels, one accumulator each; channel-major walks, which stride
 * C floats per step, made the 8x64x64x32 backward twice as slow); each channel's sum still
 * adds the positions in order.
 *
 * Cost per element: forward ~6 FLOP (+ exp and ~3 FLOP with SiLU), x read twice (stats,
 * output) and y written: 12 bytes. Backward ~14 FLOP (+ 2 exp with SiLU), x and dy read twice,
 * dx read and written: 24 bytes (+ 4 with SiLU: dL/dz kept between the passes, so exp runs
 * once). exp is vec_math.h's.
 *
 * OpenMP over tasks (n, chunk of GN_CHUNK positions), in one parallel region: chunk sums,
 * then per-(n, group) statistics, then the elementwise pass. Every sum has a fixed order that
 * depends on the shape alone, so results do not depend on the thread count. The tasks are
 * handed out dynamically, about 32 pieces a phase: on a shared machine a thread that wakes
 * late or loses its core (0.3-1 ms with OMP_WAIT_POLICY=passive on a loaded 2-core box) would
 * hold up a static half at each barrier, where dynamic pieces go to whichever thread is
 * running. Scratch comes from cpu_scratch (no malloc once a shape has been seen).
 *
 * x and y may be bf16 (dy, dx and the statistics stay fp32): the loops that touch them are
 * always-inlined with the element type a constant (elem.h), so the fp32 and bf16 versions
 * share the code and the math; bf16 values widen exactly and y is rounded once, so the bf16
 * result is the fp32 result on the widened x, rounded.
 */
#include <math.h>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/elem.h"
#include "kernels/group_norm.h"

#define GN_CHUNK 64
#define GN_SUM_VECS 16 /* passes run position by position up to 16 vectors of channels (one accumulator each) */

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
/* Tasks per dynamic piece: about 32 pieces over `tasks`. */
static int gn_piece(long tasks) { return tasks >= 64 ? (int)(tasks / 32) : 1; }

static void chunk_of(const GnShape *s, long t, int *n, long *p0, long *p1) {
    *n = (int)(t / s->nch);
    *p0 = (t % s->nch) * GN_CHUNK;
    *p1 = *p0 + GN_CHUNK < s->l ? *p0 + GN_CHUNK : s->l;
}

/* The VW lanes of a and b into pa[0..VW) and pb[0..VW), widened to double. */
static inline void lanes_out(vf a, vf b, double *pa, double *pb) {
    float la[VW], lb[VW];
    vf_store(la, a);
    vf_store(lb, b);
    for (int i = 0; i < VW; i++) pa[i] = la[i], pb[i] = lb[i];
}

/* Per-channel sums over positions [p0, p1) of one sample: s0 += sum u, s1 += sum v where
 * (u, v) = (x - k, (x - k)^2). The sample starts at element x0 of x (bf16 when bf), k points
 * at the (C) shift row. */
ELEM_INLINE void chunk_stats(const void *x, size_t x0, const float *k, int c, long p0, long p1, double *s0,
                             double *s1, bool bf) {
    int j = 0;
    if (c / VW <= GN_SUM_VECS) { /* positions outer: x streams in order (see gn_bw_sums) */
        const int cv = c / VW * VW;
        vf a[GN_SUM_VECS], b[GN_SUM_VECS];
        for (int jj = 0; jj < cv; jj += VW) a[jj / VW] = b[jj / VW] = vf_set1(0.0f);
        for (long p = p0; p < p1; p++)
            for (int jj = 0; jj < cv; jj += VW) {
                vf d = vf_sub(vf_ld_elem(x, x0 + p * c + jj, bf), vf_load(k + jj));
                a[jj / VW] = vf_add(a[jj / VW], d);
                b[jj / VW] = vf_fma(d, d, b[jj / VW]);
            }
        for (int jj = 0; jj < cv; jj += VW) lanes_out(a[jj / VW], b[jj / VW], s0 + jj, s1 + jj);
        j = cv;
    }
    for (; j + VW <= c; j += VW) {
        const vf vk = vf_load(k + j);
        vf a = vf_set1(0.0f), b = vf_set1(0.0f);
        for (long p = p0; p < p1; p++) {
            vf d = vf_sub(vf_ld_elem(x, x0 + p * c + j, bf), vk);
            a = vf_add(a, d);
            b = vf_fma(d, d, b);
        }
        lanes_out(a, b, s0 + j, s1 + j);
    }
    for (; j < c; j++) {
        float a = 0, b = 0;
        for (long p = p0; p < p1; p++) {
            float d = ld_elem(x, x0 + p * c + j, bf) - k[j];
            a += d;
            b = fma_s(d, d, b);
        }
        s0[j] = a, s1[j] = b;
    }
}

// ----------------------------------------------------------------------------
// forward

/* y = (silu of) (x - mu) a + beta over positions [p0, p1) of the sample at element x0, the
 * elementwise pass; mu, a (C) rows of the sample. */
ELEM_INLINE void gn_out_chunk(const void *xd, void *yd, size_t x0, const float *mu, const float *a, const float *bt,
                              int c, long p0, long p1, bool silu, bool bf) {
    const int cv = c / VW * VW;
    const vf zero = vf_set1(0.0f), one = vf_set1(1.0f);
    for (long p = p0; p < p1; p++) /* positions outer: x and y stream in order */
        for (int jj = 0; jj < cv; jj += VW) {
            vf z = vf_fma(vf_sub(vf_ld_elem(xd, x0 + p * c + jj, bf), vf_load(mu + jj)), vf_load(a + jj),
                          vf_load(bt + jj));
            if (silu) z = vf_div(z, vf_add(one, vf_exp(vf_sub(zero, z))));
            vf_st_elem(yd, x0 + p * c + jj, z, bf);
        }
    for (int j = cv; j < c; j++)
        for (long p = p0; p < p1; p++) {
            float z = fma_s(ld_elem(xd, x0 + p * c + j, bf) - mu[j], a[j], bt[j]);
            st_elem(yd, x0 + p * c + j, silu ? z / (1.0f + exp_s(-z)) : z, bf);
        }
}

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
    const void *xd = x->data;
    const float *gm = gamma->data, *bt = beta->data;
    const bool bf = x->dtype == DT_BF16;
    for (int n = 0; n < s.n_batch; n++)
        for (int ch = 0; ch < c; ch++) shift[(size_t)n * c + ch] = ld_elem(xd, (size_t)n * s.l * c + ch / cg * cg, bf);
    /* three phases, each ending at a barrier that costs about what a region's start does */
    const int ck = gn_piece(s.tasks), gk = gn_piece((long)s.n_batch * groups);
#pragma omp parallel if (cpu_par((bf ? 6.0 : 12.0) * (double)x->numel / 3))
    {
#pragma omp for schedule(dynamic, ck)
        for (long t = 0; t < s.tasks; t++) {
            int n;
            long p0, p1;
            chunk_of(&s, t, &n, &p0, &p1);
            double *pt = part + (size_t)t * 2 * c;
            const size_t x0 = (size_t)n * s.l * c;
            if (bf)
                chunk_stats(xd, x0, shift + (size_t)n * c, c, p0, p1, pt, pt + c, true);
            else
                chunk_stats(xd, x0, shift + (size_t)n * c, c, p0, p1, pt, pt + c, false);
        }
#pragma omp for schedule(dynamic, gk)
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
#pragma omp for schedule(dynamic, ck)
        for (long t = 0; t < s.tasks; t++) {
            int n;
            long p0, p1;
            chunk_of(&s, t, &n, &p0, &p1);
            const size_t x0 = (size_t)n * s.l * c;
            const float *mu = muv + (size_t)n * c, *a = av + (size_t)n * c;
            if (bf)
                gn_out_chunk(xd, y->data, x0, mu, a, bt, c, p0, p1, silu, true);
            else
                gn_out_chunk(xd, y->data, x0, mu, a, bt, c, p0, p1, silu, false);
        }
    }
    return 0;
}

// ----------------------------------------------------------------------------
// backward

typedef struct {
    const void *x;                        /* x (fp32 or bf16: the bf argument below) */
    size_t x0;                            /* the sample's first element in x */
    const float *dy, *mu, *r, *a, *b;     /* dy at the sample; the rest (C) rows of its (N, C) */
    bool silu;
} GnRow;

/* dL/dz and xh of VW channels at one position. */
ELEM_INLINE vf grad_z_v(const GnRow *w, long i, vf vmu, vf vr, vf va, vf vb, vf *xh, bool bf) {
    vf d = vf_sub(vf_ld_elem(w->x, w->x0 + i, bf), vmu), g = vf_load(w->dy + i);
    *xh = vf_mul(d, vr);
    if (!w->silu) return g;
    const vf one = vf_set1(1.0f);
    vf z = vf_fma(d, va, vb), sg = vf_sigmoid(z);
    return vf_mul(vf_mul(g, sg), vf_fma(z, vf_sub(one, sg), one));
}

ELEM_INLINE float grad_z_s(const GnRow *w, long i, int j, float *xh, bool bf) {
    float d = ld_elem(w->x, w->x0 + i, bf) - w->mu[j], g = w->dy[i];
    *xh = d * w->r[j];
    if (!w->silu) return g;
    float z = fma_s(d, w->a[j], w->b[j]), sg = 1.0f / (1.0f + exp_s(-z));
    return g * sg * fma_s(z, 1.0f - sg, 1.0f);
}

/* First pass over positions [p0, p1): per-channel sums pgx = sum g xh and pg = sum g, with
 * g = dL/dz; gzs (the sample's (L, C), or NULL) keeps g for the dx pass. */
ELEM_INLINE void gn_bw_sums(const GnRow *w, int c, long p0, long p1, double *pgx, double *pg, float *gzs, bool bf) {
    int j = 0;
    if (c / VW <= GN_SUM_VECS) {
        /* positions outer, channels inner, so that x, dy and gzs stream through memory in
         * order; each channel's sums still run over the positions in order */
        const int cv = c / VW * VW;
        vf sgx[GN_SUM_VECS], sg[GN_SUM_VECS], xh;
        for (int jj = 0; jj < cv; jj += VW) sgx[jj / VW] = sg[jj / VW] = vf_set1(0.0f);
        for (long p = p0; p < p1; p++)
            for (int jj = 0; jj < cv; jj += VW) {
                vf gz = grad_z_v(w, p * c + jj, vf_load(w->mu + jj), vf_load(w->r + jj), vf_load(w->a + jj),
                                 vf_load(w->b + jj), &xh, bf);
                sgx[jj / VW] = vf_fma(gz, xh, sgx[jj / VW]);
                sg[jj / VW] = vf_add(sg[jj / VW], gz);
                if (gzs) vf_store(gzs + p * c + jj, gz);
            }
        for (int jj = 0; jj < cv; jj += VW) lanes_out(sgx[jj / VW], sg[jj / VW], pgx + jj, pg + jj);
        j = cv;
    }
    for (; j + VW <= c; j += VW) {
        const vf vmu = vf_load(w->mu + j), vr = vf_load(w->r + j), va = vf_load(w->a + j), vb = vf_load(w->b + j);
        vf sgx = vf_set1(0.0f), sg = vf_set1(0.0f), xh;
        for (long p = p0; p < p1; p++) {
            vf gz = grad_z_v(w, p * c + j, vmu, vr, va, vb, &xh, bf);
            sgx = vf_fma(gz, xh, sgx);
            sg = vf_add(sg, gz);
            if (gzs) vf_store(gzs + p * c + j, gz);
        }
        lanes_out(sgx, sg, pgx + j, pg + j);
    }
    for (; j < c; j++) {
        float sgx = 0, sg = 0, xh;
        for (long p = p0; p < p1; p++) {
            float gz = grad_z_s(w, p * c + j, j, &xh, bf);
            sgx = fma_s(gz, xh, sgx);
            sg += gz;
            if (gzs) gzs[p * c + j] = gz;
        }
        pgx[j] = sgx, pg[j] = sg;
    }
}

/* The dx pass over positions [p0, p1): dx += r (g gamma - c1 - xh c2); c1, c2 (C) rows. */
ELEM_INLINE void gn_bw_dx(const GnRow *w, const float *gm, const float *c1, const float *c2, float *dxp, int c,
                          long p0, long p1, bool bf) {
    const int cv = c / VW * VW;
    /* positions outer, channels inner: x, g and dx stream through memory in order */
    for (long p = p0; p < p1; p++)
        for (int jj = 0; jj < cv; jj += VW) {
            const vf vmu = vf_load(w->mu + jj), vr = vf_load(w->r + jj), va = vf_load(w->a + jj),
                     vb = vf_load(w->b + jj);
            vf xh, gz = grad_z_v(w, p * c + jj, vmu, vr, va, vb, &xh, bf);
            vf u = vf_sub(vf_sub(vf_mul(gz, vf_load(gm + jj)), vf_load(c1 + jj)), vf_mul(xh, vf_load(c2 + jj)));
            vf_store(dxp + p * c + jj, vf_fma(vr, u, vf_load(dxp + p * c + jj)));
        }
    for (int j = cv; j < c; j++)
        for (long p = p0; p < p1; p++) {
            float xh, gz = grad_z_s(w, p * c + j, j, &xh, bf);
            dxp[p * c + j] = fma_s(w->r[j], gz * gm[j] - c1[j] - xh * c2[j], dxp[p * c + j]);
        }
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
    /* With the fused SiLU, the first pass keeps dL/dz (N, L, C) for the dx pass: a 4-byte
     * store and load per element instead of a second exp and divide. */
    float *gzs = silu && dx ? cpu_scratch(SCRATCH_GROUP_NORM_GZ, x->numel * sizeof(float), "group_norm_backward")
                            : NULL;
    if (silu && dx && !gzs) return -1;
    const float *gm = gamma->data;
    const bool bf = x->dtype == DT_BF16;
    for (int n = 0; n < s.n_batch; n++)
        for (int ch = 0; ch < c; ch++) {
            const int ng = n * groups + ch / cg;
            const size_t i = (size_t)n * c + ch;
            muv[i] = mean->data[ng];
            rv[i] = rstd->data[ng];
            av[i] = rstd->data[ng] * gm[ch];
            bv[i] = beta ? beta->data[ch] : 0.0f;
        }
    /* three phases, each ending at a barrier (see the forward) */
    const int ck = gn_piece(s.tasks), gk = gn_piece((long)s.n_batch * groups);
#pragma omp parallel if (cpu_par(24.0 * (double)x->numel / 3))
    {
#pragma omp for schedule(dynamic, ck)
        for (long t = 0; t < s.tasks; t++) {
            int n;
            long p0, p1;
            chunk_of(&s, t, &n, &p0, &p1);
            const size_t off = (size_t)n * s.l * c, o = (size_t)n * c;
            const GnRow w = {x->data, off, dy->data + off, muv + o, rv + o, av + o, bv + o, silu};
            double *pgx = part + (size_t)t * 2 * c;
            float *gz = gzs ? gzs + off : NULL;
            if (bf)
                gn_bw_sums(&w, c, p0, p1, pgx, pgx + c, gz, true);
            else
                gn_bw_sums(&w, c, p0, p1, pgx, pgx + c, gz, false);
        }
#pragma omp for schedule(dynamic, gk)
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
#pragma omp for schedule(dynamic, ck)
            for (long t = 0; t < s.tasks; t++) {
                int n;
                long p0, p1;
                chunk_of(&s, t, &n, &p0, &p1);
                const size_t off = (size_t)n * s.l * c, o = (size_t)n * c;
                /* the kept dL/dz stands in for dy, with no SiLU left to apply */
                const GnRow w = {x->data, off, gzs ? gzs + off : dy->data + off, muv + o, rv + o, av + o, bv + o,
                                 false};
                if (bf)
                    gn_bw_dx(&w, gm, c1v + o, c2v + o, dx->data + off, c, p0, p1, true);
                else
                    gn_bw_dx(&w, gm, c1v + o, c2v + o, dx->data + off, c, p0, p1, false);
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
