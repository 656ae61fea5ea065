/* kernels/cpu/conv2d.c — 2-D convolution on the CPU as implicit GEMM (kernels/cpu/gemm.h).
 *
 *   x (N, H, W, C), w (K, R, S, C), b (K), y (N, P, Q, K);  M = N*P*Q, D = R*S*C
 *   forward  y (M, K)   = im2col(x) (M, D) * w^T (D, K) + b                  2*M*K*D FLOP
 *   dgrad    dx         += the transposed convolution of dy with w           2*M*K*D FLOP
 *   wgrad    dw (K, D)  += dy^T (K, M) * im2col(x) (M, D)                     2*M*K*D FLOP
 *   bias     db (K)     += sum over the M rows of dy                          M*K FLOP
 * Bytes moved at best: x, w, y (and dy, dx, dw) once each; the im2col matrix never exists
 * in full: the GEMM's packers gather each (MC, KC) or (KC, NC) block of it straight from
 * the NHWC tensor (a row of im2col is R*S runs of C contiguous channels), zeros for the
 * padding.
 *
 * dgrad as a gather, so that every dx element has exactly one writer: for stride s the
 * input pixels split into s*s classes (h mod s, w mod s). Within a class the taps that
 * reach it are fixed (r = (h + pad) mod s, step s) and the dy pixel a tap reads moves one
 * step per class step, so each class is a stride-1 correlation of dy with a sub-kernel of
 * w: a GEMM with M = the class's pixels, N = C, depth = taps * K. No zero FLOPs for
 * stride 2, and the classes write disjoint rows of dx.
 */
#include <string.h>

#include "kernels/conv2d.h"
#include "kernels/cpu/gemm.h"

// ----------------------------------------------------------------------------
// gathering rows of an implicit im2col matrix

/* Row m = (n*Ho + y)*Wo + x of the matrix is the concatenation over taps (a, b), a-major,
 * of the Cs channels of src at (n, y*stride + oy[a], x*stride + ox[b]); zero outside. */
typedef struct {
    const float *src; /* (N, Hs, Ws, Cs) */
    int Hs, Ws, Cs;
    int Ho, Wo;
    int stride;
    int nty, ntx;
    int oy[3], ox[3];
} ConvGather;

/* A row (an output pixel) and a column (a tap and a channel) of the gathered matrix,
 * split once per panel and then stepped, so the packers do no division per element. */
typedef struct {
    int img, y, x;
} Pixel;
typedef struct {
    int ty, tx, c;
} Column;

static Pixel pixel_of(const ConvGather *g, int m) {
    Pixel p = {m / g->Wo / g->Ho, m / g->Wo % g->Ho, m % g->Wo};
    return p;
}

static void pixel_next(const ConvGather *g, Pixel *p) {
    if (++p->x == g->Wo) {
        p->x = 0;
        if (++p->y == g->Ho) p->y = 0, p->img++;
    }
}

static Column column_of(const ConvGather *g, int col) {
    Column c = {col / g->Cs / g->ntx, col / g->Cs % g->ntx, col % g->Cs};
    return c;
}

/* n columns from col of row p, to dst[0], dst[ds], dst[2*ds], ... */
static void gather_row(const ConvGather *g, Pixel p, Column col, int n, float *dst, int ds) {
    int ty = col.ty, tx = col.tx, c = col.c;
    while (n > 0) {
        int sy = p.y * g->stride + g->oy[ty], sx = p.x * g->stride + g->ox[tx];
        int run = g->Cs - c < n ? g->Cs - c : n;
        if (sy >= 0 && sy < g->Hs && sx >= 0 && sx < g->Ws) {
            const float *s = g->src + (((size_t)p.img * g->Hs + sy) * g->Ws + sx) * g->Cs + c;
            if (ds == 1)
                memcpy(dst, s, (size_t)run * sizeof(float));
            else
                for (int j = 0; j < run; j++) dst[(size_t)j * ds] = s[j];
        } else {
            for (int j = 0; j < run; j++) dst[(size_t)j * ds] = 0.0f;
        }
        dst += (size_t)run * ds;
        n -= run;
        c = 0;
        if (++tx == g->ntx) tx = 0, ty++;
    }
}

/* The gathered matrix as op(A): lanes are its rows, depth its columns. */
static void pack_gather_lanes(const GemmOperand *x, int i0, int ni, int k0, int nk, int width, float *dst) {
    const ConvGather *g = x->ctx;
    Pixel p = pixel_of(g, i0);
    Column col = column_of(g, k0);
    for (int i = 0; i < ni; i++, pixel_next(g, &p)) gather_row(g, p, col, nk, dst + i, width);
    for (int k = 0; k < nk; k++)
        for (int i = ni; i < width; i++) dst[(size_t)k * width + i] = 0.0f;
}

/* The gathered matrix as op(B): depth is its rows, lanes its columns. */
static void pack_gather_depth(const GemmOperand *x, int i0, int ni, int k0, int nk, int width, float *dst) {
    const ConvGather *g = x->ctx;
    Pixel p = pixel_of(g, k0);
    Column col = column_of(g, i0);
    for (int k = 0; k < nk; k++, pixel_next(g, &p)) {
        float *d = dst + (size_t)k * width;
        gather_row(g, p, col, ni, d, 1);
        for (int i = ni; i < width; i++) d[i] = 0.0f;
    }
}

static ConvGather im2col_of(const Tensor *x, const Tensor *w, int stride, int pad, int P, int Q) {
    ConvGather g = {x->data, x->shape[1], x->shape[2], x->shape[3], P, Q, stride, w->shape[1], w->shape[2],
                    {0}, {0}};
    for (int r = 0; r < g.nty; r++) g.oy[r] = r - pad;
    for (int s = 0; s < g.ntx; s++) g.ox[s] = s - pad;
    return g;
}

// ----------------------------------------------------------------------------
// forward

int conv2d_forward_cpu(const Tensor *x, const Tensor *w, const Tensor *b, int stride, int pad, Tensor *y) {
    int N = x->shape[0], P = y->shape[1], Q = y->shape[2], K = w->shape[0];
    int M = N * P * Q, D = w->shape[1] * w->shape[2] * w->shape[3];
    ConvGather g = im2col_of(x, w, stride, pad, P, Q);
    if (b) gemm_fill_rows(y->data, M, K, b->data);
    GemmOperand A = {pack_gather_lanes, NULL, 0, &g};
    GemmOperand B = {gemm_pack_lane_rows, w->data, D, NULL}; /* w^T: lane k is row k of w */
    GemmOut C = {y->data, K, NULL, NULL};
    return gemm_ex(M, K, D, 1.0f, &A, &B, b ? 1.0f : 0.0f, &C);
}

// ----------------------------------------------------------------------------
// backward: data gradient, one GEMM per stride class

/* Depth row (tap, k) of the class's sub-kernel, lanes c: w[k, r[tap / ntx], s[tap % ntx], :]. */
typedef struct {
    const float *w; /* (K, R, S, C) */
    int K, R, S, C;
    int ntx;
    int r[3], s[3];
} DgradWeight;

static void pack_dgrad_weight(const GemmOperand *x, int i0, int ni, int k0, int nk, int width, float *dst) {
    const DgradWeight *dw = x->ctx;
    for (int k = 0; k < nk; k++) {
        int tap = (k0 + k) / dw->K, ko = (k0 + k) % dw->K;
        const float *src = dw->w + (((size_t)ko * dw->R + dw->r[tap / dw->ntx]) * dw->S + dw->s[tap % dw->ntx]) * dw->C;
        float *d = dst + (size_t)k * width;
        memcpy(d, src + i0, (size_t)ni * sizeof(float));
        for (int i = ni; i < width; i++) d[i] = 0.0f;
    }
}

/* Row m = (n*Hc + i)*Wc + j of the class is dx[n, ph + s*i, pw + s*j, :]. */
typedef struct {
    float *dx; /* (N, H, W, C) */
    int H, W, C;
    int Hc, Wc, ph, pw, stride;
} DgradRows;

static float *dgrad_row(const GemmOut *c, int m) {
    const DgradRows *o = c->ctx;
    int j = m % o->Wc, t = m / o->Wc, i = t % o->Hc, n = t / o->Hc;
    return o->dx + (((size_t)n * o->H + o->ph + o->stride * i) * o->W + o->pw + o->stride * j) * o->C;
}

/* Taps of a length-R kernel that reach input positions ≡ ph (mod stride): r with
 * (ph + pad - r) ≡ 0; the dy position read is then (h + pad - r) / stride = i + off. */
static int class_taps(int ph, int pad, int R, int stride, int *r, int *off) {
    int n = 0;
    for (int t = 0; t < R; t++) {
        int d = ph + pad - t;
        if (((d % stride) + stride) % stride == 0) {
            r[n] = t;
            off[n++] = d / stride;
        }
    }
    return n;
}

static int conv2d_dgrad(const Tensor *w, const Tensor *dy, int stride, int pad, Tensor *dx) {
    int N = dx->shape[0], H = dx->shape[1], W = dx->shape[2], C = dx->shape[3];
    int K = w->shape[0], R = w->shape[1], S = w->shape[2];
    for (int ph = 0; ph < stride && ph < H; ph++)
        for (int pw = 0; pw < stride && pw < W; pw++) {
            ConvGather g = {dy->data, dy->shape[1], dy->shape[2], K, (H - ph + stride - 1) / stride,
                            (W - pw + stride - 1) / stride, 1, 0, 0, {0}, {0}};
            DgradWeight bw = {w->data, K, R, S, C, 0, {0}, {0}};
            g.nty = class_taps(ph, pad, R, stride, bw.r, g.oy);
            g.ntx = bw.ntx = class_taps(pw, pad, S, stride, bw.s, g.ox);
            if (g.nty == 0 || g.ntx == 0) continue; /* no tap reaches this class */
            DgradRows rows = {dx->data, H, W, C, g.Ho, g.Wo, ph, pw, stride};
            GemmOperand A = {pack_gather_lanes, NULL, 0, &g};
            GemmOperand B = {pack_dgrad_weight, NULL, 0, &bw};
            GemmOut out = {NULL, 0, dgrad_row, &rows};
            if (gemm_ex(N * g.Ho * g.Wo, C, g.nty * g.ntx * K, 1.0f, &A, &B, 1.0f, &out)) return -1;
        }
    return 0;
}

// ----------------------------------------------------------------------------
// backward: entry point (weight gradient inline: one GEMM)

int conv2d_backward_cpu(const Tensor *x, const Tensor *w, const Tensor *dy, int stride, int pad, Tensor *dx,
                        Tensor *dw, Tensor *db) {
    int P = dy->shape[1], Q = dy->shape[2], K = w->shape[0];
    int M = x->shape[0] * P * Q, D = w->shape[1] * w->shape[2] * w->shape[3];
    if (db) gemm_sum_rows(dy->data, M, K, db->data);
    if (dw) {
        ConvGather g = im2col_of(x, w, stride, pad, P, Q);
        GemmOperand A = {gemm_pack_depth_rows, dy->data, K, NULL}; /* dy^T: lane k, depth m at dy[m*K + k] */
        GemmOperand B = {pack_gather_depth, NULL, 0, &g};
        GemmOut C = {dw->data, D, NULL, NULL};
        if (gemm_ex(K, D, M, 1.0f, &A, &B, 1.0f, &C)) return -1;
    }
    if (dx && conv2d_dgrad(w, dy, stride, pad, dx)) return -1;
    return 0;
}
