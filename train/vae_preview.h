/* train/vae_preview.h — DIR/vae_recon.png: a row of images and, under it, the VAE's
 * reconstructions of them (decoded from the posterior mean), so a reader can see what
 * the autoencoder keeps and what it blurs. Redrawn at every checkpoint. */
#ifndef LDM_TRAIN_VAE_PREVIEW_H
#define LDM_TRAIN_VAE_PREVIEW_H

/* x, x_hat: (n, S, S, C) floats in [-1, 1] (x_hat is clamped), C 1 (gray PNG) or 3 (RGB
 * PNG); psnr for the caption. */
int vae_preview_write(const char *path, const float *x, const float *x_hat, int n, int S, int C, long step, double psnr);

#endif
