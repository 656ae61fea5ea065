/* models/unet.h — the class-conditional U-Net that predicts the noise in a latent.
 *
 *   x (N, s, s, latent_ch), timesteps (N), labels (N) -> eps (N, s, s, latent_ch)
 *
 *   time:    emb = lin2(silu(lin1(sinusoidal(t, unet_ch))))     (N, 4 unet_ch); every
 *            ResBlock gets silu(emb) and turns it into a per-channel scale and shift
 *   classes: ctx = class_emb[label] viewed as (N, ctx_tokens, ctx_dim): a short learned
 *            token sequence per class; row num_classes is the null class (classifier-free
 *            guidance). Image tokens cross-attend to it wherever there is self-attention.
 *   down:    conv_in; per level i: unet_res x [ResBlock -> (attn -> xattn)], each output
 *            kept for a skip; a stride-2 conv between levels (also kept)
 *   middle:  ResBlock, attn, xattn, ResBlock
 *   up:      per level from the last: unet_res + 1 x [concat(h, skip) -> ResBlock ->
 *            (attn -> xattn)]; nearest 2x upsampling + conv between levels
 *   out:     GroupNorm + SiLU, conv_out 3x3 -> latent_ch, initialised to zero (the
 *            residual branches' last layers too), as in the reference latent-diffusion U-Net
 *   options: unet_attn=transformer replaces each (attn -> xattn) pair by LDM's spatial
 *            transformer (unet.<...>.tf.<j>, models/blocks.h); unet_dropout=p drops ResBlock
 *            activations before conv2 in training (dropout_rng set, gradients recorded)
 *
 * Parameter names: unet.time.{lin1,lin2}, unet.class_emb, unet.conv_in,
 * unet.down.<i>.{res,attn,xattn}.<j>, unet.down.<i>.downsample, unet.mid.{res.0,attn.0,xattn.0,res.1},
 * unet.up.<i>.{res,attn,xattn}.<j>, unet.up.<i>.upsample, unet.norm_out, unet.conv_out.
 */
#ifndef LDM_MODELS_UNET_H
#define LDM_MODELS_UNET_H

#include "models/blocks.h"
#include "models/config.h"
#include "models/schedule.h"

typedef struct {
    ResBlock res;
    AttnBlock attn;
    CrossAttnBlock xattn;
    SpatialTransformer tf;
    bool has_attn, has_xattn, has_tf; /* unet_attn: basic -> attn (+ xattn); transformer -> tf */
} UNetStage;

typedef struct {
    ModelConfig cfg;
    bool conditional; /* num_classes > 0 */
    Linear time1, time2;
    Tensor *class_emb; /* (num_classes + 1, ctx_tokens * ctx_dim) */
    Conv conv_in, conv_out;
    Norm norm_out;
    UNetStage down[CFG_MAX_LEVELS][CFG_MAX_RES];
    Conv downsample[CFG_MAX_LEVELS];
    UNetStage mid;
    ResBlock mid_res1;
    UNetStage up[CFG_MAX_LEVELS][CFG_MAX_RES + 1];
    Conv upsample[CFG_MAX_LEVELS];
    DropoutRng *dropout_rng; /* set by a training run when unet_dropout > 0; NULL: no dropout */
} UNet;

/* Registers the U-Net's parameters ("unet.*") in ps. Validates cfg. */
int unet_init(UNet *m, ParamSet *ps, const ModelConfig *cfg);
size_t unet_param_count(const ModelConfig *cfg);

/* x (N, s, s, latent_ch); timesteps (N) as floats; labels (N) class ids as floats in
 * [0, num_classes] (num_classes = the null class), required when conditional and
 * ignored (may be NULL) otherwise. Returns the predicted noise, x's shape. */
Tensor *unet_forward(const UNet *m, Tape *t, Tensor *x, Tensor *timesteps, Tensor *labels);

/* The training loss: x_t = q_sample(z0, noise, t); mse(unet(x_t, t, labels), noise).
 * t[N] host ints; labels as in unet_forward. */
Tensor *unet_loss(const UNet *m, Tape *tp, const NoiseSchedule *s, Tensor *z0, Tensor *noise, const int *t,
                  Tensor *labels);

/* An EpsFn (models/sampler.h) for a UNet: ctx is the const UNet *. */
Tensor *unet_eps(void *ctx, Tape *tp, Tensor *x, Tensor *timesteps, Tensor *labels);

#endif
