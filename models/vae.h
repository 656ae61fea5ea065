/* models/vae.h — the KL-regularised autoencoder that maps images to latents and back.
 *
 * Encoder  x (N, S, S, channels)
 *            conv_in 3x3 -> vae_ch
 *            per level i: vae_res ResBlocks to vae_ch * mult[i]; then a stride-2 3x3 conv
 *                         (all levels but the last)
 *            mid: ResBlock, self-attention (vae_attn), ResBlock
 *            GroupNorm + SiLU, conv_out 3x3 -> 2 * latent_ch = (mean, logvar)
 *          -> mean, logvar (N, S/f, S/f, latent_ch),  f = 2^(levels-1)
 * Decoder  z (N, S/f, S/f, latent_ch)
 *            conv_in 3x3 -> vae_ch * mult[last]; mid as above
 *            per level i from the last: vae_res + 1 ResBlocks to vae_ch * mult[i]; then
 *                         nearest 2x upsampling + 3x3 conv (all levels but the first)
 *            GroupNorm + SiLU, conv_out 3x3 -> channels
 *          -> x_hat (N, S, S, channels), trained towards the data range [-1, 1] (the
 *             decoder has no squashing nonlinearity; image writers clamp)
 * Loss     recon(x_hat, x) (L1 or MSE, mean per element) + kl_beta * KL(q(z|x) || N(0, I))
 *          (mean per latent element), with z = mean + exp(logvar / 2) * noise.
 *
 * Parameter names: vae.enc.conv_in, vae.enc.down.<i>.res.<j>, vae.enc.down.<i>.downsample,
 * vae.enc.mid.{res.0,attn,res.1}, vae.enc.norm_out, vae.enc.conv_out; vae.dec.* likewise
 * with vae.dec.up.<i>.res.<j> and vae.dec.up.<i>.upsample.
 */
#ifndef LDM_MODELS_VAE_H
#define LDM_MODELS_VAE_H

#include "models/blocks.h"
#include "models/config.h"

typedef struct {
    ResBlock res0, res1;
    AttnBlock attn;
    bool has_attn;
} MidBlock;

typedef struct {
    ModelConfig cfg;
    /* encoder */
    Conv enc_in, enc_out, enc_down[CFG_MAX_LEVELS];
    ResBlock enc_res[CFG_MAX_LEVELS][CFG_MAX_RES];
    MidBlock enc_mid;
    Norm enc_norm;
    /* decoder */
    Conv dec_in, dec_out, dec_up[CFG_MAX_LEVELS];
    ResBlock dec_res[CFG_MAX_LEVELS][CFG_MAX_RES + 1];
    MidBlock dec_mid;
    Norm dec_norm;
} VAE;

/* Registers the VAE's parameters ("vae.*") in ps. Validates cfg. */
int vae_init(VAE *v, ParamSet *ps, const ModelConfig *cfg);
/* Number of scalars in the VAE for cfg (no allocation). */
size_t vae_param_count(const ModelConfig *cfg);

/* x (N, S, S, channels) -> *mean, *logvar (N, S/f, S/f, latent_ch); -1 when an op failed. */
int vae_encode(const VAE *v, Tape *t, Tensor *x, Tensor **mean, Tensor **logvar);
/* z (N, S/f, S/f, latent_ch) -> x_hat (N, S, S, channels) */
Tensor *vae_decode(const VAE *v, Tape *t, Tensor *z);

typedef struct {
    Tensor *loss;          /* (1) recon + kl_beta * kl */
    Tensor *recon, *kl;    /* (1) each */
    Tensor *x_hat;         /* (N, S, S, channels) */
    Tensor *mean, *logvar; /* (N, S/f, S/f, latent_ch) */
    Tensor *h_out;         /* (N, S, S, vae_ch * mult[0]): the input of vae.dec.conv_out */
} VAEOutput;

/* recon(x_hat, x): L1 or MSE by cfg.recon, mean per element (1). */
Tensor *vae_recon_loss(const VAE *v, Tape *t, Tensor *x_hat, Tensor *x);

/* The training loss for a batch x. noise has the latent's shape (N(0, 1) draws, e.g. from
 * rng_normal); the caller owns the random stream. Returns out->loss (NULL on failure). */
Tensor *vae_loss(const VAE *v, Tape *t, Tensor *x, Tensor *noise, VAEOutput *out);

/* ||dL/dW||_2 for W = vae.dec.conv_out.weight, given dy = dL/dx_hat (N, S, S, channels) and
 * h = out->h_out of the same forward: the conv's weight gradient, computed apart from the tape
 * into dw (W's shape, fp32, overwritten), then its norm. (LDM's adaptive weight compares two of
 * these: models/patch_disc.h.) */
int vae_out_grad_norm(const VAE *v, Tape *t, Tensor *h, const Tensor *dy, Tensor *dw, double *norm);

#endif
