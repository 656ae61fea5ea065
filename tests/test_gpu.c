/* tests/test_gpu.c — the op table's device parity (bench/ops/op_table.h) on the quick
 * shapes (odd sizes, edge tiles, misaligned pointers, batch 1), every op, pass and kernel
 * version, under Criterion so that `make test` shows it.
 *   - With a GPU, or under the emulator (make CUDA=emu; `make test` builds it in
 *     $(BUILD)/emu), where each kernel is also checked for out-of-bounds and misaligned
 *     accesses, shared-memory races and barrier faults as it runs: the whole table; on the
 *     emulator then all of it again with every tensor misaligned.
 *   - Without a device (or in a CPU-only build): a visible skip, never a pass.
 *   - CUDA installed but broken: a failure naming the CUDA error.
 * And a tiny U-Net trains a few AdamW steps in bf16 (mixed precision) on the device, and
 * samples with guided DDIM in bf16, against the same on the CPU's bf16 reference.
 * The full shapes, the sanitizers and the benchmark are bench/gpu_run.sh. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench/ops/op_run.h"
#include "core/device.h"
#include "core/error.h"
#include "kernels/adamw.h"
#include "models/sampler.h"
#include "models/unet.h"

Test(gpu, op_table_parity_quick, .timeout = 900) {
    const int probe = dev_cuda_probe();
    cr_assert_geq(probe, 0, "%s", ldm_last_error());
    if (probe == 0) {
        fprintf(stderr, "SKIPPED: no CUDA device (tests/test_gpu.c)\n");
        cr_skip_test("no CUDA device: device parity not run (bench/gpu_run.sh runs it on a GPU)");
    }
    const char *s = getenv("LDM_TEST_SEED");
    OpRun r;
    op_run_init(&r, s ? strtoull(s, NULL, 10) : (uint64_t)time(NULL));
    printf("test_gpu on %s: seed %llu (LDM_TEST_SEED=%llu repeats it)\n", dev_cuda_name(),
           (unsigned long long)r.rng, (unsigned long long)r.rng);
    r.quiet_ok = true;
    op_run_table(&r, NULL, SHAPES_QUICK, DEV_CUDA, -1, false);
    if (dev_cuda_emulated()) { /* again with every tensor misaligned: the scalar paths and their guards */
        r.misalign_all = true;
        op_run_table(&r, NULL, SHAPES_QUICK, DEV_CUDA, -1, false);
    }
    cr_expect_eq(r.failed, 0, "%d device parity checks failed (FAIL lines above)", r.failed);
    cr_expect_gt(r.passed, 100);
}

/* The demo preset shrunk to a 16x16 image (4x4 latents) with every U-Net block kind. */
static void tiny_unet_config(ModelConfig *cfg) {
    cfg_preset(cfg, "demo");
    const char *kv[] = {"image_size=16", "data_size=16", "unet_ch=8", "unet_mult=1,2", "unet_res=1", "attn_res=4",
                        "head_dim=8",    "unet_groups=4", "ctx_tokens=2", "ctx_dim=6"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) cr_assert_eq(cfg_set_arg(cfg, kv[i]), 0, "%s", ldm_last_error());
}

/* STEPS AdamW steps of a tiny conditional U-Net (every block kind: ResBlocks, self- and
 * cross-attention, skips) with bf16 activations on dev, from seed 61; per-step losses into
 * loss[]; returns the bf16 tape nodes of a step (D). */
#define TRAIN_STEPS 3
static int unet_bf16_steps(Device dev, double *loss) {
    ModelConfig cfg;
    tiny_unet_config(&cfg);
    ParamSet ps, m, v;
    UNet net;
    NoiseSchedule sched;
    ps_init(&ps, DEV_CPU, 61, true, true);
    cr_assert_eq(unet_init(&net, &ps, &cfg) || ps_randomize(&ps, 62, 0.2f) || ps_to_device(&ps, dev) ||
                     ps_clone(&m, &ps, dev, false, false) || ps_clone(&v, &ps, dev, false, false) ||
                     schedule_from_config(&sched, &cfg),
                 0, "%s", ldm_last_error());
    const int s = cfg_latent_size(&cfg), shape[4] = {2, s, s, cfg.latent_ch};
    const size_t n = 2 * (size_t)s * s * cfg.latent_ch;
    float *h = malloc(n * sizeof(float));
    Tensor *z0 = tensor_new(NULL, dev, 4, shape), *noise = tensor_new(NULL, dev, 4, shape);
    Tensor *labels = tensor_new1(NULL, dev, 2);
    for (size_t i = 0; i < n; i++) h[i] = (float)sin(0.37 * (double)i);
    cr_assert(z0 && noise && labels && !tensor_from_host(z0, h));
    for (size_t i = 0; i < n; i++) h[i] = (float)cos(1.3 * (double)i + 0.2);
    cr_assert(!tensor_from_host(noise, h) && !tensor_from_host(labels, (float[]){1, 3}));
    const AdamWConfig ac = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    Arena *a = arena_create(dev, (size_t)64 << 20, (size_t)4 << 20);
    cr_assert(a, "%s", ldm_last_error());
    Tape tp;
    tape_init(&tp, a);
    tape_set_precision(&tp, DT_BF16); /* conv2d, linear, attention: version 3 on the device */
    int D = 0;
    for (int k = 0; k < TRAIN_STEPS; k++) {
        arena_reset(a);
        tape_reset(&tp);
        const int t[2] = {40 + 300 * k, 900 - 200 * k};
        Tensor *l = unet_loss(&net, &tp, &sched, z0, noise, t, labels);
        float lv;
        cr_assert(l && !tensor_to_host(l, &lv), "%s", ldm_last_error());
        loss[k] = lv;
        D = 0;
        for (const TapeNode *nd = tp.last; nd; nd = nd->prev) D += nd->out->dtype == DT_BF16;
        cr_assert_eq(ps_zero_grad(&ps) || tape_backward(&tp, l, NULL), 0, "%s", ldm_last_error());
        for (int i = 0; i < ps.n; i++)
            cr_assert_eq(adamw_step(ps.p[i].t, m.p[i].t, v.p[i].t, &ac, k + 1, 1.0f), 0, "%s", ldm_last_error());
    }
    tape_set_precision(&tp, DT_F32);
    free(h);
    tensor_free(z0), tensor_free(noise), tensor_free(labels);
    arena_destroy(a);
    schedule_free(&sched);
    ps_free(&ps), ps_free(&m), ps_free(&v);
    return D;
}

/* The device's kernels sum in other orders than the CPU's (fp32 results ~1e-6 apart), so a
 * bf16 store may land one ulp (2^-7) apart now and then; those flips are independent
 * roundings, the same bound as tests/test_mixed.c's: sqrt(D) u relative, u = 2^-8. */
Test(gpu, unet_trains_in_bf16, .timeout = 900) {
    const int probe = dev_cuda_probe();
    cr_assert_geq(probe, 0, "%s", ldm_last_error());
    if (probe == 0) {
        fprintf(stderr, "SKIPPED: no CUDA device (tests/test_gpu.c, bf16 training)\n");
        cr_skip_test("no CUDA device: bf16 training on the device not run");
    }
    double lc[TRAIN_STEPS], ld[TRAIN_STEPS];
    const int D = unet_bf16_steps(DEV_CPU, lc);
    cr_assert_eq(unet_bf16_steps(DEV_CUDA, ld), D, "the device stored another number of bf16 tensors");
    const double bound = sqrt((double)D) / 256.0;
    for (int k = 0; k < TRAIN_STEPS; k++) {
        const double r = fabs(ld[k] - lc[k]) / fabs(lc[k]);
        printf("bf16 U-Net step %d on %s: loss %.6f (cpu %.6f, relative difference %.3g, bound sqrt(%d) / 256 = %.3g)\n",
               k + 1, dev_cuda_name(), ld[k], lc[k], r, D, bound);
        cr_expect(isfinite(ld[k]) && r <= bound, "step %d: loss %g on the device, %g on the cpu", k + 1, ld[k], lc[k]);
    }
    cr_expect(D > 20, "only %d bf16 tensors in a step", D);
    cr_expect_neq(ld[TRAIN_STEPS - 1], ld[0], "the loss never moved: no training happened");
}

/* Guided DDIM sampling (SAMPLE_STEPS steps, guidance 2, two classes) of the tiny U-Net above
 * with bf16 activations on dev (act_dtype bf16), or fp32 when bf16 is false; the sample into
 * out[n]. Returns n. */
#define SAMPLE_STEPS 4
static size_t unet_sample(Device dev, bool bf16, float *out, size_t cap) {
    ModelConfig cfg;
    tiny_unet_config(&cfg);
    ParamSet ps;
    UNet net;
    NoiseSchedule sched;
    ps_init(&ps, DEV_CPU, 61, true, false);
    cr_assert_eq(unet_init(&net, &ps, &cfg) || ps_randomize(&ps, 63, 0.2f) || ps_to_device(&ps, dev) ||
                     schedule_from_config(&sched, &cfg),
                 0, "%s", ldm_last_error());
    const int s = cfg_latent_size(&cfg), shape[4] = {2, s, s, cfg.latent_ch};
    Tensor *x = tensor_new(NULL, dev, 4, shape);
    cr_assert(x && x->numel <= cap && !sample_init_noise(x, 5), "%s", ldm_last_error());
    Arena *a = arena_create(dev, (size_t)64 << 20, (size_t)4 << 20);
    cr_assert(a, "%s", ldm_last_error());
    Tape tp;
    tape_init(&tp, a);
    tape_set_precision(&tp, bf16 ? DT_BF16 : DT_F32);
    const SamplerOpts o = {.kind = SAMPLER_DDIM, .steps = SAMPLE_STEPS, .guidance = 2.0f, .seed = 7,
                           .null_label = cfg.num_classes};
    cr_assert_eq(sample(&sched, unet_eps, &net, &tp, x, (const int[]){1, 2}, &o), 0, "%s", ldm_last_error());
    tape_set_precision(&tp, DT_F32);
    const size_t n = x->numel;
    cr_assert_eq(tensor_to_host(x, out), 0, "%s", ldm_last_error());
    tensor_free(x);
    arena_destroy(a);
    schedule_free(&sched);
    ps_free(&ps);
    return n;
}

static double rel_max_diff(const float *a, const float *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return d / m;
}

/* bf16 sampling on the device (conv2d, linear, attention in their tensor-core versions, as
 * bf16 precision picks them) against the CPU's bf16 reference. The device sums in other
 * orders (~1e-6 apart in fp32), so a bf16 store may round one ulp apart now and then; those
 * flips are independent roundings that add in quadrature over the steps, as in the training
 * test: bound sqrt(SAMPLE_STEPS D) u, D the bf16 tensors of one forward of this network (the
 * training test's count), u = 2^-8. The bound is loose (measured: 2e-3 against 9e-2): this
 * catches gross faults of the bf16 path on the device (a 50% error in the bf16 stores, NaNs,
 * a lost guidance half), while each kernel's own accuracy is the op table's parity test.
 * And the bf16 sample is not the fp32 one (the path really rounds), within the same bound. */
Test(gpu, unet_samples_in_bf16, .timeout = 900) {
    const int probe = dev_cuda_probe();
    cr_assert_geq(probe, 0, "%s", ldm_last_error());
    if (probe == 0) {
        fprintf(stderr, "SKIPPED: no CUDA device (tests/test_gpu.c, bf16 sampling)\n");
        cr_skip_test("no CUDA device: bf16 sampling on the device not run");
    }
    enum { CAP = 1024 };
    float c[CAP], d[CAP], f[CAP];
    const size_t n = unet_sample(DEV_CPU, true, c, CAP);
    cr_assert_eq(unet_sample(DEV_CUDA, true, d, CAP), n);
    cr_assert_eq(unet_sample(DEV_CPU, false, f, CAP), n);
    double lc[TRAIN_STEPS];
    const int D = unet_bf16_steps(DEV_CPU, lc);
    const double bound = sqrt((double)SAMPLE_STEPS * D) / 256.0;
    const double dev_err = rel_max_diff(d, c, n), fp_err = rel_max_diff(c, f, n);
    printf("bf16 guided DDIM (%d steps) on %s: max |device - cpu| / max |cpu| = %.3g, bf16 vs fp32 %.3g, "
           "bound sqrt(%d x %d) / 256 = %.3g\n", SAMPLE_STEPS, dev_cuda_name(), dev_err, fp_err, SAMPLE_STEPS, D, bound);
    for (size_t i = 0; i < n; i++) cr_assert(isfinite(d[i]), "sample element %zu is %g", i, d[i]);
    cr_expect_leq(dev_err, bound, "device bf16 sample off the CPU's by %g", dev_err);
    cr_expect_gt(fp_err, 0.0, "the bf16 sample equals the fp32 one: no rounding happened");
    cr_expect_leq(fp_err, bound, "bf16 sample off the fp32 one by %g", fp_err);
}
