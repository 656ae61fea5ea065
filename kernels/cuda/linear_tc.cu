/* kernels/cuda/linear_tc.cu — linear, version 3: bf16 tensor cores (mma.sync).
 *   forward  x (M, IN), w (OUT, IN), b (OUT) or NULL:  y (M, OUT) = bf16(x) bf16(w)^T + b
 *            a GEMM with M, N = OUT, K = IN; B(k, n) = w[n, k] (k-contiguous rows of w)
 *   dx       dx (M, IN) += bf16(dy) bf16(w), dy (M, OUT):
 *            a GEMM with M, N = IN, K = OUT; B(k, n) = w[k, n] (n-contiguous rows of w)
 *   dw       dw (OUT, IN) += bf16(dy)^T bf16(x): a GEMM with M = OUT, N = IN, K = rows;
 *            A(m, k) = dy[k, m] (read with ldmatrix.trans), B(k, n) = x[k, n]; one block
 *            runs the whole K loop (no split-K yet: few blocks when OUT x IN is small)
 *   products exact, sums in fp32 (tensor-core accumulate). db is version 2's.
 * FLOP 2*M*N*K each. Bytes: the cast pass reads 4(M + N)K and writes 2(M + N)K (padded);
 * the main loop reads 2(M + N)K at least (more with re-reads across blocks), writes 4MN.
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
 *      (no conflicts). Fragments come from ldmatrix.x4: A as the mma A operand; B, when
 *      stored as (n, k) rows (forward), is exactly the col-major B fragment; when stored as
 *      (k, n) rows (dx: a 32 x 64 tile, 128-byte rows of eight chunks at chunk ^ (row & 7)),
 *      ldmatrix.x4.trans gives it.
 *      Edge tiles: rows past M or N and chunks past Kp are zero-filled by cp.async's
 *      src-size 0; the epilogue stores only in-range elements, adding the bias.
 * Accuracy: inputs rounded to bf16 (relative error <= u = 2^-8 each, so <= 2u + u^2 per
 * product); the parity tolerance follows from that (TOL_BF16_MMA in bench/ops/op_table.c).
 */
#include <limits.h>

extern "C" {
#include "core/bf16.h"
#include "core/cuda_check.h"
#include "kernels/linear.h"
}
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/tc_tile.cuh"


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

void tc_cast_pad(const float *src, bf16_t *dst, long rows, int k, int kp) {
    LDM_LAUNCH(tc_cast_pad_kernel, cast_grid(rows * kp), 256)(src, dst, rows, k, kp);
}

// ---------------------------------------------------------------------------------
// pass 2: the mma main loop

/* C (m, n) = A B (+ bias) (+= when accumulate).
 * A_KM = false: a is (m, kp), A(m, k) = a[m, k];  A_KM = true: a is (kp, mp), A(m, k) = a[k, m]
 *   (kp is then the true K, mp = m rounded up to 8).
 * B_KN = false: b is (n, kp), B(k, n) = b[n, k];  B_KN = true: b is (kb, np), B(k, n) = b[k, n]
 *   (np = n rounded up to 8). Rows and chunks past the ends are zero-filled. */
template <bool A_KM, bool B_KN>
__global__ void __launch_bounds__(TC_THREADS)
linear_mma_kernel(const bf16_t *__restrict__ xb, const bf16_t *__restrict__ wb, const float *__restrict__ bias,
                  float *__restrict__ y, long m, int n, int kp, int kb, int np, int mp, int accumulate) {
    __shared__ __align__(128) bf16_t sA[TC_STAGES][TC_BM * TC_BK];
    __shared__ __align__(128) bf16_t sB[TC_STAGES][TC_BN * TC_BK];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 1, wn = warp & 1, g = lane >> 2, t = lane & 3;
    const long m0 = (long)blockIdx.y * TC_BM;
    const int n0 = blockIdx.x * TC_BN;
    const int ktiles = (kp + TC_BK - 1) / TC_BK;

    float acc[2][4][4];
    tc_zero_acc(acc);

#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; s++) {
        if (s < ktiles) {
            if (A_KM) tc_load_tile_kn(sA[s], xb, kp, mp, (int)m0, s);
            else tc_load_tile(sA[s], xb, m, kp, m0, s);
            if (B_KN) tc_load_tile_kn(sB[s], wb, kb, np, n0, s);
            else tc_load_tile(sB[s], wb, n, kp, n0, s);
        }
        cp_async_commit(); /* one group per tile, empty ones included: the count stays exact */
    }

    for (int kt = 0; kt < ktiles; kt++) {
        cp_async_wait<TC_STAGES - 2>(); /* this thread's copies of tile kt have landed */
        __syncthreads();                /* everyone's have; and stage (kt-1) % S is free */
        const int pf = kt + TC_STAGES - 1;
        if (pf < ktiles) {
            if (A_KM) tc_load_tile_kn(sA[pf % TC_STAGES], xb, kp, mp, (int)m0, pf);
            else tc_load_tile(sA[pf % TC_STAGES], xb, m, kp, m0, pf);
            if (B_KN) tc_load_tile_kn(sB[pf % TC_STAGES], wb, kb, np, n0, pf);
            else tc_load_tile(sB[pf % TC_STAGES], wb, n, kp, n0, pf);
        }
        cp_async_commit();
        const bf16_t *a_s = sA[kt % TC_STAGES], *b_s = sB[kt % TC_STAGES];
#pragma unroll
        for (int ks = 0; ks < TC_BK / 16; ks++) {
            uint32_t af[2][4], bfr[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
                if (A_KM) tc_frag_a_km(af[mi], a_s, ks, wm, mi, lane); /* ldmatrix.trans */
                else tc_frag_a(af[mi], a_s, ks, wm, mi, lane);
            }
#pragma unroll
            for (int pr = 0; pr < 2; pr++) {
                if (B_KN) tc_frag_b_kn(bfr, b_s, ks, wn, pr, lane); /* ldmatrix.trans */
                else tc_frag_b(bfr, b_s, ks, wn, pr, lane);
            }
            tc_mma_warp(acc, af, bfr);
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
                if (row < m && col < n) {
                    const float v = acc[mi][ni][e] + (bias ? bias[col] : 0.0f);
                    y[row * n + col] = accumulate ? y[row * n + col] + v : v;
                }
            }
}

// ---------------------------------------------------------------------------------
// launcher

/* dst (m, n) = (+=) A B (+ bias), fp32 in, both operands cast to bf16 first (see
 * linear_mma_kernel): a_km: src_a is (k, m) rather than (m, k); b_kn: src_b is (k, n) rather
 * than (n, k). */
static int tc_gemm(const char *name, const float *a, const float *b, const float *bias, float *dst, long m, int n,
                   long k, bool a_km, bool b_kn, bool accumulate) {
    if (m == 0 || n == 0) return 0;
    if (k > INT_MAX - 8 || (a_km && m > INT_MAX - 8)) return ldm_error("linear", "v3: a dimension exceeds 2^31");
    const int kp = (int)((k + 7) / 8 * 8), np = (n + 7) / 8 * 8, mp = (int)((m + 7) / 8 * 8);
    const long mb = (m + TC_BM - 1) / TC_BM;
    if (mb > 65535) return ldm_error("linear", "v3: %ld rows is more than the grid allows (%d)", m, 65535 * TC_BM);
    const size_t a_elems = a_km ? (size_t)k * mp : (size_t)m * kp;
    const size_t b_elems = b_kn ? (size_t)k * np : (size_t)n * kp;
    bf16_t *ab = (bf16_t *)cuda_scratch((a_elems + b_elems) * sizeof(bf16_t));
    if (!ab) return -1;
    bf16_t *bb = ab + a_elems; /* a multiple of 8 elements: 16-byte aligned */
    if (a_km) LDM_LAUNCH(tc_cast_pad_kernel, cast_grid(k * mp), 256)(a, ab, k, (int)m, mp);
    else LDM_LAUNCH(tc_cast_pad_kernel, cast_grid(m * kp), 256)(a, ab, m, (int)k, kp);
    CUDA_LAUNCH_CHECK("linear_tc_cast_a");
    if (b_kn) LDM_LAUNCH(tc_cast_pad_kernel, cast_grid(k * np), 256)(b, bb, k, n, np);
    else LDM_LAUNCH(tc_cast_pad_kernel, cast_grid((long)n * kp), 256)(b, bb, (long)n, (int)k, kp);
    CUDA_LAUNCH_CHECK("linear_tc_cast_b");
    const dim3 grid((unsigned)((n + TC_BN - 1) / TC_BN), (unsigned)mb);
    /* with A (k, m) the k loop runs over the true k (rows past it zero-filled) */
    const int kloop = a_km ? (int)k : kp, kb = (int)k, acc = accumulate;
    if (a_km && b_kn)
        LDM_LAUNCH((linear_mma_kernel<true, true>), grid, TC_THREADS)(ab, bb, bias, dst, m, n, kloop, kb, np, mp, acc);
    else if (b_kn)
        LDM_LAUNCH((linear_mma_kernel<false, true>), grid, TC_THREADS)(ab, bb, bias, dst, m, n, kloop, kb, np, mp, acc);
    else
        LDM_LAUNCH((linear_mma_kernel<false, false>), grid, TC_THREADS)(ab, bb, bias, dst, m, n, kloop, kb, np, mp,
                                                                       acc);
    CUDA_LAUNCH_CHECK(name);
    return 0;
}

extern "C" int linear_forward_tc_cuda(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y) {
    return tc_gemm("linear_forward_mma", x->data, w->data, b ? b->data : nullptr, y->data, (long)tensor_rows(x),
                   w->shape[0], tensor_cols(x), false, false, false);
}

extern "C" int linear_dx_tc_cuda(const Tensor *w, const Tensor *dy, Tensor *dx) {
    return tc_gemm("linear_dx_mma", dy->data, w->data, nullptr, dx->data, (long)tensor_rows(dy), w->shape[1],
                   w->shape[0], false, true, true);
}

/* dw (OUT, IN) += dy^T x: M = OUT, N = IN, K = rows; A(o, r) = dy[r, o], B(r, i) = x[r, i]. */
extern "C" int linear_dw_tc_cuda(const Tensor *x, const Tensor *dy, Tensor *dw) {
    return tc_gemm("linear_dw_mma", dy->data, x->data, nullptr, dw->data, (long)dw->shape[0], dw->shape[1],
                   (long)tensor_rows(x), true, true, true);
}
