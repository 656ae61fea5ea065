/* tests/test_emu.c — the CUDA emulator itself (make CUDA=emu; `make test` builds it in
 * $(BUILD)/emu). Every kernel of tests/emu/bad_*.cu is written wrong on purpose: the
 * emulator must fail its launch and name the kernel and the offending block and thread.
 * The kernels of tests/emu/good_*.cu must run clean, under several thread orders, and give
 * the right results. Then the device-level faults of issue 10: empty tensors are a no-op,
 * 2^31 elements are a clear error, and only "no device" reads as no device. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "core/device.h"
#include "core/error.h"
#include "core/tensor.h"
#include "kernels/attention.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/group_norm.h"
#include "kernels/layer_norm.h"
#include "kernels/linear.h"
#include "kernels/reduce.h"
#include "kernels/resample.h"
#include "kernels/silu.h"
#include "tests/emu/fixtures.h"

static void quiet(void) { setenv("LDM_EMU_QUIET", "1", 1); }

/* The launch failed and the report names the kernel, the block, the thread and the fault. */
static void expect_report(int rc, const char *kernel, const char *block, const char *thread, const char *what) {
    const char *r = ldm_emu_last_report();
    cr_assert_neq(rc, 0, "the emulator let %s pass", kernel);
    cr_expect(strstr(r, kernel) != NULL, "report does not name kernel %s: %s", kernel, r);
    cr_expect(strstr(r, block) != NULL, "report does not name %s: %s", block, r);
    cr_expect(strstr(r, thread) != NULL, "report does not name %s: %s", thread, r);
    cr_expect(strstr(r, what) != NULL, "report does not say '%s': %s", what, r);
    cr_expect_eq(cudaGetLastError(), cudaSuccess, "the fault was not cleared after it was reported once");
}

TestSuite(emu, .init = quiet);

// ---------------------------------------------------------------------------------
// kernels written wrong on purpose

Test(emu, missing_barrier_is_a_race) {
    const int rc = fx_missing_barrier();
    /* whichever of the two threads runs first, the pair is named */
    const char *r = ldm_emu_last_report();
    expect_report(rc, "bad_missing_barrier_kernel", "block (0,0,0)", "thread (", "static shared");
    cr_expect(strstr(r, "race") || strstr(r, "no thread of this block has written"), "%s", r);
}

Test(emu, shared_write_write_race) {
    expect_report(fx_smem_race(), "bad_smem_race_kernel", "block (0,0,0)", "thread (", "write-after-write");
}

Test(emu, off_by_one_edge_tile_is_out_of_bounds) {
    /* n = 100, tiles of 16: only i = 100 (block 6, thread 4) is outside */
    expect_report(fx_edge_tile(), "bad_edge_tile_kernel", "block (6,0,0)", "thread (4,0,0)", "out-of-bounds global read");
    cr_expect(strstr(ldm_emu_last_report(), "offset 400 of a 400-byte allocation"), "%s", ldm_emu_last_report());
}

Test(emu, misaligned_float4) {
    const int rc = fx_misaligned_float4();
    cr_expect_eq(rc, cudaErrorMisalignedAddress);
    expect_report(rc, "bad_misaligned_float4_kernel", "block (2,0,0)", "thread (5,0,0)", "misaligned");
    cr_expect(strstr(ldm_emu_last_report(), "bad_misaligned_float4.cu:11"), "no source line: %s",
              ldm_emu_last_report());
}

Test(emu, divergent_barrier) {
    expect_report(fx_divergent_barrier(), "bad_divergent_barrier_kernel", "block (0,0,0)", "thread (",
                  "divergent __syncthreads");
}

Test(emu, barrier_after_some_threads_exited) {
    expect_report(fx_partial_barrier(), "bad_partial_barrier_kernel", "block (0,0,0)", "thread (",
                  "reached by 16 of 64 threads");
}

Test(emu, shuffle_with_exited_lanes) {
    const int rc = fx_shfl_absent();
    const char *r = ldm_emu_last_report();
    expect_report(rc, "bad_shfl_absent_kernel", "block (0,0,0)", "thread (", "__shfl_xor_sync");
    cr_expect(strstr(r, "exited"), "%s", r);
}

Test(emu, shuffle_with_lanes_outside_the_block) {
    expect_report(fx_shfl_missing_lanes(), "bad_shfl_missing_lanes_kernel", "block (0,0,0)", "thread (",
                  "does not exist");
}

Test(emu, read_of_unwritten_shared_memory) {
    expect_report(fx_uninit_smem(), "bad_uninit_smem_kernel", "block (0,0,0)", "thread (3,0,0)",
                  "which no thread of this block has written");
}

Test(emu, dynamic_shared_out_of_bounds) {
    expect_report(fx_dyn_smem_oob(), "bad_dyn_smem_oob_kernel", "block (0,0,0)", "thread (",
                  "out-of-bounds dynamic shared memory write");
}

Test(emu, host_pointer_in_a_kernel) {
    expect_report(fx_host_pointer(), "plain_copy_kernel", "block (0,0,0)", "thread (", "not device memory");
}

Test(emu, global_race_between_blocks) {
    expect_report(fx_global_race(), "bad_global_race_kernel", "block (", "thread (0,0,0)", "global-memory race");
    cr_expect(strstr(ldm_emu_last_report(), "blocks are not ordered"), "%s", ldm_emu_last_report());
}

Test(emu, launch_limits) {
    cr_expect_eq(fx_block_too_big(), cudaErrorInvalidConfiguration);
    cr_expect(strstr(ldm_emu_last_report(), "block (2048,1,1)"), "%s", ldm_emu_last_report());
    cr_expect_eq(fx_smem_no_optin(), cudaErrorInvalidValue);
    cr_expect(strstr(ldm_emu_last_report(), "65536 bytes of dynamic shared memory"), "%s", ldm_emu_last_report());
    cr_expect_eq(fx_smem_over_max(), cudaErrorInvalidValue);
}

// ---------------------------------------------------------------------------------
// correct kernels: clean under every order, right results

Test(emu, good_kernels_pass_under_many_orders) {
    for (unsigned long long seed = 1; seed <= 6; seed++) {
        ldm_emu_set_seed(seed);
        const int before = ldm_emu_reports();
        cr_expect_eq(fx_good_reverse(), 0, "reverse, seed %llu: %s", seed, ldm_emu_last_report());
        cr_expect_eq(fx_good_reduce(), 0, "reduce, seed %llu: %s", seed, ldm_emu_last_report());
        cr_expect_eq(fx_good_half_warp(), 0, "half-warp shuffles, seed %llu: %s", seed, ldm_emu_last_report());
        cr_expect_eq(fx_good_float4(), 0, "float4 copy, seed %llu: %s", seed, ldm_emu_last_report());
        cr_expect_eq(fx_good_dyn_smem_optin(), 0, "100 KB opt-in, seed %llu: %s", seed, ldm_emu_last_report());
        cr_expect_eq(fx_good_empty_grid(), 0, "empty grid: %s", ldm_emu_last_report());
        cr_expect_eq(ldm_emu_reports(), before, "seed %llu: %s", seed, ldm_emu_last_report());
    }
}

// ---------------------------------------------------------------------------------
// the device-level faults of issue 10

/* A hand-built tensor (the Tensor API refuses zero dimensions; views and callers that build
 * structs do not) on device storage. */
static Tensor tz(float *data, int ndim, int d0, int d1, int d2, int d3) {
    Tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.ndim = ndim;
    int s[4] = {d0, d1, d2, d3};
    t.numel = 1;
    for (int i = 0; i < ndim; i++) t.shape[i] = s[i], t.numel *= (size_t)s[i];
    t.device = DEV_CUDA;
    return t;
}

Test(emu, empty_tensors_are_a_no_op) {
    float *buf = NULL;
    cr_assert_eq(cudaMalloc((void **)&buf, 4096 * sizeof(float)), cudaSuccess);
    cudaMemset(buf, 0, 4096 * sizeof(float));
    const int before = ldm_emu_reports();
    Tensor x0 = tz(buf, 2, 0, 8, 0, 0), c8 = tz(buf + 64, 1, 8, 0, 0, 0), r0 = tz(buf + 128, 1, 0, 0, 0, 0);
    Tensor y0 = tz(buf + 256, 2, 0, 8, 0, 0), g8 = tz(buf + 512, 1, 8, 0, 0, 0), b8 = tz(buf + 576, 1, 8, 0, 0, 0);
    cr_expect_eq(silu_forward_cuda(&x0, &y0), 0, "silu: %s", ldm_last_error());
    cr_expect_eq(layer_norm_forward_cuda(&x0, &c8, &c8, 1e-5f, &y0, &r0, &r0), 0, "layer_norm: %s", ldm_last_error());
    cr_expect_eq(layer_norm_backward_cuda(&x0, &c8, &r0, &r0, &y0, &y0, &g8, &b8), 0, "layer_norm_backward: %s",
                 ldm_last_error());
    Tensor w8 = tz(buf + 1024, 2, 8, 8, 0, 0), w0 = tz(buf + 1024, 2, 0, 8, 0, 0), x4 = tz(buf + 1100, 2, 4, 8, 0, 0);
    Tensor y40 = tz(buf + 1200, 2, 4, 0, 0, 0);
    cr_expect_eq(linear_forward_cuda(&x0, &w8, &c8, &y0), 0, "linear M = 0: %s", ldm_last_error());
    cr_expect_eq(linear_forward_cuda(&x4, &w0, NULL, &y40), 0, "linear N = 0: %s", ldm_last_error());
    cr_expect_eq(linear_backward_cuda(&x4, &w0, &y40, &x4, &w0, NULL), 0, "linear backward N = 0: %s",
                 ldm_last_error());
    Tensor xc = tz(buf + 2048, 4, 0, 5, 5, 8), wc = tz(buf + 2048, 4, 8, 3, 3, 8), yc = tz(buf + 3000, 4, 0, 5, 5, 8);
    Tensor rc = tz(buf + 3500, 4, 0, 5, 5, 8);
    cr_expect_eq(conv2d_forward_cuda(&xc, &wc, &c8, &rc, 1, 1, &yc), 0, "conv2d N = 0: %s", ldm_last_error());
    cr_expect_eq(conv2d_backward_cuda(&xc, &wc, &yc, 1, 1, &xc, &wc, &g8), 0, "conv2d backward N = 0: %s",
                 ldm_last_error());
    Tensor gx = tz(buf, 4, 0, 4, 4, 8), gm = tz(buf + 128, 2, 0, 2, 0, 0);
    cr_expect_eq(group_norm_forward_cuda(&gx, &c8, &c8, 2, 1e-5f, true, &gx, &gm, &gm), 0, "group_norm: %s",
                 ldm_last_error());
    cr_expect_eq(group_norm_backward_cuda(&gx, &c8, &c8, &gm, &gm, &gx, 2, true, &gx, &g8, &b8), 0,
                 "group_norm_backward: %s", ldm_last_error());
    Tensor sx = tz(buf, 4, 0, 3, 3, 8), sc = tz(buf + 100, 2, 0, 8, 0, 0);
    cr_expect_eq(scale_shift_forward_cuda(&sx, &sc, &sc, &sx), 0, "scale_shift: %s", ldm_last_error());
    cr_expect_eq(scale_shift_backward_cuda(&sx, &sc, &sx, &sx, &sc, &sc), 0, "scale_shift_backward: %s",
                 ldm_last_error());
    Tensor q0 = tz(buf, 3, 1, 0, 8, 0), l0 = tz(buf + 100, 3, 1, 2, 0, 0), k4 = tz(buf + 200, 3, 1, 4, 8, 0);
    cr_expect_eq(attention_forward_cuda(&q0, &k4, &k4, 2, 0.5f, &q0, &l0), 0, "attention Lq = 0: %s", ldm_last_error());
    Tensor u0 = tz(buf, 4, 0, 2, 2, 4), u1 = tz(buf + 100, 4, 0, 4, 4, 4);
    cr_expect_eq(upsample2x_forward_cuda(&u0, &u1), 0, "upsample2x: %s", ldm_last_error());
    cr_expect_eq(ldm_emu_reports(), before, "%s", ldm_emu_last_report());
    cr_expect_eq(cudaDeviceSynchronize(), cudaSuccess);
    cudaFree(buf);
}

Test(emu, more_than_2_to_31_elements_is_a_clear_error) {
    float *buf = NULL;
    cr_assert_eq(cudaMalloc((void **)&buf, 1024), cudaSuccess);
    Tensor big = tz(buf, 2, 65536, 32769, 0, 0); /* 2^31 + 2^16 elements (never touched) */
    cr_expect_neq(silu_forward(&big, &big), 0);
    cr_expect(strstr(ldm_last_error(), "at most 2^31 - 1"), "%s", ldm_last_error());
    cr_expect_neq(sum_forward(&big, &big), 0);
    cr_expect(strstr(ldm_last_error(), "at most 2^31 - 1"), "%s", ldm_last_error());
    cudaFree(buf);
}

Test(emu, no_device_is_silent_and_a_broken_cuda_is_loud) {
    setenv("LDM_EMU_DEVICE_ERROR", "3", 1); /* cudaErrorInitializationError */
    cr_expect_eq(dev_cuda_probe(), -1);
    cr_expect(strstr(ldm_last_error(), "cudaErrorInitializationError"), "%s", ldm_last_error());
    cr_expect_eq(dev_cuda_available(), 0);
}

Test(emu, no_device) {
    setenv("LDM_EMU_DEVICE_ERROR", "100", 1); /* cudaErrorNoDevice */
    cr_expect_eq(dev_cuda_probe(), 0);
    cr_expect_eq(dev_cuda_available(), 0);
}

Test(emu, emulated_device_is_an_h100) {
    cr_expect_eq(dev_cuda_probe(), 1);
    cr_expect(dev_cuda_emulated());
    int sms = 0, optin = 0;
    cr_expect_eq(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
    cr_expect_eq(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0), cudaSuccess);
    cr_expect_eq(sms, 132);
    cr_expect_eq(optin, 227 * 1024);
}
