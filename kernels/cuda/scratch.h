/* kernels/cuda/scratch.h — one grow-only device buffer for the partial sums of
 * multi-kernel deterministic reductions (group norm, layer norm parameter gradients).
 *
 * The buffer grows (cudaFree + cudaMalloc) only when an op asks for more than it holds,
 * so after the first training step there is no allocation in the step loop. Contents
 * are valid until the next call: every use is one op's launches on the default stream,
 * which run in order. Include only from .cu files. */
#ifndef LDM_KERNELS_CUDA_SCRATCH_H
#define LDM_KERNELS_CUDA_SCRATCH_H

#include <stddef.h>

/* At least `bytes` of device memory, 256-byte aligned; NULL with an ldm error on failure. */
float *cuda_scratch(size_t bytes);

#endif
