/* kernels/random.h — fill a tensor from the Philox4x32-10 stream (core/philox.h).
 * Element i of the tensor gets draw number (offset + i) of the stream `seed`, on any
 * device and whatever the thread layout, so the CPU and the GPU fill bit-identical
 * values. A caller that needs fresh numbers advances its offset by numel. */
#ifndef LDM_KERNELS_RANDOM_H
#define LDM_KERNELS_RANDOM_H

#include <stdint.h>

#include "kernels/kernel_common.h"

int rng_uniform(Tensor *y, uint64_t seed, uint64_t offset); /* U[0, 1) */
int rng_normal(Tensor *y, uint64_t seed, uint64_t offset);  /* N(0, 1) */

int rng_uniform_cpu(Tensor *y, uint64_t seed, uint64_t offset);
int rng_normal_cpu(Tensor *y, uint64_t seed, uint64_t offset);
#ifdef LDM_CUDA
int rng_uniform_cuda(Tensor *y, uint64_t seed, uint64_t offset);
int rng_normal_cuda(Tensor *y, uint64_t seed, uint64_t offset);
#endif

#endif
