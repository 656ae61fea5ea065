/* tests/test_mixed.c — mixed precision (autograd/tape.h: act_dtype = DT_BF16) on the CPU
 * bf16 reference, against the same models in fp32.
 *
 * The bound both tests use comes from bf16's precision: every activation the bf16 path
 * stores is rounded once, with relative error at most u = 2^-8 (core/bf16.h), and rms u/sqrt(3)
 * for a value uniformly placed between two bf16 numbers. A result that depends on D stored
 * tensors moves, to first order and with each stage no more sensitive than the identity
 * (normalised, well-conditioned layers), by the sum of D independent roundings: rms
 * sqrt(D) u / sqrt(3); the bound is sqrt(D) u, sqrt(3) of margin. (The worst case, D u, with
 * every rounding the same way, would be far too loose to catch anything.) D is counted, not
 * guessed: the tape nodes whose output is bf16.
 *   - gradients: the bf16 path's analytic gradients (the fp32 backward evaluated at the
 *     rounded activations, with the matmul operands rounded too) against fp32's, which
 *     test_models_grad checks by finite differences: relative error of the whole gradient
 *     vector <= sqrt(D) u. (Finite differences of the bf16 path itself would measure its
 *     rounding, not its gradient.)
 *   - training: 100 AdamW steps of the demo-preset U-Net (its levels, attention and class
 *     tokens, at 32x32 images (8x8 latents), unet_ch = 16 and batch 2, to stay well under a
 *     minute) from the same seed and the same draws. The weights drift
 *     apart (AdamW's normalised steps bound each step's change), and the mean loss of the
 *     last 20 steps must agree within sqrt(D) u. At step 0 the losses are equal: the output
 *     conv starts at zero, so both predict eps = 0. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/bf16.h"
#include "core/philox.h"
#include "kernels/adamw.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/group_norm.h"
#include "kernels/silu.h"
#include "kernels/versions.h"
#include "kernels/random.h"
#include "models/blocks.h"
#include "models/unet.h"
#include "tests/util/testutil.h"

#define U_BF16 (1.0 / 256.0)

// ----------------------------------------------------------------------------
// the CPU's bf16 kernels are the fp32 kernels on the widened inputs, rounded once

/* A bf16 heap tensor of `shape` with uniform values in [lo, hi) (rounded), and its fp32
 * widening in *f32. */
static Tensor *bf16_data(int nd, const int *shape, uint64_t seed, float lo, float hi, Tensor **f32) {
    *f32 = tu_data(nd, shape, seed, lo, hi);
    Tensor *h = tensor_new_dtype(NULL, DEV_CPU, DT_BF16, nd, shape);
    cr_assert(h && !tensor_copy(h, *f32) && !tensor_copy(*f32, h));
    return h;
}

/* got (bf16) holds exactly want (fp32) rounded to nearest even, bit for bit. */
static void expect_rounded(const Tensor *got, const Tensor *want, const char *what) {
    cr_assert_eq(got->dtype, DT_BF16);
    const bf16_t *g = (const bf16_t *)got->data;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < got->numel; i++)
        if (g[i] != ldm_f32_to_bf16(want->data[i]) && !bad++) first = i;
    cr_expect_eq(bad, 0, "%s: %zu of %zu elements are not the rounded fp32 result (first [%zu]: %g, want %g)", what,
                 bad, got->numel, first, ldm_bf16_to_f32(g[first]), want->data[first]);
}

static void expect_same(const Tensor *got, const Tensor *want, const char *what) {
    cr_expect_eq(memcmp(got->data, want->data, got->numel * sizeof(float)), 0, "%s differs from fp32's", what);
}

Test(mixed, cpu_bf16_kernels_round_the_fp32_result) {
    const int sh[4] = {2, 5, 3, 24}, mod[2] = {2, 24}; /* (N, H, W, C); (N, C) */
    Tensor *xf, *bf, *sf, *tf, *dy = tu_data(4, sh, 55, -1, 1);
    Tensor *x = bf16_data(4, sh, 51, -4, 4, &xf), *b = bf16_data(4, sh, 52, -2, 2, &bf);
    Tensor *sc = bf16_data(2, mod, 53, -1, 1, &sf), *sft = bf16_data(2, mod, 54, -1, 1, &tf);
    Tensor *y = tensor_like(NULL, x), *y32 = tensor_like(NULL, xf);
    Tensor *d16 = tensor_zeros(NULL, DEV_CPU, 4, sh), *d32 = tensor_zeros(NULL, DEV_CPU, 4, sh);

    cr_assert_eq(silu_forward(x, y) || silu_forward(xf, y32), 0, "%s", ldm_last_error());
    expect_rounded(y, y32, "silu");
    cr_assert_eq(silu_backward(x, dy, d16) || silu_backward(xf, dy, d32), 0, "%s", ldm_last_error());
    expect_same(d16, d32, "silu dx");
    cr_assert_eq(add_forward(x, b, y) || add_forward(xf, bf, y32), 0, "%s", ldm_last_error());
    expect_rounded(y, y32, "add");
    cr_assert_eq(mul_forward(x, b, y) || mul_forward(xf, bf, y32), 0, "%s", ldm_last_error());
    expect_rounded(y, y32, "mul");
    cr_assert_eq(scale_forward(x, -0.3f, y) || scale_forward(xf, -0.3f, y32), 0, "%s", ldm_last_error());
    expect_rounded(y, y32, "scale");
    cr_assert_eq(scale_shift_forward(x, sc, sft, y) || scale_shift_forward(xf, sf, tf, y32), 0, "%s", ldm_last_error());
    expect_rounded(y, y32, "scale_shift");
    Tensor *gs16 = tensor_zeros(NULL, DEV_CPU, 2, mod), *gs32 = tensor_zeros(NULL, DEV_CPU, 2, mod);
    cr_assert_eq(scale_shift_backward(x, sc, dy, d16, gs16, NULL) || scale_shift_backward(xf, sf, dy, d32, gs32, NULL), 0,
                 "%s", ldm_last_error());
    expect_same(d16, d32, "scale_shift dx");
    expect_same(gs16, gs32, "scale_shift dscale");

    Tensor *gm = tu_data(1, (int[]){24}, 56, 0.5f, 1.5f), *bt = tu_data(1, (int[]){24}, 57, -0.5f, 0.5f);
    Tensor *mu16 = tensor_new2(NULL, DEV_CPU, 2, 4), *rs16 = tensor_new2(NULL, DEV_CPU, 2, 4);
    Tensor *mu32 = tensor_new2(NULL, DEV_CPU, 2, 4), *rs32 = tensor_new2(NULL, DEV_CPU, 2, 4);
    for (int silu = 0; silu < 2; silu++) {
        cr_assert_eq(group_norm_forward(x, gm, bt, 4, 1e-5f, silu, y, mu16, rs16) ||
                         group_norm_forward(xf, gm, bt, 4, 1e-5f, silu, y32, mu32, rs32),
                     0, "%s", ldm_last_error());
        expect_rounded(y, y32, silu ? "group_norm + silu" : "group_norm");
        expect_same(mu16, mu32, "group_norm mean");
        expect_same(rs16, rs32, "group_norm rstd");
        cr_assert_eq(group_norm_backward(x, gm, bt, mu16, rs16, dy, 4, silu, d16, NULL, NULL) ||
                         group_norm_backward(xf, gm, bt, mu32, rs32, dy, 4, silu, d32, NULL, NULL),
                     0, "%s", ldm_last_error());
        expect_same(d16, d32, "group_norm dx");
    }
    /* the activations of one call share a dtype: a mix is refused with a message */
    cr_expect_neq(add_forward(x, bf, y), 0);
    cr_expect(strstr(ldm_last_error(), "bf16"), "%s", ldm_last_error());
    Tensor *all[] = {xf, bf, sf, tf, dy, x, b, sc, sft, y, y32, d16, d32, gs16, gs32, gm, bt, mu16, rs16, mu32, rs32};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}

/* Under act_dtype bf16 the ResBlock's conv2 with its skip in the epilogue rounds x and w,
 * adds b and the (widened) res to the fp32 sum and rounds once; dropout keeps bf16 and
 * scales by 1 / (1 - p) in fp32 math (not by its bf16 rounding). */
Test(mixed, conv2d_res_and_dropout_in_bf16) {
    const int xs[4] = {2, 5, 5, 3}, ws[4] = {4, 3, 3, 3}, ys[4] = {2, 5, 5, 4};
    Tensor *xf, *rf, *wr, *x = bf16_data(4, xs, 61, -2, 2, &xf), *res = bf16_data(4, ys, 62, -2, 2, &rf);
    Tensor *w = tu_data(4, ws, 63, -0.5f, 0.5f), *b = tu_data(1, (int[]){4}, 64, -1, 1);
    Tensor *w16 = bf16_data(4, ws, 63, -0.5f, 0.5f, &wr); /* the same draws: wr = w rounded */
    Tensor *y32 = tensor_new_dtype(NULL, DEV_CPU, DT_F32, 4, ys);
    Arena *a = arena_create(DEV_CPU, (size_t)16 << 20, (size_t)1 << 20);
    cr_assert(a && y32);
    Tape tp;
    tape_init(&tp, a);
    tp.act_dtype = DT_BF16;
    Tensor *y = ag_conv2d_res(&tp, x, w, b, res, 1, 1);
    cr_assert(y, "%s", ldm_last_error());
    cr_assert_eq(conv2d_forward_res(xf, wr, b, rf, 1, 1, y32), 0, "%s", ldm_last_error());
    expect_rounded(y, y32, "conv2d + res");

    const float p = 0.25f, keep = 1.0f / (1.0f - p);
    uint64_t off = 5;
    DropoutRng rng = {9, &off};
    Tensor *d = dropout_forward(&tp, x, p, &rng), *want = tensor_new_dtype(NULL, DEV_CPU, DT_F32, 4, xs);
    cr_assert(d && want, "%s", ldm_last_error());
    cr_assert_eq(off, 5 + x->numel, "the mask advances the stream by its size");
    size_t dropped = 0;
    for (size_t i = 0; i < x->numel; i++) {
        const bool kept = philox_uniform(9, 5 + i) >= p;
        want->data[i] = kept ? keep * xf->data[i] : 0.0f * xf->data[i]; /* x * 0: a signed zero */
        dropped += !kept;
    }
    cr_expect(dropped > 0 && dropped < x->numel, "%zu of %zu dropped", dropped, x->numel);
    expect_rounded(d, want, "dropout");
    arena_destroy(a);
    Tensor *all[] = {xf, rf, wr, x, res, w, b, w16, y32, want};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) tensor_free(all[i]);
}

/* Tape nodes whose output is stored in bf16: the roundings on any path. */
static int bf16_nodes(const Tape *t) {
    int d = 0;
    for (const TapeNode *n = t->last; n; n = n->prev) d += n->out->dtype == DT_BF16;
    return d;
}

static void small_unet_config(ModelConfig *c) {
    cfg_preset(c, "demo");
    const char *kv[] = {"image_size=16", "data_size=16", "unet_ch=8",     "unet_mult=1,2", "unet_res=1",
                        "attn_res=4",    "head_dim=8",   "unet_groups=4", "ctx_tokens=2",  "ctx_dim=6"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) cr_assert_eq(cfg_set_arg(c, kv[i]), 0, "%s", ldm_last_error());
    cr_assert_eq(cfg_validate(c), 0, "%s", ldm_last_error());
}

/* All parameter gradients after one unet_loss backward in dtype dt, concatenated into g
 * (ps_count floats); returns the number of bf16 tape nodes. */
static int unet_grads(UNet *m, ParamSet *ps, const NoiseSchedule *s, Tensor *z0, Tensor *noise, const int *t,
                      Tensor *labels, DType dt, float *g, float *loss) {
    Arena *a = arena_create(DEV_CPU, (size_t)64 << 20, (size_t)4 << 20);
    cr_assert(a);
    Tape tp;
    tape_init(&tp, a);
    tp.act_dtype = dt;
    ps_zero_grad(ps);
    Tensor *l = unet_loss(m, &tp, s, z0, noise, t, labels);
    cr_assert(l, "%s", ldm_last_error());
    cr_assert_eq(l->dtype, DT_F32, "the loss is fp32 whatever the activations");
    *loss = l->data[0];
    const int d = bf16_nodes(&tp);
    cr_assert_eq(tape_backward(&tp, l, NULL), 0, "%s", ldm_last_error());
    size_t k = 0;
    for (int i = 0; i < ps->n; i++) {
        memcpy(g + k, ps->p[i].t->grad, ps->p[i].t->numel * sizeof(float));
        k += ps->p[i].t->numel;
    }
    arena_destroy(a);
    return d;
}

Test(mixed, unet_gradients_bf16_vs_fp32, .timeout = 600) {
    ModelConfig cfg;
    small_unet_config(&cfg);
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 31, true, true);
    UNet m;
    NoiseSchedule sched;
    cr_assert_eq(unet_init(&m, &ps, &cfg), 0, "%s", ldm_last_error());
    cr_assert_eq(schedule_from_config(&sched, &cfg), 0);
    cr_assert_eq(ps_randomize(&ps, 32, 0.3f), 0); /* no zero-initialised layer hides a path */
    Tensor *z0 = tu_data(4, (int[]){2, 4, 4, 4}, 33, -1, 1), *noise = tu_data(4, (int[]){2, 4, 4, 4}, 34, -1, 1);
    Tensor *labels = tu_data(1, (int[]){2}, 35, 0, 1);
    labels->data[0] = 1, labels->data[1] = 3;
    const int t[2] = {17, 640};
    const size_t n = ps_count(&ps);
    float *g32 = malloc(n * sizeof(float)), *g16 = malloc(n * sizeof(float)), l32, l16;
    cr_assert_eq(unet_grads(&m, &ps, &sched, z0, noise, t, labels, DT_F32, g32, &l32), 0, "fp32 stores nothing in bf16");
    const int D = unet_grads(&m, &ps, &sched, z0, noise, t, labels, DT_BF16, g16, &l16);
    double num = 0, den = 0;
    bool differ = false;
    for (size_t i = 0; i < n; i++) {
        num += ((double)g16[i] - g32[i]) * ((double)g16[i] - g32[i]);
        den += (double)g32[i] * g32[i];
        differ |= g16[i] != g32[i];
    }
    const double rel = sqrt(num / den), bound = sqrt((double)D) * U_BF16, lrel = fabs((double)l16 - l32) / fabs((double)l32);
    printf("mixed: U-Net gradients bf16 vs fp32: relative error %.3g (bound sqrt(D) u, D = %d: %.3g); loss %.3g\n",
           rel, D, bound, lrel);
    cr_expect(D > 20, "the bf16 path stored only %d tensors in bf16", D);
    cr_expect(differ, "bf16 gradients identical to fp32: the bf16 path was not taken");
    cr_expect_leq(rel, bound, "gradient relative error %.3g over sqrt(D) u = %.3g", rel, bound);
    cr_expect_leq(lrel, bound, "loss relative error %.3g over sqrt(D) u = %.3g", lrel, bound);
    free(g32), free(g16);
    tensor_free(z0), tensor_free(noise), tensor_free(labels);
    schedule_free(&sched);
    ps_free(&ps);
}

/* `steps` AdamW steps of the demo U-Net (32x32, unet_ch 16, batch 2) in dt; per-step losses into
 * loss[]. The data, noise, timesteps and labels are the same draws for both precisions. */
static int train_demo(DType dt, double *loss, int steps) {
    ModelConfig cfg;
    cfg_preset(&cfg, "demo");
    const char *kv[] = {"image_size=32", "data_size=32", "unet_ch=16", "head_dim=16"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) cr_assert_eq(cfg_set_arg(&cfg, kv[i]), 0, "%s", ldm_last_error());
    ParamSet ps, mo, vo;
    ps_init(&ps, DEV_CPU, 41, true, true);
    UNet m;
    NoiseSchedule sched;
    cr_assert_eq(unet_init(&m, &ps, &cfg), 0, "%s", ldm_last_error());
    cr_assert_eq(schedule_from_config(&sched, &cfg), 0);
    cr_assert_eq(ps_clone(&mo, &ps, DEV_CPU, false, false), 0);
    cr_assert_eq(ps_clone(&vo, &ps, DEV_CPU, false, false), 0);
    const AdamWConfig ac = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    const int B = 2, s = cfg_latent_size(&cfg), Z = cfg.latent_ch;
    Arena *a = arena_create(DEV_CPU, (size_t)256 << 20, (size_t)8 << 20);
    cr_assert(a, "%s", ldm_last_error());
    Tape tp;
    tape_init(&tp, a);
    tp.act_dtype = dt;
    Tensor *z0 = tu_data(4, (int[]){B, s, s, Z}, 42, -1, 1);
    Tensor *labels = cfg.num_classes ? tu_data(1, (int[]){B}, 43, 0, 1) : NULL;
    int D = 0;
    for (int k = 0; k < steps; k++) {
        arena_reset(a);
        tape_reset(&tp);
        Tensor *noise = tensor_new4(a, DEV_CPU, B, s, s, Z);
        cr_assert(noise && !rng_normal(noise, 44, (uint64_t)k * noise->numel));
        const int t[2] = {(k * 379 + 11) % 1000, (k * 613 + 500) % 1000};
        if (labels) labels->data[0] = (float)(k % cfg.num_classes), labels->data[1] = (float)cfg.num_classes;
        Tensor *l = unet_loss(&m, &tp, &sched, z0, noise, t, labels);
        cr_assert(l, "%s", ldm_last_error());
        loss[k] = l->data[0];
        if (k == 0) D = bf16_nodes(&tp);
        ps_zero_grad(&ps);
        cr_assert_eq(tape_backward(&tp, l, NULL), 0, "%s", ldm_last_error());
        for (int i = 0; i < ps.n; i++)
            cr_assert_eq(adamw_step(ps.p[i].t, mo.p[i].t, vo.p[i].t, &ac, k + 1, 1.0f), 0, "%s", ldm_last_error());
    }
    tensor_free(z0), tensor_free(labels);
    arena_destroy(a);
    schedule_free(&sched);
    ps_free(&ps), ps_free(&mo), ps_free(&vo);
    return D;
}

Test(mixed, demo_unet_100_steps_bf16_vs_fp32, .timeout = 900) {
    enum { STEPS = 100, TAIL = 20 };
    double l32[STEPS], l16[STEPS];
    cr_assert_eq(train_demo(DT_F32, l32, STEPS), 0);
    const int D = train_demo(DT_BF16, l16, STEPS);
    double m32 = 0, m16 = 0, f32 = 0, f16 = 0;
    for (int k = 0; k < TAIL; k++) f32 += l32[k] / TAIL, f16 += l16[k] / TAIL;
    for (int k = STEPS - TAIL; k < STEPS; k++) m32 += l32[k] / TAIL, m16 += l16[k] / TAIL;
    const double bound = sqrt((double)D) * U_BF16, rt = fabs(m16 - m32) / m32;
    double worst = 0;
    for (int k = 0; k < STEPS; k++) worst = fmax(worst, fabs(l16[k] - l32[k]) / l32[k]);
    printf("mixed: demo U-Net, %d steps: fp32 loss %.4f -> %.4f, bf16 %.4f -> %.4f (first / last %d steps); the "
           "last %d differ by %.3g (bound sqrt(D) u, D = %d: %.3g); worst single step %.3g\n",
           STEPS, f32, m32, f16, m16, TAIL, TAIL, rt, D, bound, worst);
    cr_expect(D > 20, "the bf16 run stored only %d tensors in bf16", D);
    cr_expect(worst > 0, "bf16 and fp32 losses identical at every step: the bf16 path was not taken");
    cr_expect_leq(rt, bound, "last %d steps: relative difference of the mean loss %.3g over sqrt(D) u = %.3g", TAIL, rt,
                  bound);
    cr_expect_lt(m32, f32, "fp32 did not learn (%.4f -> %.4f)", f32, m32);
    cr_expect_lt(m16, f16, "bf16 did not learn (%.4f -> %.4f)", f16, m16);
}

/* --precision picks the kernels with the activations: bf16 makes the tensor-core versions
 * the CUDA default for conv2d, linear and attention; fp32 restores the fp32 defaults. */
Test(mixed, precision_sets_the_tensor_core_default) {
    Tape t;
    tape_init(&t, NULL);
    cr_expect_not(kernel_prefers_tensor_cores());
    tape_set_precision(&t, DT_BF16);
    cr_expect_eq(t.act_dtype, DT_BF16);
    cr_expect(kernel_prefers_tensor_cores());
    tape_set_precision(&t, DT_F32);
    cr_expect_eq(t.act_dtype, DT_F32);
    cr_expect_not(kernel_prefers_tensor_cores());
}
