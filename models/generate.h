/* models/generate.h — from two checkpoints (or two models in memory) to images: noise -> U-Net sampler -> VAE decoder.
 *
 *   z_T ~ N(0, I)                  (n, s, s, latent_ch), Philox (row seed, offset 0)
 *   z_0 = sample(...)              DDPM / DDIM / DPM++(2M) with classifier-free guidance,
 *                                  the U-Net's EMA weights by default (models/sampler.c)
 *   x   = decode(z_0 / latent_scale) in [-1, 1]                      (models/vae.c)
 *
 * One call generates the n images of one class from a seed derived from (seed, class): a
 * class's images do not depend on which other classes were asked for, and the same seed on
 * the same device gives the same pixels.
 *
 * Memory: the n images go through the sampler in batches that fit. Before the first batch
 * the generator measures one sampler step (with the caller's guidance, which doubles the
 * U-Net batch) and one decoder pass on GEN_PROBE_BATCH images in a scratch arena, then
 * sizes the arena for min(n, what fits in the budget) images: --arena-mb when given, else
 * 1 GiB on the CPU (8 GiB on a GPU). x_T of all n images is drawn at once from (row seed,
 * offset 0), so with the deterministic samplers (DDIM eta 0, DPM++) the images do not
 * depend on the batching; with eta > 0 each batch of a split run draws its step noise from
 * its own seed (gen_row_seed(row seed, 1000 + batch)), an unsplit run from the row seed.
 */
#ifndef LDM_MODELS_GENERATE_H
#define LDM_MODELS_GENERATE_H

#include <stdbool.h>
#include <stdint.h>

#include "models/sampler.h"
#include "models/unet.h"
#include "models/vae.h"

typedef struct {
    ModelConfig cfg;
    UNet unet;
    VAE vae;
    ParamSet unet_ps, vae_ps;
    NoiseSchedule sched;
    double latent_scale;
    long long unet_step, vae_step;
    bool used_ema;
    bool owns_models;   /* gen_open loaded them (and frees them); gen_attach borrows */
    Device dev;
    size_t arena_bytes; /* --arena-mb, or 0: planned */
    Arena *arena;       /* NULL until the first gen_images */
    Tape tp;
    int chunk;          /* images per sampler batch in the current plan */
    int plan_n;
    SamplerKind plan_kind;
    bool plan_guided, plan_strip;
} Generator;

/* Opens both checkpoints and checks they belong together: a "unet" and a "vae" file,
 * the same preset and VAE fields. use_ema: the U-Net's EMA weights when the file has
 * them. arena_mb 0 = planned from the model, n and the guidance (see above); else the
 * fixed activation memory, in batches that fit in it. -1 naming the file. */
int gen_open(Generator *g, const char *unet_path, const char *vae_path, Device dev, bool use_ema, size_t arena_mb);
/* The same generator over models already in memory (a training run's U-Net with its EMA
 * weights swapped in, its VAE): the structs are copied, their parameters borrowed, so
 * they must outlive the generator and gen_close leaves them alone. The planned arena
 * (arena_mb 0) as for gen_open. -1 on a bad schedule. */
int gen_attach(Generator *g, const ModelConfig *cfg, const UNet *unet, const VAE *vae, double latent_scale, Device dev,
               size_t arena_mb);
void gen_close(Generator *g);

/* The row seed for class `label` (-1: unconditional). */
uint64_t gen_row_seed(uint64_t seed, int label);

/* Strip capture: the decoded x0 prediction of image 0 at `n_cols` sampler steps
 * (evenly spaced from the first to the last), written to cols (n_cols, S, S, C) floats
 * (C = cfg.channels). */
typedef struct {
    int n_cols;
    int *steps;  /* (n_cols) sampler step indices */
    float *cols; /* (n_cols, S, S, C) */
} StripCapture;

/* n images of class `label` (-1 or any value for an unconditional model) into out
 * (n, S, S, C) floats in [-1, 1] (decoder output, unclamped). strip may be NULL. */
int gen_images(Generator *g, int label, int n, const SamplerOpts *o, float *out, StripCapture *strip);

#endif
