/* tests/emu/bad_misc.cu — the other faults the emulator must catch:
 *   uninit:     thread 3 reads a shared word no thread of the block has written;
 *   dyn OOB:    dynamic shared memory indexed past the 1 KB the launch asked for;
 *   host ptr:   a kernel handed a malloc'd host buffer instead of device memory;
 *   launch limits: 2048 threads a block; 64 KB of dynamic shared memory without the
 *               opt-in; an opt-in of 300 KB (an H100 allows 227 KB). */
#include <stdlib.h>

extern "C" {
#include "core/cuda_check.h"
#include "tests/emu/fixtures.h"
}

__global__ void bad_uninit_smem_kernel(float *y) {
    __shared__ float s[32];
    const int t = threadIdx.x;
    if (t != 7) s[t] = 1.0f; /* s[7] is never written */
    __syncthreads();
    if (t == 3) y[0] = s[7];
}

__global__ void bad_dyn_smem_oob_kernel(float *y) {
    LDM_DYNAMIC_SHARED(float, buf);
    const int t = threadIdx.x;
    buf[t] = (float)t;
    buf[t + 256] = 0.0f; /* the launch gave 256 floats */
    __syncthreads();
    y[t] = buf[255 - t];
}

__global__ void plain_copy_kernel(const float *x, float *y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i];
}

__global__ void big_smem_kernel(float *y) {
    LDM_DYNAMIC_SHARED(float, buf);
    buf[threadIdx.x] = 1.0f;
    __syncthreads();
    y[threadIdx.x] = buf[threadIdx.x];
}

extern "C" int fx_uninit_smem(void) {
    float *y;
    cudaMalloc(&y, sizeof(float));
    LDM_LAUNCH(bad_uninit_smem_kernel, 1, 32)(y);
    const cudaError_t e = cudaGetLastError();
    cudaFree(y);
    return e;
}

extern "C" int fx_dyn_smem_oob(void) {
    float *y;
    cudaMalloc(&y, 256 * sizeof(float));
    LDM_LAUNCH(bad_dyn_smem_oob_kernel, 1, 256, 256 * sizeof(float))(y);
    const cudaError_t e = cudaGetLastError();
    cudaFree(y);
    return e;
}

extern "C" int fx_host_pointer(void) {
    float *host = (float *)calloc(64, sizeof(float)), *y;
    cudaMalloc(&y, 64 * sizeof(float));
    LDM_LAUNCH(plain_copy_kernel, 1, 64)(host, y, 64);
    const cudaError_t e = cudaGetLastError();
    cudaFree(y);
    free(host);
    return e;
}

extern "C" int fx_block_too_big(void) {
    float *x, *y;
    cudaMalloc(&x, 2048 * sizeof(float));
    cudaMalloc(&y, 2048 * sizeof(float));
    LDM_LAUNCH(plain_copy_kernel, 1, 2048)(x, y, 2048);
    const cudaError_t e = cudaGetLastError();
    cudaFree(x);
    cudaFree(y);
    return e;
}

extern "C" int fx_smem_no_optin(void) {
    float *y;
    cudaMalloc(&y, 64 * sizeof(float));
    LDM_LAUNCH(big_smem_kernel, 1, 64, 64 * 1024)(y);
    const cudaError_t e = cudaGetLastError();
    cudaFree(y);
    return e;
}

extern "C" int fx_smem_over_max(void) {
    return cudaFuncSetAttribute(big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 300 * 1024);
}

extern "C" int fx_good_dyn_smem_optin(void) {
    float *y;
    cudaError_t e = cudaFuncSetAttribute(big_smem_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 100 * 1024);
    if (e != cudaSuccess) return e;
    cudaMalloc(&y, 64 * sizeof(float));
    LDM_LAUNCH(big_smem_kernel, 1, 64, 100 * 1024)(y);
    e = cudaGetLastError();
    cudaFree(y);
    return e;
}
