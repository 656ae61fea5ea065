/* tests/test_conv2d.c — conv2d forward and all three gradients against double-precision
 * loops on shapes that break kernels (odd H and W, C = 3, 5, 13, K = 7, batch 1 and 2,
 * stride 2 on odd sizes, pad 0, 1 and 2, 1x1 and 3x3, H = 1; and the direct path's thin
 * channels, depth pieces, small images and bands), accumulation into existing gradients,
 * the same bits at 1 and 2 threads, finite differences through ag_conv2d, and the shape
 * errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "tests/util/testutil.h"

typedef struct {
    int N, H, W, C, K, R, stride, pad;
    bool bias;
} Case;

static const Case cases[] = {
    {1, 7, 5, 3, 7, 3, 1, 1, true},     {2, 9, 7, 5, 7, 3, 2, 1, true},    {2, 8, 11, 13, 7, 3, 2, 0, false},
    {1, 5, 5, 13, 7, 1, 1, 0, true},    {2, 7, 9, 5, 7, 1, 2, 0, false},   {1, 6, 7, 3, 5, 3, 1, 0, true},
    {2, 3, 3, 13, 7, 3, 2, 2, true},    {1, 1, 2, 3, 4, 3, 2, 1, false},   {2, 5, 3, 3, 7, 1, 1, 1, true},
    {2, 17, 15, 40, 70, 3, 1, 1, true}, /* threaded; M, N and R*S*C not multiples of the tiles */
    {1, 19, 21, 33, 37, 3, 2, 1, true}, /* threaded stride 2 */
    /* the CPU paths' own cases (kernels/cpu/conv2d.c) */
    {2, 9, 11, 1, 16, 3, 1, 1, true},   /* C = 1: wgrad tiles over taps, dgrad a dot product */
    {2, 9, 11, 16, 1, 3, 1, 1, true},   /* K = 1: forward a dot product, wgrad one lane */
    {2, 10, 7, 32, 4, 3, 1, 1, true},   /* K = 4: dot products of four outputs */
    {3, 6, 5, 4, 32, 3, 1, 1, false},   /* C = 4: dgrad dot products of length 3*32 */
    {2, 12, 10, 16, 16, 3, 2, 1, true}, /* thin stride 2, even size: four dgrad classes */
    {2, 5, 6, 130, 20, 3, 1, 1, true},  /* D*16*4 > KC_BYTES: the depth in pieces */
    {2, 6, 5, 32, 32, 3, 1, 1, true},   /* D*16*4 = 18 KB: the whole depth in one block */
    {2, 5, 6, 64, 20, 3, 1, 1, true},   /* C = 64: two tap rows in the first block, one in the second */
    {3, 19, 21, 40, 70, 1, 1, 0, true}, /* 1x1 through gemm_thin: threaded, the last outputs a part block */
    {2, 4, 5, 130, 9, 1, 1, 0, false},  /* 1x1 with C > GEMM_THIN_K: the direct path */
    {9, 3, 4, 8, 24, 3, 1, 1, true},    /* small images, several to an item, a short last item */
    {1, 40, 20, 3, 9, 3, 1, 1, false},  /* two bands per image, the second one short */
};

static int out_size(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

/* |got - want| / (1 + |want|) against the double loops: fp32 sums of up to 1170 products
 * (case {2, 5, 6, 130, 20}) in an order set by the tiles; measured up to 1.0e-5 (the
 * scalar build, VW = 1; the AVX2 build stays below 1e-5). */
#define TOL 2e-5

static double xat(const Tensor *x, int n, int h, int w, int c) {
    if (h < 0 || h >= x->shape[1] || w < 0 || w >= x->shape[2]) return 0.0;
    return x->data[(((size_t)n * x->shape[1] + h) * x->shape[2] + w) * x->shape[3] + c];
}

static double *ref_forward(const Case *k, const Tensor *x, const Tensor *w, const Tensor *b) {
    int P = out_size(k->H, k->R, k->stride, k->pad), Q = out_size(k->W, k->R, k->stride, k->pad);
    double *y = malloc((size_t)k->N * P * Q * k->K * sizeof(double));
    for (int n = 0; n < k->N; n++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++)
                for (int o = 0; o < k->K; o++) {
                    double s = b ? b->data[o] : 0.0;
                    for (int r = 0; r < k->R; r++)
                        for (int t = 0; t < k->R; t++)
                            for (int c = 0; c < k->C; c++)
                                s += xat(x, n, p * k->stride - k->pad + r, q * k->stride - k->pad + t, c) *
                                     w->data[(((size_t)o * k->R + r) * k->R + t) * k->C + c];
                    y[(((size_t)n * P + p) * Q + q) * k->K + o] = s;
                }
    return y;
}

/* dx, dw, db of L = sum(y * dy), added to the initial values dx0, dw0, db0. */
static void ref_backward(const Case *k, const Tensor *x, const Tensor *w, const Tensor *dy, double *dx, double *dw,
                         double *db) {
    int P = dy->shape[1], Q = dy->shape[2];
    for (int n = 0; n < k->N; n++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++)
                for (int o = 0; o < k->K; o++) {
                    double g = dy->data[(((size_t)n * P + p) * Q + q) * k->K + o];
                    db[o] += g;
                    for (int r = 0; r < k->R; r++)
                        for (int t = 0; t < k->R; t++) {
                            int h = p * k->stride - k->pad + r, v = q * k->stride - k->pad + t;
                            if (h < 0 || h >= k->H || v < 0 || v >= k->W) continue;
                            for (int c = 0; c < k->C; c++) {
                                size_t wi = (((size_t)o * k->R + r) * k->R + t) * k->C + c;
                                size_t xi = (((size_t)n * k->H + h) * k->W + v) * k->C + c;
                                dw[wi] += g * x->data[xi];
                                dx[xi] += g * w->data[wi];
                            }
                        }
                }
}

static double *to_double(const Tensor *t) {
    double *d = malloc(t->numel * sizeof(double));
    for (size_t i = 0; i < t->numel; i++) d[i] = t->data[i];
    return d;
}

Test(conv2d, forward_matches_double_reference) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const Case *k = &cases[i];
        int P = out_size(k->H, k->R, k->stride, k->pad), Q = out_size(k->W, k->R, k->stride, k->pad);
        Tensor *x = tu_data(4, (int[]){k->N, k->H, k->W, k->C}, 10 + i, -1, 1);
        Tensor *w = tu_data(4, (int[]){k->K, k->R, k->R, k->C}, 20 + i, -1, 1);
        Tensor *b = k->bias ? tu_data(1, (int[]){k->K}, 30 + i, -1, 1) : NULL;
        Tensor *y = tensor_new4(NULL, DEV_CPU, k->N, P, Q, k->K);
        cr_assert_eq(conv2d_out_size(k->H, k->R, k->stride, k->pad), P);
        fill(y, NAN);
        cr_assert_eq(conv2d_forward(x, w, b, k->stride, k->pad, y), 0, "case %zu: %s", i, ldm_last_error());
        double *ref = ref_forward(k, x, w, b);
        double e = tu_max_rel_err(y->data, ref, y->numel, 1.0, NULL);
        cr_expect_leq(e, TOL, "case %zu: max rel err %g", i, e);
        free(ref);
        tensor_free(x);
        tensor_free(w);
        tensor_free(b);
        tensor_free(y);
    }
}

Test(conv2d, backward_accumulates_double_reference) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const Case *k = &cases[i];
        int P = out_size(k->H, k->R, k->stride, k->pad), Q = out_size(k->W, k->R, k->stride, k->pad);
        Tensor *x = tu_data(4, (int[]){k->N, k->H, k->W, k->C}, 40 + i, -1, 1);
        Tensor *w = tu_data(4, (int[]){k->K, k->R, k->R, k->C}, 50 + i, -1, 1);
        Tensor *dy = tu_data(4, (int[]){k->N, P, Q, k->K}, 60 + i, -1, 1);
        /* Gradients start non-zero: backward must add, not overwrite. */
        Tensor *dx = tu_data(4, x->shape, 70 + i, -1, 1), *dw = tu_data(4, w->shape, 80 + i, -1, 1);
        Tensor *db = tu_data(1, (int[]){k->K}, 90 + i, -1, 1);
        double *rdx = to_double(dx), *rdw = to_double(dw), *rdb = to_double(db);
        ref_backward(k, x, w, dy, rdx, rdw, rdb);
        cr_assert_eq(conv2d_backward(x, w, dy, k->stride, k->pad, dx, dw, db), 0, "case %zu: %s", i,
                     ldm_last_error());
        double ex = tu_max_rel_err(dx->data, rdx, dx->numel, 1.0, NULL);
        double ew = tu_max_rel_err(dw->data, rdw, dw->numel, 1.0, NULL);
        double eb = tu_max_rel_err(db->data, rdb, db->numel, 1.0, NULL);
        cr_expect_leq(ex, TOL, "case %zu: dx max rel err %g", i, ex);
        cr_expect_leq(ew, TOL, "case %zu: dw max rel err %g", i, ew);
        cr_expect_leq(eb, TOL, "case %zu: db max rel err %g", i, eb);
        free(rdx);
        free(rdw);
        free(rdb);
        Tensor *list[] = {x, w, dy, dx, dw, db};
        for (int j = 0; j < 6; j++) tensor_free(list[j]);
    }
}

Test(conv2d, backward_each_gradient_alone) {
    const Case *k = &cases[1]; /* stride 2, odd sizes */
    int P = out_size(k->H, k->R, k->stride, k->pad), Q = out_size(k->W, k->R, k->stride, k->pad);
    Tensor *x = tu_data(4, (int[]){k->N, k->H, k->W, k->C}, 1, -1, 1);
    Tensor *w = tu_data(4, (int[]){k->K, k->R, k->R, k->C}, 2, -1, 1);
    Tensor *dy = tu_data(4, (int[]){k->N, P, Q, k->K}, 3, -1, 1);
    Tensor *dx = tensor_zeros(NULL, DEV_CPU, 4, x->shape), *dw = tensor_zeros(NULL, DEV_CPU, 4, w->shape);
    Tensor *db = tensor_zeros(NULL, DEV_CPU, 1, (int[]){k->K});
    double *rdx = calloc(dx->numel, sizeof(double)), *rdw = calloc(dw->numel, sizeof(double));
    double *rdb = calloc(db->numel, sizeof(double));
    ref_backward(k, x, w, dy, rdx, rdw, rdb);
    cr_assert_eq(conv2d_backward(x, w, dy, k->stride, k->pad, dx, NULL, NULL), 0, "%s", ldm_last_error());
    cr_assert_eq(conv2d_backward(x, w, dy, k->stride, k->pad, NULL, dw, NULL), 0, "%s", ldm_last_error());
    cr_assert_eq(conv2d_backward(x, w, dy, k->stride, k->pad, NULL, NULL, db), 0, "%s", ldm_last_error());
    cr_expect_leq(tu_max_rel_err(dx->data, rdx, dx->numel, 1.0, NULL), TOL);
    cr_expect_leq(tu_max_rel_err(dw->data, rdw, dw->numel, 1.0, NULL), TOL);
    cr_expect_leq(tu_max_rel_err(db->data, rdb, db->numel, 1.0, NULL), TOL);
    free(rdx);
    free(rdw);
    free(rdb);
    Tensor *list[] = {x, w, dy, dx, dw, db};
    for (int j = 0; j < 6; j++) tensor_free(list[j]);
}

/* The weight gradient sums over pixels in fixed groups, not per thread: every output must
 * come out bit for bit the same whatever the thread count. */
Test(conv2d, same_bits_whatever_the_thread_count) {
    const Case k = {4, 33, 17, 16, 8, 3, 1, 1, true};
    int P = out_size(k.H, k.R, k.stride, k.pad), Q = out_size(k.W, k.R, k.stride, k.pad);
    Tensor *x = tu_data(4, (int[]){k.N, k.H, k.W, k.C}, 1, -1, 1);
    Tensor *w = tu_data(4, (int[]){k.K, k.R, k.R, k.C}, 2, -1, 1);
    Tensor *b = tu_data(1, (int[]){k.K}, 3, -1, 1);
    Tensor *dy = tu_data(4, (int[]){k.N, P, Q, k.K}, 4, -1, 1);
    Tensor *out[2][4];
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        out[t][0] = tensor_new4(NULL, DEV_CPU, k.N, P, Q, k.K);
        out[t][1] = tensor_zeros(NULL, DEV_CPU, 4, x->shape);
        out[t][2] = tensor_zeros(NULL, DEV_CPU, 4, w->shape);
        out[t][3] = tensor_zeros(NULL, DEV_CPU, 1, b->shape);
        cr_assert_eq(conv2d_forward(x, w, b, k.stride, k.pad, out[t][0]), 0, "%s", ldm_last_error());
        cr_assert_eq(conv2d_backward(x, w, dy, k.stride, k.pad, out[t][1], out[t][2], out[t][3]), 0, "%s",
                     ldm_last_error());
    }
    omp_set_num_threads(saved);
    const char *names[4] = {"y", "dx", "dw", "db"};
    for (int i = 0; i < 4; i++) {
        cr_expect(!memcmp(out[0][i]->data, out[1][i]->data, out[0][i]->numel * sizeof(float)),
                  "%s differs between 1 and 2 threads", names[i]);
        tensor_free(out[0][i]);
        tensor_free(out[1][i]);
    }
    Tensor *list[] = {x, w, b, dy};
    for (int j = 0; j < 4; j++) tensor_free(list[j]);
}

// ----------------------------------------------------------------------------
// finite differences through the tape

typedef struct {
    int stride, pad;
} Geo;

static Tensor *build_conv(Tape *t, Tensor **in, void *ctx) {
    const Geo *g = ctx;
    return ag_conv2d(t, in[0], in[1], in[2], g->stride, g->pad);
}

static Tensor *build_conv_nobias(Tape *t, Tensor **in, void *ctx) {
    const Geo *g = ctx;
    return ag_conv2d(t, in[0], in[1], NULL, g->stride, g->pad);
}

static Tensor *build_conv_res(Tape *t, Tensor **in, void *ctx) {
    const Geo *g = ctx;
    return ag_conv2d_res(t, in[0], in[1], in[2], in[3], g->stride, g->pad);
}

Test(conv2d, gradient_matches_finite_differences) {
    const Case gc[] = {{1, 5, 7, 3, 4, 3, 1, 1, true}, {2, 7, 5, 5, 3, 3, 2, 1, true}, {1, 5, 6, 3, 4, 1, 2, 0, true}};
    for (size_t i = 0; i < sizeof gc / sizeof gc[0]; i++) {
        const Case *k = &gc[i];
        Geo g = {k->stride, k->pad};
        Tensor *in[3] = {tu_param(4, (int[]){k->N, k->H, k->W, k->C}, 100 + i, -1, 1),
                         tu_param(4, (int[]){k->K, k->R, k->R, k->C}, 110 + i, -1, 1),
                         tu_param(1, (int[]){k->K}, 120 + i, -1, 1)};
        int bad = tu_gradcheck(build_conv, &g, in, 3, &(TuGradOpts){.max_per_input = 60});
        cr_expect_eq(bad, 0, "case %zu: %d gradient elements off", i, bad);
        bad = tu_gradcheck(build_conv_nobias, &g, in, 2, &(TuGradOpts){.max_per_input = 60});
        cr_expect_eq(bad, 0, "case %zu without bias: %d gradient elements off", i, bad);
        for (int j = 0; j < 3; j++) tensor_free(in[j]);
    }
}

/* conv2d(x, w, b) + res in one op: the gradients of all four, and y itself equal to conv2d then
 * add, bit for bit (the same fp32 additions in the same order) */
Test(conv2d, residual_matches_conv_then_add) {
    const Case k = {2, 7, 5, 5, 3, 3, 2, 1, true};
    const int P = (k.H + 2 * k.pad - k.R) / k.stride + 1, Q = (k.W + 2 * k.pad - k.R) / k.stride + 1;
    Geo g = {k.stride, k.pad};
    Tensor *in[4] = {tu_param(4, (int[]){k.N, k.H, k.W, k.C}, 130, -1, 1),
                     tu_param(4, (int[]){k.K, k.R, k.R, k.C}, 131, -1, 1), tu_param(1, (int[]){k.K}, 132, -1, 1),
                     tu_param(4, (int[]){k.N, P, Q, k.K}, 133, -1, 1)};
    int bad = tu_gradcheck(build_conv_res, &g, in, 4, &(TuGradOpts){.max_per_input = 60});
    cr_expect_eq(bad, 0, "%d gradient elements off", bad);

    Arena *a = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, a);
    Tensor *y = ag_conv2d_res(&t, in[0], in[1], in[2], in[3], k.stride, k.pad);
    Tensor *ref = ag_add(&t, in[3], ag_conv2d(&t, in[0], in[1], in[2], k.stride, k.pad));
    cr_assert(y && ref, "%s", ldm_last_error());
    cr_expect_eq(memcmp(y->data, ref->data, y->numel * sizeof(float)), 0, "y differs from conv2d + add");
    cr_expect_eq(t.last->prev->prev->n_in, 4, "x, w, b, res recorded");
    cr_expect_eq(conv2d_forward_res(in[0], in[1], in[2], y, k.stride, k.pad, y), -1, "res may not be y");
    cr_expect(strstr(ldm_last_error(), "res"), "%s", ldm_last_error());
    cr_expect_null(ag_conv2d_res(&t, in[0], in[1], in[2], in[0], k.stride, k.pad), "res of the wrong shape");
    arena_destroy(a);
    for (int j = 0; j < 4; j++) tensor_free(in[j]);
}

Test(conv2d, tape_skips_inputs_without_grad) {
    Arena *a = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, a);
    Tensor *x = tu_data(4, (int[]){1, 5, 5, 3}, 1, -1, 1); /* data: no gradient */
    Tensor *w = tu_param(4, (int[]){4, 3, 3, 3}, 2, -1, 1);
    Tensor *y = ag_conv2d(&t, x, w, NULL, 1, 1);
    cr_assert(y, "%s", ldm_last_error());
    cr_expect_eq(t.n_nodes, 1);
    cr_expect_eq(t.last->n_in, 2, "no bias: two inputs recorded");
    Tensor *seed = tensor_new4(a, DEV_CPU, 1, 5, 5, 4);
    fill(seed, 1.0f);
    cr_assert_eq(tape_backward(&t, y, seed), 0, "%s", ldm_last_error());
    cr_expect(!x->grad, "x got a gradient it did not ask for");
    double s = 0;
    for (size_t i = 0; i < w->numel; i++) s += fabs(w->grad[i]);
    cr_expect_gt(s, 0.0);
    cr_expect_null(ag_conv2d(&t, NULL, w, NULL, 1, 1), "NULL in, NULL out");
    tensor_free(x);
    tensor_free(w);
    arena_destroy(a);
}

// ----------------------------------------------------------------------------
// errors

static void expect_error(int rc, const char *a, const char *b, const char *c) {
    const char *m = ldm_last_error();
    cr_expect_eq(rc, -1);
    cr_expect(strstr(m, "conv2d") && strstr(m, a) && (!b || strstr(m, b)) && (!c || strstr(m, c)),
              "message should name the op and %s %s %s: %s", a, b ? b : "", c ? c : "", m);
}

Test(conv2d, rejects_bad_shapes) {
    Tensor *x = tu_data(4, (int[]){2, 7, 5, 3}, 1, -1, 1);
    Tensor *w = tu_data(4, (int[]){4, 3, 3, 3}, 2, -1, 1);
    Tensor *w_c = tu_data(4, (int[]){4, 3, 3, 5}, 3, -1, 1);
    Tensor *w_5 = tu_data(4, (int[]){4, 5, 5, 3}, 4, -1, 1);
    Tensor *w_31 = tu_data(4, (int[]){4, 3, 1, 3}, 5, -1, 1);
    Tensor *y = tensor_new4(NULL, DEV_CPU, 2, 7, 5, 4);
    Tensor *y_bad = tensor_new4(NULL, DEV_CPU, 2, 7, 5, 5);
    Tensor *b_bad = tu_data(1, (int[]){5}, 6, -1, 1);
    Tensor *tiny = tu_data(4, (int[]){1, 2, 2, 3}, 7, -1, 1);
    Tensor *x3 = tu_data(3, (int[]){7, 5, 3}, 8, -1, 1);

    expect_error(conv2d_forward(x, w_c, NULL, 1, 1, y), "(4, 3, 3, 5)", "(2, 7, 5, 3)", "C = 5");
    expect_error(conv2d_forward(x, w_5, NULL, 1, 1, y), "(4, 5, 5, 3)", "5x5", NULL);
    expect_error(conv2d_forward(x, w_31, NULL, 1, 1, y), "(4, 3, 1, 3)", "3x1", NULL);
    expect_error(conv2d_forward(x, w, NULL, 3, 1, y), "stride 3", NULL, NULL);
    expect_error(conv2d_forward(x, w, NULL, 1, -1, y), "pad -1", NULL, NULL);
    expect_error(conv2d_forward(tiny, w, NULL, 1, 0, y), "output size < 1", "(1, 2, 2, 3)", "(4, 3, 3, 3)");
    expect_error(conv2d_forward(x, w, NULL, 1, 1, y_bad), "(2, 7, 5, 5)", "(2, 7, 5, 4)", NULL);
    expect_error(conv2d_forward(x, w, NULL, 2, 1, y), "y (2, 7, 5, 4)", "(2, 4, 3, 4)", NULL);
    expect_error(conv2d_forward(x, w, b_bad, 1, 1, y), "bias (5)", "(4)", NULL);
    expect_error(conv2d_forward(x3, w, NULL, 1, 1, y), "(7, 5, 3)", "4 dims", NULL);
    expect_error(conv2d_forward(x, w, NULL, 1, 1, NULL), "y is missing", NULL, NULL);
    expect_error(conv2d_out_size(2, 3, 1, 0), "output size < 1", NULL, NULL);

    /* backward: dy, dx, dw, db shapes */
    expect_error(conv2d_backward(x, w, y_bad, 1, 1, NULL, NULL, NULL), "dy (2, 7, 5, 5)", "(2, 7, 5, 4)", NULL);
    expect_error(conv2d_backward(x, w, y, 1, 1, tiny, NULL, NULL), "dx (1, 2, 2, 3)", "(2, 7, 5, 3)", NULL);
    expect_error(conv2d_backward(x, w, y, 1, 1, NULL, w_c, NULL), "dw (4, 3, 3, 5)", "(4, 3, 3, 3)", NULL);
    expect_error(conv2d_backward(x, w, y, 1, 1, NULL, NULL, b_bad), "db (5)", "(4)", NULL);

    Arena *a = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, a);
    cr_expect_null(ag_conv2d(&t, x, w_c, NULL, 1, 1));
    cr_expect(strstr(ldm_last_error(), "C = 5"), "%s", ldm_last_error());
    cr_expect_null(ag_conv2d(&t, tiny, w, NULL, 1, 0));
    cr_expect(strstr(ldm_last_error(), "output size < 1"), "%s", ldm_last_error());
    arena_destroy(a);

    Tensor *list[] = {x, w, w_c, w_5, w_31, y, y_bad, b_bad, tiny, x3};
    for (int j = 0; j < 10; j++) tensor_free(list[j]);
}
