/* tests/emu/bad_edge_tile.cu — y = 2x over n = 100 elements in tiles of 16 threads: the
 * bounds check says `i <= n`, so thread 4 of the last block (i = 100) reads and writes one
 * element past the end of both buffers. */
extern "C" {
#include "core/cuda_check.h"
#include "tests/emu/fixtures.h"
}

__global__ void bad_edge_tile_kernel(const float *x, float *y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i] = 2.0f * x[i]; /* off by one: i < n */
}

extern "C" int fx_edge_tile(void) {
    const int n = 100;
    float *x, *y;
    cudaMalloc(&x, n * sizeof(float));
    cudaMalloc(&y, n * sizeof(float));
    cudaMemset(x, 0, n * sizeof(float));
    LDM_LAUNCH(bad_edge_tile_kernel, (n + 15) / 16, 16)(x, y, n);
    const cudaError_t e = cudaGetLastError();
    cudaFree(x);
    cudaFree(y);
    return e;
}
