/* tests/test_tc.c — the tensor-core layer on the CUDA emulator (make CUDA=emu; `make test`
 * builds it in $(BUILD)/emu): the PTX instruction functions of kernels/cuda/mma.cuh through
 * the single-warp kernels of tests/tc/ptx_kernels.cu, against the PTX ISA's definitions
 * computed here on the CPU; and the bf16 cast kernel against core/bf16.h.
 * Without a device (a real-GPU build with no GPU): one SKIPPED line per test. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "core/bf16.h"
#include "core/device.h"
#include "core/error.h"
#include "core/tensor.h"
#include "kernels/cast.h"
#include "kernels/linear.h"
#include "kernels/versions.h"
#include "tests/tc/ptx_kernels.h"

static int have_device(void) {
    const int p = dev_cuda_probe();
    cr_assert_geq(p, 0, "%s", ldm_last_error());
    if (!p) fprintf(stderr, "SKIPPED: no CUDA device (tests/test_tc.c)\n");
    return p;
}

static uint64_t g_s = 0x243f6a8885a308d3ull;
static double urand(void) {
    g_s ^= g_s << 13, g_s ^= g_s >> 7, g_s ^= g_s << 17;
    return (double)(g_s >> 11) / 9007199254740992.0;
}

Test(tc, mma_m16n8k16_matches_a_cpu_matmul) {
    if (!have_device()) return;
    uint16_t A[256], B[128];
    float C[128], D[128];
    /* distinct values everywhere, so a wrong lane mapping cannot hide */
    for (int i = 0; i < 256; i++) A[i] = ldm_f32_to_bf16((float)(urand() * 4 - 2));
    for (int i = 0; i < 128; i++) B[i] = ldm_f32_to_bf16((float)(urand() * 4 - 2));
    for (int i = 0; i < 128; i++) C[i] = (float)(urand() - 0.5);
    cr_assert_eq(tc_mma_once(A, B, C, D, 0), 0, "%s", ldm_emu_last_report());
    double worst = 0;
    for (int m = 0; m < 16; m++)
        for (int n = 0; n < 8; n++) {
            double s = C[m * 8 + n];
            for (int k = 0; k < 16; k++) s += (double)ldm_bf16_to_f32(A[m * 16 + k]) * ldm_bf16_to_f32(B[k * 8 + n]);
            /* exact products, one fp32 rounding of the sum: within an fp32 ulp of |s| + sum|products| */
            const double err = fabs(D[m * 8 + n] - s);
            cr_expect_leq(err, 1e-6 * (1 + fabs(s)), "D[%d][%d] = %.8g, want %.8g", m, n, (double)D[m * 8 + n], s);
            if (err > worst) worst = err;
        }
    printf("mma m16n8k16: max |D - A B - C| = %.3g\n", worst);
}

Test(tc, mma_needs_the_whole_warp) {
    if (!have_device()) return;
    setenv("LDM_EMU_QUIET", "1", 1);
    uint16_t A[256] = {0}, B[128] = {0};
    float C[128] = {0}, D[128];
    const int rc = tc_mma_once(A, B, C, D, 1);
    cr_expect_neq(rc, 0, "an mma with half the warp absent ran clean");
    cr_expect(strstr(ldm_emu_last_report(), "tc_mma_kernel") != NULL, "%s", ldm_emu_last_report());
}

/* The four 8x8 matrices of `rows` (rows 8i..8i+7 of the shared array, as lane 8i+j supplies
 * row perm[8i+j]) and what lane l must receive, from the ISA's description. */
static void ldmatrix_expect(const uint16_t *rows, const int *perm, int trans, uint32_t *want) {
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < 4; i++) {
            const uint16_t *M[8];
            for (int j = 0; j < 8; j++) M[j] = rows + perm[8 * i + j] * 8; /* matrix i, row j */
            uint32_t lo, hi;
            if (!trans) {
                lo = M[l / 4][2 * (l % 4)];
                hi = M[l / 4][2 * (l % 4) + 1];
            } else {
                lo = M[2 * (l % 4)][l / 4];
                hi = M[2 * (l % 4) + 1][l / 4];
            }
            want[l * 4 + i] = lo | hi << 16;
        }
}

static void check_ldmatrix(int trans) {
    uint16_t rows[256];
    for (int i = 0; i < 256; i++) rows[i] = (uint16_t)(i * 7 + 3); /* every element distinct */
    int perm[32];
    for (int i = 0; i < 32; i++) perm[i] = i;
    for (int i = 31; i > 0; i--) { /* the rows in a shuffled order: lane addresses matter */
        int j = (int)(urand() * (i + 1)), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    uint32_t got[128], want[128];
    cr_assert_eq(tc_ldmatrix(rows, perm, trans, got), 0, "%s", ldm_emu_last_report());
    ldmatrix_expect(rows, perm, trans, want);
    for (int k = 0; k < 128; k++)
        cr_expect_eq(got[k], want[k], "%s: lane %d r[%d] = 0x%08x, want 0x%08x", trans ? ".trans" : "plain", k / 4,
                     k % 4, got[k], want[k]);
}

Test(tc, ldmatrix_x4) {
    if (!have_device()) return;
    check_ldmatrix(0);
}

Test(tc, ldmatrix_x4_trans) {
    if (!have_device()) return;
    check_ldmatrix(1);
}

Test(tc, cp_async_with_wait_delivers) {
    if (!have_device()) return;
    float src[256], out[256];
    for (int i = 0; i < 256; i++) src[i] = (float)i + 0.5f;
    cr_assert_eq(tc_cp_async(src, out, 0, 0, 1), 0, "%s", ldm_emu_last_report());
    for (int t = 0; t < 64; t++)
        for (int k = 0; k < 4; k++) cr_expect_eq(out[4 * t + k], src[4 * (63 - t) + k]);
    cr_assert_eq(tc_cp_async(src, out, 1, -1.0f, 1), 0, "%s", ldm_emu_last_report());
    for (int i = 0; i < 256; i++) cr_expect_eq(out[i], src[4 * (63 - i / 4) + i % 4]);
}

Test(tc, cp_async_without_wait_is_caught) {
    if (!have_device()) return;
    setenv("LDM_EMU_QUIET", "1", 1);
    float src[256], out[256];
    for (int i = 0; i < 256; i++) src[i] = (float)i + 0.5f;
    /* shared memory never written before: the read is reported */
    const int rc = tc_cp_async(src, out, 0, 0, 0);
    cr_expect_neq(rc, 0, "reading cp.async data without a wait ran clean");
    cr_expect(strstr(ldm_emu_last_report(), "tc_cp_async_kernel") != NULL, "%s", ldm_emu_last_report());
    /* prefilled: the stale values come back, not the copied ones */
    cr_assert_eq(tc_cp_async(src, out, 1, -1.0f, 0), 0, "%s", ldm_emu_last_report());
    for (int i = 0; i < 256; i++) cr_expect_eq(out[i], -1.0f, "element %d arrived without a wait", i);
}

Test(tc, cp_async_wait_group_n_leaves_the_newest_in_flight) {
    if (!have_device()) return;
    float src[512], out[512];
    for (int i = 0; i < 512; i++) src[i] = (float)i;
    cr_assert_eq(tc_cp_async_two_groups(src, out, -7.0f), 0, "%s", ldm_emu_last_report());
    for (int i = 0; i < 256; i++) cr_expect_eq(out[i], src[i], "group 0, element %d", i);
    for (int i = 256; i < 512; i++) cr_expect_eq(out[i], -7.0f, "group 1 (not waited for), element %d", i);
}

Test(tc, cp_async_src_size_zero_fills) {
    if (!have_device()) return;
    float src[64], out[64];
    for (int i = 0; i < 64; i++) src[i] = (float)(i + 1);
    cr_assert_eq(tc_cp_async_zfill(src, out), 0, "%s", ldm_emu_last_report());
    for (int t = 0; t < 16; t++)
        for (int k = 0; k < 4; k++) {
            const int bytes = 16 - t;
            if (4 * k + 4 <= bytes) cr_expect_eq(out[4 * t + k], src[4 * t + k], "t %d k %d", t, k);
            else if (4 * k >= bytes) cr_expect_eq(out[4 * t + k], 0.0f, "t %d k %d not zero-filled", t, k);
        }
}

Test(tc, cast_kernel_matches_the_cpu_rounding) {
    if (!have_device()) return;
    const int n = 1003;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (int i = 0; i < n; i++) x[i] = (float)((urand() - 0.5) * pow(10.0, (double)(i % 70 - 35)));
    x[0] = NAN, x[1] = INFINITY, x[2] = ldm_bits_f32(0x7f7fffffu), x[3] = ldm_bits_f32(0x3f808000u);
    x[4] = ldm_bits_f32(0x00008001u);
    Tensor *dx = tensor_new1(NULL, DEV_CUDA, n), *dh = tensor_new_dtype(NULL, DEV_CUDA, DT_BF16, 1, (int[]){n});
    Tensor *dy = tensor_new1(NULL, DEV_CUDA, n);
    cr_assert(dx && dh && dy, "%s", ldm_last_error());
    cr_assert_eq(tensor_from_host(dx, x), 0);
    cr_assert_eq(cast_tensor(dx, dh), 0, "%s", ldm_last_error());
    cr_assert_eq(cast_tensor(dh, dy), 0, "%s", ldm_last_error());
    uint16_t *h = malloc(n * sizeof *h);
    cr_assert_eq(tensor_to_host_raw(dh, h), 0);
    cr_assert_eq(tensor_to_host(dy, y), 0);
    for (int i = 0; i < n; i++) {
        cr_expect_eq(h[i], ldm_f32_to_bf16(x[i]), "element %d: 0x%04x vs 0x%04x", i, h[i], ldm_f32_to_bf16(x[i]));
        if (i) cr_expect_eq(y[i], ldm_round_bf16(x[i]), "element %d", i);
    }
    tensor_free(dx), tensor_free(dh), tensor_free(dy);
    free(x), free(y), free(h);
}

/* linear version 3 (bf16 mma) against the CPU bf16 reference: x and w rounded to bf16,
 * products exact, sums in double. The kernel's only other error is its fp32 accumulation
 * (one rounding per mma of 16 products, K/16 of them, plus the bias add), so
 *   |y - ref| <= (K/16 + 2) 2^-24 (sum_k |x_k w_k| + |b|),
 * far below what any wrong element (a lost k chunk, a swapped fragment) would give. */
static void check_linear_v3(int m, int k, int n, int bias, int misalign) {
    float *hx = malloc((size_t)m * k * sizeof *hx), *hw = malloc((size_t)n * k * sizeof *hw);
    float *hb = malloc((size_t)n * sizeof *hb), *hy = malloc((size_t)m * n * sizeof *hy);
    for (long i = 0; i < (long)m * k; i++) hx[i] = (float)(urand() * 2 - 1);
    for (long i = 0; i < (long)n * k; i++) hw[i] = (float)(urand() - 0.5);
    for (int i = 0; i < n; i++) hb[i] = (float)(urand() * 2 - 1);
    /* misalign: x's data one float past an allocation's (16-byte aligned) start */
    Tensor *xbig = tensor_new1(NULL, DEV_CUDA, m * k + 1);
    cr_assert(xbig, "%s", ldm_last_error());
    Tensor xs = *xbig;
    xs.ndim = 2, xs.shape[0] = m, xs.shape[1] = k, xs.numel = (size_t)m * k, xs.on_heap = false;
    xs.data += misalign ? 1 : 0;
    Tensor *x = &xs;
    Tensor *w = tensor_new2(NULL, DEV_CUDA, n, k), *b = tensor_new1(NULL, DEV_CUDA, n);
    Tensor *y = tensor_new2(NULL, DEV_CUDA, m, n);
    cr_assert(x && w && b && y, "%s", ldm_last_error());
    cr_assert_eq(tensor_from_host(x, hx), 0);
    cr_assert_eq(tensor_from_host(w, hw), 0);
    cr_assert_eq(tensor_from_host(b, hb), 0);
    cr_assert_eq(kernel_version_set("linear", 3), 0);
    const int rc = linear_forward(x, w, bias ? b : NULL, y);
    kernel_version_set("linear", 0);
    cr_assert_eq(rc, 0, "linear v3 (%d,%d)x(%d,%d): %s | %s", m, k, n, k, ldm_last_error(), ldm_emu_last_report());
    cr_assert_eq(tensor_to_host(y, hy), 0);
    int bad = 0;
    double worst = 0;
    for (int r = 0; r < m; r++)
        for (int c = 0; c < n; c++) {
            double s = bias ? hb[c] : 0, mag = bias ? fabs(hb[c]) : 0;
            for (int q = 0; q < k; q++) {
                const double p = (double)ldm_round_bf16(hx[(long)r * k + q]) * ldm_round_bf16(hw[(long)c * k + q]);
                s += p, mag += fabs(p);
            }
            const double err = fabs(hy[(long)r * n + c] - s), bound = (k / 16 + 2) * ldexp(mag, -24);
            if (err / bound > worst) worst = err / bound;
            if (err > bound && bad++ < 5)
                cr_expect_leq(err, bound, "(%d,%d)x(%d,%d) y[%d][%d] = %.8g, want %.8g", m, k, n, k, r, c,
                              (double)hy[(long)r * n + c], s);
        }
    cr_expect_eq(bad, 0, "(%d,%d)x(%d,%d): %d elements out of bound", m, k, n, k, bad);
    printf("linear v3 (%d,%d) x (%d,%d)^T%s%s: max error / bound = %.3f\n", m, k, n, k, bias ? " + b" : "",
           misalign ? " (x misaligned)" : "", worst);

    /* dx (m, k) += dy (m, n) w (n, k) on the tensor cores (dw, db: version 2), with x's
     * misaligned buffer as dx; dy from y's buffer */
    float *hdy = malloc((size_t)m * n * sizeof *hdy), *hdx0 = malloc((size_t)m * k * sizeof *hdx0);
    float *hdx = malloc((size_t)m * k * sizeof *hdx);
    for (long i = 0; i < (long)m * n; i++) hdy[i] = (float)(urand() * 2 - 1);
    for (long i = 0; i < (long)m * k; i++) hdx0[i] = (float)(urand() - 0.5);
    cr_assert_eq(tensor_from_host(y, hdy), 0);
    cr_assert_eq(tensor_from_host(x, hdx0), 0);
    cr_assert_eq(kernel_version_set("linear", 3), 0);
    const int rcb = linear_backward(x, w, y, x, NULL, NULL);
    kernel_version_set("linear", 0);
    cr_assert_eq(rcb, 0, "linear v3 backward: %s | %s", ldm_last_error(), ldm_emu_last_report());
    cr_assert_eq(tensor_to_host(x, hdx), 0);
    bad = 0, worst = 0;
    for (int r = 0; r < m; r++)
        for (int c = 0; c < k; c++) {
            double s = 0, mag = 0;
            for (int q = 0; q < n; q++) {
                const double p = (double)ldm_round_bf16(hdy[(long)r * n + q]) * ldm_round_bf16(hw[(long)q * k + c]);
                s += p, mag += fabs(p);
            }
            const double want = hdx0[(long)r * k + c] + s;
            const double err = fabs(hdx[(long)r * k + c] - want);
            const double bound = (n / 16 + 3) * ldexp(mag + fabs(hdx0[(long)r * k + c]), -24);
            if (err / bound > worst) worst = err / bound;
            if (err > bound && bad++ < 5)
                cr_expect_leq(err, bound, "dx (%d,%d): [%d][%d] = %.8g, want %.8g", m, k, r, c,
                              (double)hdx[(long)r * k + c], want);
        }
    cr_expect_eq(bad, 0, "dx (%d,%d): %d elements out of bound", m, k, bad);
    printf("linear v3 dx (%d,%d) += dy (%d,%d) w: max error / bound = %.3f\n", m, k, m, n, worst);

    /* dw (n, k) += dy^T x on the tensor cores; x holds hdx now (misaligned in one case), dy
     * is hdy in y's buffer; w's buffer is the gradient (dx is not asked for, so w is unread) */
    float *hdw0 = malloc((size_t)n * k * sizeof *hdw0), *hdw = malloc((size_t)n * k * sizeof *hdw);
    for (long i = 0; i < (long)n * k; i++) hdw0[i] = (float)(urand() - 0.5);
    cr_assert_eq(tensor_from_host(w, hdw0), 0);
    cr_assert_eq(kernel_version_set("linear", 3), 0);
    const int rcw = linear_backward(x, w, y, NULL, w, NULL);
    kernel_version_set("linear", 0);
    cr_assert_eq(rcw, 0, "linear v3 dw: %s | %s", ldm_last_error(), ldm_emu_last_report());
    cr_assert_eq(tensor_to_host(w, hdw), 0);
    bad = 0, worst = 0;
    for (int o = 0; o < n; o++)
        for (int c = 0; c < k; c++) {
            double s = 0, mag = 0;
            for (int r = 0; r < m; r++) {
                const double p = (double)ldm_round_bf16(hdy[(long)r * n + o]) * ldm_round_bf16(hdx[(long)r * k + c]);
                s += p, mag += fabs(p);
            }
            const double want = hdw0[(long)o * k + c] + s;
            const double err = fabs(hdw[(long)o * k + c] - want);
            const double bound = (m / 16 + 3) * ldexp(mag + fabs(hdw0[(long)o * k + c]), -24);
            if (err / bound > worst) worst = err / bound;
            if (err > bound && bad++ < 5)
                cr_expect_leq(err, bound, "dw (%d,%d): [%d][%d] = %.8g, want %.8g", n, k, o, c,
                              (double)hdw[(long)o * k + c], want);
        }
    cr_expect_eq(bad, 0, "dw (%d,%d): %d elements out of bound", n, k, bad);
    printf("linear v3 dw (%d,%d) += dy^T x over %d rows: max error / bound = %.3f\n", n, k, m, worst);
    free(hdw0), free(hdw);
    free(hdy), free(hdx0), free(hdx);
    tensor_free(xbig), tensor_free(w), tensor_free(b), tensor_free(y);
    free(hx), free(hw), free(hb), free(hy);
}

Test(tc, linear_v3_matches_the_bf16_reference, .timeout = 600) {
    if (!have_device()) return;
    check_linear_v3(1, 3, 5, 1, 0);     /* one row, K < one chunk, N < one n8 tile */
    check_linear_v3(37, 77, 129, 1, 1); /* odd everything, misaligned x, K not a multiple of 8 */
    check_linear_v3(130, 40, 33, 0, 0); /* edge tiles in M and N, no bias */
    check_linear_v3(64, 96, 64, 1, 0);  /* exact tiles, three k tiles (the pipeline wraps) */
}
