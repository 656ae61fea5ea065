/* models/patch_disc.h — the VAE's optional adversary: a PatchGAN discriminator with the hinge
 * loss and LDM's adaptive weight (Esser et al. 2021, taming-transformers' NLayerDiscriminator
 * and LPIPSWithDiscriminator; Rombach et al. 2022 train their autoencoders with it), without
 * the LPIPS term.
 *
 * Network (one logit per patch; ch = DISC_CH, L = DISC_LAYERS, S = image size):
 *   x (N, S, S, Cx)
 *   conv_in 3x3 stride 2 -> ch, SiLU                                  (N, S/2, S/2, ch)
 *   layer i = 1..L-1: conv 3x3 stride 2 -> ch * 2^i, GroupNorm + SiLU  (N, S/2^(i+1), ., ch 2^i)
 *   layer L: conv 3x3 stride 1 -> ch * 2^L, GroupNorm + SiLU           (N, S/2^L, S/2^L, ch 2^L)
 *   conv_out 3x3 stride 1 -> 1                                         (N, S/2^L, S/2^L, 1)
 * Where it departs from NLayerDiscriminator, and why:
 *   3x3 kernels, not 4x4: conv2d here supports R = S in {1, 3} (every kernel version, CPU and
 *     CUDA); with pad 1 the patch grid is S/2^L, and the receptive field of a logit is
 *     1 + 2 (1 + 2 + 4 + ... + 2^L + 2^L) pixels (47 for L = 3), against LDM's 70;
 *   GroupNorm, not BatchNorm: the project has it, and it keeps samples independent (no
 *     running statistics to save, no train/eval switch);
 *   SiLU, not LeakyReLU(0.2): there is no LeakyReLU op; SiLU also passes a gradient for
 *     negative inputs, which is what the leak is for.
 *
 * Losses (logits r = D(x) of real images, f = D(x_hat) of reconstructions; means over
 * every patch logit of the batch):
 *   discriminator  L_D = mean(relu(1 - r)) + mean(relu(1 + f))   (LDM's hinge_d_loss halves it;
 *                  AdamW does not see a constant factor)
 *     dL_D/dr_i = -[r_i < 1] / n_r,  dL_D/df_i = [f_i > -1] / n_f
 *   generator      L_G = -mean(f)   (through D, into the VAE)
 *   total VAE loss = recon + kl_beta KL + lambda L_G, with LDM's adaptive weight
 *     lambda = disc_weight * clamp(||dL_rec/dw|| / (||dL_G/dw|| + 1e-4), 0, 1e4)
 *     (w: the decoder's last conv weight; L_rec: the reconstruction term; lambda a constant:
 *     no gradient flows through it). It balances the two gradients where they meet.
 *
 * Parameter names (inside its own ParamSet; the VAE checkpoint stores them as "disc.<name>"):
 *   conv_in, layer.<i>.conv, layer.<i>.norm (i = 1..L), conv_out.
 */
#ifndef LDM_MODELS_PATCH_DISC_H
#define LDM_MODELS_PATCH_DISC_H

#include "models/blocks.h"

#define DISC_CH 16
#define DISC_LAYERS 3
#define DISC_GROUPS 8

typedef struct {
    int in_ch, ch, layers;
    Conv conv_in, conv[DISC_LAYERS + 1], conv_out; /* conv[1..layers] */
    Norm norm[DISC_LAYERS + 1];
} PatchDisc;

/* Registers the discriminator for in_ch image channels in ps (names as above). */
int disc_init(PatchDisc *d, ParamSet *ps, int in_ch);
/* Number of scalars (no allocation). */
size_t disc_param_count(int in_ch);
/* fp32 activations of one image's forward (S x S): each layer's conv output and activation. */
size_t disc_activation_floats(int size);
/* x (N, S, S, in_ch), S divisible by 2^layers -> logits (N, S/2^L, S/2^L, 1) */
Tensor *disc_forward(const PatchDisc *d, Tape *t, Tensor *x);

/* L_D for n_r real logits r and n_f fake logits f (host arrays); the gradients into dr and
 * df (either may be NULL). */
double disc_hinge_loss(const float *r, int n_r, const float *f, int n_f, float *dr, float *df);
/* lambda = disc_weight * clamp(rec_norm / (g_norm + 1e-4), 0, 1e4) */
double disc_adaptive_weight(double rec_norm, double g_norm, double disc_weight);

#endif
