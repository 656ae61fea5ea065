/* train/train_vae.c — `ldm-train vae`: the autoencoder that maps images to latents.
 *
 * One step (batch x (B, S, S, C) in [-1, 1], C = channels: 1 gray, 3 RGB):
 *   noise ~ N(0, I) of the latent's shape, Philox (seed ^ TRAIN_STREAM, rng_offset)
 *   loss  = recon(decode(mean + exp(logvar/2) noise), x) + kl_beta KL     (models/vae.c)
 *   backward, clip the global gradient norm, AdamW at lr_at(step)        (train/optimizer.c)
 * With --disc-weight X > 0, from step --disc-start on: a patch discriminator's hinge loss
 * joins in, weighted adaptively, and the discriminator trains beside the VAE
 * (train/vae_adversary.h); it and its moments travel in the checkpoint ("disc.*").
 * After each epoch and at the end: validation on the held-out patients (reconstruction
 * from the posterior mean: loss and PSNR). At every checkpoint: the latent scale
 * 1 / std(z) over (up to 2048 of) the training images, so that the U-Net sees latents
 * of unit variance (Rombach et al. 2022, section 4.3.2 / appendix G), and DIR/vae_recon.png
 * with the first validation images and their reconstructions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/error.h"
#include "kernels/elementwise.h"
#include "kernels/random.h"
#include "models/vae.h"
#include "train/optimizer.h"
#include "train/train_data.h"
#include "train/train_run.h"
#include "train/vae_adversary.h"
#include "train/trainers.h"
#include "train/vae_preview.h"

#define VAL_MAX 256      /* validation images */
#define SCALE_MAX 2048   /* images for the latent scale */
#define PREVIEW 8        /* images in DIR/vae_recon.png */
#define SCALE_STREAM 0x5343414c45ull /* "SCALE": the posterior noise of the scale measurement */

typedef struct {
    VAE vae;
    ParamSet ps;
    Arena *arena;
    Tape tp;
    Device dev;
} VaeModel;

// ----------------------------------------------------------------------------
// evaluation (no-grad, in chunks of `chunk` images)

/* Reconstruction loss, KL term and PSNR of the posterior-mean reconstruction of the
 * images `x` (n, S, S, C) on the host; the reconstructions into x_hat (n, S, S, C) when given. */
static int vae_validate(VaeModel *m, const ModelConfig *cfg, const float *x, int n, int chunk, double *loss,
                        double *psnr, float *x_hat) {
    const int S = cfg->image_size, ls = cfg_latent_size(cfg), Z = cfg->latent_ch;
    const size_t P = (size_t)S * S * cfg->channels; /* floats per image */
    double sum_loss = 0, sum_se = 0;
    bool prev = tape_set_grad_enabled(&m->tp, false);
    float *xh = malloc((size_t)chunk * P * sizeof(float));
    int rc = xh ? 0 : ldm_error("vae", "out of memory");
    for (int k = 0; k < n && !rc; k += chunk) {
        int b = n - k < chunk ? n - k : chunk;
        arena_reset(m->arena);
        tape_reset(&m->tp);
        Tensor *xt = tensor_new4(m->arena, m->dev, b, S, S, cfg->channels), *zero = tensor_new4(m->arena, m->dev, b, ls, ls, Z);
        VAEOutput o;
        if (!xt || !zero || tensor_from_host(xt, x + (size_t)k * P) || fill(zero, 0.0f) ||
            !vae_loss(&m->vae, &m->tp, xt, zero, &o) || tensor_to_host(o.x_hat, xh)) {
            rc = -1;
            break;
        }
        float l;
        if (tensor_to_host(o.loss, &l)) {
            rc = -1;
            break;
        }
        sum_loss += (double)l * b;
        if (x_hat) memcpy(x_hat + (size_t)k * P, xh, (size_t)b * P * sizeof(float));
        for (size_t i = 0; i < (size_t)b * P; i++) {
            double v = xh[i] < -1 ? -1 : xh[i] > 1 ? 1 : xh[i], d = v - x[(size_t)k * P + i];
            sum_se += d * d;
        }
    }
    tape_set_grad_enabled(&m->tp, prev);
    arena_reset(m->arena);
    tape_reset(&m->tp);
    free(xh);
    if (rc) return -1;
    *loss = sum_loss / n;
    double mse = sum_se / ((double)n * P);
    *psnr = 10.0 * log10(4.0 / (mse > 1e-12 ? mse : 1e-12)); /* peak-to-peak 2 in [-1, 1] */
    return 0;
}

/* 1 / std(z), z = mean + exp(logvar/2) eps over the images x (n, S, S, C) (host). */
static int vae_latent_scale(VaeModel *m, const ModelConfig *cfg, const float *x, int n, int chunk, uint64_t seed,
                            double *scale) {
    const int S = cfg->image_size, ls = cfg_latent_size(cfg), Z = cfg->latent_ch;
    const size_t per = (size_t)ls * ls * Z;
    double sum = 0, sum2 = 0;
    bool prev = tape_set_grad_enabled(&m->tp, false);
    float *zh = malloc((size_t)chunk * per * sizeof(float));
    int rc = zh ? 0 : ldm_error("vae", "out of memory");
    for (int k = 0; k < n && !rc; k += chunk) {
        int b = n - k < chunk ? n - k : chunk;
        arena_reset(m->arena);
        tape_reset(&m->tp);
        Tensor *xt = tensor_new4(m->arena, m->dev, b, S, S, cfg->channels), *eps = tensor_new4(m->arena, m->dev, b, ls, ls, Z);
        Tensor *mean, *logvar;
        if (!xt || !eps || tensor_from_host(xt, x + (size_t)k * S * S * cfg->channels) ||
            rng_normal(eps, seed ^ SCALE_STREAM, (uint64_t)k * per) ||
            vae_encode(&m->vae, &m->tp, xt, &mean, &logvar)) {
            rc = -1;
            break;
        }
        Tensor *z = ag_reparameterize(&m->tp, mean, logvar, eps);
        if (!z || tensor_to_host(z, zh)) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < (size_t)b * per; i++) sum += zh[i], sum2 += (double)zh[i] * zh[i];
    }
    tape_set_grad_enabled(&m->tp, prev);
    arena_reset(m->arena);
    tape_reset(&m->tp);
    free(zh);
    if (rc) return -1;
    double cnt = (double)n * per, mu = sum / cnt, var = sum2 / cnt - mu * mu;
    if (!isfinite(var))
        return ldm_error("vae", "the latents are not finite: the model diverged. The last checkpoint was left as it "
                         "was; try a lower --lr or a smaller --clip");
    if (!(var > 1e-12)) return ldm_error("vae", "the latents have variance %g: cannot measure the latent scale", var);
    *scale = 1.0 / sqrt(var);
    return 0;
}

// ----------------------------------------------------------------------------
// the run

typedef struct {
    float *x;   /* (n, S, S, C) */
    int n;
    bool from_train;
} ImageSet;

static int load_set(const Dataset *ds, const ModelConfig *cfg, DataSplit split, int max, ImageSet *out) {
    int *items;
    memset(out, 0, sizeof *out);
    int n = train_pick_items(ds, split, max, &items);
    if (n < 0) return -1;
    if (n == 0) return 0;
    out->x = malloc((size_t)n * cfg->image_size * cfg->image_size * cfg->channels * sizeof(float));
    int rc = out->x ? train_load_items(ds, cfg, items, n, out->x) : ldm_error("vae", "out of memory");
    free(items);
    out->n = rc ? 0 : n;
    out->from_train = split == SPLIT_TRAIN;
    return rc;
}

int train_vae(const TrainArgs *a) {
    TrainRun run;
    VaeModel m = {0};
    Optimizer opt = {0};
    Adversary adv = {0};
    Dataset *ds = NULL;
    Loader *loader = NULL;
    ImageSet val = {0}, scale_set = {0};
    float *scratch = NULL, *preview = NULL;
    char preview_path[1100];
    int rc = -1;
    bool have_opt = false;
    if (run_begin(&run, a, "vae")) goto out;
    const ModelConfig *cfg = &run.cfg;
    m.dev = a->device;
    if (!(ds = train_open_data(a, &run.cfg))) goto out;

    /* the model and optimizer (initial values from the seed, or the checkpoint) */
    uint64_t seed = run.resumed ? 0 : a->seed;
    if (run.resumed && train_state_from_ckpt(&run.st, &run.ck)) goto out;
    if (run.resumed) seed = run.st.seed;
    ps_init(&m.ps, DEV_CPU, seed, true, true);
    if (vae_init(&m.vae, &m.ps, cfg)) goto out;
    if (optim_init(&opt, &m.ps, 0)) goto out;
    have_opt = true;
    if (run.resumed && (checkpoint_read(&run.ck, "", &m.ps) || checkpoint_read(&run.ck, "adam.m.", &opt.m) ||
                        checkpoint_read(&run.ck, "adam.v.", &opt.v)))
        goto out;
    if (ps_to_device(&m.ps, m.dev) || ps_to_device(&opt.m, m.dev) || ps_to_device(&opt.v, m.dev)) goto out;

    /* data: the training stream (resumed at the checkpoint's step), validation images */
    int batch = run.resumed ? run.st.batch : a->batch;
    LoaderOptions lo = train_loader_options(a, cfg, SPLIT_TRAIN, batch, seed, true, run.resumed ? run.st.step : 0);
    if (!(loader = loader_create(ds, &lo))) goto out;
    long per_epoch = loader_batches_per_epoch(loader);
    int prep = run_prepare(&run, per_epoch, (unsigned long long)(ps_count(&m.ps) + disc_param_count(cfg->channels)) * 4 * 3 + 65536);
    if (prep) {
        rc = prep > 0 ? 0 : -1;
        goto out;
    }
    opt.cfg.weight_decay = (float)run.st.weight_decay;
    if (load_set(ds, cfg, SPLIT_VAL, VAL_MAX, &val)) goto out;
    if (!val.n && load_set(ds, cfg, SPLIT_TRAIN, VAL_MAX / 4, &val)) goto out;
    if (val.from_train && !a->quiet) printf("vae: the reconstruction is checked on %d training images instead\n", val.n);
    if (load_set(ds, cfg, SPLIT_TRAIN, SCALE_MAX, &scale_set)) goto out;

    const int S = cfg->image_size, ls = cfg_latent_size(cfg), Z = cfg->latent_ch, C = cfg->channels;
    const size_t P = (size_t)S * S * C; /* floats per image */
    /* the discriminator: 3B images forward and backward (B for L_G, 2B for L_D), values and gradients */
    size_t arena_bytes = train_arena_bytes(a, cfg, TRAIN_VAE, batch);
    if (!a->arena_mb && run.st.disc_weight > 0) arena_bytes += 2 * 3 * (size_t)batch * disc_activation_floats(S) * 4 + ((size_t)8 << 20);
    if (!(m.arena = arena_create(m.dev, arena_bytes, (size_t)16 << 20))) goto out;
    tape_init(&m.tp, m.arena);
    tape_set_precision(&m.tp, a->precision);
    if (run.st.disc_weight > 0) {
        if (adv_init(&adv, &m.vae, m.arena, m.dev, a->precision, batch, run.st.seed, run.st.disc_weight,
                     run.st.disc_start))
            goto out;
        if (run.resumed && (checkpoint_read(&run.ck, "disc.", &adv.ps) || checkpoint_read(&run.ck, "disc.adam.m.", &adv.opt.m) ||
                            checkpoint_read(&run.ck, "disc.adam.v.", &adv.opt.v)))
            goto out;
        run.disc = &adv.ps, run.disc_m = &adv.opt.m, run.disc_v = &adv.opt.v;
    }
    snprintf(preview_path, sizeof preview_path, "%s/vae_recon.png", a->out);
    if (!(scratch = malloc((size_t)batch * P * sizeof(float))) || !(preview = malloc((size_t)2 * PREVIEW * P * sizeof(float)))) {
        ldm_error("vae", "out of memory");
        goto out;
    }
    const uint64_t key = run.st.seed ^ TRAIN_STREAM;
    const long last = run_last_step(&run);
    if (!a->quiet)
        printf("vae: preset %s, %.2fM parameters, batch %d, steps %ld..%ld of %ld (%ld per epoch) on %s, precision %s; KL "
               "weight %g per element (LDM's kl_weight %.3g)\n", cfg->preset, ps_count(&m.ps) / 1e6, batch, run.st.step + 1,
               last, run.st.total, per_epoch, device_name(m.dev),
               cli_precision_name(a->precision), (double)cfg->kl_beta, cfg_kl_weight_ldm(cfg));
    if (!a->quiet && adv.ready)
        printf("vae: patch discriminator %.2fM parameters (hinge loss, %d layers of 3x3 convs), weight %g x LDM's adaptive "
               "weight, from step %ld\n", ps_count(&adv.ps) / 1e6, DISC_LAYERS, run.st.disc_weight, run.st.disc_start + 1);
    double latent_scale = 1.0;
    while (run.st.step < last) {
        const DataBatch *b = loader_next(loader);
        if (!b) goto out;
        arena_reset(m.arena);
        tape_reset(&m.tp);
        Tensor *x = tensor_new4(m.arena, m.dev, batch, S, S, C), *noise = tensor_new4(m.arena, m.dev, batch, ls, ls, Z);
        if (!x || !noise || train_batch_to_input(b, cfg, x, scratch) || rng_normal(noise, key, run.st.rng_offset))
            goto out;
        run.st.rng_offset += noise->numel;
        /* loss = recon(decode(mean + exp(logvar / 2) noise), x) + beta KL(q(z | x) || N(0, I)) */
        VAEOutput o;
        Tensor *loss = vae_loss(&m.vae, &m.tp, x, noise, &o), *root = NULL;
        /* + lambda L_G, L_G = -mean(D(x_hat)), when the discriminator is on (vae_adversary.h) */
        const long index = run.st.step; /* this step, 0-based */
        const bool gan = adv_active(&adv, index);
        if (gan && (!loss || adv_generator(&adv, &m.vae, &m.tp, x, &o, &root, &loss))) goto out;
        float l;
        double lr;
        if (run_optimize(&run, &m.tp, loss, root, &m.ps, &opt, NULL, &l, &lr)) goto out;
        if (gan && adv_discriminator_step(&adv, index, lr)) goto out;
        double vloss = NAN;
        if (run_should_validate(&run)) {
            if (vae_validate(&m, cfg, val.x, val.n, batch, &vloss, &run.st.val_psnr, NULL)) goto out;
            run.st.val_loss = vloss;
            progress_done(&run.prog);
            if (!a->quiet)
                printf("  %s loss %.5g, PSNR %.2f dB (%d images)\n",
                       val.from_train ? "train-image" : "validation", vloss, run.st.val_psnr, val.n);
            if (!a->quiet && adv.steps_done)
                printf("  discriminator: L_D %.4f, L_G %.4f, adaptive weight %.4g (|grad rec| %.3g, |grad G| %.3g)\n",
                       adv.loss_d, adv.loss_g, adv.lambda, adv.rec_norm, adv.g_norm);
        }
        if (run_log(&run, l, lr, vloss, batch)) goto out;
        if (run_should_save(&run)) {
            if (run_check_finite(&run, &m.ps)) goto out;
            if (vae_latent_scale(&m, cfg, scale_set.x, scale_set.n, batch, run.st.seed, &latent_scale)) goto out;
            if (run_save(&run, &m.ps, NULL, &opt.m, &opt.v, latent_scale)) goto out;
            /* PREVIEW validation images spread over the set, and their reconstructions */
            double pl, pp;
            int np = val.n < PREVIEW ? val.n : PREVIEW;
            for (int i = 0; i < np; i++)
                memcpy(preview + (size_t)i * P, val.x + (size_t)(i * val.n / np) * P, P * sizeof(float));
            if (vae_validate(&m, cfg, preview, np, batch, &pl, &pp, preview + (size_t)PREVIEW * P) ||
                vae_preview_write(preview_path, preview, preview + (size_t)PREVIEW * P, np, S, C, run.st.step, pp))
                goto out;
        }
    }
    progress_done(&run.prog);
    if (!a->quiet) {
        printf("vae: step %ld, latent scale %.4g (1/std over %d training images); wrote %s; activation memory "
               "peak %.0f of %.0f MB\n", run.st.step, latent_scale, scale_set.n, run.ckpt_path,
               m.arena->data_peak / 1048576.0, m.arena->data_cap / 1048576.0);
    }
    rc = 0;
out:
    if (rc) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        progress_done(&run.prog);
        ldm_error("ldm-train vae", "%s", msg);
    }
    loader_free(loader);
    dataset_free(ds);
    free(val.x), free(scale_set.x), free(scratch), free(preview);
    arena_destroy(m.arena);
    if (have_opt) optim_free(&opt);
    adv_free(&adv);
    ps_free(&m.ps);
    run_end(&run);
    return rc;
}
