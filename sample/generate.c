/* sample/generate.c — see generate.h. */
#include "sample/generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/checkpoint.h"

#define DECODE_CHUNK 2 /* images per VAE decoder pass */

static int open_ck(Checkpoint *ck, const char *path, const char *kind, const ModelConfig *cfg, const char *flag) {
    if (!checkpoint_open(ck, path, kind, cfg)) return 0;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ldm_last_error());
    return ldm_error("sample", "%s %s: %s", flag, path, msg);
}

int gen_open(Generator *g, const char *unet_path, const char *vae_path, Device dev, bool use_ema, int max_batch,
             size_t arena_mb) {
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
    g->used_ema = use_ema && checkpoint_has_group(&uck, "ema.");
    ps_init(&g->unet_ps, DEV_CPU, 0, true, false);
    ps_init(&g->vae_ps, DEV_CPU, 0, true, false);
    int rc = unet_init(&g->unet, &g->unet_ps, &g->cfg) || vae_init(&g->vae, &g->vae_ps, &g->cfg) ||
             checkpoint_read(&uck, g->used_ema ? "ema." : "", &g->unet_ps) || checkpoint_read(&vck, "", &g->vae_ps) ||
             ps_to_device(&g->unet_ps, dev) || ps_to_device(&g->vae_ps, dev) || schedule_from_config(&g->sched, &g->cfg);
    checkpoint_close(&uck);
    checkpoint_close(&vck);
    if (!rc) {
        /* no-grad activations, measured: a U-Net pass about 121 floats per latent pixel per
         * base channel per image (adni; demo 76), a decoder pass about 37 per pixel per VAE
         * base channel per image (adni); with a margin */
        const ModelConfig *c = &g->cfg;
        double s = cfg_latent_size(c);
        double unet_b = 130.0 * 4 * s * s * c->unet_ch * 2 * max_batch;
        double vae_b = 45.0 * 4 * c->image_size * c->image_size * c->vae_ch * DECODE_CHUNK;
        size_t bytes = arena_mb ? arena_mb << 20 : (size_t)(unet_b > vae_b ? unet_b : vae_b) + ((size_t)64 << 20);
        if (!(g->arena = arena_create(dev, bytes, (size_t)16 << 20))) rc = -1;
        else tape_init(&g->tp, g->arena), tape_set_grad_enabled(&g->tp, false);
    }
    if (rc) gen_close(g);
    return rc ? -1 : 0;
}

void gen_close(Generator *g) {
    ps_free(&g->unet_ps);
    ps_free(&g->vae_ps);
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
    ArenaMark mk = arena_mark(g->arena);
    Tensor zv = *z; /* the first n rows */
    zv.shape[0] = n;
    zv.numel = z->numel / (size_t)z->shape[0] * (size_t)n;
    zv.requires_grad = false;
    Tensor *x = vae_decode(&g->vae, &g->tp, ag_scale(&g->tp, &zv, (float)(1.0 / g->latent_scale)));
    int rc = x ? tensor_to_host(x, out) : -1;
    arena_rewind(g->arena, mk);
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

int gen_images(Generator *g, int label, int n, const SamplerOpts *o, float *out, StripCapture *strip) {
    const ModelConfig *c = &g->cfg;
    const int s = cfg_latent_size(c);
    int *labels = NULL;
    Tensor *x = tensor_new4(NULL, g->dev, n, s, s, c->latent_ch);
    if (!x) return -1;
    int rc = 0;
    if (c->num_classes) {
        if (!(labels = malloc((size_t)n * sizeof(int)))) rc = ldm_error("sample", "out of memory");
        for (int i = 0; !rc && i < n; i++) labels[i] = label;
    }
    SamplerOpts so = *o;
    so.seed = gen_row_seed(o->seed, c->num_classes ? label : -1);
    so.null_label = c->num_classes;
    StripCtx sc = {g, strip, 0};
    if (strip) so.callback = strip_cb, so.callback_ctx = &sc;
    if (!rc) rc = sample_init_noise(x, so.seed) || sample(&g->sched, unet_eps, &g->unet, &g->tp, x, labels, &so) ? -1 : 0;
    for (int k = 0; !rc && k < n; k += DECODE_CHUNK) { /* a few at a time: full-resolution activations are large */
        arena_reset(g->arena);
        tape_reset(&g->tp);
        Tensor part = *x;
        int b = n - k < DECODE_CHUNK ? n - k : DECODE_CHUNK;
        part.data = x->data + (size_t)k * (x->numel / (size_t)n);
        rc = decode_to_host(g, &part, b, out + (size_t)k * c->image_size * c->image_size * c->channels);
    }
    free(labels);
    tensor_free(x);
    return rc;
}
