/* tests/test_resample.c — upsample2x, concat_channels, slice_channels: forward against
 * loops, gradients by finite differences, bad shapes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/resample.h"
#include "tests/util/testutil.h"

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

Test(resample, upsample2x_forward_matches_loop) {
    const int N = 2, H = 3, W = 5, C = 7;
    Tensor *x = tu_data(4, (int[]){N, H, W, C}, 1, -1, 1);
    Tensor *y = poisoned(4, (int[]){N, 2 * H, 2 * W, C});
    cr_assert_eq(upsample2x_forward(x, y), 0, "%s", ldm_last_error());
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 2 * H; i++)
            for (int j = 0; j < 2 * W; j++)
                for (int c = 0; c < C; c++)
                    bad += y->data[((n * 2 * H + i) * 2 * W + j) * C + c] !=
                           x->data[((n * H + i / 2) * W + j / 2) * C + c];
    cr_expect_eq(bad, 0, "%d elements differ", bad);
    tensor_free(x), tensor_free(y);
}

Test(resample, upsample2x_backward_sums_four) {
    const int H = 3, W = 5, C = 3;
    Tensor *dy = tu_data(4, (int[]){1, 2 * H, 2 * W, C}, 2, -1, 1);
    Tensor *dx = tensor_new(NULL, DEV_CPU, 4, (int[]){1, H, W, C});
    fill(dx, 0.5f); /* backward accumulates */
    cr_assert_eq(upsample2x_backward(dy, dx), 0, "%s", ldm_last_error());
    double *ref = malloc(dx->numel * sizeof(double));
    for (int h = 0; h < H; h++)
        for (int w = 0; w < W; w++)
            for (int c = 0; c < C; c++) {
                double s = 0.5;
                for (int di = 0; di < 2; di++)
                    for (int dj = 0; dj < 2; dj++) s += dy->data[((2 * h + di) * 2 * W + 2 * w + dj) * C + c];
                ref[(h * W + w) * C + c] = s;
            }
    cr_expect_leq(tu_max_rel_err(dx->data, ref, dx->numel, 1e-6, NULL), 1e-5);
    free(ref);
    tensor_free(dy), tensor_free(dx);
}

Test(resample, concat_and_slice_forward_match_loop) {
    const int R = 3 * 5, Ca = 3, Cb = 7; /* rank 3: (3, 5, C) */
    Tensor *a = tu_data(3, (int[]){3, 5, Ca}, 3, -1, 1), *b = tu_data(3, (int[]){3, 5, Cb}, 4, -1, 1);
    Tensor *y = poisoned(3, (int[]){3, 5, Ca + Cb});
    cr_assert_eq(concat_channels_forward(a, b, y), 0, "%s", ldm_last_error());
    int bad = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < Ca + Cb; c++)
            bad += y->data[r * (Ca + Cb) + c] != (c < Ca ? a->data[r * Ca + c] : b->data[r * Cb + c - Ca]);
    cr_expect_eq(bad, 0, "concat: %d elements differ", bad);

    Tensor *s = poisoned(3, (int[]){3, 5, 5});
    cr_assert_eq(slice_channels_forward(y, 2, 7, s), 0, "%s", ldm_last_error());
    bad = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < 5; c++) bad += s->data[r * 5 + c] != y->data[r * (Ca + Cb) + 2 + c];
    cr_expect_eq(bad, 0, "slice: %d elements differ", bad);
    tensor_free(a), tensor_free(b), tensor_free(y), tensor_free(s);
}

// ----------------------------------------------------------------------------
// gradients

static Tensor *build_up(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_upsample2x(t, in[0]);
}
static Tensor *build_concat(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_concat_channels(t, in[0], in[1]);
}
static Tensor *build_concat_self(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_concat_channels(t, in[0], in[0]);
}
static Tensor *build_slice(Tape *t, Tensor **in, void *ctx) {
    const int *r = ctx;
    return ag_slice_channels(t, in[0], r[0], r[1]);
}

Test(resample, gradients) {
    Tensor *x = tu_param(4, (int[]){2, 3, 5, 3}, 5, -1, 1);
    cr_expect_eq(tu_gradcheck(build_up, NULL, &x, 1, NULL), 0, "upsample2x");
    Tensor *in[2] = {x, tu_param(4, (int[]){2, 3, 5, 6}, 6, -1, 1)};
    cr_expect_eq(tu_gradcheck(build_concat, NULL, in, 2, NULL), 0, "concat");
    cr_expect_eq(tu_gradcheck(build_concat_self, NULL, &x, 1, NULL), 0, "concat(x, x)");
    int r1[2] = {1, 4}, r2[2] = {0, 6}, r3[2] = {5, 6};
    cr_expect_eq(tu_gradcheck(build_slice, r1, &in[1], 1, NULL), 0, "slice [1, 4)");
    cr_expect_eq(tu_gradcheck(build_slice, r2, &in[1], 1, NULL), 0, "slice all");
    cr_expect_eq(tu_gradcheck(build_slice, r3, &in[1], 1, NULL), 0, "slice last");
    tensor_free(x), tensor_free(in[1]);
}

Test(resample, concat_gradient_to_one_side_only) {
    Tensor *a = tu_data(2, (int[]){3, 2}, 7, -1, 1), *b = tu_param(2, (int[]){3, 5}, 8, -1, 1);
    Tensor *in[2] = {a, b};
    cr_expect_eq(tu_gradcheck(build_concat, NULL, in, 2, NULL), 0);
    tensor_free(a), tensor_free(b);
}

// ----------------------------------------------------------------------------
// bad arguments

Test(resample, rejects_bad_shapes) {
    Tensor *x = tu_data(4, (int[]){1, 3, 5, 2}, 1, -1, 1);
    Tensor *y = tensor_new(NULL, DEV_CPU, 4, (int[]){1, 6, 9, 2});
    cr_expect_eq(upsample2x_forward(x, y), -1);
    expect_msg("upsample2x", "(1, 3, 5, 2)", "(1, 6, 9, 2)");
    cr_expect_eq(upsample2x_backward(x, y), -1);
    expect_msg("upsample2x_backward", "(1, 3, 5, 2)", "(1, 6, 9, 2)");

    Tensor *a = tu_data(3, (int[]){2, 3, 4}, 2, -1, 1), *b = tu_data(3, (int[]){2, 4, 4}, 3, -1, 1);
    Tensor *yc = tensor_new(NULL, DEV_CPU, 3, (int[]){2, 3, 8});
    cr_expect_eq(concat_channels_forward(a, b, yc), -1);
    expect_msg("concat_channels", "(2, 3, 4)", "(2, 4, 4)");
    Tensor *yw = tensor_new(NULL, DEV_CPU, 3, (int[]){2, 3, 7});
    cr_expect_eq(concat_channels_forward(a, a, yw), -1);
    expect_msg("concat_channels", "(2, 3, 7)", "(2, 3, 4)");
    cr_expect_eq(concat_channels_backward(yw, a, a), -1);
    expect_msg("concat_channels_backward", "(2, 3, 7)", "(2, 3, 4)");

    Tensor *s = tensor_new(NULL, DEV_CPU, 3, (int[]){2, 3, 2});
    cr_expect_eq(slice_channels_forward(a, 3, 3, s), -1);
    expect_msg("slice_channels", "[3, 3)", "(2, 3, 4)");
    cr_expect_eq(slice_channels_forward(a, 3, 5, s), -1);
    expect_msg("slice_channels", "[3, 5)", "(2, 3, 4)");
    cr_expect_eq(slice_channels_forward(a, 0, 3, s), -1);
    expect_msg("slice_channels", "(2, 3, 2)", "(2, 3, 4)");
    cr_expect_eq(slice_channels_backward(s, 1, 3, b), -1);
    expect_msg("slice_channels_backward", "(2, 3, 2)", "(2, 4, 4)");

    Arena *ar = arena_create(DEV_CPU, 1 << 16, 1 << 14);
    Tape t;
    tape_init(&t, ar);
    cr_expect_null(ag_slice_channels(&t, a, -1, 2));
    expect_msg("slice_channels", "[-1, 2)", "(2, 3, 4)");
    cr_expect_null(ag_upsample2x(&t, a));
    expect_msg("upsample2x", "(2, 3, 4)", "4 dims");
    cr_expect_null(ag_concat_channels(&t, a, b));
    expect_msg("concat_channels", "(2, 3, 4)", "(2, 4, 4)");
    arena_destroy(ar);
    tensor_free(x), tensor_free(y), tensor_free(a), tensor_free(b), tensor_free(yc), tensor_free(yw), tensor_free(s);
}
