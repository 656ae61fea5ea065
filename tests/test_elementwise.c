/* tests/test_elementwise.c — add, mul, scale, scale_shift and reshape: forward against
 * double loops, gradients by finite differences, bad shapes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "tests/util/testutil.h"

static double *dalloc(size_t n) { return malloc(n * sizeof(double)); }

static Tensor *poisoned(int ndim, const int *shape) {
    Tensor *y = tensor_new(NULL, DEV_CPU, ndim, shape);
    fill(y, NAN);
    return y;
}

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = ldm_last_error();
    cr_expect(strstr(m, a) && strstr(m, b) && (!c || strstr(m, c)), "message names op and shapes: %s", m);
}

// ----------------------------------------------------------------------------
// forward

Test(elementwise, add_mul_scale_forward_match_double) {
    int shape[4] = {1, 7, 5, 13};
    Tensor *a = tu_data(4, shape, 1, -3, 3), *b = tu_data(4, shape, 2, -3, 3);
    Tensor *ya = poisoned(4, shape), *ym = poisoned(4, shape), *ys = poisoned(4, shape);
    cr_assert_eq(add_forward(a, b, ya), 0, "%s", ldm_last_error());
    cr_assert_eq(mul_forward(a, b, ym), 0, "%s", ldm_last_error());
    cr_assert_eq(scale_forward(a, -0.37f, ys), 0, "%s", ldm_last_error());
    size_t n = a->numel;
    double *ra = dalloc(n), *rm = dalloc(n), *rs = dalloc(n);
    for (size_t i = 0; i < n; i++) {
        ra[i] = (double)a->data[i] + b->data[i];
        rm[i] = (double)a->data[i] * b->data[i];
        rs[i] = -0.37 * a->data[i];
    }
    cr_expect_leq(tu_max_rel_err(ya->data, ra, n, 1e-6, NULL), 1e-5);
    cr_expect_leq(tu_max_rel_err(ym->data, rm, n, 1e-6, NULL), 1e-5);
    cr_expect_leq(tu_max_rel_err(ys->data, rs, n, 1e-6, NULL), 1e-5);
    free(ra), free(rm), free(rs);
    tensor_free(a), tensor_free(b), tensor_free(ya), tensor_free(ym), tensor_free(ys);
}

/* x (N, ..., C) with L the product of the middle dims; sc / sh may be NULL. */
static void check_scale_shift_forward(int ndim, const int *shape, bool with_scale, bool with_shift) {
    Tensor *x = tu_data(ndim, shape, 3, -2, 2);
    int N = shape[0], C = shape[ndim - 1];
    long L = (long)(x->numel / (size_t)N / (size_t)C);
    Tensor *sc = with_scale ? tu_data(2, (int[]){N, C}, 4, -1, 1) : NULL;
    Tensor *sh = with_shift ? tu_data(2, (int[]){N, C}, 5, -1, 1) : NULL;
    Tensor *y = poisoned(ndim, shape);
    cr_assert_eq(scale_shift_forward(x, sc, sh, y), 0, "%s", ldm_last_error());
    double *ref = dalloc(x->numel);
    for (int n = 0; n < N; n++)
        for (long l = 0; l < L; l++)
            for (int c = 0; c < C; c++) {
                size_t i = ((size_t)n * L + l) * C + c;
                ref[i] = x->data[i] * (1.0 + (sc ? sc->data[n * C + c] : 0.0)) + (sh ? sh->data[n * C + c] : 0.0);
            }
    double e = tu_max_rel_err(y->data, ref, x->numel, 1e-6, NULL);
    cr_expect_leq(e, 1e-5, "scale %d shift %d rank %d: max rel err %g", with_scale, with_shift, ndim, e);
    free(ref);
    tensor_free(x), tensor_free(sc), tensor_free(sh), tensor_free(y);
}

Test(elementwise, scale_shift_forward_matches_double) {
    check_scale_shift_forward(4, (int[]){2, 3, 5, 7}, true, true);
    check_scale_shift_forward(4, (int[]){1, 5, 3, 70}, true, false); /* C > one channel block */
    check_scale_shift_forward(4, (int[]){3, 1, 1, 9}, false, true);
    check_scale_shift_forward(3, (int[]){2, 11, 13}, true, true); /* (N, L, C) tokens */
    check_scale_shift_forward(2, (int[]){3, 5}, true, true);      /* L = 1 */
}

// ----------------------------------------------------------------------------
// gradients

static Tensor *build_add(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_add(t, in[0], in[1]);
}
static Tensor *build_add_self(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_add(t, in[0], in[0]);
}
static Tensor *build_mul(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_mul(t, in[0], in[1]);
}
static Tensor *build_mul_self(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_mul(t, in[0], in[0]);
}
static Tensor *build_scale(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_scale(t, in[0], -1.7f);
}

Test(elementwise, add_mul_scale_gradients) {
    int shape[3] = {3, 5, 7};
    Tensor *in[2] = {tu_param(3, shape, 6, -2, 2), tu_param(3, shape, 7, -2, 2)};
    cr_expect_eq(tu_gradcheck(build_add, NULL, in, 2, NULL), 0);
    cr_expect_eq(tu_gradcheck(build_mul, NULL, in, 2, NULL), 0);
    cr_expect_eq(tu_gradcheck(build_scale, NULL, in, 1, NULL), 0);
    tensor_free(in[0]), tensor_free(in[1]);
}

Test(elementwise, same_tensor_twice_gets_both_contributions) {
    Tensor *x = tu_param(2, (int[]){4, 9}, 8, -2, 2);
    cr_expect_eq(tu_gradcheck(build_add_self, NULL, &x, 1, NULL), 0, "x + x");
    cr_expect_eq(tu_gradcheck(build_mul_self, NULL, &x, 1, NULL), 0, "x * x");
    /* exact values: d(sum(x + x))/dx = 2 */
    Arena *a = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, a);
    tensor_zero_grad(x);
    Tensor *s = ag_sum(&t, ag_add(&t, x, x));
    cr_assert_eq(tape_backward(&t, s, NULL), 0, "%s", ldm_last_error());
    for (size_t i = 0; i < x->numel; i++) cr_expect_eq(x->grad[i], 2.0f, "grad[%zu] = %g", i, x->grad[i]);
    arena_destroy(a);
    tensor_free(x);
}

typedef struct {
    bool scale, shift;
} SsCtx;

static Tensor *build_scale_shift(Tape *t, Tensor **in, void *ctx) {
    const SsCtx *c = ctx;
    return ag_scale_shift(t, in[0], c->scale ? in[1] : NULL, c->shift ? in[2] : NULL);
}

static void check_scale_shift_grad(int ndim, const int *shape, bool scale, bool shift) {
    int N = shape[0], C = shape[ndim - 1];
    Tensor *in[3] = {tu_param(ndim, shape, 9, -2, 2), tu_param(2, (int[]){N, C}, 10, -1, 1),
                     tu_param(2, (int[]){N, C}, 11, -1, 1)};
    SsCtx c = {scale, shift};
    int bad = tu_gradcheck(build_scale_shift, &c, in, 3, NULL);
    cr_expect_eq(bad, 0, "rank %d scale %d shift %d: %d elements off", ndim, scale, shift, bad);
    /* an absent modulation receives nothing */
    if (!scale)
        for (size_t i = 0; i < in[1]->numel; i++) cr_expect_eq(in[1]->grad[i], 0.0f);
    if (!shift)
        for (size_t i = 0; i < in[2]->numel; i++) cr_expect_eq(in[2]->grad[i], 0.0f);
    for (int i = 0; i < 3; i++) tensor_free(in[i]);
}

Test(elementwise, scale_shift_gradients) {
    check_scale_shift_grad(4, (int[]){2, 3, 5, 7}, true, true);
    check_scale_shift_grad(4, (int[]){1, 3, 3, 67}, true, true); /* two channel blocks */
    check_scale_shift_grad(3, (int[]){2, 9, 5}, true, false);
    check_scale_shift_grad(3, (int[]){2, 9, 5}, false, true);
}

Test(elementwise, scale_shift_backward_sums_in_double) {
    /* dshift sums 2^16 copies of 1 + 2^-20 per (n, c): float accumulation would drift. */
    int shape[3] = {1, 65536, 3};
    Tensor *x = tu_data(3, shape, 12, -1, 1), *dy = tensor_new(NULL, DEV_CPU, 3, shape);
    Tensor *dshift = tensor_zeros(NULL, DEV_CPU, 2, (int[]){1, 3});
    fill(dy, 1.0f + 0x1p-20f);
    cr_assert_eq(scale_shift_backward(x, NULL, dy, NULL, NULL, dshift), 0, "%s", ldm_last_error());
    float want = (float)(65536.0 * (1.0 + 0x1p-20));
    for (int c = 0; c < 3; c++)
        cr_expect_eq(dshift->data[c], want, "dshift[%d] = %.9g want %.9g", c, dshift->data[c], want);
    tensor_free(x), tensor_free(dy), tensor_free(dshift);
}

// ----------------------------------------------------------------------------
// reshape

static Tensor *build_reshape(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    /* (3, 4, 5) -> (12, 5) -> silu -> (60) * w: gradient crosses two reshapes */
    Tensor *h = ag_silu(t, ag_reshape(t, in[0], 2, (int[]){12, 5}));
    return ag_mul(t, ag_reshape(t, h, 1, (int[]){60}), in[1]);
}

Test(elementwise, reshape_gradient_and_no_shared_grad) {
    Tensor *in[2] = {tu_param(3, (int[]){3, 4, 5}, 13, -2, 2), tu_param(1, (int[]){60}, 14, -1, 1)};
    cr_expect_eq(tu_gradcheck(build_reshape, NULL, in, 2, NULL), 0);

    Arena *a = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, a);
    tensor_zero_grad(in[0]);
    Tensor *r = ag_reshape(&t, in[0], 2, (int[]){6, 10});
    cr_assert(r, "%s", ldm_last_error());
    cr_expect_eq(r->data, in[0]->data, "shares the data");
    cr_expect_null(r->grad, "does not share the gradient");
    cr_expect(r->ndim == 2 && r->shape[0] == 6 && r->shape[1] == 10);
    Tensor *s = ag_sum(&t, ag_scale(&t, r, 3.0f));
    cr_assert_eq(tape_backward(&t, s, NULL), 0, "%s", ldm_last_error());
    cr_expect(r->grad && r->grad != in[0]->grad);
    for (size_t i = 0; i < in[0]->numel; i++) cr_expect_eq(in[0]->grad[i], 3.0f);

    /* a constant input records nothing */
    Tensor *c = tu_data(1, (int[]){6}, 15, -1, 1);
    int before = t.n_nodes;
    Tensor *rc = ag_reshape(&t, c, 2, (int[]){2, 3});
    cr_expect(rc && !rc->requires_grad && t.n_nodes == before);
    arena_destroy(a);
    tensor_free(in[0]), tensor_free(in[1]), tensor_free(c);
}

// ----------------------------------------------------------------------------
// bad arguments

Test(elementwise, rejects_bad_shapes) {
    Tensor *a = tu_data(2, (int[]){3, 4}, 1, -1, 1), *b = tu_data(2, (int[]){4, 3}, 2, -1, 1);
    Tensor *y = tensor_new(NULL, DEV_CPU, 2, (int[]){3, 4});
    cr_expect_eq(add_forward(a, b, y), -1);
    expect_msg("add", "(3, 4)", "(4, 3)");
    cr_expect_eq(mul_forward(a, b, y), -1);
    expect_msg("mul", "(3, 4)", "(4, 3)");
    cr_expect_eq(mul_backward(a, a, y, b, NULL), -1);
    expect_msg("mul_backward", "(4, 3)", "(3, 4)");
    cr_expect_eq(scale_forward(a, 2.0f, b), -1);
    expect_msg("scale", "(3, 4)", "(4, 3)");
    cr_expect_eq(add_forward(a, NULL, y), -1);
    expect_msg("add", "b", "NULL");

    Tensor *x = tu_data(4, (int[]){2, 3, 3, 5}, 3, -1, 1), *yx = tensor_new(NULL, DEV_CPU, 4, (int[]){2, 3, 3, 5});
    Tensor *sc = tu_data(2, (int[]){2, 4}, 4, -1, 1), *v = tu_data(1, (int[]){5}, 5, -1, 1);
    cr_expect_eq(scale_shift_forward(x, sc, NULL, yx), -1);
    expect_msg("scale_shift", "(2, 4)", "(2, 3, 3, 5)");
    cr_expect_eq(scale_shift_forward(x, NULL, sc, yx), -1);
    expect_msg("scale_shift", "shift", "(2, 4)");
    cr_expect_eq(scale_shift_forward(v, NULL, NULL, v), -1);
    expect_msg("scale_shift", "(5)", NULL);
    cr_expect_eq(scale_shift_backward(x, NULL, yx, NULL, sc, NULL), -1);
    expect_msg("scale_shift_backward", "dscale", "(2, 4)");

    Arena *ar = arena_create(DEV_CPU, 1 << 16, 1 << 14);
    Tape t;
    tape_init(&t, ar);
    cr_expect_null(ag_reshape(&t, a, 2, (int[]){5, 3}));
    expect_msg("reshape", "(3, 4)", "(5, 3)");
    cr_expect_null(ag_reshape(&t, a, 2, (int[]){-3, -4}));
    expect_msg("reshape", "(3, 4)", "(-3, -4)");
    cr_expect_null(ag_reshape(&t, a, 5, (int[]){1, 1, 3, 4, 1}));
    expect_msg("reshape", "(3, 4)", "5 dims");
    cr_expect_null(ag_add(&t, a, b));
    expect_msg("add", "(3, 4)", "(4, 3)");
    arena_destroy(ar);
    tensor_free(a), tensor_free(b), tensor_free(y), tensor_free(x), tensor_free(yx), tensor_free(sc), tensor_free(v);
}
