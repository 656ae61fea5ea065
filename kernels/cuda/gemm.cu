/* kernels/cuda/gemm.cu — host helpers and the two reduction kernels behind gemm.cuh.
 *
 *   ldm_colsum_accumulate:  out[c] += sum_r a[r, c]      (bias gradients)
 *     FLOP rows*cols, bytes 4*rows*cols (+ partials). Pass 1: block (32 x 8 threads)
 *     owns 32 columns x one chunk of rows; thread (lx, ly) sums rows ly, ly+8, ... of
 *     its chunk in order, then the 8 partial sums are added in order ly = 0..7.
 *     The chunks' results go to scratch (one row per chunk) and pass 2 (one thread per
 *     column) adds them in chunk order. One chunk: pass 1 adds into out directly.
 *   ldm_splitk_reduce:      out[i] += sum_z part[z, i]    (split-K second pass)
 *     bytes 4*(splits+2)*n; grid-stride, one element per thread, z in order.
 * Both are deterministic: the summation order depends only on the shapes.
 *
 * Scratch: one device buffer, grown (never shrunk) on demand; see gemm.cuh.
 */
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/scratch.h"

// ---------------------------------------------------------------------------------------
// Scratch and device facts

float *ldm_cuda_scratch(size_t floats) {
    // One grow-only buffer for every op (kernels/cuda/scratch.h): only the first step allocates.
    return cuda_scratch(floats * sizeof(float));
}

int ldm_cuda_sm_count(void) {
    static int sms = 0;
    if (sms > 0) return sms;
    int dev = 0, n = 0;
    cudaError_t err = cudaGetDevice(&dev);
    if (err == cudaSuccess) err = cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
    if (err != cudaSuccess || n <= 0) {
        ldm_error("cuda", "SM count query failed at %s:%d: %s", __FILE__, __LINE__, cudaGetErrorString(err));
        return 0;
    }
    sms = n;
    return sms;
}

void ldm_splitk_plan(int mt, int nt, int ktiles, int *splits, int *kt_per_split) {
    int sms = ldm_cuda_sm_count();
    if (sms <= 0) sms = 132;
    const long tiles = (long)mt * nt > 0 ? (long)mt * nt : 1;
    long s = (2L * sms + tiles - 1) / tiles;
    long smax = ktiles / 32;
    if (s > smax) s = smax;
    if (s > 16) s = 16;
    if (s < 1) s = 1;
    int per = (int)((ktiles + s - 1) / s);
    if (per < 1) per = 1;
    *kt_per_split = per;
    *splits = (ktiles + per - 1) / per;  // no empty split
    if (*splits < 1) *splits = 1;
}

// ---------------------------------------------------------------------------------------
// Kernels

__global__ void colsum_pass1_kernel(const float *__restrict__ a, long rows, int cols, long chunk,
                                    float *__restrict__ dst, bool accumulate) {
    __shared__ float red[8][33];
    const int lx = threadIdx.x & 31, ly = threadIdx.x >> 5;
    const int c = blockIdx.x * 32 + lx;
    const long r0 = blockIdx.y * chunk, r1 = min(rows, r0 + chunk);
    float s = 0.0f;
    if (c < cols)
        for (long r = r0 + ly; r < r1; r += 8) s += __ldg(a + r * cols + c);
    red[ly][lx] = s;
    __syncthreads();
    if (ly == 0 && c < cols) {
        float t = red[0][lx];
#pragma unroll
        for (int i = 1; i < 8; i++) t += red[i][lx];
        if (accumulate)
            dst[c] += t;
        else
            dst[(long)blockIdx.y * cols + c] = t;
    }
}

__global__ void colsum_pass2_kernel(const float *__restrict__ part, int chunks, int cols, float *__restrict__ out) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float t = 0.0f;
    for (int z = 0; z < chunks; z++) t += part[(long)z * cols + c];
    out[c] += t;
}

__global__ void splitk_reduce_kernel(const float *__restrict__ part, int splits, long n, float *__restrict__ out) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        float t = 0.0f;
        for (int z = 0; z < splits; z++) t += part[(long)z * n + i];
        out[i] += t;
    }
}

// ---------------------------------------------------------------------------------------
// Launchers

int ldm_colsum_accumulate(const float *a, long rows, int cols, float *out) {
    if (rows <= 0 || cols <= 0) return 0;
    const int cblocks = (cols + 31) / 32;
    int sms = ldm_cuda_sm_count();
    if (sms <= 0) return -1;
    long chunks = (4L * sms + cblocks - 1) / cblocks;
    const long max_chunks = (rows + 255) / 256;  // at least 256 rows per chunk
    if (chunks > max_chunks) chunks = max_chunks;
    if (chunks > 1024) chunks = 1024;
    if (chunks < 1) chunks = 1;
    const long chunk = (rows + chunks - 1) / chunks;
    chunks = (rows + chunk - 1) / chunk;
    if (chunks == 1) {
        LDM_LAUNCH(colsum_pass1_kernel, dim3(cblocks, 1), 256)(a, rows, cols, chunk, out, true);
        CUDA_LAUNCH_CHECK("colsum_pass1");
        return 0;
    }
    float *part = ldm_cuda_scratch((size_t)chunks * cols);
    if (!part) return -1;
    LDM_LAUNCH(colsum_pass1_kernel, dim3(cblocks, (unsigned)chunks), 256)(a, rows, cols, chunk, part, false);
    CUDA_LAUNCH_CHECK("colsum_pass1");
    LDM_LAUNCH(colsum_pass2_kernel, (cols + 255) / 256, 256)(part, (int)chunks, cols, out);
    CUDA_LAUNCH_CHECK("colsum_pass2");
    return 0;
}

int ldm_splitk_reduce(const float *part, int splits, long n, float *out) {
    long g = (n + 255) / 256;
    if (g > 65535L * 8) g = 65535L * 8;
    LDM_LAUNCH(splitk_reduce_kernel, (int)(g < 1 ? 1 : g), 256)(part, splits, n, out);
    CUDA_LAUNCH_CHECK("splitk_reduce");
    return 0;
}
