/* tests/test_group_norm.c — group norm (NHWC, optional fused SiLU): forward, mean and
 * rstd against a double loop, gradients of x, gamma and beta by finite differences,
 * accumulation, thread-count independence, and bad arguments. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/elementwise.h"
#include "kernels/group_norm.h"
#include "tests/util/testutil.h"

#define EPS 1e-5f

/* y, mean, rstd in double for x (N, L, C) with G groups. */
static void reference(const Tensor *x, const Tensor *gamma, const Tensor *beta, int groups, bool silu, double *y,
                      double *mean, double *rstd) {
    int n_batch = x->shape[0], c = x->shape[x->ndim - 1], cg = c / groups;
    size_t l = x->numel / ((size_t)n_batch * c);
    for (int n = 0; n < n_batch; n++)
        for (int g = 0; g < groups; g++) {
            double s = 0, ss = 0, m = (double)l * cg;
            for (size_t p = 0; p < l; p++)
                for (int j = g * cg; j < (g + 1) * cg; j++) s += x->data[(n * l + p) * c + j];
            double mu = s / m;
            for (size_t p = 0; p < l; p++)
                for (int j = g * cg; j < (g + 1) * cg; j++) {
                    double d = x->data[(n * l + p) * c + j] - mu;
                    ss += d * d;
                }
            double r = 1.0 / sqrt(ss / m + EPS);
            mean[n * groups + g] = mu;
            rstd[n * groups + g] = r;
            for (size_t p = 0; p < l; p++)
                for (int j = g * cg; j < (g + 1) * cg; j++) {
                    size_t i = (n * l + p) * c + j;
                    double z = (x->data[i] - mu) * r * gamma->data[j] + beta->data[j];
                    y[i] = silu ? z / (1 + exp(-z)) : z;
                }
        }
}

static void check_forward(int ndim, const int *shape, int groups, bool silu, float offset) {
    Tensor *x = tu_data(ndim, shape, 11, -2 + offset, 2 + offset); /* offset: a large mean stresses the variance */
    int c = shape[ndim - 1];
    Tensor *gamma = tu_data(1, &c, 12, 0.5f, 1.5f), *beta = tu_data(1, &c, 13, -0.5f, 0.5f);
    Tensor *y = tensor_new(NULL, DEV_CPU, ndim, shape);
    Tensor *mean = tensor_new2(NULL, DEV_CPU, shape[0], groups), *rstd = tensor_new2(NULL, DEV_CPU, shape[0], groups);
    fill(y, NAN);
    fill(mean, NAN);
    fill(rstd, NAN);
    cr_assert_eq(group_norm_forward(x, gamma, beta, groups, EPS, silu, y, mean, rstd), 0, "%s", ldm_last_error());
    double *ry = malloc(x->numel * sizeof(double)), *rm = malloc(mean->numel * sizeof(double)),
           *rr = malloc(mean->numel * sizeof(double));
    reference(x, gamma, beta, groups, silu, ry, rm, rr);
    /* atol 0.1: y = xh gamma + beta cancels near 0, so its error is relative to ~|gamma xh|. */
    double ey = tu_max_rel_err(y->data, ry, y->numel, 0.1, NULL);
    double em = tu_max_rel_err(mean->data, rm, mean->numel, 1e-3, NULL);
    double er = tu_max_rel_err(rstd->data, rr, rstd->numel, 1e-6, NULL);
    /* With an offset, the float mean itself carries half an ulp of |mu| (3e-5 at 1000). */
    double tol_y = offset != 0 ? 1e-3 : 1e-5;
    cr_expect_leq(ey, tol_y, "G=%d silu=%d offset=%g: y max rel err %g", groups, silu, offset, ey);
    cr_expect_leq(em, 1e-5, "mean max rel err %g", em);
    cr_expect_leq(er, 1e-5, "rstd max rel err %g", er);
    free(ry);
    free(rm);
    free(rr);
    tensor_free(x);
    tensor_free(gamma);
    tensor_free(beta);
    tensor_free(y);
    tensor_free(mean);
    tensor_free(rstd);
}

Test(group_norm, forward_matches_double_reference) {
    int odd[4] = {1, 7, 5, 12}; /* batch 1, odd H and W, C = 12 not a multiple of 8 */
    for (int silu = 0; silu < 2; silu++) {
        check_forward(4, odd, 3, silu, 0);
        check_forward(4, odd, 4, silu, 0);
    }
    check_forward(3, (int[]){3, 9, 12}, 4, true, 0); /* rank 3, batch 3 */
    check_forward(4, (int[]){2, 3, 5, 12}, 12, false, 0);
    check_forward(4, (int[]){2, 3, 5, 12}, 1, true, 0);
    check_forward(4, odd, 3, false, 1000.0f); /* mean >> std: a one-pass E[x^2] - E[x]^2 would fail */
    check_forward(4, (int[]){2, 3, 3, 20}, 4, true, 0);  /* two vectors of channels and 4 left over */
    check_forward(4, (int[]){1, 3, 2, 136}, 8, true, 0); /* more than GN_SUM_VECS vectors */
}

// ----------------------------------------------------------------------------
// gradients

typedef struct {
    int groups;
    bool silu;
} GnCtx;

static Tensor *build_gn(Tape *t, Tensor **in, void *ctx) {
    GnCtx *c = ctx;
    return ag_group_norm(t, in[0], in[1], in[2], c->groups, EPS, c->silu);
}

static void check_grad(int ndim, const int *shape, int groups, bool silu) {
    int c = shape[ndim - 1];
    Tensor *in[3] = {tu_param(ndim, shape, 21, -2, 2), tu_param(1, &c, 22, 0.5f, 1.5f),
                     tu_param(1, &c, 23, -0.5f, 0.5f)};
    GnCtx ctx = {groups, silu};
    int bad = tu_gradcheck(build_gn, &ctx, in, 3, NULL);
    cr_expect_eq(bad, 0, "G=%d silu=%d: %d gradient elements off", groups, silu, bad);
    for (int i = 0; i < 3; i++) tensor_free(in[i]);
}

Test(group_norm, gradients_match_finite_differences) {
    for (int silu = 0; silu < 2; silu++) {
        check_grad(4, (int[]){1, 3, 5, 12}, 3, silu);
        check_grad(4, (int[]){2, 3, 3, 12}, 4, silu); /* batch 2: dgamma, dbeta sum over n */
    }
}

/* dx, dgamma, dbeta in double, from x (statistics recomputed in double). */
static void reference_backward(const Tensor *x, const Tensor *gamma, const Tensor *beta, const Tensor *dy, int groups,
                               bool silu, double *dx, double *dgamma, double *dbeta) {
    int n_batch = x->shape[0], c = x->shape[x->ndim - 1], cg = c / groups;
    size_t l = x->numel / ((size_t)n_batch * c);
    double *y = malloc(x->numel * sizeof(double)), *mean = malloc(n_batch * groups * sizeof(double)),
           *rstd = malloc(n_batch * groups * sizeof(double));
    reference(x, gamma, beta, groups, silu, y, mean, rstd);
    for (int j = 0; j < c; j++) dgamma[j] = dbeta[j] = 0;
    for (int n = 0; n < n_batch; n++)
        for (int g = 0; g < groups; g++) {
            double mu = mean[n * groups + g], r = rstd[n * groups + g], s1 = 0, s2 = 0, m = (double)l * cg;
            for (int pass = 0; pass < 2; pass++)
                for (size_t p = 0; p < l; p++)
                    for (int j = g * cg; j < (g + 1) * cg; j++) {
                        size_t i = (n * l + p) * c + j;
                        double xh = (x->data[i] - mu) * r, z = xh * gamma->data[j] + beta->data[j];
                        double sg = 1 / (1 + exp(-z)), gz = dy->data[i] * (silu ? sg * (1 + z * (1 - sg)) : 1);
                        if (pass == 0) {
                            dgamma[j] += gz * xh;
                            dbeta[j] += gz;
                            s1 += gz * gamma->data[j];
                            s2 += gz * gamma->data[j] * xh;
                        } else {
                            dx[i] = r * (gz * gamma->data[j] - s1 / m - xh * s2 / m);
                        }
                    }
        }
    free(y);
    free(mean);
    free(rstd);
}

static void check_backward(const int *shape, int groups) {
    int c = shape[3];
    Tensor *x = tu_data(4, shape, 31, -2, 2), *dy = tu_data(4, shape, 32, -1, 1);
    Tensor *gamma = tu_data(1, &c, 33, 0.5f, 1.5f), *beta = tu_data(1, &c, 34, -0.5f, 0.5f);
    Tensor *y = tensor_like(NULL, x), *mean = tensor_new2(NULL, DEV_CPU, shape[0], groups),
           *rstd = tensor_new2(NULL, DEV_CPU, shape[0], groups);
    double *rdx = malloc(x->numel * sizeof(double)), *rdg = malloc(c * sizeof(double)),
           *rdb = malloc(c * sizeof(double));
    for (int silu = 0; silu < 2; silu++) {
        cr_assert_eq(group_norm_forward(x, gamma, beta, groups, EPS, silu, y, mean, rstd), 0, "%s", ldm_last_error());
        reference_backward(x, gamma, beta, dy, groups, silu, rdx, rdg, rdb);
        Tensor *d[2][3]; /* run 0 from zeros, run 1 from ones */
        for (int r = 0; r < 2; r++) {
            d[r][0] = tensor_like(NULL, x);
            d[r][1] = tensor_like(NULL, gamma);
            d[r][2] = tensor_like(NULL, gamma);
            for (int i = 0; i < 3; i++) fill(d[r][i], (float)r);
            cr_assert_eq(group_norm_backward(x, gamma, beta, mean, rstd, dy, groups, silu, d[r][0], d[r][1], d[r][2]),
                         0, "%s", ldm_last_error());
        }
        const double *want[3] = {rdx, rdg, rdb};
        const char *name[3] = {"dx", "dgamma", "dbeta"};
        for (int i = 0; i < 3; i++) {
            double e = tu_max_rel_err(d[0][i]->data, want[i], d[0][i]->numel, 0.1, NULL);
            cr_expect_leq(e, 1e-4, "C=%d silu=%d: %s max rel err %g", c, silu, name[i], e);
            for (size_t j = 0; j < d[0][i]->numel; j++)
                if (fabsf(d[1][i]->data[j] - (d[0][i]->data[j] + 1.0f)) > 1e-5f) {
                    cr_expect_fail("silu=%d: %s[%zu] = %g, want %g + 1 (backward must accumulate)", silu, name[i], j,
                                   d[1][i]->data[j], d[0][i]->data[j]);
                    break;
                }
        }
        /* Only dx requested, and beta may be NULL without SiLU: dx is unchanged. */
        Tensor *dx_only = tensor_zeros(NULL, DEV_CPU, 4, shape);
        cr_assert_eq(group_norm_backward(x, gamma, silu ? beta : NULL, mean, rstd, dy, groups, silu, dx_only, NULL,
                                         NULL),
                     0, "%s", ldm_last_error());
        cr_expect(memcmp(dx_only->data, d[0][0]->data, tensor_bytes(x)) == 0, "C=%d silu=%d: dx alone differs", c,
                  silu);
        tensor_free(dx_only);
        for (int r = 0; r < 2; r++)
            for (int i = 0; i < 3; i++) tensor_free(d[r][i]);
    }
    free(rdx);
    free(rdg);
    free(rdb);
    Tensor *all[] = {x, dy, gamma, beta, y, mean, rstd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}

Test(group_norm, backward_matches_double_reference_and_accumulates) {
    check_backward((int[]){2, 3, 5, 12}, 3);   /* C = 12: one vector of channels and 4 left over */
    check_backward((int[]){2, 3, 3, 20}, 4);   /* two vectors and 4 left over, summed position by position */
    check_backward((int[]){1, 3, 2, 136}, 8);  /* 17 vectors: more than GN_SUM_VECS, channel by channel */
}

Test(group_norm, results_do_not_depend_on_thread_count) {
    int shape[4] = {2, 33, 33, 32}, c = 32;
    const double par_min = cpu_set_par_min(0); /* threads whatever the size (kernels/cpu/cpu_util.h) */
    Tensor *x = tu_data(4, shape, 41, -2, 2), *dy = tu_data(4, shape, 42, -1, 1);
    Tensor *gamma = tu_data(1, &c, 43, 0.5f, 1.5f), *beta = tu_data(1, &c, 44, -0.5f, 0.5f);
    Tensor *y = tensor_like(NULL, x);
    Tensor *mean = tensor_new2(NULL, DEV_CPU, 2, 8), *rstd = tensor_new2(NULL, DEV_CPU, 2, 8);
    Tensor *dx[2], *dg[2], *db[2];
    int saved = omp_get_max_threads(), threads[2] = {1, 3};
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(threads[r]);
        dx[r] = tensor_zeros(NULL, DEV_CPU, 4, shape);
        dg[r] = tensor_zeros(NULL, DEV_CPU, 1, &c);
        db[r] = tensor_zeros(NULL, DEV_CPU, 1, &c);
        cr_assert_eq(group_norm_forward(x, gamma, beta, 8, EPS, true, y, mean, rstd), 0, "%s", ldm_last_error());
        cr_assert_eq(group_norm_backward(x, gamma, beta, mean, rstd, dy, 8, true, dx[r], dg[r], db[r]), 0, "%s",
                     ldm_last_error());
    }
    omp_set_num_threads(saved);
    cpu_set_par_min(par_min);
    cr_expect(memcmp(dx[0]->data, dx[1]->data, tensor_bytes(x)) == 0, "dx differs between 1 and 3 threads");
    cr_expect(memcmp(dg[0]->data, dg[1]->data, tensor_bytes(gamma)) == 0, "dgamma differs between 1 and 3 threads");
    cr_expect(memcmp(db[0]->data, db[1]->data, tensor_bytes(beta)) == 0, "dbeta differs between 1 and 3 threads");
    Tensor *all[] = {x, dy, gamma, beta, y, mean, rstd, dx[0], dx[1], dg[0], dg[1], db[0], db[1]};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}

// ----------------------------------------------------------------------------
// bad arguments

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = ldm_last_error();
    cr_expect(strstr(m, a) && strstr(m, b) && (!c || strstr(m, c)), "message should name \"%s\", \"%s\"%s%s: %s", a,
              b, c ? ", " : "", c ? c : "", m);
}

Test(group_norm, rejects_bad_shapes) {
    int shape[4] = {1, 5, 7, 12}, c = 12, c8 = 8;
    Tensor *x = tu_data(4, shape, 51, -1, 1), *y = tensor_like(NULL, x);
    Tensor *gamma = tu_data(1, &c, 52, 0.5f, 1.5f), *beta = tu_data(1, &c, 53, -0.5f, 0.5f);
    Tensor *g8 = tu_data(1, &c8, 54, 0.5f, 1.5f);
    Tensor *m5 = tensor_new2(NULL, DEV_CPU, 1, 5), *r5 = tensor_new2(NULL, DEV_CPU, 1, 5);
    Tensor *m4 = tensor_new2(NULL, DEV_CPU, 1, 4), *r4 = tensor_new2(NULL, DEV_CPU, 1, 4);
    Tensor *m2 = tensor_new2(NULL, DEV_CPU, 2, 4);

    cr_expect_eq(group_norm_forward(x, gamma, beta, 5, EPS, false, y, m5, r5), -1, "C = 12 with 5 groups");
    expect_msg("group_norm", "(1, 5, 7, 12)", "groups = 5");
    cr_expect_eq(group_norm_forward(x, gamma, beta, 0, EPS, false, y, m4, r4), -1, "0 groups");
    expect_msg("group_norm", "groups = 0", NULL);
    cr_expect_eq(group_norm_forward(x, g8, beta, 4, EPS, false, y, m4, r4), -1, "gamma (8) for C = 12");
    expect_msg("group_norm", "(8)", "(1, 5, 7, 12)");
    cr_expect_eq(group_norm_forward(x, gamma, g8, 4, EPS, false, y, m4, r4), -1, "beta (8) for C = 12");
    expect_msg("group_norm", "(8)", "(12)");
    cr_expect_eq(group_norm_forward(x, gamma, beta, 4, EPS, false, y, m2, r4), -1, "mean (2, 4) for N = 1");
    expect_msg("group_norm", "(2, 4)", "(1, 5, 7, 12)");
    cr_expect_eq(group_norm_forward(x, gamma, beta, 4, EPS, false, y, m4, NULL), -1, "rstd missing");
    expect_msg("group_norm", "rstd", NULL);
    cr_expect_eq(group_norm_forward(x, gamma, beta, 4, EPS, false, m4, m4, r4), -1, "y of the wrong shape");
    expect_msg("group_norm", "(1, 4)", "(1, 5, 7, 12)");
    cr_expect_eq(group_norm_backward(x, gamma, NULL, m4, r4, y, 4, true, y, NULL, NULL), -1, "fused needs beta");
    expect_msg("group_norm_backward", "beta", NULL);
    cr_expect_eq(group_norm_backward(x, gamma, beta, m4, r4, y, 3, false, y, NULL, NULL), -1, "groups != stats");
    expect_msg("group_norm_backward", "(1, 4)", "(1, 3)");

    Arena *a = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, a);
    cr_expect_null(ag_group_norm(&t, x, gamma, beta, 5, EPS, true));
    expect_msg("group_norm", "(1, 5, 7, 12)", "groups = 5");
    cr_expect_null(ag_group_norm(&t, x, gamma, beta, -1, EPS, true));
    expect_msg("group_norm", "groups = -1", NULL);
    ldm_error("conv2d", "first failure");
    cr_expect_null(ag_group_norm(&t, NULL, gamma, beta, 4, EPS, true));
    cr_expect_str_eq(ldm_last_error(), "conv2d: first failure");
    arena_destroy(a);

    Tensor *all[] = {x, y, gamma, beta, g8, m5, r5, m4, r4, m2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}
