/* tests/test_linear.c — linear forward and gradients against double-precision loops for
 * x of rank 1 to 4 with odd sizes, accumulation into existing gradients, finite
 * differences through ag_linear (with and without bias), and the shape errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "tests/util/testutil.h"

typedef struct {
    int ndim, shape[4]; /* x; the last dim is IN */
    int out;
    bool bias;
} Case;

static const Case cases[] = {
    {1, {13}, 7, true},       {2, {1, 5}, 3, false},         {2, {9, 13}, 7, true},
    {3, {2, 5, 13}, 33, false}, {4, {2, 3, 5, 7}, 5, true},
    {2, {300, 70}, 90, true}, /* thin forward: 6 blocks of 16 outputs, the last one partial */
    {2, {6, 21}, 9, true}, /* the few-rows forward: a block of 4 rows and 2 more, IN % 8 = 5, OUT odd */
    {2, {1237, 100}, 40, true}, /* thin forward on two threads (9.9 MFLOP), a chunk of 37 rows at the end */
    {2, {50, 131}, 20, true},   /* IN > THIN_IN: the GEMM */
    {3, {4, 128, 32}, 32, false}, /* the VAE's attention projections, scaled down */
};

static Tensor *out_like(const Case *k) {
    int s[4];
    memcpy(s, k->shape, sizeof s);
    s[k->ndim - 1] = k->out;
    return tensor_new(NULL, DEV_CPU, k->ndim, s);
}

Test(linear, forward_matches_double_reference) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const Case *k = &cases[i];
        Tensor *x = tu_data(k->ndim, k->shape, 1 + i, -1, 1);
        int in = k->shape[k->ndim - 1], rows = (int)(x->numel / in);
        Tensor *w = tu_data(2, (int[]){k->out, in}, 10 + i, -1, 1);
        Tensor *b = k->bias ? tu_data(1, (int[]){k->out}, 20 + i, -1, 1) : NULL;
        Tensor *y = out_like(k);
        fill(y, NAN);
        cr_assert_eq(linear_forward(x, w, b, y), 0, "case %zu: %s", i, ldm_last_error());
        double *ref = malloc(y->numel * sizeof(double));
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < k->out; o++) {
                double s = b ? b->data[o] : 0.0;
                for (int j = 0; j < in; j++) s += (double)x->data[(size_t)r * in + j] * w->data[(size_t)o * in + j];
                ref[(size_t)r * k->out + o] = s;
            }
        double e = tu_max_rel_err(y->data, ref, y->numel, 1.0, NULL);
        cr_expect_leq(e, 1e-5, "case %zu: max rel err %g", i, e);
        free(ref);
        tensor_free(x);
        tensor_free(w);
        tensor_free(b);
        tensor_free(y);
    }
}

Test(linear, backward_accumulates_double_reference) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const Case *k = &cases[i];
        Tensor *x = tu_data(k->ndim, k->shape, 30 + i, -1, 1);
        int in = k->shape[k->ndim - 1], rows = (int)(x->numel / in);
        Tensor *w = tu_data(2, (int[]){k->out, in}, 40 + i, -1, 1);
        Tensor *dy = out_like(k);
        tu_fill_uniform(dy->data, dy->numel, 50 + i, -1, 1);
        Tensor *dx = tu_data(k->ndim, k->shape, 60 + i, -1, 1), *dw = tu_data(2, w->shape, 70 + i, -1, 1);
        Tensor *db = tu_data(1, (int[]){k->out}, 80 + i, -1, 1);
        double *rdx = malloc(dx->numel * sizeof(double)), *rdw = malloc(dw->numel * sizeof(double));
        double *rdb = malloc(db->numel * sizeof(double));
        for (size_t j = 0; j < dx->numel; j++) rdx[j] = dx->data[j];
        for (size_t j = 0; j < dw->numel; j++) rdw[j] = dw->data[j];
        for (size_t j = 0; j < db->numel; j++) rdb[j] = db->data[j];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < k->out; o++) {
                double g = dy->data[(size_t)r * k->out + o];
                rdb[o] += g;
                for (int j = 0; j < in; j++) {
                    rdx[(size_t)r * in + j] += g * w->data[(size_t)o * in + j];
                    rdw[(size_t)o * in + j] += g * x->data[(size_t)r * in + j];
                }
            }
        cr_assert_eq(linear_backward(x, w, dy, dx, dw, db), 0, "case %zu: %s", i, ldm_last_error());
        double ex = tu_max_rel_err(dx->data, rdx, dx->numel, 1.0, NULL);
        double ew = tu_max_rel_err(dw->data, rdw, dw->numel, 1.0, NULL);
        double eb = tu_max_rel_err(db->data, rdb, db->numel, 1.0, NULL);
        cr_expect_leq(ex, 1e-5, "case %zu: dx max rel err %g", i, ex);
        cr_expect_leq(ew, 1e-5, "case %zu: dw max rel err %g", i, ew);
        cr_expect_leq(eb, 1e-5, "case %zu: db max rel err %g", i, eb);
        free(rdx);
        free(rdw);
        free(rdb);
        Tensor *list[] = {x, w, dy, dx, dw, db};
        for (int j = 0; j < 6; j++) tensor_free(list[j]);
    }
}

/* The thin forward cuts rows into chunks shared by the threads: one thread and two give the
 * same bits (2 * 1237 * 100 * 40 FLOP is above cpu_par_flops's threshold). */
Test(linear, thin_forward_same_bits_on_1_and_2_threads) {
    Tensor *x = tu_data(2, (int[]){1237, 100}, 5, -1, 1), *w = tu_data(2, (int[]){40, 100}, 6, -1, 1);
    Tensor *b = tu_data(1, (int[]){40}, 7, -1, 1);
    Tensor *y1 = tensor_new2(NULL, DEV_CPU, 1237, 40), *y2 = tensor_new2(NULL, DEV_CPU, 1237, 40);
    int nt = omp_get_max_threads();
    omp_set_num_threads(1);
    cr_assert_eq(linear_forward(x, w, b, y1), 0, "%s", ldm_last_error());
    omp_set_num_threads(2);
    cr_assert_eq(linear_forward(x, w, b, y2), 0, "%s", ldm_last_error());
    omp_set_num_threads(nt);
    cr_expect_eq(memcmp(y1->data, y2->data, y1->numel * sizeof(float)), 0, "1 and 2 threads differ");
    Tensor *list[] = {x, w, b, y1, y2};
    for (int j = 0; j < 5; j++) tensor_free(list[j]);
}

static Tensor *build_linear(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_linear(t, in[0], in[1], in[2]);
}

static Tensor *build_linear_nobias(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_linear(t, in[0], in[1], NULL);
}

Test(linear, gradient_matches_finite_differences) {
    Tensor *in[3] = {tu_param(3, (int[]){2, 3, 7}, 1, -1, 1), tu_param(2, (int[]){5, 7}, 2, -1, 1),
                     tu_param(1, (int[]){5}, 3, -1, 1)};
    int bad = tu_gradcheck(build_linear, NULL, in, 3, NULL);
    cr_expect_eq(bad, 0, "%d gradient elements off", bad);
    bad = tu_gradcheck(build_linear_nobias, NULL, in, 2, NULL);
    cr_expect_eq(bad, 0, "without bias: %d gradient elements off", bad);
    tensor_free(in[0]);
    in[0] = tu_param(1, (int[]){7}, 4, -1, 1); /* rank 1 */
    bad = tu_gradcheck(build_linear, NULL, in, 3, NULL);
    cr_expect_eq(bad, 0, "rank 1: %d gradient elements off", bad);
    for (int j = 0; j < 3; j++) tensor_free(in[j]);
}

static void expect_error(int rc, const char *a, const char *b) {
    const char *m = ldm_last_error();
    cr_expect_eq(rc, -1);
    cr_expect(strstr(m, "linear") && strstr(m, a) && (!b || strstr(m, b)), "message should name the op and %s %s: %s",
              a, b ? b : "", m);
}

Test(linear, rejects_bad_shapes) {
    Tensor *x = tu_data(3, (int[]){2, 3, 7}, 1, -1, 1);
    Tensor *w = tu_data(2, (int[]){5, 7}, 2, -1, 1);
    Tensor *w_in = tu_data(2, (int[]){5, 6}, 3, -1, 1);
    Tensor *w3 = tu_data(3, (int[]){1, 5, 7}, 4, -1, 1);
    Tensor *y = tensor_new3(NULL, DEV_CPU, 2, 3, 5);
    Tensor *y_bad = tensor_new3(NULL, DEV_CPU, 3, 2, 5);
    Tensor *b_bad = tu_data(1, (int[]){4}, 5, -1, 1);
    expect_error(linear_forward(x, w_in, NULL, y), "(2, 3, 7)", "(5, 6)");
    expect_error(linear_forward(x, w3, NULL, y), "(1, 5, 7)", "2 dims");
    expect_error(linear_forward(x, w, NULL, y_bad), "y (3, 2, 5)", "(2, 3, 7)");
    expect_error(linear_forward(x, w, b_bad, y), "bias (4)", "(5, 7)");
    expect_error(linear_backward(x, w, y_bad, NULL, NULL, NULL), "dy (3, 2, 5)", NULL);
    expect_error(linear_backward(x, w, y, y, NULL, NULL), "dx (2, 3, 5)", "(2, 3, 7)");
    expect_error(linear_backward(x, w, y, NULL, w_in, NULL), "dw (5, 6)", "(5, 7)");
    expect_error(linear_backward(x, w, y, NULL, NULL, b_bad), "db (4)", NULL);
    Arena *a = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, a);
    cr_expect_null(ag_linear(&t, x, w_in, NULL));
    cr_expect(strstr(ldm_last_error(), "linear"), "%s", ldm_last_error());
    cr_expect_null(ag_linear(&t, NULL, w, NULL), "NULL in, NULL out");
    arena_destroy(a);
    Tensor *list[] = {x, w, w_in, w3, y, y_bad, b_bad};
    for (int j = 0; j < 7; j++) tensor_free(list[j]);
}
