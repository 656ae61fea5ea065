/* kernels/group_norm.h — group normalisation over NHWC, with an optional fused SiLU.
 *   x (N, H, W, C) (or any rank >= 2: first dim is N, last is C), C divisible by G
 *   group g of sample n = channels [g*C/G, (g+1)*C/G) at every spatial position
 *   mu, var over that group (biased), rstd = 1/sqrt(var + eps)
 *   z = (x - mu) * rstd * gamma[c] + beta[c];   y = silu ? z * sigmoid(z) : z
 * mean and rstd (N, G) are written by forward and reused by backward, which
 * recomputes z from them. backward accumulates dx, dgamma (C), dbeta (C).
 * dtypes: x and y both fp32 or both bf16 (statistics and math in fp32, y rounded once);
 * gamma, beta, mean, rstd, dy, dx, dgamma, dbeta fp32. */
#ifndef LDM_KERNELS_GROUP_NORM_H
#define LDM_KERNELS_GROUP_NORM_H

#include "kernels/kernel_common.h"

int group_norm_forward(const Tensor *x, const Tensor *gamma, const Tensor *beta, int groups, float eps, bool silu,
                       Tensor *y, Tensor *mean, Tensor *rstd);
int group_norm_backward(const Tensor *x, const Tensor *gamma, const Tensor *beta, const Tensor *mean,
                        const Tensor *rstd, const Tensor *dy, int groups, bool silu, Tensor *dx, Tensor *dgamma,
                        Tensor *dbeta);

int group_norm_forward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *beta, int groups, float eps,
                           bool silu, Tensor *y, Tensor *mean, Tensor *rstd);
int group_norm_backward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *beta, const Tensor *mean,
                            const Tensor *rstd, const Tensor *dy, int groups, bool silu, Tensor *dx, Tensor *dgamma,
                            Tensor *dbeta);
#ifdef LDM_CUDA
int group_norm_forward_cuda(const Tensor *x, const Tensor *gamma, const Tensor *beta, int groups, float eps,
                            bool silu, Tensor *y, Tensor *mean, Tensor *rstd);
int group_norm_backward_cuda(const Tensor *x, const Tensor *gamma, const Tensor *beta, const Tensor *mean,
                             const Tensor *rstd, const Tensor *dy, int groups, bool silu, Tensor *dx, Tensor *dgamma,
                             Tensor *dbeta);
#endif

#endif
