/* kernels/silu.h — SiLU (swish): y = x * sigmoid(x).
 * backward: dx += dy * s * (1 + x * (1 - s)),  s = sigmoid(x).
 * x and y: both fp32 or both bf16 (math in fp32, y rounded to nearest even); dy, dx fp32. */
#ifndef LDM_KERNELS_SILU_H
#define LDM_KERNELS_SILU_H

#include "kernels/kernel_common.h"

int silu_forward(const Tensor *x, Tensor *y);
int silu_backward(const Tensor *x, const Tensor *dy, Tensor *dx);

int silu_forward_cpu(const Tensor *x, Tensor *y);
int silu_backward_cpu(const Tensor *x, const Tensor *dy, Tensor *dx);
#ifdef LDM_CUDA
int silu_forward_cuda(const Tensor *x, Tensor *y);
int silu_backward_cuda(const Tensor *x, const Tensor *dy, Tensor *dx);
#endif

#endif
