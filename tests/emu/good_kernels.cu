/* tests/emu/good_kernels.cu — correct kernels in the patterns the project uses; the emulator
 * must run them clean under every seed (so its checks are not trigger-happy) and give the
 * right numbers. Each launcher checks its result and returns -1 when it is wrong. */
#include <math.h>

extern "C" {
#include "core/cuda_check.h"
#include "tests/emu/fixtures.h"
}

/* the reverse, with its barrier; then the same shared array reused after a second barrier */
__global__ void good_reverse_kernel(const float *in, float *out) {
    __shared__ float s[256];
    const int t = threadIdx.x;
    s[t] = in[t];
    __syncthreads();
    const float r = s[255 - t];
    __syncthreads();
    s[t] = 2.0f * r;
    __syncthreads();
    out[t] = s[t];
}

/* block sum: warp butterflies, one partial per warp in shared memory, then a tree */
__global__ void good_reduce_kernel(const float *x, float *y, int n) {
    __shared__ float part[32];
    const int t = threadIdx.x, lane = t & 31, w = t >> 5;
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + t; i < n; i += gridDim.x * blockDim.x) v += x[i];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) part[w] = v;
    __syncthreads();
    for (int s = (blockDim.x >> 5) / 2; s > 0; s >>= 1) {
        if (t < s) part[t] += part[t + s];
        __syncthreads();
    }
    if (t == 0) y[blockIdx.x] = part[0];
}

/* half-warp groups: lanes 0..15 of each warp shuffle among themselves (mask 0x0000ffff),
 * lanes 16..31 with 0xffff0000; shfl_down and shfl_idx too */
__global__ void good_half_warp_kernel(const int *x, int *y) {
    const int t = threadIdx.x, lane = t & 31;
    const unsigned mask = lane < 16 ? 0x0000ffffu : 0xffff0000u;
    int v = x[t];
    for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(mask, v, o, 16);
    const int first = __shfl_sync(mask, x[t], 0, 16);
    const int down = __shfl_down_sync(mask, x[t], 1, 16);
    y[t] = v * 1000 + first * 10 + (down - x[t]);
}

__global__ void good_float4_kernel(const float *x, float *y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x, n4 = n / 4;
    if (i < n4) reinterpret_cast<float4 *>(y)[i] = reinterpret_cast<const float4 *>(x)[i];
    if (i < n - 4 * n4) y[4 * n4 + i] = x[4 * n4 + i];
}

__global__ void never_launched_kernel(float *y) { y[0] = 1.0f; }

extern "C" int fx_good_reverse(void) {
    float h[256], *in, *out;
    for (int i = 0; i < 256; i++) h[i] = (float)i;
    cudaMalloc(&in, sizeof h);
    cudaMalloc(&out, sizeof h);
    cudaMemcpy(in, h, sizeof h, cudaMemcpyHostToDevice);
    LDM_LAUNCH(good_reverse_kernel, 1, 256)(in, out);
    cudaError_t e = cudaGetLastError();
    cudaMemcpy(h, out, sizeof h, cudaMemcpyDeviceToHost);
    cudaFree(in);
    cudaFree(out);
    if (e) return e;
    for (int i = 0; i < 256; i++)
        if (h[i] != 2.0f * (255 - i)) return -1;
    return 0;
}

extern "C" int fx_good_reduce(void) {
    const int n = 10007, blocks = 3;
    static float h[10007];
    double want = 0;
    for (int i = 0; i < n; i++) h[i] = (float)(i % 17) - 8.0f, want += h[i];
    float *x, *y, got[blocks];
    cudaMalloc(&x, n * sizeof(float));
    cudaMalloc(&y, blocks * sizeof(float));
    cudaMemcpy(x, h, n * sizeof(float), cudaMemcpyHostToDevice);
    LDM_LAUNCH(good_reduce_kernel, blocks, 256)(x, y, n);
    cudaError_t e = cudaGetLastError();
    cudaMemcpy(got, y, sizeof got, cudaMemcpyDeviceToHost);
    cudaFree(x);
    cudaFree(y);
    if (e) return e;
    return fabs((double)got[0] + got[1] + got[2] - want) < 1e-3 ? 0 : -1;
}

extern "C" int fx_good_half_warp(void) {
    int h[64], r[64], *x, *y;
    for (int i = 0; i < 64; i++) h[i] = i;
    cudaMalloc(&x, sizeof h);
    cudaMalloc(&y, sizeof h);
    cudaMemcpy(x, h, sizeof h, cudaMemcpyHostToDevice);
    LDM_LAUNCH(good_half_warp_kernel, 1, 64)(x, y);
    cudaError_t e = cudaGetLastError();
    cudaMemcpy(r, y, sizeof r, cudaMemcpyDeviceToHost);
    cudaFree(x);
    cudaFree(y);
    if (e) return e;
    for (int t = 0; t < 64; t++) {
        const int g = t & ~15, sum = 16 * g + 120, down = (t & 15) < 15 ? 1 : 0;
        if (r[t] != sum * 1000 + g * 10 + down) return -1;
    }
    return 0;
}

extern "C" int fx_good_float4(void) {
    const int n = 103;
    float h[103], r[103], *x, *y;
    for (int i = 0; i < n; i++) h[i] = (float)i;
    cudaMalloc(&x, sizeof h);
    cudaMalloc(&y, sizeof h);
    cudaMemcpy(x, h, sizeof h, cudaMemcpyHostToDevice);
    LDM_LAUNCH(good_float4_kernel, 1, 32)(x, y, n);
    cudaError_t e = cudaGetLastError();
    cudaMemcpy(r, y, sizeof r, cudaMemcpyDeviceToHost);
    cudaFree(x);
    cudaFree(y);
    if (e) return e;
    for (int i = 0; i < n; i++)
        if (r[i] != h[i]) return -1;
    return 0;
}

extern "C" int fx_good_empty_grid(void) {
    float *y;
    cudaMalloc(&y, sizeof(float));
    LDM_LAUNCH(never_launched_kernel, dim3(0, 1), 256)(y);
    const cudaError_t e = cudaGetLastError();
    cudaFree(y);
    return e;
}
