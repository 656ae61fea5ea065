/* tests/test_cpu_util.c — what the CPU kernels share (kernels/cpu/vec_math.h, cpu_util.h):
 * the vectorised exp against double exp over its whole range, vector lanes against the
 * scalar tail bit for bit, NaN and the clamps; the one-thread threshold, and results that are
 * the same whether a kernel runs on one thread or several; the scratch cache that only grows. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/vec_math.h"
#include "kernels/elementwise.h"
#include "kernels/group_norm.h"
#include "kernels/layer_norm.h"
#include "kernels/silu.h"
#include "tests/util/testutil.h"

// ----------------------------------------------------------------------------
// exp

/* e^x for VW copies of x through the vector path (lane 0). */
static float exp_v(float x) {
    float in[VW], out[VW];
    for (int i = 0; i < VW; i++) in[i] = x;
    vf_store(out, vf_exp(vf_load(in)));
    return out[0];
}

Test(vec_math, exp_within_1p5e7_of_double_exp_and_vector_equals_scalar) {
    const long n = 1 << 20;
    double worst = 0, at = 0;
    long differ = 0;
    for (long i = 0; i <= n; i++) {
        float x = fminf(EXP_LO + (EXP_HI - EXP_LO) * (float)i / (float)n, EXP_HI); /* no rounding past the clamp */
        double ref = exp((double)x), e = fabs(exp_v(x) - ref) / ref;
        if (e > worst) worst = e, at = x;
        differ += exp_v(x) != exp_s(x);
    }
    cr_log_info("vec_math exp (VW %d): max rel err %.3g at x = %g", VW, worst, at);
    cr_expect_leq(worst, 1.5e-7, "max rel err %g at x = %g (VW %d)", worst, at, VW);
    cr_expect_eq(differ, 0, "%ld points where the vector and scalar exp differ", differ);
    /* exact powers of two: r = 0, e^x = 2^n */
    cr_expect_eq(exp_s(0.0f), 1.0f);
    cr_expect_float_eq(exp_s(10 * 0.69314718f), 1024.0f, 1e-6f);
}

Test(vec_math, exp_clamps_and_passes_nan) {
    cr_expect(isnan(exp_s(NAN)) && isnan(exp_v(NAN)), "NaN must pass through the clamp");
    cr_expect(isfinite(exp_s(1000.0f)) && exp_s(1000.0f) == exp_s(EXP_HI), "above EXP_HI: e^EXP_HI");
    cr_expect(exp_v(INFINITY) == exp_s(EXP_HI));
    cr_expect(exp_s(-1000.0f) == exp_s(EXP_LO) && exp_s(-1000.0f) > 0, "below EXP_LO: e^EXP_LO, not 0");
    cr_expect(exp_v(-INFINITY) == exp_s(EXP_LO));
    /* sigmoid at the extremes: 0 and 1, never NaN */
    cr_expect_float_eq(sigmoid_s(-200.0f), 0.0f, 1e-30f);
    cr_expect_eq(sigmoid_s(200.0f), 1.0f);
}

// ----------------------------------------------------------------------------
// the threshold

Test(cpu_util, threshold_decides_at_its_value) {
    cr_expect_eq(cpu_par_min(), CPU_PAR_MIN_BYTES);
    cr_expect(!cpu_par(CPU_PAR_MIN_BYTES), "at the threshold: one thread");
    cr_expect(cpu_par(CPU_PAR_MIN_BYTES + 1), "above it: threads");
    cr_expect(!cpu_par(12.0 * 32768), "an add of 32768 elements (PyTorch's grain) stays on one thread");
    double old = cpu_set_par_min(100);
    cr_expect_eq(old, CPU_PAR_MIN_BYTES);
    cr_expect(cpu_par(101) && !cpu_par(100));
    cpu_set_par_min(old);
}

enum {
    GN_Y, GN_MEAN, GN_RSTD, GN_DX, GN_DG, GN_DB, /* group norm */
    SILU_Y, SILU_DX,
    LN_Y, LN_MEAN, LN_RSTD, LN_DX, LN_DG, LN_DB, /* layer norm */
    N_OUT
};

/* Every output of group norm (G 4, with SiLU), SiLU and layer norm, forward and backward;
 * gradients accumulate onto 0.5. x (3, 33, 31, 24) for group norm and SiLU; x2 (rows, 24). */
static void run_ops(const Tensor *x, const Tensor *x2, const Tensor *gamma, const Tensor *beta, const Tensor *dy,
                    const Tensor *dy2, Tensor **o) {
    const int grads[] = {GN_DX, GN_DG, GN_DB, SILU_DX, LN_DX, LN_DG, LN_DB};
    for (int i = 0; i < 7; i++) fill(o[grads[i]], 0.5f);
    cr_assert_eq(group_norm_forward(x, gamma, beta, 4, 1e-5f, true, o[GN_Y], o[GN_MEAN], o[GN_RSTD]), 0);
    cr_assert_eq(group_norm_backward(x, gamma, beta, o[GN_MEAN], o[GN_RSTD], dy, 4, true, o[GN_DX], o[GN_DG],
                                     o[GN_DB]),
                 0);
    cr_assert_eq(silu_forward(x, o[SILU_Y]), 0);
    cr_assert_eq(silu_backward(x, dy, o[SILU_DX]), 0);
    cr_assert_eq(layer_norm_forward(x2, gamma, beta, 1e-5f, o[LN_Y], o[LN_MEAN], o[LN_RSTD]), 0);
    cr_assert_eq(layer_norm_backward(x2, gamma, o[LN_MEAN], o[LN_RSTD], dy2, o[LN_DX], o[LN_DG], o[LN_DB]), 0);
}

Test(cpu_util, one_thread_and_two_give_the_same_bits) {
    int shape[4] = {3, 33, 31, 24}, c = 24, rows = 3 * 33 * 31; /* odd positions, C = 3 vectors of 8 */
    Tensor *x = tu_data(4, shape, 1, -3, 3), *dy = tu_data(4, shape, 2, -1, 1);
    Tensor *x2 = tu_data(2, (int[]){rows, c}, 3, -3, 3), *dy2 = tu_data(2, (int[]){rows, c}, 4, -1, 1);
    Tensor *gamma = tu_data(1, &c, 5, 0.5f, 1.5f), *beta = tu_data(1, &c, 6, -0.5f, 0.5f);
    Tensor *o[2][N_OUT];
    for (int k = 0; k < 2; k++) {
        Tensor **t = o[k];
        t[GN_Y] = tensor_new(NULL, DEV_CPU, 4, shape), t[GN_DX] = tensor_new(NULL, DEV_CPU, 4, shape);
        t[SILU_Y] = tensor_new(NULL, DEV_CPU, 4, shape), t[SILU_DX] = tensor_new(NULL, DEV_CPU, 4, shape);
        t[GN_MEAN] = tensor_new2(NULL, DEV_CPU, 3, 4), t[GN_RSTD] = tensor_new2(NULL, DEV_CPU, 3, 4);
        t[LN_Y] = tensor_new2(NULL, DEV_CPU, rows, c), t[LN_DX] = tensor_new2(NULL, DEV_CPU, rows, c);
        t[LN_MEAN] = tensor_new1(NULL, DEV_CPU, rows), t[LN_RSTD] = tensor_new1(NULL, DEV_CPU, rows);
        t[GN_DG] = tensor_new1(NULL, DEV_CPU, c), t[GN_DB] = tensor_new1(NULL, DEV_CPU, c);
        t[LN_DG] = tensor_new1(NULL, DEV_CPU, c), t[LN_DB] = tensor_new1(NULL, DEV_CPU, c);
    }
    const int saved = omp_get_max_threads();
    const double old = cpu_set_par_min(INFINITY); /* every kernel on one thread */
    omp_set_num_threads(1);
    run_ops(x, x2, gamma, beta, dy, dy2, o[0]);
    cpu_set_par_min(0); /* every kernel threaded */
    omp_set_num_threads(2);
    run_ops(x, x2, gamma, beta, dy, dy2, o[1]);
    omp_set_num_threads(saved);
    cpu_set_par_min(old);
    for (int i = 0; i < N_OUT; i++) {
        cr_expect_eq(memcmp(o[0][i]->data, o[1][i]->data, tensor_bytes(o[0][i])), 0,
                     "output %d differs between 1 and 2 threads", i);
        tensor_free(o[0][i]);
        tensor_free(o[1][i]);
    }
    Tensor *all[] = {x, dy, x2, dy2, gamma, beta};
    for (int i = 0; i < 6; i++) tensor_free(all[i]);
}

// ----------------------------------------------------------------------------
// scratch

Test(cpu_util, scratch_only_grows_and_is_aligned) {
    long g0 = cpu_scratch_grows();
    char *a = cpu_scratch(SCRATCH_REDUCE, 100, "test");
    cr_assert_not_null(a);
    cr_expect_eq((uintptr_t)a % 64, 0);
    long g1 = cpu_scratch_grows();
    cr_expect(g1 <= g0 + 1);
    memset(a, 1, 100);
    cr_expect_eq(cpu_scratch(SCRATCH_REDUCE, 50, "test"), a, "a smaller request reuses the buffer");
    cr_expect_eq(cpu_scratch_grows(), g1, "no growth for a smaller request");
    char *b = cpu_scratch(SCRATCH_REDUCE, 1 << 20, "test");
    cr_assert_not_null(b);
    cr_expect_eq(cpu_scratch_grows(), g1 + 1, "a larger request grows once");
    cr_expect_eq(cpu_scratch(SCRATCH_REDUCE, 1 << 20, "test"), b);
    cr_expect_eq(cpu_scratch_grows(), g1 + 1);
    cr_expect_neq(cpu_scratch(SCRATCH_LAYER_NORM, 64, "test"), (void *)b, "slots are separate buffers");
}
