/* tests/test_eval_metrics.c — ldm-eval's metrics against values derived by hand or by an
 * independent implementation:
 *   - Fréchet distance: identical sets give 0; a shifted set gives |shift|^2 and a set scaled
 *     by 2 gives tr(S) (both exact from the samples' own statistics); two non-commuting 2x2
 *     covariances match the closed form tr sqrt(A) = sqrt(tr A + 2 sqrt(det A)) for a 2x2
 *     A with non-negative eigenvalues; a singular covariance is fine.
 *   - PSNR of a constant offset, SSIM of constant images (only the luminance term is left),
 *     SSIM and MS-SSIM of smooth test patterns against a plain-Python reference.
 *   - precision / recall / memorisation on point sets whose k-NN balls are worked out below.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/frechet.h"
#include "sample/image_quality.h"
#include "sample/knn_metrics.h"
#include "tests/util/testutil.h"

// ----------------------------------------------------------------------------
// Fréchet distance

/* n points of N(0, 1)^d, approximately (sum of 12 uniforms - 6), plus a per-axis scale so
 * the covariance is not a multiple of I. */
static float *gauss_points(int n, int d, uint64_t seed) {
    float *u = malloc((size_t)n * d * 12 * sizeof(float)), *x = malloc((size_t)n * d * sizeof(float));
    tu_fill_uniform(u, (size_t)n * d * 12, seed, 0, 1);
    for (size_t i = 0; i < (size_t)n * d; i++) {
        double s = -6;
        for (int k = 0; k < 12; k++) s += u[i * 12 + k];
        x[i] = (float)(s * (1 + (double)(i % d) / d) + 0.3 * (double)((i / d) % 3) * (i % d == 0));
    }
    free(u);
    return x;
}

Test(frechet, identical_sets_give_zero) {
    const int n = 300, d = 16;
    float *x = gauss_points(n, d, 1);
    double fd;
    cr_assert_eq(frechet_distance_sets(x, n, x, n, d, &fd), 0, "%s", ldm_last_error());
    cr_expect(fabs(fd) < 1e-9, "FD(x, x) = %g", fd);
    free(x);
}

Test(frechet, shifted_set_gives_squared_shift_and_scaled_set_its_trace) {
    const int n = 400, d = 12;
    float *x = gauss_points(n, d, 2), *y = malloc((size_t)n * d * sizeof(float));
    double shift2 = 0;
    for (int j = 0; j < d; j++) shift2 += (0.25 * (j + 1)) * (0.25 * (j + 1));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) y[i * d + j] = x[i * d + j] + 0.25f * (j + 1); /* exact in float? close */
    GaussStats a, b;
    cr_assert_eq(gauss_stats(x, n, d, &a), 0);
    cr_assert_eq(gauss_stats(y, n, d, &b), 0);
    double fd, dm = 0;
    for (int j = 0; j < d; j++) dm += (b.mean[j] - a.mean[j]) * (b.mean[j] - a.mean[j]);
    cr_assert_eq(frechet_distance(&a, &b, &fd), 0, "%s", ldm_last_error());
    /* same covariance (up to the float rounding of y), so FD = |m_y - m_x|^2 = sum (0.25 (j+1))^2 */
    cr_expect(fabs(fd - shift2) < 1e-4 * shift2, "FD %.9g, |shift|^2 %.9g", fd, shift2);
    cr_expect(fabs(dm - shift2) < 1e-5 * shift2);
    gauss_stats_free(&b);
    /* y = 2x: S_y = 4 S, m_y = 2 m: FD = |m|^2 + tr S + 4 tr S - 2 tr sqrt(4 S^2) = |m|^2 + tr S */
    for (size_t i = 0; i < (size_t)n * d; i++) y[i] = 2 * x[i];
    cr_assert_eq(gauss_stats(y, n, d, &b), 0);
    double want = 0;
    for (int j = 0; j < d; j++) want += a.mean[j] * a.mean[j] + a.cov[j * d + j];
    cr_assert_eq(frechet_distance(&a, &b, &fd), 0);
    cr_expect(fabs(fd - want) < 1e-9 * want, "FD %.12g, want %.12g", fd, want);
    gauss_stats_free(&a), gauss_stats_free(&b);
    free(x), free(y);
}

Test(frechet, non_commuting_2x2_matches_closed_form) {
    /* S1 = [[2, 1], [1, 1]], S2 = [[1, -0.5], [-0.5, 3]] do not commute (S1 S2 != S2 S1).
     * tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)); tr(S1 S2) = 2 - 0.5 - 0.5 + 3 = 4,
     * det S1 = 1, det S2 = 2.75: sqrt(4 + 2 sqrt(2.75)). Means (1, 2) and (0, 0): |dm|^2 = 5. */
    double m1[2] = {1, 2}, m2[2] = {0, 0}, c1[4] = {2, 1, 1, 1}, c2[4] = {1, -0.5, -0.5, 3};
    GaussStats a = {2, 0, m1, c1}, b = {2, 0, m2, c2};
    double fd, want = 5 + 3 + 4 - 2 * sqrt(4 + 2 * sqrt(2.75));
    cr_assert_eq(frechet_distance(&a, &b, &fd), 0, "%s", ldm_last_error());
    cr_expect(fabs(fd - want) < 1e-12, "FD %.15g, closed form %.15g", fd, want);
    /* symmetric in its arguments */
    double fd2;
    cr_assert_eq(frechet_distance(&b, &a, &fd2), 0);
    cr_expect(fabs(fd2 - want) < 1e-12);
}

Test(frechet, singular_covariance_is_fine) {
    /* 5 points in 8 dimensions: rank-4 covariance. FD against itself is 0, against a copy
     * shifted by (1, 0, ...) is 1. */
    const int n = 5, d = 8;
    float *x = gauss_points(n, d, 3), y[40];
    for (int i = 0; i < n * d; i++) y[i] = x[i] + (i % d == 0 ? 1.0f : 0.0f);
    double fd;
    cr_assert_eq(frechet_distance_sets(x, n, x, n, d, &fd), 0, "%s", ldm_last_error());
    cr_expect(fabs(fd) < 1e-6, "FD %g", fd);
    cr_assert_eq(frechet_distance_sets(x, n, y, n, d, &fd), 0);
    cr_expect(fabs(fd - 1) < 1e-5, "FD %g", fd);
    free(x);
}

Test(frechet, jacobi_eigenpairs_reconstruct_the_matrix) {
    const int d = 6;
    double a[36], c[36], w[6], v[36];
    float r[36];
    tu_fill_uniform(r, 36, 9, -1, 1);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) a[i * d + j] = c[i * d + j] = r[i * d + j] + r[j * d + i];
    cr_assert_eq(sym_eig(a, d, w, v), 0);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < d; j++) {
            double s = 0;
            for (int k = 0; k < d; k++) s += v[i * d + k] * w[k] * v[j * d + k];
            cr_expect(fabs(s - c[i * d + j]) < 1e-12, "(%d, %d): %g vs %g", i, j, s, c[i * d + j]);
        }
}

// ----------------------------------------------------------------------------
// PSNR, SSIM, MS-SSIM

static void pattern(float *a, float *b, int w, int h, int k) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = sin(0.37 * x + 0.11 * y * k) * 0.8 + 0.15 * cos(0.9 * y - 0.2 * x);
            a[y * w + x] = (float)fmax(-1.0, fmin(1.0, v));
            b[y * w + x] = (float)((double)a[y * w + x] + 0.2 * sin(1.7 * x * k + 2.3 * y));
        }
}

Test(image_quality, psnr_of_a_constant_offset) {
    float a[64], b[64];
    for (int i = 0; i < 64; i++) a[i] = -0.3f, b[i] = -0.2f;
    /* MSE = 0.1^2 (in float: 0.1 up to 3e-9), range 2: 10 log10(4 / 0.01) = 26.0206 dB */
    cr_expect(fabs(psnr(a, b, 8, 8, 2.0) - 10 * log10(400.0)) < 1e-5, "%.9f", psnr(a, b, 8, 8, 2.0));
}

Test(image_quality, ssim_of_identical_and_constant_images) {
    float a[16 * 16], b[16 * 16];
    pattern(a, b, 16, 16, 1);
    double s, cs;
    cr_assert_eq(ssim(a, a, 16, 16, 2.0, &s, &cs), 0);
    cr_expect(fabs(s - 1) < 1e-12 && fabs(cs - 1) < 1e-12, "SSIM(a, a) = %.15g, CS %.15g", s, cs);
    /* constant 0.5 vs -0.5: no variance, so cs = C2 / C2 = 1 and SSIM = l =
     * (2 (0.5)(-0.5) + C1) / (0.25 + 0.25 + C1), C1 = (0.01 * 2)^2 = 0.0004 */
    for (int i = 0; i < 256; i++) a[i] = 0.5f, b[i] = -0.5f;
    cr_assert_eq(ssim(a, b, 16, 16, 2.0, &s, &cs), 0);
    cr_expect(fabs(s - (-0.4996 / 0.5004)) < 1e-12, "SSIM %.15g", s);
    cr_expect(fabs(cs - 1) < 1e-12);
    cr_expect_neq(ssim(a, b, 10, 25, 2.0, &s, NULL), 0, "a 10-pixel-wide image has no 11x11 window");
}

Test(image_quality, ssim_and_ms_ssim_match_an_independent_reference) {
    /* References from a plain-Python implementation of the definitions in image_quality.h
     * (no libraries: Gaussian window, valid windows, C1/C2 from L = 2, 2x2 average pooling
     * rounded to float), on these same patterns:
     *   16x16, k = 1: SSIM 0.903436400027, CS 0.903436409360
     *   24x24, k = 2: MS-SSIM 0.986762201615 over 2 scales (24 -> 12; 6 < 11) */
    float a[24 * 24], b[24 * 24];
    pattern(a, b, 16, 16, 1);
    double s, cs;
    cr_assert_eq(ssim(a, b, 16, 16, 2.0, &s, &cs), 0);
    cr_expect(fabs(s - 0.903436400027) < 1e-7, "SSIM %.12f", s);
    cr_expect(fabs(cs - 0.903436409360) < 1e-7, "CS %.12f", cs);
    pattern(a, b, 24, 24, 2);
    double ms;
    int scales;
    cr_assert_eq(ms_ssim(a, b, 24, 24, 2.0, &ms, &scales), 0, "%s", ldm_last_error());
    cr_expect_eq(scales, 2);
    cr_expect(fabs(ms - 0.986762201615) < 1e-6, "MS-SSIM %.12f", ms);
    cr_expect_eq(msssim_scales(64, 64), 3);
    cr_expect_eq(msssim_scales(256, 256), 5);
    cr_expect_neq(ms_ssim(a, b, 16, 16, 2.0, &ms, &scales), 0, "16x16 allows one scale only");
}

// ----------------------------------------------------------------------------
// precision, recall, memorisation

Test(knn_metrics, precision_recall_on_points_of_a_line) {
    /* real: x = 0..9 on a line. k = 3: the ball around 0 (and 9) has radius 3, around 1..8
     * radius 2. fake: 0..3 and 50..53; radii 3 (0, 3, 50, 53) and 2 (1, 2, 51, 52).
     * precision: 0..3 lie in the real manifold, 50..53 do not: 4/8.
     * recall: real 0..6 lie within a fake ball (6 is exactly 3 from 3, on the boundary,
     * which counts), 7..9 do not: 7/10. */
    float real[20], fake[16];
    for (int i = 0; i < 10; i++) real[2 * i] = (float)i, real[2 * i + 1] = 0;
    for (int i = 0; i < 8; i++) fake[2 * i] = (float)(i < 4 ? i : 46 + i), fake[2 * i + 1] = 0;
    double p, r;
    cr_assert_eq(precision_recall(real, 10, fake, 8, 2, 3, &p, &r), 0, "%s", ldm_last_error());
    cr_expect_float_eq(p, 0.5, 1e-12);
    cr_expect_float_eq(r, 0.7, 1e-12);
    /* a set against itself: everything inside */
    cr_assert_eq(precision_recall(real, 10, real, 10, 2, 3, &p, &r), 0);
    cr_expect(p == 1 && r == 1);
    cr_expect_neq(precision_recall(real, 3, fake, 8, 2, 3, &p, &r), 0, "3 real points have no 3rd neighbour");
}

Test(knn_metrics, knn_distances) {
    float ref[4] = {0, 1, 3, 7}, q[2] = {2.6f, -1};
    double d[4];
    cr_assert_eq(knn_distance(q, 2, ref, 4, 1, 1, 0, d), 0);
    cr_expect_float_eq(d[0], 0.4, 1e-6);
    cr_expect_float_eq(d[1], 1.0, 1e-12);
    cr_assert_eq(knn_distance(ref, 4, ref, 4, 1, 2, 1, d), 0); /* 2nd nearest, self excluded */
    cr_expect(d[0] == 3 && d[1] == 2 && d[2] == 3 && d[3] == 6, "%g %g %g %g", d[0], d[1], d[2], d[3]);
}

Test(knn_metrics, memorisation_share_and_quantile) {
    double held[100], gen[5] = {0, 0, 5, 6, 50}, share, tau;
    for (int i = 0; i < 100; i++) held[99 - i] = i + 1; /* 1..100, unsorted */
    /* 5th percentile: position 0.05 * 99 = 4.95 between the 5th (5) and 6th (6) values: 5.95 */
    cr_expect_float_eq(quantile(held, 100, 0.05), 5.95, 1e-12);
    cr_expect_float_eq(quantile(held, 100, 0.5), 50.5, 1e-12);
    cr_assert_eq(memorisation_share(gen, 5, held, 100, &share, &tau), 0);
    cr_expect_float_eq(tau, 5.95, 1e-12);
    cr_expect_float_eq(share, 3.0 / 5, 1e-12, "0, 0 and 5 are below 5.95; 6 and 50 are not");
}
