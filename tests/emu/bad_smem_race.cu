/* tests/emu/bad_smem_race.cu — pairs of threads write the same shared word (s[t / 2]) in
 * one barrier interval: a write-after-write race, whatever the order. */
extern "C" {
#include "core/cuda_check.h"
#include "tests/emu/fixtures.h"
}

__global__ void bad_smem_race_kernel(const float *in, float *out) {
    __shared__ float s[64];
    const int t = threadIdx.x;
    s[t / 2] = in[t];
    __syncthreads();
    if (t < 64) out[t] = s[t];
}

extern "C" int fx_smem_race(void) {
    float *in, *out;
    cudaMalloc(&in, 128 * sizeof(float));
    cudaMalloc(&out, 64 * sizeof(float));
    cudaMemset(in, 0, 128 * sizeof(float));
    LDM_LAUNCH(bad_smem_race_kernel, 1, 128)(in, out);
    const cudaError_t e = cudaGetLastError();
    cudaFree(in);
    cudaFree(out);
    return e;
}
