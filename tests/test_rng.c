/* tests/test_rng.c — Philox4x32-10 (core/philox.h) and the tensor fills (kernels/random.h):
 * Random123 known-answer vectors, the (seed, offset) addressing, independence from the
 * thread count, distribution sanity on 1e6 draws, and the portable log / sincos helpers
 * against libm. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/philox.h"
#include "kernels/random.h"

// ---------------------------------------------------------------------------
// the raw generator

/* From Random123's kat_vectors (philox4x32 10): counter, key, expected output. */
Test(philox, random123_known_answers) {
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
         0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
         0x5001e420, 0x24126ea1},
    };
    for (int k = 0; k < 3; k++) {
        Philox4 c = {{kat[k][0], kat[k][1], kat[k][2], kat[k][3]}};
        Philox4 out = philox4x32_10(c, kat[k][4], kat[k][5]);
        for (int j = 0; j < 4; j++)
            cr_expect_eq(out.v[j], kat[k][6 + j], "vector %d word %d: got %08x want %08x", k, j, out.v[j],
                         kat[k][6 + j]);
    }
}

/* The seed's low word is key 0 and its high word key 1; the block index fills counter
 * words 0 and 1, the tag word 2. */
Test(philox, block_addressing_matches_raw_generator) {
    uint64_t seed = 0x299f31d0a4093822ull, blk = 0x85a308d3243f6a88ull;
    Philox4 a = philox_block(seed, blk, 0x13198a2e);
    Philox4 c = {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0}};
    Philox4 b = philox4x32_10(c, 0xa4093822, 0x299f31d0);
    cr_expect_eq(memcmp(&a, &b, sizeof a), 0);
    /* draw i of the uniform stream is lane i % 4 of block i / 4, tag 0 */
    Philox4 z = philox_block(seed, 5, 0);
    for (unsigned j = 0; j < 4; j++) cr_expect_eq(philox_uniform(seed, 20 + j), philox_u01(z.v[j]));
}

Test(philox, u01_edges) {
    cr_expect_eq(philox_u01(0), 0.0f);
    cr_expect_eq(philox_u01(0xffffffffu), 1.0f - 0x1p-24f); /* largest value below 1 */
    cr_expect_eq(philox_u01_open0(0), 0x1p-24f);             /* log never sees 0 */
    cr_expect_eq(philox_u01_open0(0xffffffffu), 1.0f);
}

// ---------------------------------------------------------------------------
// the portable helpers

Test(philox, logf_matches_libm) {
    double worst = 0, at = 0;
    /* a geometric grid over (0, 1] plus every 24-bit uniform near 1 and near 0 */
    for (int k = 0; k <= 200000; k++) {
        float x = (float)exp(-17.0 * k / 200000.0);
        double e = fabs((double)philox_logf(x) - log((double)x)) / fmax(1.0, fabs(log((double)x)));
        if (e > worst) worst = e, at = x;
    }
    for (uint32_t m = 1; m <= 4096; m++) {
        float xs[2] = {(float)m * 0x1p-24f, 1.0f - (float)(m - 1) * 0x1p-24f};
        for (int j = 0; j < 2; j++) {
            double e = fabs((double)philox_logf(xs[j]) - log((double)xs[j])) / fmax(1.0, fabs(log((double)xs[j])));
            if (e > worst) worst = e, at = xs[j];
        }
    }
    cr_expect_leq(worst, 1e-6, "philox_logf error %g at x = %.9g", worst, at);
    cr_expect_eq(philox_logf(1.0f), 0.0f);
}

Test(philox, sincos2pi_matches_libm) {
    double worst = 0, at = 0;
    for (uint32_t k = 0; k < (1u << 24); k += 7) { /* every 7th 24-bit uniform, quadrant edges below */
        float u = (float)k * 0x1p-24f, s, c;
        philox_sincos2pi(u, &s, &c);
        double e = fmax(fabs(s - sin(2 * M_PI * u)), fabs(c - cos(2 * M_PI * u)));
        if (e > worst) worst = e, at = u;
    }
    const float edges[] = {0.0f, 0.25f, 0.5f, 0.75f, 0.25f - 0x1p-24f, 0.5f - 0x1p-24f, 0.75f - 0x1p-24f,
                           1.0f - 0x1p-24f};
    for (size_t k = 0; k < sizeof edges / sizeof edges[0]; k++) {
        float s, c;
        philox_sincos2pi(edges[k], &s, &c);
        double e = fmax(fabs(s - sin(2 * M_PI * edges[k])), fabs(c - cos(2 * M_PI * edges[k])));
        if (e > worst) worst = e, at = edges[k];
    }
    cr_expect_leq(worst, 1e-6, "philox_sincos2pi error %g at u = %.9g", worst, at);
}

// ---------------------------------------------------------------------------
// fills: addressing and reproducibility

typedef int (*FillFn)(Tensor *, uint64_t, uint64_t);

static Tensor *filled(FillFn f, size_t n, uint64_t seed, uint64_t offset) {
    Tensor *t = tensor_new1(NULL, DEV_CPU, (int)n);
    cr_assert(t);
    for (size_t i = 0; i < n; i++) t->data[i] = NAN;
    cr_assert_eq(f(t, seed, offset), 0, "%s", ldm_last_error());
    return t;
}

static size_t count_bit_diffs(const float *a, const float *b, size_t n) {
    size_t d = 0;
    for (size_t i = 0; i < n; i++) d += memcmp(&a[i], &b[i], sizeof(float)) != 0;
    return d;
}

/* Element i must be exactly philox_uniform / philox_normal(seed, offset + i): the
 * per-block loop of the CPU fill is an implementation of that definition. */
Test(rng, fill_element_i_is_draw_offset_plus_i) {
    const uint64_t seeds[] = {0, 42, 0xdeadbeefcafef00dull};
    const uint64_t offsets[] = {0, 1, 2, 3, 5, 1000003, 0xfffffffffull};
    for (size_t s = 0; s < 3; s++)
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
            for (size_t n = 1; n <= 11; n += 5) {
                Tensor *u = filled(rng_uniform, n, seeds[s], offsets[o]);
                Tensor *z = filled(rng_normal, n, seeds[s], offsets[o]);
                for (size_t i = 0; i < n; i++) {
                    float wu = philox_uniform(seeds[s], offsets[o] + i);
                    float wz = philox_normal(seeds[s], offsets[o] + i);
                    cr_expect_eq(memcmp(&u->data[i], &wu, 4), 0, "uniform seed %zu offset %zu i %zu", s, o, i);
                    cr_expect_eq(memcmp(&z->data[i], &wz, 4), 0, "normal seed %zu offset %zu i %zu", s, o, i);
                }
                tensor_free(u);
                tensor_free(z);
            }
        }
}

Test(rng, same_seed_and_offset_reproduce_bitwise) {
    int shape[4] = {2, 7, 5, 3}; /* odd sizes, numel not a multiple of 4 */
    FillFn fns[2] = {rng_uniform, rng_normal};
    for (int f = 0; f < 2; f++) {
        Tensor *a = tensor_new(NULL, DEV_CPU, 4, shape), *b = tensor_new(NULL, DEV_CPU, 4, shape);
        cr_assert_eq(fns[f](a, 7, 13), 0);
        cr_assert_eq(fns[f](b, 7, 13), 0);
        cr_expect_eq(count_bit_diffs(a->data, b->data, a->numel), 0);
        tensor_free(a);
        tensor_free(b);
    }
}

Test(rng, fill_at_offset_is_tail_of_fill_from_zero) {
    FillFn fns[2] = {rng_uniform, rng_normal};
    const size_t heads[] = {1, 2, 3, 4, 13, 70001};
    for (int f = 0; f < 2; f++)
        for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
            size_t n = 50003; /* above the OpenMP threshold together with the head */
            Tensor *whole = filled(fns[f], heads[h] + n, 99, 0);
            Tensor *tail = filled(fns[f], n, 99, heads[h]);
            cr_expect_eq(count_bit_diffs(tail->data, whole->data + heads[h], n), 0, "fn %d head %zu", f,
                         heads[h]);
            tensor_free(whole);
            tensor_free(tail);
        }
}

Test(rng, result_does_not_depend_on_thread_count) {
    FillFn fns[2] = {rng_uniform, rng_normal};
    for (int f = 0; f < 2; f++) {
        omp_set_num_threads(1);
        Tensor *a = filled(fns[f], 100003, 5, 3);
        omp_set_num_threads(3);
        Tensor *b = filled(fns[f], 100003, 5, 3);
        cr_expect_eq(count_bit_diffs(a->data, b->data, a->numel), 0, "fn %d", f);
        tensor_free(a);
        tensor_free(b);
    }
}

Test(rng, different_seeds_and_streams_differ) {
    size_t n = 4096;
    const uint64_t other[] = {2, 1ull << 32 | 1, 3}; /* low word, high word (key 1), both */
    FillFn fns[2] = {rng_uniform, rng_normal};
    for (int f = 0; f < 2; f++) {
        Tensor *a = filled(fns[f], n, 1, 0);
        for (int k = 0; k < 3; k++) {
            Tensor *b = filled(fns[f], n, other[k], 0);
            /* 24-bit values: a chance coincidence per element is ~2^-24 */
            cr_expect_geq(count_bit_diffs(a->data, b->data, n), n - 2, "fn %d seed %d", f, k);
            tensor_free(b);
        }
        Tensor *c = filled(fns[f], n, 1, n); /* the next n draws of the same stream */
        cr_expect_geq(count_bit_diffs(a->data, c->data, n), n - 2);
        tensor_free(a);
        tensor_free(c);
    }
    /* the uniform and normal streams use different counters (tag) */
    size_t same = 0;
    Philox4 b0 = philox_block(1, 0, 0), b1 = philox_block(1, 0, 1);
    for (int j = 0; j < 4; j++) same += b0.v[j] == b1.v[j];
    cr_expect_eq(same, 0);
}

// ---------------------------------------------------------------------------
// fills: distributions (1e6 draws; bounds are 5 standard errors or looser)

#define NDRAW 1000000

static void moments(const float *x, size_t n, double *mean, double *var) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++) s2 += (x[i] - *mean) * (x[i] - *mean);
    *var = s2 / (double)(n - 1);
}

/* Pearson chi-square of `nb` equiprobable buckets given bucket indices. df = nb - 1;
 * the bound df + 8 sqrt(2 df) is far in the tail (p < 1e-8). */
static double chi_square(const int *count, int nb, size_t n) {
    double e = (double)n / nb, chi = 0;
    for (int k = 0; k < nb; k++) chi += (count[k] - e) * (count[k] - e) / e;
    return chi;
}

Test(rng, uniform_distribution) {
    Tensor *u = filled(rng_uniform, NDRAW, 2024, 17);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < NDRAW; i++) lo = fminf(lo, u->data[i]), hi = fmaxf(hi, u->data[i]);
    cr_expect(lo >= 0.0f && hi < 1.0f, "range [%g, %g]", lo, hi);
    double mean, var;
    moments(u->data, NDRAW, &mean, &var);
    double se_mean = sqrt(1.0 / 12 / NDRAW), se_var = sqrt(1.0 / 180 / NDRAW);
    cr_expect_leq(fabs(mean - 0.5), 5 * se_mean, "mean %g", mean);
    cr_expect_leq(fabs(var - 1.0 / 12), 5 * se_var, "var %g", var);
    enum { NB = 256 };
    int count[NB] = {0};
    for (size_t i = 0; i < NDRAW; i++) count[(int)(u->data[i] * NB)]++;
    double chi = chi_square(count, NB, NDRAW), df = NB - 1;
    cr_expect_leq(chi, df + 8 * sqrt(2 * df), "chi-square %g with %g degrees of freedom", chi, df);
    cr_expect_geq(chi, df - 8 * sqrt(2 * df), "chi-square %g suspiciously small", chi);
    tensor_free(u);
}

Test(rng, normal_distribution) {
    Tensor *z = filled(rng_normal, NDRAW, 2024, 17);
    int finite = 1;
    for (size_t i = 0; i < NDRAW; i++) finite &= isfinite(z->data[i]);
    cr_assert(finite);
    double mean, var;
    moments(z->data, NDRAW, &mean, &var);
    cr_expect_leq(fabs(mean), 5 / sqrt(NDRAW), "mean %g", mean);
    cr_expect_leq(fabs(var - 1), 5 * sqrt(2.0 / NDRAW), "var %g", var);
    /* buckets equiprobable under N(0,1): Phi(z) should be uniform */
    enum { NB = 256 };
    int count[NB] = {0};
    size_t tail3 = 0;
    for (size_t i = 0; i < NDRAW; i++) {
        double p = 0.5 * erfc(-z->data[i] / M_SQRT2);
        int k = (int)(p * NB);
        count[k < NB ? k : NB - 1]++;
        tail3 += fabs(z->data[i]) > 3;
    }
    double chi = chi_square(count, NB, NDRAW), df = NB - 1;
    cr_expect_leq(chi, df + 8 * sqrt(2 * df), "chi-square %g with %g degrees of freedom", chi, df);
    cr_expect_geq(chi, df - 8 * sqrt(2 * df), "chi-square %g suspiciously small", chi);
    /* P(|z| > 3) = 0.0026998; binomial sd on 1e6 draws is 52 */
    cr_expect_leq(fabs((double)tail3 - 2699.8), 5 * 52, "%zu draws beyond 3 sigma", tail3);
    /* neighbouring draws (the Box-Muller pairs) are uncorrelated */
    double c = 0;
    for (size_t i = 0; i + 1 < NDRAW; i += 2) c += (double)z->data[i] * z->data[i + 1];
    c /= NDRAW / 2;
    cr_expect_leq(fabs(c), 5 / sqrt(NDRAW / 2), "pair correlation %g", c);
    tensor_free(z);
}

// ---------------------------------------------------------------------------
// bad arguments

Test(rng, rejects_bad_arguments) {
    cr_expect_eq(rng_uniform(NULL, 1, 0), -1);
    cr_expect(strstr(ldm_last_error(), "rng_uniform") && strstr(ldm_last_error(), "y"), "%s", ldm_last_error());
    Tensor *t = tensor_new2(NULL, DEV_CPU, 3, 5);
    cr_expect_eq(rng_normal(t, 1, UINT64_MAX - 10), -1);
    cr_expect(strstr(ldm_last_error(), "rng_normal") && strstr(ldm_last_error(), "(3, 5)"), "%s",
              ldm_last_error());
    cr_expect_eq(rng_normal(t, 1, UINT64_MAX - 15), 0, "%s", ldm_last_error()); /* the last 15 draws */
#ifndef LDM_CUDA
    Tensor on_gpu = *t; /* a CUDA tensor in a CPU-only build */
    on_gpu.device = DEV_CUDA;
    cr_expect_eq(rng_uniform(&on_gpu, 1, 0), -1);
    cr_expect(strstr(ldm_last_error(), "rng_uniform") && strstr(ldm_last_error(), "CUDA"), "%s",
              ldm_last_error());
#endif
    tensor_free(t);
}
