/* kernels/layer_norm.h — layer normalisation over the last dim.
 *   x (..., C): per row, mu, var (biased), rstd = 1/sqrt(var + eps)
 *   y = (x - mu) * rstd * gamma + beta;  mean, rstd (rows) saved for backward.
 * backward accumulates dx, dgamma (C), dbeta (C). */
#ifndef LDM_KERNELS_LAYER_NORM_H
#define LDM_KERNELS_LAYER_NORM_H

#include "kernels/kernel_common.h"

int layer_norm_forward(const Tensor *x, const Tensor *gamma, const Tensor *beta, float eps, Tensor *y, Tensor *mean,
                       Tensor *rstd);
int layer_norm_backward(const Tensor *x, const Tensor *gamma, const Tensor *mean, const Tensor *rstd,
                        const Tensor *dy, Tensor *dx, Tensor *dgamma, Tensor *dbeta);

int layer_norm_forward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *beta, float eps, Tensor *y,
                           Tensor *mean, Tensor *rstd);
int layer_norm_backward_cpu(const Tensor *x, const Tensor *gamma, const Tensor *mean, const Tensor *rstd,
                            const Tensor *dy, Tensor *dx, Tensor *dgamma, Tensor *dbeta);
#ifdef LDM_CUDA
int layer_norm_forward_cuda(const Tensor *x, const Tensor *gamma, const Tensor *beta, float eps, Tensor *y,
                            Tensor *mean, Tensor *rstd);
int layer_norm_backward_cuda(const Tensor *x, const Tensor *gamma, const Tensor *mean, const Tensor *rstd,
                             const Tensor *dy, Tensor *dx, Tensor *dgamma, Tensor *dbeta);
#endif

#endif
