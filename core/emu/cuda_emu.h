/* core/emu/cuda_emu.h — the CUDA execution model for the host C++ compiler.
 *
 * `make CUDA=emu` compiles every .cu file a second time with g++ (-x c++), force-including
 * this header, and links core/emu/cuda_emu.cpp in place of the CUDA runtime. The kernel
 * sources are the same files nvcc compiles; the two spellings that differ between the
 * compilers are macros of core/cuda_check.h (LDM_LAUNCH, LDM_DYNAMIC_SHARED).
 *
 * The model:
 *   - a launch runs synchronously: the blocks one after the other (in a seeded order), each
 *     block's threads as fibers (ucontext) on the calling thread, in a seeded order that
 *     changes at every barrier. A thread runs until it reaches __syncthreads, a warp
 *     intrinsic (__shfl_*_sync, __ballot_sync, ...) or its end.
 *   - threadIdx, blockIdx, blockDim, gridDim are the current fiber's; warps are 32
 *     consecutive linear thread ids.
 *   - __shared__ variables are `static thread_local`: one instance per host thread, and
 *     blocks never run concurrently on one host thread, so each block sees its own.
 *     Dynamic shared memory (LDM_DYNAMIC_SHARED) is one 227 KB buffer.
 *   - __device__ variables are ordinary globals; cudaMemcpy{To,From}Symbol copy them.
 *
 * The checks (LDM_EMU_CHECK=0 turns the per-access ones off, for speed):
 *   - every load and store of kernel code (the .cu files are built with
 *     -fsanitize=thread, whose hooks __tsan_read4 etc. the emulator defines itself):
 *     global accesses must fall inside a live cudaMalloc allocation (or a __device__
 *     variable) and be naturally aligned; shared accesses must stay inside the block's
 *     shared memory; two threads touching the same shared word between two barriers, one
 *     of them writing, is a race; reading a shared word this block never wrote is an error.
 *   - typed accesses through a misaligned pointer (a float4 at an address not a multiple of
 *     16: -fsanitize=alignment, handler defined here too).
 *   - __syncthreads reached by only some threads (others exited or wait elsewhere), or at
 *     different places; a shuffle whose mask names an exited lane or a lane not calling it,
 *     or a lane not in its own mask; deadlock.
 *   - launch limits of an H100 (sm_90): 1..1024 threads a block (x, y <= 1024, z <= 64),
 *     grid x < 2^31, y, z <= 65535, no zero dimension; dynamic shared memory <= 48 KB
 *     without cudaFuncSetAttribute(MaxDynamicSharedMemorySize), <= 227 KB with it.
 *   A fault prints "ldm-emu: kernel NAME block (x,y,z) thread (x,y,z): what, where" to
 *   stderr, stops the launch, and the next cudaGetLastError / cudaDeviceSynchronize returns
 *   the error (once: faults are not sticky unless LDM_EMU_STICKY=1; LDM_EMU_ABORT=1 aborts
 *   at the fault instead, for gdb).
 *
 * Not modelled: concurrency between blocks (no inter-block races are found), the memory
 * consistency of weak orderings, __launch_bounds__ (parsed and ignored), static shared
 * memory size limits (nvcc's ptxas enforces them), timing. */
#ifndef LDM_CORE_EMU_CUDA_EMU_H
#define LDM_CORE_EMU_CUDA_EMU_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

#include "core/emu/cuda_runtime_api.h"

// ---------------------------------------------------------------------------------
// qualifiers

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static thread_local
static constexpr int warpSize = 32;

// ---------------------------------------------------------------------------------
// vector types (with the device's alignment: a misaligned float4 is a fault)

struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) double2 { double x, y; };
struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
inline int2 make_int2(int x, int y) { return int2{x, y}; }

// ---------------------------------------------------------------------------------
// the current thread (out of line: reading the emulator's state must not go through the
// access checks)

namespace ldm_emu {
uint3 thread_idx();
uint3 block_idx();
uint3 block_dim();
uint3 grid_dim();
void *dyn_smem();
void syncthreads(const char *file, int line);
void syncwarp(unsigned mask, const char *file, int line);
unsigned long long warp_op(int kind, unsigned mask, unsigned long long bits, int src, int width,
                           const char *file, int line);
unsigned active_mask();
inline void syncwarp_at(const char *file, int line, unsigned mask = 0xffffffffu) { syncwarp(mask, file, line); }
enum { SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_XOR, VOTE_BALLOT, VOTE_ANY, VOTE_ALL };

template <class T>
inline T shfl(const char *file, int line, int kind, unsigned mask, T v, int src, int width = 32) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle of a type wider than 8 bytes");
    unsigned long long b = 0;
    memcpy(&b, &v, sizeof(T));
    b = warp_op(kind, mask, b, src, width, file, line);
    T r;
    memcpy(&r, &b, sizeof(T));
    return r;
}
} // namespace ldm_emu

#define threadIdx (::ldm_emu::thread_idx())
#define blockIdx (::ldm_emu::block_idx())
#define blockDim (::ldm_emu::block_dim())
#define gridDim (::ldm_emu::grid_dim())

#define __syncthreads() ::ldm_emu::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::ldm_emu::syncwarp_at(__FILE__, __LINE__, ##__VA_ARGS__)
#define __shfl_sync(...) ::ldm_emu::shfl(__FILE__, __LINE__, ::ldm_emu::SHFL_IDX, __VA_ARGS__)
#define __shfl_up_sync(...) ::ldm_emu::shfl(__FILE__, __LINE__, ::ldm_emu::SHFL_UP, __VA_ARGS__)
#define __shfl_down_sync(...) ::ldm_emu::shfl(__FILE__, __LINE__, ::ldm_emu::SHFL_DOWN, __VA_ARGS__)
#define __shfl_xor_sync(...) ::ldm_emu::shfl(__FILE__, __LINE__, ::ldm_emu::SHFL_XOR, __VA_ARGS__)
#define __ballot_sync(mask, pred) \
    ((unsigned)::ldm_emu::warp_op(::ldm_emu::VOTE_BALLOT, (mask), !!(pred), 0, 32, __FILE__, __LINE__))
#define __any_sync(mask, pred) ((int)::ldm_emu::warp_op(::ldm_emu::VOTE_ANY, (mask), !!(pred), 0, 32, __FILE__, __LINE__))
#define __all_sync(mask, pred) ((int)::ldm_emu::warp_op(::ldm_emu::VOTE_ALL, (mask), !!(pred), 0, 32, __FILE__, __LINE__))
#define __activemask() (::ldm_emu::active_mask())

// ---------------------------------------------------------------------------------
// device functions of the math library and intrinsics

template <class T>
inline T __ldg(const T *p) { return *p; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }

#define LDM_EMU_MINMAX(T)                                     \
    inline T min(T a, T b) { return b < a ? b : a; }          \
    inline T max(T a, T b) { return a < b ? b : a; }
LDM_EMU_MINMAX(int)
LDM_EMU_MINMAX(unsigned)
LDM_EMU_MINMAX(long)
LDM_EMU_MINMAX(unsigned long)
LDM_EMU_MINMAX(long long)
LDM_EMU_MINMAX(unsigned long long)
LDM_EMU_MINMAX(float)
LDM_EMU_MINMAX(double)
#undef LDM_EMU_MINMAX
inline long min(int a, long b) { return min((long)a, b); }
inline long min(long a, int b) { return min(a, (long)b); }
inline long max(int a, long b) { return max((long)a, b); }
inline long max(long a, int b) { return max(a, (long)b); }

/* Atomics: out of line, checked like any access but never a race. */
int atomicAdd(int *p, int v);
unsigned atomicAdd(unsigned *p, unsigned v);
unsigned long long atomicAdd(unsigned long long *p, unsigned long long v);
float atomicAdd(float *p, float v);
double atomicAdd(double *p, double v);
int atomicSub(int *p, int v);
unsigned atomicSub(unsigned *p, unsigned v);
int atomicMin(int *p, int v);
unsigned atomicMin(unsigned *p, unsigned v);
int atomicMax(int *p, int v);
unsigned atomicMax(unsigned *p, unsigned v);
int atomicExch(int *p, int v);
unsigned atomicExch(unsigned *p, unsigned v);
float atomicExch(float *p, float v);
int atomicCAS(int *p, int cmp, int v);
unsigned atomicCAS(unsigned *p, unsigned cmp, unsigned v);
unsigned long long atomicCAS(unsigned long long *p, unsigned long long cmp, unsigned long long v);
int atomicAnd(int *p, int v);
int atomicOr(int *p, int v);
int atomicXor(int *p, int v);
unsigned atomicAnd(unsigned *p, unsigned v);
unsigned atomicOr(unsigned *p, unsigned v);
unsigned atomicXor(unsigned *p, unsigned v);

// ---------------------------------------------------------------------------------
// runtime API parts that are C++ (templates, overloads)

template <class T>
inline cudaError_t cudaMemcpyToSymbol(const T &symbol, const void *src, size_t count, size_t offset = 0,
                                      cudaMemcpyKind = cudaMemcpyHostToDevice) {
    return ldm_emu_memcpy_symbol((void *)&symbol, src, count, sizeof(T), offset, 1);
}
template <class T>
inline cudaError_t cudaMemcpyFromSymbol(void *dst, const T &symbol, size_t count, size_t offset = 0,
                                        cudaMemcpyKind = cudaMemcpyDeviceToHost) {
    return ldm_emu_memcpy_symbol(dst, (const void *)&symbol, count, sizeof(T), offset, 0);
}
template <class T>
inline cudaError_t cudaMalloc(T **ptr, size_t bytes) {
    return cudaMalloc((void **)ptr, bytes);
}
inline cudaError_t cudaFuncSetAttribute(const void *fn, cudaFuncAttribute attr, int value) {
    return ldm_emu_func_set_attribute(fn, attr, value);
}
template <class T>
inline cudaError_t cudaFuncSetAttribute(T *fn, cudaFuncAttribute attr, int value) {
    return ldm_emu_func_set_attribute((const void *)fn, attr, value);
}

// ---------------------------------------------------------------------------------
// launches: LDM_LAUNCH(kernel, grid, block[, smem[, stream]])(args...)

namespace ldm_emu {
/* Runs body(params) as every thread of every block; returns 0 or the launch error. */
int launch(const void *fn, const char *pretty, const char *expr, const char *file, int line, dim3 grid, dim3 block,
           size_t smem, void (*body)(void *), void *params, size_t params_bytes);

template <auto F>
const char *kernel_pretty() { return __PRETTY_FUNCTION__; }

template <class Fn>
struct KernelArgs;
template <class... P>
struct KernelArgs<void (*)(P...)> {
    using Tuple = std::tuple<std::decay_t<P>...>;
};

template <auto F>
struct Launch {
    const char *expr, *file;
    int line;
    dim3 grid, block;
    size_t smem;
    Launch(const char *e, const char *f, int l, dim3 g, dim3 b, size_t sm = 0, cudaStream_t = 0)
        : expr(e), file(f), line(l), grid(g), block(b), smem(sm) {}
    template <class... A>
    void operator()(A &&...a) const {
        if (grid.x == 0 || grid.y == 0 || grid.z == 0) return; /* empty: a no-op (core/cuda_check.h) */
        using Tuple = typename KernelArgs<decltype(F)>::Tuple;
        Tuple args(std::forward<A>(a)...); /* converted to the parameter types, as nvcc does */
        launch((const void *)F, kernel_pretty<F>(), expr, file, line, grid, block, smem,
               [](void *p) { std::apply(F, *static_cast<Tuple *>(p)); }, &args, sizeof args);
    }
};
} // namespace ldm_emu

#define LDM_LAUNCH(kernel, ...) ::ldm_emu::Launch<kernel>(#kernel, __FILE__, __LINE__, __VA_ARGS__)
#define LDM_DYNAMIC_SHARED(type, name) type *const name = static_cast<type *>(::ldm_emu::dyn_smem())

#endif
