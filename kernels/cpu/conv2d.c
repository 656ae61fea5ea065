/* kernels/cpu/conv2d.c — 2-D convolution on the CPU, direct: no im2col, no packing of the
 * activations.
 *
 *   x (N, H, W, C), w (K, R, S, C), b (K), y (N, P, Q, K);  M = N*P*Q, D = R*S*C
 *   forward  y (M, K)   = im2col(x) (M, D) * w^T (D, K) + b                  2*M*K*D FLOP
 *   dgrad    dx         += the transposed convolution of dy with w           2*M*K*D FLOP
 *   wgrad    dw (K, D)  += dy^T (K, M) * im2col(x) (M, D)                     2*M*K*D FLOP
 *   bias     db (K)     += sum over the M rows of dy                          M*K FLOP
 * Bytes moved at best: x, w, y (and dy, dx, dw) once each.
 *
 * Why not the implicit GEMM (gemm.h) this file used to be: a GEMM packs every block of
 * im2col before its micro-kernel reads it once per NR output channels; with the 16 or 32
 * channels of the demo models that packing cost as much as the FMAs, and K = 1 or 4
 * wasted most of each vector. Measured on the demo preset (1 thread, batch 16) the direct
 * path takes 0.47x the implicit GEMM's time over the VAE's convolutions.
 *
 * Slabs. Output rows are cut into bands of about BAND_PIXELS pixels; a band's input rows,
 * with the padding as zeros, are copied into a slab (per thread, in L2), so that tap row r
 * of output pixel (pl, q) of the band is one run of S*C contiguous floats at
 *   slab + ((pl*stride + r)*Ws + q*stride)*C.
 * Images smaller than a band go several to a work item, their slabs side by side.
 *
 * Lanes. One register tile: acc[i][j] = sum over segments s and steps t of
 *   a[i][sa[s] + t*as] * b[sb[s] + t*bs + j],   i < ML lanes, j < NV*VW
 * with every a[i][.] broadcast and b read as NV vectors. Three products fit it:
 *   forward:  lanes = output pixels, j = output channels, t = the S*C floats of a tap row
 *             (as = 1), segments = the R tap rows, b = the weights packed (D, NV*VW) per
 *             block of output channels (once per call), cut into depth blocks that stay
 *             in L1 (KC_BYTES);
 *   wgrad:    lanes = output channels (dy broadcast, as = K), j = floats of a tap row,
 *             t = the pixels of an output row, segments = output rows (WG_CHUNK pixels
 *             per pass over the tiles); or, when a tap row is shorter than a vector
 *             (C = 1), lanes = taps and j = output channels;
 *   dgrad:    a gather, so that every dx element has one writer: for stride s the input
 *             pixels split into s*s classes (h mod s, w mod s). The taps that reach a
 *             class are fixed (r = (h + pad) mod s, step s) and the dy pixel a tap reads
 *             moves one step per class step, so each class is a stride-1 forward
 *             convolution of dy with a sub-kernel of the transposed w:
 *             w'[c, a, b, k] = w[k, rt[a], st[b], c] (stride 1: the flipped kernel,
 *             rt[a] = R-1-a, pad R-1-pad), written to every s-th pixel of dx.
 * Output channels fewer than half a vector (K = 1 or 4: the models' last convolutions, and
 * the first one's dgrad) would waste most of each vector; there the vectors run along the
 * tap row instead, each output a dot product of length D (dot_tile). A 1x1 forward of
 * stride 1 without padding, with few channels, is no convolution at all: a thin product
 * (gemm_thin, gemm.h) over the pixels, x read where it lies.
 *
 * Threads: work items (bands) are handed out dynamically. The weight gradient sums over
 * all pixels: the items are cut into groups, as many as the shape says (at most
 * WG_GROUPS), each summed into its own partial dw in item order, and the partials are
 * added in group order, so the result does not depend on the thread count. One parallel
 * region per call: a backward deals out the wgrad groups, then the dgrad items of every
 * stride class, then adds the partials (conv2d_backward_cpu). Scratch
 * (packed weights, slabs, partials) comes from cpu_scratch (cpu_util.h): no malloc per
 * call; cpu_par_flops decides whether a call is worth a second thread.
 */
#include <omp.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/conv2d.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/gemm.h"

// ----------------------------------------------------------------------------
// slabs and tiles

#define LMAX 12       /* lanes x vectors of one tile: the 16 ymm registers less B and A */
#define SLAB_SLACK (LMAX * VW) /* floats readable after a slab: tiles may read past a tap row's end */
#define BAND_PIXELS 512
#define WG_GROUPS 32 /* see conv_wgrad_direct */
#define KC_BYTES 24576 /* weights of one depth block: 3/4 of a 32 KB L1 */
#define DIRECT_CHUNK 256 /* forward: pixels per item at least, when images are smaller */
#define WG_CHUNK 256   /* wgrad: pixels summed per pass over the tiles (measured: 64 and 512 are slower) */
_Static_assert(WG_CHUNK <= BAND_PIXELS, "the wgrad segment tables hold BAND_PIXELS rows");

typedef struct {
    const float *src; /* (N, Hin, Win, C) */
    int N, Hin, Win, C;
    int R, S, stride, pad_h, pad_w;
    int P, Q;    /* output size */
    int band;    /* output rows per band */
    int nband;   /* bands per image */
    int Hs, Ws;  /* rows of a full band's slab, columns of every slab */
} Slab;

/* Output pixel (p, q) reads rows p*stride - pad_h + r, columns q*stride - pad_w + s of src. */
static Slab slab_of(const float *src, const int *shape, int R, int S, int stride, int pad_h, int pad_w, int P, int Q) {
    Slab s = {src, shape[0], shape[1], shape[2], shape[3], R, S, stride, pad_h, pad_w, P, Q, 0, 0, 0, 0};
    s.band = Q >= BAND_PIXELS ? 1 : BAND_PIXELS / Q;
    if (s.band > P) s.band = P;
    s.nband = (P + s.band - 1) / s.band;
    s.Hs = (s.band - 1) * stride + R;
    s.Ws = (Q - 1) * stride + S;
    return s;
}

static size_t slab_floats(const Slab *s) {
    return ((size_t)s->Hs * s->Ws * s->C + SLAB_SLACK + 15) / 16 * 16; /* keep every slab 64-byte aligned */
}

static inline int iclamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The slab of band `band` of image n; returns the band's output rows. */
static int slab_fill(const Slab *s, int n, int band, float *dst) {
    int p0 = band * s->band, rows = s->P - p0 < s->band ? s->P - p0 : s->band;
    int hs = (rows - 1) * s->stride + s->R;
    size_t C = s->C, rowf = (size_t)s->Ws * C;
    int j0 = iclamp(s->pad_w, 0, s->Ws), j1 = iclamp(s->pad_w + s->Win, j0, s->Ws); /* slab columns inside x */
    for (int i = 0; i < hs; i++) {
        int iy = p0 * s->stride - s->pad_h + i;
        float *d = dst + i * rowf;
        if (iy < 0 || iy >= s->Hin || j1 == j0) {
            memset(d, 0, rowf * sizeof(float));
            continue;
        }
        memset(d, 0, j0 * C * sizeof(float));
        memcpy(d + j0 * C, s->src + (((size_t)n * s->Hin + iy) * s->Win + (j0 - s->pad_w)) * C,
               (j1 - j0) * C * sizeof(float));
        memset(d + j1 * C, 0, (s->Ws - j1) * C * sizeof(float));
    }
    memset(dst + hs * rowf, 0, SLAB_SLACK * sizeof(float));
    return rows;
}

/* Slab pointer of output pixel (pl, q) of the band (its first tap row). */
static inline const float *slab_pixel(const Slab *s, const float *slab, int pl, int q) {
    return slab + ((size_t)pl * s->stride * s->Ws + (size_t)q * s->stride) * s->C;
}

// ----------------------------------------------------------------------------
// the register tiles

typedef struct {
    const float *a[LMAX];
    const float *b;
    int nseg, len;
    const long *sa, *sb;
    long as, bs;
    /* store: c[i][j] (= or +=) acc[i][j] (+ bias[j]) for i < mi, j < nj; transposed:
     * c[j][i] += acc[i][j] */
    float *c[LMAX * VW];
    int mi, nj;
    const float *bias;
    bool accumulate, transposed;
} Lanes;

static inline __attribute__((always_inline)) void lanes_tile(const int ML, const int NV, const Lanes *L) {
    vf acc[LMAX];
#pragma GCC unroll 12
    for (int i = 0; i < ML * NV; i++) acc[i] = vf_set1(0.0f);
    for (int s = 0; s < L->nseg; s++) {
        const float *ap[LMAX];
#pragma GCC unroll 12
        for (int i = 0; i < ML; i++) ap[i] = L->a[i] + L->sa[s];
        const float *bp = L->b + L->sb[s];
        long off = 0;
        for (int t = 0; t < L->len; t++, off += L->as, bp += L->bs) {
            vf bv[LMAX];
#pragma GCC unroll 12
            for (int j = 0; j < NV; j++) bv[j] = vf_loadu(bp + j * VW);
#pragma GCC unroll 12
            for (int i = 0; i < ML; i++) {
                vf av = vf_set1(ap[i][off]);
#pragma GCC unroll 12
                for (int j = 0; j < NV; j++) acc[i * NV + j] = vf_fma(av, bv[j], acc[i * NV + j]);
            }
        }
    }
    if (!L->transposed && L->nj == NV * VW) {
        /* the flags and the bias read once, the rows unrolled: a tile of a thin convolution
         * (C = 1: 9 steps) spent a sixth of its time re-reading them per row */
        const bool accumulate = L->accumulate, has_bias = L->bias != NULL;
        const int mi = L->mi;
        vf bias[LMAX];
#pragma GCC unroll 12
        for (int j = 0; j < NV; j++) bias[j] = L->bias ? vf_loadu(L->bias + j * VW) : vf_set1(0.0f);
#pragma GCC unroll 12
        for (int i = 0; i < ML; i++) {
            if (i >= mi) break;
            float *c = L->c[i];
#pragma GCC unroll 12
            for (int j = 0; j < NV; j++) {
                vf v = acc[i * NV + j];
                if (has_bias) v = vf_add(v, bias[j]);
                if (accumulate) v = vf_add(v, vf_loadu(c + j * VW));
                vf_storeu(c + j * VW, v);
            }
        }
        return;
    }
    float t[LMAX * VW];
#pragma GCC unroll 12
    for (int i = 0; i < ML * NV; i++) vf_storeu(t + i * VW, acc[i]);
    for (int i = 0; i < L->mi; i++)
        for (int j = 0; j < L->nj; j++) {
            float v = t[i * NV * VW + j];
            if (L->transposed) {
                L->c[j][i] += v;
                continue;
            }
            if (L->bias) v += L->bias[j];
            L->c[i][j] = L->accumulate ? L->c[i][j] + v : v;
        }
}

/* The tile shapes (lanes, vectors), each compiled with its loops unrolled. 6 x 2 keeps its
 * two B vectors in registers (15 of 16 ymm); 4 x 3 and 3 x 4 would not (GCC then reads B
 * from memory in every FMA) and measured 20-50% slower. 1 x 8 is for a single lane
 * (K = 1 weight gradients). */
#define LANE_SHAPES(X) X(6, 2) X(12, 1) X(1, 8)
#define LANE_FN(ml, nv) \
    static void lanes_##ml##_##nv(const Lanes *L) { lanes_tile(ml, nv, L); }
LANE_SHAPES(LANE_FN)
typedef struct {
    int ml, nv;
    void (*fn)(const Lanes *);
} LaneShape;
#define LANE_ENTRY(ml, nv) {ml, nv, lanes_##ml##_##nv},
static const LaneShape lane_shapes[] = {LANE_SHAPES(LANE_ENTRY)};

/* The tile that takes fewest cycles on `lanes` lanes of `width` floats: the padded work,
 * times loads per FMA where a tile issues more loads (ml + nv) than FMAs (ml*nv) can hide. */
static const LaneShape *lane_shape_for(int lanes, int width) {
    const LaneShape *best = NULL;
    double best_cost = 0;
    for (size_t k = 0; k < sizeof lane_shapes / sizeof lane_shapes[0]; k++) {
        const LaneShape *t = &lane_shapes[k];
        double work = (double)((lanes + t->ml - 1) / t->ml * t->ml) *
                      ((width + t->nv * VW - 1) / (t->nv * VW) * t->nv * VW);
        double ratio = (double)(t->ml + t->nv) / (t->ml * t->nv), cost = work * (ratio > 1 ? ratio : 1);
        if (!best || cost < best_cost) best = t, best_cost = cost;
    }
    return best;
}

/* out[p][k] = sum over segments s of the dot product of a[p] + sa[s] and w[k] + sw[s],
 * `len` floats each, p < DP, k < DK. */
static inline __attribute__((always_inline)) void dot_tile(const int DP, const int DK, const float *const *a,
                                                           const float *const *w, int nseg, const long *sa,
                                                           const long *sw, int len, float *out) {
    vf acc[LMAX];
    float tail[LMAX] = {0};
#pragma GCC unroll 12
    for (int i = 0; i < DP * DK; i++) acc[i] = vf_set1(0.0f);
    for (int s = 0; s < nseg; s++) {
        const float *ap[LMAX], *wp[LMAX];
#pragma GCC unroll 12
        for (int p = 0; p < DP; p++) ap[p] = a[p] + sa[s];
#pragma GCC unroll 12
        for (int k = 0; k < DK; k++) wp[k] = w[k] + sw[s];
        int t = 0;
        for (; t + VW <= len; t += VW) {
            vf wv[LMAX];
#pragma GCC unroll 12
            for (int k = 0; k < DK; k++) wv[k] = vf_loadu(wp[k] + t);
#pragma GCC unroll 12
            for (int p = 0; p < DP; p++) {
                vf xv = vf_loadu(ap[p] + t);
#pragma GCC unroll 12
                for (int k = 0; k < DK; k++) acc[p * DK + k] = vf_fma(xv, wv[k], acc[p * DK + k]);
            }
        }
        for (; t < len; t++)
            for (int p = 0; p < DP; p++)
                for (int k = 0; k < DK; k++) tail[p * DK + k] += ap[p][t] * wp[k][t];
    }
#pragma GCC unroll 12
    for (int i = 0; i < DP * DK; i++) out[i] = vf_sum(acc[i]) + tail[i];
}

static void dot_8_1(const float *const *a, const float *const *w, int nseg, const long *sa, const long *sw, int len,
                    float *out) {
    dot_tile(8, 1, a, w, nseg, sa, sw, len, out);
}
static void dot_3_4(const float *const *a, const float *const *w, int nseg, const long *sa, const long *sw, int len,
                    float *out) {
    dot_tile(3, 4, a, w, nseg, sa, sw, len, out);
}

// ----------------------------------------------------------------------------
// direct convolution (forward and dgrad)

/* The kernel of a convolution as the direct path reads it: output channel o, tap row a,
 * float t of the tap row (t = b*Ci + c). Forward: w itself. flip: the dgrad's kernel, read
 * from w (K, R, S, C): o is w's c, the input channel is w's k, and tap (a, b) is w's tap
 * (rt[a], st[b]) (for stride 1 the flipped kernel, rt[a] = R-1-a). */
typedef struct {
    const float *w;
    int K, R, S, C; /* w's shape */
    bool flip;
    int nr, ns, rt[3], st[3];
} KernelView;

/* The kernel is packed in units that threads share: a block of nrp output channels, a row
 * of the dot path, or one input channel k of the flipped (dgrad) kernel. */
static int kernel_pack_units(const KernelView *v, int Ko, int nrp) {
    return v->flip ? v->K : nrp ? (Ko + nrp - 1) / nrp : Ko;
}

/* Unit u of the kernel into dst, as element (o, d = a*ns*Ci + t) at dst[o*D + d] (dot) or,
 * for blocks of nrp output channels, at dst[((o / nrp)*D + d)*nrp + o % nrp], zeros past Ko. */
static void kernel_pack(const KernelView *v, int Ko, int D, int nrp, float *dst, int u) {
    if (!v->flip) {
        if (!nrp) {
            memcpy(dst + (size_t)u * D, v->w + (size_t)u * D, (size_t)D * sizeof(float));
            return;
        }
        /* nrp rows of w read side by side, each packed row of the block written whole (a
         * row at a time strided the writes by nrp floats: 16% of a 4x4x64 forward) */
        const float *src[LMAX * VW]; /* nrp <= 8 vectors (LANE_SHAPES) */
        int blk = u, n = Ko - blk * nrp < nrp ? Ko - blk * nrp : nrp;
        for (int j = 0; j < n; j++) src[j] = v->w + (size_t)(blk * nrp + j) * D;
        float *d0 = dst + (size_t)blk * D * nrp;
        for (int d = 0; d < D; d++, d0 += nrp) {
            for (int j = 0; j < n; j++) d0[j] = src[j][d];
            for (int j = n; j < nrp; j++) d0[j] = 0.0f;
        }
        return;
    }
    const int K = v->K, k = u, blocks = nrp ? (Ko + nrp - 1) / nrp : 0;
    for (int a = 0; a < v->nr; a++)
        for (int b = 0; b < v->ns; b++) {
            const float *src = v->w + (((size_t)k * v->R + v->rt[a]) * v->S + v->st[b]) * v->C;
            int d = (a * v->ns + b) * K + k;
            if (!nrp) {
                for (int o = 0; o < Ko; o++) dst[(size_t)o * D + d] = src[o];
                continue;
            }
            for (int blk = 0; blk < blocks; blk++) {
                int n = Ko - blk * nrp < nrp ? Ko - blk * nrp : nrp;
                float *row = dst + ((size_t)blk * D + d) * nrp;
                memcpy(row, src + blk * nrp, (size_t)n * sizeof(float));
                for (int j = n; j < nrp; j++) row[j] = 0.0f;
            }
        }
}

/* Threads for `flop` of work in `items` pieces: one where cpu_par_flops says a parallel
 * region costs more, or inside a parallel region. */
static int conv_threads(double flop, int items) {
    if (omp_in_parallel() || !cpu_par_flops(flop)) return 1;
    int nt = omp_get_max_threads();
    return nt < items ? nt : items;
}

/* One direct convolution: output pixel (n, p, q), p < P, q < Q, of the convolution of src
 * (N, Hin, Win, Ci) with the kernel kv (Ko, R, S, Ci as kernel_pack reads it) is written
 * (accumulate: added) with the bias to y + ((n*Hy + oy + p*os)*Wy + ox + q*os)*Ko. */
typedef struct {
    const float *src;
    const int *src_shape;
    int R, S, stride, pad_h, pad_w, P, Q;
    const KernelView *kv;
    int Ko;
    const float *bias;
    bool accumulate;
    float *y;
    int Hy, Wy, os, oy, ox;
} DirectConv;

static inline float *out_pixel(const DirectConv *c, int n, int p, int q) {
    return c->y + (((size_t)n * c->Hy + c->oy + (size_t)p * c->os) * c->Wy + c->ox + (size_t)q * c->os) * c->Ko;
}

/* One direct convolution, planned: fixed before the parallel loop, read by every item. */
typedef struct {
    const DirectConv *c;
    Slab sl;
    int SC, D, ipb, items, nrp, nkb, maxpx;
    bool dot;
    const LaneShape *ls;
    size_t wfloats, sfloats; /* packed weights; one image's slab */
    long sa[3];
    float *wp; /* the packed weights (conv_run_pack) */
} ConvPlan;

static double conv_flop(const DirectConv *c) {
    return 2.0 * c->src_shape[0] * c->P * c->Q * c->Ko * c->R * c->S * c->src_shape[3];
}

/* The plan of c when nt threads share it: small images go ipb to an item (their slabs side
 * by side), so that a depth block of the weights serves more pixels while it is in L1; at
 * least two items per thread. */
static ConvPlan conv_plan(const DirectConv *c, int nt) {
    ConvPlan p = {.c = c};
    p.sl = slab_of(c->src, c->src_shape, c->R, c->S, c->stride, c->pad_h, c->pad_w, c->P, c->Q);
    const int P = c->P, Q = c->Q, N = p.sl.N, Ko = c->Ko;
    p.SC = c->S * p.sl.C, p.D = c->R * p.SC, p.ipb = 1;
    if (p.sl.nband == 1 && P * Q < DIRECT_CHUNK) {
        p.ipb = DIRECT_CHUNK / (P * Q);
        if (p.ipb > N / (2 * nt)) p.ipb = N / (2 * nt) > 1 ? N / (2 * nt) : 1;
    }
    p.items = p.ipb > 1 ? (N + p.ipb - 1) / p.ipb : N * p.sl.nband;
    p.dot = 2 * Ko <= VW && p.SC >= VW;
    p.ls = p.dot ? NULL : lane_shape_for(BAND_PIXELS, Ko);
    p.nrp = p.dot ? 0 : p.ls->nv * VW, p.nkb = p.dot ? 0 : (Ko + p.nrp - 1) / p.nrp;
    p.wfloats = ((size_t)(p.dot ? Ko : p.nkb * p.nrp) * p.D + 15) / 16 * 16, p.sfloats = slab_floats(&p.sl);
    p.maxpx = p.ipb > 1 ? p.ipb * P * Q : p.sl.band * Q;
    for (int r = 0; r < c->R; r++) p.sa[r] = (long)r * p.sl.Ws * p.sl.C;
    return p;
}

/* Item `item` of a plan, with this thread's slabs (ipb * sfloats) and pixel tables
 * (2 * maxpx pointers). */
static void conv_item(const ConvPlan *cp, int item, float *slab, void **tables) {
    const DirectConv *c = cp->c;
    const Slab sl = cp->sl;
    const int R = c->R, Q = c->Q, Ko = c->Ko, N = sl.N, ipb = cp->ipb, SC = cp->SC, D = cp->D, nrp = cp->nrp,
              nkb = cp->nkb, maxpx = cp->maxpx;
    const float *bias = c->bias, *wp = cp->wp;
    const bool accumulate = c->accumulate, dot = cp->dot;
    const LaneShape *ls = cp->ls;
    const size_t sfloats = cp->sfloats;
    const long *sa = cp->sa;
    int n = ipb > 1 ? item * ipb : item / sl.nband, band = ipb > 1 ? 0 : item % sl.nband;
    int nimg = N - n < ipb ? N - n : ipb, rows = 0;
    for (int i = 0; i < nimg; i++) rows = slab_fill(&sl, n + i, band, slab + i * sfloats);
    int npx = nimg * rows * Q;
    const float **pix = (const float **)tables;
    float **outp = (float **)(pix + maxpx);
    for (int i = 0, pi = 0; i < nimg; i++)
        for (int pl = 0; pl < rows; pl++)
            for (int q = 0; q < Q; q++, pi++) {
                pix[pi] = slab_pixel(&sl, slab + (size_t)i * sfloats, pl, q);
                outp[pi] = out_pixel(c, n + i, band * sl.band + pl, q);
            }
    if (dot) {
        const float *wk[4];
        long swd[3];
        for (int r = 0; r < R; r++) swd[r] = (long)r * SC;
        int dk = Ko == 1 ? 1 : 4, dp = Ko == 1 ? 8 : 3;
        for (int k0 = 0; k0 < Ko; k0 += dk) {
            for (int k = 0; k < dk; k++) wk[k] = wp + (size_t)(k0 + k < Ko ? k0 + k : Ko - 1) * D;
            for (int px = 0; px < npx; px += dp) {
                const float *a[8];
                float o[LMAX];
                for (int i = 0; i < dp; i++) {
                    int pi = px + i < npx ? px + i : npx - 1;
                    a[i] = pix[pi];
                }
                (dk == 1 ? dot_8_1 : dot_3_4)(a, wk, R, sa, swd, SC, o);
                for (int i = 0; i < dp && px + i < npx; i++)
                    for (int k = 0; k < dk && k0 + k < Ko; k++) {
                        float *yo = outp[px + i] + k0 + k;
                        float v = o[i * dk + k] + (bias ? bias[k0 + k] : 0.0f);
                        *yo = accumulate ? *yo + v : v;
                    }
            }
        }
        return;
    }
    /* Depth blocks whose weights stay in L1 (KC_BYTES): as many whole tap rows at once as
     * fit (all R, or 2 of 3 for C = 64), else pieces of one tap row; blocks after the first
     * accumulate. */
    long sb[3];
    for (int r = 0; r < R; r++) sb[r] = (long)r * SC * nrp;
    const int kc_max = (int)(KC_BYTES / (nrp * sizeof(float)));
    const int rpb = SC <= kc_max ? (kc_max / SC < R ? kc_max / SC : R) : 1; /* tap rows per block */
    const int pieces = (SC + kc_max - 1) / kc_max, kcd = (SC + pieces - 1) / pieces; /* equal pieces */
    Lanes L = {.sb = sb, .as = 1, .bs = nrp};
    for (int kb = 0; kb < nkb; kb++) {
        L.nj = Ko - kb * nrp < nrp ? Ko - kb * nrp : nrp;
        for (int r0 = 0; r0 < R; r0 += rpb)
            for (int t0 = 0; t0 < SC; t0 += kcd) {
                bool first = r0 == 0 && t0 == 0;
                L.nseg = R - r0 < rpb ? R - r0 : rpb;
                L.len = SC - t0 < kcd ? SC - t0 : kcd;
                L.sa = sa + r0;
                L.b = wp + ((size_t)kb * D + (size_t)r0 * SC + t0) * nrp;
                L.bias = bias && first ? bias + kb * nrp : NULL;
                L.accumulate = accumulate || !first;
                for (int px = 0; px < npx; px += ls->ml) {
                    L.mi = npx - px < ls->ml ? npx - px : ls->ml;
                    for (int i = 0; i < ls->ml; i++) {
                        int pi = i < L.mi ? px + i : px;
                        L.a[i] = pix[pi] + t0;
                        L.c[i] = outp[pi] + kb * nrp;
                    }
                    ls->fn(&L);
                }
            }
    }
}

/* The n direct convolutions cs[0..n-1] (the stride classes of one dgrad, or one forward)
 * as one list of items, so that one parallel region deals them all out dynamically: one
 * region, not one per class (a region's start and end barrier cost 20-60 us with passive
 * waiting, more on a loaded machine). */
typedef struct {
    ConvPlan plans[4]; /* stride <= 2: at most 4 classes */
    int n, items, start[5], maxpx, units, ustart[5]; /* items; the weights' pack units */
    size_t wsum, slabs; /* packed weights of all plans; one thread's slabs */
    float *buf;         /* packed weights, then each thread's slabs */
    void **tables;      /* each thread's pixel tables */
} ConvRun;

static double conv_run_flop(const DirectConv *cs, int n, int *est) {
    double flop = 0;
    *est = 0;
    for (int i = 0; i < n; i++) {
        flop += conv_flop(&cs[i]);
        Slab sl = slab_of(cs[i].src, cs[i].src_shape, cs[i].R, cs[i].S, cs[i].stride, cs[i].pad_h, cs[i].pad_w,
                          cs[i].P, cs[i].Q);
        *est += sl.N * sl.nband;
    }
    return flop;
}

/* The plans when nt threads share the run (nt sets how many small images an item holds). */
static void conv_run_plan(ConvRun *r, const DirectConv *cs, int n, int nt) {
    r->n = n, r->items = 0, r->maxpx = 0, r->wsum = 0, r->slabs = 0, r->start[0] = 0;
    for (int i = 0; i < n; i++) {
        ConvPlan *p = &r->plans[i];
        *p = conv_plan(&cs[i], nt);
        r->items += p->items, r->start[i + 1] = r->items;
        r->wsum += p->wfloats;
        if ((size_t)p->ipb * p->sfloats > r->slabs) r->slabs = (size_t)p->ipb * p->sfloats;
        if (p->maxpx > r->maxpx) r->maxpx = p->maxpx;
    }
}

/* Scratch for nt threads, and where each plan's packed weights go (conv_run_pack fills them,
 * inside the parallel region: packed serially, 8x8x128 -> 64's 295 KB of weights held the
 * second thread back for a sixth of the call). */
static int conv_run_alloc(ConvRun *r, const DirectConv *cs, int nt) {
    r->buf = cpu_scratch(SCRATCH_CONV, sizeof(float) * (r->wsum + (size_t)nt * r->slabs), "conv2d");
    r->tables = cpu_scratch(SCRATCH_CONV_PIXELS, (size_t)nt * 2 * r->maxpx * sizeof(void *), "conv2d");
    if (!r->buf || !r->tables) return -1;
    float *wp = r->buf;
    r->units = 0;
    for (int i = 0; i < r->n; i++) {
        r->plans[i].wp = wp;
        wp += r->plans[i].wfloats;
        r->ustart[i] = r->units;
        r->units += kernel_pack_units(cs[i].kv, cs[i].Ko, r->plans[i].nrp);
    }
    r->ustart[r->n] = r->units;
    return 0;
}

/* Pack unit u of the run's weights. */
static void conv_run_pack(const ConvRun *r, const DirectConv *cs, int u) {
    int i = 0;
    while (u >= r->ustart[i + 1]) i++;
    const ConvPlan *p = &r->plans[i];
    kernel_pack(cs[i].kv, cs[i].Ko, p->D, p->nrp, p->wp, u - r->ustart[i]);
}

/* Item `item` of the run, by thread t. */
static void conv_run_item(const ConvRun *r, int item, int t) {
    int i = 0;
    while (item >= r->start[i + 1]) i++;
    conv_item(&r->plans[i], item - r->start[i], r->buf + r->wsum + (size_t)t * r->slabs,
              r->tables + (size_t)t * 2 * r->maxpx);
}

static int conv_run(const DirectConv *cs, int n) {
    ConvRun r;
    int est;
    double flop = conv_run_flop(cs, n, &est);
    conv_run_plan(&r, cs, n, conv_threads(flop, est));
    int nt = conv_threads(flop, r.items);
    if (conv_run_alloc(&r, cs, nt)) return -1;
#pragma omp parallel num_threads(nt)
    {
#pragma omp for schedule(static)
        for (int u = 0; u < r.units; u++) conv_run_pack(&r, cs, u);
#pragma omp for schedule(dynamic, 1)
        for (int item = 0; item < r.items; item++) conv_run_item(&r, item, omp_get_thread_num());
    }
    return 0;
}

// ----------------------------------------------------------------------------
// direct weight gradient

/* The weight gradient's plan: groups of items (bands, or images ipb at a time), each summed
 * into its own partial dw in item order by one thread; the partials are then added in
 * group order, so dw does not depend on the thread count. */
typedef struct {
    Slab sl;
    const float *dy;
    int K, R, P, Q, C, SC, D, items, G, nrp, ipb, stride;
    bool over_k;
    const LaneShape *ls;
    size_t pfloats, sfloats; /* one partial (K*D); one image's slab */
    long sa[BAND_PIXELS], sb[BAND_PIXELS]; /* segment j: row j % band of image j / band of the block */
    float *buf;                             /* G partials, then each thread's slabs */
} WgPlan;

static void wg_plan(WgPlan *w, const Tensor *x, const Tensor *dy, int stride, int pad, const Tensor *dw) {
    int K = dw->shape[0], R = dw->shape[1], S = dw->shape[2], P = dy->shape[1], Q = dy->shape[2];
    Slab sl = slab_of(x->data, x->shape, R, S, stride, pad, pad, P, Q);
    /* Groups: at most WG_GROUPS, at least two (two threads), else one per WG_CHUNK pixels:
     * each group's partial dw (K*D floats) is cleared and summed once, which costs more
     * than a small group's FMAs when K*D is large (K = 64, D = 1152 at 8x8 pixels). A
     * group is the unit the threads share out, so the pixel-heavy convolutions (the VAE's
     * 64x64 and 32x32 ones: 128 and 32 chunks) get up to 32 of them: with 8, a thread that
     * lost its core mid-group (a shared machine) left the other idle for up to 1/8 of the
     * call; the extra partials cost ~1% there (K*D <= 9216 floats). */
    int C = sl.C, SC = S * C, D = R * SC, items = sl.N * sl.nband;
    long pixels = (long)sl.N * P * Q, by_size = pixels / WG_CHUNK > 2 ? pixels / WG_CHUNK : 2;
    int G = (int)(by_size < WG_GROUPS ? by_size : WG_GROUPS);
    if (G > items) G = items;
    /* Vectors along the tap row, unless it is shorter than one (C = 1) and the output
     * channels fill whole tiles (the dy rows are read nrp floats at a time). */
    const LaneShape *ls = lane_shape_for(K, SC);
    bool over_k = false;
    if (SC < VW) {
        const LaneShape *lk = lane_shape_for(D, K);
        if (K % (lk->nv * VW) == 0) ls = lk, over_k = true;
    }
    /* Images smaller than a chunk are summed ipb at a time (their slabs side by side), so
     * that a tile sums over at least WG_CHUNK pixels between loading and storing dw. */
    int ipb = sl.nband == 1 && P * Q < WG_CHUNK ? WG_CHUNK / (P * Q) : 1;
    *w = (WgPlan){.sl = sl, .dy = dy->data, .K = K, .R = R, .P = P, .Q = Q, .C = C, .SC = SC, .D = D,
                  .items = items, .G = G, .nrp = ls->nv * VW, .ipb = ipb, .stride = stride, .over_k = over_k,
                  .ls = ls, .pfloats = (size_t)K * D, .sfloats = slab_floats(&sl)};
    for (int j = 0; j < ipb * sl.band; j++) {
        long dy_row = (long)j * Q * K, x_row = (long)(j / sl.band) * w->sfloats + (long)(j % sl.band) * stride * sl.Ws * C;
        w->sa[j] = over_k ? x_row : dy_row;
        w->sb[j] = over_k ? dy_row : x_row;
    }
}

static double wg_flop(const WgPlan *w) { return 2.0 * w->sl.N * w->P * w->Q * w->K * w->D; }

static int wg_alloc(WgPlan *w, int nt) {
    w->buf = cpu_scratch(SCRATCH_CONV_WGRAD, sizeof(float) * (w->G * w->pfloats + (size_t)nt * w->ipb * w->sfloats),
                         "conv2d");
    return w->buf ? 0 : -1;
}

/* Group g's partial dw, by thread t. */
static void wg_group(const WgPlan *w, int g, int t) {
    const Slab sl = w->sl;
    const int K = w->K, R = w->R, P = w->P, Q = w->Q, C = w->C, SC = w->SC, D = w->D, items = w->items, G = w->G,
              nrp = w->nrp, ipb = w->ipb, stride = w->stride;
    const bool over_k = w->over_k;
    const LaneShape *ls = w->ls;
    const size_t pfloats = w->pfloats, sfloats = w->sfloats;
    const long *sa = w->sa, *sb = w->sb;
    float *part = w->buf + g * pfloats, *slab = w->buf + G * pfloats + (size_t)t * ipb * sfloats;
    memset(part, 0, pfloats * sizeof(float));
    Lanes L = {.len = Q, .accumulate = true, .transposed = over_k};
    L.as = over_k ? (long)stride * C : K;
    L.bs = over_k ? K : (long)stride * C;
    int end = (int)((long)(g + 1) * items / G);
    for (int item = (int)((long)g * items / G); item < end; item += ipb) {
        int n = item / sl.nband, band = item % sl.nband, nimg = end - item < ipb ? end - item : ipb, rows = 0;
        for (int i = 0; i < nimg; i++) rows += slab_fill(&sl, n + i, band, slab + i * sfloats);
        int chunk = Q >= WG_CHUNK ? 1 : WG_CHUNK / Q;
        const float *dyb = w->dy + ((size_t)n * P + (size_t)band * sl.band) * Q * K;
        /* rows s0 .. s0+chunk-1 of the block against every tile, then the next rows */
        for (int s0 = 0; s0 < rows; s0 += chunk) {
            L.nseg = rows - s0 < chunk ? rows - s0 : chunk;
            L.sa = sa + s0, L.sb = sb + s0;
            if (over_k) {
                for (int d0 = 0; d0 < D; d0 += ls->ml) {
                    L.mi = D - d0 < ls->ml ? D - d0 : ls->ml;
                    for (int i = 0; i < ls->ml; i++) {
                        int d = i < L.mi ? d0 + i : d0;
                        L.a[i] = slab + (size_t)(d / SC) * sl.Ws * C + d % SC;
                    }
                    for (int k0 = 0; k0 < K; k0 += nrp) {
                        L.b = dyb + k0;
                        L.nj = nrp;
                        for (int j = 0; j < nrp; j++) L.c[j] = part + (size_t)(k0 + j) * D + d0;
                        ls->fn(&L);
                    }
                }
                continue;
            }
            for (int k0 = 0; k0 < K; k0 += ls->ml) {
                L.mi = K - k0 < ls->ml ? K - k0 : ls->ml;
                for (int i = 0; i < ls->ml; i++) L.a[i] = dyb + (i < L.mi ? k0 + i : k0);
                for (int r = 0; r < R; r++)
                    for (int d0 = 0; d0 < SC; d0 += nrp) {
                        L.b = slab + (size_t)r * sl.Ws * C + d0;
                        L.nj = SC - d0 < nrp ? SC - d0 : nrp;
                        for (int i = 0; i < L.mi; i++) L.c[i] = part + (size_t)(k0 + i) * D + r * SC + d0;
                        ls->fn(&L);
                    }
            }
        }
    }
}

/* dw[e] += the partials at e, summed in group order, for e in block `blk` of WG_TOTAL_BLOCK
 * (the sums of a block side by side in vectors; each one's order is fixed). */
#define WG_TOTAL_BLOCK 256
static void wg_total(const WgPlan *w, float *dw, size_t blk) {
    const size_t e0 = blk * WG_TOTAL_BLOCK;
    const int n = (int)(w->pfloats - e0 < WG_TOTAL_BLOCK ? w->pfloats - e0 : WG_TOTAL_BLOCK), nv = n / VW * VW;
    vf s[WG_TOTAL_BLOCK / VW];
    for (int i = 0; i < nv; i += VW) s[i / VW] = vf_set1(0.0f);
    for (int g = 0; g < w->G; g++) {
        const float *part = w->buf + g * w->pfloats + e0;
        for (int i = 0; i < nv; i += VW) s[i / VW] = vf_add(s[i / VW], vf_loadu(part + i));
    }
    for (int i = 0; i < nv; i += VW) vf_storeu(dw + e0 + i, vf_add(vf_loadu(dw + e0 + i), s[i / VW]));
    for (int i = nv; i < n; i++) {
        float t = 0.0f;
        for (int g = 0; g < w->G; g++) t += w->buf[g * w->pfloats + e0 + i];
        dw[e0 + i] += t;
    }
}

// ----------------------------------------------------------------------------
// entry points

int conv2d_forward_cpu(const Tensor *x, const Tensor *w, const Tensor *b, int stride, int pad, Tensor *y) {
    int K = w->shape[0], R = w->shape[1], S = w->shape[2], P = y->shape[1], Q = y->shape[2];
    /* A 1x1 convolution of stride 1 without padding is y (N*H*W, K) = x (N*H*W, C) w^T + b:
     * with few channels, the thin product reads x in place, where the direct path would copy
     * it into slabs and run tiles only C steps deep (8x64x64x32 -> 16: 1.1 ms, PyTorch 0.7). */
    if (R == 1 && S == 1 && stride == 1 && pad == 0 && gemm_thin_fits(x->shape[3], K))
        return gemm_thin(x->data, w->data, b ? b->data : NULL, y->data, (int)(x->numel / x->shape[3]), x->shape[3], K);
    KernelView kv = {.w = w->data, .K = K, .R = R, .S = S, .C = w->shape[3]};
    DirectConv c = {x->data, x->shape, R, S, stride, pad, pad, P, Q, &kv, K, b ? b->data : NULL, false,
                    y->data, P, Q, 1, 0, 0};
    return conv_run(&c, 1);
}

/* Taps of a length-R kernel that reach input positions ≡ ph (mod stride): r with
 * (ph + pad - r) ≡ 0; the dy position read is then (h + pad - r) / stride = i + off.
 * Returned by ascending off (r descending); the offs are consecutive. */
static int class_taps(int ph, int pad, int R, int stride, int *r, int *off) {
    int n = 0;
    for (int t = R - 1; t >= 0; t--) {
        int d = ph + pad - t;
        if (((d % stride) + stride) % stride == 0) {
            r[n] = t;
            off[n++] = d / stride;
        }
    }
    return n;
}

/* The data gradient's stride classes (see above) as direct convolutions into cs (kv their
 * kernels, at most 4: stride <= 2, kernels/conv2d.c); returns how many. */
static int dgrad_classes(const Tensor *w, const Tensor *dy, int stride, int pad, Tensor *dx, KernelView *kv,
                         DirectConv *cs) {
    int H = dx->shape[1], W = dx->shape[2], C = dx->shape[3];
    int K = w->shape[0], R = w->shape[1], S = w->shape[2], n = 0;
    for (int ph = 0; ph < stride && ph < H; ph++)
        for (int pw = 0; pw < stride && pw < W; pw++) {
            KernelView *v = &kv[n];
            *v = (KernelView){.w = w->data, .K = K, .R = R, .S = S, .C = C, .flip = true};
            int offh[3], offw[3];
            v->nr = class_taps(ph, pad, R, stride, v->rt, offh);
            v->ns = class_taps(pw, pad, S, stride, v->st, offw);
            if (v->nr == 0 || v->ns == 0) continue; /* no tap reaches this class */
            int Hc = (H - ph + stride - 1) / stride, Wc = (W - pw + stride - 1) / stride;
            cs[n++] = (DirectConv){dy->data, dy->shape, v->nr, v->ns, 1, -offh[0], -offw[0], Hc, Wc, v, C, NULL, true,
                                   dx->data, H, W, stride, ph, pw};
        }
    return n;
}

/* The weight gradient's groups and the data gradient's items share one parallel region:
 * threads that finish their groups go on to dgrad items (nowait), one barrier, then the
 * partials are added. Three regions per backward (wgrad, its sum, dgrad) become one. */
int conv2d_backward_cpu(const Tensor *x, const Tensor *w, const Tensor *dy, int stride, int pad, Tensor *dx,
                        Tensor *dw, Tensor *db) {
    if (db && gemm_sum_rows(dy->data, (long)dy->shape[0] * dy->shape[1] * dy->shape[2], w->shape[0], db->data))
        return -1;
    KernelView kv[4];
    DirectConv cs[4];
    WgPlan wg;
    ConvRun run = {.items = 0};
    int n = dx ? dgrad_classes(w, dy, stride, pad, dx, kv, cs) : 0, est = 0;
    double flop = n ? conv_run_flop(cs, n, &est) : 0;
    if (dw) {
        wg_plan(&wg, x, dy, stride, pad, dw);
        flop += wg_flop(&wg);
        est += wg.G;
    }
    int nt = conv_threads(flop, est);
    if (n) conv_run_plan(&run, cs, n, nt);
    nt = conv_threads(flop, run.items + (dw ? wg.G : 0));
    if ((n && conv_run_alloc(&run, cs, nt)) || (dw && wg_alloc(&wg, nt))) return -1;
    const bool has_dw = dw != NULL;
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num();
        if (n) { /* the dgrad's weights, before its items (a barrier) */
#pragma omp for schedule(static)
            for (int u = 0; u < run.units; u++) conv_run_pack(&run, cs, u);
        }
        if (has_dw) {
#pragma omp for schedule(dynamic, 1) nowait
            for (int g = 0; g < wg.G; g++) wg_group(&wg, g, t);
        }
#pragma omp for schedule(dynamic, 1)
        for (int item = 0; item < run.items; item++) conv_run_item(&run, item, t);
        if (has_dw) {
#pragma omp for schedule(static)
            for (size_t blk = 0; blk < (wg.pfloats + WG_TOTAL_BLOCK - 1) / WG_TOTAL_BLOCK; blk++)
                wg_total(&wg, dw->data, blk);
        }
    }
    return 0;
}
