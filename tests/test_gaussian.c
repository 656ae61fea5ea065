/* tests/test_gaussian.c — Gaussian KL and reparameterisation: forward against double
 * formulas (clamped logvar included), gradients by finite differences inside the clamp
 * range, exactly zero gradient through a clamped logvar, bad shapes. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/gaussian.h"
#include "tests/util/testutil.h"

static double clampd(double lv) { return lv < LOGVAR_MIN ? LOGVAR_MIN : lv > LOGVAR_MAX ? LOGVAR_MAX : lv; }

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = ldm_last_error();
    cr_expect(strstr(m, a) && strstr(m, b) && (!c || strstr(m, c)), "message names op and shapes: %s", m);
}

/* mu (2, 3, 5, 4), logvar in [-3, 3] with a few entries pushed past both clamp bounds */
static void make_inputs(Tensor **mu, Tensor **lv, Tensor **eps, bool outside) {
    int shape[4] = {2, 3, 5, 4};
    *mu = tu_param(4, shape, 1, -2, 2);
    *lv = tu_param(4, shape, 2, -3, 3);
    *eps = tu_data(4, shape, 3, -2, 2);
    if (outside) {
        (*lv)->data[0] = -45.0f, (*lv)->data[7] = -30.5f, (*lv)->data[11] = 20.5f, (*lv)->data[50] = 60.0f;
    }
}

Test(gaussian, kl_forward_matches_double) {
    for (int outside = 0; outside < 2; outside++) {
        Tensor *mu, *lv, *eps;
        make_inputs(&mu, &lv, &eps, outside);
        Tensor *y = tensor_new(NULL, DEV_CPU, 1, (int[]){1});
        fill(y, NAN);
        cr_assert_eq(gaussian_kl_forward(mu, lv, y), 0, "%s", ldm_last_error());
        double s = 0;
        for (size_t i = 0; i < mu->numel; i++) {
            double m = mu->data[i], l = clampd(lv->data[i]);
            s += 0.5 * (m * m + exp(l) - 1 - l);
        }
        double want = s / mu->numel, e = fabs(y->data[0] - want) / fabs(want);
        cr_expect_leq(e, 1e-6, "outside %d: kl %.9g want %.9g", outside, y->data[0], want);
        tensor_free(mu), tensor_free(lv), tensor_free(eps), tensor_free(y);
    }
}

Test(gaussian, reparameterize_forward_matches_double) {
    Tensor *mu, *lv, *eps;
    make_inputs(&mu, &lv, &eps, true);
    Tensor *z = tensor_like(NULL, mu);
    fill(z, NAN);
    cr_assert_eq(reparameterize_forward(mu, lv, eps, z), 0, "%s", ldm_last_error());
    double *ref = malloc(mu->numel * sizeof(double));
    for (size_t i = 0; i < mu->numel; i++) ref[i] = mu->data[i] + exp(0.5 * clampd(lv->data[i])) * eps->data[i];
    double e = tu_max_rel_err(z->data, ref, mu->numel, 1e-6, NULL);
    cr_expect_leq(e, 1e-5, "max rel err %g", e);
    free(ref);
    tensor_free(mu), tensor_free(lv), tensor_free(eps), tensor_free(z);
}

static Tensor *build_kl(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_gaussian_kl(t, in[0], in[1]);
}
static Tensor *build_reparam(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_reparameterize(t, in[0], in[1], in[2]);
}

Test(gaussian, gradients_inside_the_clamp_range) {
    Tensor *in[3];
    make_inputs(&in[0], &in[1], &in[2], false);
    /* KL gradients are O(1/n): tu_gradcheck's tolerances are relative to that scale */
    cr_expect_eq(tu_gradcheck(build_kl, NULL, in, 2, NULL), 0, "kl");
    cr_expect_eq(tu_gradcheck(build_reparam, NULL, in, 3, NULL), 0, "reparameterize");
    for (int i = 0; i < 3; i++) tensor_free(in[i]);
}

/* Backward of the KL, or of sum(z): every clamped logvar gets exactly 0, every other one
 * a nonzero gradient, and mu's gradient is untouched by the clamp. */
static void check_clamped_zero(bool kl) {
    Tensor *mu, *lv, *eps;
    make_inputs(&mu, &lv, &eps, true);
    Arena *ar = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, ar);
    Tensor *out = kl ? ag_gaussian_kl(&t, mu, lv) : ag_sum(&t, ag_reparameterize(&t, mu, lv, eps));
    cr_assert(out, "%s", ldm_last_error());
    cr_assert_eq(tape_backward(&t, out, NULL), 0, "%s", ldm_last_error());
    for (size_t i = 0; i < lv->numel; i++) {
        bool clamped = lv->data[i] < LOGVAR_MIN || lv->data[i] > LOGVAR_MAX;
        if (clamped)
            cr_expect_eq(lv->grad[i], 0.0f, "%s: lv %g clamped, grad %g", kl ? "kl" : "reparam", lv->data[i],
                         lv->grad[i]);
        else
            cr_expect_neq(lv->grad[i], 0.0f, "%s: lv %g inside, grad 0", kl ? "kl" : "reparam", lv->data[i]);
        float want_mu = kl ? mu->data[i] / (float)mu->numel : 1.0f;
        cr_expect_float_eq(mu->grad[i], want_mu, 1e-7, "mu grad %g want %g", mu->grad[i], want_mu);
    }
    arena_destroy(ar);
    tensor_free(mu), tensor_free(lv), tensor_free(eps);
}

Test(gaussian, clamped_logvar_gets_zero_gradient) {
    check_clamped_zero(true);
    check_clamped_zero(false);
}

Test(gaussian, rejects_bad_shapes) {
    Tensor *a = tu_data(2, (int[]){3, 4}, 1, -1, 1), *b = tu_data(2, (int[]){4, 3}, 2, -1, 1);
    Tensor *y = tensor_new(NULL, DEV_CPU, 1, (int[]){1}), *y2 = tensor_new(NULL, DEV_CPU, 1, (int[]){2});
    cr_expect_eq(gaussian_kl_forward(a, b, y), -1);
    expect_msg("gaussian_kl", "(3, 4)", "(4, 3)");
    cr_expect_eq(gaussian_kl_forward(a, a, y2), -1);
    expect_msg("gaussian_kl", "(2)", "(3, 4)");
    cr_expect_eq(gaussian_kl_backward(a, a, y, b, NULL), -1);
    expect_msg("gaussian_kl_backward", "(4, 3)", "(3, 4)");
    cr_expect_eq(reparameterize_forward(a, a, b, a), -1);
    expect_msg("reparameterize", "(3, 4)", "(4, 3)");
    cr_expect_eq(reparameterize_backward(a, a, a, NULL, b), -1);
    expect_msg("reparameterize_backward", "(4, 3)", "(3, 4)");
    Arena *ar = arena_create(DEV_CPU, 1 << 16, 1 << 14);
    Tape t;
    tape_init(&t, ar);
    cr_expect_null(ag_reparameterize(&t, a, a, b));
    expect_msg("reparameterize", "(3, 4)", "(4, 3)");
    cr_expect_null(ag_gaussian_kl(&t, a, NULL));
    arena_destroy(ar);
    tensor_free(a), tensor_free(b), tensor_free(y), tensor_free(y2);
}
