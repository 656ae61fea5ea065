/* tests/emu/bad_divergent_barrier.cu — barriers that not every thread of the block reaches.
 *   divergent: the two halves of the block wait at two different __syncthreads;
 *   partial:   __syncthreads inside `if (tid < 16)`: the other 48 threads have returned. */
extern "C" {
#include "core/cuda_check.h"
#include "tests/emu/fixtures.h"
}

__global__ void bad_divergent_barrier_kernel(float *y) {
    __shared__ float s[64];
    const int t = threadIdx.x;
    s[t] = (float)t;
    if (t < 32) {
        __syncthreads();
        y[t] = s[63 - t];
    } else {
        __syncthreads();
        y[t] = s[t - 32];
    }
}

__global__ void bad_partial_barrier_kernel(float *y) {
    __shared__ float s[16];
    const int t = threadIdx.x;
    if (t >= 16) return;
    s[t] = (float)t;
    __syncthreads();
    y[t] = s[15 - t];
}

extern "C" int fx_divergent_barrier(void) {
    float *y;
    cudaMalloc(&y, 64 * sizeof(float));
    LDM_LAUNCH(bad_divergent_barrier_kernel, 1, 64)(y);
    const cudaError_t e = cudaGetLastError();
    cudaFree(y);
    return e;
}

extern "C" int fx_partial_barrier(void) {
    float *y;
    cudaMalloc(&y, 64 * sizeof(float));
    LDM_LAUNCH(bad_partial_barrier_kernel, 1, 64)(y);
    const cudaError_t e = cudaGetLastError();
    cudaFree(y);
    return e;
}
