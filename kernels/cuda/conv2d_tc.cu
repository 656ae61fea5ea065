/* kernels/cuda/conv2d_tc.cu — conv2d, version 3: bf16 tensor cores (mma.sync), every pass.
 *   x (N, H, W, C), w (K, R, S, C), b (K) or NULL, res (N, P, Q, K) or NULL, y (N, P, Q, K);
 *   math in kernels/conv2d.h. Three implicit GEMMs on linear v3's main loop (tc_tile.cuh:
 *   64x64 block tile, 4 warps of 32x32, k in tiles of 32 through a 3-stage cp.async pipeline
 *   into swizzled shared tiles, ldmatrix fragments, mma.m16n8k16 with fp32 accumulation):
 *
 *   forward  M = N*P*Q (output pixels), N = K, k = (r, s, c) (R*S*C):
 *            A(m, k) = bf16(x)[n, p*st - pad + r, q*st - pad + s, c] (zero outside the image),
 *            B(k, n) = bf16(w)[n, k] (w as (K, R*S*C) rows: linear's layout);
 *            epilogue y = acc + b + res.
 *   dgrad    per stride class (a, b) of the input pixel (st*st launches, as version 2): the
 *            taps r = a + st*i, s = b + st*j are exactly those that reach a pixel h of class a
 *            (h + pad - r divisible by st), and hit output row p = hp - i with
 *            hp = (h + pad - a) / st. So a class is a dense GEMM, M = N*hc*wc pixels of the
 *            class, N = C, k = (i, j, k) (nr*ns*K):
 *            A(m, k) = bf16(dy)[n, hp - i, wq - j, k] (zero outside P x Q),
 *            B(k, c) = bf16(w)[k, a + st*i, b + st*j, c], transposed per class by the cast pass
 *            into (C, nr*ns*K) rows; epilogue dx[pixel] += acc. Stride 2: a class sees only
 *            its own taps (9 taps over the four classes for 3x3: no multiply by a zero);
 *            a 1x1 stride-2 conv reaches only class (0, 0), the others get nothing.
 *            Forward and dgrad are the same kernel: a gather of an NHWC image
 *            (ConvGather: A row (n, i, j) on a grid, taps walked forward or backward).
 *   wgrad    M = K, N = R*S*C, k = N*P*Q: dw(k, rsc) += sum_npq dy[npq, k] patch[npq, rsc].
 *            A(m, k) = bf16(dy)[k, m] stored (NPQ, K) by k rows (ldmatrix.trans, as linear's
 *            dw), B(k, n) = patch element rsc of pixel npq gathered from bf16(x) by k rows
 *            (ldmatrix.trans). Few output tiles (K x RSC) and a long k: split-K over NPQ
 *            (blockIdx.z), each split writing its partial tile to the scratch buffer, then one
 *            pass adds the splits to dw in split order: deterministic, no atomics.
 *            db: column sums of dy, version 2's (fp32, fixed order, gemm.cu).
 *   A chunk (8 consecutive k of one row) is one 16-byte cp.async when the channel count of
 *   the gathered image is a multiple of 8 (a chunk then lies in one tap and is contiguous;
 *   zero-filled by src-size 0 outside the image or past the end); otherwise (thin channels:
 *   1, 3, 4, ... and odd counts) its 8 elements are gathered one by one with plain loads and
 *   stored with ordinary stores (the stage is free: the __syncthreads that opens each k-tile
 *   orders them after the last reads of that stage).
 *
 * FLOP 2*N*P*Q*K*R*S*C per pass (dgrad at stride 2: the same, split over the classes).
 * Bytes: the cast passes read 4(NHWC + KRSC) (forward, dgrad with NPQK for x) or
 * 4(NHWC + NPQK) (wgrad) and write half that; the main loops read the bf16 copies (gathered
 * images up to R*S times, through L2) and write 4*NPQK (forward, + 4*NPQK with res),
 * read-modify-write 4*NHWC (dgrad), write 4*splits*KRSC partials and read-modify-write
 * 4*KRSC (wgrad).
 * Accuracy: as linear v3 (bf16 operands, exact products, fp32 accumulation; padding
 * contributes exact zeros; bias and residual added in fp32).
 */
#include <limits.h>

extern "C" {
#include "core/bf16.h"
#include "core/cuda_check.h"
#include "kernels/conv2d.h"
}
#include "kernels/cuda/scratch.h"
#include "kernels/cuda/tc_tile.cuh"

/* The A operand of forward and dgrad, a gather of an NHWC source image src (nimg, hs, ws, cs):
 *   row m = (n, i, j) of an (nimg, gi, gj) grid, column k = (tap (tr, ts) of a (., nts) tap
 *   grid, channel c < cs), k < kdim:
 *   A(m, k) = src[n, i*step + oh + dir*tr, j*step + ow + dir*ts, c] (zero outside hs x ws).
 * and the epilogue's map of row (n, i, j) to output pixel (n, i*ostep + ooh, j*ostep + oow)
 * of an (nimg, out_h, out_w) image with ncols channels (the GEMM's N). */
struct ConvGather {
    int hs, ws, cs;
    int gi, gj, step, oh, ow, dir, nts;
    int kdim, kp; /* kp: kdim rounded up to 8, the row length of B */
    int m, ncols;
    int out_h, out_w, ostep, ooh, oow;
};

// ---------------------------------------------------------------------------------
// forward and dgrad: A gathered from an image, B (ncols, kp) rows

/* A tile kt (64 rows x 32 k) into s. Each thread owns rows row0 and row0 + 32 (image offsets in
 * base, < 0 for a row past M, and first tap coordinates ih0/iw0) and one chunk. */
template <bool VEC>
__device__ __forceinline__ void conv_load_a(bf16_t *s, const bf16_t *src, const ConvGather &d, const long base[2],
                                            const int ih0[2], const int iw0[2], int kt) {
    const int chunk = threadIdx.x & 3, row0 = threadIdx.x >> 2;
    const int gk = kt * TC_BK + chunk * 8;
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int row = row0 + 32 * j;
        if (VEC) {
            const int tap = gk / d.cs, c = gk - tap * d.cs, tr = tap / d.nts, ts = tap - tr * d.nts;
            const int ih = ih0[j] + d.dir * tr, iw = iw0[j] + d.dir * ts;
            const bool ok = base[j] >= 0 && gk < d.kdim && ih >= 0 && ih < d.hs && iw >= 0 && iw < d.ws;
            const bf16_t *g = ok ? src + base[j] + ((long)ih * d.ws + iw) * d.cs + c : src;
            cp_async_cg16(s + tc_swz(row, chunk), g, ok ? 16 : 0);
        } else {
            bf16_t v[8];
#pragma unroll
            for (int e = 0; e < 8; e++) {
                const int k = gk + e, tap = k / d.cs, c = k - tap * d.cs, tr = tap / d.nts, ts = tap - tr * d.nts;
                const int ih = ih0[j] + d.dir * tr, iw = iw0[j] + d.dir * ts;
                const bool ok = base[j] >= 0 && k < d.kdim && ih >= 0 && ih < d.hs && iw >= 0 && iw < d.ws;
                v[e] = ok ? src[base[j] + ((long)ih * d.ws + iw) * d.cs + c] : (bf16_t)0;
            }
            uint32_t *dst = (uint32_t *)(s + tc_swz(row, chunk)); /* 16-byte aligned */
#pragma unroll
            for (int e = 0; e < 4; e++) dst[e] = (uint32_t)v[2 * e] | (uint32_t)v[2 * e + 1] << 16;
        }
    }
}

/* out[pixel(m), n] (+)= A B + bias[n] + res[pixel(m), n] over one block tile */
template <bool VEC>
__global__ void __launch_bounds__(TC_THREADS)
conv2d_mma_kernel(const bf16_t *__restrict__ src, const bf16_t *__restrict__ wb, const float *__restrict__ bias,
                  const float *__restrict__ res, float *__restrict__ out, ConvGather d, int accumulate) {
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
        const int jj = m % d.gj, ii = m / d.gj % d.gi, n = m / (d.gj * d.gi);
        base[j] = m < d.m ? (long)n * d.hs * d.ws * d.cs : -1;
        ih0[j] = ii * d.step + d.oh, iw0[j] = jj * d.step + d.ow;
    }

    float acc[2][4][4];
    tc_zero_acc(acc);

#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; s++) {
        if (s < ktiles) {
            conv_load_a<VEC>(sA[s], src, d, base, ih0, iw0, s);
            tc_load_tile(sB[s], wb, d.ncols, d.kp, n0, s);
        }
        cp_async_commit(); /* one group per tile, empty ones included */
    }

    for (int kt = 0; kt < ktiles; kt++) {
        cp_async_wait<TC_STAGES - 2>();
        __syncthreads();
        const int pf = kt + TC_STAGES - 1;
        if (pf < ktiles) {
            conv_load_a<VEC>(sA[pf % TC_STAGES], src, d, base, ih0, iw0, pf);
            tc_load_tile(sB[pf % TC_STAGES], wb, d.ncols, d.kp, n0, pf);
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
        for (int h = 0; h < 2; h++) {
            const int m = m0 + wm * 32 + mi * 16 + g + 8 * h;
            if (m >= d.m) continue;
            const int jj = m % d.gj, ii = m / d.gj % d.gi, n = m / (d.gj * d.gi);
            const long pix = ((long)n * d.out_h + ii * d.ostep + d.ooh) * d.out_w + jj * d.ostep + d.oow;
            float *o = out + pix * d.ncols;
            const float *r = res ? res + pix * d.ncols : nullptr;
#pragma unroll
            for (int ni = 0; ni < 4; ni++)
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    const int col = n0 + wn * 32 + ni * 8 + 2 * t + e;
                    if (col >= d.ncols) continue;
                    float v = acc[mi][ni][2 * h + e];
                    if (bias) v += bias[col];
                    if (r) v += r[col];
                    o[col] = accumulate ? o[col] + v : v;
                }
        }
}

// ---------------------------------------------------------------------------------
// wgrad: A = dy by k rows, B = patches gathered from x by k rows, split-K over N*P*Q

struct WgradDims {
    int n, h, w, c, k, s, p, q, stride, pad;
    int npq, rsc, kpad; /* kpad: K rounded up to 8, the row length of bf16(dy) */
};

/* B tile kt (32 pixels npq x 64 columns rsc, by k rows) into s: each thread owns one chunk
 * (8 columns, (r, s, c) of its first in rs0/c0) of rows row0 and row0 + 16. */
template <bool VEC>
__device__ __forceinline__ void wgrad_load_b(bf16_t *s, const bf16_t *xb, const WgradDims &d, int col0, int rs0,
                                             int c0, int kt) {
    const int chunk = threadIdx.x & 7;
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int row = (threadIdx.x >> 3) + 16 * j, i = kt * TC_BK + row;
        const int q = i % d.q, p = i / d.q % d.p, n = i / (d.q * d.p);
        const int ih0 = p * d.stride - d.pad, iw0 = q * d.stride - d.pad;
        const long img = (long)n * d.h * d.w * d.c;
        if (VEC) {
            const int r = rs0 / d.s, sx = rs0 - r * d.s, ih = ih0 + r, iw = iw0 + sx;
            const bool ok = i < d.npq && col0 < d.rsc && ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
            const bf16_t *g = ok ? xb + img + ((long)ih * d.w + iw) * d.c + c0 : xb;
            cp_async_cg16(s + tc_swz_kn(row, chunk), g, ok ? 16 : 0);
        } else {
            bf16_t v[8];
#pragma unroll
            for (int e = 0; e < 8; e++) {
                const int col = col0 + e, rs = col / d.c, c = col - rs * d.c, r = rs / d.s, sx = rs - r * d.s;
                const int ih = ih0 + r, iw = iw0 + sx;
                const bool ok = i < d.npq && col < d.rsc && ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
                v[e] = ok ? xb[img + ((long)ih * d.w + iw) * d.c + c] : (bf16_t)0;
            }
            uint32_t *dst = (uint32_t *)(s + tc_swz_kn(row, chunk));
#pragma unroll
            for (int e = 0; e < 4; e++) dst[e] = (uint32_t)v[2 * e] | (uint32_t)v[2 * e + 1] << 16;
        }
    }
}

/* split z = blockIdx.z runs k-tiles [z*tps, min((z+1)*tps, ktiles)) and writes its tile of
 * out + z*K*RSC (= dw with accumulate when there is one split) */
template <bool VEC>
__global__ void __launch_bounds__(TC_THREADS)
conv2d_wgrad_mma_kernel(const bf16_t *__restrict__ dyb, const bf16_t *__restrict__ xb, float *__restrict__ out,
                        WgradDims d, int tps, int accumulate) {
    __shared__ __align__(128) bf16_t sA[TC_STAGES][TC_BM * TC_BK];
    __shared__ __align__(128) bf16_t sB[TC_STAGES][TC_BN * TC_BK];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int wm = warp >> 1, wn = warp & 1, g = lane >> 2, t = lane & 3;
    const int m0 = blockIdx.y * TC_BM, n0 = blockIdx.x * TC_BN;
    const int ktiles = (d.npq + TC_BK - 1) / TC_BK;
    const int kt0 = blockIdx.z * tps, kt1 = min(kt0 + tps, ktiles);
    out += (long)blockIdx.z * d.k * d.rsc;

    const int col0 = n0 + (tid & 7) * 8, rs0 = col0 / d.c, c0 = col0 - rs0 * d.c;

    float acc[2][4][4];
    tc_zero_acc(acc);

#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; s++) {
        if (kt0 + s < kt1) {
            tc_load_tile_kn(sA[s], dyb, d.npq, d.kpad, m0, kt0 + s);
            wgrad_load_b<VEC>(sB[s], xb, d, col0, rs0, c0, kt0 + s);
        }
        cp_async_commit();
    }

    for (int kt = kt0; kt < kt1; kt++) {
        cp_async_wait<TC_STAGES - 2>();
        __syncthreads();
        const int pf = kt + TC_STAGES - 1, st = (kt - kt0) % TC_STAGES, pst = (st + TC_STAGES - 1) % TC_STAGES;
        if (pf < kt1) {
            tc_load_tile_kn(sA[pst], dyb, d.npq, d.kpad, m0, pf);
            wgrad_load_b<VEC>(sB[pst], xb, d, col0, rs0, c0, pf);
        }
        cp_async_commit();
        const bf16_t *a_s = sA[st], *b_s = sB[st];
#pragma unroll
        for (int ks = 0; ks < TC_BK / 16; ks++) {
            uint32_t af[2][4], bfr[4][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++) tc_frag_a_km(af[mi], a_s, ks, wm, mi, lane);
#pragma unroll
            for (int pr = 0; pr < 2; pr++) tc_frag_b_kn(bfr, b_s, ks, wn, pr, lane);
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
                if (row < d.k && col < d.rsc) {
                    float *o = out + (long)row * d.rsc + col;
                    *o = accumulate ? *o + acc[mi][ni][e] : acc[mi][ni][e];
                }
            }
}

/* dw[i] += part[0][i] + part[1][i] + ... in split order */
__global__ void conv2d_wgrad_reduce_kernel(const float *__restrict__ part, float *__restrict__ dw, long n, int splits) {
    const long stride = (long)gridDim.x * blockDim.x;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += stride) {
        float s = 0.0f;
        for (int z = 0; z < splits; z++) s += part[z * n + i];
        dw[i] += s;
    }
}

/* the cast pass of dgrad's B: dst (C, kp) = bf16(w)[k, a + st*i, b + st*j, c] at column
 * (i*ns + j)*K + k < kdim, zero past it */
__global__ void conv2d_dgrad_wt_kernel(const float *__restrict__ w, bf16_t *__restrict__ dst, int K, int R, int S,
                                       int C, int st, int a, int b, int ns, int kdim, int kp) {
    const long n = (long)C * kp, stride = (long)gridDim.x * blockDim.x;
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < n; idx += stride) {
        const int c = (int)(idx / kp), col = (int)(idx - (long)c * kp);
        float v = 0.0f;
        if (col < kdim) {
            const int tap = col / K, k = col - tap * K, i = tap / ns, j = tap - i * ns;
            v = w[(((long)k * R + a + st * i) * S + b + st * j) * C + c];
        }
        dst[idx] = ldm_f32_to_bf16(v);
    }
}

// ---------------------------------------------------------------------------------
// launchers

static int grid_1d(long n) {
    const long g = (n + 255) / 256;
    return (int)(g < 1 ? 1 : g > 4096 ? 4096 : g);
}

static int launch_gather(const char *name, const bf16_t *src, const bf16_t *wb, const float *bias, const float *res,
                         float *out, const ConvGather &d, bool accumulate) {
    const long mb = ((long)d.m + TC_BM - 1) / TC_BM;
    if (mb > 65535)
        return ldm_error("conv2d", "v3: %d GEMM rows is more than the grid allows (%d)", d.m, 65535 * TC_BM);
    const dim3 grid((unsigned)((d.ncols + TC_BN - 1) / TC_BN), (unsigned)mb);
    if (d.cs % 8 == 0) LDM_LAUNCH(conv2d_mma_kernel<true>, grid, TC_THREADS)(src, wb, bias, res, out, d, accumulate);
    else LDM_LAUNCH(conv2d_mma_kernel<false>, grid, TC_THREADS)(src, wb, bias, res, out, d, accumulate);
    CUDA_LAUNCH_CHECK(name);
    return 0;
}

extern "C" int conv2d_forward_tc_cuda(const Tensor *x, const Tensor *w, const Tensor *b, const Tensor *res,
                                      int stride, int pad, Tensor *y) {
    const int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    const int K = w->shape[0], R = w->shape[1], S = w->shape[2], P = y->shape[1], Q = y->shape[2];
    const long m = (long)N * P * Q, rsc = (long)R * S * C;
    if (m == 0 || K == 0) return 0;
    if (m > INT_MAX - TC_BM || rsc > INT_MAX - 8) return ldm_error("conv2d", "v3: a dimension exceeds 2^31");
    ConvGather d = {H, W, C, P, Q, stride, -pad, -pad, 1, S, (int)rsc, (int)((rsc + 7) / 8 * 8), (int)m, K,
                    P, Q, 1, 0, 0};
    const size_t x_elems = ((size_t)x->numel + 7) / 8 * 8, w_elems = (size_t)K * d.kp;
    bf16_t *xb = (bf16_t *)cuda_scratch((x_elems + w_elems) * sizeof(bf16_t));
    if (!xb) return -1;
    bf16_t *wb = xb + x_elems; /* a multiple of 8 elements: 16-byte aligned */
    tc_cast_pad(x->data, xb, (long)x->numel / C, C, C);
    CUDA_LAUNCH_CHECK("conv2d_tc_cast_x");
    tc_cast_pad(w->data, wb, K, d.kdim, d.kp);
    CUDA_LAUNCH_CHECK("conv2d_tc_cast_w");
    return launch_gather("conv2d_forward_mma", xb, wb, b ? b->data : nullptr, res ? res->data : nullptr, y->data, d,
                         false);
}

/* dx += dgrad, one launch per stride class (see the top of the file) */
static int dgrad_tc(const Tensor *w, const Tensor *dy, int st, int pad, Tensor *dx) {
    const int N = dx->shape[0], H = dx->shape[1], W = dx->shape[2], C = dx->shape[3];
    const int K = w->shape[0], R = w->shape[1], S = w->shape[2], P = dy->shape[1], Q = dy->shape[2];
    if (N == 0 || C == 0) return 0;
    if ((long)N * H * W > INT_MAX - TC_BM || (long)R * S * K > INT_MAX - 8)
        return ldm_error("conv2d", "v3: a dimension exceeds 2^31");
    /* scratch: bf16(dy), then per class its B (C, kp) */
    const size_t dy_elems = ((size_t)dy->numel + 7) / 8 * 8;
    size_t w_elems = 0;
    for (int a = 0; a < st; a++)
        for (int b = 0; b < st; b++) {
            const int nr = a < R ? (R - a + st - 1) / st : 0, ns = b < S ? (S - b + st - 1) / st : 0;
            w_elems += (size_t)C * (((size_t)nr * ns * K + 7) / 8 * 8);
        }
    bf16_t *dyb = (bf16_t *)cuda_scratch((dy_elems + w_elems) * sizeof(bf16_t));
    if (!dyb) return -1;
    if (dy->numel) tc_cast_pad(dy->data, dyb, (long)dy->numel / K, K, K);
    CUDA_LAUNCH_CHECK("conv2d_tc_cast_dy");
    bf16_t *wt = dyb + dy_elems;
    for (int a = 0; a < st; a++)
        for (int b = 0; b < st; b++) {
            const int nr = a < R ? (R - a + st - 1) / st : 0, ns = b < S ? (S - b + st - 1) / st : 0;
            const int h_first = ((a - pad) % st + st) % st, w_first = ((b - pad) % st + st) % st;
            const int hc = h_first < H ? (H - h_first + st - 1) / st : 0;
            const int wc = w_first < W ? (W - w_first + st - 1) / st : 0;
            const int kdim = nr * ns * K, kp = (kdim + 7) / 8 * 8;
            if (kdim == 0 || hc == 0 || wc == 0) continue; /* no tap reaches this class, or no pixel is in it */
            LDM_LAUNCH(conv2d_dgrad_wt_kernel, grid_1d((long)C * kp), 256)(w->data, wt, K, R, S, C, st, a, b, ns,
                                                                          kdim, kp);
            CUDA_LAUNCH_CHECK("conv2d_tc_dgrad_wt");
            /* pixel h = h_first + st*i: hp = (h + pad - a) / st = i + (h_first + pad - a) / st */
            const ConvGather d = {P, Q, K, hc, wc, 1, (h_first + pad - a) / st, (w_first + pad - b) / st, -1, ns,
                                  kdim, kp, N * hc * wc, C, H, W, st, h_first, w_first};
            if (launch_gather("conv2d_dgrad_mma", dyb, wt, nullptr, nullptr, dx->data, d, true)) return -1;
            wt += (size_t)C * kp;
        }
    return 0;
}

/* Split-K: about two waves of blocks on a 132-SM H100/H200, at least 4 k-tiles per split. */
#define WGRAD_TARGET_BLOCKS 264
#define WGRAD_MIN_TILES 4

static int wgrad_tc(const Tensor *x, const Tensor *dy, int stride, int pad, Tensor *dw) {
    WgradDims d;
    d.n = x->shape[0], d.h = x->shape[1], d.w = x->shape[2], d.c = x->shape[3];
    d.k = dw->shape[0], d.s = dw->shape[2], d.p = dy->shape[1], d.q = dy->shape[2];
    d.stride = stride, d.pad = pad;
    const long npq = (long)d.n * d.p * d.q, rsc = (long)dw->shape[1] * d.s * d.c;
    if (npq == 0 || d.k == 0 || rsc == 0) return 0;
    if (npq > INT_MAX - TC_BK || rsc > INT_MAX - TC_BN) return ldm_error("conv2d", "v3: a dimension exceeds 2^31");
    d.npq = (int)npq, d.rsc = (int)rsc, d.kpad = (d.k + 7) / 8 * 8;
    const int mb = (d.k + TC_BM - 1) / TC_BM, nb = (d.rsc + TC_BN - 1) / TC_BN, ktiles = (d.npq + TC_BK - 1) / TC_BK;
    if (mb > 65535) return ldm_error("conv2d", "v3: %d output channels is more than the grid allows", d.k);
    int splits = (WGRAD_TARGET_BLOCKS + mb * nb - 1) / (mb * nb);
    const int max_splits = ktiles / WGRAD_MIN_TILES;
    if (splits > max_splits) splits = max_splits;
    if (splits < 1) splits = 1;
    const int tps = (ktiles + splits - 1) / splits;
    splits = (ktiles + tps - 1) / tps; /* no empty split */
    const size_t x_elems = ((size_t)x->numel + 7) / 8 * 8, dy_elems = (size_t)npq * d.kpad;
    const size_t part = splits > 1 ? (size_t)splits * d.k * d.rsc : 0;
    float *scr = cuda_scratch(part * sizeof(float) + (x_elems + dy_elems) * sizeof(bf16_t));
    if (!scr) return -1;
    bf16_t *xb = (bf16_t *)(scr + part), *dyb = xb + x_elems;
    tc_cast_pad(x->data, xb, (long)x->numel / d.c, d.c, d.c);
    CUDA_LAUNCH_CHECK("conv2d_tc_cast_x");
    tc_cast_pad(dy->data, dyb, npq, d.k, d.kpad);
    CUDA_LAUNCH_CHECK("conv2d_tc_cast_dy");
    const dim3 grid((unsigned)nb, (unsigned)mb, (unsigned)splits);
    float *out = splits > 1 ? scr : dw->data;
    const int accumulate = splits == 1;
    if (d.c % 8 == 0) LDM_LAUNCH(conv2d_wgrad_mma_kernel<true>, grid, TC_THREADS)(dyb, xb, out, d, tps, accumulate);
    else LDM_LAUNCH(conv2d_wgrad_mma_kernel<false>, grid, TC_THREADS)(dyb, xb, out, d, tps, accumulate);
    CUDA_LAUNCH_CHECK("conv2d_wgrad_mma");
    if (splits > 1) {
        const long n = (long)d.k * d.rsc;
        LDM_LAUNCH(conv2d_wgrad_reduce_kernel, grid_1d(n), 256)(scr, dw->data, n, splits);
        CUDA_LAUNCH_CHECK("conv2d_wgrad_reduce");
    }
    return 0;
}

extern "C" int conv2d_backward_tc_cuda(const Tensor *x, const Tensor *w, const Tensor *dy, int stride, int pad,
                                       Tensor *dx, Tensor *dw) {
    if (dx && dgrad_tc(w, dy, stride, pad, dx)) return -1;
    if (dw && wgrad_tc(x, dy, stride, pad, dw)) return -1;
    return 0;
}
