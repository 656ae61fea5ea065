/* kernels/gaussian.h — the VAE's Gaussian KL term and reparameterisation.
 *   kl: y (1) = mean_i 0.5 * (mu_i^2 + exp(lv_i) - 1 - lv_i)   (KL(N(mu, e^lv) || N(0, 1)) per element)
 *       backward: dmu += dy * mu / n, dlv += dy * 0.5 * (exp(lv) - 1) / n
 *   reparameterize: z = mu + exp(0.5 * lv) * eps   (eps drawn by the caller, e.g. rng_normal)
 *       backward: dmu += dz, dlv += dz * 0.5 * exp(0.5 * lv) * eps
 * Both clamp lv to [-30, 20] before exp, as the reference latent-diffusion code does,
 * and the gradient through a clamped lv is 0. */
#ifndef LDM_KERNELS_GAUSSIAN_H
#define LDM_KERNELS_GAUSSIAN_H

#include "kernels/kernel_common.h"

#define LOGVAR_MIN (-30.0f)
#define LOGVAR_MAX 20.0f

int gaussian_kl_forward(const Tensor *mu, const Tensor *logvar, Tensor *y);
int gaussian_kl_backward(const Tensor *mu, const Tensor *logvar, const Tensor *dy, Tensor *dmu, Tensor *dlogvar);
int reparameterize_forward(const Tensor *mu, const Tensor *logvar, const Tensor *eps, Tensor *z);
int reparameterize_backward(const Tensor *logvar, const Tensor *eps, const Tensor *dz, Tensor *dmu,
                            Tensor *dlogvar);

int gaussian_kl_forward_cpu(const Tensor *mu, const Tensor *logvar, Tensor *y);
int gaussian_kl_backward_cpu(const Tensor *mu, const Tensor *logvar, const Tensor *dy, Tensor *dmu,
                             Tensor *dlogvar);
int reparameterize_forward_cpu(const Tensor *mu, const Tensor *logvar, const Tensor *eps, Tensor *z);
int reparameterize_backward_cpu(const Tensor *logvar, const Tensor *eps, const Tensor *dz, Tensor *dmu,
                                Tensor *dlogvar);
#ifdef LDM_CUDA
int gaussian_kl_forward_cuda(const Tensor *mu, const Tensor *logvar, Tensor *y);
int gaussian_kl_backward_cuda(const Tensor *mu, const Tensor *logvar, const Tensor *dy, Tensor *dmu,
                              Tensor *dlogvar);
int reparameterize_forward_cuda(const Tensor *mu, const Tensor *logvar, const Tensor *eps, Tensor *z);
int reparameterize_backward_cuda(const Tensor *logvar, const Tensor *eps, const Tensor *dz, Tensor *dmu,
                                 Tensor *dlogvar);
#endif

#endif
