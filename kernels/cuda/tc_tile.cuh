/* kernels/cuda/tc_tile.cuh — the pieces of linear v3's main loop (kernels/cuda/linear_tc.cu)
 * shared with conv2d v3 (kernels/cuda/conv2d_tc.cu): tile sizes, the swizzled 64 x 32 bf16
 * shared tile and its cp.async loader, the fp32 -> bf16 cast pass. */
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

/* launches the cast pass: src (rows, k) fp32 -> dst (rows, kp) bf16, RNE, zero padded
 * (linear_tc.cu; the caller checks the launch) */
void tc_cast_pad(const float *src, bf16_t *dst, long rows, int k, int kp);

#endif
