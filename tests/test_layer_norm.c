/* tests/test_layer_norm.c — layer norm over the last dim: forward, mean and rstd against
 * a double loop, gradients of x, gamma and beta by finite differences, thread-count
 * independence, and bad arguments. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/layer_norm.h"
#include "tests/util/testutil.h"

#define EPS 1e-5f

static void check_forward(int ndim, const int *shape, float offset) {
    Tensor *x = tu_data(ndim, shape, 1, -2 + offset, 2 + offset);
    int c = shape[ndim - 1], rows = (int)tensor_rows(x);
    Tensor *gamma = tu_data(1, &c, 2, 0.5f, 1.5f), *beta = tu_data(1, &c, 3, -0.5f, 0.5f);
    Tensor *y = tensor_like(NULL, x);
    Tensor *mean = tensor_new1(NULL, DEV_CPU, rows), *rstd = tensor_new1(NULL, DEV_CPU, rows);
    fill(y, NAN);
    fill(mean, NAN);
    fill(rstd, NAN);
    cr_assert_eq(layer_norm_forward(x, gamma, beta, EPS, y, mean, rstd), 0, "%s", ldm_last_error());
    double *ry = malloc(x->numel * sizeof(double)), *rm = malloc(rows * sizeof(double)),
           *rr = malloc(rows * sizeof(double));
    for (int r = 0; r < rows; r++) {
        const float *xr = x->data + (size_t)r * c;
        double s = 0, ss = 0;
        for (int j = 0; j < c; j++) s += xr[j];
        double mu = s / c;
        for (int j = 0; j < c; j++) ss += (xr[j] - mu) * (xr[j] - mu);
        rm[r] = mu;
        rr[r] = 1.0 / sqrt(ss / c + EPS);
        for (int j = 0; j < c; j++) ry[(size_t)r * c + j] = (xr[j] - mu) * rr[r] * gamma->data[j] + beta->data[j];
    }
    /* atol 0.1: y = xh gamma + beta cancels near 0; with an offset the float mean carries
     * half an ulp of |mu|. */
    double ey = tu_max_rel_err(y->data, ry, y->numel, 0.1, NULL);
    double em = tu_max_rel_err(mean->data, rm, rows, 1e-3, NULL);
    double er = tu_max_rel_err(rstd->data, rr, rows, 1e-6, NULL);
    cr_expect_leq(ey, offset != 0 ? 1e-3 : 1e-5, "offset %g: y max rel err %g", offset, ey);
    cr_expect_leq(em, 1e-5, "mean max rel err %g", em);
    cr_expect_leq(er, 1e-5, "rstd max rel err %g", er);
    free(ry);
    free(rm);
    free(rr);
    Tensor *all[] = {x, gamma, beta, y, mean, rstd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}

Test(layer_norm, forward_matches_double_reference) {
    check_forward(3, (int[]){1, 7, 13}, 0);     /* batch 1, odd C */
    check_forward(4, (int[]){2, 3, 5, 12}, 0);  /* NHWC tokens */
    check_forward(1, (int[]){37}, 0);           /* one row */
    check_forward(3, (int[]){1, 7, 13}, 1000);  /* mean >> std */
}

static Tensor *build_ln(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_layer_norm(t, in[0], in[1], in[2], EPS);
}

Test(layer_norm, gradients_match_finite_differences) {
    int shapes[2][3] = {{1, 7, 13}, {3, 5, 12}};
    for (int s = 0; s < 2; s++) {
        int c = shapes[s][2];
        Tensor *in[3] = {tu_param(3, shapes[s], 4, -2, 2), tu_param(1, &c, 5, 0.5f, 1.5f),
                         tu_param(1, &c, 6, -0.5f, 0.5f)};
        int bad = tu_gradcheck(build_ln, NULL, in, 3, NULL);
        cr_expect_eq(bad, 0, "shape %d: %d gradient elements off", s, bad);
        for (int i = 0; i < 3; i++) tensor_free(in[i]);
    }
}

Test(layer_norm, backward_matches_double_reference_accumulates_and_ignores_thread_count) {
    int shape[3] = {4, 300, 40}, c = 40, rows = 1200; /* large enough to go parallel */
    Tensor *x = tu_data(3, shape, 7, -2, 2), *dy = tu_data(3, shape, 8, -1, 1);
    Tensor *gamma = tu_data(1, &c, 9, 0.5f, 1.5f), *beta = tu_data(1, &c, 10, -0.5f, 0.5f);
    Tensor *y = tensor_like(NULL, x);
    Tensor *mean = tensor_new1(NULL, DEV_CPU, rows), *rstd = tensor_new1(NULL, DEV_CPU, rows);
    cr_assert_eq(layer_norm_forward(x, gamma, beta, EPS, y, mean, rstd), 0, "%s", ldm_last_error());
    Tensor *dx[3], *dg[3], *db[3];
    int saved = omp_get_max_threads(), threads[3] = {1, 3, 3};
    for (int r = 0; r < 3; r++) {
        omp_set_num_threads(threads[r]);
        dx[r] = tensor_like(NULL, x);
        dg[r] = tensor_like(NULL, gamma);
        db[r] = tensor_like(NULL, beta);
        float init = r == 2 ? 1.0f : 0.0f; /* run 2 starts from ones: backward must add */
        fill(dx[r], init);
        fill(dg[r], init);
        fill(db[r], init);
        cr_assert_eq(layer_norm_backward(x, gamma, mean, rstd, dy, dx[r], dg[r], db[r]), 0, "%s", ldm_last_error());
    }
    omp_set_num_threads(saved);
    cr_expect(memcmp(dx[0]->data, dx[1]->data, tensor_bytes(x)) == 0, "dx differs between 1 and 3 threads");
    cr_expect(memcmp(dg[0]->data, dg[1]->data, tensor_bytes(gamma)) == 0, "dgamma differs between 1 and 3 threads");
    cr_expect(memcmp(db[0]->data, db[1]->data, tensor_bytes(beta)) == 0, "dbeta differs between 1 and 3 threads");
    /* dx, dgamma, dbeta in double, statistics recomputed from x. */
    double *rdx = malloc(x->numel * sizeof(double)), rdg[40] = {0}, rdb[40] = {0};
    for (int r = 0; r < rows; r++) {
        const float *xr = x->data + (size_t)r * c, *dyr = dy->data + (size_t)r * c;
        double s = 0, ss = 0, s1 = 0, s2 = 0;
        for (int j = 0; j < c; j++) s += xr[j];
        double mu = s / c;
        for (int j = 0; j < c; j++) ss += (xr[j] - mu) * (xr[j] - mu);
        double rs = 1.0 / sqrt(ss / c + EPS);
        for (int j = 0; j < c; j++) {
            double xh = (xr[j] - mu) * rs;
            rdg[j] += dyr[j] * xh;
            rdb[j] += dyr[j];
            s1 += dyr[j] * gamma->data[j];
            s2 += dyr[j] * gamma->data[j] * xh;
        }
        for (int j = 0; j < c; j++)
            rdx[(size_t)r * c + j] = rs * (dyr[j] * gamma->data[j] - s1 / c - (xr[j] - mu) * rs * s2 / c);
    }
    double edx = tu_max_rel_err(dx[0]->data, rdx, x->numel, 0.1, NULL);
    double edg = tu_max_rel_err(dg[0]->data, rdg, c, 0.1, NULL), edb = tu_max_rel_err(db[0]->data, rdb, c, 0.1, NULL);
    cr_expect_leq(edx, 1e-4, "dx max rel err %g", edx);
    cr_expect_leq(edg, 1e-5, "dgamma max rel err %g", edg);
    cr_expect_leq(edb, 1e-5, "dbeta max rel err %g", edb);
    free(rdx);
    for (size_t i = 0; i < x->numel; i++)
        if (fabsf(dx[2]->data[i] - (dx[0]->data[i] + 1.0f)) > 1e-5f) {
            cr_expect_fail("dx[%zu] = %g, want %g + 1", i, dx[2]->data[i], dx[0]->data[i]);
            break;
        }
    for (int j = 0; j < c; j++) {
        cr_expect_float_eq(dg[2]->data[j], dg[0]->data[j] + 1.0f, 1e-4f, "dgamma[%d]", j);
        cr_expect_float_eq(db[2]->data[j], db[0]->data[j] + 1.0f, 1e-4f, "dbeta[%d]", j);
    }
    Tensor *all[] = {x, dy, gamma, beta, y, mean, rstd, dx[0], dx[1], dx[2], dg[0], dg[1], dg[2], db[0], db[1], db[2]};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = ldm_last_error();
    cr_expect(strstr(m, a) && strstr(m, b) && strstr(m, c), "message should name \"%s\", \"%s\", \"%s\": %s", a, b,
              c, m);
}

Test(layer_norm, rejects_bad_shapes) {
    int shape[3] = {2, 7, 13}, c = 13, c12 = 12;
    Tensor *x = tu_data(3, shape, 11, -1, 1), *y = tensor_like(NULL, x);
    Tensor *gamma = tu_data(1, &c, 12, 0.5f, 1.5f), *beta = tu_data(1, &c, 13, -0.5f, 0.5f);
    Tensor *g12 = tu_data(1, &c12, 14, 0.5f, 1.5f);
    Tensor *m14 = tensor_new1(NULL, DEV_CPU, 14), *r14 = tensor_new1(NULL, DEV_CPU, 14);
    Tensor *m7 = tensor_new1(NULL, DEV_CPU, 7);

    cr_expect_eq(layer_norm_forward(x, g12, beta, EPS, y, m14, r14), -1, "gamma (12) for C = 13");
    expect_msg("layer_norm", "(12)", "(2, 7, 13)");
    cr_expect_eq(layer_norm_forward(x, gamma, g12, EPS, y, m14, r14), -1, "beta (12) for C = 13");
    expect_msg("layer_norm", "(12)", "(13)");
    cr_expect_eq(layer_norm_forward(x, gamma, beta, EPS, y, m7, r14), -1, "mean (7) for 14 rows");
    expect_msg("layer_norm", "(7)", "(2, 7, 13)");
    cr_expect_eq(layer_norm_forward(x, gamma, beta, EPS, g12, m14, r14), -1, "y of the wrong shape");
    expect_msg("layer_norm", "(12)", "(2, 7, 13)");
    cr_expect_eq(layer_norm_backward(x, gamma, m14, r14, g12, NULL, NULL, NULL), -1, "dy of the wrong shape");
    expect_msg("layer_norm_backward", "(12)", "(2, 7, 13)");

    Arena *a = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, a);
    cr_expect_null(ag_layer_norm(&t, x, g12, beta, EPS));
    expect_msg("layer_norm", "(12)", "(2, 7, 13)");
    arena_destroy(a);
    Tensor *all[] = {x, y, gamma, beta, g12, m14, r14, m7};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}
