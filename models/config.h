/* models/config.h — one ModelConfig names everything about a model: the data transform,
 * the VAE, the U-Net and the noise schedule.
 *
 * Presets (`adni`, `oasis`, `demo`, `fashion`) are whole configurations; any field can
 * then be overridden by name ("unet_ch=64", "attn_res=16,8"). The config travels inside
 * every checkpoint as the text cfg_to_string writes ("key=value" lines), and a checkpoint
 * is refused when its config differs from the one expected (cfg_diff names the field).
 *
 * Geometry: the VAE halves the image vae_levels-1 times (factor 8 for 4 levels, 4 for 3),
 * so the latent is (image_size / factor)^2 x latent_ch. The U-Net halves the latent
 * unet_levels-1 times; attn_res lists the latent resolutions (sides, in latent pixels)
 * that get self-attention (and cross-attention to the class tokens when num_classes > 0);
 * the middle block always has both.
 */
#ifndef LDM_MODELS_CONFIG_H
#define LDM_MODELS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CFG_MAX_LEVELS 4 /* VAE and U-Net resolution levels */
#define CFG_MAX_RES 4    /* ResBlocks per level */
#define CFG_MAX_ATTN 4   /* entries of attn_res */
#define CFG_MAX_CLASSES 64
#define CFG_NAME_MAX 32

typedef enum { RECON_L1 = 0, RECON_MSE = 1 } ReconLoss;
typedef enum { SCHED_LINEAR = 0, SCHED_SCALED_LINEAR = 1, SCHED_COSINE = 2 } ScheduleKind;
/* The U-Net's attention stage (models/blocks.h): separate self- and cross-attention
 * blocks, or LDM's spatial transformer. */
typedef enum { ATTN_BASIC = 0, ATTN_TRANSFORMER = 1 } AttnKind;

typedef struct {
    char preset[CFG_NAME_MAX];
    /* data: source images are resized to fit data_size x data_size, centred on an
     * image_size x image_size canvas (the background value), mapped to [-1, 1] */
    int image_size, data_size, channels;
    int hflip;                 /* random horizontal flips while training (0/1) */
    int num_classes;           /* 0: unconditional */
    char class_names[256];     /* num_classes names, comma separated ("AD,NC") */
    /* VAE */
    int vae_ch;                /* base width */
    int vae_mult[CFG_MAX_LEVELS], vae_levels;
    int vae_res;               /* ResBlocks per level (encoder; decoder has one more) */
    int vae_attn;              /* self-attention in the middle blocks (0/1) */
    int vae_groups;            /* GroupNorm groups */
    int latent_ch;
    ReconLoss recon;
    float kl_beta;             /* loss = recon + kl_beta * KL, both means per element
                                * (cfg_kl_weight_ldm gives it in LDM's convention) */
    /* U-Net */
    int unet_ch;
    int unet_mult[CFG_MAX_LEVELS], unet_levels;
    int unet_res;
    int attn_res[CFG_MAX_ATTN], n_attn_res;
    int head_dim;              /* attention heads = channels / head_dim */
    int unet_groups;
    int ctx_tokens, ctx_dim;   /* learned class token sequence: ctx_tokens x ctx_dim per class */
    AttnKind unet_attn;        /* the attention stage (absent from older checkpoints: basic) */
    float unet_dropout;        /* ResBlock dropout rate in training (absent: 0) */
    /* noise schedule */
    ScheduleKind schedule;
    int timesteps;
    float beta_start, beta_end;
} ModelConfig;

/* Field groups, for comparisons scoped to one model. */
typedef enum { CFG_SCOPE_VAE = 1, CFG_SCOPE_UNET = 2, CFG_SCOPE_ALL = 3 } CfgScope;

/* The preset `name` into *cfg; -1 naming the known presets when there is none. */
int cfg_preset(ModelConfig *cfg, const char *name);
/* "adni oasis demo fashion" */
const char *cfg_preset_names(void);

/* Override one field: "key=value" or (key, value). Lists are comma separated ("1,2,2";
 * "" or "none" for an empty attn_res). -1 with the field named on a bad key or value. */
int cfg_set(ModelConfig *cfg, const char *key, const char *value);
int cfg_set_arg(ModelConfig *cfg, const char *key_eq_value);

/* Whole-config consistency (divisibility, ranges, resolutions); -1 naming the field. */
int cfg_validate(const ModelConfig *cfg);

/* "key=value\n" for every field; returns the length, or -1 when n is too small. */
int cfg_to_string(const ModelConfig *cfg, char *buf, size_t n);
/* Parses cfg_to_string's text; every field must be present. Validates. */
int cfg_from_string(ModelConfig *cfg, const char *text);

/* 0 when a and b agree on every field in `scope` (and the preset name); otherwise 1 and
 * "field: A vs B" for the first difference in msg. */
int cfg_diff(const ModelConfig *a, const ModelConfig *b, CfgScope scope, char *msg, size_t n);

/* Derived sizes. */
int cfg_vae_factor(const ModelConfig *cfg);  /* 2^(vae_levels-1) */
int cfg_latent_size(const ModelConfig *cfg); /* image_size / factor */
bool cfg_has_attn(const ModelConfig *cfg, int resolution);
/* kl_beta in LDM's convention. LDM (Rombach et al. 2022, the autoencoder's
 * LPIPSWithDiscriminator) sums both terms over each image's elements:
 *   loss_LDM = sum_pixels |x - x_hat| + kl_weight * sum_latent KL        (per image)
 * dividing by the P = image_size^2 channels pixel elements gives ours,
 *   loss = mean |x - x_hat| + kl_beta * mean KL,  kl_beta = kl_weight * Lz / P,
 * Lz = latent_size^2 latent_ch. So kl_weight = kl_beta * P / Lz (x4 at factor 4 with 4
 * latent channels on gray images; x16 at factor 8). LDM's kl-f4/f8 models use 1e-6. */
double cfg_kl_weight_ldm(const ModelConfig *cfg);

/* Class names: index from a name or a decimal index ("AD", "1"); -1 with an error naming
 * the known classes. cfg_class_name writes class i's name into buf. */
int cfg_class_index(const ModelConfig *cfg, const char *label);
const char *cfg_class_name(const ModelConfig *cfg, int i, char *buf, size_t n);

/* One line per field: "  key = value   help". */
void cfg_describe(const ModelConfig *cfg, FILE *f);

#endif
