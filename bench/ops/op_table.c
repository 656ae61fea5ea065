/* bench/ops/op_table.c — the rows of the op table (see op_table.h).
 *
 * Layout per op: the argument list (one builder per op, shared by its shape generators and
 * its preset shapes), the calls of its passes, its shapes, then the row at the bottom.
 *
 * Tolerances, on the one error measure of op_run.h (max |dev - cpu| / max |cpu|):
 *   TOL_EW  1e-5  element-wise ops, data movement, norm forwards: a handful of fp32
 *                 roundings per element on both sides, expf/rsqrtf within a few ulp.
 *   TOL_RED 1e-4  reductions and every result that contains one (losses, norm backwards,
 *                 parameter gradients, matrix ops on fp32 CUDA cores): the GPU sums in
 *                 another order (trees, tiles, split-K); the error of a sum of n terms
 *                 grows like sqrt(n) ulp, ~1e-5 at n = 4096, x10 margin.
 *   5e-4          timestep embedding: the CPU's float argument t*f (up to ~1000 rad)
 *                 carries ~1e-4 absolute rounding; the GPU evaluates it in double.
 *   0             Philox RNG: the same bits on every device, by design.
 * A tensor-core version must state its own bound here (TF32: ~1e-3; bf16: ~1e-2). */
#include "bench/ops/op_table.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/conv2d.h"
#include "kernels/cross_entropy.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "kernels/group_norm.h"
#include "kernels/layer_norm.h"
#include "kernels/linear.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "kernels/resample.h"
#include "kernels/silu.h"
#include "kernels/gaussian.h"

#define TOL_EW 1e-5
#define TOL_RED 1e-4
/* Tensor cores (version 3): bf16 operands, fp32 accumulation. Each input is rounded with
 * relative error <= u = 2^-8, so each product with <= 2u + u^2; with random signs the error
 * of a sum is about u sqrt(2/3) sqrt(sum of squared products) <= 0.82 u rms(y), and
 * 2^-5 = 8u leaves ~10 such standard deviations for the largest of all outputs (a wrong
 * element is off by O(1)). linear's db stays version 2's, held to the same bound. conv2d v3
 * is the same sum in each pass: k = R*S*C (forward), taps x K (dgrad), N*P*Q (wgrad, split-K
 * partials added in fp32); the bound is relative to rms of the output, whatever k; padded
 * taps add exact zeros. Its db is version 2's fp32 column sum, well inside it. */
#define TOL_BF16_MMA 0.03125
#define WHY_BF16_MMA "bf16 operands (u = 2^-8), fp32 accumulation: ~0.82 u rms(y) per output, 8u = 2^-5 bound"
#define WHY_EW "fp32 element-wise: a few roundings per element, expf/rsqrtf within a few ulp"
#define WHY_RED "a reduction summed in another order on the device: ~sqrt(n) ulp, x10 margin"
#define WHY_MM "fp32 dot products on CUDA cores, summed in another order (tiles, split-K)"
#define B(i) (1u << (i))

// ---------------------------------------------------------------------------------
// argument-list helpers

static OpCase *begin(OpCase *c, const OpDef *op, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static OpCase *begin(OpCase *c, const OpDef *op, const char *fmt, ...) {
    memset(c, 0, sizeof *c);
    c->op = op;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->desc, sizeof c->desc, fmt, ap);
    va_end(ap);
    return c;
}

/* Adds an argument; shape from the varargs (ndim of them). */
static OpArg *arg(OpCase *c, const char *name, OpRole role, float lo, float hi, int ndim, ...) {
    OpArg *a = &c->a[c->nargs++];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->role = role;
    a->lo = lo;
    a->hi = hi;
    a->ndim = ndim;
    a->grad_of = a->seeds = -1;
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) a->shape[i] = va_arg(ap, int);
    va_end(ap);
    return a;
}
static OpArg *in(OpCase *c, const char *n, float lo, float hi, int nd, int s0, int s1, int s2, int s3) {
    return arg(c, n, ROLE_IN, lo, hi, nd, s0, s1, s2, s3);
}
static OpArg *out(OpCase *c, const char *n, int nd, int s0, int s1, int s2, int s3) {
    return arg(c, n, ROLE_OUT, 0, 0, nd, s0, s1, s2, s3);
}
/* accumulated gradient of input `of`, pre-filled in [-0.5, 0.5) */
static OpArg *acc(OpCase *c, const char *n, int of, int nd, int s0, int s1, int s2, int s3) {
    OpArg *a = arg(c, n, ROLE_ACC, -0.5f, 0.5f, nd, s0, s1, s2, s3);
    a->grad_of = of;
    return a;
}
/* the upstream gradient of output `of` */
static OpArg *dy(OpCase *c, const char *n, int of, int nd, int s0, int s1, int s2, int s3) {
    OpArg *a = arg(c, n, ROLE_IN, -1, 1, nd, s0, s1, s2, s3);
    a->seeds = of;
    return a;
}

size_t op_arg_numel(const OpCase *c, int i) {
    const OpArg *a = &c->a[i];
    if (a->null) return 0;
    size_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= (size_t)a->shape[d];
    return n;
}

double op_bytes(const OpCase *c, int p) {
    const OpPass *ps = &c->op->pass[p];
    double b = 0;
    for (int i = 0; i < c->nargs; i++) {
        double n = (double)op_arg_numel(c, i);
        if (ps->writes & B(i)) b += c->a[i].role == ROLE_ACC ? 2 * n : n;
        else if (ps->reads & B(i)) b += n;
    }
    return 4 * b;
}

double op_flops(const OpCase *c, int p) {
    const OpPass *ps = &c->op->pass[p];
    return ps->flops ? ps->flops(c) : 0;
}

static double n0(const OpCase *c) { return (double)op_arg_numel(c, 0); }

/* the op's row, by name (the rows are defined at the bottom) */
static const OpDef *row(const char *name) { return op_find(name); }

// ---------------------------------------------------------------------------------
// element-wise: silu, fill, axpy, add, mul, scale, scale_shift

/* x dy | y | dx */
static void silu_args(OpCase *c, int n) {
    in(c, "x", -8, 8, 1, n, 0, 0, 0);
    dy(c, "dy", 2, 1, n, 0, 0, 0);
    out(c, "y", 1, n, 0, 0, 0);
    acc(c, "dx", 0, 1, n, 0, 0, 0);
}
static int silu_f(Tensor **t, const OpCase *c) { (void)c; return silu_forward(t[0], t[2]); }
static int silu_b(Tensor **t, const OpCase *c) { (void)c; return silu_backward(t[0], t[1], t[3]); }
static double silu_ff(const OpCase *c) { return 4 * n0(c); }
static double silu_bf(const OpCase *c) { return 8 * n0(c); }

static const int ew_full[] = {1, 7, 4096, 12347, 1000003}, ew_quick[] = {1, 7, 4099};

/* every size aligned, and misaligned */
static int ew_shapes(OpShapeSet set, OpCase *o, int max, const char *op, void (*args)(OpCase *, int)) {
    const int *ns = set == SHAPES_QUICK ? ew_quick : ew_full;
    const int nn = set == SHAPES_QUICK ? 3 : 5;
    int k = 0;
    args(begin(&o[k++], row(op), "(0) empty"), 0);
    for (int i = 0; i < nn; i++)
        for (int mis = 0; mis < 2 && k < max; mis++) {
            OpCase *c = begin(&o[k++], row(op), "(%d)%s", ns[i], mis ? " misaligned" : "");
            c->misalign = mis;
            args(c, ns[i]);
        }
    return k;
}
static int silu_shapes(OpShapeSet s, OpCase *o, int m) { return ew_shapes(s, o, m, "silu", silu_args); }

static void fill_args(OpCase *c, int n) {
    out(c, "y", 1, n, 0, 0, 0);
    c->fp[0] = 3.25f;
}
static int fill_f(Tensor **t, const OpCase *c) { return fill(t[0], c->fp[0]); }
static int fill_shapes(OpShapeSet s, OpCase *o, int m) { return ew_shapes(s, o, m, "fill", fill_args); }

/* y += alpha x: y x */
static void axpy_args(OpCase *c, int n) {
    arg(c, "y", ROLE_ACC, -1, 1, 1, n)->grad_of = -1;
    in(c, "x", -1, 1, 1, n, 0, 0, 0);
    c->fp[0] = -1.75f;
}
static int axpy_f(Tensor **t, const OpCase *c) { return axpy(t[0], t[1], c->fp[0]); }
static double axpy_ff(const OpCase *c) { return 2 * n0(c); }
static int axpy_shapes(OpShapeSet s, OpCase *o, int m) { return ew_shapes(s, o, m, "axpy", axpy_args); }

/* a b | y */
static void add_args(OpCase *c, int n) {
    in(c, "a", -1, 1, 1, n, 0, 0, 0);
    in(c, "b", -1, 1, 1, n, 0, 0, 0);
    out(c, "y", 1, n, 0, 0, 0);
}
static int add_f(Tensor **t, const OpCase *c) { (void)c; return add_forward(t[0], t[1], t[2]); }
static double one_ff(const OpCase *c) { return n0(c); }
static int add_shapes(OpShapeSet s, OpCase *o, int m) { return ew_shapes(s, o, m, "add", add_args); }

/* a b dy | y | da db */
static void mul_args(OpCase *c, int n) {
    in(c, "a", -2, 2, 1, n, 0, 0, 0);
    in(c, "b", -2, 2, 1, n, 0, 0, 0);
    dy(c, "dy", 3, 1, n, 0, 0, 0);
    out(c, "y", 1, n, 0, 0, 0);
    acc(c, "da", 0, 1, n, 0, 0, 0);
    acc(c, "db", 1, 1, n, 0, 0, 0);
}
static int mul_f(Tensor **t, const OpCase *c) { (void)c; return mul_forward(t[0], t[1], t[3]); }
static int mul_b(Tensor **t, const OpCase *c) { (void)c; return mul_backward(t[0], t[1], t[2], t[4], t[5]); }
static double two_ff(const OpCase *c) { return 2 * n0(c); }
static int mul_shapes(OpShapeSet s, OpCase *o, int m) {
    int k = ew_shapes(s, o, m, "mul", mul_args);
    for (int which = 1; which < 3 && k < m; which++) { /* da only; db only */
        OpCase *c = begin(&o[k++], row("mul"), "(%d) %s", 4099, which == 1 ? "da only" : "db only");
        mul_args(c, 4099);
        c->a[which == 1 ? 5 : 4].null = true;
    }
    return k;
}

static void scale_args(OpCase *c, int n) {
    in(c, "x", -3, 3, 1, n, 0, 0, 0);
    out(c, "y", 1, n, 0, 0, 0);
    c->fp[0] = 0.5f;
}
static int scale_f(Tensor **t, const OpCase *c) { return scale_forward(t[0], c->fp[0], t[1]); }
static int scale_shapes(OpShapeSet s, OpCase *o, int m) { return ew_shapes(s, o, m, "scale", scale_args); }

/* x (N.., C), scale (N, C), shift (N, C), dy | y | dx dscale dshift */
static void ss_args(OpCase *c, int nd, const int *s) {
    const int N = s[0], C = s[nd - 1];
    arg(c, "x", ROLE_IN, -2, 2, nd, s[0], s[1], s[2], s[3]);
    in(c, "scale", -1, 1, 2, N, C, 0, 0);
    in(c, "shift", -1, 1, 2, N, C, 0, 0);
    arg(c, "dy", ROLE_IN, -1, 1, nd, s[0], s[1], s[2], s[3])->seeds = 4;
    arg(c, "y", ROLE_OUT, 0, 0, nd, s[0], s[1], s[2], s[3]);
    arg(c, "dx", ROLE_ACC, -0.5f, 0.5f, nd, s[0], s[1], s[2], s[3])->grad_of = 0;
    acc(c, "dscale", 1, 2, N, C, 0, 0);
    acc(c, "dshift", 2, 2, N, C, 0, 0);
}
static int ss_f(Tensor **t, const OpCase *c) { (void)c; return scale_shift_forward(t[0], t[1], t[2], t[4]); }
static int ss_b(Tensor **t, const OpCase *c) {
    (void)c;
    return scale_shift_backward(t[0], t[1], t[3], t[5], t[6], t[7]);
}
static double ss_bf(const OpCase *c) { return 4 * n0(c); }
static int ss_shapes(OpShapeSet set, OpCase *o, int m) {
    static const int sh[][4] = {{2, 7, 9, 70}, {1, 5, 3, 13}, {3, 16, 16, 128}, {4, 1, 1, 8}};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 4); i++)
        for (int which = 0; which < 3 && k < m; which++) { /* both; scale only; shift only */
            static const char *wn[] = {"scale+shift", "scale only", "shift only"};
            OpCase *c = begin(&o[k++], row("scale_shift"), "(%d,%d,%d,%d) %s", sh[i][0], sh[i][1], sh[i][2], sh[i][3],
                              wn[which]);
            ss_args(c, 4, sh[i]);
            if (which == 1) c->a[2].null = c->a[7].null = true;
            if (which == 2) c->a[1].null = c->a[6].null = true;
        }
    if (k < m) ss_args(begin(&o[k++], row("scale_shift"), "(2,77,40) tokens"), 3, (int[]){2, 77, 40, 0});
    if (k < m) ss_args(begin(&o[k++], row("scale_shift"), "(0,3,3,8) empty"), 4, (int[]){0, 3, 3, 8});
    return k;
}

// ---------------------------------------------------------------------------------
// resample: upsample2x, concat, slice

/* x dy | y | dx */
static void up_args(OpCase *c, int N, int H, int W, int C) {
    in(c, "x", -1, 1, 4, N, H, W, C);
    dy(c, "dy", 2, 4, N, 2 * H, 2 * W, C);
    out(c, "y", 4, N, 2 * H, 2 * W, C);
    acc(c, "dx", 0, 4, N, H, W, C);
}
static int up_f(Tensor **t, const OpCase *c) { (void)c; return upsample2x_forward(t[0], t[2]); }
static int up_b(Tensor **t, const OpCase *c) { (void)c; return upsample2x_backward(t[1], t[3]); }
static double up_bf(const OpCase *c) { return 4 * n0(c); }
static int up_shapes(OpShapeSet set, OpCase *o, int m) {
    static const int sh[][4] = {{1, 7, 5, 3}, {2, 9, 6, 64}, {1, 1, 1, 5}, {2, 16, 16, 32}};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 4); i++)
        for (int mis = 0; mis < 2 && k < m; mis++) {
            OpCase *c = begin(&o[k++], row("upsample2x"), "(%d,%d,%d,%d)%s", sh[i][0], sh[i][1], sh[i][2], sh[i][3],
                              mis ? " misaligned" : "");
            c->misalign = mis;
            up_args(c, sh[i][0], sh[i][1], sh[i][2], sh[i][3]);
        }
    if (k < m) up_args(begin(&o[k++], row("upsample2x"), "(0,2,2,4) empty"), 0, 2, 2, 4);
    return k;
}

/* a b dy | y | da db */
static void cat_args(OpCase *c, int N, int H, int W, int Ca, int Cb) {
    in(c, "a", -1, 1, 4, N, H, W, Ca);
    in(c, "b", -1, 1, 4, N, H, W, Cb);
    dy(c, "dy", 3, 4, N, H, W, Ca + Cb);
    out(c, "y", 4, N, H, W, Ca + Cb);
    acc(c, "da", 0, 4, N, H, W, Ca);
    acc(c, "db", 1, 4, N, H, W, Cb);
}
static int cat_f(Tensor **t, const OpCase *c) { (void)c; return concat_channels_forward(t[0], t[1], t[3]); }
static int cat_b(Tensor **t, const OpCase *c) { (void)c; return concat_channels_backward(t[2], t[4], t[5]); }
static int cat_shapes(OpShapeSet set, OpCase *o, int m) {
    static const int cc[][5] = {{1, 7, 5, 3, 13}, {2, 4, 4, 64, 32}, {2, 3, 3, 8, 5}, {1, 9, 9, 128, 128}};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 4); i++)
        for (int which = 0; which < 3 && k < m; which++) {
            static const char *wn[] = {"", " da only", " db only"};
            const int *s = cc[i];
            OpCase *c = begin(&o[k++], row("concat"), "(%d,%d,%d,%d|%d)%s", s[0], s[1], s[2], s[3], s[4], wn[which]);
            cat_args(c, s[0], s[1], s[2], s[3], s[4]);
            if (which) c->a[which == 1 ? 5 : 4].null = true;
        }
    return k;
}

/* x dy | y | dx; ip = c0, c1 */
static void slice_args(OpCase *c, int rows, int C, int c0, int c1) {
    in(c, "x", -1, 1, 2, rows, C, 0, 0);
    dy(c, "dy", 2, 2, rows, c1 - c0, 0, 0);
    out(c, "y", 2, rows, c1 - c0, 0, 0);
    acc(c, "dx", 0, 2, rows, C, 0, 0);
    c->ip[0] = c0;
    c->ip[1] = c1;
}
static int slice_f(Tensor **t, const OpCase *c) { return slice_channels_forward(t[0], c->ip[0], c->ip[1], t[2]); }
static int slice_b(Tensor **t, const OpCase *c) { return slice_channels_backward(t[1], c->ip[0], c->ip[1], t[3]); }
static int slice_shapes(OpShapeSet set, OpCase *o, int m) {
    static const int sl[][4] = {{37, 16, 3, 11}, {5, 64, 8, 40}, {3, 7, 0, 7}, {2, 128, 64, 128}};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 4) && k < m; i++)
        slice_args(begin(&o[k++], row("slice"), "(%d,%d)[%d:%d]", sl[i][0], sl[i][1], sl[i][2], sl[i][3]), sl[i][0],
                   sl[i][1], sl[i][2], sl[i][3]);
    return k;
}

// ---------------------------------------------------------------------------------
// embedding, timestep embedding

/* table ids dy | y | dtable */
static void emb_args(OpCase *c, int V, int D, int N) {
    in(c, "table", -1, 1, 2, V, D, 0, 0);
    in(c, "ids", 0, (float)V, 1, N, 0, 0, 0)->fill = FILL_INT;
    dy(c, "dy", 3, 2, N, D, 0, 0);
    out(c, "y", 2, N, D, 0, 0);
    acc(c, "dtable", 0, 2, V, D, 0, 0);
}
static int emb_f(Tensor **t, const OpCase *c) { (void)c; return embedding_forward(t[0], t[1], t[3]); }
static int emb_b(Tensor **t, const OpCase *c) { (void)c; return embedding_backward(t[1], t[2], t[4]); }
static int emb_shapes(OpShapeSet set, OpCase *o, int m) {
    static const int sh[][3] = {{11, 37, 13}, {3, 512, 64}, {1000, 20, 333}, {7, 300, 1}}; /* V, D, N */
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 4) && k < m; i++)
        emb_args(begin(&o[k++], row("embedding"), "table (%d,%d) ids (%d)", sh[i][0], sh[i][1], sh[i][2]), sh[i][0],
                 sh[i][1], sh[i][2]);
    return k;
}

static int temb_f(Tensor **t, const OpCase *c) { return timestep_embedding_forward(t[0], c->fp[0], t[1]); }
static int temb_shapes(OpShapeSet set, OpCase *o, int m) {
    static const int ts[][2] = {{5, 70}, {64, 320}, {1, 2}, {33, 128}}; /* N, dim */
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 4) && k < m; i++) {
        OpCase *c = begin(&o[k++], row("timestep_embedding"), "t (%d) dim %d", ts[i][0], ts[i][1]);
        in(c, "t", 0, 1000, 1, ts[i][0], 0, 0, 0);
        out(c, "y", 2, ts[i][0], ts[i][1], 0, 0);
        c->fp[0] = 10000.0f;
    }
    return k;
}

// ---------------------------------------------------------------------------------
// reductions and losses

static const int red_full[] = {1, 5, 100, 4096, 100003, 5000011}, red_quick[] = {1, 5, 100, 4099};
static int red_n(OpShapeSet set, int i) { return set == SHAPES_QUICK ? red_quick[i] : red_full[i]; }
static int red_count(OpShapeSet set) { return set == SHAPES_QUICK ? 4 : 6; }

/* x dy | y | dx */
static void sum_args(OpCase *c, int n) {
    in(c, "x", -1, 1.5f, 1, n, 0, 0, 0);
    dy(c, "dy", 2, 1, 1, 0, 0, 0);
    out(c, "y", 1, 1, 0, 0, 0);
    acc(c, "dx", 0, 1, n, 0, 0, 0);
}
static int sum_f(Tensor **t, const OpCase *c) { (void)c; return sum_forward(t[0], t[2]); }
static int sum_b(Tensor **t, const OpCase *c) { (void)c; return broadcast_scalar_backward(t[1], 1.0f, t[3]); }
static int mean_f(Tensor **t, const OpCase *c) { (void)c; return mean_forward(t[0], t[2]); }
/* the factor ag_mean records: 1/n */
static int mean_b(Tensor **t, const OpCase *c) {
    (void)c;
    return broadcast_scalar_backward(t[1], (float)(1.0 / (double)t[0]->numel), t[3]);
}
static int red_shapes(OpShapeSet set, OpCase *o, int m, const char *op, void (*args)(OpCase *, int)) {
    int k = 0;
    for (int i = 0; i < red_count(set) && k < m; i++) args(begin(&o[k++], row(op), "(%d)", red_n(set, i)), red_n(set, i));
    return k;
}
static int sum_shapes(OpShapeSet s, OpCase *o, int m) { return red_shapes(s, o, m, "sum", sum_args); }
static int mean_shapes(OpShapeSet s, OpCase *o, int m) { return red_shapes(s, o, m, "mean", sum_args); }

/* a b dy | y | da db */
static void loss_args(OpCase *c, int n) {
    in(c, "a", -1, 1, 1, n, 0, 0, 0);
    in(c, "b", -1, 1, 1, n, 0, 0, 0);
    dy(c, "dy", 3, 1, 1, 0, 0, 0)->lo = 0.5f;
    c->a[2].hi = 2;
    out(c, "y", 1, 1, 0, 0, 0);
    acc(c, "da", 0, 1, n, 0, 0, 0);
    acc(c, "db", 1, 1, n, 0, 0, 0);
}
/* l1: |a| in [0.6, 1) with a random sign, b in [-0.1, 0.1): |a - b| >= 0.5, away from the kink */
static void l1_args(OpCase *c, int n) {
    loss_args(c, n);
    c->a[0].fill = FILL_SIGNED;
    c->a[0].lo = 0.6f;
    c->a[1].lo = -0.1f;
    c->a[1].hi = 0.1f;
}
static int mse_f(Tensor **t, const OpCase *c) { (void)c; return mse_forward(t[0], t[1], t[3]); }
static int mse_b(Tensor **t, const OpCase *c) { (void)c; return mse_backward(t[0], t[1], t[2], t[4], t[5]); }
static int l1_f(Tensor **t, const OpCase *c) { (void)c; return l1_forward(t[0], t[1], t[3]); }
static int l1_b(Tensor **t, const OpCase *c) { (void)c; return l1_backward(t[0], t[1], t[2], t[4], t[5]); }
static double three_ff(const OpCase *c) { return 3 * n0(c); }
static int mse_shapes(OpShapeSet s, OpCase *o, int m) { return red_shapes(s, o, m, "mse", loss_args); }
static int l1_shapes(OpShapeSet s, OpCase *o, int m) {
    int k = red_shapes(s, o, m, "l1", l1_args);
    if (k < m) { /* db left out */
        l1_args(begin(&o[k], row("l1"), "(%d) db NULL", 4099), 4099);
        o[k++].a[5].null = true;
    }
    return k;
}

/* x | y (a device-to-host double, stored as float) */
static void sumsq_args(OpCase *c, int n) {
    in(c, "x", -1, 1, 1, n, 0, 0, 0);
    out(c, "y", 1, 1, 0, 0, 0);
}
static int sumsq_f(Tensor **t, const OpCase *c) {
    (void)c;
    double d;
    if (sumsq(t[0], &d)) return -1;
    float f = (float)d;
    return tensor_from_host(t[1], &f);
}
static int sumsq_shapes(OpShapeSet s, OpCase *o, int m) { return red_shapes(s, o, m, "sumsq", sumsq_args); }

// ---------------------------------------------------------------------------------
// VAE: Gaussian KL, reparameterisation

static const int vae_sh[][4] = {{1, 7, 5, 3}, {2, 16, 16, 4}, {4, 32, 32, 4}};

/* mu logvar dy | y | dmu dlogvar */
static void kl_args(OpCase *c, const int *s) {
    in(c, "mu", -2, 2, 4, s[0], s[1], s[2], s[3]);
    in(c, "logvar", -3, 3, 4, s[0], s[1], s[2], s[3])->fill = FILL_LOGVAR;
    dy(c, "dy", 3, 1, 1, 0, 0, 0)->lo = 0.5f;
    c->a[2].hi = 2;
    out(c, "y", 1, 1, 0, 0, 0);
    acc(c, "dmu", 0, 4, s[0], s[1], s[2], s[3]);
    acc(c, "dlogvar", 1, 4, s[0], s[1], s[2], s[3]);
}
static int kl_f(Tensor **t, const OpCase *c) { (void)c; return gaussian_kl_forward(t[0], t[1], t[3]); }
static int kl_b(Tensor **t, const OpCase *c) { (void)c; return gaussian_kl_backward(t[0], t[1], t[2], t[4], t[5]); }

/* mu logvar eps dz | z | dmu dlogvar */
static void rep_args(OpCase *c, const int *s) {
    in(c, "mu", -2, 2, 4, s[0], s[1], s[2], s[3]);
    in(c, "logvar", -3, 3, 4, s[0], s[1], s[2], s[3])->fill = FILL_LOGVAR;
    in(c, "eps", -2, 2, 4, s[0], s[1], s[2], s[3]);
    dy(c, "dz", 4, 4, s[0], s[1], s[2], s[3]);
    out(c, "z", 4, s[0], s[1], s[2], s[3]);
    acc(c, "dmu", 0, 4, s[0], s[1], s[2], s[3]);
    acc(c, "dlogvar", 1, 4, s[0], s[1], s[2], s[3]);
}
static int rep_f(Tensor **t, const OpCase *c) { (void)c; return reparameterize_forward(t[0], t[1], t[2], t[4]); }
static int rep_b(Tensor **t, const OpCase *c) { (void)c; return reparameterize_backward(t[1], t[2], t[3], t[5], t[6]); }

static int vae_shapes(OpShapeSet set, OpCase *o, int m, const char *op, void (*args)(OpCase *, const int *)) {
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 3) && k < m; i++) {
        const int *s = vae_sh[i];
        args(begin(&o[k++], row(op), "(%d,%d,%d,%d)", s[0], s[1], s[2], s[3]), s);
    }
    return k;
}
static int kl_shapes(OpShapeSet s, OpCase *o, int m) { return vae_shapes(s, o, m, "gaussian_kl", kl_args); }
static int rep_shapes(OpShapeSet s, OpCase *o, int m) { return vae_shapes(s, o, m, "reparameterize", rep_args); }

// ---------------------------------------------------------------------------------
// softmax cross-entropy (the classifier's loss)

/* (N, K): a batch of one, an odd batch over a few classes, a larger batch at the 64-class limit */
static const int ce_sh[][2] = {{1, 2}, {37, 3}, {130, 64}};

/* z labels dy | y | dz */
static void ce_args(OpCase *c, const int *s) {
    in(c, "z", -3, 3, 2, s[0], s[1], 0, 0);
    in(c, "labels", 0, (float)s[1], 1, s[0], 0, 0, 0)->fill = FILL_INT;
    dy(c, "dy", 3, 1, 1, 0, 0, 0)->lo = 0.5f;
    c->a[2].hi = 2;
    out(c, "y", 1, 1, 0, 0, 0);
    acc(c, "dz", 0, 2, s[0], s[1], 0, 0);
}
static int ce_f(Tensor **t, const OpCase *c) { (void)c; return cross_entropy_forward(t[0], t[1], t[3]); }
static int ce_b(Tensor **t, const OpCase *c) { (void)c; return cross_entropy_backward(t[0], t[1], t[2], t[4]); }
static double ce_ff(const OpCase *c) { return 4.0 * (double)c->a[0].shape[0] * (double)c->a[0].shape[1]; }
static int ce_shapes(OpShapeSet set, OpCase *o, int m) {
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 3) && k < m; i++)
        ce_args(begin(&o[k++], row("cross_entropy"), "(%d,%d)", ce_sh[i][0], ce_sh[i][1]), ce_sh[i]);
    return k;
}

// ---------------------------------------------------------------------------------
// AdamW

static const AdamWConfig adamw_cfg[2] = {{1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f}, {3e-4f, 0.9f, 0.99f, 1e-6f, 0.0f}};

/* param grad m v (param, m, v updated in place); ip = config, step; fp = grad scale */
static void adamw_args(OpCase *c, int n, int cfg) {
    arg(c, "param", ROLE_ACC, -1, 1, 1, n);
    in(c, "grad", -1, 1, 1, n, 0, 0, 0);
    arg(c, "m", ROLE_ACC, -0.1f, 0.1f, 1, n);
    arg(c, "v", ROLE_ACC, 0, 0.01f, 1, n);
    for (int i = 0; i < 4; i++) c->a[i].grad_of = -1;
    c->ip[0] = cfg;
    c->ip[1] = cfg ? 1000 : 1;
    c->fp[0] = cfg ? 1.0f : 0.7f;
}
static int adamw_f(Tensor **t, const OpCase *c) {
    Tensor param = *t[0];
    param.grad = t[1]->data;
    return adamw_step(&param, t[2], t[3], &adamw_cfg[c->ip[0]], c->ip[1], c->fp[0]);
}
static double adamw_ff(const OpCase *c) { return 14 * n0(c); }
static int adamw_shapes(OpShapeSet set, OpCase *o, int m) {
    static const int full[] = {1, 10007, 1 << 20}, quick[] = {1, 4099};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 3); i++)
        for (int j = 0; j < 2; j++)
            for (int mis = 0; mis < 2 && k < m; mis++) {
                const int n = set == SHAPES_QUICK ? quick[i] : full[i];
                OpCase *c = begin(&o[k++], row("adamw"), "(%d) step %d%s", n, j ? 1000 : 1, mis ? " misaligned" : "");
                c->misalign = mis;
                adamw_args(c, n, j);
            }
    return k;
}

// ---------------------------------------------------------------------------------
// Philox RNG: bit-exact

static int rngu_f(Tensor **t, const OpCase *c) { return rng_uniform(t[0], c->up[0], c->up[1]); }
static int rngn_f(Tensor **t, const OpCase *c) { return rng_normal(t[0], c->up[0], c->up[1]); }
static int rng_shapes(OpShapeSet set, OpCase *o, int m, const char *op) {
    static const int full[] = {1, 7, 1000, 1000003}, quick[] = {1, 7, 1001};
    static const uint64_t offs[] = {0, 3, (1ull << 33) + 5};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 3 : 4); i++)
        for (int j = 0; j < 3 && k < m; j++) {
            const int n = set == SHAPES_QUICK ? quick[i] : full[i];
            OpCase *c = begin(&o[k++], row(op), "(%d) offset %llu", n, (unsigned long long)offs[j]);
            out(c, "y", 1, n, 0, 0, 0);
            c->up[0] = 0x5eed0000ull + (uint64_t)(7 * i + j);
            c->up[1] = offs[j];
        }
    return k;
}
static int rngu_shapes(OpShapeSet s, OpCase *o, int m) { return rng_shapes(s, o, m, "rng_uniform"); }
static int rngn_shapes(OpShapeSet s, OpCase *o, int m) { return rng_shapes(s, o, m, "rng_normal"); }

// ---------------------------------------------------------------------------------
// norms

/* x gamma beta dy | y mean rstd | dx dgamma dbeta; ip = groups, silu; fp = eps.
 * rank 4 (N, H, W, C) or 3 (N, L, C) for group norm; layer norm: any rank, stats per row */
static void norm_args(OpCase *c, int rank, const int *s, int stat0, int stat1, int stat_nd) {
    const int C = s[rank - 1];
    arg(c, "x", ROLE_IN, -2, 3, rank, s[0], s[1], s[2], s[3]);
    in(c, "gamma", 0.5f, 1.5f, 1, C, 0, 0, 0);
    in(c, "beta", -0.5f, 0.5f, 1, C, 0, 0, 0);
    arg(c, "dy", ROLE_IN, -1, 1, rank, s[0], s[1], s[2], s[3])->seeds = 4;
    arg(c, "y", ROLE_OUT, 0, 0, rank, s[0], s[1], s[2], s[3]);
    out(c, "mean", stat_nd, stat0, stat1, 0, 0);
    out(c, "rstd", stat_nd, stat0, stat1, 0, 0);
    arg(c, "dx", ROLE_ACC, -0.5f, 0.5f, rank, s[0], s[1], s[2], s[3])->grad_of = 0;
    acc(c, "dgamma", 1, 1, C, 0, 0, 0);
    acc(c, "dbeta", 2, 1, C, 0, 0, 0);
    c->fp[0] = 1e-5f;
}
static void gn_args(OpCase *c, int rank, const int *s, int groups, int silu) {
    norm_args(c, rank, s, s[0], groups, 2);
    c->ip[0] = groups;
    c->ip[1] = silu;
}
static int gn_f(Tensor **t, const OpCase *c) {
    return group_norm_forward(t[0], t[1], t[2], c->ip[0], c->fp[0], c->ip[1], t[4], t[5], t[6]);
}
static int gn_b(Tensor **t, const OpCase *c) {
    return group_norm_backward(t[0], t[1], t[2], t[5], t[6], t[3], c->ip[0], c->ip[1], t[7], t[8], t[9]);
}
static double gn_ff(const OpCase *c) { return (8 + (c->ip[1] ? 4 : 0)) * n0(c); }
static double gn_bf(const OpCase *c) { return (14 + (c->ip[1] ? 6 : 0)) * n0(c); }
static int gn_shapes(OpShapeSet set, OpCase *o, int m) {
    /* N H W C G: cpg 3 (scalar), 2, 4 (float4), 8, 5; HW = 1; a group over the shared-memory
     * limit in both passes (512 KiB, float4) and in the backward only (92 KiB); a scalar
     * one over it (120 KiB); 2048 channels in one group */
    static const int full[][5] = {{1, 7, 5, 12, 4},    {2, 9, 11, 64, 32}, {2, 15, 17, 128, 32},
                                  {1, 33, 31, 256, 32}, {2, 3, 5, 40, 8},   {1, 1, 1, 32, 32},
                                  {1, 64, 64, 32, 1},   {2, 48, 40, 24, 2}, {1, 100, 100, 6, 2},
                                  {1, 4, 4, 2048, 1}};
    static const int quick[][5] = {{1, 7, 5, 12, 4}, {2, 15, 17, 128, 32}, {1, 50, 50, 12, 1}};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 3 : 10); i++)
        for (int silu = 0; silu < 2 && k < m; silu++) {
            const int *s = set == SHAPES_QUICK ? quick[i] : full[i];
            OpCase *c = begin(&o[k++], row("group_norm"), "(%d,%d,%d,%d) G=%d%s", s[0], s[1], s[2], s[3], s[4],
                              silu ? " silu" : "");
            gn_args(c, 4, s, s[4], silu);
        }
    if (k < m) gn_args(begin(&o[k++], row("group_norm"), "(2,77,64) G=16 silu"), 3, (int[]){2, 77, 64, 0}, 16, 1);
    if (k < m) gn_args(begin(&o[k++], row("group_norm"), "(0,4,4,8) G=2 silu empty"), 4, (int[]){0, 4, 4, 8}, 2, 1);
    return k;
}

static void ln_args(OpCase *c, int rank, const int *s) {
    int rows = 1;
    for (int i = 0; i < rank - 1; i++) rows *= s[i];
    norm_args(c, rank, s, rows, 0, 1);
}
static int ln_f(Tensor **t, const OpCase *c) { return layer_norm_forward(t[0], t[1], t[2], c->fp[0], t[4], t[5], t[6]); }
static int ln_b(Tensor **t, const OpCase *c) {
    (void)c;
    return layer_norm_backward(t[0], t[1], t[5], t[6], t[3], t[7], t[8], t[9]);
}
static double ln_ff(const OpCase *c) { return 8 * n0(c); }
static double ln_bf(const OpCase *c) { return 14 * n0(c); }
static int ln_shapes(OpShapeSet set, OpCase *o, int m) {
    static const int ln3[][3] = {{2, 77, 40}, {3, 17, 513}, {1, 1, 3}, {2, 150, 64}};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 4) && k < m; i++)
        ln_args(begin(&o[k++], row("layer_norm"), "(%d,%d,%d)", ln3[i][0], ln3[i][1], ln3[i][2]), 3,
                (int[]){ln3[i][0], ln3[i][1], ln3[i][2], 0});
    if (set == SHAPES_FULL && k < m) ln_args(begin(&o[k++], row("layer_norm"), "(37,1024)"), 2, (int[]){37, 1024, 0, 0});
    if (k < m) ln_args(begin(&o[k++], row("layer_norm"), "(0,8) empty"), 2, (int[]){0, 8, 0, 0});
    return k;
}

// ---------------------------------------------------------------------------------
// conv2d, linear, attention

/* x w b dy | y | dx dw db | res (the residual y adds, optional); ip = stride, pad */
static void conv_args(OpCase *c, int N, int H, int W, int C, int K, int R, int stride, int pad, int bias, int res) {
    const int P = conv2d_out_size(H, R, stride, pad), Q = conv2d_out_size(W, R, stride, pad);
    in(c, "x", -1, 1, 4, N, H, W, C);
    in(c, "w", -0.5f, 0.5f, 4, K, R, R, C);
    in(c, "b", -1, 1, 1, K, 0, 0, 0)->null = !bias;
    dy(c, "dy", 4, 4, N, P, Q, K);
    out(c, "y", 4, N, P, Q, K);
    acc(c, "dx", 0, 4, N, H, W, C);
    acc(c, "dw", 1, 4, K, R, R, C);
    acc(c, "db", 2, 1, K, 0, 0, 0)->null = !bias;
    in(c, "res", -1, 1, 4, N, P, Q, K)->null = !res;
    c->ip[0] = stride;
    c->ip[1] = pad;
}
static int conv_f(Tensor **t, const OpCase *c) {
    return conv2d_forward_res(t[0], t[1], t[2], t[8], c->ip[0], c->ip[1], t[4]);
}
static int conv_d(Tensor **t, const OpCase *c) {
    return conv2d_backward(t[0], t[1], t[3], c->ip[0], c->ip[1], t[5], NULL, NULL);
}
static int conv_w(Tensor **t, const OpCase *c) {
    return conv2d_backward(t[0], t[1], t[3], c->ip[0], c->ip[1], NULL, t[6], t[7]);
}
/* 2 N P Q K R R C, every pass */
static double conv_ff(const OpCase *c) {
    const int *y = c->a[4].shape, *w = c->a[1].shape;
    return 2.0 * y[0] * y[1] * y[2] * y[3] * w[1] * w[2] * w[3];
}
static int conv_shapes(OpShapeSet set, OpCase *o, int m) {
    /* N H W C K R stride pad bias res */
    static const int full[][10] = {{1, 9, 7, 3, 5, 3, 1, 1, 1, 1},    {2, 17, 15, 37, 70, 3, 2, 1, 1, 0},
                                   {2, 16, 16, 64, 64, 3, 1, 1, 0, 1}, {1, 13, 11, 33, 17, 1, 1, 0, 1, 1},
                                   {3, 8, 8, 130, 129, 1, 2, 0, 1, 0}, {1, 5, 5, 8, 16, 3, 1, 0, 1, 0},
                                   {1, 32, 32, 128, 4, 3, 1, 1, 1, 1}, {1, 12, 10, 1, 8, 3, 1, 1, 1, 0},
                                   {2, 9, 9, 4, 20, 3, 2, 1, 1, 0},    {1, 10, 11, 16, 24, 3, 2, 1, 0, 1},
                                   {1, 6, 5, 4, 9, 3, 1, 2, 1, 0}};
    /* Version 3 gathers 16 bytes by cp.async when the gathered image's channels are a multiple
     * of 8 (forward, wgrad: C; dgrad: K), else element by element: C = 16 and 4, K = 12 and 24.
     * (2,23,24,8) s2: odd H (stride classes of unequal size), 288 pixels = 9 k-tiles, so
     * wgrad splits K in two, unequally. The residual with and without a bias, thin and wide. */
    static const int quick[][10] = {{1, 9, 7, 3, 5, 3, 1, 1, 1, 1},     {2, 17, 15, 37, 70, 3, 2, 1, 1, 0},
                                    {1, 13, 11, 33, 17, 1, 1, 0, 1, 0}, {1, 7, 9, 16, 12, 3, 2, 1, 0, 1},
                                    {1, 6, 5, 4, 9, 3, 1, 2, 1, 0},     {2, 23, 24, 8, 24, 3, 2, 1, 1, 1}};
    const int nquick = (int)(sizeof quick / sizeof *quick), nfull = (int)(sizeof full / sizeof *full);
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? nquick : nfull) && k < m; i++) {
        const int *s = set == SHAPES_QUICK ? quick[i] : full[i];
        OpCase *c = begin(&o[k++], row("conv2d"), "x (%d,%d,%d,%d) w (%d,%d,%d,%d) s%d p%d%s%s", s[0], s[1], s[2],
                          s[3], s[4], s[5], s[5], s[3], s[6], s[7], s[8] ? "" : " nobias", s[9] ? " +res" : "");
        conv_args(c, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9]);
    }
    if (k < m)
        conv_args(begin(&o[k++], row("conv2d"), "x (0,5,5,8) w (8,3,3,8) empty batch +res"), 0, 5, 5, 8, 8, 3, 1, 1, 1,
                  1);
    return k;
}

/* x w b dy | y | dx dw db; x is (rows, IN) or (N, L, IN) */
static void lin_args(OpCase *c, int nd, const int *xs, int OUT, int bias) {
    const int IN = xs[nd - 1];
    arg(c, "x", ROLE_IN, -1, 1, nd, xs[0], xs[1], xs[2]);
    in(c, "w", -0.5f, 0.5f, 2, OUT, IN, 0, 0);
    in(c, "b", -1, 1, 1, OUT, 0, 0, 0)->null = !bias;
    OpArg *d = arg(c, "dy", ROLE_IN, -1, 1, nd, xs[0], xs[1], xs[2]);
    d->seeds = 4;
    d->shape[nd - 1] = OUT;
    OpArg *y = arg(c, "y", ROLE_OUT, 0, 0, nd, xs[0], xs[1], xs[2]);
    y->shape[nd - 1] = OUT;
    arg(c, "dx", ROLE_ACC, -0.5f, 0.5f, nd, xs[0], xs[1], xs[2])->grad_of = 0;
    acc(c, "dw", 1, 2, OUT, IN, 0, 0);
    acc(c, "db", 2, 1, OUT, 0, 0, 0)->null = !bias;
}
static int lin_f(Tensor **t, const OpCase *c) { (void)c; return linear_forward(t[0], t[1], t[2], t[4]); }
static int lin_b(Tensor **t, const OpCase *c) { (void)c; return linear_backward(t[0], t[1], t[3], t[5], t[6], t[7]); }
static double lin_ff(const OpCase *c) { return 2.0 * (double)op_arg_numel(c, 0) * c->a[1].shape[0]; }
static double lin_bf(const OpCase *c) { return 2 * lin_ff(c); }
static int lin_shapes(OpShapeSet set, OpCase *o, int m) {
    static const int full[][4] = {{1, 3, 5, 1}, {37, 77, 129, 1}, {64, 256, 96, 0}, {130, 512, 512, 1}};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 2 : 4) && k < m; i++) {
        const int *s = full[i];
        lin_args(begin(&o[k++], row("linear"), "x (%d,%d) w (%d,%d)%s", s[0], s[1], s[2], s[1], s[3] ? "" : " nobias"),
                 2, (int[]){s[0], s[1], 0}, s[2], s[3]);
    }
    if (k < m) lin_args(begin(&o[k++], row("linear"), "x (2,77,40) w (33,40)"), 3, (int[]){2, 77, 40}, 33, 1);
    if (k < m) lin_args(begin(&o[k++], row("linear"), "x (0,8) w (5,8) empty"), 2, (int[]){0, 8, 0}, 5, 1);
    return k;
}

/* q k v dout | o lse | dq dk dv; ip = heads; fp = scale */
static void attn_args(OpCase *c, int B, int Lq, int Lk, int H, int D) {
    const int C = H * D;
    in(c, "q", -2, 2, 3, B, Lq, C, 0);
    in(c, "k", -2, 2, 3, B, Lk, C, 0);
    in(c, "v", -1, 1, 3, B, Lk, C, 0);
    dy(c, "dout", 4, 3, B, Lq, C, 0);
    out(c, "o", 3, B, Lq, C, 0);
    out(c, "lse", 3, B, H, Lq, 0);
    acc(c, "dq", 0, 3, B, Lq, C, 0);
    acc(c, "dk", 1, 3, B, Lk, C, 0);
    acc(c, "dv", 2, 3, B, Lk, C, 0);
    c->ip[0] = H;
    c->fp[0] = 1.0f / sqrtf((float)D);
}
static int attn_f(Tensor **t, const OpCase *c) {
    return attention_forward(t[0], t[1], t[2], c->ip[0], c->fp[0], t[4], t[5]);
}
static int attn_b(Tensor **t, const OpCase *c) {
    return attention_backward(t[0], t[1], t[2], t[4], t[5], t[3], c->ip[0], c->fp[0], t[6], t[7], t[8]);
}
/* 4 B H Lq Lk D forward (S = QK^T, O = PV); 10 backward (S again, dP, dV, dQ, dK) */
static double attn_ff(const OpCase *c) {
    const int *q = c->a[0].shape;
    return 4.0 * q[0] * q[1] * c->a[1].shape[1] * q[2];
}
static double attn_bf(const OpCase *c) { return 2.5 * attn_ff(c); }
static int attn_shapes(OpShapeSet set, OpCase *o, int m) {
    /* B Lq Lk heads D: self-attention with L not a multiple of any block, head dims 8, 16,
     * 32, 64, 128; cross-attention to 1, 7 and 77 tokens; a single query */
    static const int full[][5] = {{2, 67, 67, 2, 32}, {1, 130, 130, 2, 64}, {2, 33, 33, 1, 128}, {1, 50, 50, 3, 8},
                                  {1, 45, 45, 2, 16}, {2, 64, 1, 2, 64},    {1, 37, 7, 4, 32},    {2, 100, 77, 2, 64},
                                  {1, 17, 77, 1, 128}, {1, 1, 77, 2, 64},   {1, 256, 256, 1, 64}};
    static const int quick[][5] = {{1, 67, 67, 2, 32}, {1, 37, 7, 2, 64}, {1, 17, 77, 1, 128}};
    int k = 0;
    for (int i = 0; i < (set == SHAPES_QUICK ? 3 : 11) && k < m; i++) {
        const int *s = set == SHAPES_QUICK ? quick[i] : full[i];
        attn_args(begin(&o[k++], row("attention"), "B %d Lq %d Lk %d heads %d D %d", s[0], s[1], s[2], s[3], s[4]),
                  s[0], s[1], s[2], s[3], s[4]);
    }
    if (k < m) attn_args(begin(&o[k++], row("attention"), "B 1 Lq 0 Lk 4 heads 2 D 4 empty"), 1, 0, 4, 2, 4);
    return k;
}

// ---------------------------------------------------------------------------------
// preset shapes (bench/shapes.h) as cases

int op_case_from_shape(const OpDef *op, const BenchShape *s, OpCase *c) {
    if (op->bench_kind < 0 || (int)s->kind != op->bench_kind)
        return ldm_error("op_table", "%s has no preset shapes of kind %d", op->name, (int)s->kind);
    /* described by its dimensions (no call into bench/shapes.c: the emulator suites link the
     * table without bench/ and models/) */
    begin(c, op, "%s", s->model ? s->model : "");
    const struct {
        const char *k;
        long long v;
    } dims[] = {{"n", s->n},     {"h", s->h},   {"w", s->w},     {"c", s->c},       {"k", s->k},   {"r", s->r},
                {"s", s->stride}, {"g", s->groups}, {"lq", s->lq}, {"lk", s->lk}, {"heads", s->heads}, {"d", s->d},
                {"rows", s->rows}, {"in", s->in}, {"out", s->out}, {"numel", s->numel}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        size_t len = strlen(c->desc);
        if (dims[i].v) snprintf(c->desc + len, sizeof c->desc - len, " %s=%lld", dims[i].k, dims[i].v);
    }
    c->model = s->model;
    c->count = s->count;
    const int n = (int)s->numel;
    switch (s->kind) {
    case BK_CONV2D: conv_args(c, s->n, s->h, s->w, s->c, s->k, s->r, s->stride, s->r / 2, 1, 0); break;
    case BK_GROUP_NORM: gn_args(c, 4, (int[]){s->n, s->h, s->w, s->c}, s->groups, s->silu); break;
    case BK_LAYER_NORM: ln_args(c, 2, (int[]){s->rows, s->in, 0, 0}); break;
    case BK_ATTENTION: attn_args(c, s->n, s->lq, s->lk, s->heads, s->d); break;
    case BK_LINEAR: lin_args(c, 2, (int[]){s->rows, s->in, 0}, s->out, 1); break;
    case BK_SILU: silu_args(c, n); break;
    case BK_ADD: add_args(c, n); break;
    case BK_UPSAMPLE: up_args(c, s->n, s->h, s->w, s->c); break;
    case BK_ADAMW: adamw_args(c, n, 0); break;
    default: return ldm_error("op_table", "unknown shape kind %d", s->kind);
    }
    return 0;
}

// ---------------------------------------------------------------------------------
// the table

#define P_FWD(fn, r, w, tol, why, fl) {"fwd", fn, r, w, tol, why, fl}
#define P_BWD(fn, r, w, tol, why, fl) {"bwd", fn, r, w, tol, why, fl}
/* a scalar float output moves by only eps * gradient: a large step, exact for (piecewise) linear and quadratic */
#define GRAD_LINEAR "linear or quadratic in each input: central differences exact; step 0.25 lifts the change of the float scalar output far above its rounding"
#define GRAD_SMOOTH "central differences, step 1e-2, fp32 forward: truncation ~1e-5, rounding ~1e-6 of the scale"

const OpDef op_table[] = {
    {"silu", 0, 0, false, 2,
     {P_FWD(silu_f, B(0), B(2), TOL_EW, WHY_EW, silu_ff), P_BWD(silu_b, B(0) | B(1), B(3), TOL_EW, WHY_EW, silu_bf)},
     silu_shapes, BK_SILU, 1e-3, GRAD_SMOOTH, 1e-2f},
    {"fill", 0, 0, false, 1, {P_FWD(fill_f, 0, B(0), 0, "a constant: exact", NULL)}, fill_shapes, -1, 0, NULL, 0},
    {"axpy", 0, 0, false, 1, {P_FWD(axpy_f, B(1), B(0), TOL_EW, WHY_EW, axpy_ff)}, axpy_shapes, -1, 0, NULL, 0},
    {"add", 0, 0, false, 1, {P_FWD(add_f, B(0) | B(1), B(2), TOL_EW, WHY_EW, one_ff)}, add_shapes, BK_ADD, 0, NULL, 0},
    {"mul", 0, 0, false, 2,
     {P_FWD(mul_f, B(0) | B(1), B(3), TOL_EW, WHY_EW, one_ff),
      P_BWD(mul_b, B(0) | B(1) | B(2), B(4) | B(5), TOL_EW, WHY_EW, two_ff)},
     mul_shapes, -1, 1e-3, GRAD_SMOOTH, 1e-2f},
    {"scale", 0, 0, false, 1, {P_FWD(scale_f, B(0), B(1), TOL_EW, WHY_EW, one_ff)}, scale_shapes, -1, 0, NULL, 0},
    {"scale_shift", 0, 0, true, 2,
     {P_FWD(ss_f, B(0) | B(1) | B(2), B(4), TOL_EW, WHY_EW, two_ff),
      P_BWD(ss_b, B(0) | B(1) | B(3), B(5) | B(6) | B(7), TOL_RED, "dscale, dshift: " WHY_RED, ss_bf)},
     ss_shapes, -1, 1e-3, GRAD_SMOOTH, 1e-2f},
    {"upsample2x", 0, 0, false, 2,
     {P_FWD(up_f, B(0), B(2), TOL_EW, "data movement: exact", NULL),
      P_BWD(up_b, B(1), B(3), TOL_EW, "four terms summed per element", up_bf)},
     up_shapes, BK_UPSAMPLE, 1e-3, GRAD_SMOOTH, 1e-2f},
    {"concat", 0, 0, false, 2,
     {P_FWD(cat_f, B(0) | B(1), B(3), TOL_EW, "data movement: exact", NULL),
      P_BWD(cat_b, B(2), B(4) | B(5), TOL_EW, "one addition per element", NULL)},
     cat_shapes, -1, 1e-3, GRAD_SMOOTH, 1e-2f},
    {"slice", 0, 0, false, 2,
     {P_FWD(slice_f, B(0), B(2), TOL_EW, "data movement: exact", NULL),
      P_BWD(slice_b, B(1), B(3), TOL_EW, "one addition per element", NULL)},
     slice_shapes, -1, 1e-3, GRAD_SMOOTH, 1e-2f},
    {"embedding", 0, 0, true, 2,
     {P_FWD(emb_f, B(0) | B(1), B(3), TOL_EW, "data movement: exact", NULL),
      P_BWD(emb_b, B(1) | B(2), B(4), TOL_RED, "repeated ids: their rows summed in another order", NULL)},
     emb_shapes, -1, 1e-3, GRAD_SMOOTH, 1e-2f},
    {"timestep_embedding", 0, 0, false, 1,
     {P_FWD(temb_f, B(0), B(1), 5e-4, "the CPU's float t*f (up to ~1000 rad) carries ~1e-4 absolute rounding", NULL)},
     temb_shapes, -1, 0, NULL, 0},
    {"sum", 0, 0, true, 2,
     {P_FWD(sum_f, B(0), B(2), TOL_RED, WHY_RED, one_ff), P_BWD(sum_b, B(1), B(3), TOL_EW, WHY_EW, one_ff)},
     sum_shapes, -1, 1e-3, GRAD_LINEAR, 0.25f},
    {"mean", 0, 0, true, 2,
     {P_FWD(mean_f, B(0), B(2), TOL_RED, WHY_RED, one_ff), P_BWD(mean_b, B(1), B(3), TOL_EW, WHY_EW, one_ff)},
     mean_shapes, -1, 1e-3, GRAD_LINEAR, 0.25f},
    {"mse", 0, 0, true, 2,
     {P_FWD(mse_f, B(0) | B(1), B(3), TOL_RED, WHY_RED, three_ff),
      P_BWD(mse_b, B(0) | B(1) | B(2), B(4) | B(5), TOL_EW, WHY_EW, three_ff)},
     mse_shapes, -1, 1e-3, GRAD_LINEAR, 0.25f},
    {"l1", 0, 0, true, 2,
     {P_FWD(l1_f, B(0) | B(1), B(3), TOL_RED, WHY_RED, three_ff),
      P_BWD(l1_b, B(0) | B(1) | B(2), B(4) | B(5), TOL_EW, WHY_EW, three_ff)},
     l1_shapes, -1, 1e-3, "piecewise linear, inputs kept 0.5 from the kink: a step of 0.25 never crosses it and is exact", 0.25f},
    {"sumsq", 0, 0, true, 1, {P_FWD(sumsq_f, B(0), B(1), TOL_RED, WHY_RED, two_ff)}, sumsq_shapes, -1, 0, NULL, 0},
    {"gaussian_kl", 0, 0, true, 2,
     {P_FWD(kl_f, B(0) | B(1), B(3), TOL_RED, WHY_RED, NULL),
      P_BWD(kl_b, B(0) | B(1) | B(2), B(4) | B(5), TOL_EW, WHY_EW, NULL)},
     kl_shapes, -1, 2e-3, "a float scalar over 2048 terms: step 0.05 keeps its rounding ~1e-4 of the gradient; "
     "truncation ~4e-4 in logvar (the clamped outliers are checked by parity only)", 0.05f},
    {"reparameterize", 0, 0, false, 2,
     {P_FWD(rep_f, B(0) | B(1) | B(2), B(4), TOL_EW, WHY_EW, NULL),
      P_BWD(rep_b, B(1) | B(2) | B(3), B(5) | B(6), TOL_EW, WHY_EW, NULL)},
     rep_shapes, -1, 1e-3, GRAD_SMOOTH, 1e-2f},
    {"cross_entropy", 0, 0, false, 2,
     {P_FWD(ce_f, B(0) | B(1), B(3), TOL_RED, WHY_RED, ce_ff),
      P_BWD(ce_b, B(0) | B(1) | B(2), B(4), TOL_EW, WHY_EW, ce_ff)},
     ce_shapes, -1, 2e-3, GRAD_SMOOTH, 1e-2f},
    {"adamw", 0, 0, false, 1,
     {{"step", adamw_f, B(1), B(0) | B(2) | B(3), TOL_EW, WHY_EW, adamw_ff}},
     adamw_shapes, BK_ADAMW, 0, NULL, 0},
    {"rng_uniform", 0, 0, false, 1, {P_FWD(rngu_f, 0, B(0), 0, "Philox: the same bits on every device", NULL)},
     rngu_shapes, -1, 0, NULL, 0},
    {"rng_normal", 0, 0, false, 1,
     {P_FWD(rngn_f, 0, B(0), 0, "Philox + Box-Muller without FMA contraction: the same bits", NULL)},
     rngn_shapes, -1, 0, NULL, 0},
    {"group_norm", 0, 0, true, 2,
     {P_FWD(gn_f, B(0) | B(1) | B(2), B(4) | B(5) | B(6), TOL_EW, "statistics in double on both sides", gn_ff),
      P_BWD(gn_b, B(0) | B(1) | B(2) | B(3) | B(5) | B(6), B(7) | B(8) | B(9), TOL_RED, WHY_RED, gn_bf)},
     gn_shapes, BK_GROUP_NORM, 2e-3, GRAD_SMOOTH "; rstd amplifies rounding by 1/sigma", 1e-2f},
    {"layer_norm", 0, 0, true, 2,
     {P_FWD(ln_f, B(0) | B(1) | B(2), B(4) | B(5) | B(6), TOL_EW, "statistics in double on both sides", ln_ff),
      P_BWD(ln_b, B(0) | B(1) | B(3) | B(5) | B(6), B(7) | B(8) | B(9), TOL_RED, WHY_RED, ln_bf)},
     ln_shapes, BK_LAYER_NORM, 2e-3, GRAD_SMOOTH "; rstd amplifies rounding by 1/sigma", 1e-2f},
    {"conv2d", 3, 1, true, 3,
     {P_FWD(conv_f, B(0) | B(1) | B(2) | B(8), B(4), TOL_RED, WHY_MM, conv_ff),
      {"dgrad", conv_d, B(1) | B(3), B(5), TOL_RED, WHY_MM, conv_ff},
      {"wgrad", conv_w, B(0) | B(3), B(6) | B(7), TOL_RED, WHY_MM, conv_ff}},
     conv_shapes, BK_CONV2D, 1e-3, "linear in each input: central differences exact up to rounding", 1e-2f},
    {"linear", 3, 1, true, 2,
     {P_FWD(lin_f, B(0) | B(1) | B(2), B(4), TOL_RED, WHY_MM, lin_ff),
      P_BWD(lin_b, B(0) | B(1) | B(3), B(5) | B(6) | B(7), TOL_RED, WHY_MM, lin_bf)},
     lin_shapes, BK_LINEAR, 1e-3, "linear in each input: central differences exact up to rounding", 1e-2f},
    {"attention", 2, 1, true, 2,
     {P_FWD(attn_f, B(0) | B(1) | B(2), B(4) | B(5), TOL_RED, WHY_MM "; exp2f with the scale folded in", attn_ff),
      P_BWD(attn_b, B(0) | B(1) | B(2) | B(3) | B(4) | B(5), B(6) | B(7) | B(8), TOL_RED, WHY_MM, attn_bf)},
     attn_shapes, BK_ATTENTION, 2e-3, GRAD_SMOOTH "; softmax over up to 256 keys", 1e-2f},
};
const int op_table_len = (int)(sizeof op_table / sizeof op_table[0]);

/* The tensor-core versions and their bounds (see TOL_BF16_MMA). */
static const struct {
    const char *op;
    int version;
    double tol;
    const char *why;
} tc_bounds[] = {{"linear", 3, TOL_BF16_MMA, WHY_BF16_MMA}, {"conv2d", 3, TOL_BF16_MMA, WHY_BF16_MMA}};

static int tc_index(const OpDef *op) {
    for (int i = 0; i < (int)(sizeof tc_bounds / sizeof *tc_bounds); i++)
        if (!strcmp(tc_bounds[i].op, op->name)) return i;
    return -1;
}

int op_tc_version(const OpDef *op) {
    const int i = tc_index(op);
    return i < 0 ? 0 : tc_bounds[i].version;
}

double op_tolerance(const OpDef *op, int p, int version) {
    const int i = tc_index(op);
    return i >= 0 && version >= tc_bounds[i].version ? tc_bounds[i].tol : op->pass[p].tol;
}

const char *op_tolerance_why(const OpDef *op, int p, int version) {
    const int i = tc_index(op);
    return i >= 0 && version >= tc_bounds[i].version ? tc_bounds[i].why : op->pass[p].why;
}

const OpDef *op_find(const char *name) {
    for (int i = 0; i < op_table_len; i++)
        if (!strcmp(op_table[i].name, name)) return &op_table[i];
    return NULL;
}

int op_pass_index(const OpDef *op, const char *pass) {
    for (int p = 0; p < op->npasses; p++)
        if (!strcmp(op->pass[p].name, pass)) return p;
    return -1;
}
