/* tests/tc/ptx_kernels.cu — see ptx_kernels.h. */
extern "C" {
#include "core/bf16.h"
#include "core/cuda_check.h"
#include "tests/tc/ptx_kernels.h"
}
#include <cuda_runtime.h>

#include "kernels/cuda/mma.cuh"

static int finish(void) {
    cudaError_t e = cudaDeviceSynchronize();
    if (e == cudaSuccess) e = cudaGetLastError();
    return (int)e;
}

template <class T>
static T *to_dev(const T *h, size_t n) {
    T *d = nullptr;
    if (cudaMalloc(&d, n * sizeof(T)) != cudaSuccess) return nullptr;
    if (h) cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice);
    else cudaMemset(d, 0, n * sizeof(T));
    return d;
}

// ---------------------------------------------------------------------------------
// one mma; fragments loaded straight from global memory by the ISA's formulas

__global__ void tc_mma_kernel(const uint16_t *A, const uint16_t *B, const float *C, float *D, int partial) {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    if (partial && lane >= 16) return;
    uint32_t a[4], b[2];
    float c[4], d[4];
    for (int i = 0; i < 4; i++) {
        const int row = g + 8 * (i & 1), col = 2 * t + 8 * (i >> 1);
        a[i] = A[row * 16 + col] | (uint32_t)A[row * 16 + col + 1] << 16;
    }
    for (int i = 0; i < 2; i++) {
        const int k = 2 * t + 8 * i;
        b[i] = B[k * 8 + g] | (uint32_t)B[(k + 1) * 8 + g] << 16;
    }
    for (int i = 0; i < 4; i++) c[i] = C[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)];
    mma_m16n8k16_bf16(d, a, b, c);
    for (int i = 0; i < 4; i++) D[(g + 8 * (i >> 1)) * 8 + 2 * t + (i & 1)] = d[i];
}

extern "C" int tc_mma_once(const uint16_t *A, const uint16_t *B, const float *C, float *D, int partial) {
    uint16_t *dA = to_dev(A, 256), *dB = to_dev(B, 128);
    float *dC = to_dev(C, 128), *dD = to_dev<float>(nullptr, 128);
    LDM_LAUNCH(tc_mma_kernel, 1, 32)(dA, dB, dC, dD, partial);
    int rc = finish();
    cudaMemcpy(D, dD, 128 * sizeof(float), cudaMemcpyDeviceToHost);
    cudaFree(dA), cudaFree(dB), cudaFree(dC), cudaFree(dD);
    return rc;
}

// ---------------------------------------------------------------------------------
// ldmatrix

__global__ void tc_ldmatrix_kernel(const uint16_t *rows, const int *perm, int trans, uint32_t *out) {
    __shared__ __align__(16) uint16_t s[32 * 8];
    const int lane = threadIdx.x;
    for (int k = 0; k < 8; k++) s[lane * 8 + k] = rows[lane * 8 + k];
    __syncthreads();
    uint32_t r[4];
    if (trans) ldmatrix_x4_trans(r, &s[perm[lane] * 8]);
    else ldmatrix_x4(r, &s[perm[lane] * 8]);
    for (int i = 0; i < 4; i++) out[lane * 4 + i] = r[i];
}

extern "C" int tc_ldmatrix(const uint16_t *rows, const int *perm, int trans, uint32_t *out) {
    uint16_t *dr = to_dev(rows, 256);
    int *dp = to_dev(perm, 32);
    uint32_t *dout = to_dev<uint32_t>(nullptr, 128);
    LDM_LAUNCH(tc_ldmatrix_kernel, 1, 32)(dr, dp, trans, dout);
    int rc = finish();
    cudaMemcpy(out, dout, 128 * sizeof(uint32_t), cudaMemcpyDeviceToHost);
    cudaFree(dr), cudaFree(dp), cudaFree(dout);
    return rc;
}

// ---------------------------------------------------------------------------------
// cp.async

__global__ void tc_cp_async_kernel(const float *src, float *out, int prefill, float fill, int wait) {
    __shared__ __align__(16) float s[256];
    const int t = threadIdx.x;
    if (prefill) {
        for (int k = 0; k < 4; k++) s[4 * t + k] = fill;
        __syncthreads();
    }
    cp_async_cg16(&s[4 * t], &src[4 * t]);
    cp_async_commit();
    if (wait) cp_async_wait<0>();
    __syncthreads();
    for (int k = 0; k < 4; k++) out[4 * t + k] = s[4 * (63 - t) + k];
}

extern "C" int tc_cp_async(const float *src, float *out, int prefill, float fill, int wait) {
    float *ds = to_dev(src, 256), *dout = to_dev<float>(nullptr, 256);
    LDM_LAUNCH(tc_cp_async_kernel, 1, 64)(ds, dout, prefill, fill, wait);
    int rc = finish();
    cudaMemcpy(out, dout, 256 * sizeof(float), cudaMemcpyDeviceToHost);
    cudaFree(ds), cudaFree(dout);
    return rc;
}

__global__ void tc_cp_async_two_kernel(const float *src, float *out, float fill) {
    __shared__ __align__(16) float s[512];
    const int t = threadIdx.x;
    for (int k = 0; k < 8; k++) s[8 * t + k] = fill;
    __syncthreads();
    cp_async_cg16(&s[4 * t], &src[4 * t]);
    cp_async_commit();
    cp_async_cg16(&s[256 + 4 * t], &src[256 + 4 * t]);
    cp_async_commit();
    cp_async_wait<1>(); /* group 0 complete, group 1 may still be in flight */
    __syncthreads();
    for (int k = 0; k < 8; k++) out[8 * t + k] = s[8 * t + k];
    /* group 1 is never waited for: the emulator drops it at the block's end */
}

extern "C" int tc_cp_async_two_groups(const float *src, float *out, float fill) {
    float *ds = to_dev(src, 512), *dout = to_dev<float>(nullptr, 512);
    LDM_LAUNCH(tc_cp_async_two_kernel, 1, 64)(ds, dout, fill);
    int rc = finish();
    cudaMemcpy(out, dout, 512 * sizeof(float), cudaMemcpyDeviceToHost);
    cudaFree(ds), cudaFree(dout);
    return rc;
}

__global__ void tc_cp_async_zfill_kernel(const float *src, float *out) {
    __shared__ __align__(16) float s[64];
    const int t = threadIdx.x;
    cp_async_cg16(&s[4 * t], &src[4 * t], 16 - t);
    cp_async_commit();
    cp_async_wait<0>();
    for (int k = 0; k < 4; k++) out[4 * t + k] = s[4 * t + k];
}

extern "C" int tc_cp_async_zfill(const float *src, float *out) {
    float *ds = to_dev(src, 64), *dout = to_dev<float>(nullptr, 64);
    LDM_LAUNCH(tc_cp_async_zfill_kernel, 1, 16)(ds, dout);
    int rc = finish();
    cudaMemcpy(out, dout, 64 * sizeof(float), cudaMemcpyDeviceToHost);
    cudaFree(ds), cudaFree(dout);
    return rc;
}
