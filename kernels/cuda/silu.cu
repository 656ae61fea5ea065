/* kernels/cuda/silu.cu — SiLU on the GPU.
 *   forward  y = x * sigmoid(x);  backward dx += dy * s * (1 + x (1 - s))
 * Bytes: forward 8/elem, backward 16/elem (memory-bound; FLOPs negligible).
 * Decomposition: grid-stride loop, one element per thread per iteration, 256 threads
 * per block; float4 loads when numel is a multiple of 4 and pointers are aligned
 * (arena and cudaMalloc give 256-byte alignment). */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/silu.h"
}

__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + __expf(-x)); }

__global__ void silu_forward_kernel(const float4 *__restrict__ x, float4 *__restrict__ y, long n4) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n4; i += (long)gridDim.x * blockDim.x) {
        float4 v = x[i];
        v.x = silu_f(v.x); v.y = silu_f(v.y); v.z = silu_f(v.z); v.w = silu_f(v.w);
        y[i] = v;
    }
}

__global__ void silu_forward_tail(const float *__restrict__ x, float *__restrict__ y, long start, long n) {
    long i = start + blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (i < n) y[i] = silu_f(x[i]);
}

__global__ void silu_backward_kernel(const float *__restrict__ x, const float *__restrict__ dy,
                                     float *__restrict__ dx, long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        float xv = x[i];
        float s = 1.0f / (1.0f + __expf(-xv));
        dx[i] += dy[i] * s * (1.0f + xv * (1.0f - s));
    }
}

static int grid_for(long n) {
    long g = (n + 255) / 256;
    if (g > 65535L * 8) g = 65535L * 8;
    return (int)(g < 1 ? 1 : g);
}

extern "C" int silu_forward_cuda(const Tensor *x, Tensor *y) {
    long n = (long)x->numel, n4 = n / 4;
    if (n4 > 0) {
        LDM_LAUNCH(silu_forward_kernel, grid_for(n4), 256)((const float4 *)x->data, (float4 *)y->data, n4);
        CUDA_LAUNCH_CHECK("silu_forward");
    }
    if (n4 * 4 < n) {
        LDM_LAUNCH(silu_forward_tail, 1, 256)(x->data, y->data, n4 * 4, n);
        CUDA_LAUNCH_CHECK("silu_forward_tail");
    }
    return 0;
}

extern "C" int silu_backward_cuda(const Tensor *x, const Tensor *dy, Tensor *dx) {
    long n = (long)x->numel;
    LDM_LAUNCH(silu_backward_kernel, grid_for(n), 256)(x->data, dy->data, dx->data, n);
    CUDA_LAUNCH_CHECK("silu_backward");
    return 0;
}
