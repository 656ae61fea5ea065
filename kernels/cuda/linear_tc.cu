/* kernels/cuda/linear_tc.cu — linear forward, version 3: bf16 tensor cores (mma.sync).
 *   x (M, K) fp32, w (N, K) fp32, b (N) or NULL, y (M, N) fp32:  y = bf16(x) bf16(w)^T + b
 *   with M = rows of x, N = OUT, K = IN; products exact, sums in fp32 (tensor-core accumulate).
 * FLOP 2*M*N*K. Bytes: the cast pass reads 4(M + N)K and writes 2(M + N)Kp; the main loop
 * reads 2(M + N)Kp at least (more with re-reads across blocks) and writes 4MN.
 *
 * Two passes:
 *   1. cast: x and w to bf16 (round to nearest even, core/bf16.h) into the kernel scratch,
 *      rows padded with zeros to Kp = K rounded up to 8, so every row starts 16-byte aligned
 *      and the main loop's 16-byte copies never straddle the end of a row. (When activations
 *      are stored bf16 this pass goes away for x.)
 *   2. main loop: a block owns a 64x64 tile of y and runs 4 warps in 2x2, each warp 32x32 =
 *      2 (m16) x 4 (n8) mma tiles, 32 fp32 accumulators a thread. K goes in tiles of 32
 *      through a 3-stage cp.async pipeline (one commit group per tile, wait_group 1 before
 *      a tile is used). Shared memory: per stage A 64x32 and B 64x32 bf16 (8 KB; 24 KB in
 *      all), each 64-byte row as four 16-byte chunks stored at chunk ^ ((row >> 1) & 3), so
 *      the eight rows one ldmatrix phase reads land in eight different 16-byte bank groups
 *      (no conflicts). Fragments come from ldmatrix.x4: A as the mma A operand; B as W's
 *      (n, k) rows, which are exactly the col-major B fragment (no .trans needed).
 *      Edge tiles: rows past M or N and chunks past Kp are zero-filled by cp.async's
 *      src-size 0; the epilogue stores only in-range elements, adding the bias.
 * Accuracy: inputs rounded to bf16 (relative error <= u = 2^-8 each, so <= 2u + u^2 per
 * product); the parity tolerance follows from that (tests/gpu/gpu_parity.c, linear).
 * Backward of version 3 is version 2's (fp32 SGEMM) for now.
 */
extern "C" {
#include "core/bf16.h"
#include "core/cuda_check.h"
#include "kernels/linear.h"
}
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/scratch.h"

#define TC_BM 64
#define TC_BN 64
#define TC_BK 32
#define TC_STAGES 3
#define TC_THREADS 128

// ---------------------------------------------------------------------------------
// pass 1: fp32 (rows, k) -> bf16 (rows, kp), zero padded

__global__ void tc_cast_pad_kernel(const float *__restrict__ src, bf16_t *__restrict__ dst, long rows, int k,
                                   int kp) {
    const long n = rows * kp, stride = (long)gridDim.x * blockDim.x;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += stride) {
        const long r = i / kp;
        const int c = (int)(i - r * kp);
        dst[i] = c < k ? ldm_f32_to_bf16(src[r * k + c]) : (bf16_t)0;
    }
}

static int cast_grid(long n) {
    long g = (n + 255) / 256;
    return (int)(g < 1 ? 1 : g > 4096 ? 4096 : g);
}

// ---------------------------------------------------------------------------------
// pass 2: the mma main loop

/* element offset of (row, 8-element chunk) in a swizzled 32-wide bf16 tile */
__device__ __forceinline__ int tc_swz(int row, int chunk) { return row * TC_BK + ((chunk ^ ((row >> 1) & 3)) << 3); }

/* copies tile kt of a (rows, kp) bf16 matrix, rows r0.. r0+63, into s (64 x 32, swizzled) */
__device__ __forceinline__ void tc_load_tile(bf16_t *s, const bf16_t *g, long rows, int kp, long r0, int kt) {
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int c = threadIdx.x + TC_THREADS * j, row = c >> 2, chunk = c & 3;
        const long gr = r0 + row;
        const int gk = kt * TC_BK + chunk * 8;
        const bool ok = gr < rows && gk < kp;
        cp_async_cg16(s + tc_swz(row, chunk), ok ? g + gr * kp + gk : g, ok ? 16 : 0);
    }
}

__global__ void __launch_bounds__(TC_THREADS)
linear_fwd_mma_kernel(const bf16_t *__restrict__ xb, const bf16_t *__restrict__ wb, const float *__restrict__ bias,
                      float *__restrict__ y, long m, int n, int kp) {
    __shared__ __align__(128) bf16_t sA[TC_STAGES][TC_BM * TC_BK];
    __shared__ __align__(128) bf16_t sB[TC_STAGES][TC_BN * TC_BK];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 1, wn = warp & 1, g = lane >> 2, t = lane & 3;
    const long m0 = (long)blockIdx.y * TC_BM;
    const int n0 = blockIdx.x * TC_BN;
    const int ktiles = (kp + TC_BK - 1) / TC_BK;

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; s++) {
        if (s < ktiles) {
            tc_load_tile(sA[s], xb, m, kp, m0, s);
            tc_load_tile(sB[s], wb, n, kp, n0, s);
        }
        cp_async_commit(); /* one group per tile, empty ones included: the count stays exact */
    }

    for (int kt = 0; kt < ktiles; kt++) {
        cp_async_wait<TC_STAGES - 2>(); /* this thread's copies of tile kt have landed */
        __syncthreads();                /* everyone's have; and stage (kt-1) % S is free */
        const int pf = kt + TC_STAGES - 1;
        if (pf < ktiles) {
            tc_load_tile(sA[pf % TC_STAGES], xb, m, kp, m0, pf);
            tc_load_tile(sB[pf % TC_STAGES], wb, n, kp, n0, pf);
        }
        cp_async_commit();
        const bf16_t *a_s = sA[kt % TC_STAGES], *b_s = sB[kt % TC_STAGES];
#pragma unroll
        for (int ks = 0; ks < TC_BK / 16; ks++) {
            uint32_t af[2][4], bfr[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
                /* lane l: row l % 16 of the m16 tile, k chunk 2 ks + l / 16 */
                const int row = wm * 32 + mi * 16 + (lane & 15), chunk = 2 * ks + (lane >> 4);
                ldmatrix_x4(af[mi], a_s + tc_swz(row, chunk));
            }
#pragma unroll
            for (int np = 0; np < 2; np++) {
                /* matrices (n8 tile 2np, k lo), (2np, k hi), (2np+1, k lo), (2np+1, k hi) */
                const int i = lane >> 3, row = wn * 32 + np * 16 + (i >> 1) * 8 + (lane & 7);
                const int chunk = 2 * ks + (i & 1);
                uint32_t r[4];
                ldmatrix_x4(r, b_s + tc_swz(row, chunk));
                bfr[2 * np][0] = r[0], bfr[2 * np][1] = r[1];
                bfr[2 * np + 1][0] = r[2], bfr[2 * np + 1][1] = r[3];
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++)
#pragma unroll
                for (int ni = 0; ni < 4; ni++) mma_m16n8k16_bf16(acc[mi][ni], af[mi], bfr[ni], acc[mi][ni]);
        }
    }
    cp_async_wait<0>(); /* no copy outlives the block (the trailing groups are empty) */

#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const long row = m0 + wm * 32 + mi * 16 + g + 8 * (e >> 1);
                const int col = n0 + wn * 32 + ni * 8 + 2 * t + (e & 1);
                if (row < m && col < n) y[row * n + col] = acc[mi][ni][e] + (bias ? bias[col] : 0.0f);
            }
}

// ---------------------------------------------------------------------------------
// launcher

extern "C" int linear_forward_tc_cuda(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y) {
    const long m = (long)tensor_rows(x);
    const int k = tensor_cols(x), n = w->shape[0];
    if (m == 0 || n == 0) return 0;
    const int kp = (k + 7) / 8 * 8;
    const long mb = (m + TC_BM - 1) / TC_BM;
    if (mb > 65535) return ldm_error("linear", "v3: %ld rows is more than the grid allows (%d)", m, 65535 * TC_BM);
    bf16_t *xb = (bf16_t *)cuda_scratch(((size_t)m + (size_t)n) * (size_t)kp * sizeof(bf16_t));
    if (!xb) return -1;
    bf16_t *wb = xb + (size_t)m * kp; /* m * kp is a multiple of 8: 16-byte aligned */
    LDM_LAUNCH(tc_cast_pad_kernel, cast_grid(m * kp), 256)(x->data, xb, m, k, kp);
    CUDA_LAUNCH_CHECK("linear_tc_cast_x");
    LDM_LAUNCH(tc_cast_pad_kernel, cast_grid((long)n * kp), 256)(w->data, wb, (long)n, k, kp);
    CUDA_LAUNCH_CHECK("linear_tc_cast_w");
    const dim3 grid((unsigned)((n + TC_BN - 1) / TC_BN), (unsigned)mb);
    LDM_LAUNCH(linear_fwd_mma_kernel, grid, TC_THREADS)(xb, wb, b ? b->data : nullptr, y->data, m, n, kp);
    CUDA_LAUNCH_CHECK("linear_forward_mma");
    return 0;
}
