/* kernels/cpu/attention.c — multi-head scaled dot-product attention on the CPU,
 * blocked with an online softmax (FlashAttention's schedule, on a CPU).
 *
 *   q (B, Lq, C), k, v (B, Lk, C), C = heads * D; head h owns channels [h D, (h+1) D).
 *   forward, per (b, h): S = scale Q K^T, P = softmax_rows(S), O = P V,
 *            lse_i = log sum_j exp(S_ij)
 *   backward, from lse: P = exp(S - lse), dP = dO V^T, D_i = sum_d dO_id O_id,
 *            dS = P (dP - D), dQ += scale dS K, dK += scale dS^T Q, dV += P^T dO
 *
 * Forward: a task is (b, h, block of ATT_BQ query rows). It walks K and V in blocks of
 * ATT_BK keys, keeping a running row max m, row sum l and an unnormalised (BQ, D)
 * accumulator; a new block rescales them by exp(m_old - m_new). Scratch per thread is
 * one (BQ, BK) score tile, a (D, BK) transposed key block and the (BQ, D) accumulator:
 * bounded, independent of Lq and Lk. The key block is transposed so that the score and
 * P V loops are unit-stride axpys over an inner dimension; `omp simd` vectorises them
 * (plain -O2 does not: it will not version loops for aliasing).
 * Backward: a task is (b, h); it walks query blocks and, inside, key blocks, recomputing
 * P from lse. Each task owns its head's slices of dq, dk and dv, so nothing races and
 * the summation order is fixed: results are bitwise independent of the thread count.
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

#define ATT_BQ 32
#define ATT_BK 64

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
    s.lq = (long)(q->numel / ((size_t)s.b * (size_t)s.c));
    s.lk = (long)(k->numel / ((size_t)s.b * (size_t)s.c));
    s.scale = scale;
    return s;
}

/* Kt (D, BK) = the nk rows of a (., C)-strided block of keys (or values), transposed. */
static void transpose_block(const float *src, int c, int d, int nk, float *dst) {
    for (int j = 0; j < nk; j++)
        for (int e = 0; e < d; e++) dst[e * ATT_BK + j] = src[(size_t)j * c + e];
}

/* s (nq, BK) = a (nq rows, stride c) times bt (D, BK): s_ij = sum_e a_ie bt_ej. */
static void tile_scores(const float *a, int c, int d, int nq, int nk, const float *bt, float *s) {
    for (int i = 0; i < nq; i++) {
        float *si = s + i * ATT_BK;
        for (int j = 0; j < nk; j++) si[j] = 0.0f;
        for (int e = 0; e < d; e++) {
            const float ae = a[(size_t)i * c + e], *bte = bt + e * ATT_BK;
#pragma omp simd
            for (int j = 0; j < nk; j++) si[j] += ae * bte[j];
        }
    }
}

// ----------------------------------------------------------------------------
// forward

/* One (b, h, query block) task; scratch: s (BQ, BK), kt (D, BK), acc (BQ, D), m, l (BQ). */
static void forward_block(const AttShape *sh, const float *q, const float *k, const float *v, float *o, float *lse,
                          int b, int h, long i0, float *scratch) {
    const int c = sh->c, d = sh->d, nq = (int)(sh->lq - i0 < ATT_BQ ? sh->lq - i0 : ATT_BQ);
    float *s = scratch, *kt = s + ATT_BQ * ATT_BK, *acc = kt + (size_t)d * ATT_BK, *m = acc + (size_t)ATT_BQ * d,
          *l = m + ATT_BQ;
    const float *qb = q + ((size_t)b * sh->lq + i0) * c + (size_t)h * d; /* (nq, D), row stride C */
    for (int i = 0; i < nq; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
        for (int e = 0; e < d; e++) acc[(size_t)i * d + e] = 0.0f;
    }
    for (long j0 = 0; j0 < sh->lk; j0 += ATT_BK) {
        const int nk = (int)(sh->lk - j0 < ATT_BK ? sh->lk - j0 : ATT_BK);
        const size_t kv_off = ((size_t)b * sh->lk + j0) * c + (size_t)h * d; /* (nk, D), row stride C */
        transpose_block(k + kv_off, c, d, nk, kt);
        tile_scores(qb, c, d, nq, nk, kt, s);
        for (int i = 0; i < nq; i++) {
            float *si = s + i * ATT_BK, *ai = acc + (size_t)i * d;
            float mx = m[i];
            for (int j = 0; j < nk; j++) {
                si[j] *= sh->scale;
                if (si[j] > mx) mx = si[j];
            }
            const float corr = expf(m[i] - mx); /* 0 on the first block (m = -inf) */
            float sum = 0.0f;
            for (int j = 0; j < nk; j++) {
                si[j] = expf(si[j] - mx);
                sum += si[j];
            }
            l[i] = l[i] * corr + sum;
            m[i] = mx;
#pragma omp simd
            for (int e = 0; e < d; e++) ai[e] *= corr;
            for (int j = 0; j < nk; j++) {
                const float p = si[j], *vj = v + kv_off + (size_t)j * c;
#pragma omp simd
                for (int e = 0; e < d; e++) ai[e] += p * vj[e];
            }
        }
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
    const size_t scratch = (size_t)ATT_BQ * ATT_BK + (size_t)sh.d * ATT_BK + (size_t)ATT_BQ * sh.d + 2 * ATT_BQ;
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

/* One (b, h) task; scratch: kt, vt (D, BK), p, ds (BQ, BK), di (BQ). */
static void backward_head(const AttShape *sh, const AttGrads *g, int b, int h, float *scratch) {
    const int c = sh->c, d = sh->d;
    float *kt = scratch, *vt = kt + (size_t)d * ATT_BK, *p = vt + (size_t)d * ATT_BK, *ds = p + ATT_BQ * ATT_BK,
          *di = ds + ATT_BQ * ATT_BK;
    const float *lse_bh = g->lse + ((size_t)b * sh->heads + h) * sh->lq;
    for (long i0 = 0; i0 < sh->lq; i0 += ATT_BQ) {
        const int nq = (int)(sh->lq - i0 < ATT_BQ ? sh->lq - i0 : ATT_BQ);
        const size_t q_off = ((size_t)b * sh->lq + i0) * c + (size_t)h * d; /* (nq, D), row stride C */
        const float *qb = g->q + q_off, *ob = g->o + q_off, *dob = g->dout + q_off;
        for (int i = 0; i < nq; i++) {
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int e = 0; e < d; e++) acc += dob[(size_t)i * c + e] * ob[(size_t)i * c + e];
            di[i] = acc;
        }
        for (long j0 = 0; j0 < sh->lk; j0 += ATT_BK) {
            const int nk = (int)(sh->lk - j0 < ATT_BK ? sh->lk - j0 : ATT_BK);
            const size_t kv_off = ((size_t)b * sh->lk + j0) * c + (size_t)h * d; /* (nk, D), row stride C */
            transpose_block(g->k + kv_off, c, d, nk, kt);
            tile_scores(qb, c, d, nq, nk, kt, p);
            for (int i = 0; i < nq; i++)
                for (int j = 0; j < nk; j++)
                    p[i * ATT_BK + j] = expf(p[i * ATT_BK + j] * sh->scale - lse_bh[i0 + i]);
            if (g->dv)
                for (int j = 0; j < nk; j++) {
                    float *dvj = g->dv + kv_off + (size_t)j * c;
                    for (int i = 0; i < nq; i++) {
                        const float pij = p[i * ATT_BK + j], *doi = dob + (size_t)i * c;
#pragma omp simd
                        for (int e = 0; e < d; e++) dvj[e] += pij * doi[e];
                    }
                }
            if (!g->dq && !g->dk) continue;
            transpose_block(g->v + kv_off, c, d, nk, vt);
            tile_scores(dob, c, d, nq, nk, vt, ds); /* dP */
            for (int i = 0; i < nq; i++)
                for (int j = 0; j < nk; j++)
                    ds[i * ATT_BK + j] = p[i * ATT_BK + j] * (ds[i * ATT_BK + j] - di[i]) * sh->scale;
            if (g->dq)
                for (int i = 0; i < nq; i++) {
                    float *dqi = g->dq + q_off + (size_t)i * c;
                    for (int j = 0; j < nk; j++) {
                        const float sij = ds[i * ATT_BK + j], *kj = g->k + kv_off + (size_t)j * c;
#pragma omp simd
                        for (int e = 0; e < d; e++) dqi[e] += sij * kj[e];
                    }
                }
            if (g->dk)
                for (int j = 0; j < nk; j++) {
                    float *dkj = g->dk + kv_off + (size_t)j * c;
                    for (int i = 0; i < nq; i++) {
                        const float sij = ds[i * ATT_BK + j], *qi = qb + (size_t)i * c;
#pragma omp simd
                        for (int e = 0; e < d; e++) dkj[e] += sij * qi[e];
                    }
                }
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
    const size_t scratch = 2 * (size_t)sh.d * ATT_BK + 2 * (size_t)ATT_BQ * ATT_BK + ATT_BQ;
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

