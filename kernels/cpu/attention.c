/* kernels/cpu/attention.c — multi-head scaled dot-product attention on the CPU,
 * blocked with an online softmax (FlashAttention's schedule, on a CPU).
 *
 *   q (B, Lq, C), k, v (B, Lk, C), C = heads * D; head h owns channels [h D, (h+1) D).
 *   forward, per (b, h): S = scale Q K^T, P = softmax_rows(S), O = P V,
 *            lse_i = log sum_j exp(S_ij)
 *   backward, from lse: P = exp(S - lse), dP = dO V^T, D_i = sum_d dO_id O_id,
 *            dS = P (dP - D), dQ += scale dS K, dK += scale dS^T Q, dV += P^T dO
 *
 * Layout: queries run along the vector lanes. A task transposes its block of ATT_BQ query rows
 * once into Qt (D, BQ); each block of ATT_BK keys then gives S^T (BK, BQ) = K Qt from a
 * register-blocked tile (4 keys x 2 vectors of queries, one fma chain over D per score), so no
 * key block is ever transposed and the softmax's max, sum and rescale are lane-wise down the
 * columns of S^T, with vec_math.h's vector exp. P V and every gradient product are rows of
 * "out_r += sum_t w_rt m_t" (axpy_rows: D/VW vectors of out in registers, two rows sharing the
 * loads of m), one fma chain per element in a fixed order.
 * Forward: a task is (b, h, query block); it walks the key blocks keeping a running max m,
 * sum l and an unnormalised (BQ, D) accumulator, rescaled by e^(m_old - m_new). Scratch per
 * thread: Qt, S^T, the accumulator and m, l: bounded, independent of Lq and Lk.
 * Backward: a task is (b, h); it walks query blocks (Q and dO transposed once each) and, inside,
 * key blocks, recomputing P^T from lse. Each task owns its head's slices of dq, dk and dv, so
 * nothing races and the summation order is fixed: results are bitwise independent of the
 * thread count. D_i = dO_i . O_i is the same fma chain as dP_ij = dO_i . V_j, so with a single
 * key (O = V, P = 1) dS is exactly 0 and so are dq and dk.
 *
 * FLOP: forward 4 B Lq Lk C (+ B heads Lq Lk exp); backward 10 B Lq Lk C (+ the same
 * exp count), less when some of dq, dk, dv are NULL. Bytes: forward reads q once and k,
 * v once per query block (4 B Lk C ceil(Lq/BQ) x 2), writes o and lse; backward reads
 * q, o, dout, lse once and k, v once per query block, read-modify-writes dq, dk, dv.
 * Each thread's scratch comes from cpu_scratch (cpu_util.h): no malloc once warmed up.
 */
#include <math.h>
#include "kernels/attention.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/vec_math.h"

#define ATT_BQ 64 /* a multiple of every VW: the query lanes */
#define ATT_BK 128

/* Shapes of one call, flattened: q rows (b, i) at (b Lq + i) C, k/v rows at (b Lk + j) C. */
typedef struct {
    int b, heads, c, d;
    long lq, lk;
    float scale;
} AttShape;

static AttShape att_shape(const Tensor *q, const Tensor *k, int heads, float scale) {
    AttShape s;
    s.b = q->shape[0];
    s.c = q->shape[q->ndim - 1];
    s.heads = heads;
    s.d = s.c / heads;
    const size_t bc = (size_t)s.b * (size_t)s.c; /* 0: an empty batch, nothing to do */
    s.lq = bc ? (long)(q->numel / bc) : 0;
    s.lk = bc ? (long)(k->numel / bc) : 0;
    s.scale = scale;
    return s;
}

/* n rounded up to whole vectors: the query lanes a block's vector loops cover */
static int pad_vw(int nk) { return (nk + VW - 1) / VW * VW; }

/* lane-wise max */
#if VW == 16
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
#elif VW == 8
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
#else
static inline vf vf_max(vf a, vf b) { return a > b ? a : b; }
#endif

/* dst (D, ld) = the nk rows of a (., C)-strided block of queries (or output gradients),
 * transposed, with columns nk .. pad_vw(nk) zero. */
static void transpose_block(const float *src, int c, int d, int nk, float *dst, int ld) {
    const int nkp = pad_vw(nk);
    for (int j = 0; j < nk; j++)
        for (int e = 0; e < d; e++) dst[e * ld + j] = src[(size_t)j * c + e];
    for (int e = 0; e < d; e++)
        for (int j = nk; j < nkp; j++) dst[e * ld + j] = 0.0f;
}

/* Every score is one fma chain over e from 0, s_ij = fma(a_i,d-1, bt_d-1,j, ... fma(a_i0, bt_0j, 0)),
 * whatever tile computes it: the forward and the backward get the same bits, and a single key
 * gives dP_ij == D_i exactly (see row_dot). R rows by V vectors of columns, in registers. */
#define SCORE_TILE(R, V)                                                                                             \
    static inline void score_tile_##R##x##V(const float *a, int c, int d, const float *bt, float *s, int ld) {        \
        vf acc[R][V];                                                                                                  \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) _Pragma("GCC unroll 2") for (int u = 0; u < V; u++)       \
            acc[r][u] = vf_set1(0.0f);                                                                                 \
        for (int e = 0; e < d; e++) {                                                                                  \
            vf bv[V];                                                                                                  \
            _Pragma("GCC unroll 2") for (int u = 0; u < V; u++) bv[u] = vf_load(bt + e * ld + u * VW);                 \
            _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) {                                                      \
                const vf ar = vf_set1(a[(size_t)r * c + e]);                                                           \
                _Pragma("GCC unroll 2") for (int u = 0; u < V; u++) acc[r][u] = vf_fma(ar, bv[u], acc[r][u]);          \
            }                                                                                                          \
        }                                                                                                              \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++) _Pragma("GCC unroll 2") for (int u = 0; u < V; u++)       \
            vf_store(s + r * ld + u * VW, acc[r][u]);                                                                  \
    }
SCORE_TILE(4, 2)
SCORE_TILE(4, 1)
SCORE_TILE(1, 2)
SCORE_TILE(1, 1)

/* s (nq, ld) = a (nq rows, stride c) times bt (D, ld): s_ij = sum_e a_ie bt_ej, for
 * j < pad_vw(nk) (the padding columns come out 0). */
static void tile_scores(const float *a, int c, int d, int nq, int nk, const float *bt, float *s, int ld) {
    const int nkp = pad_vw(nk);
    int i = 0;
    for (; i + 4 <= nq; i += 4) {
        int j = 0;
        for (; j + 2 * VW <= nkp; j += 2 * VW) score_tile_4x2(a + (size_t)i * c, c, d, bt + j, s + i * ld + j, ld);
        for (; j < nkp; j += VW) score_tile_4x1(a + (size_t)i * c, c, d, bt + j, s + i * ld + j, ld);
    }
    for (; i < nq; i++) {
        int j = 0;
        for (; j + 2 * VW <= nkp; j += 2 * VW) score_tile_1x2(a + (size_t)i * c, c, d, bt + j, s + i * ld + j, ld);
        for (; j < nkp; j += VW) score_tile_1x1(a + (size_t)i * c, c, d, bt + j, s + i * ld + j, ld);
    }
}

/* sum_e a_e b_e as the score tiles compute it: one fma chain from 0 */
static float row_dot(const float *a, const float *b, int d) {
    float acc = 0.0f;
    for (int e = 0; e < d; e++) acc = fma_s(a[e], b[e], acc);
    return acc;
}

/* out (d) += sum_{t < n} w[t ws] m[t ms .. t ms + d): per element one fma chain over t,
 * starting from out. Four vectors of out in registers at a time. */
static void axpy_rows(float *out, const float *w, long ws, int n, const float *m, long ms, int d) {
    int e = 0;
    for (; e + 4 * VW <= d; e += 4 * VW) {
        vf o0 = vf_load(out + e), o1 = vf_load(out + e + VW), o2 = vf_load(out + e + 2 * VW),
           o3 = vf_load(out + e + 3 * VW);
        for (int t = 0; t < n; t++) {
            const vf wt = vf_set1(w[t * ws]);
            const float *mt = m + t * ms + e;
            o0 = vf_fma(wt, vf_load(mt), o0);
            o1 = vf_fma(wt, vf_load(mt + VW), o1);
            o2 = vf_fma(wt, vf_load(mt + 2 * VW), o2);
            o3 = vf_fma(wt, vf_load(mt + 3 * VW), o3);
        }
        vf_store(out + e, o0);
        vf_store(out + e + VW, o1);
        vf_store(out + e + 2 * VW, o2);
        vf_store(out + e + 3 * VW, o3);
    }
    for (; e + VW <= d; e += VW) {
        vf o0 = vf_load(out + e);
        for (int t = 0; t < n; t++) o0 = vf_fma(vf_set1(w[t * ws]), vf_load(m + t * ms + e), o0);
        vf_store(out + e, o0);
    }
    for (; e < d; e++) {
        float o0 = out[e];
        for (int t = 0; t < n; t++) o0 = fma_s(w[t * ws], m[t * ms + e], o0);
        out[e] = o0;
    }
}

/* axpy_rows for two outputs sharing m (the same bits as two calls): out0 += w0 . m, out1 += w1 . m */
static void axpy_rows2(float *out0, float *out1, const float *w0, const float *w1, long ws, int n, const float *m,
                       long ms, int d) {
    int e = 0;
    for (; e + 4 * VW <= d; e += 4 * VW) {
        vf a0 = vf_load(out0 + e), a1 = vf_load(out0 + e + VW), a2 = vf_load(out0 + e + 2 * VW),
           a3 = vf_load(out0 + e + 3 * VW);
        vf b0 = vf_load(out1 + e), b1 = vf_load(out1 + e + VW), b2 = vf_load(out1 + e + 2 * VW),
           b3 = vf_load(out1 + e + 3 * VW);
        for (int t = 0; t < n; t++) {
            const vf wa = vf_set1(w0[t * ws]), wb = vf_set1(w1[t * ws]);
            const float *mt = m + t * ms + e;
            const vf m0 = vf_load(mt), m1 = vf_load(mt + VW), m2 = vf_load(mt + 2 * VW), m3 = vf_load(mt + 3 * VW);
            a0 = vf_fma(wa, m0, a0);
            a1 = vf_fma(wa, m1, a1);
            a2 = vf_fma(wa, m2, a2);
            a3 = vf_fma(wa, m3, a3);
            b0 = vf_fma(wb, m0, b0);
            b1 = vf_fma(wb, m1, b1);
            b2 = vf_fma(wb, m2, b2);
            b3 = vf_fma(wb, m3, b3);
        }
        vf_store(out0 + e, a0);
        vf_store(out0 + e + VW, a1);
        vf_store(out0 + e + 2 * VW, a2);
        vf_store(out0 + e + 3 * VW, a3);
        vf_store(out1 + e, b0);
        vf_store(out1 + e + VW, b1);
        vf_store(out1 + e + 2 * VW, b2);
        vf_store(out1 + e + 3 * VW, b3);
    }
    if (e < d) { /* the rest, one output at a time */
        axpy_rows(out0 + e, w0, ws, n, m + e, ms, d - e);
        axpy_rows(out1 + e, w1, ws, n, m + e, ms, d - e);
    }
}

/* out row r (stride os) += sum_t w[r wr + t wt] m[t ms ..], for r < nr, two rows at a time */
static void pair_rows(float *out, long os, const float *w, long wr, long wt, int nr, int n, const float *m, long ms,
                      int d) {
    int r = 0;
    for (; r + 2 <= nr; r += 2) axpy_rows2(out + r * os, out + (r + 1) * os, w + r * wr, w + (r + 1) * wr, wt, n, m, ms, d);
    if (r < nr) axpy_rows(out + r * os, w + r * wr, wt, n, m, ms, d);
}

// ----------------------------------------------------------------------------
// forward

/* One (b, h, query block) task, in the transposed orientation: queries along the vector lanes.
 * Scratch: qt (D, BQ) the query block transposed once, st (BK, BQ) = S^T of a key block,
 * acc (BQ, D), m, l, corr (BQ). No key block is ever transposed, and the softmax's row max,
 * sum and rescale run down the columns of S^T: lane-wise, without horizontal reductions. */
static void forward_block(const AttShape *sh, const float *q, const float *k, const float *v, float *o, float *lse,
                          int b, int h, long i0, float *scratch) {
    const int c = sh->c, d = sh->d, nq = (int)(sh->lq - i0 < ATT_BQ ? sh->lq - i0 : ATT_BQ), nqp = pad_vw(nq);
    float *qt = scratch, *st = qt + (size_t)d * ATT_BQ, *acc = st + ATT_BK * ATT_BQ, *m = acc + (size_t)ATT_BQ * d,
          *l = m + ATT_BQ, *corr = l + ATT_BQ;
    const float *qb = q + ((size_t)b * sh->lq + i0) * c + (size_t)h * d; /* (nq, D), row stride C */
    const vf vscale = vf_set1(sh->scale);
    transpose_block(qb, c, d, nq, qt, ATT_BQ); /* padding lanes are 0: finite, never written out */
    for (int i = 0; i < nqp; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    for (int i = 0; i < nq * d; i++) acc[i] = 0.0f;
    for (long j0 = 0; j0 < sh->lk; j0 += ATT_BK) {
        const int nk = (int)(sh->lk - j0 < ATT_BK ? sh->lk - j0 : ATT_BK);
        const size_t kv_off = ((size_t)b * sh->lk + j0) * c + (size_t)h * d; /* (nk, D), row stride C */
        tile_scores(k + kv_off, c, d, nk, nq, qt, st, ATT_BQ); /* st_ji = s_ij */
        for (int i = 0; i < nqp; i += VW) {
            vf vmax = vf_load(m + i);
            for (int j = 0; j < nk; j++) {
                const vf x = vf_mul(vf_load(st + j * ATT_BQ + i), vscale);
                vf_store(st + j * ATT_BQ + i, x);
                vmax = vf_max(vmax, x);
            }
            /* e^(m_old - m_new); on the first block m_old = -inf gives e^EXP_LO, and l, acc are 0 */
            const vf vc = vf_exp(vf_sub(vf_load(m + i), vmax));
            vf vsum = vf_set1(0.0f);
            for (int j = 0; j < nk; j++) {
                const vf p = vf_exp(vf_sub(vf_load(st + j * ATT_BQ + i), vmax));
                vf_store(st + j * ATT_BQ + i, p);
                vsum = vf_add(vsum, p);
            }
            vf_store(l + i, vf_add(vf_mul(vf_load(l + i), vc), vsum));
            vf_store(m + i, vmax);
            vf_store(corr + i, vc);
        }
        if (j0 > 0)
            for (int i = 0; i < nq; i++)
                if (corr[i] != 1.0f)
                    for (int e = 0; e < d; e++) acc[(size_t)i * d + e] *= corr[i];
        pair_rows(acc, d, st, 1, ATT_BQ, nq, nk, v + kv_off, c, d); /* acc += P V */
    }
    float *ob = o + ((size_t)b * sh->lq + i0) * c + (size_t)h * d;
    float *lb = lse + ((size_t)b * sh->heads + h) * sh->lq + i0;
    for (int i = 0; i < nq; i++) {
        const float inv = 1.0f / l[i];
        for (int e = 0; e < d; e++) ob[(size_t)i * c + e] = acc[(size_t)i * d + e] * inv;
        lb[i] = m[i] + logf(l[i]);
    }
}

int attention_forward_cpu(const Tensor *q, const Tensor *k, const Tensor *v, int heads, float scale, Tensor *o,
                          Tensor *lse) {
    const AttShape sh = att_shape(q, k, heads, scale);
    const long nqb = (sh.lq + ATT_BQ - 1) / ATT_BQ, tasks = (long)sh.b * heads * nqb;
    const size_t scratch = (size_t)sh.d * ATT_BQ + (size_t)ATT_BK * ATT_BQ + (size_t)ATT_BQ * sh.d + 3 * ATT_BQ;
    const double work = (double)sh.b * sh.lq * sh.lk * sh.c;
    int failed = 0;
#pragma omp parallel if (cpu_par(4.0 * work))
    {
        float *buf = cpu_scratch(SCRATCH_ATTENTION, scratch * sizeof(float), "attention");
        if (!buf) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (long t = 0; t < tasks; t++) {
            if (!buf) continue;
            const long qblk = t % nqb, bh = t / nqb;
            forward_block(&sh, q->data, k->data, v->data, o->data, lse->data, (int)(bh / heads), (int)(bh % heads),
                          qblk * ATT_BQ, buf);
        }
    }
    if (failed) return ldm_error("attention", "out of host memory for scratch (q %s, k %s)", tshape(q), tshape(k));
    return 0;
}

// ----------------------------------------------------------------------------
// backward

typedef struct {
    const float *q, *k, *v, *o, *lse, *dout;
    float *dq, *dk, *dv; /* any may be NULL */
} AttGrads;

/* One (b, h) task, queries along the lanes as in the forward. Scratch: qt, dot (D, BQ) the
 * query and output-gradient blocks transposed once per query block, pt, dst (BK, BQ) = P^T
 * and dS^T of a key block, di, lv (BQ) = D_i and lse_i, padded with 0. */
static void backward_head(const AttShape *sh, const AttGrads *g, int b, int h, float *scratch) {
    const int c = sh->c, d = sh->d;
    float *qt = scratch, *dot = qt + (size_t)d * ATT_BQ, *pt = dot + (size_t)d * ATT_BQ, *dst = pt + ATT_BK * ATT_BQ,
          *di = dst + ATT_BK * ATT_BQ, *lv = di + ATT_BQ;
    const float *lse_bh = g->lse + ((size_t)b * sh->heads + h) * sh->lq;
    const vf vscale = vf_set1(sh->scale);
    const int need_ds = g->dq || g->dk;
    for (long i0 = 0; i0 < sh->lq; i0 += ATT_BQ) {
        const int nq = (int)(sh->lq - i0 < ATT_BQ ? sh->lq - i0 : ATT_BQ), nqp = pad_vw(nq);
        const size_t q_off = ((size_t)b * sh->lq + i0) * c + (size_t)h * d; /* (nq, D), row stride C */
        const float *qb = g->q + q_off, *ob = g->o + q_off, *dob = g->dout + q_off;
        /* D_i as dP_ij is computed: with one key (O = V) their difference is exactly 0 */
        for (int i = 0; i < nqp; i++) {
            di[i] = i < nq ? row_dot(dob + (size_t)i * c, ob + (size_t)i * c, d) : 0.0f;
            lv[i] = i < nq ? lse_bh[i0 + i] : 0.0f;
        }
        transpose_block(qb, c, d, nq, qt, ATT_BQ);
        if (need_ds) transpose_block(dob, c, d, nq, dot, ATT_BQ);
        for (long j0 = 0; j0 < sh->lk; j0 += ATT_BK) {
            const int nk = (int)(sh->lk - j0 < ATT_BK ? sh->lk - j0 : ATT_BK);
            const size_t kv_off = ((size_t)b * sh->lk + j0) * c + (size_t)h * d; /* (nk, D), row stride C */
            tile_scores(g->k + kv_off, c, d, nk, nq, qt, pt, ATT_BQ); /* S^T */
            for (int j = 0; j < nk; j++) {
                float *pj = pt + j * ATT_BQ;
                for (int i = 0; i < nqp; i += VW)
                    vf_store(pj + i, vf_exp(vf_sub(vf_mul(vf_load(pj + i), vscale), vf_load(lv + i))));
            }
            if (g->dv) pair_rows(g->dv + kv_off, c, pt, ATT_BQ, 1, nk, nq, dob, c, d); /* dV += P^T dO */
            if (!need_ds) continue;
            tile_scores(g->v + kv_off, c, d, nk, nq, dot, dst, ATT_BQ); /* dP^T */
            for (int j = 0; j < nk; j++) {
                float *dsj = dst + j * ATT_BQ;
                const float *pj = pt + j * ATT_BQ;
                for (int i = 0; i < nqp; i += VW)
                    vf_store(dsj + i,
                             vf_mul(vf_mul(vf_load(pj + i), vf_sub(vf_load(dsj + i), vf_load(di + i))), vscale));
            }
            if (g->dq) pair_rows(g->dq + q_off, c, dst, 1, ATT_BQ, nq, nk, g->k + kv_off, c, d); /* dQ += dS K */
            if (g->dk) pair_rows(g->dk + kv_off, c, dst, ATT_BQ, 1, nk, nq, qb, c, d);         /* dK += dS^T Q */
        }
    }
}

int attention_backward_cpu(const Tensor *q, const Tensor *k, const Tensor *v, const Tensor *o, const Tensor *lse,
                           const Tensor *dout, int heads, float scale, Tensor *dq, Tensor *dk, Tensor *dv) {
    if (!dq && !dk && !dv) return 0;
    const AttShape sh = att_shape(q, k, heads, scale);
    const AttGrads g = {q->data,  k->data,  v->data,  o->data,  lse->data, dout->data,
                        dq ? dq->data : NULL, dk ? dk->data : NULL, dv ? dv->data : NULL};
    const long tasks = (long)sh.b * heads;
    const size_t scratch = 2 * (size_t)sh.d * ATT_BQ + 2 * (size_t)ATT_BK * ATT_BQ + 2 * ATT_BQ;
    const double work = (double)sh.b * sh.lq * sh.lk * sh.c;
    int failed = 0;
#pragma omp parallel if (cpu_par(10.0 * work) && tasks > 1)
    {
        float *buf = cpu_scratch(SCRATCH_ATTENTION, scratch * sizeof(float), "attention_backward");
        if (!buf) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (long t = 0; t < tasks; t++)
            if (buf) backward_head(&sh, &g, (int)(t / heads), (int)(t % heads), buf);
    }
    if (failed)
        return ldm_error("attention_backward", "out of host memory for scratch (q %s, k %s)", tshape(q), tshape(k));
    return 0;
}

