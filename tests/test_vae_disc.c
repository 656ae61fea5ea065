/* tests/test_vae_disc.c — the VAE's patch discriminator (models/patch_disc.h,
 * train/vae_adversary.h, ldm-train vae --disc-weight):
 *   - the hinge loss, its gradients and the adaptive weight against hand-computed values;
 *   - the decoder's last-layer gradient norm equals the one the tape gives, and the VAE's
 *     surrogate backward gives the gradient of recon + kl_beta KL + lambda L_G;
 *   - the discriminator step learns to tell real images from a constant fake;
 *   - ldm-train: before --disc-start the run is the plain VAE's, bit for bit, and the
 *     discriminator keeps its initial weights; with it on, stop + resume equals an
 *     uninterrupted run (discriminator weights and moments included); a checkpoint with a
 *     discriminator trains a U-Net, samples and is judged by ldm-eval vae; one without
 *     resumes as before.
 * The CLI tests use the tiny 16x16 `demo` of test_train_cli.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "models/checkpoint.h"
#include "models/patch_disc.h"
#include "models/vae.h"
#include "tests/util/data_fixtures.h"
#include "tests/util/testutil.h"
#include "train/vae_adversary.h"

// ----------------------------------------------------------------------------
// the math

Test(vae_disc, hinge_loss_and_gradients_by_hand) {
    /* relu(1 - r) = {0, 0.5, 2, 0}, mean 0.625; relu(1 + f) = {0, 1, 1.5}, mean 2.5/3 */
    const float r[4] = {2.0f, 0.5f, -1.0f, 1.0f}, f[3] = {-2.0f, 0.0f, 0.5f};
    float dr[4], df[3];
    double l = disc_hinge_loss(r, 4, f, 3, dr, df);
    cr_expect(fabs(l - (0.625 + 2.5 / 3)) < 1e-12, "L_D %.17g", l);
    const float want_dr[4] = {0, -0.25f, -0.25f, 0}, want_df[3] = {0, 1.0f / 3, 1.0f / 3};
    for (int i = 0; i < 4; i++) cr_expect_eq(dr[i], want_dr[i], "dr[%d] = %g, want %g", i, dr[i], want_dr[i]);
    for (int i = 0; i < 3; i++) cr_expect_eq(df[i], want_df[i], "df[%d] = %g, want %g", i, df[i], want_df[i]);
    /* a perfect discriminator (margins met) has no loss and no gradient */
    const float r2[2] = {1.5f, 3.0f}, f2[2] = {-1.5f, -4.0f};
    cr_expect_eq(disc_hinge_loss(r2, 2, f2, 2, dr, df), 0.0);
    cr_expect(dr[0] == 0 && dr[1] == 0 && df[0] == 0 && df[1] == 0);
}

Test(vae_disc, adaptive_weight_by_hand) {
    cr_expect(fabs(disc_adaptive_weight(3.0, 1.0, 0.5) - 0.5 * 3.0 / 1.0001) < 1e-12);
    cr_expect(fabs(disc_adaptive_weight(2.0, 0.0, 1.0) - 2e4) > 1, "g_norm 0: 2 / 1e-4 is clamped");
    cr_expect_eq(disc_adaptive_weight(2.0, 0.0, 1.0), 1e4);
    cr_expect_eq(disc_adaptive_weight(1e9, 1e-9, 0.25), 0.25 * 1e4);
    cr_expect_eq(disc_adaptive_weight(0.0, 5.0, 0.5), 0.0);
    cr_expect_eq(disc_adaptive_weight(3.0, 1.0, 0.0), 0.0);
}

Test(vae_disc, patch_grid_and_names) {
    ParamSet ps;
    PatchDisc d;
    ps_init(&ps, DEV_CPU, 1, true, true);
    cr_assert_eq(disc_init(&d, &ps, 1), 0, "%s", ldm_last_error());
    cr_expect_not_null(ps_find(&ps, "conv_in.weight"));
    cr_expect_not_null(ps_find(&ps, "layer.3.norm.weight"));
    cr_expect_eq(ps_count(&ps), disc_param_count(1));
    Arena *ar = arena_create(DEV_CPU, (size_t)16 << 20, (size_t)1 << 20);
    Tape t;
    tape_init(&t, ar);
    Tensor *x = tensor_zeros(ar, DEV_CPU, 4, (int[]){2, 32, 32, 1});
    Tensor *y = disc_forward(&d, &t, x);
    cr_assert_not_null(y, "%s", ldm_last_error());
    cr_expect(y->shape[0] == 2 && y->shape[1] == 4 && y->shape[2] == 4 && y->shape[3] == 1, "logits %s", tshape(y));
    cr_expect_null(disc_forward(&d, &t, tensor_zeros(ar, DEV_CPU, 4, (int[]){1, 20, 20, 1})), "20 is not a multiple of 8");
    arena_destroy(ar);
    ps_free(&ps);
}

// ----------------------------------------------------------------------------
// the adaptive weight's gradients, against the tape

static ModelConfig tiny_cfg(void) {
    ModelConfig c;
    cr_assert_eq(cfg_preset(&c, "demo"), 0);
    const char *sets[][2] = {{"image_size", "16"}, {"data_size", "16"}, {"vae_ch", "8"}, {"vae_groups", "4"},
                             {"unet_ch", "16"}, {"unet_groups", "4"}, {"head_dim", "16"}, {"ctx_dim", "16"},
                             {"attn_res", "2"}, {"unet_mult", "1,2"}};
    for (int i = 0; i < 10; i++) cr_assert_eq(cfg_set(&c, sets[i][0], sets[i][1]), 0, "%s", ldm_last_error());
    return c;
}

/* Fills every parameter's gradient of ps into one host array (concatenated). */
static double *grads(const ParamSet *ps) {
    double *g = malloc(ps->numel * sizeof(double));
    float *tmp = malloc(ps->numel * sizeof(float));
    size_t o = 0;
    for (int i = 0; i < ps->n; i++) {
        Tensor gv = tensor_grad_view(ps->p[i].t);
        cr_assert_eq(tensor_to_host(&gv, tmp), 0);
        for (size_t k = 0; k < gv.numel; k++) g[o + k] = tmp[k];
        o += gv.numel;
    }
    free(tmp);
    return g;
}

Test(vae_disc, surrogate_backward_is_the_weighted_gan_gradient, .timeout = 120) {
    ModelConfig cfg = tiny_cfg();
    VAE v;
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 3, true, true);
    cr_assert_eq(vae_init(&v, &ps, &cfg), 0, "%s", ldm_last_error());
    const int B = 2, S = 16, ls = cfg_latent_size(&cfg);
    Arena *ar = arena_create(DEV_CPU, (size_t)64 << 20, (size_t)1 << 20);
    Tape t;
    tape_init(&t, ar);
    Adversary adv;
    cr_assert_eq(adv_init(&adv, &v, ar, DEV_CPU, DT_F32, B, 5, 0.7, 0), 0, "%s", ldm_last_error());
    Tensor *x = tu_data(4, (int[]){B, S, S, 1}, 11, -1, 1), *noise = tu_data(4, (int[]){B, ls, ls, 4}, 12, -1, 1);

    /* the adversary's way: lambda from the two norms, then one backward from the surrogate */
    VAEOutput o;
    Tensor *loss = vae_loss(&v, &t, x, noise, &o), *root, *logged;
    cr_assert_not_null(loss, "%s", ldm_last_error());
    cr_assert_eq(adv_generator(&adv, &v, &t, x, &o, &root, &logged), 0, "%s", ldm_last_error());
    float lv, tv;
    cr_assert_eq(tensor_to_host(logged, &lv), 0);
    cr_assert_eq(ps_zero_grad(&ps), 0);
    cr_assert_eq(tape_backward(&t, root, NULL), 0, "%s", ldm_last_error());
    double *got = grads(&ps), lambda = adv.lambda;
    cr_expect(lambda > 0 && lambda < 0.7e4, "lambda %g", lambda);

    /* the norms by the tape: backward of recon alone, then of L_G alone, each on a fresh forward */
    double norm[2];
    for (int k = 0; k < 2; k++) {
        arena_reset(ar), tape_reset(&t);
        cr_assert_not_null(vae_loss(&v, &t, x, noise, &o));
        Tensor *l = k == 0 ? o.recon : ag_scale(&t, ag_mean(&t, disc_forward(&adv.d, &t, o.x_hat)), -1.0f);
        cr_assert_eq(ps_zero_grad(&ps), 0);
        cr_assert_eq(tape_backward(&t, l, NULL), 0, "%s", ldm_last_error());
        Tensor gw = tensor_grad_view(v.dec_out.w);
        cr_assert_eq(sumsq(&gw, &norm[k]), 0);
        norm[k] = sqrt(norm[k]);
    }
    cr_expect(fabs(adv.rec_norm - norm[0]) <= 1e-4 * norm[0], "|grad rec| %.8g, tape %.8g", adv.rec_norm, norm[0]);
    cr_expect(fabs(adv.g_norm - norm[1]) <= 1e-4 * norm[1], "|grad G| %.8g, tape %.8g", adv.g_norm, norm[1]);
    cr_expect(fabs(lambda - disc_adaptive_weight(norm[0], norm[1], 0.7)) <= 1e-4 * lambda);

    /* the total loss directly: recon + kl_beta KL + lambda L_G, one backward */
    arena_reset(ar), tape_reset(&t);
    cr_assert_not_null(vae_loss(&v, &t, x, noise, &o));
    Tensor *lg = ag_scale(&t, ag_mean(&t, disc_forward(&adv.d, &t, o.x_hat)), -1.0f);
    Tensor *total = ag_add(&t, o.loss, ag_scale(&t, lg, (float)lambda));
    cr_assert_eq(ps_zero_grad(&ps), 0);
    cr_assert_eq(tape_backward(&t, total, NULL), 0, "%s", ldm_last_error());
    double *want = grads(&ps), worst = 0, scale = 0;
    for (size_t i = 0; i < ps.numel; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < ps.numel; i++) worst = fmax(worst, fabs(got[i] - want[i]));
    cr_expect(worst <= 1e-4 * scale, "VAE gradients differ by %g (largest %g)", worst, scale);
    cr_assert_eq(tensor_to_host(total, &tv), 0);
    cr_expect(fabsf(lv - tv) <= 1e-5f * fabsf(tv), "logged %.8g, total %.8g", lv, tv);
    free(got), free(want);
    tensor_free(x), tensor_free(noise);
    adv_free(&adv);
    arena_destroy(ar);
    ps_free(&ps);
}

// ----------------------------------------------------------------------------
// the discriminator learns

/* Mean logit of D on n images (host, n <= 8) of size S. */
static double mean_logit(Adversary *a, Arena *ar, const float *img, int n, int S) {
    arena_reset(ar);
    tape_reset(&a->tp);
    bool prev = tape_set_grad_enabled(&a->tp, false);
    Tensor *x = tensor_new4(ar, DEV_CPU, n, S, S, 1);
    cr_assert_eq(tensor_from_host(x, img), 0);
    Tensor *y = disc_forward(&a->d, &a->tp, x);
    cr_assert_not_null(y);
    float h[8 * 16];
    cr_assert_eq(tensor_to_host(y, h), 0);
    double s = 0;
    for (size_t i = 0; i < y->numel; i++) s += h[i];
    tape_set_grad_enabled(&a->tp, prev);
    return s / y->numel;
}

Test(vae_disc, discriminator_separates_real_from_a_constant_fake, .timeout = 120) {
    ModelConfig cfg = tiny_cfg();
    cr_assert_eq(cfg_set(&cfg, "image_size", "32") || cfg_set(&cfg, "data_size", "32") || cfg_set(&cfg, "attn_res", "4"), 0,
                 "%s", ldm_last_error());
    VAE v;
    ParamSet vps;
    ps_init(&vps, DEV_CPU, 3, true, false); /* the VAE only lends its shape to adv_init */
    cr_assert_eq(vae_init(&v, &vps, &cfg), 0, "%s", ldm_last_error());
    const int B = 4, S = 32, P = S * S;
    Arena *ar = arena_create(DEV_CPU, (size_t)32 << 20, (size_t)1 << 20);
    Adversary adv;
    cr_assert_eq(adv_init(&adv, &v, ar, DEV_CPU, DT_F32, B, 7, 0.5, 10), 0, "%s", ldm_last_error());
    /* real: B Gaussian blobs at different places; fake: a constant gray */
    float real[4 * 32 * 32], fake[4 * 32 * 32];
    for (int b = 0; b < B; b++)
        for (int i = 0; i < P; i++) {
            double dx = i % S - 10 - 4 * b, dy = i / S - 12 - 2 * b;
            real[b * P + i] = (float)(2 * exp(-(dx * dx + dy * dy) / 40.0) - 1);
            fake[b * P + i] = -0.2f;
        }
    double before = mean_logit(&adv, ar, real, B, S) - mean_logit(&adv, ar, fake, B, S);
    double first = NAN;
    for (int k = 0; k < 40; k++) {
        arena_reset(ar);
        memcpy(adv.host, real, sizeof real);
        memcpy(adv.host + B * P, fake, sizeof fake);
        cr_assert_eq(adv_discriminator_step(&adv, 10 + k, 2e-3), 0, "%s", ldm_last_error());
        if (k == 0) first = adv.loss_d;
    }
    double r = mean_logit(&adv, ar, real, B, S), f = mean_logit(&adv, ar, fake, B, S);
    cr_expect(r > 0.5 && f < -0.5, "real %.3f, fake %.3f (before: gap %.3f)", r, f, before);
    cr_expect(adv.loss_d < 0.25 * first, "L_D %.4f after 40 steps, %.4f at the first", adv.loss_d, first);
    cr_expect_eq(adv.steps_done, 40);
    adv_free(&adv);
    arena_destroy(ar);
    ps_free(&vps);
}

// ----------------------------------------------------------------------------
// ldm-train vae --disc-weight

static char *tmp, bindir[4096], out[65536];

#define TINY                                                                                                  \
    "--preset demo --set image_size=16 --set data_size=16 --set vae_ch=8 --set vae_groups=4 --set unet_ch=16 " \
    "--set unet_groups=4 --set head_dim=16 --set ctx_dim=16 --set attn_res=2 --set unet_mult=1,2 --device cpu "   \
    "--batch 4 --quiet"
#define run(prog, ...) tu_run_cli(bindir, out, sizeof out, prog, __VA_ARGS__)

/* 3 classes x 4 patients x 3 slices of smooth 16x16 blobs, as test_train_cli.c's */
static void setup(void) {
    cr_assert((tmp = fx_tmpdir()));
    tu_build_dir(bindir, sizeof bindir);
    static const char *cls[3] = {"inferior", "middle", "superior"};
    uint8_t px[16 * 16];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 4; p++)
            for (int s = 0; s < 3; s++) {
                for (int i = 0; i < 256; i++) {
                    int dx = i % 16 - 5 - 2 * c - s, dy = i / 16 - 6 - p, v = 230 - 12 * (dx * dx + dy * dy);
                    px[i] = (uint8_t)(v < 0 ? 0 : v);
                }
                char rel[128];
                snprintf(rel, sizeof rel, "data/%s/p%d_%d.png", cls[c], p, s);
                char *path = fx_path(tmp, rel);
                cr_assert_eq(fx_write_png(path, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
                free(path);
            }
}
static void teardown(void) {
    fx_rmtree(tmp);
    free(tmp);
}

static void train(const char *dir, const char *extra) {
    int rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/%s %s", tmp, tmp, dir, extra);
    cr_assert_eq(rc, 0, "ldm-train vae %s failed (%d):\n%s", extra, rc, out);
}

/* Column 1 (the loss) of the CSV's data rows, as text. */
static int csv_losses(const char *dir, char rows[][64], int max) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s/vae.csv", tmp, dir);
    FILE *f = fopen(p, "r");
    cr_assert_not_null(f, "no %s", p);
    char line[512];
    int n = 0;
    cr_assert_not_null(fgets(line, sizeof line, f)); /* header */
    while (n < max && fgets(line, sizeof line, f)) {
        char *a = strchr(line, ','), *b = a ? strchr(a + 1, ',') : NULL;
        cr_assert(a && b, "bad row %s", line);
        snprintf(rows[n++], 64, "%.*s", (int)(b - a - 1), a + 1);
    }
    fclose(f);
    return n;
}

static void open_ck(SafeTensors *st, const char *dir) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s/vae.safetensors", tmp, dir);
    cr_assert_eq(st_load(p, st), 0, "%s", ldm_last_error());
}

static bool same_bytes(const SafeTensors *x, const SafeTensors *y, const char *name) {
    const StEntry *e = st_find(x, name), *f = st_find(y, name);
    cr_assert(e && f, "%s missing", name);
    return e->end - e->begin == f->end - f->begin && !memcmp(x->data + e->begin, y->data + f->begin, e->end - e->begin);
}

Test(vae_disc_cli, before_disc_start_the_run_is_the_plain_vae, .init = setup, .fini = teardown, .timeout = 120) {
    train("plain", "--steps 4");
    train("late", "--steps 4 --disc-weight 0.5 --disc-start 2");
    train("never", "--steps 4 --disc-weight 0.5 --disc-start 4");
    char a[8][64], b[8][64], c[8][64];
    cr_assert_eq(csv_losses("plain", a, 8), 4);
    cr_assert_eq(csv_losses("late", b, 8), 4);
    cr_assert_eq(csv_losses("never", c, 8), 4);
    for (int i = 0; i < 4; i++) cr_expect_str_eq(c[i], a[i], "step %d: disc-start 4 is never reached", i + 1);
    for (int i = 0; i < 2; i++) cr_expect_str_eq(b[i], a[i], "step %d is before disc-start 2", i + 1);
    for (int i = 2; i < 4; i++) cr_expect_str_neq(b[i], a[i], "step %d: the discriminator counts", i + 1);
    /* "never": the discriminator is in the checkpoint at its initial values, moments zero;
     * "late": trained */
    SafeTensors sn, sl;
    open_ck(&sn, "never");
    open_ck(&sl, "late");
    ParamSet ps;
    PatchDisc d;
    ps_init(&ps, DEV_CPU, 0, true, false); /* --seed 0 */
    cr_assert_eq(disc_init(&d, &ps, 1), 0);
    for (int i = 0; i < ps.n; i++) {
        char name[160];
        snprintf(name, sizeof name, "disc.%s", ps.p[i].name);
        const StEntry *e = st_find(&sn, name);
        cr_assert_not_null(e, "%s missing", name);
        cr_assert_eq((size_t)(e->end - e->begin), ps.p[i].numel * 4);
        cr_expect(!memcmp(sn.data + e->begin, ps.p[i].t->data, ps.p[i].numel * 4), "%s moved before disc-start", name);
    }
    cr_expect(!same_bytes(&sn, &sl, "disc.conv_out.weight"), "the discriminator trained from disc-start");
    cr_expect(!same_bytes(&sn, &sl, "disc.adam.v.conv_in.weight"));
    cr_expect_not_null(st_find(&sl, "disc.adam.m.layer.2.conv.weight"));
    ps_free(&ps);
    st_free(&sn);
    st_free(&sl);
}

Test(vae_disc_cli, resume_with_the_discriminator_equals_an_uninterrupted_run, .init = setup, .fini = teardown,
     .timeout = 120) {
    train("full", "--steps 5 --disc-weight 0.5 --disc-start 1");
    train("part", "--steps 5 --disc-weight 0.5 --disc-start 1 --stop-after 3");
    int rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/part --resume %s/part/vae.safetensors", tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    char a[8][64], b[8][64];
    cr_assert_eq(csv_losses("full", a, 8), 5);
    cr_assert_eq(csv_losses("part", b, 8), 5);
    for (int i = 0; i < 5; i++) cr_expect_str_eq(b[i], a[i], "step %d", i + 1);
    SafeTensors x, y;
    open_ck(&x, "full");
    open_ck(&y, "part");
    cr_assert_eq(x.n, y.n);
    int disc = 0;
    for (int i = 0; i < x.n; i++) {
        disc += !strncmp(x.entries[i].name, "disc.", 5);
        cr_expect(same_bytes(&x, &y, x.entries[i].name), "tensor %s differs", x.entries[i].name);
    }
    cr_expect_gt(disc, 0, "the checkpoint holds the discriminator");
    cr_expect_str_eq(st_meta(&y, "train.disc_weight"), "0.5");
    st_free(&x);
    st_free(&y);
    /* a flag that contradicts the checkpoint is refused */
    rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/part --steps 6 --disc-weight 1 --resume %s/part/vae.safetensors",
             tmp, tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "--disc-weight"), "%s", out);
}

Test(vae_disc_cli, checkpoints_with_and_without_the_discriminator_load, .init = setup, .fini = teardown,
     .timeout = 120) {
    /* with: the U-Net's training and ldm-sample read the VAE and ignore disc.* */
    train("with", "--steps 2 --disc-weight 0.5");
    int rc = run("ldm-train", "unet " TINY " --data %s/data --vae %s/with/vae.safetensors --out %s/u --steps 2", tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    rc = run("ldm-sample", "--unet %s/u/unet.safetensors --vae %s/with/vae.safetensors --label middle --n 1 --steps 2 "
             "--device cpu --out %s/g.png", tmp, tmp, tmp);
    cr_expect_eq(rc, 0, "%s", out);
    rc = run("ldm-eval", "vae --vae %s/with/vae.safetensors --data %s/data --device cpu", tmp, tmp);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "PSNR"), "%s", out);
    /* without: resumes as a plain VAE run, and writes no disc.* */
    train("without", "--steps 2");
    rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/without --steps 3 --resume %s/without/vae.safetensors",
             tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    SafeTensors s;
    open_ck(&s, "without");
    for (int i = 0; i < s.n; i++) cr_expect(strncmp(s.entries[i].name, "disc.", 5), "%s", s.entries[i].name);
    cr_expect_null(st_meta(&s, "train.disc_weight"));
    st_free(&s);
}

Test(vae_disc_cli, flags_are_checked) {
    tu_build_dir(bindir, sizeof bindir);
    cr_expect_eq(run("ldm-train", "vae --preset demo --data x --out y --disc-weight -1"), 2, "%s", out);
    cr_expect_eq(run("ldm-train", "vae --preset demo --data x --out y --disc-weight 101"), 2, "%s", out);
    cr_expect_eq(run("ldm-train", "vae --preset demo --data x --out y --disc-weight 1 --disc-start -3"), 2, "%s", out);
    cr_expect_eq(run("ldm-train", "unet --preset demo --data x --out y --vae v --disc-weight 1"), 2, "%s", out);
    cr_expect(strstr(out, "'ldm-train vae'"), "%s", out);
    cr_expect_eq(run("ldm-train", "vae --preset demo --data x --out y --disc-start 5"), 2, "%s", out);
    cr_expect_eq(run("ldm-train", "--help"), 0);
    cr_expect(strstr(out, "--disc-weight X") && strstr(out, "--disc-start N"), "--help lists them");
}
