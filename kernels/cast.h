/* kernels/cast.h — dtype conversion: dst = src with every element converted between fp32 and
 * bf16 (fp32 -> bf16 rounds to nearest even, NaN kept and made quiet, overflow to inf as RNE
 * gives; bf16 -> fp32 is exact; same dtype copies). src and dst: same shape, same device.
 * Bytes: 6 per element (4 read + 2 written, or the reverse). No backward (not on the tape). */
#ifndef LDM_KERNELS_CAST_H
#define LDM_KERNELS_CAST_H

#include "kernels/kernel_common.h"

int cast_tensor(const Tensor *src, Tensor *dst);

int cast_tensor_cpu(const Tensor *src, Tensor *dst);
#ifdef LDM_CUDA
int cast_tensor_cuda(const Tensor *src, Tensor *dst);
#endif

#endif
