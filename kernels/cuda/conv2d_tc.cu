/* kernels/cuda/conv2d_tc.cu — conv2d forward, version 3: bf16 tensor cores (mma.sync).
 *   x (N, H, W, C), w (K, R, S, C), b (K) or NULL, y (N, P, Q, K); math in kernels/conv2d.h.
 *   An implicit GEMM: M = N*P*Q (output pixels), N = K, K = R*S*C; A(m, k) = bf16(x) at the
 *   patch element k = (r, s, c) of pixel m (zero outside the image and for k >= R*S*C),
 *   B(k, n) = bf16(w)[n, k] (w is (K, R*S*C), the layout of linear's w).
 * FLOP 2*N*P*Q*K*R*S*C. Bytes: the cast pass reads 4(NHWC + KRSC), writes half that; the
 * main loop reads the bf16 copies (x up to R*S times, through L2), writes 4*NPQK.
 *
 * Two passes, as linear v3 (kernels/cuda/linear_tc.cu, whose tile pieces it shares through
 * tc_tile.cuh):
 *   1. cast x (no padding) and w (rows padded with zeros to Kp = R*S*C rounded up to 8) to bf16
 *      into the kernel scratch.
 *   2. main loop: 64x64 tiles of y, 4 warps of 32x32, K in tiles of 32 through the 3-stage
 *      pipeline into the swizzled shared tiles. B rows come by cp.async as in linear. A:
 *      C % 8 == 0: each 16-byte chunk of a patch row (8 channels of one tap) is contiguous in
 *        x, copied by cp.async; taps outside the image, rows past M and chunks past R*S*C are
 *        zero-filled (src-size 0).
 *      otherwise (thin inputs: C = 1, 3, 4, ...): a chunk spans taps, so its 8 elements are
 *        gathered one by one with plain loads (zero where out of range) and stored to shared
 *        memory with ordinary stores (the stage is free: the __syncthreads that
 *        opens each k-tile orders it after the last reads of that stage).
 *   The epilogue adds the bias and stores the in-range elements.
 * Accuracy: as linear v3 (bf16 operands, fp32 accumulation; padding contributes exact zeros).
 * dgrad and wgrad have no version 3 yet: version 3 runs version 2's (kernels/cuda/conv2d.cu).
 */
#include <limits.h>

extern "C" {
#include "core/bf16.h"
#include "core/cuda_check.h"
#include "kernels/conv2d.h"
}
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/tc_tile.cuh"

struct ConvTcDims {
    int n, h, w, c, k, r, s, p, q, stride, pad;
    int m;   // N*P*Q
    int rsc; // R*S*C
    int kp;  // rsc rounded up to 8
};

/* A tile kt (64 pixel rows x 32 patch elements) into s. Each thread owns rows row0 and row0 + 32
 * (pixel decompositions in base/ih0/iw0, base < 0 for a row past M) and one chunk. */
template <bool VEC>
__device__ __forceinline__ void conv_load_a(bf16_t *s, const bf16_t *xb, const ConvTcDims &d, const long base[2],
                                            const int ih0[2], const int iw0[2], int kt) {
    const int chunk = threadIdx.x & 3, row0 = threadIdx.x >> 2;
    const int gk = kt * TC_BK + chunk * 8;
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int row = row0 + 32 * j;
        if (VEC) {
            const int rs = gk / d.c, c = gk - rs * d.c, r = rs / d.s, sx = rs - r * d.s;
            const int ih = ih0[j] + r, iw = iw0[j] + sx;
            const bool ok = base[j] >= 0 && gk < d.rsc && ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
            const bf16_t *src = ok ? xb + base[j] + ((long)ih * d.w + iw) * d.c + c : xb;
            cp_async_cg16(s + tc_swz(row, chunk), src, ok ? 16 : 0);
        } else {
            bf16_t v[8];
#pragma unroll
            for (int e = 0; e < 8; e++) {
                const int k = gk + e, rs = k / d.c, c = k - rs * d.c, r = rs / d.s, sx = rs - r * d.s;
                const int ih = ih0[j] + r, iw = iw0[j] + sx;
                const bool ok = base[j] >= 0 && k < d.rsc && ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
                v[e] = ok ? xb[base[j] + ((long)ih * d.w + iw) * d.c + c] : (bf16_t)0;
            }
            uint32_t *dst = (uint32_t *)(s + tc_swz(row, chunk)); /* 16-byte aligned */
#pragma unroll
            for (int e = 0; e < 4; e++) dst[e] = (uint32_t)v[2 * e] | (uint32_t)v[2 * e + 1] << 16;
        }
    }
}

template <bool VEC>
__global__ void __launch_bounds__(TC_THREADS)
conv2d_mma_kernel(const bf16_t *__restrict__ xb, const bf16_t *__restrict__ wb, const float *__restrict__ bias,
                  float *__restrict__ y, ConvTcDims d) {
    __shared__ __align__(128) bf16_t sA[TC_STAGES][TC_BM * TC_BK];
    __shared__ __align__(128) bf16_t sB[TC_STAGES][TC_BN * TC_BK];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 1, wn = warp & 1, g = lane >> 2, t = lane & 3;
    const int m0 = blockIdx.y * TC_BM, n0 = blockIdx.x * TC_BN;
    const int ktiles = (d.kp + TC_BK - 1) / TC_BK;

    long base[2];
    int ih0[2], iw0[2];
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int m = m0 + (tid >> 2) + 32 * j;
        const int q = m % d.q, p = m / d.q % d.p, n = m / (d.q * d.p);
        base[j] = m < d.m ? (long)n * d.h * d.w * d.c : -1;
        ih0[j] = p * d.stride - d.pad, iw0[j] = q * d.stride - d.pad;
    }

    float acc[2][4][4];
    tc_zero_acc(acc);

#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; s++) {
        if (s < ktiles) {
            conv_load_a<VEC>(sA[s], xb, d, base, ih0, iw0, s);
            tc_load_tile(sB[s], wb, d.k, d.kp, n0, s);
        }
        cp_async_commit(); /* one group per tile, empty ones included */
    }

    for (int kt = 0; kt < ktiles; kt++) {
        cp_async_wait<TC_STAGES - 2>();
        __syncthreads();
        const int pf = kt + TC_STAGES - 1;
        if (pf < ktiles) {
            conv_load_a<VEC>(sA[pf % TC_STAGES], xb, d, base, ih0, iw0, pf);
            tc_load_tile(sB[pf % TC_STAGES], wb, d.k, d.kp, n0, pf);
        }
        cp_async_commit();
        const bf16_t *a_s = sA[kt % TC_STAGES], *b_s = sB[kt % TC_STAGES];
#pragma unroll
        for (int ks = 0; ks < TC_BK / 16; ks++) {
            uint32_t af[2][4], bfr[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++) tc_frag_a(af[mi], a_s, ks, wm, mi, lane);
#pragma unroll
            for (int pr = 0; pr < 2; pr++) tc_frag_b(bfr, b_s, ks, wn, pr, lane);
            tc_mma_warp(acc, af, bfr);
        }
    }
    cp_async_wait<0>();

#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int row = m0 + wm * 32 + mi * 16 + g + 8 * (e >> 1);
                const int col = n0 + wn * 32 + ni * 8 + 2 * t + (e & 1);
                if (row < d.m && col < d.k) y[(long)row * d.k + col] = acc[mi][ni][e] + (bias ? bias[col] : 0.0f);
            }
}

extern "C" int conv2d_forward_tc_cuda(const Tensor *x, const Tensor *w, const Tensor *b, int stride, int pad,
                                      Tensor *y) {
    ConvTcDims d;
    d.n = x->shape[0], d.h = x->shape[1], d.w = x->shape[2], d.c = x->shape[3];
    d.k = w->shape[0], d.r = w->shape[1], d.s = w->shape[2];
    d.p = y->shape[1], d.q = y->shape[2], d.stride = stride, d.pad = pad;
    const long m = (long)d.n * d.p * d.q, rsc = (long)d.r * d.s * d.c;
    if (m == 0 || d.k == 0) return 0;
    if (m > INT_MAX - TC_BM || rsc > INT_MAX - 8) return ldm_error("conv2d", "v3: a dimension exceeds 2^31");
    d.m = (int)m, d.rsc = (int)rsc, d.kp = (int)((rsc + 7) / 8 * 8);
    const long mb = (m + TC_BM - 1) / TC_BM;
    if (mb > 65535)
        return ldm_error("conv2d", "v3: %ld output pixels is more than the grid allows (%d)", m, 65535 * TC_BM);
    const size_t x_elems = ((size_t)x->numel + 7) / 8 * 8, w_elems = (size_t)d.k * d.kp;
    bf16_t *xb = (bf16_t *)cuda_scratch((x_elems + w_elems) * sizeof(bf16_t));
    if (!xb) return -1;
    bf16_t *wb = xb + x_elems; /* a multiple of 8 elements: 16-byte aligned */
    if (x->numel) tc_cast_pad(x->data, xb, (long)x->numel / d.c, d.c, d.c);
    CUDA_LAUNCH_CHECK("conv2d_tc_cast_x");
    tc_cast_pad(w->data, wb, d.k, d.rsc, d.kp);
    CUDA_LAUNCH_CHECK("conv2d_tc_cast_w");
    const float *bias = b ? b->data : nullptr;
    const dim3 grid((unsigned)((d.k + TC_BN - 1) / TC_BN), (unsigned)mb);
    if (d.c % 8 == 0) LDM_LAUNCH(conv2d_mma_kernel<true>, grid, TC_THREADS)(xb, wb, bias, y->data, d);
    else LDM_LAUNCH(conv2d_mma_kernel<false>, grid, TC_THREADS)(xb, wb, bias, y->data, d);
    CUDA_LAUNCH_CHECK("conv2d_forward_mma");
    return 0;
}
