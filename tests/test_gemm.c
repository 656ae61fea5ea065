/* tests/test_gemm.c — the CPU SGEMM against a double-precision triple loop: odd sizes,
 * sizes across the cache blocks (MC 240, KC 256, NC 512 on AVX-512), every transpose
 * combination, beta 0 (C poisoned with NaN) and beta != 0, padded leading dimensions,
 * the same bits on 1 and 2 threads, and bad arguments. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/cpu/gemm.h"
#include "tests/util/testutil.h"

typedef struct {
    int M, N, K;
} Dims;

/* A, B, C with leading dims padded by 3 so that a kernel assuming ld == width fails. */
typedef struct {
    int lda, ldb, ldc;
    float *A, *B, *C;
    double *ref;
} Problem;

static Problem make(Dims d, bool ta, bool tb, float beta, uint64_t seed) {
    Problem p;
    int arows = ta ? d.K : d.M, acols = ta ? d.M : d.K;
    int brows = tb ? d.N : d.K, bcols = tb ? d.K : d.N;
    p.lda = acols + 3, p.ldb = bcols + 3, p.ldc = d.N + 3;
    p.A = malloc((size_t)arows * p.lda * sizeof(float));
    p.B = malloc((size_t)brows * p.ldb * sizeof(float));
    p.C = malloc((size_t)d.M * p.ldc * sizeof(float));
    tu_fill_uniform(p.A, (size_t)arows * p.lda, seed, -1, 1);
    tu_fill_uniform(p.B, (size_t)brows * p.ldb, seed + 1, -1, 1);
    if (beta != 0.0f)
        tu_fill_uniform(p.C, (size_t)d.M * p.ldc, seed + 2, -1, 1);
    else
        for (size_t i = 0; i < (size_t)d.M * p.ldc; i++) p.C[i] = NAN;
    p.ref = malloc((size_t)d.M * d.N * sizeof(double));
    return p;
}

static void reference(Dims d, bool ta, bool tb, float alpha, float beta, Problem *p) {
    for (int m = 0; m < d.M; m++)
        for (int n = 0; n < d.N; n++) {
            double s = 0;
            for (int k = 0; k < d.K; k++) {
                double a = ta ? p->A[(size_t)k * p->lda + m] : p->A[(size_t)m * p->lda + k];
                double b = tb ? p->B[(size_t)n * p->ldb + k] : p->B[(size_t)k * p->ldb + n];
                s += a * b;
            }
            double c0 = beta != 0.0f ? (double)beta * p->C[(size_t)m * p->ldc + n] : 0.0;
            p->ref[(size_t)m * d.N + n] = alpha * s + c0;
        }
}

static void release(Problem *p) {
    free(p->A);
    free(p->B);
    free(p->C);
    free(p->ref);
}

/* Max relative error over C's M x N block; the padding columns must be untouched. */
static double check(Dims d, const Problem *p, float beta) {
    float *got = malloc((size_t)d.M * d.N * sizeof(float));
    for (int m = 0; m < d.M; m++) {
        memcpy(got + (size_t)m * d.N, p->C + (size_t)m * p->ldc, (size_t)d.N * sizeof(float));
        for (int n = d.N; n < p->ldc; n++)
            if (beta == 0.0f) cr_expect(isnan(p->C[(size_t)m * p->ldc + n]), "padding of row %d written", m);
    }
    double e = tu_max_rel_err(got, p->ref, (size_t)d.M * d.N, 0.1, NULL);
    free(got);
    return e;
}

static void run_case(Dims d, bool ta, bool tb, float alpha, float beta) {
    Problem p = make(d, ta, tb, beta, (uint64_t)d.M * 131 + d.N * 7 + d.K + ta * 2 + tb);
    reference(d, ta, tb, alpha, beta, &p);
    int rc = sgemm(ta, tb, d.M, d.N, d.K, alpha, p.A, p.lda, p.B, p.ldb, beta, p.C, p.ldc);
    cr_assert_eq(rc, 0, "%s", ldm_last_error());
    double e = check(d, &p, beta);
    cr_expect_leq(e, 1e-4, "M %d N %d K %d ta %d tb %d alpha %g beta %g: max rel err %g", d.M, d.N, d.K, ta, tb,
                  alpha, beta, e);
    release(&p);
}

static const Dims dims[] = {
    {1, 1, 1},     {1, 37, 5},   {13, 1, 29},   {13, 37, 29},  {12, 32, 8},  /* exactly one micro-tile */
    {50, 67, 300},                                                           /* K across two KC blocks */
    {250, 530, 7},                                                           /* M across MC, N across NC */
    {97, 45, 513},                                                           /* three KC blocks, threaded */
};

Test(gemm, matches_double_reference_all_transposes) {
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                run_case(dims[i], ta, tb, 1.0f, 0.0f);
                run_case(dims[i], ta, tb, 1.0f, 1.0f);
            }
}

Test(gemm, alpha_and_general_beta) {
    run_case((Dims){31, 45, 270}, false, true, 0.5f, -0.75f);
    run_case((Dims){31, 45, 270}, true, false, -2.0f, 0.25f);
}

Test(gemm, k_zero_scales_c) {
    float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {0}, B[1] = {0};
    cr_assert_eq(sgemm(false, false, 2, 3, 0, 1.0f, A, 1, B, 3, 0.5f, C, 3), 0, "%s", ldm_last_error());
    for (int i = 0; i < 6; i++) cr_expect_float_eq(C[i], 0.5f * (i + 1), 1e-7);
    for (int i = 0; i < 6; i++) C[i] = NAN;
    cr_assert_eq(sgemm(false, false, 2, 3, 0, 1.0f, A, 1, B, 3, 0.0f, C, 3), 0);
    for (int i = 0; i < 6; i++) cr_expect_eq(C[i], 0.0f, "beta 0 must not read C");
}

Test(gemm, same_bits_on_one_and_two_threads) {
    Dims d = {203, 150, 300};
    Problem p = make(d, false, true, 1.0f, 9);
    float *c0 = malloc((size_t)d.M * p.ldc * sizeof(float));
    memcpy(c0, p.C, (size_t)d.M * p.ldc * sizeof(float));
    omp_set_num_threads(1);
    cr_assert_eq(sgemm(false, true, d.M, d.N, d.K, 1.0f, p.A, p.lda, p.B, p.ldb, 1.0f, p.C, p.ldc), 0);
    omp_set_num_threads(2);
    cr_assert_eq(sgemm(false, true, d.M, d.N, d.K, 1.0f, p.A, p.lda, p.B, p.ldb, 1.0f, c0, p.ldc), 0);
    cr_expect_eq(memcmp(c0, p.C, (size_t)d.M * p.ldc * sizeof(float)), 0, "1 and 2 threads differ");
    free(c0);
    release(&p);
}

Test(gemm, rejects_bad_arguments) {
    float A[64] = {0}, B[64] = {0}, C[64] = {0};
    cr_expect_eq(sgemm(false, false, 4, 4, 4, 1.0f, A, 3, B, 4, 0.0f, C, 4), -1);
    cr_expect(strstr(ldm_last_error(), "gemm") && strstr(ldm_last_error(), "lda 3"), "%s", ldm_last_error());
    cr_expect_eq(sgemm(false, true, 4, 5, 4, 1.0f, A, 4, B, 3, 0.0f, C, 5), -1);
    cr_expect(strstr(ldm_last_error(), "ldb 3"), "%s", ldm_last_error());
    cr_expect_eq(sgemm(false, false, 4, 4, 4, 1.0f, A, 4, B, 4, 0.0f, C, 2), -1);
    cr_expect(strstr(ldm_last_error(), "ldc 2"), "%s", ldm_last_error());
    cr_expect_eq(sgemm(false, false, -1, 4, 4, 1.0f, A, 4, B, 4, 0.0f, C, 4), -1);
    cr_expect(strstr(ldm_last_error(), "negative"), "%s", ldm_last_error());
    cr_expect_eq(sgemm(false, false, 4, 4, 4, 1.0f, NULL, 4, B, 4, 0.0f, C, 4), -1);
    cr_expect(strstr(ldm_last_error(), "NULL"), "%s", ldm_last_error());
}
