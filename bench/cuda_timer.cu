/* bench/cuda_timer.cu — the CUDA half of bench/timer.h: event timing, the copy ceiling
 * and the FMA ceiling.
 *
 * fma_chains: each thread of a grid of (4 x SMs x 8) blocks of 256 threads runs `iters`
 * rounds of 8 independent FMA chains (a = a * b + c), so the FMA pipes, not latency, set
 * the pace; the sum goes to out[thread] so nothing is optimised away. FLOP = 2 per FMA.
 * The copy: cudaMemcpyAsync device-to-device of up to 1 GiB (halved until it fits);
 * bytes = 2 x size (read + written). */
#include <algorithm>
#include <vector>

extern "C" {
#include "bench/timer.h"
#include "core/cuda_check.h"
}

// ----------------------------------------------------------------------------
// event timing

extern "C" int bench_cuda_time(BenchFn fn, void *ctx, const TimerOpts *o, double *ms) {
    int rep = 0;
    for (; rep < o->warmup; rep++)
        if (fn(ctx, rep)) return -1;
    if (cudaDeviceSynchronize() != cudaSuccess) return ldm_error("bench", "warm-up: %s", cudaGetErrorString(cudaGetLastError()));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    int n = 0;
    double spent = 0;
    while (n < o->max_reps && (n < o->min_reps || spent < o->budget_s * 1e3)) {
        cudaEventRecord(e0, 0);
        int bad = fn(ctx, rep++);
        cudaEventRecord(e1, 0);
        if (bad || cudaEventSynchronize(e1) != cudaSuccess) {
            cudaEventDestroy(e0);
            cudaEventDestroy(e1);
            return bad ? -1 : ldm_error("bench", "timed call: %s", cudaGetErrorString(cudaGetLastError()));
        }
        float t = 0;
        cudaEventElapsedTime(&t, e0, e1);
        ms[n++] = t;
        spent += t;
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return n;
}

// ----------------------------------------------------------------------------
// ceilings

extern "C" long long bench_cuda_l2_bytes(void) {
    int dev = 0, l2 = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, dev);
    return l2;
}

extern "C" double bench_cuda_copy_bw(void) {
    size_t bytes = (size_t)1 << 30;
    void *src = NULL, *dst = NULL;
    while (bytes >= ((size_t)1 << 26)) {
        if (cudaMalloc(&src, bytes) == cudaSuccess && cudaMalloc(&dst, bytes) == cudaSuccess) break;
        cudaGetLastError();
        if (src) cudaFree(src);
        src = dst = NULL;
        bytes >>= 1;
    }
    if (!src) return ldm_error("bench", "no room for the copy ceiling"), -1;
    cudaMemset(src, 1, bytes);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    std::vector<float> t;
    for (int i = 0; i < 12; i++) {
        cudaEventRecord(e0, 0);
        cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        if (i >= 2) t.push_back(ms);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(src);
    cudaFree(dst);
    if (cudaGetLastError() != cudaSuccess) return ldm_error("bench", "copy ceiling failed"), -1;
    std::sort(t.begin(), t.end());
    return 2.0 * (double)bytes / (t[t.size() / 2] * 1e-3);
}

__global__ void fma_chains(float *out, int iters, float b, float c) {
    float a[8];
    for (int j = 0; j < 8; j++) a[j] = threadIdx.x * 1e-3f + j;
    for (int i = 0; i < iters; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) a[j] = fmaf(a[j], b, c);
    float s = 0;
    for (int j = 0; j < 8; j++) s += a[j];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

extern "C" double bench_cuda_fma_flops(void) {
    int dev = 0, sms = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
    const int blocks = sms * 32, threads = 256, iters = 4096;
    float *out = NULL;
    if (cudaMalloc(&out, (size_t)blocks * threads * sizeof(float)) != cudaSuccess)
        return ldm_error("bench", "no room for the FMA ceiling"), -1;
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    std::vector<float> t;
    for (int i = 0; i < 7; i++) {
        cudaEventRecord(e0, 0);
        LDM_LAUNCH(fma_chains, blocks, threads)(out, iters, 0.9999f, 1e-4f);
        cudaEventRecord(e1, 0);
        cudaEventSynchronize(e1);
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        if (i >= 2) t.push_back(ms);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    cudaFree(out);
    if (cudaGetLastError() != cudaSuccess) return ldm_error("bench", "FMA ceiling kernel failed"), -1;
    std::sort(t.begin(), t.end());
    return 2.0 * 8.0 * iters * (double)blocks * threads / (t[t.size() / 2] * 1e-3);
}
