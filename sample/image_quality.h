/* sample/image_quality.h — how close a reconstruction is to its original, per image.
 * Images are (h, w) floats with a dynamic range L (2 for ldm.c's [-1, 1] images).
 *
 * PSNR   10 log10(L^2 / MSE), in dB (infinite for identical images).
 * SSIM   (Wang et al. 2004): local statistics under a Gaussian window (11 x 11, sigma 1.5,
 *        normalised to sum 1), evaluated where the window lies fully inside the image
 *        ("valid", as the authors' MATLAB code), with C1 = (0.01 L)^2, C2 = (0.03 L)^2:
 *          l  = (2 mx my + C1) / (mx^2 + my^2 + C1)
 *          cs = (2 sxy + C2) / (sx^2 + sy^2 + C2)
 *          SSIM = mean over windows of l * cs;   CS = mean of cs
 *        (sx^2, sy^2, sxy: weighted local variances and covariance, E[xy] - mx my).
 * MS-SSIM (Wang, Simoncelli & Bovik 2003): M scales, each a 2x2 average-pooled copy of the
 *        previous; MS-SSIM = prod_{j<M} max(CS_j, 0)^w_j * max(SSIM_M, 0)^w_M with the
 *        weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333). The standard uses 5 scales, which
 *        needs a side of 11 * 2^4 = 176; smaller images use the scales whose side is still
 *        >= 11 (64 -> 3 scales: 64, 32, 16), with the first M weights renormalised to sum
 *        1, and fewer than 2 scales is "not available". The scale count is reported beside it.
 */
#ifndef LDM_SAMPLE_IMAGE_QUALITY_H
#define LDM_SAMPLE_IMAGE_QUALITY_H

#define SSIM_WIN 11
#define SSIM_SIGMA 1.5
#define MSSSIM_MAX_SCALES 5

double psnr(const float *a, const float *b, int w, int h, double range);
/* *ssim and *cs (either may be NULL); -1 when the image is smaller than the window. */
int ssim(const float *a, const float *b, int w, int h, double range, double *ssim, double *cs);
/* Scales usable for a w x h image (0 or 1: MS-SSIM not available). */
int msssim_scales(int w, int h);
int ms_ssim(const float *a, const float *b, int w, int h, double range, double *out, int *scales);

#endif
