/* tests/test_models_train.c — the models can learn: a small VAE and a small U-Net each
 * overfit one fixed batch on the CPU with AdamW, their loss falling at least 10x in a few
 * hundred steps. (A few seconds in the plain build; minutes under AddressSanitizer, whose
 * instrumentation slows the CPU GEMM ~100x, hence the long timeouts.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>

#include "core/error.h"
#include "kernels/adamw.h"
#include "kernels/random.h"
#include "models/unet.h"
#include "models/vae.h"
#include "tests/util/testutil.h"

typedef struct {
    ParamSet m, v;
    AdamWConfig cfg;
    int step;
} Adam;

static void adam_init(Adam *o, const ParamSet *ps, float lr) {
    cr_assert_eq(ps_clone(&o->m, ps, DEV_CPU, false, false), 0);
    cr_assert_eq(ps_clone(&o->v, ps, DEV_CPU, false, false), 0);
    o->cfg = (AdamWConfig){.lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f};
    o->step = 0;
}

static void adam_step(Adam *o, ParamSet *ps) {
    o->step++;
    for (int i = 0; i < ps->n; i++)
        cr_assert_eq(adamw_step(ps->p[i].t, o->m.p[i].t, o->v.p[i].t, &o->cfg, o->step, 1.0f), 0, "%s",
                     ldm_last_error());
}

static void adam_free(Adam *o) {
    ps_free(&o->m);
    ps_free(&o->v);
}

/* Smooth images in [-1, 1]: a bright disc of a different size and place in each. */
static Tensor *disc_images(int n, int s) {
    Tensor *x = tensor_new4(NULL, DEV_CPU, n, s, s, 1);
    for (int b = 0; b < n; b++) {
        double cx = s * (0.3 + 0.13 * b), cy = s * (0.6 - 0.1 * b), r = s * (0.2 + 0.05 * b);
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                double d = sqrt((i - cy) * (i - cy) + (j - cx) * (j - cx));
                x->data[((size_t)b * s + i) * s + j] = (float)tanh((r - d) * 0.8);
            }
    }
    return x;
}

Test(models_train, vae_overfits_one_batch, .timeout = 600) {
    ModelConfig cfg;
    cfg_preset(&cfg, "demo");
    const char *kv[] = {"image_size=16", "data_size=16", "vae_ch=8", "vae_mult=1,2", "vae_groups=4", "kl_beta=1e-5"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) cr_assert_eq(cfg_set_arg(&cfg, kv[i]), 0);
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 1, true, true);
    VAE vae;
    cr_assert_eq(vae_init(&vae, &ps, &cfg), 0, "%s", ldm_last_error());
    Adam opt;
    adam_init(&opt, &ps, 3e-3f);
    Arena *a = arena_create(DEV_CPU, (size_t)64 << 20, (size_t)4 << 20);
    Tape tp;
    tape_init(&tp, a);
    Tensor *x = disc_images(4, 16);
    double first = 0, last = 0;
    const int steps = 200;
    for (int s = 0; s < steps; s++) {
        arena_reset(a);
        tape_reset(&tp);
        Tensor *noise = tensor_new4(a, DEV_CPU, 4, 8, 8, 4);
        cr_assert_eq(rng_normal(noise, 5, (uint64_t)s * noise->numel), 0);
        VAEOutput o;
        Tensor *loss = vae_loss(&vae, &tp, x, noise, &o);
        cr_assert(loss, "%s", ldm_last_error());
        cr_assert(isfinite(loss->data[0]), "step %d: loss %g", s, loss->data[0]);
        if (s < 5) first += o.recon->data[0] / 5;
        if (s >= steps - 5) last += o.recon->data[0] / 5;
        ps_zero_grad(&ps);
        cr_assert_eq(tape_backward(&tp, loss, NULL), 0, "%s", ldm_last_error());
        adam_step(&opt, &ps);
    }
    printf("VAE overfit: L1 reconstruction %.4f -> %.4f (%.1fx) in %d steps\n", first, last, first / last, steps);
    cr_expect_geq(first / last, 10.0, "reconstruction fell only %.1fx (%g -> %g)", first / last, first, last);
    tensor_free(x);
    arena_destroy(a);
    adam_free(&opt);
    ps_free(&ps);
}

Test(models_train, unet_overfits_one_batch, .timeout = 600) {
    ModelConfig cfg;
    cfg_preset(&cfg, "demo");
    const char *kv[] = {"image_size=32", "data_size=32", "unet_ch=16", "unet_mult=1,2", "unet_res=1",
                        "attn_res=4",    "head_dim=16",  "unet_groups=4"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) cr_assert_eq(cfg_set_arg(&cfg, kv[i]), 0);
    cr_assert_eq(cfg_latent_size(&cfg), 8);
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 2, true, true);
    UNet unet;
    NoiseSchedule sched;
    cr_assert_eq(unet_init(&unet, &ps, &cfg), 0, "%s", ldm_last_error());
    cr_assert_eq(schedule_from_config(&sched, &cfg), 0);
    Adam opt;
    adam_init(&opt, &ps, 2e-3f);
    Arena *a = arena_create(DEV_CPU, (size_t)64 << 20, (size_t)4 << 20);
    Tape tp;
    tape_init(&tp, a);
    Tensor *z0 = tu_data(4, (int[]){4, 8, 8, 4}, 3, -1, 1);
    Tensor *noise = tensor_new4(NULL, DEV_CPU, 4, 8, 8, 4);
    cr_assert_eq(rng_normal(noise, 4, 0), 0);
    Tensor *labels = tu_data(1, (int[]){4}, 5, 0, 1);
    const float lab[4] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++) labels->data[i] = lab[i];
    const int t[4] = {50, 300, 600, 900};
    double first = 0, last = 0;
    const int steps = 150;
    for (int s = 0; s < steps; s++) {
        arena_reset(a);
        tape_reset(&tp);
        Tensor *loss = unet_loss(&unet, &tp, &sched, z0, noise, t, labels);
        cr_assert(loss, "%s", ldm_last_error());
        cr_assert(isfinite(loss->data[0]), "step %d: loss %g", s, loss->data[0]);
        if (s < 5) first += loss->data[0] / 5;
        if (s >= steps - 5) last += loss->data[0] / 5;
        ps_zero_grad(&ps);
        cr_assert_eq(tape_backward(&tp, loss, NULL), 0, "%s", ldm_last_error());
        adam_step(&opt, &ps);
    }
    printf("U-Net overfit: noise MSE %.4f -> %.4f (%.1fx) in %d steps\n", first, last, first / last, steps);
    cr_expect_geq(first / last, 10.0, "noise loss fell only %.1fx (%g -> %g)", first / last, first, last);
    tensor_free(z0);
    tensor_free(noise);
    tensor_free(labels);
    schedule_free(&sched);
    arena_destroy(a);
    adam_free(&opt);
    ps_free(&ps);
}
