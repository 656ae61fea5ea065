/* tests/emu/bad_misaligned_float4.cu — a float4 copy of a tensor that starts one float past
 * a 16-byte boundary (a view, or an offset into an arena): thread 5 of block 2 loads a
 * float4 at an address = 4 (mod 16). On a GPU: "misaligned address", and a sticky error. */
extern "C" {
#include "core/cuda_check.h"
#include "tests/emu/fixtures.h"
}

__global__ void bad_misaligned_float4_kernel(const float *x, float *y) {
    if (blockIdx.x != 2 || threadIdx.x != 5) return;
    const float4 v = *reinterpret_cast<const float4 *>(x + 1); /* x + 1 is not 16-byte aligned */
    y[0] = v.x + v.y + v.z + v.w;
}

extern "C" int fx_misaligned_float4(void) {
    float *x, *y;
    cudaMalloc(&x, 64 * sizeof(float));
    cudaMalloc(&y, 4 * sizeof(float));
    cudaMemset(x, 0, 64 * sizeof(float));
    LDM_LAUNCH(bad_misaligned_float4_kernel, 4, 32)(x, y);
    const cudaError_t e = cudaGetLastError();
    cudaFree(x);
    cudaFree(y);
    return e;
}
