/* tests/test_reduce.c — sum, mean, mse, l1, sumsq: forward against double sums (across
 * several summation blocks), determinism across thread counts, gradients by finite
 * differences, sign(0) = 0 for l1, bad shapes. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "tests/util/testutil.h"

static Tensor *scalar(void) {
    Tensor *y = tensor_new(NULL, DEV_CPU, 1, (int[]){1});
    fill(y, NAN);
    return y;
}

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = ldm_last_error();
    cr_expect(strstr(m, a) && strstr(m, b) && (!c || strstr(m, c)), "message names op and shapes: %s", m);
}

static void expect_close(float got, double want, double rtol, const char *what) {
    double e = fabs(got - want) / (1e-12 + fabs(want));
    cr_expect_leq(e, rtol, "%s = %.9g, want %.9g (rel err %g)", what, got, want, e);
}

Test(reduce, forward_matches_double_sums) {
    /* 3 * 4096 + 17 elements: three full blocks and a ragged one; plus a tiny one */
    int sizes[2][2] = {{12305, 1}, {1, 3}};
    for (int k = 0; k < 2; k++) {
        Tensor *a = tu_data(2, sizes[k], 10 + k, -2, 3), *b = tu_data(2, sizes[k], 20 + k, -3, 2);
        size_t n = a->numel;
        double s = 0, ss = 0, sq = 0, sa = 0;
        for (size_t i = 0; i < n; i++) {
            double d = (double)a->data[i] - b->data[i];
            s += a->data[i], ss += (double)a->data[i] * a->data[i], sq += d * d, sa += fabs(d);
        }
        Tensor *y = scalar();
        cr_assert_eq(sum_forward(a, y), 0, "%s", ldm_last_error());
        expect_close(y->data[0], s, 1e-6, "sum");
        fill(y, NAN);
        cr_assert_eq(mean_forward(a, y), 0, "%s", ldm_last_error());
        expect_close(y->data[0], s / n, 1e-6, "mean");
        fill(y, NAN);
        cr_assert_eq(mse_forward(a, b, y), 0, "%s", ldm_last_error());
        expect_close(y->data[0], sq / n, 1e-6, "mse");
        fill(y, NAN);
        cr_assert_eq(l1_forward(a, b, y), 0, "%s", ldm_last_error());
        expect_close(y->data[0], sa / n, 1e-6, "l1");
        double got = NAN;
        cr_assert_eq(sumsq(a, &got), 0, "%s", ldm_last_error());
        cr_expect_leq(fabs(got - ss), 1e-12 * ss, "sumsq %.17g want %.17g", got, ss);
        tensor_free(a), tensor_free(b), tensor_free(y);
    }
}

Test(reduce, sum_is_accurate_where_float_accumulation_is_not) {
    /* 2^20 copies of 1 + 2^-20 (~1.000001): a float running sum stalls far from 2^20 + 1 */
    Tensor *x = tensor_new(NULL, DEV_CPU, 1, (int[]){1 << 20});
    fill(x, 1.0f + 0x1p-20f);
    Tensor *y = scalar();
    cr_assert_eq(sum_forward(x, y), 0, "%s", ldm_last_error());
    cr_expect_eq(y->data[0], (float)(1048576.0 + 1.0), "sum = %.9g", y->data[0]);
    tensor_free(x), tensor_free(y);
}

Test(reduce, results_do_not_depend_on_thread_count) {
    Tensor *a = tu_data(1, (int[]){300001}, 30, -1, 1), *b = tu_data(1, (int[]){300001}, 31, -1, 1);
    float r[3][3];
    int threads[3] = {1, 2, 3};
    int saved = omp_get_max_threads();
    for (int k = 0; k < 3; k++) {
        omp_set_num_threads(threads[k]);
        Tensor *y = scalar();
        cr_assert_eq(sum_forward(a, y), 0);
        r[k][0] = y->data[0];
        cr_assert_eq(mse_forward(a, b, y), 0);
        r[k][1] = y->data[0];
        cr_assert_eq(l1_forward(a, b, y), 0);
        r[k][2] = y->data[0];
        tensor_free(y);
    }
    omp_set_num_threads(saved);
    for (int k = 1; k < 3; k++)
        for (int j = 0; j < 3; j++)
            cr_expect(memcmp(&r[k][j], &r[0][j], sizeof(float)) == 0, "op %d: %d threads %.9g vs 1 thread %.9g", j,
                      threads[k], r[k][j], r[0][j]);
    tensor_free(a), tensor_free(b);
}

// ----------------------------------------------------------------------------
// gradients

static Tensor *build_sum(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_sum(t, in[0]);
}
static Tensor *build_mean(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_mean(t, in[0]);
}
static Tensor *build_mse(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_mse_loss(t, in[0], in[1]);
}
static Tensor *build_l1(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_l1_loss(t, in[0], in[1]);
}

Test(reduce, gradients) {
    int shape[3] = {3, 5, 7};
    Tensor *in[2] = {tu_param(3, shape, 40, -2, 2), tu_param(3, shape, 41, -2, 2)};
    cr_expect_eq(tu_gradcheck(build_sum, NULL, in, 1, NULL), 0, "sum");
    cr_expect_eq(tu_gradcheck(build_mean, NULL, in, 1, NULL), 0, "mean");
    cr_expect_eq(tu_gradcheck(build_mse, NULL, in, 2, NULL), 0, "mse");
    /* l1: keep every |a - b| >= 0.25, far from the kink at a == b, with both signs */
    for (size_t i = 0; i < in[0]->numel; i++) {
        float d = 0.25f + 0.5f * fabsf(in[1]->data[i]);
        in[1]->data[i] = in[0]->data[i] + (i % 3 ? d : -d);
    }
    cr_expect_eq(tu_gradcheck(build_l1, NULL, in, 2, NULL), 0, "l1");
    tensor_free(in[0]), tensor_free(in[1]);
}

Test(reduce, l1_sign_of_zero_is_zero) {
    Tensor *a = tu_data(1, (int[]){5}, 50, -1, 1), *b = tensor_new(NULL, DEV_CPU, 1, (int[]){5});
    memcpy(b->data, a->data, 5 * sizeof(float));
    b->data[2] += 1.0f; /* the only element that differs: a < b */
    Tensor *dy = tensor_new(NULL, DEV_CPU, 1, (int[]){1});
    fill(dy, 2.0f);
    Tensor *da = tensor_zeros(NULL, DEV_CPU, 1, (int[]){5}), *db = tensor_zeros(NULL, DEV_CPU, 1, (int[]){5});
    cr_assert_eq(l1_backward(a, b, dy, da, db), 0, "%s", ldm_last_error());
    for (int i = 0; i < 5; i++) {
        float want = i == 2 ? -2.0f / 5 : 0.0f;
        cr_expect_eq(da->data[i], want, "da[%d] = %g", i, da->data[i]);
        cr_expect_eq(db->data[i], -want, "db[%d] = %g", i, db->data[i]);
    }
    tensor_free(a), tensor_free(b), tensor_free(dy), tensor_free(da), tensor_free(db);
}

Test(reduce, backward_accumulates) {
    Tensor *dy = tensor_new(NULL, DEV_CPU, 1, (int[]){1});
    fill(dy, 3.0f);
    Tensor *dx = tensor_new(NULL, DEV_CPU, 2, (int[]){3, 7});
    fill(dx, 1.0f);
    cr_assert_eq(broadcast_scalar_backward(dy, 0.5f, dx), 0, "%s", ldm_last_error());
    for (size_t i = 0; i < dx->numel; i++) cr_expect_eq(dx->data[i], 2.5f);
    Tensor *a = tu_data(2, (int[]){3, 7}, 51, -1, 1), *b = tu_data(2, (int[]){3, 7}, 52, -1, 1);
    cr_assert_eq(mse_backward(a, b, dy, dx, NULL), 0, "%s", ldm_last_error());
    for (size_t i = 0; i < dx->numel; i++) {
        double want = 2.5 + 3.0 * 2.0 * ((double)a->data[i] - b->data[i]) / 21.0;
        cr_expect(fabs(dx->data[i] - want) < 1e-6, "dx[%zu] = %g want %g", i, dx->data[i], want);
    }
    /* l1: both gradients pre-filled */
    Tensor *db = tensor_new(NULL, DEV_CPU, 2, (int[]){3, 7});
    fill(dx, 1.0f);
    fill(db, -1.0f);
    cr_assert_eq(l1_backward(a, b, dy, dx, db), 0, "%s", ldm_last_error());
    for (size_t i = 0; i < dx->numel; i++) {
        double sg = a->data[i] > b->data[i] ? 1 : a->data[i] < b->data[i] ? -1 : 0;
        cr_expect(fabs(dx->data[i] - (1 + 3.0 * sg / 21)) < 1e-6, "l1 dx[%zu] = %g", i, dx->data[i]);
        cr_expect(fabs(db->data[i] - (-1 - 3.0 * sg / 21)) < 1e-6, "l1 db[%zu] = %g", i, db->data[i]);
    }
    tensor_free(db);
    tensor_free(dy), tensor_free(dx), tensor_free(a), tensor_free(b);
}

Test(reduce, mse_of_a_tensor_with_itself_has_zero_gradient) {
    Tensor *x = tu_param(1, (int[]){6}, 53, -1, 1);
    Arena *ar = arena_create(DEV_CPU, 1 << 16, 1 << 14);
    Tape t;
    tape_init(&t, ar);
    Tensor *l = ag_mse_loss(&t, x, x);
    cr_assert(l, "%s", ldm_last_error());
    cr_expect_eq(l->data[0], 0.0f);
    cr_assert_eq(tape_backward(&t, l, NULL), 0, "%s", ldm_last_error());
    for (int i = 0; i < 6; i++) cr_expect_eq(x->grad[i], 0.0f);
    arena_destroy(ar);
    tensor_free(x);
}

// ----------------------------------------------------------------------------
// bad arguments

Test(reduce, rejects_bad_shapes) {
    Tensor *a = tu_data(2, (int[]){3, 4}, 1, -1, 1), *b = tu_data(2, (int[]){4, 3}, 2, -1, 1);
    Tensor *y = scalar(), *y2 = tensor_new(NULL, DEV_CPU, 1, (int[]){2});
    cr_expect_eq(sum_forward(a, y2), -1);
    expect_msg("sum", "(2)", "(3, 4)");
    cr_expect_eq(mean_forward(a, y2), -1);
    expect_msg("mean", "(2)", "(3, 4)");
    cr_expect_eq(mse_forward(a, b, y), -1);
    expect_msg("mse", "(3, 4)", "(4, 3)");
    cr_expect_eq(l1_forward(a, b, y), -1);
    expect_msg("l1", "(3, 4)", "(4, 3)");
    cr_expect_eq(mse_backward(a, a, y2, NULL, NULL), -1);
    expect_msg("mse_backward", "(2)", "(3, 4)");
    cr_expect_eq(l1_backward(a, a, y, b, NULL), -1);
    expect_msg("l1_backward", "(4, 3)", "(3, 4)");
    cr_expect_eq(broadcast_scalar_backward(y2, 1.0f, a), -1);
    expect_msg("broadcast_scalar_backward", "(2)", "(3, 4)");
    cr_expect_eq(sumsq(a, NULL), -1);
    expect_msg("sumsq", "(3, 4)", "NULL");
    Arena *ar = arena_create(DEV_CPU, 1 << 16, 1 << 14);
    Tape t;
    tape_init(&t, ar);
    cr_expect_null(ag_l1_loss(&t, a, b));
    expect_msg("l1", "(3, 4)", "(4, 3)");
    cr_expect_null(ag_mean(&t, NULL));
    arena_destroy(ar);
    tensor_free(a), tensor_free(b), tensor_free(y), tensor_free(y2);
}
