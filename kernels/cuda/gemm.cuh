/* kernels/cuda/gemm.cuh — the fp32 tiled GEMM main loop shared by conv2d and linear.
 *
 *   C[m, n] (op)= sum_k A(m, k) * B(k, n),   m < M, n < N, k over `ktiles` tiles of GEMM_BK
 *
 * A and B are never materialised: each is a *loader*, a small struct that fetches the
 * thread's four elements of one k-tile from wherever they live (a row-major matrix, a
 * transposed one, an NHWC image through the implicit-GEMM index map of a convolution).
 * What happens to a finished C element is the *epilogue* (write + bias, accumulate,
 * or store a split-K partial). So one main loop serves every GEMM of the project.
 *
 * Decomposition (one launch):
 *   block  = 256 threads, owns a 128 x 128 tile of C; grid (ceil(M/128), ceil(N/128), splits)
 *            (M on x: up to 2^31 - 1 tiles; N / 128 must stay <= 65535).
 *            blockIdx.z is a split of the k-tiles (split-K): split z does k-tiles
 *            [z*kt_per_split, min(ktiles, (z+1)*kt_per_split)).
 *   thread = 8 x 8 outputs: rows {ty*4+i, 64+ty*4+i}, cols {tx*4+j, 64+tx*4+j}
 *            (tx = tid % 16, ty = tid / 16; the split in halves keeps the float4 shared
 *            reads of one warp conflict-free).
 *   k loop = tiles of GEMM_BK = 8, double-buffered in shared memory (2 x 2 x 8 x 132
 *            floats = 16.5 KB); the next tile is fetched into registers while the
 *            current one is multiplied; one __syncthreads per k-tile.
 *   Per k-tile a thread does 512 FMA against 16 LDS.128 (32 FMA per shared load).
 *   __launch_bounds__(256, 2): at most 128 registers, two blocks (16 warps) per SM;
 *   ptxas (CUDA 13, sm_90) reports no spills for the conv2d and linear instantiations.
 *
 * Loader contract (both A and B; "row" is m for A and n for B):
 *   static constexpr bool KCONTIG;     true: the thread fetches row tid/2, k = (tid%2)*4 + 0..3
 *                                      (memory contiguous along k);
 *                                      false: k = tid/32, rows (tid%32)*4 + 0..3
 *                                      (memory contiguous along rows).
 *   struct State;  __device__ State init(int row0) const;   per-thread, once per block
 *   __device__ void load(const State &, int kt, float v[4]) const;   zeros out of range
 * Epilogue contract:
 *   __device__ long row(int m) const;                      once per output row
 *   __device__ void store(long r, int n, float acc) const; r from row(m), n < N
 * The main loop does the M/N bounds checks; loaders do their own k and row checks.
 *
 * Split-K and column sums need scratch: ldm_cuda_scratch() hands out one cached device
 * buffer that only grows (cudaDeviceSynchronize + cudaFree + cudaMalloc on growth, so
 * only the first step of a run allocates; later steps reuse it). One user at a time:
 * callers use it between launches on the default stream and never hold it across ops.
 */
#ifndef LDM_KERNELS_CUDA_GEMM_CUH
#define LDM_KERNELS_CUDA_GEMM_CUH

#include <stdint.h>

extern "C" {
#include "core/cuda_check.h"
}

#define GEMM_BM 128
#define GEMM_BN 128
#define GEMM_BK 8
#define GEMM_THREADS 256
#define GEMM_PAD 4

// ---------------------------------------------------------------------------------------
// Host helpers (kernels/cuda/gemm.cu)

/* A device buffer of at least `floats` floats, cached and grown on demand; NULL + error. */
float *ldm_cuda_scratch(size_t floats);
/* Number of SMs of the current device (cached); 0 + error on failure. */
int ldm_cuda_sm_count(void);
/* out[c] += sum_r a[r*cols + c] for c < cols, rows summed in a fixed order (deterministic,
 * no atomics). May use the scratch buffer. */
int ldm_colsum_accumulate(const float *a, long rows, int cols, float *out);
/* out[i] += sum_{z < splits} part[z*n + i] in order z = 0, 1, ... (split-K second pass). */
int ldm_splitk_reduce(const float *part, int splits, long n, float *out);
/* Split-K plan for a GEMM of mt x nt tiles and `ktiles` k-tiles: enough blocks to fill the
 * device about twice, at least 32 k-tiles (256 products) per split, at most 16 splits. */
void ldm_splitk_plan(int mt, int nt, int ktiles, int *splits, int *kt_per_split);

static inline bool gemm_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

// ---------------------------------------------------------------------------------------
// The main loop

template <class LA, class LB, class EPI>
__global__ void __launch_bounds__(GEMM_THREADS, 2)
    gemm_tile_kernel(int M, int N, int ktiles, int kt_per_split, LA la, LB lb, EPI epi) {
    __shared__ __align__(16) float As[2][GEMM_BK][GEMM_BM + GEMM_PAD];
    __shared__ __align__(16) float Bs[2][GEMM_BK][GEMM_BN + GEMM_PAD];
    const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    const int m0 = blockIdx.x * GEMM_BM, n0 = blockIdx.y * GEMM_BN;
    const int kt0 = blockIdx.z * kt_per_split;
    const int kt1 = min(ktiles, kt0 + kt_per_split);

    const typename LA::State sa = la.init(m0);
    const typename LB::State sb = lb.init(n0);
    float ra[4], rb[4];
    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] = 0.0f;

    auto stash = [&](int buf) {
        if (LA::KCONTIG) {
#pragma unroll
            for (int j = 0; j < 4; j++) As[buf][(tid & 1) * 4 + j][tid >> 1] = ra[j];
        } else {
            *reinterpret_cast<float4 *>(&As[buf][tid >> 5][(tid & 31) * 4]) = make_float4(ra[0], ra[1], ra[2], ra[3]);
        }
        if (LB::KCONTIG) {
#pragma unroll
            for (int j = 0; j < 4; j++) Bs[buf][(tid & 1) * 4 + j][tid >> 1] = rb[j];
        } else {
            *reinterpret_cast<float4 *>(&Bs[buf][tid >> 5][(tid & 31) * 4]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
        }
    };

    if (kt0 < kt1) {
        la.load(sa, kt0, ra);
        lb.load(sb, kt0, rb);
        stash(0);
    }
    __syncthreads();
    for (int kt = kt0; kt < kt1; kt++) {
        const int buf = (kt - kt0) & 1;
        const bool more = kt + 1 < kt1;
        if (more) {
            la.load(sa, kt + 1, ra);
            lb.load(sb, kt + 1, rb);
        }
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; kk++) {
            const float4 a0 = *reinterpret_cast<const float4 *>(&As[buf][kk][ty * 4]);
            const float4 a1 = *reinterpret_cast<const float4 *>(&As[buf][kk][64 + ty * 4]);
            const float4 b0 = *reinterpret_cast<const float4 *>(&Bs[buf][kk][tx * 4]);
            const float4 b1 = *reinterpret_cast<const float4 *>(&Bs[buf][kk][64 + tx * 4]);
            const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
        }
        if (more) stash(buf ^ 1);
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < 8; i++) {
        const int m = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + i - 4);
        if (m >= M) continue;
        const long r = epi.row(m);
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int n = n0 + (j < 4 ? tx * 4 + j : 64 + tx * 4 + j - 4);
            if (n < N) epi.store(r, n, acc[i][j]);
        }
    }
}

/* Launch one GEMM of M x N over `ktiles` k-tiles split `splits` ways. */
template <class LA, class LB, class EPI>
static int gemm_launch(const char *name, int M, int N, int ktiles, int splits, int kt_per_split, const LA &la,
                       const LB &lb, const EPI &epi) {
    dim3 grid((M + GEMM_BM - 1) / GEMM_BM, (N + GEMM_BN - 1) / GEMM_BN, splits);
    constexpr auto kernel = gemm_tile_kernel<LA, LB, EPI>;
    LDM_LAUNCH(kernel, grid, GEMM_THREADS)(M, N, ktiles, kt_per_split, la, lb, epi);
    CUDA_LAUNCH_CHECK(name);
    return 0;
}

// ---------------------------------------------------------------------------------------
// Plain matrix loaders and the row-major epilogue

/* Element (i, k) = p[i*ld + k], i < rows, k < kdim: contiguous along k. vec: ld % 4 == 0
 * and p 16-byte aligned, so a thread's four k are one float4. */
struct MatK {
    static constexpr bool KCONTIG = true;
    const float *p;
    long ld;
    int rows, kdim;
    bool vec;
    struct State {
        const float *row;
        bool ok;
    };
    __device__ State init(int row0) const {
        const int i = row0 + (threadIdx.x >> 1);
        State s;
        s.ok = i < rows;
        s.row = p + (long)(s.ok ? i : 0) * ld + (threadIdx.x & 1) * 4;
        return s;
    }
    __device__ void load(const State &s, int kt, float v[4]) const {
        const int k = kt * GEMM_BK + (threadIdx.x & 1) * 4;
        const float *src = s.row + kt * GEMM_BK;
        if (vec && s.ok && k + 3 < kdim) {
            const float4 t = __ldg(reinterpret_cast<const float4 *>(src));
            v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = (s.ok && k + j < kdim) ? __ldg(src + j) : 0.0f;
        }
    }
};

/* Element (i, k) = p[k*ld + i], i < rows, k < kdim: contiguous along i (a transposed
 * operand). vec: ld % 4 == 0 and p 16-byte aligned. */
struct MatMN {
    static constexpr bool KCONTIG = false;
    const float *p;
    long ld;
    int rows, kdim;
    bool vec;
    struct State {
        int i;
    };
    __device__ State init(int row0) const {
        State s;
        s.i = row0 + (threadIdx.x & 31) * 4;
        return s;
    }
    __device__ void load(const State &s, int kt, float v[4]) const {
        const int k = kt * GEMM_BK + (threadIdx.x >> 5);
        if (k >= kdim) {
            v[0] = v[1] = v[2] = v[3] = 0.0f;
            return;
        }
        const float *src = p + (long)k * ld + s.i;
        if (vec && s.i + 3 < rows) {
            const float4 t = __ldg(reinterpret_cast<const float4 *>(src));
            v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = s.i + j < rows ? __ldg(src + j) : 0.0f;
        }
    }
};

/* Row-major C (ldc columns). Exactly one mode:
 *   part != NULL: part[blockIdx.z * part_stride + m*ldc + n] = acc   (split-K partial)
 *   accumulate:   out[m*ldc + n] += acc
 *   otherwise:    out[m*ldc + n]  = acc + (bias ? bias[n] : 0) */
struct EpiRowMajor {
    float *out;
    const float *bias;
    float *part;
    long part_stride;
    int ldc;
    bool accumulate;
    const float *res; /* added after the bias (conv2d's residual), same layout as out; or NULL */
    __device__ long row(int m) const { return (long)m * ldc; }
    __device__ void store(long r, int n, float acc) const {
        if (part)
            part[blockIdx.z * part_stride + r + n] = acc;
        else if (accumulate)
            out[r + n] += acc;
        else
            out[r + n] = acc + (bias ? __ldg(bias + n) : 0.0f) + (res ? __ldg(res + r + n) : 0.0f);
    }
};

/* out (M x N, row-major) += A B, split-K through the scratch buffer when the tile grid
 * alone would leave the device idle (fixed-order second pass: deterministic). */
template <class LA, class LB>
static int gemm_accumulate_splitk(const char *name, int M, int N, int ktiles, const LA &la, const LB &lb,
                                  float *out) {
    if (M <= 0 || N <= 0) return 0; /* empty output: a no-op */
    int splits, per;
    ldm_splitk_plan((M + GEMM_BM - 1) / GEMM_BM, (N + GEMM_BN - 1) / GEMM_BN, ktiles, &splits, &per);
    EpiRowMajor epi = {out, nullptr, nullptr, 0, N, true, nullptr};
    if (splits == 1) return gemm_launch(name, M, N, ktiles, 1, per, la, lb, epi);
    const long mn = (long)M * N;
    float *part = ldm_cuda_scratch((size_t)splits * mn);
    if (!part) return -1;
    epi.part = part;
    epi.part_stride = mn;
    if (gemm_launch(name, M, N, ktiles, splits, per, la, lb, epi)) return -1;
    return ldm_splitk_reduce(part, splits, mn, out);
}

#endif
