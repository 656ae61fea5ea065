/* tests/test_attention.c — multi-head attention: o and lse against a double loop (self and
 * cross, Lq != Lk, several query and key blocks, large logits), gradients of q, k and v by
 * finite differences, NULL gradients, thread-count independence, and bad arguments. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "tests/util/testutil.h"

/* o (B, Lq, C) and lse (B, heads, Lq) in double. */
static void reference(const Tensor *q, const Tensor *k, const Tensor *v, int heads, double scale, double *o,
                      double *lse) {
    int b_n = q->shape[0], c = q->shape[q->ndim - 1], d = c / heads;
    size_t lq = q->numel / ((size_t)b_n * c), lk = k->numel / ((size_t)b_n * c);
    double *s = malloc(lk * sizeof(double));
    for (int b = 0; b < b_n; b++)
        for (int h = 0; h < heads; h++)
            for (size_t i = 0; i < lq; i++) {
                const float *qi = q->data + (b * lq + i) * c + h * d;
                double mx = -INFINITY, sum = 0;
                for (size_t j = 0; j < lk; j++) {
                    const float *kj = k->data + (b * lk + j) * c + h * d;
                    double dot = 0;
                    for (int e = 0; e < d; e++) dot += (double)qi[e] * kj[e];
                    s[j] = scale * dot;
                    mx = fmax(mx, s[j]);
                }
                for (size_t j = 0; j < lk; j++) sum += exp(s[j] - mx);
                lse[((size_t)b * heads + h) * lq + i] = mx + log(sum);
                for (int e = 0; e < d; e++) {
                    double acc = 0;
                    for (size_t j = 0; j < lk; j++) acc += exp(s[j] - mx) / sum * v->data[(b * lk + j) * c + h * d + e];
                    o[(b * lq + i) * c + h * d + e] = acc;
                }
            }
    free(s);
}

/* q (B, qshape...), k and v (B, Lk, C). */
static void check_forward(int qdim, const int *qshape, int lk, int heads, float scale, float range) {
    int b = qshape[0], c = qshape[qdim - 1];
    Tensor *q = tu_data(qdim, qshape, 1, -range, range);
    Tensor *k = tu_data(3, (int[]){b, lk, c}, 2, -range, range), *v = tu_data(3, (int[]){b, lk, c}, 3, -1, 1);
    int lq = (int)(q->numel / ((size_t)b * c));
    Tensor *o = tensor_like(NULL, q), *lse = tensor_new3(NULL, DEV_CPU, b, heads, lq);
    fill(o, NAN);
    fill(lse, NAN);
    cr_assert_eq(attention_forward(q, k, v, heads, scale, o, lse), 0, "%s", ldm_last_error());
    double *ro = malloc(o->numel * sizeof(double)), *rl = malloc(lse->numel * sizeof(double));
    reference(q, k, v, heads, scale, ro, rl);
    double eo = tu_max_rel_err(o->data, ro, o->numel, 0.1, NULL); /* o is a convex mix of v in [-1, 1] */
    double el = tu_max_rel_err(lse->data, rl, lse->numel, 1.0, NULL);
    /* Large logits (|S| ~ 100) lose float digits in S itself: ~1e-7 |S| absolute. */
    double tol = range > 1 ? 1e-4 : 1e-5;
    cr_expect_leq(eo, tol, "Lq=%d Lk=%d heads=%d C=%d: o max rel err %g", lq, lk, heads, c, eo);
    cr_expect_leq(el, tol, "Lq=%d Lk=%d heads=%d C=%d: lse max rel err %g", lq, lk, heads, c, el);
    free(ro);
    free(rl);
    Tensor *all[] = {q, k, v, o, lse};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}

Test(attention, forward_and_lse_match_double_reference) {
    int heads[2] = {1, 3}, dims[2] = {4, 5}, lks[3] = {3, 1, 35};
    for (int h = 0; h < 2; h++)
        for (int dd = 0; dd < 2; dd++)
            for (int l = 0; l < 3; l++) {
                int c = heads[h] * dims[dd];
                /* q is an NHWC image: Lq = 7 x 5 = 35 tokens (two query blocks) */
                check_forward(4, (int[]){1, 7, 5, c}, lks[l], heads[h], 1.0f / sqrtf((float)dims[dd]), 1.0f);
            }
    check_forward(3, (int[]){2, 40, 12}, 150, 3, 0.5f, 1.0f); /* batch 2, three key blocks, partial last */
    check_forward(3, (int[]){2, 33, 8}, 70, 2, 8.0f, 3.0f);   /* logits up to ~140: needs the max shift */
    check_forward(3, (int[]){1, 130, 8}, 260, 2, 0.5f, 1.0f); /* 3 query and 3 key blocks of 64 x 128, partial last */
}

// ----------------------------------------------------------------------------
// gradients

typedef struct {
    int heads;
} AttCtx;

static Tensor *build_att(Tape *t, Tensor **in, void *ctx) {
    return ag_attention(t, in[0], in[1], in[2], ((AttCtx *)ctx)->heads);
}

static void check_grad(int qdim, const int *qshape, int lk, int heads, int max_per_input) {
    int b = qshape[0], c = qshape[qdim - 1];
    Tensor *in[3] = {tu_param(qdim, qshape, 4, -1.5f, 1.5f), tu_param(3, (int[]){b, lk, c}, 5, -1.5f, 1.5f),
                     tu_param(3, (int[]){b, lk, c}, 6, -1, 1)};
    AttCtx ctx = {heads};
    TuGradOpts opts = {.max_per_input = max_per_input};
    int bad = tu_gradcheck(build_att, &ctx, in, 3, &opts);
    cr_expect_eq(bad, 0, "Lk=%d heads=%d C=%d: %d gradient elements off", lk, heads, c, bad);
    for (int i = 0; i < 3; i++) tensor_free(in[i]);
}

Test(attention, gradients_match_finite_differences) {
    check_grad(4, (int[]){1, 7, 5, 12}, 3, 3, 0); /* cross-attention, D = 4 */
    check_grad(4, (int[]){1, 7, 5, 5}, 1, 1, 0);  /* one key: P = 1, dq = dk = 0 */
    check_grad(4, (int[]){1, 7, 5, 15}, 6, 3, 0); /* D = 5 */
    check_grad(4, (int[]){2, 3, 3, 8}, 9, 2, 0);  /* self-attention sized, batch 2 */
    check_grad(3, (int[]){2, 40, 8}, 70, 2, 64);  /* several query and key blocks */
    check_grad(3, (int[]){1, 70, 8}, 130, 2, 64); /* 2 query and 2 key blocks at 64 x 128 */
}

Test(attention, self_attention_with_one_tensor_for_q_k_v) {
    /* x used three times: its gradient must receive all three contributions. */
    Tensor *x = tu_param(4, (int[]){1, 3, 5, 6}, 7, -1.5f, 1.5f);
    Tensor *in[3] = {x, x, x};
    AttCtx ctx = {2};
    int bad = tu_gradcheck(build_att, &ctx, in, 1, NULL);
    cr_expect_eq(bad, 0, "%d gradient elements off", bad);
    tensor_free(x);
}

/* Runs forward and backward on (2, 64, 16) x (2, 80, 16), 2 heads, with `threads`;
 * dq, dk, dv start at `init` (any may be NULL). */
static void run_backward(int threads, float init, Tensor *dq, Tensor *dk, Tensor *dv) {
    Tensor *q = tu_data(3, (int[]){2, 64, 16}, 8, -1.5f, 1.5f), *k = tu_data(3, (int[]){2, 80, 16}, 9, -1.5f, 1.5f);
    Tensor *v = tu_data(3, (int[]){2, 80, 16}, 10, -1, 1), *dout = tu_data(3, (int[]){2, 64, 16}, 11, -1, 1);
    Tensor *o = tensor_like(NULL, q), *lse = tensor_new3(NULL, DEV_CPU, 2, 2, 64);
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    Tensor *grads[3] = {dq, dk, dv};
    for (int i = 0; i < 3; i++)
        if (grads[i]) fill(grads[i], init);
    cr_assert_eq(attention_forward(q, k, v, 2, 0.35f, o, lse), 0, "%s", ldm_last_error());
    cr_assert_eq(attention_backward(q, k, v, o, lse, dout, 2, 0.35f, dq, dk, dv), 0, "%s", ldm_last_error());
    omp_set_num_threads(saved);
    Tensor *all[] = {q, k, v, dout, o, lse};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}

Test(attention, backward_accumulates_allows_null_and_ignores_thread_count) {
    Tensor *g[4][3];
    for (int r = 0; r < 4; r++) {
        g[r][0] = tensor_new3(NULL, DEV_CPU, 2, 64, 16);
        g[r][1] = tensor_new3(NULL, DEV_CPU, 2, 80, 16);
        g[r][2] = tensor_new3(NULL, DEV_CPU, 2, 80, 16);
    }
    run_backward(1, 0.0f, g[0][0], g[0][1], g[0][2]);
    run_backward(3, 0.0f, g[1][0], g[1][1], g[1][2]);
    run_backward(3, 1.0f, g[2][0], g[2][1], g[2][2]);
    run_backward(3, 0.0f, g[3][0], NULL, NULL);
    run_backward(3, 0.0f, NULL, g[3][1], NULL);
    run_backward(3, 0.0f, NULL, NULL, g[3][2]);
    const char *name[3] = {"dq", "dk", "dv"};
    for (int i = 0; i < 3; i++) {
        const Tensor *a = g[0][i];
        cr_expect(memcmp(a->data, g[1][i]->data, tensor_bytes(a)) == 0, "%s differs between 1 and 3 threads", name[i]);
        cr_expect(memcmp(a->data, g[3][i]->data, tensor_bytes(a)) == 0, "%s alone differs from %s with the others",
                  name[i], name[i]);
        double maxabs = 0;
        for (size_t j = 0; j < a->numel; j++) {
            maxabs = fmax(maxabs, fabs(a->data[j]));
            if (fabsf(g[2][i]->data[j] - (a->data[j] + 1.0f)) > 1e-5f) {
                cr_expect_fail("%s[%zu] = %g, want %g + 1 (backward must accumulate)", name[i], j, g[2][i]->data[j],
                               a->data[j]);
                break;
            }
        }
        cr_expect_gt(maxabs, 1e-3, "%s is all zero", name[i]);
    }
    for (int r = 0; r < 4; r++)
        for (int i = 0; i < 3; i++) tensor_free(g[r][i]);
}

// ----------------------------------------------------------------------------
// bad arguments

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *m = ldm_last_error();
    cr_expect(strstr(m, a) && strstr(m, b) && (!c || strstr(m, c)), "message should name \"%s\", \"%s\"%s%s: %s", a,
              b, c ? ", " : "", c ? c : "", m);
}

Test(attention, rejects_bad_shapes) {
    Tensor *q = tu_data(4, (int[]){1, 7, 5, 12}, 1, -1, 1), *k = tu_data(3, (int[]){1, 3, 12}, 2, -1, 1);
    Tensor *v = tu_data(3, (int[]){1, 3, 12}, 3, -1, 1), *o = tensor_like(NULL, q);
    Tensor *k_b2 = tu_data(3, (int[]){2, 3, 12}, 4, -1, 1), *k_c8 = tu_data(3, (int[]){1, 3, 8}, 5, -1, 1);
    Tensor *v4 = tu_data(3, (int[]){1, 4, 12}, 6, -1, 1), *q2 = tu_data(2, (int[]){35, 12}, 7, -1, 1);
    Tensor *lse = tensor_new3(NULL, DEV_CPU, 1, 3, 35), *lse_bad = tensor_new3(NULL, DEV_CPU, 1, 2, 35);

    cr_expect_eq(attention_forward(q, k, v, 5, 0.5f, o, lse), -1, "5 heads for C = 12");
    expect_msg("attention", "heads = 5", "(1, 7, 5, 12)");
    cr_expect_eq(attention_forward(q, k, v, 0, 0.5f, o, lse), -1, "0 heads");
    expect_msg("attention", "heads = 0", NULL);
    cr_expect_eq(attention_forward(q, k_b2, k_b2, 3, 0.5f, o, lse), -1, "batch 1 vs 2");
    expect_msg("attention", "(1, 7, 5, 12)", "(2, 3, 12)");
    cr_expect_eq(attention_forward(q, k_c8, k_c8, 3, 0.5f, o, lse), -1, "C 12 vs 8");
    expect_msg("attention", "(1, 7, 5, 12)", "(1, 3, 8)");
    cr_expect_eq(attention_forward(q, k, v4, 3, 0.5f, o, lse), -1, "v's Lk differs from k's");
    expect_msg("attention", "(1, 4, 12)", "(1, 3, 12)");
    cr_expect_eq(attention_forward(q2, k, v, 3, 0.5f, q2, lse), -1, "rank 2 q");
    expect_msg("attention", "(35, 12)", "rank");
    cr_expect_eq(attention_forward(q, k, v, 3, 0.5f, o, lse_bad), -1, "lse (1, 2, 35) for 3 heads");
    expect_msg("attention", "(1, 2, 35)", "(1, 3, 35)");
    cr_expect_eq(attention_forward(q, k, v, 3, NAN, o, lse), -1, "NaN scale");
    expect_msg("attention", "scale", NULL);
    cr_expect_eq(attention_forward(q, k, v, 3, 0.5f, k, lse), -1, "o of k's shape");
    expect_msg("attention", "(1, 3, 12)", "(1, 7, 5, 12)");
    cr_expect_eq(attention_backward(q, k, v, o, lse, k, 3, 0.5f, NULL, NULL, NULL), -1, "dout of k's shape");
    expect_msg("attention_backward", "(1, 3, 12)", "(1, 7, 5, 12)");
    cr_expect_eq(attention_backward(q, k, v, o, lse, o, 3, 0.5f, NULL, q, NULL), -1, "dk of q's shape");
    expect_msg("attention_backward", "dk", "(1, 7, 5, 12)");

    Arena *a = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    Tape t;
    tape_init(&t, a);
    cr_expect_null(ag_attention(&t, q, k, v, 5));
    expect_msg("attention", "heads = 5", "(1, 7, 5, 12)");
    cr_expect_null(ag_attention(&t, q, k_b2, k_b2, 3));
    expect_msg("attention", "(1, 7, 5, 12)", "(2, 3, 12)");
    cr_expect_null(ag_attention(&t, q2, k, v, 3));
    expect_msg("attention", "(35, 12)", "rank");
    ldm_error("linear", "first failure");
    cr_expect_null(ag_attention(&t, q, NULL, v, 3));
    cr_expect_str_eq(ldm_last_error(), "linear: first failure");
    arena_destroy(a);

    Tensor *all[] = {q, k, v, o, k_b2, k_c8, v4, q2, lse, lse_bad};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}
