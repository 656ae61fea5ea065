/* kernels/cuda/cast.cu — fp32 <-> bf16 on the GPU.
 *   fp32 -> bf16: round to nearest even (core/bf16.h's ldm_f32_to_bf16, the same bits as
 *   cvt.rn.bf16.f32: NaN quiet, overflow to inf); bf16 -> fp32: exact.
 * Bytes: 6 per element; memory-bound.
 * Decomposition: ew_launch (common.cuh): a grid-stride loop, 256 threads a block, one element
 * a thread and iteration (2-byte elements: no vector path). */
extern "C" {
#include "core/bf16.h"
#include "core/cuda_check.h"
#include "kernels/cast.h"
}
#include "kernels/cuda/common.cuh"

struct ToBf16Op {
    const float *x;
    bf16_t *y;
    template <int V>
    __device__ void run(long i) const {
        for (int j = 0; j < V; j++) y[i + j] = ldm_f32_to_bf16(x[i + j]);
    }
};

struct ToF32Op {
    const bf16_t *x;
    float *y;
    template <int V>
    __device__ void run(long i) const {
        for (int j = 0; j < V; j++) y[i + j] = ldm_bf16_to_f32(x[i + j]);
    }
};

extern "C" int cast_tensor_cuda(const Tensor *src, Tensor *dst) {
    if (src->dtype == DT_F32)
        return ew_launch("cast_to_bf16", ToBf16Op{src->data, (bf16_t *)dst->data}, (long)src->numel, false);
    return ew_launch("cast_to_f32", ToF32Op{(const bf16_t *)src->data, dst->data}, (long)src->numel, false);
}
