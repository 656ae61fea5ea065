/* train/train_unet.c — `ldm-train unet`: the class-conditional U-Net that predicts the
 * noise in a latent.
 *
 * Once, before training: every training (and validation) image goes through the frozen
 * VAE encoder, and the posterior's mean and log-variance are kept in host memory (both
 * orientations when the preset flips images), so a step never runs the VAE.
 * One step (B latents):
 *   z0    = latent_scale (mean + exp(logvar/2) eps)          a fresh posterior sample
 *   t     ~ U{0..T-1} per sample; noise ~ N(0, I)
 *   label = the class, or the null class with probability cond_drop (classifier-free
 *           guidance learns the unconditional model in the same network)
 *   loss  = || unet(sqrt(abar_t) z0 + sqrt(1 - abar_t) noise, t, label) - noise ||^2 (mean)
 *   backward, clip, AdamW; EMA of the weights with decay min(ema, (1 + step) / (10 + step))
 * eps, noise, t, the label drops and the dropout masks each take the next range of the run's Philox stream, so the
 * draws are the same on every device and after a resume. After each epoch and at the end:
 * the loss on the validation latents at fixed timesteps and noise. With --eval-every: the
 * samples of the EMA weights judged by a classifier (train/unet_eval.h), into the CSV.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/error.h"
#include "core/philox.h"
#include "kernels/random.h"
#include "models/unet.h"
#include "models/vae.h"
#include "train/optimizer.h"
#include "train/train_data.h"
#include "train/train_run.h"
#include "train/trainers.h"
#include "train/unet_eval.h"

#define VAL_STREAM 0x56414cull /* "VAL": noise of the validation loss */
#define VAL_MIN_EVALS 64       /* validation: at least this many (latent, t) pairs */
#define ENCODE_CHUNK 8         /* images per VAE pass when caching latents (fixed: same results for any --batch) */

/* Posterior parameters of a split's images: row r of item rows[...]; `flip` rows are
 * the mirrored images (NULL when the preset does not flip). */
typedef struct {
    float *mean, *logvar;           /* (n, s, s, Z) */
    float *mean_flip, *logvar_flip; /* same, or NULL */
    int *items, *labels;            /* (n) */
    int n;
    int *row_of;                    /* (dataset items) row of each item, -1 when not in the split */
} LatentCache;

static void cache_free(LatentCache *c) {
    free(c->mean), free(c->logvar), free(c->mean_flip), free(c->logvar_flip);
    free(c->items), free(c->labels), free(c->row_of);
    memset(c, 0, sizeof *c);
}

/* Encodes every image of `split` with the frozen VAE, `chunk` at a time. */
static int encode_split(const VAE *vae, Tape *tp, const Dataset *ds, const ModelConfig *cfg, DataSplit split,
                        int chunk, bool flips, LatentCache *c) {
    memset(c, 0, sizeof *c);
    const int S = cfg->image_size;
    const size_t per = (size_t)cfg_latent_size(cfg) * cfg_latent_size(cfg) * cfg->latent_ch;
    int n = dataset_count(ds, split, -1);
    if (n < 0) return -1;
    if (n == 0) return 0;
    if (train_pick_items(ds, split, n, &c->items) != n) return -1;
    c->n = n;
    c->labels = malloc((size_t)n * sizeof(int));
    c->row_of = malloc((size_t)ds->n_items * sizeof(int));
    c->mean = malloc((size_t)n * per * sizeof(float));
    c->logvar = malloc((size_t)n * per * sizeof(float));
    if (flips) {
        c->mean_flip = malloc((size_t)n * per * sizeof(float));
        c->logvar_flip = malloc((size_t)n * per * sizeof(float));
    }
    float *x = malloc((size_t)chunk * S * S * cfg->channels * sizeof(float));
    if (!c->labels || !c->row_of || !c->mean || !c->logvar || (flips && (!c->mean_flip || !c->logvar_flip)) || !x) {
        free(x);
        return ldm_error("unet", "out of memory caching %d latents", n);
    }
    for (int i = 0; i < ds->n_items; i++) c->row_of[i] = -1;
    for (int r = 0; r < n; r++) c->row_of[c->items[r]] = r, c->labels[r] = ds->items[c->items[r]].label;
    bool prev = tape_set_grad_enabled(tp, false);
    int rc = 0;
    for (int k = 0; k < n && !rc; k += chunk) {
        int b = n - k < chunk ? n - k : chunk;
        if (train_load_items(ds, cfg, c->items + k, b, x)) {
            rc = -1;
            break;
        }
        for (int pass = 0; pass < (flips ? 2 : 1) && !rc; pass++) {
            if (pass) train_mirror(x, b, S, cfg->channels);
            arena_reset(tp->arena);
            tape_reset(tp);
            Tensor *xt = tensor_new4(tp->arena, tp->arena->device, b, S, S, cfg->channels), *mean, *logvar;
            float *dm = (pass ? c->mean_flip : c->mean) + (size_t)k * per;
            float *dl = (pass ? c->logvar_flip : c->logvar) + (size_t)k * per;
            if (!xt || tensor_from_host(xt, x) || vae_encode(vae, tp, xt, &mean, &logvar) ||
                tensor_to_host(mean, dm) || tensor_to_host(logvar, dl))
                rc = -1;
        }
    }
    tape_set_grad_enabled(tp, prev);
    arena_reset(tp->arena);
    tape_reset(tp);
    free(x);
    return rc;
}

// ----------------------------------------------------------------------------
// the frozen VAE

static int load_vae(const TrainArgs *a, const ModelConfig *cfg, Device dev, VAE *vae, ParamSet *ps, double *scale) {
    Checkpoint ck;
    if (checkpoint_open(&ck, a->vae, "vae", cfg)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        return ldm_error("unet", "--vae %s: %s", a->vae, msg);
    }
    ps_init(ps, DEV_CPU, 0, true, false);
    int rc = vae_init(vae, ps, cfg) || checkpoint_read(&ck, "", ps) || ps_to_device(ps, dev) ? -1 : 0;
    *scale = ck.latent_scale;
    if (!rc && ck.latent_scale == 1.0)
        fprintf(stderr, "ldm-train: warning: --vae %s has latent scale 1 (never measured?)\n", a->vae);
    checkpoint_close(&ck);
    return rc;
}

// ----------------------------------------------------------------------------
// one batch of latents, timesteps and labels

typedef struct {
    const LatentCache *c;
    float *mean_rows, *logvar_rows; /* (B, per) each: the batch's posterior parameters, on the host */
    float *label_values;            /* (B) labels as floats, the null class where dropped */
    int *t;                         /* (B) timesteps */
    size_t per;                     /* floats per latent */
} HostBatch;

/* z0 (B, s, s, Z) = scale * (mean + exp(logvar/2) eps) for the batch's items. */
static Tensor *latent_batch(Tape *tp, HostBatch *hb, const DataBatch *b, const ModelConfig *cfg, double scale,
                            uint64_t key, uint64_t *offset) {
    const int s = cfg_latent_size(cfg), Z = cfg->latent_ch, B = b->n;
    for (int i = 0; i < B; i++) {
        int r = hb->c->row_of[b->items[i]];
        if (r < 0) {
            ldm_error("unet", "batch item %d is not a cached training image", b->items[i]);
            return NULL;
        }
        bool f = b->flipped[i] && hb->c->mean_flip;
        memcpy(hb->mean_rows + i * hb->per, (f ? hb->c->mean_flip : hb->c->mean) + r * hb->per, hb->per * sizeof(float));
        memcpy(hb->logvar_rows + i * hb->per, (f ? hb->c->logvar_flip : hb->c->logvar) + r * hb->per, hb->per * sizeof(float));
    }
    Device dev = tp->arena->device;
    Tensor *m = tensor_new4(tp->arena, dev, B, s, s, Z), *l = tensor_new4(tp->arena, dev, B, s, s, Z);
    Tensor *eps = tensor_new4(tp->arena, dev, B, s, s, Z);
    if (!m || !l || !eps || tensor_from_host(m, hb->mean_rows) || tensor_from_host(l, hb->logvar_rows) || rng_normal(eps, key, *offset))
        return NULL;
    *offset += eps->numel;
    return ag_scale(tp, ag_reparameterize(tp, m, l, eps), (float)scale);
}

/* Per-sample timesteps and (dropped) labels from the uniform stream. */
static Tensor *draw_t_and_labels(Tape *tp, HostBatch *hb, const DataBatch *b, const ModelConfig *cfg, double drop,
                                 uint64_t key, uint64_t *offset) {
    const int B = b->n, T = cfg->timesteps;
    for (int i = 0; i < B; i++) {
        int t = (int)(philox_uniform(key, *offset + (uint64_t)i) * (float)T);
        hb->t[i] = t < T ? t : T - 1;
    }
    *offset += (uint64_t)B;
    if (!cfg->num_classes) return NULL;
    for (int i = 0; i < B; i++)
        hb->label_values[i] = philox_uniform(key, *offset + (uint64_t)i) < (float)drop ? (float)cfg->num_classes
                                                                                : (float)b->labels[i];
    *offset += (uint64_t)B;
    Tensor *lab = tensor_new1(tp->arena, tp->arena->device, B);
    return lab && !tensor_from_host(lab, hb->label_values) ? lab : NULL;
}

// ----------------------------------------------------------------------------
// validation: fixed noise and timesteps, the true labels

static int unet_validate(const UNet *unet, Tape *tp, const NoiseSchedule *sched, const LatentCache *v,
                         const ModelConfig *cfg, double scale, uint64_t seed, int chunk, double *out) {
    const int s = cfg_latent_size(cfg), Z = cfg->latent_ch, T = cfg->timesteps;
    const size_t per = (size_t)s * s * Z;
    int rounds = (VAL_MIN_EVALS + v->n - 1) / v->n, total = rounds * v->n;
    if (rounds > 8) rounds = 8, total = 8 * v->n;
    float *mean_rows = malloc((size_t)chunk * per * sizeof(float)), *logvar_rows = malloc((size_t)chunk * per * sizeof(float));
    float *label_values = malloc((size_t)chunk * sizeof(float));
    int *ts = malloc((size_t)chunk * sizeof(int));
    int rc = mean_rows && logvar_rows && label_values && ts ? 0 : ldm_error("unet", "out of memory");
    double sum = 0;
    bool prev = tape_set_grad_enabled(tp, false);
    const uint64_t key = seed ^ VAL_STREAM;
    for (int e = 0; e < total && !rc; e += chunk) {
        int B = total - e < chunk ? total - e : chunk;
        for (int i = 0; i < B; i++) {
            int r = (e + i) % v->n;
            memcpy(mean_rows + i * per, v->mean + r * per, per * sizeof(float));
            memcpy(logvar_rows + i * per, v->logvar + r * per, per * sizeof(float));
            label_values[i] = (float)(v->labels[r] < 0 ? 0 : v->labels[r]);
            ts[i] = (int)(((long long)(e + i) * T + T / 2) / total); /* stratified over 0..T-1 */
        }
        arena_reset(tp->arena);
        tape_reset(tp);
        Tensor *m = tensor_new4(tp->arena, tp->arena->device, B, s, s, Z);
        Tensor *l = tensor_new4(tp->arena, tp->arena->device, B, s, s, Z);
        Tensor *eps = tensor_new4(tp->arena, tp->arena->device, B, s, s, Z);
        Tensor *noise = tensor_new4(tp->arena, tp->arena->device, B, s, s, Z);
        Tensor *lab = cfg->num_classes ? tensor_new1(tp->arena, tp->arena->device, B) : NULL;
        if (!m || !l || !eps || !noise || (cfg->num_classes && (!lab || tensor_from_host(lab, label_values))) ||
            tensor_from_host(m, mean_rows) || tensor_from_host(l, logvar_rows) || rng_normal(eps, key, (uint64_t)e * per) ||
            rng_normal(noise, key, (uint64_t)(total + e) * per)) {
            rc = -1;
            break;
        }
        Tensor *z0 = ag_scale(tp, ag_reparameterize(tp, m, l, eps), (float)scale);
        Tensor *loss = unet_loss(unet, tp, sched, z0, noise, ts, lab);
        float lv;
        if (!loss || tensor_to_host(loss, &lv)) {
            rc = -1;
            break;
        }
        sum += (double)lv * B;
    }
    tape_set_grad_enabled(tp, prev);
    arena_reset(tp->arena);
    tape_reset(tp);
    free(mean_rows), free(logvar_rows), free(label_values), free(ts);
    *out = sum / total;
    return rc;
}

// ----------------------------------------------------------------------------
// the run

int train_unet(const TrainArgs *a) {
    TrainRun run;
    UNet unet;
    VAE vae;
    ParamSet ps = {0}, ema = {0}, vae_ps = {0};
    Optimizer opt = {0};
    NoiseSchedule sched = {0};
    Dataset *ds = NULL;
    Loader *loader = NULL;
    Arena *arena = NULL;
    Tape tp;
    LatentCache train = {0}, val = {0};
    HostBatch hb = {0};
    UnetEval ue = {0};
    int rc = -1;
    bool have_opt = false;
    double scale = 1.0;
    if (run_begin(&run, a, "unet")) goto out;
    const ModelConfig *cfg = &run.cfg;
    const Device dev = a->device;
    if (!(ds = train_open_data(a, &run.cfg))) goto out; /* first: it may set the classes the VAE was trained with */
    if (load_vae(a, cfg, dev, &vae, &vae_ps, &scale)) goto out;
    if (run.resumed && run.ck.latent_scale != scale) {
        ldm_error("resume", "--vae %s has latent scale %.9g, but the run being resumed was trained with %.9g: not "
                  "the same VAE", a->vae, scale, run.ck.latent_scale);
        goto out;
    }
    if (schedule_from_config(&sched, cfg)) goto out;

    /* the model, its EMA and the optimizer (from the seed, or the checkpoint) */
    if (run.resumed && train_state_from_ckpt(&run.st, &run.ck)) goto out;
    const uint64_t seed = run.resumed ? run.st.seed : a->seed;
    const int batch = run.resumed ? run.st.batch : a->batch;
    ps_init(&ps, DEV_CPU, seed, true, true);
    if (unet_init(&unet, &ps, cfg) || ps_clone(&ema, &ps, DEV_CPU, false, true)) goto out;
    if (optim_init(&opt, &ps, 0)) goto out;
    have_opt = true;
    if (run.resumed && (checkpoint_read(&run.ck, "", &ps) || checkpoint_read(&run.ck, "ema.", &ema) ||
                        checkpoint_read(&run.ck, "adam.m.", &opt.m) || checkpoint_read(&run.ck, "adam.v.", &opt.v)))
        goto out;
    if (ps_to_device(&ps, dev) || ps_to_device(&ema, dev) || ps_to_device(&opt.m, dev) || ps_to_device(&opt.v, dev))
        goto out;

    /* the data stream, the output folder, then the latents */
    LoaderOptions lo = train_loader_options(a, cfg, SPLIT_TRAIN, batch, seed, true, run.resumed ? run.st.step : 0);
    if (!(loader = loader_create(ds, &lo))) goto out;
    long per_epoch = loader_batches_per_epoch(loader);
    int prep = run_prepare(&run, per_epoch, (unsigned long long)ps_count(&ps) * 4 * 4 + 65536);
    if (prep) {
        rc = prep > 0 ? 0 : -1;
        goto out;
    }
    opt.cfg.weight_decay = (float)run.st.weight_decay;
    /* encoding (no-grad, ENCODE_CHUNK images) needs about a sixth of a VAE training step */
    size_t ab = train_arena_bytes(a, cfg, TRAIN_UNET, batch), vb = train_arena_bytes(a, cfg, TRAIN_VAE, ENCODE_CHUNK) / 6;
    if (!(arena = arena_create(dev, ab > vb ? ab : vb, (size_t)16 << 20))) goto out;
    tape_init(&tp, arena);
    tape_set_precision(&tp, a->precision); /* the VAE's encoding too: the same activations as training's */
    double t0 = now_seconds();
    if (encode_split(&vae, &tp, ds, cfg, SPLIT_TRAIN, ENCODE_CHUNK, cfg->hflip, &train) ||
        encode_split(&vae, &tp, ds, cfg, SPLIT_VAL, ENCODE_CHUNK, false, &val))
        goto out;
    size_t encode_peak = arena->data_peak;
    arena->data_peak = 0; /* from here on: the training step's peak */
    if (!a->eval_every) ps_free(&vae_ps); /* the VAE is not needed any more (but to decode samples) */
    if (!a->quiet)
        printf("unet: encoded %d training and %d validation images with the VAE (%s%.1f s), latent scale %.4g\n",
               train.n, val.n, cfg->hflip ? "both orientations, " : "", now_seconds() - t0, scale);

    const int s = cfg_latent_size(cfg), Z = cfg->latent_ch;
    hb.c = &train;
    hb.per = (size_t)s * s * Z;
    hb.mean_rows = malloc((size_t)batch * hb.per * sizeof(float));
    hb.logvar_rows = malloc((size_t)batch * hb.per * sizeof(float));
    hb.label_values = malloc((size_t)batch * sizeof(float));
    hb.t = malloc((size_t)batch * sizeof(int));
    if (!hb.mean_rows || !hb.logvar_rows || !hb.label_values || !hb.t) {
        ldm_error("unet", "out of memory");
        goto out;
    }
    if (a->eval_every && unet_eval_open(&ue, a, cfg, ds)) goto out;
    const uint64_t key = run.st.seed ^ TRAIN_STREAM;
    DropoutRng drop = {key, &run.st.rng_offset}; /* dropout masks: the run's stream, after each step's other draws */
    if (cfg->unet_dropout > 0) unet.dropout_rng = &drop;
    const long last = run_last_step(&run);
    if (!a->quiet)
        printf("unet: preset %s, %.2fM parameters, batch %d, steps %ld..%ld of %ld (%ld per epoch) on %s, precision "
               "%s%s\n",
               cfg->preset, ps_count(&ps) / 1e6, batch, run.st.step + 1, last, run.st.total, per_epoch,
               device_name(dev), cli_precision_name(a->precision), val.n ? "" : "; no validation latents");
    while (run.st.step < last) {
        const DataBatch *b = loader_next(loader);
        if (!b) goto out;
        arena_reset(arena);
        tape_reset(&tp);
        /* z0 ~ q(z | x) scaled; noise ~ N(0, I); t ~ U{0..T-1}; labels (some dropped to the null class) */
        Tensor *z0 = latent_batch(&tp, &hb, b, cfg, scale, key, &run.st.rng_offset); /* (B, s, s, Z) */
        Tensor *noise = tensor_new4(arena, dev, batch, s, s, Z);                     /* (B, s, s, Z) */
        if (!z0 || !noise || rng_normal(noise, key, run.st.rng_offset)) goto out;
        run.st.rng_offset += noise->numel;
        Tensor *labels = draw_t_and_labels(&tp, &hb, b, cfg, run.st.cond_drop, key, &run.st.rng_offset);
        if (cfg->num_classes && !labels) goto out;
        /* loss = || unet(sqrt(abar_t) z0 + sqrt(1 - abar_t) noise, t, labels) - noise ||^2 */
        Tensor *loss = unet_loss(&unet, &tp, &sched, z0, noise, hb.t, labels);
        float l;
        double lr;
        if (run_optimize(&run, &tp, loss, NULL, &ps, &opt, &ema, &l, &lr)) goto out;
        double vloss = NAN;
        if (val.n && run_should_validate(&run)) {
            if (unet_validate(&unet, &tp, &sched, &val, cfg, scale, run.st.seed, batch, &vloss)) goto out;
            run.st.val_loss = vloss;
            progress_done(&run.prog);
            if (!a->quiet) printf("  validation loss %.5g (%d latents)\n", vloss, val.n);
        }
        if (a->eval_every && (run.st.step % a->eval_every == 0 || run.st.step == last)) {
            double te = now_seconds();
            if (unet_eval_run(&ue, cfg, &unet, &ps, &ema, &vae, scale, &run.gen_acc, &run.gen_fd)) goto out;
            progress_done(&run.prog);
            if (!a->quiet)
                printf("  samples (EMA, %d per class): classifier accuracy %.1f%% (real held-out %.1f%%), FD %.4g "
                       "(%.1f s)\n", ue.per_class, 100 * run.gen_acc, 100 * ue.real_acc, run.gen_fd, now_seconds() - te);
            run.t_last += now_seconds() - te; /* images/s counts training only */
        }
        if (run_log(&run, l, lr, vloss, batch)) goto out;
        if (run_should_save(&run) && (run_check_finite(&run, &ps) || run_save(&run, &ps, &ema, &opt.m, &opt.v, scale)))
            goto out;
    }
    progress_done(&run.prog);
    if (!a->quiet)
        printf("unet: step %ld; wrote %s (weights, EMA weights, optimizer state); activation memory peak %.0f MB "
               "(encoding %.0f MB) of %.0f MB\n", run.st.step, run.ckpt_path, arena->data_peak / 1048576.0,
               encode_peak / 1048576.0, arena->data_cap / 1048576.0);
    rc = 0;
out:
    if (rc) {
        char msg[2048];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        progress_done(&run.prog);
        ldm_error("ldm-train unet", "%s", msg);
    }
    loader_free(loader);
    dataset_free(ds);
    cache_free(&train), cache_free(&val);
    unet_eval_close(&ue);
    free(hb.mean_rows), free(hb.logvar_rows), free(hb.label_values), free(hb.t);
    arena_destroy(arena);
    schedule_free(&sched);
    if (have_opt) optim_free(&opt);
    ps_free(&ps), ps_free(&ema), ps_free(&vae_ps);
    run_end(&run);
    return rc;
}
