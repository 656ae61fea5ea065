/* train/vae_adversary.h — `ldm-train vae --disc-weight X`: the patch discriminator beside the
 * autoencoder (models/patch_disc.h has the network and the math), as LDM's
 * LPIPSWithDiscriminator without LPIPS.
 *
 * A step from --disc-start on (steps before it are the plain VAE step, bit for bit):
 *   forward  the VAE as usual: x_hat, recon, KL, and h = the input of vae.dec.conv_out
 *   g_rec  = dL_rec/dx_hat      recon(x_hat', x) backpropagated on the adversary's own tape,
 *                               x_hat' a detached copy (this tape never walks the VAE's nodes)
 *   g_adv  = dL_G/dx_hat        L_G = -mean(D(x_hat')), likewise
 *   lambda = disc_weight clamp(||dw(h, g_rec)|| / (||dw(h, g_adv)|| + 1e-4), 0, 1e4)
 *            dw(h, g): the weight gradient of vae.dec.conv_out for dL/dx_hat = g, i.e. the two
 *            gradient norms at the decoder's last layer that LDM takes with autograd.grad;
 *            computed by one conv2d_backward each into a buffer allocated once
 *   VAE backward from  kl_beta KL + sum(x_hat * stop(g_rec + lambda g_adv)): one pass through
 *            the VAE whose gradient is that of recon + kl_beta KL + lambda L_G
 *   D step   L_D = mean(relu(1 - D(x))) + mean(relu(1 + D(x_hat'))) on one batch of 2B (real,
 *            then fake; x_hat' from before the VAE's update), its own AdamW (betas 0.5, 0.9,
 *            no weight decay, no clipping) at the VAE's scheduled lr, AdamW step t = the
 *            step's index - disc_start + 1 (so a resumed run continues it exactly)
 * The logged loss is recon + kl_beta KL + lambda L_G (LDM's). Memory: the activations share
 * the VAE's arena; the parameters, moments, the dw buffer and the host staging are
 * allocated once in adv_init.
 */
#ifndef LDM_TRAIN_VAE_ADVERSARY_H
#define LDM_TRAIN_VAE_ADVERSARY_H

#include <stdbool.h>

#include "models/patch_disc.h"
#include "models/vae.h"
#include "train/optimizer.h"

typedef struct {
    PatchDisc d;
    ParamSet ps;
    Optimizer opt;
    Tape tp;           /* on the VAE's arena; backward passes here stay inside the adversary */
    Tensor *dw;        /* heap, vae.dec.conv_out.weight's shape: the gradient-norm scratch */
    float *host;       /* (2B, S, S, C) real | fake images, then (2 n_logits) logits + gradients */
    int batch, size, channels;
    double weight;     /* disc_weight */
    long start;        /* disc_start */
    bool ready;
    /* the last active step's numbers, for the log */
    double lambda, loss_d, loss_g, rec_norm, g_norm;
    long steps_done;   /* active steps in this invocation */
} Adversary;

/* Builds the discriminator (initial values from seed) and its optimizer on dev for `batch`
 * images of the VAE's config; the tape shares `arena`. */
int adv_init(Adversary *a, const VAE *v, Arena *arena, Device dev, DType act_dtype, int batch, uint64_t seed,
             double weight, long start);
void adv_free(Adversary *a);

/* Whether the step with 0-based index `step` uses the discriminator. */
bool adv_active(const Adversary *a, long step);

/* After vae_loss (o) on x: the backward root for the VAE (*root) and the loss to log
 * (*logged), both on the VAE's tape t. */
int adv_generator(Adversary *a, const VAE *v, Tape *t, Tensor *x, const VAEOutput *o, Tensor **root, Tensor **logged);

/* The discriminator's update for step index `step` (0-based) at learning rate lr, on the x
 * and x_hat of the same step's adv_generator. */
int adv_discriminator_step(Adversary *a, long step, double lr);

#endif
