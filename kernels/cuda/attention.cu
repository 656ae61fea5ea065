/* kernels/cuda/attention.cu — multi-head attention on the GPU (math in kernels/attention.h).
 *   q (B, Lq, C), k, v (B, Lk, C), o (B, Lq, C), lse (B, heads, Lq); head h = channels
 *   [h*D, (h+1)*D), read in place with row stride C (no transpose).
 *   S = scale Q K^T, P = softmax(S), O = P V, lse = log rowsum exp S
 *   backward: Di = rowsum(dO * O); dS = P (dO V^T - Di); dQ += scale dS K;
 *             dK += scale dS^T Q; dV += P^T dO        (P recomputed from lse)
 * FLOP per (b, head): forward 4*Lq*Lk*D (+ softmax); backward 8*Lq*Lk*D minimum, 14*Lq*Lk*D
 * here (S and dP are recomputed by both backward kernels; the price of no atomics).
 * Bytes (minimum): forward 4*(2*B*Lq*C + 2*B*Lk*C) + lse; backward about twice that.
 * The Lq x Lk matrices never reach global memory in either version.
 *
 * Versions (kernel_version("attention"); 0 = 2 when D <= 128 (3 in bf16 precision:
 * kernel_prefer_tensor_cores), else 1):
 *   1  naive: forward and dQ use one block (128 threads) per query row and (b, head), the
 *      row's Lk scores in shared memory (threads over keys, then over d); dK/dV one block
 *      per key row, that key's Lq probabilities and dS in shared memory. Any D.
 *   2  flash attention, fp32 on CUDA cores, 256 threads as 16 x 16 (tx, ty):
 *      forward  block = BQ query rows of one (b, head); K/V tiles of BKV rows streamed
 *               through shared memory; thread owns S[ty+16i][tx+16j] (i < BQ/16,
 *               j < BKV/16) and O[ty+16i][D/16 columns picked by tx]; online softmax in
 *               base 2 (Q pre-scaled by scale*log2 e), row max/sum over the 16 threads of
 *               a row by shuffles; P through shared memory into P V. Writes O and lse.
 *      dK/dV    block = BKV key rows, K and V resident in shared memory; loops over all
 *               query tiles: S and dP recomputed, P = exp2(S - lse2), dS = P (dP - Di)
 *               stored transposed, dV += P^T dO and dK += dS^T Q accumulated in
 *               registers (thread owns key rows ty+16i, D/16 columns).
 *      dQ       block = BQ query rows; loops over all key tiles; dQ += dS K in registers.
 *      Di       one warp per (b, row, head), shuffle sum; written to the scratch buffer.
 *      Every sum has a fixed order: deterministic, no atomics.
 *      Head dims: templates DP = 16, 32, 64, 128; a smaller D runs in the next DP with
 *      zero padding (so D = 4, 5, 8, 48, ... work). Tiles BQ x BKV = 64 x 64, except
 *      D > 64: forward 64 x 32, backward 32 x 32; dK/dV streams 32 query rows from D = 64
 *      up. Shared memory (dynamic, opt-in > 48 KB): forward 35-80 KB, dK/dV up to 76 KB,
 *      dQ up to 91 KB. __launch_bounds__(256, 2):
 *      at most 128 registers so two blocks fit an SM (ptxas: no spills; dK/dV at D = 64 with
 *      64 query rows spilled 24 bytes, hence its 32).
 *      float4 global loads when C and D are multiples of 4.
 *   3  flash attention on bf16 tensor cores (mma.sync), FlashAttention-2's structure:
 *      kernels/cuda/attention_tc.cu. Same lse, so any backward version takes any forward's.
 *      D <= 128.
 * Accuracy: fp32 with exp2f/logf; differs from the CPU by summation order and the online
 * rescaling (relative error ~1e-6 per element).
 */
#include <math.h>

extern "C" {
#include "core/cuda_check.h"
#include "kernels/attention.h"
#include "kernels/versions.h"
}
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/gemm.cuh"

#define ATT_THREADS 256
#define ATT_NAIVE_THREADS 128
#define ATT_LOG2E 1.4426950408889634f
#define ATT_LN2 0.6931471805599453f

struct AttnDims {
    int b, lq, lk, c, heads, d;
};

// ---------------------------------------------------------------------------------------
// Version 1: naive kernels

/* Deterministic block reduction over ATT_NAIVE_THREADS (4 warps): max or sum. */
__device__ float att_block_reduce(float v, bool is_max, float *red) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const float o = __shfl_xor_sync(0xffffffffu, v, off);
        v = is_max ? fmaxf(v, o) : v + o;
    }
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float r = red[0];
    for (int w = 1; w < ATT_NAIVE_THREADS / 32; w++) r = is_max ? fmaxf(r, red[w]) : r + red[w];
    __syncthreads();
    return r;
}

__device__ float att_dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s = fmaf(a[i], b[i], s);
    return s;
}

/* grid (Lq, B*heads); dynamic shared memory: Lk scores. */
__global__ void attn_naive_fwd(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                               float *__restrict__ o, float *__restrict__ lse, AttnDims d, float scale) {
    LDM_DYNAMIC_SHARED(float4, att_smem4);
    float *sc = reinterpret_cast<float *>(att_smem4);
    __shared__ float red[32];
    const int i = blockIdx.x, bh = blockIdx.y, b = bh / d.heads, h = bh - b * d.heads;
    const long hoff = (long)h * d.d;
    const float *qi = q + ((long)b * d.lq + i) * d.c + hoff;
    const float *kb = k + (long)b * d.lk * d.c + hoff, *vb = v + (long)b * d.lk * d.c + hoff;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < d.lk; j += blockDim.x) {
        const float s = scale * att_dot(qi, kb + (long)j * d.c, d.d);
        sc[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = att_block_reduce(mx, true, red);
    float sum = 0.0f;
    for (int j = threadIdx.x; j < d.lk; j += blockDim.x) {
        const float e = expf(sc[j] - mx);
        sc[j] = e;
        sum += e;
    }
    sum = att_block_reduce(sum, false, red);  // its barriers also publish sc[]
    float *oi = o + ((long)b * d.lq + i) * d.c + hoff;
    for (int c = threadIdx.x; c < d.d; c += blockDim.x) {
        float a = 0.0f;
        for (int j = 0; j < d.lk; j++) a = fmaf(sc[j], vb[(long)j * d.c + c], a);
        oi[c] = a / sum;
    }
    if (threadIdx.x == 0) lse[(long)bh * d.lq + i] = mx + logf(sum);
}

/* grid (Lq, B*heads); dynamic shared memory: Lk values of dS. */
__global__ void attn_naive_dq(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                              const float *__restrict__ lse, const float *__restrict__ di,
                              const float *__restrict__ dout, float *__restrict__ dq, AttnDims d, float scale) {
    LDM_DYNAMIC_SHARED(float4, att_smem4);
    float *ds = reinterpret_cast<float *>(att_smem4);
    const int i = blockIdx.x, bh = blockIdx.y, b = bh / d.heads, h = bh - b * d.heads;
    const long hoff = (long)h * d.d, row = ((long)b * d.lq + i) * d.c + hoff;
    const float *kb = k + (long)b * d.lk * d.c + hoff, *vb = v + (long)b * d.lk * d.c + hoff;
    const float li = lse[(long)bh * d.lq + i], dii = di[(long)bh * d.lq + i];
    for (int j = threadIdx.x; j < d.lk; j += blockDim.x) {
        const float p = expf(scale * att_dot(q + row, kb + (long)j * d.c, d.d) - li);
        ds[j] = p * (att_dot(dout + row, vb + (long)j * d.c, d.d) - dii);
    }
    __syncthreads();
    for (int c = threadIdx.x; c < d.d; c += blockDim.x) {
        float a = 0.0f;
        for (int j = 0; j < d.lk; j++) a = fmaf(ds[j], kb[(long)j * d.c + c], a);
        dq[row + c] += scale * a;
    }
}

/* grid (Lk, B*heads); dynamic shared memory: Lq probabilities + Lq values of dS. */
__global__ void attn_naive_dkdv(const float *__restrict__ q, const float *__restrict__ k,
                                const float *__restrict__ v, const float *__restrict__ lse,
                                const float *__restrict__ di, const float *__restrict__ dout,
                                float *__restrict__ dk, float *__restrict__ dv, AttnDims d, float scale) {
    LDM_DYNAMIC_SHARED(float4, att_smem4);
    float *pr = reinterpret_cast<float *>(att_smem4), *ds = pr + d.lq;
    const int j = blockIdx.x, bh = blockIdx.y, b = bh / d.heads, h = bh - b * d.heads;
    const long hoff = (long)h * d.d, krow = ((long)b * d.lk + j) * d.c + hoff;
    const float *qb = q + (long)b * d.lq * d.c + hoff, *gb = dout + (long)b * d.lq * d.c + hoff;
    for (int i = threadIdx.x; i < d.lq; i += blockDim.x) {
        const float p = expf(scale * att_dot(qb + (long)i * d.c, k + krow, d.d) - lse[(long)bh * d.lq + i]);
        pr[i] = p;
        ds[i] = p * (att_dot(gb + (long)i * d.c, v + krow, d.d) - di[(long)bh * d.lq + i]);
    }
    __syncthreads();
    for (int c = threadIdx.x; c < d.d; c += blockDim.x) {
        float av = 0.0f, ak = 0.0f;
        for (int i = 0; i < d.lq; i++) {
            av = fmaf(pr[i], gb[(long)i * d.c + c], av);
            ak = fmaf(ds[i], qb[(long)i * d.c + c], ak);
        }
        if (dv) dv[krow + c] += av;
        if (dk) dk[krow + c] += scale * ak;
    }
}

/* Di[b, h, i] = sum_d dO[b, i, h*D + d] O[b, i, h*D + d]; one warp per (b, i, h). */
__global__ void attn_rowdot(const float *__restrict__ o, const float *__restrict__ dout, float *__restrict__ di,
                            AttnDims d) {
    const long w = blockIdx.x * (long)(blockDim.x >> 5) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (w >= (long)d.b * d.lq * d.heads) return;
    const int h = (int)(w % d.heads);
    const long bi = w / d.heads;  // b*Lq + i
    const long base = bi * d.c + (long)h * d.d;
    float s = 0.0f;
    for (int c = lane; c < d.d; c += 32) s = fmaf(dout[base + c], o[base + c], s);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    const long b = bi / d.lq, i = bi - b * d.lq;
    if (lane == 0) di[(b * d.heads + h) * d.lq + i] = s;
}

// ---------------------------------------------------------------------------------------
// Version 2: flash attention — shared-memory tile helpers

/* ROWS x DP tile of a token matrix into shared memory (leading dimension DP + 4):
 * rows [0, nvalid) from src (row stride c), columns [0, D); zeros elsewhere; times mul. */
template <int DP, int ROWS>
__device__ void att_load_tile(float *dst, const float *src, int nvalid, int c, int dd, bool vec, float mul) {
    constexpr int LD = DP + 4;
    if (vec) {
        constexpr int C4 = DP / 4;
        for (int e = threadIdx.x; e < ROWS * C4; e += ATT_THREADS) {
            const int r = e / C4, col = (e - r * C4) * 4;
            float4 t = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (r < nvalid && col < dd) {
                t = __ldg(reinterpret_cast<const float4 *>(src + (long)r * c + col));
                t.x *= mul, t.y *= mul, t.z *= mul, t.w *= mul;
            }
            *reinterpret_cast<float4 *>(dst + r * LD + col) = t;
        }
    } else {
        for (int e = threadIdx.x; e < ROWS * DP; e += ATT_THREADS) {
            const int r = e / DP, col = e - r * DP;
            dst[r * LD + col] = (r < nvalid && col < dd) ? __ldg(src + (long)r * c + col) * mul : 0.0f;
        }
    }
}

/* s[i][j] = sum_d A[ty+16i][d] B[tx+16j][d] over DP (both tiles with leading dim DP+4). */
template <int DP, int RI, int RJ>
__device__ __forceinline__ void att_tile_dot(const float *A, const float *B, float s[RI][RJ]) {
    constexpr int LD = DP + 4;
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
#pragma unroll
    for (int i = 0; i < RI; i++)
#pragma unroll
        for (int j = 0; j < RJ; j++) s[i][j] = 0.0f;
#pragma unroll 2
    for (int dd = 0; dd < DP; dd += 4) {
        float4 a[RI], b[RJ];
#pragma unroll
        for (int i = 0; i < RI; i++) a[i] = *reinterpret_cast<const float4 *>(A + (ty + 16 * i) * LD + dd);
#pragma unroll
        for (int j = 0; j < RJ; j++) b[j] = *reinterpret_cast<const float4 *>(B + (tx + 16 * j) * LD + dd);
#pragma unroll
        for (int i = 0; i < RI; i++)
#pragma unroll
            for (int j = 0; j < RJ; j++) {
                float t = s[i][j];
                t = fmaf(a[i].x, b[j].x, t);
                t = fmaf(a[i].y, b[j].y, t);
                t = fmaf(a[i].z, b[j].z, t);
                s[i][j] = fmaf(a[i].w, b[j].w, t);
            }
    }
}

/* The DP/16 output columns of thread tx: col(u*W + w) = u*16*W + tx*W + w, W = min(4, DP/16)
 * (W consecutive floats per thread, 16 threads cover 16*W contiguous columns). */
template <int DP>
struct AttCols {
    static constexpr int NC = DP / 16;
    static constexpr int W = NC < 4 ? NC : 4;
    static __device__ __forceinline__ int col(int c) { return (c / W) * 16 * W + (threadIdx.x & 15) * W + c % W; }
};

/* acc[i][c] += sum_{kk < NK} P[ty+16i][kk] V[kk][col(c)]; P has leading dim PLD, V DP+4. */
template <int DP, int RI, int NK, int PLD>
__device__ __forceinline__ void att_tile_pv(const float *P, const float *V, float acc[RI][DP / 16]) {
    constexpr int LD = DP + 4, NC = DP / 16, W = AttCols<DP>::W;
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
#pragma unroll 1
    for (int kk = 0; kk < NK; kk += 4) {
        float4 p4[RI];
#pragma unroll
        for (int i = 0; i < RI; i++) p4[i] = *reinterpret_cast<const float4 *>(P + (ty + 16 * i) * PLD + kk);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const float *vr = V + (kk + e) * LD + tx * W;
            float vv[NC];
#pragma unroll
            for (int u = 0; u < NC / W; u++) {
                if constexpr (W == 4) {
                    const float4 t = *reinterpret_cast<const float4 *>(vr + u * 16 * W);
                    vv[u * 4] = t.x, vv[u * 4 + 1] = t.y, vv[u * 4 + 2] = t.z, vv[u * 4 + 3] = t.w;
                } else if constexpr (W == 2) {
                    const float2 t = *reinterpret_cast<const float2 *>(vr + u * 16 * W);
                    vv[u * 2] = t.x, vv[u * 2 + 1] = t.y;
                } else {
                    vv[u] = vr[u * 16];
                }
            }
#pragma unroll
            for (int i = 0; i < RI; i++) {
                const float pe = e == 0 ? p4[i].x : e == 1 ? p4[i].y : e == 2 ? p4[i].z : p4[i].w;
#pragma unroll
                for (int c = 0; c < NC; c++) acc[i][c] = fmaf(pe, vv[c], acc[i][c]);
            }
        }
    }
}

/* Reduce over the 16 threads of one score row (lanes 0-15 or 16-31 of a warp). */
__device__ __forceinline__ float att_row_max(float v) {
#pragma unroll
    for (int off = 8; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}
__device__ __forceinline__ float att_row_sum(float v) {
#pragma unroll
    for (int off = 8; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

/* Tile shapes and shared-memory layouts (floats) of the three flash kernels. */
template <int DP>
struct AttCfg {
    static constexpr int LD = DP + 4;
    static constexpr int FWD_BQ = 64, FWD_BKV = DP > 64 ? 32 : 64;
    static constexpr int BWD_BQ = DP > 64 ? 32 : 64, BWD_BKV = DP > 64 ? 32 : 64;
    // dK/dV streams query tiles of 32 rows from D = 64 up: at 64 its 64 x 64 tile needed more
    // than the 128 registers two blocks per SM allow (24 bytes spilled)
    static constexpr int DKDV_BQ = DP >= 64 ? 32 : BWD_BQ;
    // forward: Q, K, V, P
    static constexpr int FWD_SMEM = (FWD_BQ + 2 * FWD_BKV) * LD + FWD_BQ * (FWD_BKV + 16);
    // dK/dV: K, V, Q, dO, P^T, dS^T, lse2, Di
    static constexpr int DKDV_SMEM = (2 * BWD_BKV + 2 * DKDV_BQ) * LD + 2 * BWD_BKV * (DKDV_BQ + 4) + 2 * DKDV_BQ;
    // dQ: Q, dO, K, V, dS, lse2, Di
    static constexpr int DQ_SMEM = (2 * BWD_BQ + 2 * BWD_BKV) * LD + BWD_BQ * (BWD_BKV + 16) + 2 * BWD_BQ;
};

// ---------------------------------------------------------------------------------------
// Version 2: flash kernels

/* grid (ceil(Lq/BQ), B*heads). sl2 = scale * log2(e). */
template <int DP, int BQ, int BKV>
__global__ void __launch_bounds__(ATT_THREADS, 2)
    attn_flash_fwd(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                   float *__restrict__ o, float *__restrict__ lse, AttnDims d, float sl2, bool vec) {
    constexpr int LD = DP + 4, PLD = BKV + 16, RI = BQ / 16, RJ = BKV / 16, NC = DP / 16;
    LDM_DYNAMIC_SHARED(float4, att_smem4);
    float *Qs = reinterpret_cast<float *>(att_smem4);  // (BQ, LD)
    float *Ks = Qs + BQ * LD;                          // (BKV, LD)
    float *Vs = Ks + BKV * LD;                         // (BKV, LD)
    float *Ps = Vs + BKV * LD;                         // (BQ, PLD)
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int bh = blockIdx.y, b = bh / d.heads, h = bh - b * d.heads, q0 = blockIdx.x * BQ;
    const long hoff = (long)h * d.d;
    const float *kb = k + (long)b * d.lk * d.c + hoff, *vb = v + (long)b * d.lk * d.c + hoff;
    att_load_tile<DP, BQ>(Qs, q + ((long)b * d.lq + q0) * d.c + hoff, min(BQ, d.lq - q0), d.c, d.d, vec, sl2);

    float m[RI], l[RI], acc[RI][NC];
#pragma unroll
    for (int i = 0; i < RI; i++) {
        m[i] = -INFINITY, l[i] = 0.0f;
#pragma unroll
        for (int c = 0; c < NC; c++) acc[i][c] = 0.0f;
    }
    for (int kv0 = 0; kv0 < d.lk; kv0 += BKV) {
        const int nkv = min(BKV, d.lk - kv0);
        __syncthreads();  // the previous tile's K, V, P are consumed (first pass: nothing)
        att_load_tile<DP, BKV>(Ks, kb + (long)kv0 * d.c, nkv, d.c, d.d, vec, 1.0f);
        att_load_tile<DP, BKV>(Vs, vb + (long)kv0 * d.c, nkv, d.c, d.d, vec, 1.0f);
        __syncthreads();
        float s[RI][RJ];
        att_tile_dot<DP, RI, RJ>(Qs, Ks, s);
#pragma unroll
        for (int i = 0; i < RI; i++) {
            float mx = -INFINITY;
#pragma unroll
            for (int j = 0; j < RJ; j++) {
                if (tx + 16 * j >= nkv) s[i][j] = -INFINITY;
                mx = fmaxf(mx, s[i][j]);
            }
            const float mnew = fmaxf(m[i], att_row_max(mx));  // finite: key kv0 is valid
            const float alpha = exp2f(m[i] - mnew);
            float rs = 0.0f;
#pragma unroll
            for (int j = 0; j < RJ; j++) {
                s[i][j] = exp2f(s[i][j] - mnew);
                rs += s[i][j];
            }
            l[i] = l[i] * alpha + att_row_sum(rs);
            m[i] = mnew;
#pragma unroll
            for (int c = 0; c < NC; c++) acc[i][c] *= alpha;
#pragma unroll
            for (int j = 0; j < RJ; j++) Ps[(ty + 16 * i) * PLD + tx + 16 * j] = s[i][j];
        }
        __syncthreads();
        att_tile_pv<DP, RI, BKV, PLD>(Ps, Vs, acc);
    }
#pragma unroll
    for (int i = 0; i < RI; i++) {
        const int row = q0 + ty + 16 * i;
        if (row >= d.lq) continue;
        const float inv = 1.0f / l[i];
        float *orow = o + ((long)b * d.lq + row) * d.c + hoff;
#pragma unroll
        for (int c = 0; c < NC; c++) {
            const int col = AttCols<DP>::col(c);
            if (col < d.d) orow[col] = acc[i][c] * inv;
        }
        if (tx == 0) lse[(long)bh * d.lq + row] = m[i] * ATT_LN2 + logf(l[i]);
    }
}

/* grid (ceil(Lk/BKV), B*heads). K is pre-scaled by sl2 in shared memory (it only enters S). */
template <int DP, int BQ, int BKV>
__global__ void __launch_bounds__(ATT_THREADS, 2)
    attn_flash_dkdv(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                    const float *__restrict__ lse, const float *__restrict__ di, const float *__restrict__ dout,
                    float *__restrict__ dk, float *__restrict__ dv, AttnDims d, float sl2, float scale, bool vec) {
    constexpr int LD = DP + 4, TLD = BQ + 4, RI = BQ / 16, RJ = BKV / 16, NC = DP / 16;
    LDM_DYNAMIC_SHARED(float4, att_smem4);
    float *Ks = reinterpret_cast<float *>(att_smem4);  // (BKV, LD)
    float *Vs = Ks + BKV * LD;                         // (BKV, LD)
    float *Qs = Vs + BKV * LD;                         // (BQ, LD)
    float *Gs = Qs + BQ * LD;                          // dO (BQ, LD)
    float *PT = Gs + BQ * LD;                          // P^T (BKV, TLD)
    float *ST = PT + BKV * TLD;                        // dS^T (BKV, TLD)
    float *lse2 = ST + BKV * TLD;                      // (BQ)
    float *dis = lse2 + BQ;                            // (BQ)
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int bh = blockIdx.y, b = bh / d.heads, h = bh - b * d.heads, kv0 = blockIdx.x * BKV;
    const int nkv = min(BKV, d.lk - kv0);
    const long hoff = (long)h * d.d;
    const float *qb = q + (long)b * d.lq * d.c + hoff, *gb = dout + (long)b * d.lq * d.c + hoff;
    att_load_tile<DP, BKV>(Ks, k + ((long)b * d.lk + kv0) * d.c + hoff, nkv, d.c, d.d, vec, sl2);
    att_load_tile<DP, BKV>(Vs, v + ((long)b * d.lk + kv0) * d.c + hoff, nkv, d.c, d.d, vec, 1.0f);

    float adk[RJ][NC], adv[RJ][NC];
#pragma unroll
    for (int i = 0; i < RJ; i++)
#pragma unroll
        for (int c = 0; c < NC; c++) adk[i][c] = adv[i][c] = 0.0f;
    for (int q0 = 0; q0 < d.lq; q0 += BQ) {
        const int nq = min(BQ, d.lq - q0);
        __syncthreads();  // the previous Q tile's Q, dO, P^T, dS^T are consumed
        att_load_tile<DP, BQ>(Qs, qb + (long)q0 * d.c, nq, d.c, d.d, vec, 1.0f);
        att_load_tile<DP, BQ>(Gs, gb + (long)q0 * d.c, nq, d.c, d.d, vec, 1.0f);
        for (int t = threadIdx.x; t < BQ; t += ATT_THREADS) {
            lse2[t] = t < nq ? lse[(long)bh * d.lq + q0 + t] * ATT_LOG2E : INFINITY;
            dis[t] = t < nq ? di[(long)bh * d.lq + q0 + t] : 0.0f;
        }
        __syncthreads();
        float s[RI][RJ], dp[RI][RJ];
        att_tile_dot<DP, RI, RJ>(Qs, Ks, s);
        att_tile_dot<DP, RI, RJ>(Gs, Vs, dp);
#pragma unroll
        for (int i = 0; i < RI; i++) {
            const int r = ty + 16 * i;
            const float l2 = lse2[r], dii = dis[r];
#pragma unroll
            for (int j = 0; j < RJ; j++) {
                const int key = tx + 16 * j;
                const float p = key < nkv ? exp2f(s[i][j] - l2) : 0.0f;
                PT[key * TLD + r] = p;
                ST[key * TLD + r] = p * (dp[i][j] - dii);
            }
        }
        __syncthreads();
        att_tile_pv<DP, RJ, BQ, TLD>(PT, Gs, adv);
        att_tile_pv<DP, RJ, BQ, TLD>(ST, Qs, adk);
    }
#pragma unroll
    for (int i = 0; i < RJ; i++) {
        const int key = kv0 + ty + 16 * i;
        if (key >= d.lk) continue;
        const long row = ((long)b * d.lk + key) * d.c + hoff;
#pragma unroll
        for (int c = 0; c < NC; c++) {
            const int col = AttCols<DP>::col(c);
            if (col >= d.d) continue;
            if (dv) dv[row + col] += adv[i][c];
            if (dk) dk[row + col] += scale * adk[i][c];
        }
    }
}

/* grid (ceil(Lq/BQ), B*heads). Q is pre-scaled by sl2 in shared memory. */
template <int DP, int BQ, int BKV>
__global__ void __launch_bounds__(ATT_THREADS, 2)
    attn_flash_dq(const float *__restrict__ q, const float *__restrict__ k, const float *__restrict__ v,
                  const float *__restrict__ lse, const float *__restrict__ di, const float *__restrict__ dout,
                  float *__restrict__ dq, AttnDims d, float sl2, float scale, bool vec) {
    constexpr int LD = DP + 4, SLD = BKV + 16, RI = BQ / 16, RJ = BKV / 16, NC = DP / 16;
    LDM_DYNAMIC_SHARED(float4, att_smem4);
    float *Qs = reinterpret_cast<float *>(att_smem4);  // (BQ, LD)
    float *Gs = Qs + BQ * LD;                          // dO (BQ, LD)
    float *Ks = Gs + BQ * LD;                          // (BKV, LD)
    float *Vs = Ks + BKV * LD;                         // (BKV, LD)
    float *Ss = Vs + BKV * LD;                         // dS (BQ, SLD)
    float *lse2 = Ss + BQ * SLD;                       // (BQ)
    float *dis = lse2 + BQ;                            // (BQ)
    const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
    const int bh = blockIdx.y, b = bh / d.heads, h = bh - b * d.heads, q0 = blockIdx.x * BQ;
    const int nq = min(BQ, d.lq - q0);
    const long hoff = (long)h * d.d;
    const float *kb = k + (long)b * d.lk * d.c + hoff, *vb = v + (long)b * d.lk * d.c + hoff;
    att_load_tile<DP, BQ>(Qs, q + ((long)b * d.lq + q0) * d.c + hoff, nq, d.c, d.d, vec, sl2);
    att_load_tile<DP, BQ>(Gs, dout + ((long)b * d.lq + q0) * d.c + hoff, nq, d.c, d.d, vec, 1.0f);
    for (int t = threadIdx.x; t < BQ; t += ATT_THREADS) {
        lse2[t] = t < nq ? lse[(long)bh * d.lq + q0 + t] * ATT_LOG2E : INFINITY;
        dis[t] = t < nq ? di[(long)bh * d.lq + q0 + t] : 0.0f;
    }

    float acc[RI][NC];
#pragma unroll
    for (int i = 0; i < RI; i++)
#pragma unroll
        for (int c = 0; c < NC; c++) acc[i][c] = 0.0f;
    for (int kv0 = 0; kv0 < d.lk; kv0 += BKV) {
        const int nkv = min(BKV, d.lk - kv0);
        __syncthreads();  // the previous tile's K, V, dS are consumed (first pass: Q, dO written)
        att_load_tile<DP, BKV>(Ks, kb + (long)kv0 * d.c, nkv, d.c, d.d, vec, 1.0f);
        att_load_tile<DP, BKV>(Vs, vb + (long)kv0 * d.c, nkv, d.c, d.d, vec, 1.0f);
        __syncthreads();
        float s[RI][RJ], dp[RI][RJ];
        att_tile_dot<DP, RI, RJ>(Qs, Ks, s);
        att_tile_dot<DP, RI, RJ>(Gs, Vs, dp);
#pragma unroll
        for (int i = 0; i < RI; i++) {
            const int r = ty + 16 * i;
            const float l2 = lse2[r], dii = dis[r];
#pragma unroll
            for (int j = 0; j < RJ; j++) {
                const int key = tx + 16 * j;
                const float p = key < nkv ? exp2f(s[i][j] - l2) : 0.0f;
                Ss[r * SLD + key] = p * (dp[i][j] - dii);
            }
        }
        __syncthreads();
        att_tile_pv<DP, RI, BKV, SLD>(Ss, Ks, acc);
    }
#pragma unroll
    for (int i = 0; i < RI; i++) {
        const int row = q0 + ty + 16 * i;
        if (row >= d.lq) continue;
        float *g = dq + ((long)b * d.lq + row) * d.c + hoff;
#pragma unroll
        for (int c = 0; c < NC; c++) {
            const int col = AttCols<DP>::col(c);
            if (col < d.d) g[col] += scale * acc[i][c];
        }
    }
}

// ---------------------------------------------------------------------------------------
// Launchers

static AttnDims att_dims(const Tensor *q, const Tensor *k, int heads) {
    AttnDims d;
    d.b = q->shape[0];
    d.c = q->shape[q->ndim - 1];
    const size_t bc = (size_t)d.b * d.c; /* 0: an empty tensor, no rows */
    d.lq = bc ? (int)(q->numel / bc) : 0;
    d.lk = bc ? (int)(k->numel / bc) : 0;
    d.heads = heads;
    d.d = d.c / heads;
    return d;
}

static int att_version(const AttnDims &d) {
    if ((long)d.b * d.heads > 65535)
        return ldm_error("attention", "batch * heads = %ld exceeds the grid limit 65535", (long)d.b * d.heads);
    const int v = kernel_version("attention");
    if (v == 0) return d.d <= 128 ? (kernel_prefers_tensor_cores() ? 3 : 2) : 1;
    if (v == 1) return 1;
    if (v == 2 || v == 3) {
        if (d.d > 128) return ldm_error("attention", "version %d supports head dim <= 128, got %d", v, d.d);
        return v;
    }
    return ldm_error("attention", "no CUDA version %d of attention (have 1 = naive, 2 = flash, 3 = bf16 mma flash)", v);
}

static bool att_vec(const AttnDims &d, const float *const *ptrs, int n) {
    if (d.c % 4 || d.d % 4) return false;
    for (int i = 0; i < n; i++)
        if (!gemm_aligned16(ptrs[i])) return false;
    return true;
}

template <int DP>
static int att_flash_forward(const float *q, const float *k, const float *v, float *o, float *lse,
                             const AttnDims &d, float scale, bool vec) {
    using Cfg = AttCfg<DP>;
    constexpr int BQ = Cfg::FWD_BQ, BKV = Cfg::FWD_BKV;
    const size_t smem = Cfg::FWD_SMEM * sizeof(float);
    constexpr auto kern = attn_flash_fwd<DP, BQ, BKV>;
    if (cuda_smem_allow("attention", (const void *)kern, smem)) return -1;
    dim3 grid((d.lq + BQ - 1) / BQ, d.b * d.heads);
    LDM_LAUNCH(kern, grid, ATT_THREADS, smem)(q, k, v, o, lse, d, scale * ATT_LOG2E, vec);
    CUDA_LAUNCH_CHECK("attention_flash_forward");
    return 0;
}

template <int DP>
static int att_flash_backward(const float *q, const float *k, const float *v, const float *lse, const float *di,
                              const float *dout, float *dq, float *dk, float *dv, const AttnDims &d, float scale,
                              bool vec) {
    using Cfg = AttCfg<DP>;
    constexpr int BQ = Cfg::BWD_BQ, BKV = Cfg::BWD_BKV;
    const float sl2 = scale * ATT_LOG2E;
    if (dk || dv) {
        const size_t smem = Cfg::DKDV_SMEM * sizeof(float);
        constexpr auto kern = attn_flash_dkdv<DP, Cfg::DKDV_BQ, BKV>;
        if (cuda_smem_allow("attention", (const void *)kern, smem)) return -1;
        dim3 grid((d.lk + BKV - 1) / BKV, d.b * d.heads);
        LDM_LAUNCH(kern, grid, ATT_THREADS, smem)(q, k, v, lse, di, dout, dk, dv, d, sl2, scale, vec);
        CUDA_LAUNCH_CHECK("attention_flash_dkdv");
    }
    if (dq) {
        const size_t smem = Cfg::DQ_SMEM * sizeof(float);
        constexpr auto kern = attn_flash_dq<DP, BQ, BKV>;
        if (cuda_smem_allow("attention", (const void *)kern, smem)) return -1;
        dim3 grid((d.lq + BQ - 1) / BQ, d.b * d.heads);
        LDM_LAUNCH(kern, grid, ATT_THREADS, smem)(q, k, v, lse, di, dout, dq, d, sl2, scale, vec);
        CUDA_LAUNCH_CHECK("attention_flash_dq");
    }
    return 0;
}

extern "C" int attention_forward_cuda(const Tensor *q, const Tensor *k, const Tensor *v, int heads, float scale,
                                      Tensor *o, Tensor *lse) {
    const AttnDims d = att_dims(q, k, heads);
    const int ver = att_version(d);
    if (ver < 0) return -1;
    if (d.lq == 0 || d.b == 0) return 0;
    if (ver == 1) {
        const size_t smem = (size_t)d.lk * sizeof(float);
        if (cuda_smem_allow("attention", (const void *)attn_naive_fwd, smem)) return -1;
        LDM_LAUNCH(attn_naive_fwd, dim3(d.lq, d.b * d.heads), ATT_NAIVE_THREADS, smem)(
            q->data, k->data, v->data, o->data, lse->data, d, scale);
        CUDA_LAUNCH_CHECK("attention_naive_forward");
        return 0;
    }
    if (ver == 3) return attention_forward_tc_cuda(q, k, v, heads, scale, o, lse);
    const float *ptrs[3] = {q->data, k->data, v->data};
    const bool vec = att_vec(d, ptrs, 3);
    if (d.d <= 16) return att_flash_forward<16>(q->data, k->data, v->data, o->data, lse->data, d, scale, vec);
    if (d.d <= 32) return att_flash_forward<32>(q->data, k->data, v->data, o->data, lse->data, d, scale, vec);
    if (d.d <= 64) return att_flash_forward<64>(q->data, k->data, v->data, o->data, lse->data, d, scale, vec);
    return att_flash_forward<128>(q->data, k->data, v->data, o->data, lse->data, d, scale, vec);
}

extern "C" int attention_backward_cuda(const Tensor *q, const Tensor *k, const Tensor *v, const Tensor *o,
                                       const Tensor *lse, const Tensor *dout, int heads, float scale, Tensor *dq,
                                       Tensor *dk, Tensor *dv) {
    const AttnDims d = att_dims(q, k, heads);
    const int ver = att_version(d);
    if (ver < 0) return -1;
    if (d.lq == 0 || d.b == 0 || (!dq && !dk && !dv)) return 0;
    if (ver == 3) return attention_backward_tc_cuda(q, k, v, o, lse, dout, heads, scale, dq, dk, dv);
    float *gq = dq ? dq->data : nullptr, *gk = dk ? dk->data : nullptr, *gv = dv ? dv->data : nullptr;

    const long rows = (long)d.b * d.lq * d.heads;
    float *di = ldm_cuda_scratch((size_t)rows);  // (B, heads, Lq)
    if (!di) return -1;
    LDM_LAUNCH(attn_rowdot, (unsigned)((rows + 7) / 8), 256)(o->data, dout->data, di, d);
    CUDA_LAUNCH_CHECK("attention_rowdot");

    if (ver == 1) {
        if (gq) {
            const size_t smem = (size_t)d.lk * sizeof(float);
            if (cuda_smem_allow("attention", (const void *)attn_naive_dq, smem)) return -1;
            LDM_LAUNCH(attn_naive_dq, dim3(d.lq, d.b * d.heads), ATT_NAIVE_THREADS, smem)(
                q->data, k->data, v->data, lse->data, di, dout->data, gq, d, scale);
            CUDA_LAUNCH_CHECK("attention_naive_dq");
        }
        if (gk || gv) {
            const size_t smem = 2 * (size_t)d.lq * sizeof(float);
            if (cuda_smem_allow("attention", (const void *)attn_naive_dkdv, smem)) return -1;
            LDM_LAUNCH(attn_naive_dkdv, dim3(d.lk, d.b * d.heads), ATT_NAIVE_THREADS, smem)(
                q->data, k->data, v->data, lse->data, di, dout->data, gk, gv, d, scale);
            CUDA_LAUNCH_CHECK("attention_naive_dkdv");
        }
        return 0;
    }
    const float *ptrs[4] = {q->data, k->data, v->data, dout->data};
    const bool vec = att_vec(d, ptrs, 4);
    const float *dt = dout->data;
    if (d.d <= 16) return att_flash_backward<16>(q->data, k->data, v->data, lse->data, di, dt, gq, gk, gv, d, scale, vec);
    if (d.d <= 32) return att_flash_backward<32>(q->data, k->data, v->data, lse->data, di, dt, gq, gk, gv, d, scale, vec);
    if (d.d <= 64) return att_flash_backward<64>(q->data, k->data, v->data, lse->data, di, dt, gq, gk, gv, d, scale, vec);
    return att_flash_backward<128>(q->data, k->data, v->data, lse->data, di, dt, gq, gk, gv, d, scale, vec);
}
