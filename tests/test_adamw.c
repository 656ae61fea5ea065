/* tests/test_adamw.c — the fused AdamW step against a double-precision reference over
 * several steps (bias correction, decoupled weight decay, grad_scale), and bad arguments. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/adamw.h"
#include "kernels/elementwise.h"
#include "tests/util/testutil.h"

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = ldm_last_error();
    cr_expect(strstr(m, a) && strstr(m, b) && (!c || strstr(m, c)), "message names op and shapes: %s", m);
}

/* m and v can cancel towards 0 while their terms are O(g) ~ 1, so the floor atol is
 * scaled to the terms: |err| <= 1e-5 * (atol + |want|). */
static double max_err(const float *got, const double *want, size_t n, double atol) {
    return tu_max_rel_err(got, want, n, atol, NULL);
}

static void check_against_reference(const AdamWConfig *cfg, float grad_scale, int steps) {
    int shape[2] = {7, 37};
    Tensor *p = tu_param(2, shape, 1, -2, 2);
    Tensor *m = tensor_zeros(NULL, DEV_CPU, 2, shape), *v = tensor_zeros(NULL, DEV_CPU, 2, shape);
    size_t n = p->numel;
    double *rp = malloc(n * sizeof(double)), *rm = calloc(n, sizeof(double)), *rv = calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) rp[i] = p->data[i];
    for (int t = 1; t <= steps; t++) {
        tu_fill_uniform(p->grad, n, 100 + (uint64_t)t, -1.5f, 1.5f);
        p->grad[t] = 0.0f; /* a zero gradient still decays and moves on momentum */
        cr_assert_eq(adamw_step(p, m, v, cfg, t, grad_scale), 0, "%s", ldm_last_error());
        double b1 = cfg->beta1, b2 = cfg->beta2, bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
        for (size_t i = 0; i < n; i++) {
            double g = (double)p->grad[i] * grad_scale;
            rm[i] = b1 * rm[i] + (1 - b1) * g;
            rv[i] = b2 * rv[i] + (1 - b2) * g * g;
            double mhat = rm[i] / bc1, vhat = rv[i] / bc2;
            rp[i] -= cfg->lr * (mhat / (sqrt(vhat) + cfg->eps) + cfg->weight_decay * rp[i]);
        }
        double ep = max_err(p->data, rp, n, 1e-6), em = max_err(m->data, rm, n, 1e-2),
               ev = max_err(v->data, rv, n, 1e-2);
        cr_expect_leq(ep, 1e-5, "step %d: param rel err %g", t, ep);
        cr_expect_leq(em, 1e-5, "step %d: m rel err %g", t, em);
        cr_expect_leq(ev, 1e-5, "step %d: v rel err %g", t, ev);
    }
    free(rp), free(rm), free(rv);
    tensor_free(p), tensor_free(m), tensor_free(v);
}

Test(adamw, matches_double_reference_with_weight_decay_and_grad_scale) {
    AdamWConfig cfg = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.1f};
    check_against_reference(&cfg, 0.37f, 6);
}

Test(adamw, matches_double_reference_plain) {
    AdamWConfig cfg = {.lr = 3e-3f, .beta1 = 0.8f, .beta2 = 0.95f, .eps = 1e-6f, .weight_decay = 0.0f};
    check_against_reference(&cfg, 1.0f, 5);
}

Test(adamw, first_step_moves_by_lr) {
    /* t = 1: mhat = g, vhat = g^2, so with no decay every weight moves by lr * sign(g) */
    AdamWConfig cfg = {.lr = 0.5f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    Tensor *p = tu_param(1, (int[]){9}, 2, -1, 1);
    Tensor *m = tensor_zeros(NULL, DEV_CPU, 1, (int[]){9}), *v = tensor_zeros(NULL, DEV_CPU, 1, (int[]){9});
    float before[9];
    memcpy(before, p->data, sizeof before);
    tu_fill_uniform(p->grad, 9, 3, 0.1f, 1.0f);
    p->grad[4] = -p->grad[4];
    cr_assert_eq(adamw_step(p, m, v, &cfg, 1, 2.0f), 0, "%s", ldm_last_error());
    for (int i = 0; i < 9; i++) {
        float want = before[i] - (p->grad[i] > 0 ? 0.5f : -0.5f);
        cr_expect_float_eq(p->data[i], want, 1e-6, "p[%d] = %g want %g", i, p->data[i], want);
    }
    tensor_free(p), tensor_free(m), tensor_free(v);
}

Test(adamw, rejects_bad_arguments) {
    AdamWConfig cfg = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f};
    Tensor *p = tu_param(2, (int[]){3, 4}, 1, -1, 1);
    Tensor *m = tensor_zeros(NULL, DEV_CPU, 2, (int[]){3, 4}), *v = tensor_zeros(NULL, DEV_CPU, 2, (int[]){3, 4});
    Tensor *mb = tensor_zeros(NULL, DEV_CPU, 2, (int[]){4, 3});
    Tensor *nograd = tensor_zeros(NULL, DEV_CPU, 2, (int[]){3, 4});
    cr_expect_eq(adamw_step(p, mb, v, &cfg, 1, 1.0f), -1);
    expect_msg("adamw", "(3, 4)", "(4, 3)");
    cr_expect_eq(adamw_step(p, m, v, &cfg, 0, 1.0f), -1);
    expect_msg("adamw", "step 0", "(3, 4)");
    cr_expect_eq(adamw_step(nograd, m, v, &cfg, 1, 1.0f), -1);
    expect_msg("adamw", "gradient", "(3, 4)");
    cr_expect_eq(adamw_step(p, m, v, NULL, 1, 1.0f), -1);
    expect_msg("adamw", "config", "(3, 4)");
    AdamWConfig bad = cfg;
    bad.beta2 = 1.0f;
    cr_expect_eq(adamw_step(p, m, v, &bad, 1, 1.0f), -1);
    expect_msg("adamw", "beta2 1", "(3, 4)");
    cr_expect_eq(adamw_step(p, m, v, &cfg, 1, NAN), -1);
    expect_msg("adamw", "grad_scale nan", "(3, 4)");
    /* nothing was modified by the failed calls */
    for (int i = 0; i < 12; i++) cr_expect(m->data[i] == 0.0f && v->data[i] == 0.0f);
    tensor_free(p), tensor_free(m), tensor_free(v), tensor_free(mb), tensor_free(nograd);
}
