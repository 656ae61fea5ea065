/* kernels/cuda/attention_tc.cu — attention, version 3: flash attention on bf16 tensor cores
 * (mma.sync m16n8k16, fp32 accumulation), in FlashAttention-2's structure.
 *   q (B, Lq, C), k, v (B, Lk, C), o (B, Lq, C), lse (B, heads, Lq); C = heads * D, head h
 *   owns channels [h D, (h+1) D); math in kernels/attention.h:
 *   S = scale Q K^T, P = softmax(S), O = P V, lse = log rowsum exp S  (natural log, as v2)
 *   backward from lse: P = exp(S - lse), Di = rowsum(dO * O), dP = dO V^T, dS = P (dP - Di),
 *            dQ += scale dS K, dK += scale dS^T Q, dV += P^T dO
 * Operands rounded to bf16: Q, K, V, dO (the cast pass), P and dS (in registers, before the
 * products that take them); every sum, the softmax, lse and Di are fp32.
 *
 * FLOP per (b, head): forward 4 Lq Lk D (S, P V); backward 14 Lq Lk D: dK/dV 8 (S^T, dP^T,
 * dV, dK), dQ 6 (S and dP again, dQ): recomputing S and dP twice is the price of no atomics.
 * D here is DP, the head dim padded to 32, 64 or 128 (padding costs FLOP, not results).
 * Bytes: the cast pass reads 4 (Lq + 2 Lk) C and writes 2 (Lq + 2 Lk) heads DP per batch
 * (plus dO for backward); forward's main loop reads Q once and K, V once per 64 query rows
 * (2 Lk DP ceil(Lq / 64) per head and tensor, mostly from L2), writes 4 Lq C + lse.
 * The Lq x Lk matrices never leave registers.
 *
 * Passes:
 *   cast    q, k, v (and dO) from (B, L, C) fp32 to per-head bf16 (B, heads, L, DP), zero for
 *           d >= D (so 16-byte rows, every head contiguous, any C and D <= 128 work).
 *   forward grid (ceil(Lq / 64), B heads), 4 warps. Warp w owns query rows 16w..16w+15 of the
 *           block's 64 (FlashAttention-2: split by rows, so a row's max and sum stay within
 *           the 4 lanes of one mma quad: two shuffles). Q's A fragments are loaded once into
 *           registers (DP/4 per thread); K and V tiles of 64 rows stream through a 2-stage
 *           cp.async pipeline. Per tile, per warp: S (16 x 64) = Q K^T as DP/16 x 8 mmas
 *           (K rows are the col-major B operand: ldmatrix, no transpose); S *= scale log2 e;
 *           keys past Lk masked to -inf; online softmax in base 2: m' = max(m, rowmax S),
 *           acc *= 2^(m - m'), l = l 2^(m - m') + rowsum 2^(S - m'); P = 2^(S - m') goes from
 *           the S accumulators straight into A fragments (the m16n8 C layout of two n8 tiles
 *           is the m16k16 A layout), O += P V with V read by ldmatrix.trans. Each lane keeps
 *           partial sums l of its own columns; the quad adds them at the end. O = acc / l,
 *           lse = m ln 2 + log l.
 *   backward
 *     prep  one warp per (b, head, row < Lq rounded up to 64): lse2 = lse log2 e and
 *           Di = sum_d bf16(dO) bf16(O) (the rounding that matches dP's, see the kernel),
 *           padded rows lse2 = +inf, Di = 0 (so P = 0 there).
 *     dK/dV grid (ceil(Lk / 64), B heads), 4 warps; warp w owns keys 16w..16w+15. K and V stay
 *           in shared memory; tiles of BQ query rows of Q, dO, lse2 and Di stream through the
 *           2-stage pipeline. Per tile: S^T = K Q^T and dP^T = V dO^T (16 x BQ per warp),
 *           P^T = 2^(S^T scale log2 e - lse2), dS^T = P^T (dP^T - Di) in registers, then
 *           dV += P^T dO and dK += dS^T Q with P^T, dS^T as A fragments and dO, Q read by
 *           ldmatrix.trans. Query columns past Lq: P = 2^(x - inf) = 0 (the padded lse2).
 *     dQ    grid (ceil(Lq / 64), B heads), 4 warps of 16 query rows; K, V tiles of BKV rows
 *           stream. S = Q K^T, dP = dO V^T, P = 2^(S scale log2 e - lse2) (0 for keys past
 *           Lk), dS = P (dP - Di), dQ += dS K (K by ldmatrix.trans).
 *     Each gradient element is summed by one thread in a fixed order: deterministic, no
 *     atomics. Results are added (+=) to dq, dk, dv (scale applied in the epilogue).
 * Tiles (DP: 32, 64 | 128): forward 64 x 64; dK/dV 64 keys x BQ = 64 | 32 queries; dQ 64
 * queries x BKV = 64 | 32 keys (the 128 dims need the registers: accumulators are DP/2 floats
 * a thread per 16 x DP output). Shared memory, bf16 rows of DP elements = DP/8 16-byte
 * chunks, chunk c of row r stored at c ^ (r & 7) (DP = 32: c ^ ((r >> 1) & 3), two rows per
 * 128 bytes), so the eight rows of each ldmatrix phase hit eight different bank groups:
 *   forward  Q (64, DP), K[2] (64, DP), V[2] (64, DP): 20 / 40 / 80 KB at DP = 32 / 64 / 128
 *   dK/dV    K, V (64, DP), Q[2], dO[2] (BQ, DP), lse2[2], Di[2] (BQ): 25 / 49 / 64.5 KB
 *   dQ       Q, dO (64, DP), K[2], V[2] (BKV, DP): 24 / 48 / 64 KB
 * (above 48 KB opted in at launch). Registers (ptxas, sm_90, no spills): forward 95 / 130 /
 * 230, dK/dV 160 / 241 / 246, dQ 120 / 168 / 236 (bench/RESULTS.md).
 * Edge tiles: rows past Lq or Lk are zero-filled by cp.async (src-size 0), which gives
 * finite scores; the forward masks those keys (-inf); the backward zeroes their P (lse2 =
 * +inf, the key test in dQ), though their zero dO and K rows would cancel them as well (the
 * tests cannot tell these two guards from none; they keep a P of 2^(-lse2) from overflowing
 * into inf * 0); stores are guarded. Head dims above 128: an error (version 1 takes any D).
 * Accuracy: bf16 rounding of Q, K, V, dO, P, dS (u = 2^-8 each); bound and its reasoning in
 * bench/ops/op_table.c (TOL_BF16_ATTN).
 */
#include <math.h>

extern "C" {
#include "core/bf16.h"
#include "core/cuda_check.h"
#include "kernels/attention.h"
}
#include "kernels/cuda/mma.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/scratch.h"

#define AT_THREADS 128 /* 4 warps */
#define AT_ROWS 64     /* query rows per forward / dQ block, keys per dK/dV block */
#define AT_LOG2E 1.4426950408889634f
#define AT_LN2 0.6931471805599453f

struct AtDims {
    int b, lq, lk, c, heads, d;
    int lqp; /* Lq rounded up to AT_ROWS: the padded length of lse2 and Di */
};

// ---------------------------------------------------------------------------------
// shared tiles: rows of DP bf16, swizzled 16-byte chunks

template <int DP>
__device__ __forceinline__ int at_swz(int row, int chunk) {
    if constexpr (DP == 32) return row * DP + ((chunk ^ ((row >> 1) & 3)) << 3);
    else return row * DP + ((chunk ^ (row & 7)) << 3);
}

/* rows r0 .. r0+ROWS-1 of a (nrows, DP) bf16 matrix g into s; rows past nrows zero-filled */
template <int DP, int ROWS>
__device__ __forceinline__ void at_load_tile(bf16_t *s, const bf16_t *g, int r0, int nrows) {
    constexpr int CH = DP / 8, N = ROWS * CH;
    static_assert(N % AT_THREADS == 0, "a tile is a whole number of 16-byte copies per thread");
#pragma unroll
    for (int j = 0; j < N / AT_THREADS; j++) {
        const int c = threadIdx.x + j * AT_THREADS, row = c / CH, chunk = c % CH;
        const bool ok = r0 + row < nrows;
        cp_async_cg16(s + at_swz<DP>(row, chunk), ok ? g + (long)(r0 + row) * DP + chunk * 8 : g, ok ? 16 : 0);
    }
}

/* A fragment (rows r0..r0+15, k-step ks) of a (rows, DP) tile: lane supplies row l % 16 and
 * chunk 2 ks + l / 16 (matrices (rows lo, k lo), (hi, lo), (lo, k hi), (hi, hi)) */
template <int DP>
__device__ __forceinline__ void at_frag_a(uint32_t (&a)[4], const bf16_t *s, int r0, int ks, int lane) {
    ldmatrix_x4(a, s + at_swz<DP>(r0 + (lane & 15), 2 * ks + (lane >> 4)));
}

/* B fragments of the n8 tiles n0..n0+7 and n0+8..n0+15, k-step ks, where the tile's rows are
 * the n index and its columns k (S = Q K^T: B(k, n) = K[n][k], col-major as mma wants):
 * matrices (n lo, k lo), (n lo, k hi), (n hi, k lo), (n hi, k hi) */
template <int DP>
__device__ __forceinline__ void at_frag_b_nk(uint32_t (&b)[2][2], const bf16_t *s, int n0, int ks, int lane) {
    const int i = lane >> 3;
    uint32_t r[4];
    ldmatrix_x4(r, s + at_swz<DP>(n0 + (i >> 1) * 8 + (lane & 7), 2 * ks + (i & 1)));
    b[0][0] = r[0], b[0][1] = r[1], b[1][0] = r[2], b[1][1] = r[3];
}

/* B fragments of the n8 tiles 2 dp and 2 dp + 1 (columns 16 dp..), k rows k0..k0+15, where
 * the tile's rows are k (O = P V: B(k, n) = V[k][n]): ldmatrix.trans of matrices
 * (k lo, n lo), (k hi, n lo), (k lo, n hi), (k hi, n hi) */
template <int DP>
__device__ __forceinline__ void at_frag_b_kn(uint32_t (&b)[2][2], const bf16_t *s, int k0, int dp, int lane) {
    const int i = lane >> 3;
    uint32_t r[4];
    ldmatrix_x4_trans(r, s + at_swz<DP>(k0 + (i & 1) * 8 + (lane & 7), 2 * dp + (i >> 1)));
    b[0][0] = r[0], b[0][1] = r[1], b[1][0] = r[2], b[1][1] = r[3];
}

/* Two m16n8 accumulators (columns 16 kk.. and 16 kk + 8..) rounded to bf16 as the m16k16 A
 * fragment of columns 16 kk..16 kk+15: a0 = (g, 2t..), a1 = (g+8, 2t..), a2 = (g, 2t+8..),
 * a3 = (g+8, 2t+8..), exactly c0[0,1], c0[2,3], c1[0,1], c1[2,3] (mma.cuh). */
__device__ __forceinline__ void at_c_to_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
    a[0] = pack_bf16x2(c0[0], c0[1]);
    a[1] = pack_bf16x2(c0[2], c0[3]);
    a[2] = pack_bf16x2(c1[0], c1[1]);
    a[3] = pack_bf16x2(c1[2], c1[3]);
}

template <int N>
__device__ __forceinline__ void at_zero(float (&x)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) x[i][e] = 0.0f;
}

// ---------------------------------------------------------------------------------
// cast pass: (B, L, C) fp32 -> (B, heads, L, DP) bf16, zero padded

__global__ void attn_tc_cast(const float *__restrict__ src, bf16_t *__restrict__ dst, int b, int l, int c, int heads,
                             int d, int dp) {
    const int ch = dp / 8;
    const long n = (long)b * l * heads * ch, stride = (long)gridDim.x * blockDim.x;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += stride) {
        const int k = (int)(i % ch);
        const long r = i / ch, bt = r / heads; /* bt = b l + t */
        const int h = (int)(r - bt * heads);
        const long bb = bt / l, t = bt - bb * l;
        const float *s = src + bt * c + (long)h * d;
        uint32_t w[4];
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const int col = k * 8 + 2 * e;
            w[e] = pack_bf16x2(col < d ? s[col] : 0.0f, col + 1 < d ? s[col + 1] : 0.0f);
        }
        *reinterpret_cast<int4 *>(dst + ((bb * heads + h) * l + t) * dp + k * 8) =
            make_int4((int)w[0], (int)w[1], (int)w[2], (int)w[3]);
    }
}

// ---------------------------------------------------------------------------------
// forward

/* grid (ceil(Lq / 64), B heads); sl2 = scale log2 e */
template <int DP>
__global__ void __launch_bounds__(AT_THREADS)
    attn_tc_fwd(const bf16_t *__restrict__ qh, const bf16_t *__restrict__ kh, const bf16_t *__restrict__ vh,
                float *__restrict__ o, float *__restrict__ lse, AtDims d, float sl2) {
    constexpr int BQ = AT_ROWS, BKV = 64, NT = BKV / 8, KS = DP / 16, DT = DP / 8;
    LDM_DYNAMIC_SHARED(int4, at_smem);
    bf16_t *sQ = reinterpret_cast<bf16_t *>(at_smem); // (BQ, DP)
    bf16_t *sK = sQ + BQ * DP;                        // [2] (BKV, DP)
    bf16_t *sV = sK + 2 * BKV * DP;                   // [2] (BKV, DP)
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int bh = blockIdx.y, q0 = blockIdx.x * BQ;
    const bf16_t *kb = kh + (long)bh * d.lk * DP, *vb = vh + (long)bh * d.lk * DP;
    at_load_tile<DP, BQ>(sQ, qh + (long)bh * d.lq * DP, q0, d.lq);
    at_load_tile<DP, BKV>(sK, kb, 0, d.lk);
    at_load_tile<DP, BKV>(sV, vb, 0, d.lk);
    cp_async_commit();

    uint32_t qf[KS][4];
    float acc[DT][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
    at_zero(acc);
    const int ntiles = (d.lk + BKV - 1) / BKV;
    for (int j = 0; j < ntiles; j++) {
        cp_async_wait<0>(); /* this thread's copies of tile j (and Q) have landed */
        __syncthreads();    /* everyone's have, and everyone is done with tile j - 1's stage */
        if (j + 1 < ntiles) {
            const int st = (j + 1) & 1;
            at_load_tile<DP, BKV>(sK + st * BKV * DP, kb, (j + 1) * BKV, d.lk);
            at_load_tile<DP, BKV>(sV + st * BKV * DP, vb, (j + 1) * BKV, d.lk);
        }
        cp_async_commit();
        if (j == 0) {
#pragma unroll
            for (int ks = 0; ks < KS; ks++) at_frag_a<DP>(qf[ks], sQ, warp * 16, ks, lane);
        }
        const bf16_t *cK = sK + (j & 1) * BKV * DP, *cV = sV + (j & 1) * BKV * DP;

        float s[NT][4];
        at_zero(s);
#pragma unroll
        for (int ks = 0; ks < KS; ks++)
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                uint32_t kf[2][2];
                at_frag_b_nk<DP>(kf, cK, np * 16, ks, lane);
                mma_m16n8k16_bf16(s[2 * np], qf[ks], kf[0], s[2 * np]);
                mma_m16n8k16_bf16(s[2 * np + 1], qf[ks], kf[1], s[2 * np + 1]);
            }
        /* s[nt][e]: row g + 8 (e >> 1), key j BKV + 8 nt + 2t + (e & 1) */
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = j * BKV + nt * 8 + 2 * t + (e & 1);
                const float x = key < d.lk ? s[nt][e] * sl2 : -INFINITY;
                s[nt][e] = x;
                mx[e >> 1] = fmaxf(mx[e >> 1], x);
            }
        float alpha[2];
#pragma unroll
        for (int r = 0; r < 2; r++) {
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
            mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
            const float mnew = fmaxf(m[r], mx[r]); /* finite: key j BKV is valid */
            alpha[r] = exp2f(m[r] - mnew);
            m[r] = mnew;
            l[r] *= alpha[r];
        }
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s[nt][e] = exp2f(s[nt][e] - m[e >> 1]);
                l[e >> 1] += s[nt][e];
            }
#pragma unroll
        for (int dt = 0; dt < DT; dt++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[dt][e] *= alpha[e >> 1];
#pragma unroll
        for (int kk = 0; kk < NT / 2; kk++) {
            uint32_t pa[4];
            at_c_to_a(pa, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int dp = 0; dp < DT / 2; dp++) {
                uint32_t vf[2][2];
                at_frag_b_kn<DP>(vf, cV, kk * 16, dp, lane);
                mma_m16n8k16_bf16(acc[2 * dp], pa, vf[0], acc[2 * dp]);
                mma_m16n8k16_bf16(acc[2 * dp + 1], pa, vf[1], acc[2 * dp + 1]);
            }
        }
    }

    const int b = bh / d.heads, h = bh - b * d.heads;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        const int row = q0 + warp * 16 + g + 8 * r;
        if (row >= d.lq) continue;
        const float inv = 1.0f / l[r];
        float *orow = o + ((long)b * d.lq + row) * d.c + (long)h * d.d;
#pragma unroll
        for (int dt = 0; dt < DT; dt++) {
            const int col = dt * 8 + 2 * t;
            if (col < d.d) orow[col] = acc[dt][2 * r] * inv;
            if (col + 1 < d.d) orow[col + 1] = acc[dt][2 * r + 1] * inv;
        }
        if (t == 0) lse[(long)bh * d.lq + row] = m[r] * AT_LN2 + logf(l[r]);
    }
}

// ---------------------------------------------------------------------------------
// backward

/* lse2 (B heads, Lqp) = lse log2 e, Di (B heads, Lqp) = sum_d bf16(dO) bf16(O); rows past Lq:
 * +inf, 0. One warp per (b, head, row < Lqp). Di must match the dP it is subtracted from
 * (Di = sum_j P_ij dP_ij exactly): dP is formed from bf16 dO and V, so Di from bf16 dO and O.
 * When one key holds a row's whole weight, O = V_j and dP_ij - Di cancels to ~0 as it should;
 * from fp32 O it would leave ~u |dP| (dS = 0 turned into bf16 noise, dK off by ~u |dP| |Q|). */
__global__ void attn_tc_prep(const float *__restrict__ o, const float *__restrict__ dout,
                             const float *__restrict__ lse, float *__restrict__ lse2, float *__restrict__ di,
                             AtDims d) {
    const long w = blockIdx.x * (long)(blockDim.x >> 5) + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (w >= (long)d.b * d.heads * d.lqp) return; /* whole warps */
    const long bh = w / d.lqp;
    const int i = (int)(w - bh * d.lqp);
    float s = 0.0f;
    if (i < d.lq) {
        const long b = bh / d.heads, h = bh - b * d.heads, base = (b * d.lq + i) * d.c + h * d.d;
        for (int c = lane; c < d.d; c += 32) s = fmaf(ldm_round_bf16(dout[base + c]), ldm_round_bf16(o[base + c]), s);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) {
        lse2[w] = i < d.lq ? lse[bh * d.lq + i] * AT_LOG2E : INFINITY;
        di[w] = s;
    }
}

/* lse2 and Di of query rows q0 .. q0+BQ-1 (inside the padded Lqp: no bounds to check) */
template <int BQ>
__device__ __forceinline__ void at_load_stats(float *sL, float *sD, const float *lb, const float *db, int q0) {
    const int i = threadIdx.x;
    if (i < BQ / 4) cp_async_cg16(sL + 4 * i, lb + q0 + 4 * i);
    else if (i < BQ / 2) cp_async_cg16(sD + 4 * (i - BQ / 4), db + q0 + 4 * (i - BQ / 4));
}

/* grid (ceil(Lk / 64), B heads): dK, dV of 64 keys; query tiles of BQ rows streamed. */
template <int DP, int BQ>
__global__ void __launch_bounds__(AT_THREADS)
    attn_tc_dkdv(const bf16_t *__restrict__ qh, const bf16_t *__restrict__ kh, const bf16_t *__restrict__ vh,
                 const bf16_t *__restrict__ gh, const float *__restrict__ lse2, const float *__restrict__ dis,
                 float *__restrict__ dk, float *__restrict__ dv, AtDims d, float sl2, float scale) {
    constexpr int BKV = AT_ROWS, NT = BQ / 8, KS = DP / 16, DT = DP / 8;
    LDM_DYNAMIC_SHARED(int4, at_smem);
    bf16_t *sK = reinterpret_cast<bf16_t *>(at_smem); // (BKV, DP)
    bf16_t *sV = sK + BKV * DP;                       // (BKV, DP)
    bf16_t *sQ = sV + BKV * DP;                       // [2] (BQ, DP)
    bf16_t *sG = sQ + 2 * BQ * DP;                    // [2] (BQ, DP) dO
    float *sL = reinterpret_cast<float *>(sG + 2 * BQ * DP); // [2] (BQ) lse2
    float *sD = sL + 2 * BQ;                                 // [2] (BQ) Di
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int bh = blockIdx.y, kv0 = blockIdx.x * BKV;
    const bf16_t *qb = qh + (long)bh * d.lq * DP, *gb = gh + (long)bh * d.lq * DP;
    const float *lb = lse2 + (long)bh * d.lqp, *db = dis + (long)bh * d.lqp;
    at_load_tile<DP, BKV>(sK, kh + (long)bh * d.lk * DP, kv0, d.lk);
    at_load_tile<DP, BKV>(sV, vh + (long)bh * d.lk * DP, kv0, d.lk);
    at_load_tile<DP, BQ>(sQ, qb, 0, d.lq);
    at_load_tile<DP, BQ>(sG, gb, 0, d.lq);
    at_load_stats<BQ>(sL, sD, lb, db, 0);
    cp_async_commit();

    float adk[DT][4], adv[DT][4];
    at_zero(adk);
    at_zero(adv);
    const int ntiles = (d.lq + BQ - 1) / BQ;
    for (int it = 0; it < ntiles; it++) {
        cp_async_wait<0>();
        __syncthreads();
        if (it + 1 < ntiles) {
            const int st = (it + 1) & 1, q0 = (it + 1) * BQ;
            at_load_tile<DP, BQ>(sQ + st * BQ * DP, qb, q0, d.lq);
            at_load_tile<DP, BQ>(sG + st * BQ * DP, gb, q0, d.lq);
            at_load_stats<BQ>(sL + st * BQ, sD + st * BQ, lb, db, q0);
        }
        cp_async_commit();
        const bf16_t *cQ = sQ + (it & 1) * BQ * DP, *cG = sG + (it & 1) * BQ * DP;
        const float *cL = sL + (it & 1) * BQ, *cD = sD + (it & 1) * BQ;

        /* S^T = K Q^T, dP^T = V dO^T: s[nt][e] is key 16 warp + g + 8 (e >> 1), query 8 nt + 2t + (e & 1) */
        float s[NT][4], dp[NT][4];
        at_zero(s);
        at_zero(dp);
#pragma unroll
        for (int ks = 0; ks < KS; ks++) {
            uint32_t ka[4], va[4];
            at_frag_a<DP>(ka, sK, warp * 16, ks, lane);
            at_frag_a<DP>(va, sV, warp * 16, ks, lane);
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                uint32_t qf[2][2], gf[2][2];
                at_frag_b_nk<DP>(qf, cQ, np * 16, ks, lane);
                at_frag_b_nk<DP>(gf, cG, np * 16, ks, lane);
                mma_m16n8k16_bf16(s[2 * np], ka, qf[0], s[2 * np]);
                mma_m16n8k16_bf16(s[2 * np + 1], ka, qf[1], s[2 * np + 1]);
                mma_m16n8k16_bf16(dp[2 * np], va, gf[0], dp[2 * np]);
                mma_m16n8k16_bf16(dp[2 * np + 1], va, gf[1], dp[2 * np + 1]);
            }
        }
        /* P^T = 2^(S^T sl2 - lse2) (0 for padded queries: lse2 = +inf), dS^T = P^T (dP^T - Di) */
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int col = nt * 8 + 2 * t + (e & 1);
                const float p = exp2f(s[nt][e] * sl2 - cL[col]);
                s[nt][e] = p;
                dp[nt][e] = p * (dp[nt][e] - cD[col]);
            }
        /* dV += P^T dO, dK += dS^T Q over this tile's queries (k = query) */
#pragma unroll
        for (int kk = 0; kk < NT / 2; kk++) {
            uint32_t pa[4], sa[4];
            at_c_to_a(pa, s[2 * kk], s[2 * kk + 1]);
            at_c_to_a(sa, dp[2 * kk], dp[2 * kk + 1]);
#pragma unroll
            for (int dn = 0; dn < DT / 2; dn++) {
                uint32_t gf[2][2], qf[2][2];
                at_frag_b_kn<DP>(gf, cG, kk * 16, dn, lane);
                at_frag_b_kn<DP>(qf, cQ, kk * 16, dn, lane);
                mma_m16n8k16_bf16(adv[2 * dn], pa, gf[0], adv[2 * dn]);
                mma_m16n8k16_bf16(adv[2 * dn + 1], pa, gf[1], adv[2 * dn + 1]);
                mma_m16n8k16_bf16(adk[2 * dn], sa, qf[0], adk[2 * dn]);
                mma_m16n8k16_bf16(adk[2 * dn + 1], sa, qf[1], adk[2 * dn + 1]);
            }
        }
    }

    const int b = bh / d.heads, h = bh - b * d.heads;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int key = kv0 + warp * 16 + g + 8 * r;
        if (key >= d.lk) continue;
        const long row = ((long)b * d.lk + key) * d.c + (long)h * d.d;
#pragma unroll
        for (int dt = 0; dt < DT; dt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int col = dt * 8 + 2 * t + e;
                if (col >= d.d) continue;
                if (dv) dv[row + col] += adv[dt][2 * r + e];
                if (dk) dk[row + col] += scale * adk[dt][2 * r + e];
            }
    }
}

/* grid (ceil(Lq / 64), B heads): dQ of 64 query rows; key tiles of BKV rows streamed. */
template <int DP, int BKV>
__global__ void __launch_bounds__(AT_THREADS)
    attn_tc_dq(const bf16_t *__restrict__ qh, const bf16_t *__restrict__ kh, const bf16_t *__restrict__ vh,
               const bf16_t *__restrict__ gh, const float *__restrict__ lse2, const float *__restrict__ dis,
               float *__restrict__ dq, AtDims d, float sl2, float scale) {
    constexpr int BQ = AT_ROWS, NT = BKV / 8, KS = DP / 16, DT = DP / 8;
    LDM_DYNAMIC_SHARED(int4, at_smem);
    bf16_t *sQ = reinterpret_cast<bf16_t *>(at_smem); // (BQ, DP)
    bf16_t *sG = sQ + BQ * DP;                        // (BQ, DP) dO
    bf16_t *sK = sG + BQ * DP;                        // [2] (BKV, DP)
    bf16_t *sV = sK + 2 * BKV * DP;                   // [2] (BKV, DP)
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
    const int bh = blockIdx.y, q0 = blockIdx.x * BQ;
    const bf16_t *kb = kh + (long)bh * d.lk * DP, *vb = vh + (long)bh * d.lk * DP;
    at_load_tile<DP, BQ>(sQ, qh + (long)bh * d.lq * DP, q0, d.lq);
    at_load_tile<DP, BQ>(sG, gh + (long)bh * d.lq * DP, q0, d.lq);
    at_load_tile<DP, BKV>(sK, kb, 0, d.lk);
    at_load_tile<DP, BKV>(sV, vb, 0, d.lk);
    cp_async_commit();
    float l2[2], di[2]; /* rows 16 warp + g and + 8 (padded: inside Lqp) */
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const long i = (long)bh * d.lqp + q0 + warp * 16 + g + 8 * r;
        l2[r] = lse2[i];
        di[r] = dis[i];
    }

    uint32_t qf[KS][4], gf[KS][4];
    float acc[DT][4];
    at_zero(acc);
    const int ntiles = (d.lk + BKV - 1) / BKV;
    for (int j = 0; j < ntiles; j++) {
        cp_async_wait<0>();
        __syncthreads();
        if (j + 1 < ntiles) {
            const int st = (j + 1) & 1;
            at_load_tile<DP, BKV>(sK + st * BKV * DP, kb, (j + 1) * BKV, d.lk);
            at_load_tile<DP, BKV>(sV + st * BKV * DP, vb, (j + 1) * BKV, d.lk);
        }
        cp_async_commit();
        if (j == 0) {
#pragma unroll
            for (int ks = 0; ks < KS; ks++) {
                at_frag_a<DP>(qf[ks], sQ, warp * 16, ks, lane);
                at_frag_a<DP>(gf[ks], sG, warp * 16, ks, lane);
            }
        }
        const bf16_t *cK = sK + (j & 1) * BKV * DP, *cV = sV + (j & 1) * BKV * DP;

        /* S = Q K^T, dP = dO V^T: s[nt][e] is row 16 warp + g + 8 (e >> 1), key j BKV + 8 nt + 2t + (e & 1) */
        float s[NT][4], dp[NT][4];
        at_zero(s);
        at_zero(dp);
#pragma unroll
        for (int ks = 0; ks < KS; ks++)
#pragma unroll
            for (int np = 0; np < NT / 2; np++) {
                uint32_t kf[2][2], vf[2][2];
                at_frag_b_nk<DP>(kf, cK, np * 16, ks, lane);
                at_frag_b_nk<DP>(vf, cV, np * 16, ks, lane);
                mma_m16n8k16_bf16(s[2 * np], qf[ks], kf[0], s[2 * np]);
                mma_m16n8k16_bf16(s[2 * np + 1], qf[ks], kf[1], s[2 * np + 1]);
                mma_m16n8k16_bf16(dp[2 * np], gf[ks], vf[0], dp[2 * np]);
                mma_m16n8k16_bf16(dp[2 * np + 1], gf[ks], vf[1], dp[2 * np + 1]);
            }
        /* dS = P (dP - Di), P = 2^(S sl2 - lse2), 0 for keys past Lk */
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int key = j * BKV + nt * 8 + 2 * t + (e & 1);
                const float p = key < d.lk ? exp2f(s[nt][e] * sl2 - l2[e >> 1]) : 0.0f;
                s[nt][e] = p * (dp[nt][e] - di[e >> 1]);
            }
        /* dQ += dS K (k = key) */
#pragma unroll
        for (int kk = 0; kk < NT / 2; kk++) {
            uint32_t sa[4];
            at_c_to_a(sa, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int dn = 0; dn < DT / 2; dn++) {
                uint32_t kf[2][2];
                at_frag_b_kn<DP>(kf, cK, kk * 16, dn, lane);
                mma_m16n8k16_bf16(acc[2 * dn], sa, kf[0], acc[2 * dn]);
                mma_m16n8k16_bf16(acc[2 * dn + 1], sa, kf[1], acc[2 * dn + 1]);
            }
        }
    }

    const int b = bh / d.heads, h = bh - b * d.heads;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int row = q0 + warp * 16 + g + 8 * r;
        if (row >= d.lq) continue;
        float *grow = dq + ((long)b * d.lq + row) * d.c + (long)h * d.d;
#pragma unroll
        for (int dt = 0; dt < DT; dt++)
#pragma unroll
            for (int e = 0; e < 2; e++) {
                const int col = dt * 8 + 2 * t + e;
                if (col < d.d) grow[col] += scale * acc[dt][2 * r + e];
            }
    }
}

// ---------------------------------------------------------------------------------
// launchers

static int at_cast_grid(long n) {
    const long g = (n + 255) / 256;
    return (int)(g < 1 ? 1 : g > 4096 ? 4096 : g);
}

static AtDims at_dims(const Tensor *q, const Tensor *k, int heads) {
    AtDims d;
    d.b = q->shape[0];
    d.c = q->shape[q->ndim - 1];
    const size_t bc = (size_t)d.b * d.c; /* 0: an empty tensor, no rows */
    d.lq = bc ? (int)(q->numel / bc) : 0;
    d.lk = bc ? (int)(k->numel / bc) : 0;
    d.heads = heads;
    d.d = d.c / heads;
    d.lqp = (d.lq + AT_ROWS - 1) / AT_ROWS * AT_ROWS;
    return d;
}

static int at_dp(int d) { return d <= 32 ? 32 : d <= 64 ? 64 : 128; }

/* x (B, L, C) fp32 -> dst (B, heads, L, DP) bf16 */
static int at_cast(const char *name, const float *x, bf16_t *dst, int l, const AtDims &d, int dp) {
    LDM_LAUNCH(attn_tc_cast, at_cast_grid((long)d.b * l * d.heads * (dp / 8)), 256)(x, dst, d.b, l, d.c, d.heads,
                                                                                     d.d, dp);
    CUDA_LAUNCH_CHECK(name);
    return 0;
}

template <int DP>
static int at_forward(const bf16_t *qh, const bf16_t *kh, const bf16_t *vh, float *o, float *lse, const AtDims &d,
                      float scale) {
    const size_t smem = (size_t)(AT_ROWS + 4 * 64) * DP * sizeof(bf16_t);
    constexpr auto kern = attn_tc_fwd<DP>;
    if (cuda_smem_allow("attention", (const void *)kern, smem)) return -1;
    const dim3 grid((unsigned)((d.lq + AT_ROWS - 1) / AT_ROWS), (unsigned)(d.b * d.heads));
    LDM_LAUNCH(kern, grid, AT_THREADS, smem)(qh, kh, vh, o, lse, d, scale * AT_LOG2E);
    CUDA_LAUNCH_CHECK("attention_tc_forward");
    return 0;
}

/* The caller (attention.cu) checked the grid limit and D <= 128; Lq > 0, B > 0. */
extern "C" int attention_forward_tc_cuda(const Tensor *q, const Tensor *k, const Tensor *v, int heads, float scale,
                                         Tensor *o, Tensor *lse) {
    const AtDims d = at_dims(q, k, heads);
    const int dp = at_dp(d.d);
    const size_t nq = (size_t)d.b * d.heads * d.lq * dp, nk = (size_t)d.b * d.heads * d.lk * dp;
    bf16_t *qh = (bf16_t *)cuda_scratch((nq + 2 * nk) * sizeof(bf16_t));
    if (!qh) return -1;
    bf16_t *kh = qh + nq, *vh = kh + nk; /* multiples of 32 elements: 16-byte aligned */
    if (at_cast("attention_tc_cast_q", q->data, qh, d.lq, d, dp) ||
        at_cast("attention_tc_cast_k", k->data, kh, d.lk, d, dp) ||
        at_cast("attention_tc_cast_v", v->data, vh, d.lk, d, dp))
        return -1;
    if (dp == 32) return at_forward<32>(qh, kh, vh, o->data, lse->data, d, scale);
    if (dp == 64) return at_forward<64>(qh, kh, vh, o->data, lse->data, d, scale);
    return at_forward<128>(qh, kh, vh, o->data, lse->data, d, scale);
}

/* tiles of the backward kernels: dK/dV's query rows, dQ's keys (the 128 dims need the registers) */
template <int DP>
struct AtBwd {
    static constexpr int BQ = DP == 128 ? 32 : 64, BKV = DP == 128 ? 32 : 64;
    static constexpr size_t DKDV_SMEM = (size_t)(2 * AT_ROWS + 4 * BQ) * DP * sizeof(bf16_t) + 4 * BQ * sizeof(float);
    static constexpr size_t DQ_SMEM = (size_t)(2 * AT_ROWS + 4 * BKV) * DP * sizeof(bf16_t);
};

template <int DP>
static int at_backward(const bf16_t *qh, const bf16_t *kh, const bf16_t *vh, const bf16_t *gh, const float *lse2,
                       const float *di, float *dq, float *dk, float *dv, const AtDims &d, float scale) {
    using Cfg = AtBwd<DP>;
    const float sl2 = scale * AT_LOG2E;
    if (dk || dv) {
        constexpr auto kern = attn_tc_dkdv<DP, Cfg::BQ>;
        if (cuda_smem_allow("attention", (const void *)kern, Cfg::DKDV_SMEM)) return -1;
        const dim3 grid((unsigned)((d.lk + AT_ROWS - 1) / AT_ROWS), (unsigned)(d.b * d.heads));
        LDM_LAUNCH(kern, grid, AT_THREADS, Cfg::DKDV_SMEM)(qh, kh, vh, gh, lse2, di, dk, dv, d, sl2, scale);
        CUDA_LAUNCH_CHECK("attention_tc_dkdv");
    }
    if (dq) {
        constexpr auto kern = attn_tc_dq<DP, Cfg::BKV>;
        if (cuda_smem_allow("attention", (const void *)kern, Cfg::DQ_SMEM)) return -1;
        const dim3 grid((unsigned)((d.lq + AT_ROWS - 1) / AT_ROWS), (unsigned)(d.b * d.heads));
        LDM_LAUNCH(kern, grid, AT_THREADS, Cfg::DQ_SMEM)(qh, kh, vh, gh, lse2, di, dq, d, sl2, scale);
        CUDA_LAUNCH_CHECK("attention_tc_dq");
    }
    return 0;
}

/* The caller (attention.cu) checked the grid limit and D <= 128; Lq > 0, B > 0, some gradient. */
extern "C" int attention_backward_tc_cuda(const Tensor *q, const Tensor *k, const Tensor *v, const Tensor *o,
                                          const Tensor *lse, const Tensor *dout, int heads, float scale, Tensor *dq,
                                          Tensor *dk, Tensor *dv) {
    const AtDims d = at_dims(q, k, heads);
    const int dp = at_dp(d.d);
    const size_t nq = (size_t)d.b * d.heads * d.lq * dp, nk = (size_t)d.b * d.heads * d.lk * dp;
    const size_t nst = (size_t)d.b * d.heads * d.lqp;
    bf16_t *qh = (bf16_t *)cuda_scratch((2 * nq + 2 * nk) * sizeof(bf16_t) + 2 * nst * sizeof(float));
    if (!qh) return -1;
    bf16_t *kh = qh + nq, *vh = kh + nk, *gh = vh + nk; /* multiples of 32 elements: 16-byte aligned */
    float *lse2 = reinterpret_cast<float *>(gh + nq), *di = lse2 + nst;
    if (at_cast("attention_tc_cast_q", q->data, qh, d.lq, d, dp) ||
        at_cast("attention_tc_cast_k", k->data, kh, d.lk, d, dp) ||
        at_cast("attention_tc_cast_v", v->data, vh, d.lk, d, dp) ||
        at_cast("attention_tc_cast_dout", dout->data, gh, d.lq, d, dp))
        return -1;
    LDM_LAUNCH(attn_tc_prep, (unsigned)((nst + 7) / 8), 256)(o->data, dout->data, lse->data, lse2, di, d);
    CUDA_LAUNCH_CHECK("attention_tc_prep");
    float *gq = dq ? dq->data : nullptr, *gk = dk ? dk->data : nullptr, *gv = dv ? dv->data : nullptr;
    if (dp == 32) return at_backward<32>(qh, kh, vh, gh, lse2, di, gq, gk, gv, d, scale);
    if (dp == 64) return at_backward<64>(qh, kh, vh, gh, lse2, di, gq, gk, gv, d, scale);
    return at_backward<128>(qh, kh, vh, gh, lse2, di, gq, gk, gv, d, scale);
}
