/* kernels/cuda/tc_tile.cuh — the pieces of linear v3's main loop (kernels/cuda/linear_tc.cu)
 * shared with conv2d v3 (kernels/cuda/conv2d_tc.cu): tile sizes, the swizzled bf16 shared
 * tiles (64 x 32 stored by m or n rows, 32 x 64 stored by k rows) with their cp.async loaders
 * and fragment loads, the warp's mma step, the fp32 -> bf16 cast pass. */
#ifndef LDM_KERNELS_CUDA_TC_TILE_CUH
#define LDM_KERNELS_CUDA_TC_TILE_CUH

#include "kernels/cuda/mma.cuh"

#define TC_BM 64
#define TC_BN 64
#define TC_BK 32
#define TC_STAGES 3
#define TC_THREADS 128

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

/* The warp tile: warp (wm, wn) of the 2 x 2 owns rows wm*32.. of the block's 64 x 64 output
 * and columns wn*32.., as acc[mi][ni] (mi: two m16 tiles, ni: four n8 tiles), each the 4 floats
 * of an m16n8 accumulator fragment (mma.cuh). */
__device__ __forceinline__ void tc_zero_acc(float (&acc)[2][4][4]) {
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;
}

/* A fragments of k-step ks from a row-major (m, k) swizzled tile: lane l supplies row l % 16
 * of the m16 tile and k chunk 2 ks + l / 16 (ldmatrix .x4: (m lo, k lo), (m hi, k lo),
 * (m lo, k hi), (m hi, k hi)). */
__device__ __forceinline__ void tc_frag_a(uint32_t (&af)[4], const bf16_t *a_s, int ks, int wm, int mi, int lane) {
    const int row = wm * 32 + mi * 16 + (lane & 15), chunk = 2 * ks + (lane >> 4);
    ldmatrix_x4(af, a_s + tc_swz(row, chunk));
}

/* B fragments of n8 tiles 2 pr and 2 pr + 1 from a row-major (n, k) swizzled tile: lane
 * supplies n row (i / 2) * 8 + l % 8 of the pair and k chunk lo or hi (i = l / 8). */
__device__ __forceinline__ void tc_frag_b(uint32_t (&bfr)[4][2], const bf16_t *b_s, int ks, int wn, int pr, int lane) {
    const int i = lane >> 3;
    const int row = wn * 32 + pr * 16 + (i >> 1) * 8 + (lane & 7), chunk = 2 * ks + (i & 1);
    uint32_t r[4];
    ldmatrix_x4(r, b_s + tc_swz(row, chunk));
    bfr[2 * pr][0] = r[0], bfr[2 * pr][1] = r[1];
    bfr[2 * pr + 1][0] = r[2], bfr[2 * pr + 1][1] = r[3];
}

/* element offset of (k row, 8-element chunk) in a swizzled 32 x 64 bf16 tile stored by k rows
 * (128-byte rows of eight chunks at chunk ^ (row & 7)) */
__device__ __forceinline__ int tc_swz_kn(int row, int chunk) { return row * TC_BN + ((chunk ^ (row & 7)) << 3); }

/* copies rows kt*32.. of a (krows, np) bf16 matrix, columns n0..n0+63, into s (32 x 64) */
__device__ __forceinline__ void tc_load_tile_kn(bf16_t *s, const bf16_t *g, int krows, int np, int n0, int kt) {
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int c = threadIdx.x + TC_THREADS * j, row = c >> 3, chunk = c & 7;
        const int gk = kt * TC_BK + row, gn = n0 + chunk * 8;
        const bool ok = gk < krows && gn < np;
        cp_async_cg16(s + tc_swz_kn(row, chunk), ok ? g + (long)gk * np + gn : g, ok ? 16 : 0);
    }
}

/* A fragments of k-step ks from a (k, m) tile (tc_swz_kn): ldmatrix.x4.trans of the matrices
 * (m lo, k lo), (m hi, k lo), (m lo, k hi), (m hi, k hi); lane supplies k row
 * ks*16 + (i / 2) * 8 + l % 8 of m chunk (i % 2) (i = l / 8). */
__device__ __forceinline__ void tc_frag_a_km(uint32_t (&af)[4], const bf16_t *a_s, int ks, int wm, int mi, int lane) {
    const int i = lane >> 3, row = ks * 16 + (i >> 1) * 8 + (lane & 7);
    const int chunk = wm * 4 + mi * 2 + (i & 1);
    ldmatrix_x4_trans(af, a_s + tc_swz_kn(row, chunk));
}

/* B fragments of n8 tiles 2 pr and 2 pr + 1 from a (k, n) tile (tc_swz_kn): ldmatrix.x4.trans
 * of (tile 2pr, k lo), (2pr, k hi), (2pr+1, k lo), (2pr+1, k hi); lane supplies k row
 * ks*16 + (i % 2) * 8 + l % 8 of n chunk (tile) i / 2. */
__device__ __forceinline__ void tc_frag_b_kn(uint32_t (&bfr)[4][2], const bf16_t *b_s, int ks, int wn, int pr,
                                             int lane) {
    const int i = lane >> 3;
    const int row = ks * 16 + (i & 1) * 8 + (lane & 7), chunk = wn * 4 + pr * 2 + (i >> 1);
    uint32_t r[4];
    ldmatrix_x4_trans(r, b_s + tc_swz_kn(row, chunk));
    bfr[2 * pr][0] = r[0], bfr[2 * pr][1] = r[1];
    bfr[2 * pr + 1][0] = r[2], bfr[2 * pr + 1][1] = r[3];
}

/* acc += A B over one k16 step for the warp's 2 x 4 tiles */
__device__ __forceinline__ void tc_mma_warp(float (&acc)[2][4][4], const uint32_t (&af)[2][4],
                                            const uint32_t (&bfr)[4][2]) {
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++) mma_m16n8k16_bf16(acc[mi][ni], af[mi], bfr[ni], acc[mi][ni]);
}

/* launches the cast pass: src (rows, k) fp32 -> dst (rows, kp) bf16, RNE, zero padded
 * (linear_tc.cu; the caller checks the launch) */
void tc_cast_pad(const float *src, bf16_t *dst, long rows, int k, int kp);

#endif
