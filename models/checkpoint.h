/* models/checkpoint.h — models as safetensors files.
 *
 * Tensors: the model's parameters under their own names ("vae.enc.conv_in.weight",
 * "unet.down.1.res.0.conv1.weight"); optionally the EMA weights ("ema.<name>") and the
 * AdamW moments ("adam.m.<name>", "adam.v.<name>") so training resumes exactly; a VAE trained
 * with the patch discriminator (models/patch_disc.h) also holds it ("disc.<name>") and its
 * moments ("disc.adam.m.<name>", "disc.adam.v.<name>"), which nothing but a resumed training
 * run reads.
 * __metadata__: "format" (CKPT_FORMAT), "kind" ("vae" | "unet" | "classifier"), "preset", "config"
 * (cfg_to_string), "latent_scale", "step", plus any extra key/value pairs the trainer
 * adds (data order, RNG offsets, ...).
 *
 * Loading is strict: the format version and kind must match, the config must equal the
 * expected one where one is given (the first differing field is named), and every
 * expected tensor must be present with its exact shape (the first mismatch is named).
 * Saving is atomic (temporary file, fsync, rename; core/safetensors.h).
 */
#ifndef LDM_MODELS_CHECKPOINT_H
#define LDM_MODELS_CHECKPOINT_H

#include <stdbool.h>

#include "core/safetensors.h"
#include "models/config.h"
#include "models/params.h"

#define CKPT_FORMAT "ldm.c-1"

typedef struct {
    const char *kind;          /* "vae" | "unet" | "classifier" (ldm-eval's judge) */
    const ModelConfig *cfg;
    double latent_scale;       /* 1 / std(z) over the training set (1 until measured) */
    long long step;
    const ParamSet *params;    /* required */
    const ParamSet *ema;       /* optional: "ema." */
    const ParamSet *adam_m, *adam_v; /* optional: "adam.m.", "adam.v." */
    const ParamSet *disc, *disc_m, *disc_v; /* optional: "disc.", "disc.adam.m.", "disc.adam.v." */
    int n_extra;               /* more __metadata__ */
    const char *const *extra_keys, *const *extra_vals;
} CheckpointSave;

int checkpoint_save(const char *path, const CheckpointSave *c);

typedef struct {
    SafeTensors st;
    char kind[16];
    ModelConfig cfg;
    double latent_scale;
    long long step;
} Checkpoint;

/* Opens and validates the file's metadata. expect_kind (NULL: any) and expect_cfg (NULL:
 * any) are compared: the kind, the preset name, then every field in the kind's scope (the
 * data and VAE fields for a "vae" or "classifier" checkpoint, all fields for a "unet" one).
 * -1 with a message naming the file and what differs. */
int checkpoint_open(Checkpoint *ck, const char *path, const char *expect_kind, const ModelConfig *expect_cfg);
void checkpoint_close(Checkpoint *ck);

/* Reads the group `prefix` ("" for the model, "ema.", "adam.m.", "adam.v.", "disc.", ...) into ps: each
 * of ps's names (prefixed) must be present as F32 with ps's shape, and the file may hold
 * no other tensor of that group. -1 naming the first mismatch. */
int checkpoint_read(const Checkpoint *ck, const char *prefix, ParamSet *ps);
/* Whether the file holds any tensor of group `prefix` ("ema.", "adam.m.", ...). */
bool checkpoint_has_group(const Checkpoint *ck, const char *prefix);
/* An extra __metadata__ value, or NULL. */
const char *checkpoint_meta(const Checkpoint *ck, const char *key);

#endif
