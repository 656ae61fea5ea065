/* tests/emu/bad_shfl_absent.cu — warp shuffles whose full mask (0xffffffff) names lanes that
 * will never take part:
 *   absent:  lanes 16..31 return before the shuffle (a bounds check placed too early);
 *   missing: a block of 48 threads, so warp 1 has lanes 0..15 only. */
extern "C" {
#include "core/cuda_check.h"
#include "tests/emu/fixtures.h"
}

__global__ void bad_shfl_absent_kernel(const float *x, float *y, int n) {
    const int t = threadIdx.x;
    if (t >= n) return; /* n = 16: half the warp leaves */
    float v = x[t];
    for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (t == 0) y[0] = v;
}

__global__ void bad_shfl_missing_lanes_kernel(const float *x, float *y) {
    const int t = threadIdx.x;
    float v = x[t];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if ((t & 31) == 0) y[t >> 5] = v;
}

extern "C" int fx_shfl_absent(void) {
    float *x, *y;
    cudaMalloc(&x, 32 * sizeof(float));
    cudaMalloc(&y, sizeof(float));
    cudaMemset(x, 0, 32 * sizeof(float));
    LDM_LAUNCH(bad_shfl_absent_kernel, 1, 32)(x, y, 16);
    const cudaError_t e = cudaGetLastError();
    cudaFree(x);
    cudaFree(y);
    return e;
}

extern "C" int fx_shfl_missing_lanes(void) {
    float *x, *y;
    cudaMalloc(&x, 48 * sizeof(float));
    cudaMalloc(&y, 2 * sizeof(float));
    cudaMemset(x, 0, 48 * sizeof(float));
    LDM_LAUNCH(bad_shfl_missing_lanes_kernel, 1, 48)(x, y);
    const cudaError_t e = cudaGetLastError();
    cudaFree(x);
    cudaFree(y);
    return e;
}
