/* tests/emu/bad_missing_barrier.cu — reverses 256 floats through shared memory but forgets
 * the __syncthreads between the write and the read: thread t reads the word thread 255-t
 * writes, in the same barrier interval. */
extern "C" {
#include "core/cuda_check.h"
#include "tests/emu/fixtures.h"
}

__global__ void bad_missing_barrier_kernel(const float *in, float *out) {
    __shared__ float s[256];
    const int t = threadIdx.x;
    s[t] = in[t];
    /* __syncthreads(); missing */
    out[t] = s[255 - t];
}

extern "C" int fx_missing_barrier(void) {
    float *in, *out;
    cudaMalloc(&in, 256 * sizeof(float));
    cudaMalloc(&out, 256 * sizeof(float));
    cudaMemset(in, 0, 256 * sizeof(float));
    LDM_LAUNCH(bad_missing_barrier_kernel, 1, 256)(in, out);
    const cudaError_t e = cudaGetLastError();
    cudaFree(in);
    cudaFree(out);
    return e;
}
