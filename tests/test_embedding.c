/* tests/test_embedding.c — embedding lookup (forward, gradient, repeated ids, bad ids) and
 * the sinusoidal timestep embedding against a double-precision formula. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"
#include "tests/util/testutil.h"

static Tensor *ids_of(int n, const float *v) {
    Tensor *t = tensor_new(NULL, DEV_CPU, 1, (int[]){n});
    memcpy(t->data, v, (size_t)n * sizeof(float));
    return t;
}

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = ldm_last_error();
    cr_expect(strstr(m, a) && strstr(m, b) && (!c || strstr(m, c)), "message names op and shapes: %s", m);
}

Test(embedding, forward_copies_rows) {
    const int V = 7, D = 13, N = 5;
    Tensor *table = tu_data(2, (int[]){V, D}, 1, -1, 1);
    Tensor *ids = ids_of(N, (float[]){3, 0, 6, 3, 1});
    Tensor *y = tensor_new(NULL, DEV_CPU, 2, (int[]){N, D});
    fill(y, NAN);
    cr_assert_eq(embedding_forward(table, ids, y), 0, "%s", ldm_last_error());
    int bad = 0;
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) bad += y->data[n * D + d] != table->data[(int)ids->data[n] * D + d];
    cr_expect_eq(bad, 0, "%d elements differ", bad);
    tensor_free(table), tensor_free(ids), tensor_free(y);
}

static Tensor *build_embedding(Tape *t, Tensor **in, void *ctx) { return ag_embedding(t, in[0], ctx); }

Test(embedding, gradient_matches_finite_differences) {
    Tensor *table = tu_param(2, (int[]){6, 5}, 2, -1, 1);
    Tensor *ids = ids_of(4, (float[]){5, 1, 1, 0});
    cr_expect_eq(tu_gradcheck(build_embedding, ids, &table, 1, NULL), 0);
    tensor_free(table), tensor_free(ids);
}

Test(embedding, repeated_ids_accumulate) {
    const int V = 4, D = 3, N = 5;
    float idv[5] = {2, 0, 2, 2, 0};
    Tensor *ids = ids_of(N, idv);
    Tensor *dy = tu_data(2, (int[]){N, D}, 3, -1, 1);
    Tensor *dt = tensor_new(NULL, DEV_CPU, 2, (int[]){V, D});
    fill(dt, 0.25f); /* backward accumulates onto what is there */
    cr_assert_eq(embedding_backward(ids, dy, dt), 0, "%s", ldm_last_error());
    for (int v = 0; v < V; v++)
        for (int d = 0; d < D; d++) {
            float want = 0.25f; /* rows summed in order of n, as the kernel promises */
            for (int n = 0; n < N; n++)
                if ((int)idv[n] == v) want += dy->data[n * D + d];
            cr_expect_eq(dt->data[v * D + d], want, "dtable[%d, %d] = %g, want %g", v, d, dt->data[v * D + d], want);
        }
    tensor_free(ids), tensor_free(dy), tensor_free(dt);
}

Test(embedding, bad_ids_and_shapes_are_errors) {
    Tensor *table = tu_data(2, (int[]){4, 3}, 4, -1, 1);
    Tensor *y = tensor_new(NULL, DEV_CPU, 2, (int[]){3, 3});
    float cases[3][3] = {{0, 4, 1}, {0, -1, 1}, {0, 1.5f, 1}};
    for (int k = 0; k < 3; k++) {
        Tensor *ids = ids_of(3, cases[k]);
        fill(y, 0.0f);
        cr_expect_eq(embedding_forward(table, ids, y), -1, "case %d", k);
        expect_msg("embedding", "(4, 3)", "(3)");
        cr_expect(strstr(ldm_last_error(), "ids[1]"), "names the bad id: %s", ldm_last_error());
        cr_expect_eq(embedding_backward(ids, y, table), -1, "case %d", k);
        expect_msg("embedding_backward", "(4, 3)", "(3)");
        tensor_free(ids);
    }
    float nan_id[1] = {NAN};
    Tensor *idn = ids_of(1, nan_id), *y1 = tensor_new(NULL, DEV_CPU, 2, (int[]){1, 3});
    cr_expect_eq(embedding_forward(table, idn, y1), -1, "NaN id");
    Tensor *ids = ids_of(2, (float[]){0, 1});
    cr_expect_eq(embedding_forward(table, ids, y), -1);
    expect_msg("embedding", "(3, 3)", "(2)");
    Tensor *y2 = tensor_new(NULL, DEV_CPU, 2, (int[]){2, 4});
    cr_expect_eq(embedding_forward(table, ids, y2), -1);
    expect_msg("embedding", "(2, 4)", "(4, 3)");

    Arena *ar = arena_create(DEV_CPU, 1 << 16, 1 << 14);
    Tape t;
    tape_init(&t, ar);
    cr_expect_null(ag_embedding(&t, table, idn));
    expect_msg("embedding", "(4, 3)", "(1)");
    arena_destroy(ar);
    tensor_free(table), tensor_free(y), tensor_free(idn), tensor_free(y1), tensor_free(ids), tensor_free(y2);
}

// ----------------------------------------------------------------------------
// timestep embedding

Test(embedding, timestep_embedding_matches_double_formula) {
    const int N = 6, dim = 10, half = dim / 2; /* odd half */
    Tensor *t = ids_of(N, (float[]){0, 1, 17, 500.5f, 999, 3.25f});
    Tensor *y = tensor_new(NULL, DEV_CPU, 2, (int[]){N, dim});
    fill(y, NAN);
    cr_assert_eq(timestep_embedding_forward(t, 10000.0f, y), 0, "%s", ldm_last_error());
    double ref[N * dim];
    for (int n = 0; n < N; n++)
        for (int i = 0; i < half; i++) {
            double f = exp(-log(10000.0) * i / half), a = t->data[n] * f;
            ref[n * dim + i] = cos(a);
            ref[n * dim + half + i] = sin(a);
        }
    double e = tu_max_rel_err(y->data, ref, (size_t)N * dim, 1e-6, NULL);
    cr_expect_leq(e, 1e-5, "max rel err %g", e);
    tensor_free(t), tensor_free(y);
}

Test(embedding, ag_timestep_embedding_never_records) {
    Arena *ar = arena_create(DEV_CPU, 1 << 16, 1 << 14);
    Tape tp;
    tape_init(&tp, ar);
    Tensor *ts = tu_param(1, (int[]){3}, 5, 0, 1000); /* even a tensor flagged requires_grad */
    Tensor *y = ag_timestep_embedding(&tp, ts, 8);
    cr_assert(y, "%s", ldm_last_error());
    cr_expect(y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 8);
    cr_expect_eq(tp.n_nodes, 0);
    cr_expect(!y->requires_grad);
    /* cos(0 * f) = 1 for the first half at t = 0; max_period 10000: f_1 = 10000^(-1/4) = 0.1 */
    Tensor *t0 = ids_of(1, (float[]){10});
    Tensor *y0 = ag_timestep_embedding(&tp, t0, 8);
    cr_expect_float_eq(y0->data[1], (float)cos(1.0), 1e-6, "cos(10 * 0.1) = %g", y0->data[1]);
    cr_expect_null(ag_timestep_embedding(&tp, ts, 7));
    expect_msg("timestep_embedding", "7", "(3)");
    arena_destroy(ar);
    tensor_free(ts), tensor_free(t0);
}

Test(embedding, timestep_embedding_rejects_bad_shapes) {
    Tensor *t = ids_of(3, (float[]){1, 2, 3});
    Tensor *y = tensor_new(NULL, DEV_CPU, 2, (int[]){3, 5});
    cr_expect_eq(timestep_embedding_forward(t, 10000.0f, y), -1);
    expect_msg("timestep_embedding", "(3, 5)", "(3)");
    Tensor *y2 = tensor_new(NULL, DEV_CPU, 2, (int[]){2, 4});
    cr_expect_eq(timestep_embedding_forward(t, 10000.0f, y2), -1);
    expect_msg("timestep_embedding", "(2, 4)", "(3)");
    Tensor *y3 = tensor_new(NULL, DEV_CPU, 2, (int[]){3, 4});
    cr_expect_eq(timestep_embedding_forward(t, 0.0f, y3), -1);
    expect_msg("timestep_embedding", "max_period", "(3)");
    tensor_free(t), tensor_free(y), tensor_free(y2), tensor_free(y3);
}
