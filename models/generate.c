/* models/generate.c — see generate.h. */
#include "models/generate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/checkpoint.h"

#define DECODE_CHUNK 2         /* images per VAE decoder pass */
#define GEN_PROBE_BATCH 2      /* images in the measuring step (>= DECODE_CHUNK) */
#define GEN_HOST_BYTES ((size_t)16 << 20)
#define GEN_ARENA_MARGIN ((size_t)64 << 20)
#define GEN_BUDGET_MB_CPU ((size_t)1024) /* default activation memory: batches up to this */
#define GEN_BUDGET_MB_CUDA ((size_t)8192)

static int open_ck(Checkpoint *ck, const char *path, const char *kind, const ModelConfig *cfg, const char *flag) {
    if (!checkpoint_open(ck, path, kind, cfg)) return 0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ldm_last_error());
    return ldm_error("sample", "%s %s: %s", flag, path, msg);
}

int gen_open(Generator *g, const char *unet_path, const char *vae_path, Device dev, bool use_ema, size_t arena_mb) {
    memset(g, 0, sizeof *g);
    g->dev = dev;
    Checkpoint uck, vck;
    if (open_ck(&uck, unet_path, "unet", NULL, "--unet")) return -1;
    g->cfg = uck.cfg;
    g->latent_scale = uck.latent_scale;
    g->unet_step = uck.step;
    if (open_ck(&vck, vae_path, "vae", &g->cfg, "--vae")) {
        checkpoint_close(&uck);
        return -1;
    }
    g->vae_step = vck.step;
    if (vck.latent_scale != uck.latent_scale)
        fprintf(stderr, "ldm-sample: warning: --vae %s has latent scale %.6g but the U-Net was trained with %.6g "
                "(another VAE run?); using the U-Net's\n", vae_path, vck.latent_scale, uck.latent_scale);
    g->owns_models = true;
    g->used_ema = use_ema && checkpoint_has_group(&uck, "ema.");
    ps_init(&g->unet_ps, DEV_CPU, 0, true, false);
    ps_init(&g->vae_ps, DEV_CPU, 0, true, false);
    int rc = unet_init(&g->unet, &g->unet_ps, &g->cfg) || vae_init(&g->vae, &g->vae_ps, &g->cfg) ||
             checkpoint_read(&uck, g->used_ema ? "ema." : "", &g->unet_ps) || checkpoint_read(&vck, "", &g->vae_ps) ||
             ps_to_device(&g->unet_ps, dev) || ps_to_device(&g->vae_ps, dev) || schedule_from_config(&g->sched, &g->cfg);
    checkpoint_close(&uck);
    checkpoint_close(&vck);
    g->arena_bytes = arena_mb << 20;
    if (!rc) tape_init(&g->tp, NULL), tape_set_grad_enabled(&g->tp, false);
    if (rc) gen_close(g);
    return rc ? -1 : 0;
}

int gen_attach(Generator *g, const ModelConfig *cfg, const UNet *unet, const VAE *vae, double latent_scale, Device dev,
               size_t arena_mb) {
    memset(g, 0, sizeof *g);
    g->cfg = *cfg, g->unet = *unet, g->vae = *vae, g->latent_scale = latent_scale, g->dev = dev;
    g->arena_bytes = arena_mb << 20;
    if (schedule_from_config(&g->sched, cfg)) return -1;
    tape_init(&g->tp, NULL), tape_set_grad_enabled(&g->tp, false);
    return 0;
}

void gen_close(Generator *g) {
    if (g->owns_models) ps_free(&g->unet_ps), ps_free(&g->vae_ps);
    schedule_free(&g->sched);
    arena_destroy(g->arena);
    g->arena = NULL;
}

uint64_t gen_row_seed(uint64_t seed, int label) {
    /* splitmix64 of (seed, label): distinct, well-mixed Philox keys per class row */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (uint64_t)(label + 2);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* z (n, s, s, Z) latent (scaled) -> out (n, S, S, C) floats on the host. Uses the arena
 * above the current mark and rewinds it. */
static int decode_to_host(Generator *g, const Tensor *z, int n, float *out) {
    ArenaMark mk = arena_mark(g->tp.arena);
    Tensor zv = *z; /* the first n rows */
    zv.shape[0] = n;
    zv.numel = z->numel / (size_t)z->shape[0] * (size_t)n;
    zv.requires_grad = false;
    Tensor *x = vae_decode(&g->vae, &g->tp, ag_scale(&g->tp, &zv, (float)(1.0 / g->latent_scale)));
    int rc = x ? tensor_to_host(x, out) : -1;
    arena_rewind(g->tp.arena, mk);
    return rc;
}

typedef struct {
    Generator *g;
    StripCapture *strip;
    int next;
} StripCtx;

static int strip_cb(void *ctx, int step, int steps, int t, const Tensor *x_t, const Tensor *x0) {
    (void)steps, (void)t, (void)x_t;
    StripCtx *s = ctx;
    if (s->next >= s->strip->n_cols || step != s->strip->steps[s->next]) return 0;
    const int S = s->g->cfg.image_size, C = s->g->cfg.channels;
    if (decode_to_host(s->g, x0, 1, s->strip->cols + (size_t)s->next * S * S * C)) return -1;
    s->next++;
    return 0;
}

// ----------------------------------------------------------------------------
// memory plan: how many images go through the sampler at once, and the arena for them

/* One sampler step on b images (the real sampler kind and guidance; guidance doubles the
 * U-Net batch) and one decoder pass of DECODE_CHUNK images, in a scratch arena: their
 * measured peaks into *step_bytes and *dec_bytes. Returns 0, or -1 with the run's error. */
static int probe_once(Generator *g, Arena *a, int b, const SamplerOpts *o, size_t *step_bytes, size_t *dec_bytes) {
    const ModelConfig *c = &g->cfg;
    const int s = cfg_latent_size(c);
    Tensor *x = tensor_new4(NULL, g->dev, b, s, s, c->latent_ch);
    float *img = malloc((size_t)DECODE_CHUNK * c->image_size * c->image_size * c->channels * sizeof(float));
    int labels[GEN_PROBE_BATCH] = {0};
    int rc = x && img ? 0 : ldm_error("sample", "out of memory");
    g->tp.arena = a;
    SamplerOpts po = *o;
    po.steps = 2, po.callback = NULL, po.null_label = c->num_classes; /* step 0 draws the eta noise */
    rc = rc || sample_init_noise(x, 0) || sample(&g->sched, unet_eps, &g->unet, &g->tp, x, c->num_classes ? labels : NULL, &po);
    if (!rc) *step_bytes = a->data_peak;
    arena_reset(a);
    tape_reset(&g->tp);
    a->data_peak = 0;
    rc = rc || decode_to_host(g, x, DECODE_CHUNK, img);
    if (!rc) *dec_bytes = a->data_peak;
    g->tp.arena = NULL;
    tensor_free(x);
    free(img);
    return rc;
}

/* probe_once in a scratch arena that doubles until the step fits. */
static int probe(Generator *g, const SamplerOpts *o, size_t *step_bytes, size_t *dec_bytes) {
    size_t cap = (size_t)256 << 20;
    for (int attempt = 0;; attempt++, cap *= 2) {
        Arena *a = arena_create(g->dev, cap, GEN_HOST_BYTES);
        if (!a) return -1;
        int rc = probe_once(g, a, GEN_PROBE_BATCH, o, step_bytes, dec_bytes);
        arena_destroy(a);
        if (!rc) return 0;
        if (attempt == 6 || !strstr(ldm_last_error(), "arena")) return -1;
    }
}

/* Plans batches for n images with options o (a strip needs a decoder pass on top of a
 * step), and (re)creates the arena when the plan changes. */
static int plan(Generator *g, int n, const SamplerOpts *o, bool strip) {
    const bool guided = g->cfg.num_classes && o->guidance != 1.0f;
    if (g->arena && g->plan_n == n && g->plan_guided == guided && g->plan_strip == strip && g->plan_kind == o->kind)
        return 0;
    size_t step, dec;
    if (probe(g, o, &step, &dec)) return -1;
    const double per_image = 1.25 * (double)step / GEN_PROBE_BATCH;
    const double margin = g->arena_bytes ? 0.0 : (double)GEN_ARENA_MARGIN; /* a given size is used as it is */
    const double extra = strip ? 1.25 * (double)dec : 0.0;
    const double budget = g->arena_bytes ? (double)g->arena_bytes
                                         : (double)((g->dev == DEV_CUDA ? GEN_BUDGET_MB_CUDA : GEN_BUDGET_MB_CPU) << 20);
    double fit = floor((budget - margin - extra) / per_image);
    if (fit < 1) {
        if (g->arena_bytes)
            return ldm_error("sample", "--arena-mb %zu is too small: one image needs about %.0f MB (leave it out: the "
                             "default is sized from the model)", g->arena_bytes >> 20,
                             (per_image + margin + extra) / 1048576.0);
        fit = 1; /* one image always goes, whatever the budget */
    }
    g->chunk = fit < n ? (int)fit : n;
    double need = fmax(per_image * g->chunk + extra, 1.25 * (double)dec) + margin;
    size_t bytes = g->arena_bytes ? g->arena_bytes : (size_t)need;
    arena_destroy(g->arena);
    if (!(g->arena = arena_create(g->dev, bytes, GEN_HOST_BYTES))) return -1;
    g->tp.arena = g->arena;
    g->plan_n = n, g->plan_guided = guided, g->plan_strip = strip, g->plan_kind = o->kind;
    return 0;
}

// ----------------------------------------------------------------------------
// sampling

int gen_images(Generator *g, int label, int n, const SamplerOpts *o, float *out, StripCapture *strip) {
    const ModelConfig *c = &g->cfg;
    const int s = cfg_latent_size(c);
    if (n < 1) return ldm_error("sample", "asked for %d images", n);
    if (plan(g, n, o, strip != NULL)) return -1;
    int *labels = NULL;
    Tensor *x = tensor_new4(NULL, g->dev, n, s, s, c->latent_ch); /* x_T of all n images, then the samples */
    if (!x) return -1;
    const uint64_t row_seed = gen_row_seed(o->seed, c->num_classes ? label : -1);
    const int n_chunks = (n + g->chunk - 1) / g->chunk;
    const size_t per = x->numel / (size_t)n;
    int rc = sample_init_noise(x, row_seed) ? -1 : 0;
    if (!rc && c->num_classes) {
        if (!(labels = malloc((size_t)n * sizeof(int)))) rc = ldm_error("sample", "out of memory");
        for (int i = 0; !rc && i < n; i++) labels[i] = label;
    }
    for (int k = 0; !rc && k < n_chunks; k++) {
        const int i0 = k * g->chunk, b = n - i0 < g->chunk ? n - i0 : g->chunk;
        Tensor part = *x; /* images i0 .. i0 + b */
        part.data = x->data + (size_t)i0 * per;
        part.shape[0] = b;
        part.numel = (size_t)b * per;
        SamplerOpts so = *o;
        so.seed = n_chunks == 1 ? row_seed : gen_row_seed(row_seed, 1000 + k);
        so.null_label = c->num_classes;
        StripCtx sc = {g, strip, 0};
        if (strip && k == 0) so.callback = strip_cb, so.callback_ctx = &sc;
        if (sample(&g->sched, unet_eps, &g->unet, &g->tp, &part, labels ? labels + i0 : NULL, &so)) rc = -1;
    }
    for (int k = 0; !rc && k < n; k += DECODE_CHUNK) { /* a few at a time: full-resolution activations are large */
        arena_reset(g->arena);
        tape_reset(&g->tp);
        Tensor part = *x;
        int b = n - k < DECODE_CHUNK ? n - k : DECODE_CHUNK;
        part.data = x->data + (size_t)k * per;
        rc = decode_to_host(g, &part, b, out + (size_t)k * c->image_size * c->image_size * c->channels);
    }
    free(labels);
    tensor_free(x);
    return rc;
}
