/* kernels/cuda/common.cuh — device helpers shared by the hand-written CUDA kernels:
 * vector loads (fp32, and bf16 widened to fp32), deterministic warp/block sums, a generic elementwise launcher, a
 * fixed-tree reduction to a scalar, and the fixed-order column finaliser that turns
 * per-row-block partials of a parameter gradient into dgamma/dbeta.
 *
 * Determinism: every sum here has an order fixed by the shapes alone (never by the
 * number of SMs, the scheduling, or atomics). A butterfly warp sum leaves the same bits
 * in every lane because IEEE addition is commutative.
 *
 * Include only from .cu files, after core/cuda_check.h. Everything is in an anonymous
 * namespace: each translation unit gets its own copy (and its own scratch symbols).
 *
 * Macros every .cu file may use (the first two from core/cuda_check.h; they let the same
 * source compile under nvcc and under the CPU emulator of core/emu, `make CUDA=emu`):
 *   LDM_LAUNCH(kernel, grid, block[, smem[, stream]])(args...)
 *       the launch kernel<<<grid, block, smem, stream>>>(args...); a grid with a zero
 *       dimension launches nothing (an op on an empty tensor is a no-op). `kernel` names
 *       one function: ew_kernel<Op>, or a constexpr pointer when the template arguments
 *       contain commas (gemm.cuh, attention.cu).
 *   LDM_DYNAMIC_SHARED(type, name);  extern __shared__ type name[]; (inside a kernel)
 *   CUDA_TRY(call), CUDA_LAUNCH_CHECK(name)   error checks naming the call, file and line
 *   EW_THREADS, RED_THREADS, RED_MAX_BLOCKS   block sizes of the launchers below */
#ifndef LDM_KERNELS_CUDA_COMMON_CUH
#define LDM_KERNELS_CUDA_COMMON_CUH

#include <stdint.h>

extern "C" {
#include "core/bf16.h"
}

namespace {

// ---------------------------------------------------------------------------------
// vector access: V = 4 uses one 16-byte access (caller guarantees alignment), V = 1 a float

template <int V>
__device__ __forceinline__ void ldv(const float *p, float *v) {
    if constexpr (V == 4) {
        float4 t = *reinterpret_cast<const float4 *>(p);
        v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
    } else {
        v[0] = *p;
    }
}

template <int V>
__device__ __forceinline__ void stv(float *p, const float *v) {
    if constexpr (V == 4) {
        *reinterpret_cast<float4 *>(p) = make_float4(v[0], v[1], v[2], v[3]);
    } else {
        *p = v[0];
    }
}

/* bf16 (core/bf16.h) widened on load and rounded to nearest even on store: V = 4 is one
 * 8-byte access (aligned when the tensor is 16-byte aligned and i is a multiple of 4). */
template <int V>
__device__ __forceinline__ void ldv(const bf16_t *p, float *v) {
    if constexpr (V == 4) {
        const int2 t = *reinterpret_cast<const int2 *>(p);
        const uint32_t lo = (uint32_t)t.x, hi = (uint32_t)t.y; /* little-endian: element 0 in the low half */
        v[0] = ldm_bits_f32(lo << 16), v[1] = ldm_bits_f32(lo & 0xffff0000u);
        v[2] = ldm_bits_f32(hi << 16), v[3] = ldm_bits_f32(hi & 0xffff0000u);
    } else {
        v[0] = ldm_bf16_to_f32(*p);
    }
}

template <int V>
__device__ __forceinline__ void stv(bf16_t *p, const float *v) {
    if constexpr (V == 4) {
        const uint32_t lo = (uint32_t)ldm_f32_to_bf16(v[0]) | (uint32_t)ldm_f32_to_bf16(v[1]) << 16;
        const uint32_t hi = (uint32_t)ldm_f32_to_bf16(v[2]) | (uint32_t)ldm_f32_to_bf16(v[3]) << 16;
        *reinterpret_cast<int2 *>(p) = make_int2((int)lo, (int)hi);
    } else {
        *p = ldm_f32_to_bf16(v[0]);
    }
}

/* One element as fp32, for kernels templated on the storage type T (float or bf16_t). */
__device__ __forceinline__ float ld1(const float *p) { return *p; }
__device__ __forceinline__ float ld1(const bf16_t *p) { return ldm_bf16_to_f32(*p); }
__device__ __forceinline__ void st1(float *p, float v) { *p = v; }
__device__ __forceinline__ void st1(bf16_t *p, float v) { *p = ldm_f32_to_bf16(v); }

inline bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

// ---------------------------------------------------------------------------------
// deterministic sums (blockDim.x must be a multiple of 32)

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Sum of v over the block, returned to every thread. buf: 32 elements of shared memory.
 * Warp sums by butterfly, then every thread adds the warp sums in warp order. Contains
 * __syncthreads(): call from all threads of the block. */
template <typename T>
__device__ T block_sum(T v, T *buf) {
    v = warp_sum(v);
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    __syncthreads(); /* buf may still be read by a previous call */
    if (lane == 0) buf[w] = v;
    __syncthreads();
    T s = 0;
    for (int i = 0; i < nw; i++) s += buf[i];
    return s;
}

// ---------------------------------------------------------------------------------
// elementwise launcher: op.run<V>(i) handles elements [i, i+V). The first n4*4 elements
// go four at a time (n4 = 0 when a pointer is not 16-byte aligned), the rest one by one.

#define EW_THREADS 256

template <class Op>
__global__ void __launch_bounds__(EW_THREADS) ew_kernel(Op op, long n, long n4) {
    const long tid = blockIdx.x * (long)EW_THREADS + threadIdx.x, stride = (long)gridDim.x * EW_THREADS;
    for (long i = tid; i < n4; i += stride) op.template run<4>(i * 4);
    for (long i = n4 * 4 + tid; i < n; i += stride) op.template run<1>(i);
}

inline int ew_grid(long work) {
    long g = (work + EW_THREADS - 1) / EW_THREADS;
    if (g > 8192) g = 8192;
    return (int)(g < 1 ? 1 : g);
}

/* Launches op over n elements; vec4 says whether every pointer is 16-byte aligned and
 * the op's broadcast structure allows groups of four. */
template <class Op>
int ew_launch(const char *name, Op op, long n, bool vec4) {
    long n4 = vec4 ? n / 4 : 0;
    long work = n4 + (n - 4 * n4);
    LDM_LAUNCH(ew_kernel<Op>, ew_grid(work), EW_THREADS)(op, n, n4);
    CUDA_LAUNCH_CHECK(name);
    return 0;
}

// ---------------------------------------------------------------------------------
// reduction of a per-element term to one scalar, in double, by a fixed tree:
// pass 1: red_blocks(n) blocks (a function of n only) write one partial each;
// pass 2: one block sums the partials in a fixed order.

#define RED_THREADS 256
#define RED_MAX_BLOCKS 1024

__device__ double red_partials[RED_MAX_BLOCKS];
__device__ double red_result;

inline int red_blocks(long n) {
    long b = (n + RED_THREADS * 16 - 1) / (RED_THREADS * 16);
    if (b > RED_MAX_BLOCKS) b = RED_MAX_BLOCKS;
    return (int)(b < 1 ? 1 : b);
}

template <class Term>
__global__ void __launch_bounds__(RED_THREADS) red_partial_kernel(Term term, long n) {
    __shared__ double buf[32];
    const long stride = (long)gridDim.x * RED_THREADS;
    double s = 0.0;
    long i = blockIdx.x * (long)RED_THREADS + threadIdx.x;
    for (; i + 3 * stride < n; i += 4 * stride) { /* four independent loads in flight */
        double t0 = term(i), t1 = term(i + stride), t2 = term(i + 2 * stride), t3 = term(i + 3 * stride);
        s += t0; s += t1; s += t2; s += t3;
    }
    for (; i < n; i += stride) s += term(i);
    s = block_sum(s, buf);
    if (threadIdx.x == 0) red_partials[blockIdx.x] = s;
}

/* red_result = k * sum(partials); y[0] = (float)red_result when y is given. */
__global__ void __launch_bounds__(1024) red_final_kernel(int nb, double k, float *y) {
    __shared__ double buf[32];
    double s = 0.0;
    for (int i = threadIdx.x; i < nb; i += blockDim.x) s += red_partials[i];
    s = block_sum(s, buf);
    if (threadIdx.x == 0) {
        red_result = s * k;
        if (y) y[0] = (float)(s * k);
    }
}

template <class Term>
int red_launch(const char *name, Term term, long n, double k, float *y) {
    int nb = red_blocks(n);
    LDM_LAUNCH(red_partial_kernel<Term>, nb, RED_THREADS)(term, n);
    CUDA_LAUNCH_CHECK(name);
    LDM_LAUNCH(red_final_kernel, 1, 1024)(nb, k, y);
    CUDA_LAUNCH_CHECK(name);
    return 0;
}

/* The double result of the last red_launch, copied to the host (synchronises). */
inline int red_fetch(double *out) {
    CUDA_TRY(cudaMemcpyFromSymbol(out, red_result, sizeof(double)));
    return 0;
}

// ---------------------------------------------------------------------------------
// parameter-gradient finaliser: pg, pb are (rows, C) partial sums (row = a sample or a
// block of rows); thread c adds rows 0, 1, ... in order and accumulates into dgamma[c],
// dbeta[c] (either may be NULL).

__global__ void __launch_bounds__(256) param_grad_finalize_kernel(const float *__restrict__ pg,
                                                                  const float *__restrict__ pb, int rows, int C,
                                                                  float *__restrict__ dgamma,
                                                                  float *__restrict__ dbeta) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float sg = 0.f, sb = 0.f;
    for (int r = 0; r < rows; r++) {
        sg += pg[(long)r * C + c];
        sb += pb[(long)r * C + c];
    }
    if (dgamma) dgamma[c] += sg;
    if (dbeta) dbeta[c] += sb;
}

inline int param_grad_finalize(const char *name, const float *pg, const float *pb, int rows, int C, float *dgamma,
                               float *dbeta) {
    LDM_LAUNCH(param_grad_finalize_kernel, (C + 255) / 256, 256)(pg, pb, rows, C, dgamma, dbeta);
    CUDA_LAUNCH_CHECK(name);
    return 0;
}

// ---------------------------------------------------------------------------------
// launch set-up (host)

/* Lets kernel fn use `bytes` of dynamic shared memory: above the default 48 KB a kernel must
 * opt in, up to the device's per-block limit (an error naming op beyond it). Needs CUDA_TRY
 * (core/cuda_check.h) included first. */
inline int cuda_smem_allow(const char *op, const void *fn, size_t bytes) {
    if (bytes <= 48 * 1024) return 0;
    int dev = 0, optin = 0;
    CUDA_TRY(cudaGetDevice(&dev));
    CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    if (bytes > (size_t)optin)
        return ldm_error(op, "needs %zu bytes of shared memory per block, device allows %d", bytes, optin);
    CUDA_TRY(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return 0;
}

} // namespace

#endif
