/* kernels/cuda/conv2d.cu — 2-D convolution on the GPU (math in kernels/conv2d.h).
 *   x (N, H, W, C), w (K, R, S, C), b (K), y (N, P, Q, K)
 *   y[n,p,q,k] = b[k] + sum_{r,s,c} x[n, p*st-pad+r, q*st-pad+s, c] w[k,r,s,c] (+ res[n,p,q,k])
 *   dx[n,h,w,c] += sum_{k,r,s: h = p*st-pad+r, w = q*st-pad+s} dy[n,p,q,k] w[k,r,s,c]
 *   dw[k,r,s,c] += sum_{n,p,q} dy[n,p,q,k] x[n, p*st-pad+r, q*st-pad+s, c]
 *   db[k]       += sum_{n,p,q} dy[n,p,q,k]
 * FLOP: 2*N*P*Q*K*R*S*C for each of forward, dgrad and wgrad.
 * Bytes (minimum): forward 4*(NHWC + KRSC + NPQK); backward reads x, w, dy once and
 * read-modify-writes dx, dw (and db).
 *
 * Versions (kernel_version("conv2d"); 0 = 2, or 3 in bf16 precision: kernel_prefer_tensor_cores):
 *   1  naive direct: one thread per output element in each of forward, dgrad, wgrad and db,
 *      plain loops in the CPU order. The reference port; slow.
 *   2  implicit GEMM on the shared tiled main loop of gemm.cuh (128x128 block tile,
 *      8x8 per thread, k-tiles of 8, no im2col buffer anywhere):
 *      forward  M = N*P*Q, N = K, k = (r, s, c-chunk of 8): A gathered from x through
 *               the conv index map (zero padding by bounds checks), B = w rows.
 *      dgrad    per parity class of the input pixel (st*st classes): the taps that can
 *               touch a pixel of class (a, b) are r = a + st*i, s = b + st*j with
 *               p = (h+pad-r)/st exact, so a class is a dense GEMM with
 *               M = pixels of the class, N = C, k = (tap, k-chunk of 8). One launch per
 *               class; stride 2 does a quarter of the taps of the naive gather.
 *      wgrad    M = K, N = R*S*C, k = N*P*Q (npq, tiles of 8), split-K over npq through the
 *               scratch buffer with a fixed-order second pass (deterministic, no atomics).
 *      db       column sums of dy (N*P*Q x K), two fixed-order passes (gemm.cu).
 *   Any C, K (tiles padded with zeros), odd H/W, batch 1, stride 1/2, any pad.
 *   float4 global loads when C (A side) or K (dy side) is a multiple of 4.
 *   3  forward, dgrad and wgrad on the bf16 tensor cores (mma.sync, kernels/cuda/conv2d_tc.cu:
 *      implicit GEMMs on linear v3's main loop, dgrad per stride class as above, wgrad
 *      split-K with a fixed-order reduction); db is version 2's.
 * Accuracy: fp32 FMA throughout; differs from the CPU only by summation order.
 */
#include <math.h>

extern "C" {
#include "core/cuda_check.h"
#include "kernels/conv2d.h"
#include "kernels/versions.h"
}
#include "kernels/cuda/gemm.cuh"

struct ConvDims {
    int n, h, w, c;      // input
    int k, r, s;         // filter
    int p, q;            // output
    int stride, pad;
};

static ConvDims conv_dims(const Tensor *x, const Tensor *w, const Tensor *y, int stride, int pad) {
    ConvDims d;
    d.n = x->shape[0], d.h = x->shape[1], d.w = x->shape[2], d.c = x->shape[3];
    d.k = w->shape[0], d.r = w->shape[1], d.s = w->shape[2];
    d.p = y->shape[1], d.q = y->shape[2];
    d.stride = stride, d.pad = pad;
    return d;
}

static int grid1d(long n) {
    long g = (n + 255) / 256;
    return (int)(g < 1 ? 1 : g);
}

// ---------------------------------------------------------------------------------------
// Version 1: naive direct kernels (one thread per output element)

__global__ void conv_fwd_naive(const float *__restrict__ x, const float *__restrict__ w,
                               const float *__restrict__ b, const float *__restrict__ res, float *__restrict__ y,
                               ConvDims d) {
    const long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    const long total = (long)d.n * d.p * d.q * d.k;
    if (idx >= total) return;
    const int k = (int)(idx % d.k);
    const long pix = idx / d.k;
    const int q = (int)(pix % d.q), p = (int)(pix / d.q % d.p), n = (int)(pix / ((long)d.p * d.q));
    float acc = b ? b[k] : 0.0f;
    for (int r = 0; r < d.r; r++) {
        const int ih = p * d.stride - d.pad + r;
        if (ih < 0 || ih >= d.h) continue;
        for (int s = 0; s < d.s; s++) {
            const int iw = q * d.stride - d.pad + s;
            if (iw < 0 || iw >= d.w) continue;
            const float *xp = x + (((long)n * d.h + ih) * d.w + iw) * d.c;
            const float *wp = w + (((long)k * d.r + r) * d.s + s) * d.c;
            for (int c = 0; c < d.c; c++) acc = fmaf(xp[c], wp[c], acc);
        }
    }
    y[idx] = res ? acc + res[idx] : acc;
}

__global__ void conv_dgrad_naive(const float *__restrict__ dy, const float *__restrict__ w,
                                 float *__restrict__ dx, ConvDims d) {
    const long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    const long total = (long)d.n * d.h * d.w * d.c;
    if (idx >= total) return;
    const int c = (int)(idx % d.c);
    const long pix = idx / d.c;
    const int iw = (int)(pix % d.w), ih = (int)(pix / d.w % d.h), n = (int)(pix / ((long)d.h * d.w));
    float acc = 0.0f;
    for (int r = 0; r < d.r; r++) {
        const int tp = ih + d.pad - r;
        if (tp < 0 || tp % d.stride) continue;
        const int p = tp / d.stride;
        if (p >= d.p) continue;
        for (int s = 0; s < d.s; s++) {
            const int tq = iw + d.pad - s;
            if (tq < 0 || tq % d.stride) continue;
            const int q = tq / d.stride;
            if (q >= d.q) continue;
            const float *g = dy + (((long)n * d.p + p) * d.q + q) * d.k;
            for (int k = 0; k < d.k; k++) acc = fmaf(g[k], w[(((long)k * d.r + r) * d.s + s) * d.c + c], acc);
        }
    }
    dx[idx] += acc;
}

__global__ void conv_wgrad_naive(const float *__restrict__ x, const float *__restrict__ dy,
                                 float *__restrict__ dw, ConvDims d) {
    const long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    const long total = (long)d.k * d.r * d.s * d.c;
    if (idx >= total) return;
    const int c = (int)(idx % d.c);
    const int s = (int)(idx / d.c % d.s), r = (int)(idx / ((long)d.c * d.s) % d.r);
    const int k = (int)(idx / ((long)d.c * d.s * d.r));
    float acc = 0.0f;
    for (int n = 0; n < d.n; n++)
        for (int p = 0; p < d.p; p++) {
            const int ih = p * d.stride - d.pad + r;
            if (ih < 0 || ih >= d.h) continue;
            for (int q = 0; q < d.q; q++) {
                const int iw = q * d.stride - d.pad + s;
                if (iw < 0 || iw >= d.w) continue;
                acc = fmaf(dy[(((long)n * d.p + p) * d.q + q) * d.k + k],
                           x[(((long)n * d.h + ih) * d.w + iw) * d.c + c], acc);
            }
        }
    dw[idx] += acc;
}

__global__ void conv_dbias_naive(const float *__restrict__ dy, float *__restrict__ db, long rows, int k_out) {
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= k_out) return;
    float acc = 0.0f;
    for (long i = 0; i < rows; i++) acc += dy[i * k_out + k];
    db[k] += acc;
}

// ---------------------------------------------------------------------------------------
// Version 2: implicit-GEMM loaders (see gemm.cuh for the contract)

/* Forward A: row m = (n, p, q) pixel of y; k-tile kt = (rs = kt / cchunks, c-chunk). */
struct ConvFwdA {
    static constexpr bool KCONTIG = true;
    const float *x;
    ConvDims d;
    int M, cchunks;
    bool vec;  // C % 4 == 0
    struct State {
        const float *img;  // x + n*H*W*C + this thread's channel offset in the chunk
        int ih0, iw0;
        bool ok;
    };
    __device__ State init(int row0) const {
        const int m = row0 + (threadIdx.x >> 1);
        State st;
        st.ok = m < M;
        const int mm = st.ok ? m : 0;
        const int pq = d.p * d.q;
        const int n = mm / pq, rem = mm - n * pq, p = rem / d.q, q = rem - p * d.q;
        st.img = x + (long)n * d.h * d.w * d.c + (threadIdx.x & 1) * 4;
        st.ih0 = p * d.stride - d.pad;
        st.iw0 = q * d.stride - d.pad;
        return st;
    }
    __device__ void load(const State &st, int kt, float v[4]) const {
        const int rs = kt / cchunks, c0 = (kt - rs * cchunks) * GEMM_BK;
        const int r = rs / d.s, s = rs - r * d.s;
        const int ih = st.ih0 + r, iw = st.iw0 + s;
        const int c = c0 + (threadIdx.x & 1) * 4;
        const bool ok = st.ok && (unsigned)ih < (unsigned)d.h && (unsigned)iw < (unsigned)d.w;
        if (!ok) {
            v[0] = v[1] = v[2] = v[3] = 0.0f;
            return;
        }
        const float *src = st.img + ((long)ih * d.w + iw) * d.c + c0;
        if (vec && c + 3 < d.c) {
            const float4 t = __ldg(reinterpret_cast<const float4 *>(src));
            v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = c + j < d.c ? __ldg(src + j) : 0.0f;
        }
    }
};

/* Forward B: element (k-tile (rs, c-chunk), n = output channel) = w[n, rs, c]. */
struct ConvFwdB {
    static constexpr bool KCONTIG = true;
    const float *w;
    int kout, rsc, c, cchunks;
    bool vec;  // C % 4 == 0
    struct State {
        const float *row;
        bool ok;
    };
    __device__ State init(int row0) const {
        const int n = row0 + (threadIdx.x >> 1);
        State st;
        st.ok = n < kout;
        st.row = w + (long)(st.ok ? n : 0) * rsc + (threadIdx.x & 1) * 4;
        return st;
    }
    __device__ void load(const State &st, int kt, float v[4]) const {
        const int rs = kt / cchunks, c0 = (kt - rs * cchunks) * GEMM_BK;
        const int cc = c0 + (threadIdx.x & 1) * 4;
        if (!st.ok) {
            v[0] = v[1] = v[2] = v[3] = 0.0f;
            return;
        }
        const float *src = st.row + (long)rs * c + c0;
        if (vec && cc + 3 < c) {
            const float4 t = __ldg(reinterpret_cast<const float4 *>(src));
            v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = cc + j < c ? __ldg(src + j) : 0.0f;
        }
    }
};

/* One parity class of input pixels for dgrad: rows h = h_first + st*i (i < hc), and the
 * taps r = a + st*ri (ri < nr) are exactly those with (h + pad - r) % st == 0; the
 * output row they hit is p = hp - ri with hp = (h + pad - a) / st. Same for columns. */
struct DgradClass {
    int a, b;              // tap parities (r % st, s % st)
    int h_first, w_first;  // first input row/column of the class
    int hc, wc;            // rows/columns in the class
    int nr, ns;            // taps per direction
};

/* Dgrad A: row m = (n, i, j) pixel of the class; k-tile kt = (tap, k-chunk) over dy channels. */
struct DgradA {
    static constexpr bool KCONTIG = true;
    const float *dy;
    ConvDims d;
    DgradClass cl;
    int M, kchunks;
    bool vec;  // K % 4 == 0
    struct State {
        const float *img;  // dy + n*P*Q*K + this thread's channel offset
        int hp, wq;
        bool ok;
    };
    __device__ State init(int row0) const {
        const int m = row0 + (threadIdx.x >> 1);
        State st;
        st.ok = m < M;
        const int mm = st.ok ? m : 0;
        const int per = cl.hc * cl.wc;
        const int n = mm / per, rem = mm - n * per, i = rem / cl.wc, j = rem - i * cl.wc;
        const int h = cl.h_first + d.stride * i, w = cl.w_first + d.stride * j;
        st.hp = (h + d.pad - cl.a) / d.stride;
        st.wq = (w + d.pad - cl.b) / d.stride;
        st.img = dy + (long)n * d.p * d.q * d.k + (threadIdx.x & 1) * 4;
        return st;
    }
    __device__ void load(const State &st, int kt, float v[4]) const {
        const int tap = kt / kchunks, k0 = (kt - tap * kchunks) * GEMM_BK;
        const int ri = tap / cl.ns, si = tap - ri * cl.ns;
        const int p = st.hp - ri, q = st.wq - si;
        const int kk = k0 + (threadIdx.x & 1) * 4;
        const bool ok = st.ok && (unsigned)p < (unsigned)d.p && (unsigned)q < (unsigned)d.q;
        if (!ok) {
            v[0] = v[1] = v[2] = v[3] = 0.0f;
            return;
        }
        const float *src = st.img + ((long)p * d.q + q) * d.k + k0;
        if (vec && kk + 3 < d.k) {
            const float4 t = __ldg(reinterpret_cast<const float4 *>(src));
            v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = kk + j < d.k ? __ldg(src + j) : 0.0f;
        }
    }
};

/* Dgrad B: element (k-tile (tap, k-chunk) + k, n = input channel c) = w[k, r, s, c]. */
struct DgradB {
    static constexpr bool KCONTIG = false;
    const float *w;
    ConvDims d;
    DgradClass cl;
    int kchunks;
    bool vec;  // C % 4 == 0
    struct State {
        int c;
    };
    __device__ State init(int row0) const {
        State st;
        st.c = row0 + (threadIdx.x & 31) * 4;
        return st;
    }
    __device__ void load(const State &st, int kt, float v[4]) const {
        const int tap = kt / kchunks, k0 = (kt - tap * kchunks) * GEMM_BK;
        const int ri = tap / cl.ns, si = tap - ri * cl.ns;
        const int r = cl.a + d.stride * ri, s = cl.b + d.stride * si;
        const int k = k0 + (threadIdx.x >> 5);
        if (k >= d.k) {
            v[0] = v[1] = v[2] = v[3] = 0.0f;
            return;
        }
        const float *src = w + (((long)k * d.r + r) * d.s + s) * d.c + st.c;
        if (vec && st.c + 3 < d.c) {
            const float4 t = __ldg(reinterpret_cast<const float4 *>(src));
            v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
        } else {
#pragma unroll
            for (int j = 0; j < 4; j++) v[j] = st.c + j < d.c ? __ldg(src + j) : 0.0f;
        }
    }
};

/* Dgrad epilogue: row m of the class -> its dx pixel; dx[pixel, c] += acc. */
struct EpiDgrad {
    float *dx;
    ConvDims d;
    DgradClass cl;
    __device__ long row(int m) const {
        const int per = cl.hc * cl.wc;
        const int n = m / per, rem = m - n * per, i = rem / cl.wc, j = rem - i * cl.wc;
        const int h = cl.h_first + d.stride * i, w = cl.w_first + d.stride * j;
        return (((long)n * d.h + h) * d.w + w) * d.c;
    }
    __device__ void store(long r, int n, float acc) const { dx[r + n] += acc; }
};

/* Wgrad B: element (k = npq, n = column rsc) = x[n, p*st-pad+r, q*st-pad+s, c]. */
struct WgradB {
    static constexpr bool KCONTIG = false;
    const float *x;
    ConvDims d;
    int npq, rsc;
    bool vec;  // C % 4 == 0: a thread's 4 columns share (r, s)
    struct State {
        int r[4], s[4], c[4];
        bool ok[4];
    };
    __device__ State init(int row0) const {
        State st;
        const int col0 = row0 + (threadIdx.x & 31) * 4;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int col = col0 + j;
            st.ok[j] = col < rsc;
            const int cc = st.ok[j] ? col : 0;
            const int rs = cc / d.c;
            st.c[j] = cc - rs * d.c;
            st.r[j] = rs / d.s;
            st.s[j] = rs - st.r[j] * d.s;
        }
        return st;
    }
    __device__ void load(const State &st, int kt, float v[4]) const {
        const int i = kt * GEMM_BK + (threadIdx.x >> 5);
        v[0] = v[1] = v[2] = v[3] = 0.0f;
        if (i >= npq) return;
        const int pq = d.p * d.q;
        const int n = i / pq, rem = i - n * pq, p = rem / d.q, q = rem - p * d.q;
        const int ih0 = p * d.stride - d.pad, iw0 = q * d.stride - d.pad;
        const float *img = x + (long)n * d.h * d.w * d.c;
        if (vec && st.ok[3]) {
            const int ih = ih0 + st.r[0], iw = iw0 + st.s[0];
            if ((unsigned)ih < (unsigned)d.h && (unsigned)iw < (unsigned)d.w) {
                const float4 t = __ldg(reinterpret_cast<const float4 *>(img + ((long)ih * d.w + iw) * d.c + st.c[0]));
                v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
            }
            return;
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int ih = ih0 + st.r[j], iw = iw0 + st.s[j];
            if (st.ok[j] && (unsigned)ih < (unsigned)d.h && (unsigned)iw < (unsigned)d.w)
                v[j] = __ldg(img + ((long)ih * d.w + iw) * d.c + st.c[j]);
        }
    }
};

// ---------------------------------------------------------------------------------------
// Launchers

static int conv_version(void) {
    const int v = kernel_version("conv2d");
    if (v == 0) return kernel_prefers_tensor_cores() ? 3 : 2;
    if (v >= 1 && v <= 3) return v;
    return ldm_error("conv2d", "no CUDA version %d of conv2d (have 1 = naive, 2 = implicit GEMM, 3 = tensor cores)",
                     v);
}

static int conv_forward_v2(const float *x, const float *w, const float *b, const float *res, float *y,
                           const ConvDims &d) {
    const int M = d.n * d.p * d.q, cchunks = (d.c + GEMM_BK - 1) / GEMM_BK;
    const bool vec = d.c % 4 == 0 && gemm_aligned16(x) && gemm_aligned16(w);
    const ConvFwdA la = {x, d, M, cchunks, vec};
    const ConvFwdB lb = {w, d.k, d.r * d.s * d.c, d.c, cchunks, vec};
    const EpiRowMajor epi = {y, b, nullptr, 0, d.k, false, res};
    return gemm_launch("conv2d_forward_igemm", M, d.k, d.r * d.s * cchunks, 1, d.r * d.s * cchunks, la, lb, epi);
}

static int conv_dgrad_v2(const float *dy, const float *w, float *dx, const ConvDims &d) {
    const int kchunks = (d.k + GEMM_BK - 1) / GEMM_BK;
    const bool vec_k = d.k % 4 == 0 && gemm_aligned16(dy);
    const bool vec_c = d.c % 4 == 0 && gemm_aligned16(w);
    for (int a = 0; a < d.stride; a++)
        for (int b = 0; b < d.stride; b++) {
            DgradClass cl;
            cl.a = a, cl.b = b;
            cl.h_first = ((a - d.pad) % d.stride + d.stride) % d.stride;
            cl.w_first = ((b - d.pad) % d.stride + d.stride) % d.stride;
            cl.hc = cl.h_first < d.h ? (d.h - cl.h_first + d.stride - 1) / d.stride : 0;
            cl.wc = cl.w_first < d.w ? (d.w - cl.w_first + d.stride - 1) / d.stride : 0;
            cl.nr = a < d.r ? (d.r - a + d.stride - 1) / d.stride : 0;
            cl.ns = b < d.s ? (d.s - b + d.stride - 1) / d.stride : 0;
            const int M = d.n * cl.hc * cl.wc, ktiles = cl.nr * cl.ns * kchunks;
            if (M == 0 || ktiles == 0) continue;  // no pixel, or no tap reaches this class
            const DgradA la = {dy, d, cl, M, kchunks, vec_k};
            const DgradB lb = {w, d, cl, kchunks, vec_c};
            const EpiDgrad epi = {dx, d, cl};
            if (gemm_launch("conv2d_dgrad_igemm", M, d.c, ktiles, 1, ktiles, la, lb, epi)) return -1;
        }
    return 0;
}

static int conv_wgrad_v2(const float *x, const float *dy, float *dw, const ConvDims &d) {
    const int npq = d.n * d.p * d.q, rsc = d.r * d.s * d.c;
    const MatMN la = {dy, d.k, d.k, npq, d.k % 4 == 0 && gemm_aligned16(dy)};
    const WgradB lb = {x, d, npq, rsc, d.c % 4 == 0 && gemm_aligned16(x)};
    return gemm_accumulate_splitk("conv2d_wgrad_igemm", d.k, rsc, (npq + GEMM_BK - 1) / GEMM_BK, la, lb, dw);
}

extern "C" int conv2d_forward_cuda(const Tensor *x, const Tensor *w, const Tensor *b, const Tensor *res, int stride,
                                   int pad, Tensor *y) {
    const int v = conv_version();
    if (v < 0) return -1;
    const ConvDims d = conv_dims(x, w, y, stride, pad);
    const float *bias = b ? b->data : nullptr, *r = res ? res->data : nullptr;
    if (v == 1) {
        LDM_LAUNCH(conv_fwd_naive, grid1d((long)y->numel), 256)(x->data, w->data, bias, r, y->data, d);
        CUDA_LAUNCH_CHECK("conv2d_forward_naive");
        return 0;
    }
    if (v == 3) return conv2d_forward_tc_cuda(x, w, b, res, stride, pad, y);
    return conv_forward_v2(x->data, w->data, bias, r, y->data, d);
}

extern "C" int conv2d_backward_cuda(const Tensor *x, const Tensor *w, const Tensor *dy, int stride, int pad,
                                    Tensor *dx, Tensor *dw, Tensor *db) {
    const int v = conv_version();
    if (v < 0) return -1;
    const ConvDims d = conv_dims(x, w, dy, stride, pad);
    const long npq = (long)d.n * d.p * d.q;
    if (v == 1) {
        if (dx) {
            LDM_LAUNCH(conv_dgrad_naive, grid1d((long)dx->numel), 256)(dy->data, w->data, dx->data, d);
            CUDA_LAUNCH_CHECK("conv2d_dgrad_naive");
        }
        if (dw) {
            LDM_LAUNCH(conv_wgrad_naive, grid1d((long)dw->numel), 256)(x->data, dy->data, dw->data, d);
            CUDA_LAUNCH_CHECK("conv2d_wgrad_naive");
        }
        if (db) {
            LDM_LAUNCH(conv_dbias_naive, grid1d(d.k), 256)(dy->data, db->data, npq, d.k);
            CUDA_LAUNCH_CHECK("conv2d_dbias_naive");
        }
        return 0;
    }
    if (v == 3) {
        if (conv2d_backward_tc_cuda(x, w, dy, stride, pad, dx, dw)) return -1;
    } else {
        if (dx && conv_dgrad_v2(dy->data, w->data, dx->data, d)) return -1;
        if (dw && conv_wgrad_v2(x->data, dy->data, dw->data, d)) return -1;
    }
    if (db && ldm_colsum_accumulate(dy->data, npq, d.k, db->data)) return -1;
    return 0;
}
