/* kernels/cpu/gemm.c — blocked, packed, OpenMP-parallel SGEMM (the Goto/BLIS scheme).
 *
 *   C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C        2*M*N*K FLOP
 *
 * Loops, outermost first, inside one thread's tile of C:
 *   jc: NC columns of C        B block (KC, NC) lives in L2
 *   pc: KC of the depth        pack B block once per (jc, pc)
 *   ic: MC rows of C           pack A block (MC, KC) once per (jc, pc, ic), L2
 *   jr: NR columns             one B micro-panel (KC, NR) stays in L1 ...
 *   ir: MR rows                ... while the A micro-panels (MR, KC) stream past it
 *   micro-kernel: an MR x NR tile of C in registers, one rank-1 update per k.
 * Packing puts each micro-panel contiguous in the order the micro-kernel reads it, and
 * pads it with zeros to MR / NR lanes, so the micro-kernel never branches on edges; the
 * edges are handled only when the tile is written back.
 *
 * Registers (AVX-512, 32 zmm): 12 x 32 tile = 24 accumulators + 2 B vectors, A comes in
 * as broadcast scalars: 24 FMA per 2 vector loads + 12 broadcasts (14 rows would need all
 * 32 registers and GCC spills one). AVX2 (16 ymm): 6 x 16 = 12 accumulators. Without
 * either, a 4 x 4 scalar tile. Blocks: MC = 240, KC = 256, NC = 512 for AVX-512 (A block
 * 240 KB and B block 512 KB in a 1 MB L2; one B micro-panel 32 KB in a 48 KB L1).
 *
 * Threads: C is cut into about 4 tiles per thread along the dimension of the larger
 * operand, handed out dynamically; each tile runs the loops above with its thread's pack
 * buffers. The smaller operand, which every tile reads, is packed once up front by all
 * threads together (when it fits in 16 MB), so a conv's weights or a wgrad's dy^T are
 * not re-packed per tile. The depth is never split: no two threads write one element,
 * and each element is summed in the same order whatever the thread count.
 * Small products (cpu_par_flops, cpu_util.h) run on the calling thread.
 */
#include "kernels/cpu/gemm.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/cpu/cpu_util.h"

/* Register tiles: see the top of the file. */
#if VW == 16
#define MR 12
#define NR 32
#elif VW == 8
#define MR 6
#define NR 16
#else
#define MR 4
#define NR 4
#endif
/* The scalar rounding of the vector FMA, for edge tiles. */
#if VW == 1
static inline float f_fma(float a, float b, float c) { return vf_fma(a, b, c); }
#else
static inline float f_fma(float a, float b, float c) { return fmaf(a, b, c); }
#endif

#define NV (NR / VW)
#define MC (MR * 20)
#define KC 256
#define NC (NR * 16)
#define PACK_FLOATS (MC * KC + KC * NC) /* one thread's A block + B block */

// ----------------------------------------------------------------------------
// packers for strided matrices

void gemm_pack_lane_rows(const GemmOperand *x, int i0, int ni, int k0, int nk, int width, float *dst) {
    for (int i = 0; i < ni; i++) {
        const float *src = x->p + (size_t)(i0 + i) * x->ld + k0;
        for (int k = 0; k < nk; k++) dst[(size_t)k * width + i] = src[k];
    }
    for (int i = ni; i < width; i++)
        for (int k = 0; k < nk; k++) dst[(size_t)k * width + i] = 0.0f;
}

void gemm_pack_depth_rows(const GemmOperand *x, int i0, int ni, int k0, int nk, int width, float *dst) {
    for (int k = 0; k < nk; k++) {
        const float *src = x->p + (size_t)(k0 + k) * x->ld + i0;
        float *d = dst + (size_t)k * width;
        memcpy(d, src, (size_t)ni * sizeof(float));
        for (int i = ni; i < width; i++) d[i] = 0.0f;
    }
}

// ----------------------------------------------------------------------------
// micro-kernel: c[i][j] = alpha * sum_k a[k][i] b[k][j] + beta * c[i][j], i < mr, j < nr,
// where c[i][j] is row[i][col + j]
// Edge tiles round exactly like full ones (same FMA), so a result does not depend on
// where the thread tiles fall.

static void micro_kernel(int kc, const float *restrict a, const float *restrict b, float *const *row, int col, int mr,
                         int nr, float alpha, float beta) {
    vf acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) acc[i][j] = vf_set1(0.0f);
    for (int k = 0; k < kc; k++, a += MR, b += NR) {
        vf bv[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) bv[j] = vf_load(b + j * VW);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            vf av = vf_set1(a[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) acc[i][j] = vf_fma(av, bv[j], acc[i][j]);
        }
    }
    vf va = vf_set1(alpha), vb = vf_set1(beta);
    if (mr == MR && nr == NR) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) {
                float *p = row[i] + col + j * VW;
                vf v = vf_mul(va, acc[i][j]);
                if (beta != 0.0f) v = vf_fma(vb, vf_loadu(p), v);
                vf_storeu(p, v);
            }
        return;
    }
    _Alignas(64) float t[MR][NR];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++) vf_storeu(&t[i][j * VW], acc[i][j]);
    for (int i = 0; i < mr; i++) {
        float *c = row[i] + col;
        for (int j = 0; j < nr; j++) c[j] = beta != 0.0f ? f_fma(beta, c[j], alpha * t[i][j]) : alpha * t[i][j];
    }
}

// ----------------------------------------------------------------------------
// the thin product: y (M, OUT) = x (M, IN) w^T + b with a short depth IN, no packing of x.
// w^T is packed once into blocks of THIN_NV vectors of outputs, (OUT / (THIN_NV*VW), IN,
// THIN_NV*VW); x is read where it lies: a register tile of THIN_ROWS rows x THIN_NV vectors,
// one broadcast of x[r][k] per row and THIN_NV loads of w^T per k, like the micro-kernel
// above but with x unpacked. Rows go in chunks of THIN_CHUNK (x's chunk stays in L1 while
// every block of w^T passes it); the chunks are shared by the threads, and each element is
// summed over k in order and the bias added last, as the packed GEMM does: the same bits
// whatever the thread count, and as the GEMM path (beta = 1 over the bias rows).

#if VW == 16
#define THIN_ROWS 12 /* 24 of 32 zmm accumulate */
#define THIN_NV 2
#elif VW == 8
#define THIN_ROWS 6 /* 12 of 16 ymm accumulate, 2 hold w^T, 1 the broadcast */
#define THIN_NV 2
#else
#define THIN_ROWS 4
#define THIN_NV 4
#endif
#define THIN_NR (THIN_NV * VW) /* outputs per block */
#define THIN_CHUNK (THIN_ROWS * 8)

/* Rows m0 .. m0+THIN_ROWS-1 (those past M repeat the last one; their sums are dropped)
 * times block `blk` of the packed w^T (wt: IN x THIN_NR), into y with the bias. */
static inline __attribute__((always_inline)) void thin_tile(const float *x, const float *wt, const float *b,
                                                            float *y, int M, int IN, int OUT, int m0, int blk) {
    const float *xr[THIN_ROWS];
    for (int i = 0; i < THIN_ROWS; i++) xr[i] = x + (size_t)(m0 + i < M ? m0 + i : M - 1) * IN;
    vf acc[THIN_ROWS][THIN_NV];
#pragma GCC unroll 12
    for (int i = 0; i < THIN_ROWS; i++)
#pragma GCC unroll 4
        for (int j = 0; j < THIN_NV; j++) acc[i][j] = vf_set1(0.0f);
    for (int k = 0; k < IN; k++) {
        vf wv[THIN_NV];
#pragma GCC unroll 4
        for (int j = 0; j < THIN_NV; j++) wv[j] = vf_load(wt + (size_t)k * THIN_NR + j * VW);
#pragma GCC unroll 12
        for (int i = 0; i < THIN_ROWS; i++) {
            const vf xv = vf_set1(xr[i][k]);
#pragma GCC unroll 4
            for (int j = 0; j < THIN_NV; j++) acc[i][j] = vf_fma(xv, wv[j], acc[i][j]);
        }
    }
    const int o0 = blk * THIN_NR, no = OUT - o0 < THIN_NR ? OUT - o0 : THIN_NR;
    if (m0 + THIN_ROWS <= M && no == THIN_NR) { /* a whole tile: vector stores, acc stays in registers */
#pragma GCC unroll 12
        for (int i = 0; i < THIN_ROWS; i++)
#pragma GCC unroll 4
            for (int j = 0; j < THIN_NV; j++) {
                float *yo = y + (size_t)(m0 + i) * OUT + o0 + j * VW;
                vf_storeu(yo, b ? vf_add(acc[i][j], vf_loadu(b + o0 + j * VW)) : acc[i][j]);
            }
        return;
    }
    float t[THIN_ROWS][THIN_NR];
    for (int i = 0; i < THIN_ROWS; i++)
        for (int j = 0; j < THIN_NV; j++) vf_storeu(&t[i][j * VW], acc[i][j]);
    for (int i = 0; i < THIN_ROWS && m0 + i < M; i++)
        for (int o = 0; o < no; o++) y[(size_t)(m0 + i) * OUT + o0 + o] = b ? t[i][o] + b[o0 + o] : t[i][o];
}

int gemm_thin(const float *x, const float *w, const float *b, float *y, int M, int IN, int OUT) {
    const int blocks = (OUT + THIN_NR - 1) / THIN_NR, chunks = (M + THIN_CHUNK - 1) / THIN_CHUNK;
    float *wt = cpu_scratch(SCRATCH_GEMM_THIN, (size_t)blocks * IN * THIN_NR * sizeof(float), "gemm_thin");
    if (!wt) return -1;
    for (int blk = 0; blk < blocks; blk++)
        for (int k = 0; k < IN; k++)
            for (int j = 0; j < THIN_NR; j++) {
                int o = blk * THIN_NR + j;
                wt[((size_t)blk * IN + k) * THIN_NR + j] = o < OUT ? w[(size_t)o * IN + k] : 0.0f;
            }
#pragma omp parallel for schedule(static) if (parallel: cpu_par_flops(2.0 * M * IN * OUT))
    for (int c = 0; c < chunks; c++) {
        const int m1 = (c + 1) * THIN_CHUNK < M ? (c + 1) * THIN_CHUNK : M;
        for (int blk = 0; blk < blocks; blk++)
            for (int m0 = c * THIN_CHUNK; m0 < m1; m0 += THIN_ROWS)
                thin_tile(x, wt + (size_t)blk * IN * THIN_NR, b, y, m1, IN, OUT, m0, blk);
    }
    return 0;
}

// ----------------------------------------------------------------------------
// driver

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int round_up(int a, int b) { return (a + b - 1) / b * b; }

static float *crow(const GemmOut *c, int m) { return c->row ? c->row(c, m) : c->p + (size_t)m * c->ld; }

/* One product and how it is cut: sa / sb are op(A) / op(B) packed once for all tiles
 * (or NULL: each tile packs its own blocks), in the same layout the tiles pack into:
 * depth block pc starts at pc * Mp (Np), micro-panel i at i * kc within it. */
typedef struct {
    int M, N, K, Mp, Np;
    float alpha, beta;
    const GemmOperand *a, *b;
    const GemmOut *c;
    float *sa, *sb;
} Gemm;

/* C[m0:m1, n0:n1], with one thread's pack buffers pa (MC*KC) and pb (KC*NC). */
static void gemm_tile(const Gemm *g, int m0, int m1, int n0, int n1, float *pa, float *pb) {
    for (int jc = n0; jc < n1; jc += NC) {
        int nc = imin(NC, n1 - jc);
        for (int pc = 0; pc < g->K; pc += KC) {
            int kc = imin(KC, g->K - pc);
            float beta = pc == 0 ? g->beta : 1.0f;
            const float *bb = pb;
            if (g->sb)
                bb = g->sb + (size_t)pc * g->Np + (size_t)jc * kc;
            else
                for (int jr = 0; jr < nc; jr += NR)
                    g->b->pack(g->b, jc + jr, imin(NR, nc - jr), pc, kc, NR, pb + (size_t)jr * kc);
            for (int ic = m0; ic < m1; ic += MC) {
                int mc = imin(MC, m1 - ic);
                const float *aa = pa;
                if (g->sa)
                    aa = g->sa + (size_t)pc * g->Mp + (size_t)ic * kc;
                else
                    for (int ir = 0; ir < mc; ir += MR)
                        g->a->pack(g->a, ic + ir, imin(MR, mc - ir), pc, kc, MR, pa + (size_t)ir * kc);
                float *rows[MC];
                for (int i = 0; i < mc; i++) rows[i] = crow(g->c, ic + i);
                for (int jr = 0; jr < nc; jr += NR)
                    for (int ir = 0; ir < mc; ir += MR)
                        micro_kernel(kc, aa + (size_t)ir * kc, bb + (size_t)jr * kc, rows + ir, jc + jr,
                                     imin(MR, mc - ir), imin(NR, nc - jr), g->alpha, beta);
            }
        }
    }
}

/* All of an operand (`lanes` lanes padded to `plen`) packed in gemm_tile's layout; the
 * panels are shared out among the threads of the enclosing parallel region. */
static void prepack(const GemmOperand *x, int lanes, int plen, int K, int width, float *dst) {
    int npan = plen / width, nblk = (K + KC - 1) / KC;
#pragma omp for schedule(static)
    for (int t = 0; t < nblk * npan; t++) {
        int pc = (t / npan) * KC, i0 = (t % npan) * width, kc = imin(KC, K - pc);
        x->pack(x, i0, imin(width, lanes - i0), pc, kc, width, dst + (size_t)pc * plen + (size_t)i0 * kc);
    }
}

/* Tile length: len / parts rounded up to `unit`, within [lo, hi]. */
static int tile_len(int len, int parts, int unit, int lo, int hi) {
    int t = round_up((len + parts - 1) / parts, unit);
    return t < lo ? lo : t > hi ? hi : t;
}

/* K == 0: C = beta * C. */
static void scale_rows(int M, int N, float beta, const GemmOut *c) {
    for (int m = 0; m < M; m++) {
        float *r = crow(c, m);
        for (int n = 0; n < N; n++) r[n] = beta != 0.0f ? beta * r[n] : 0.0f;
    }
}

#define SHARED_MAX ((size_t)4 << 20) /* floats: an operand is packed once for all tiles up to 16 MB */

int gemm_ex(int M, int N, int K, float alpha, const GemmOperand *a, const GemmOperand *b, float beta,
            const GemmOut *c) {
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) {
        scale_rows(M, N, beta, c);
        return 0;
    }
    Gemm g = {M, N, K, round_up(M, MR), round_up(N, NR), alpha, beta, a, b, c, NULL, NULL};
    int nt = omp_in_parallel() || !cpu_par_flops(2.0 * M * N * K) ? 1 : omp_get_max_threads();
    /* About 4 tiles per thread, handed out dynamically (a thread that loses its core does
     * not hold up the rest). Cut the dimension of the larger operand, so that the smaller
     * one is the operand every tile reads, and pack that one once for all tiles. */
    int mt = g.Mp, ntl = g.Np, want = 4 * nt;
    size_t size_a = (size_t)g.Mp * K, size_b = (size_t)g.Np * K;
    if (nt > 1 && size_b <= size_a) {
        mt = tile_len(M, want, MR, imin(4 * MR, g.Mp), MC);
        int tm = (M + mt - 1) / mt;
        if (tm < want) ntl = tile_len(N, (want + tm - 1) / tm, NR, NR, g.Np);
    } else if (nt > 1) {
        ntl = tile_len(N, want, NR, imin(2 * NR, g.Np), NC);
        int tn = (N + ntl - 1) / ntl;
        if (tn < want) mt = tile_len(M, (want + tn - 1) / tn, MR, MR, g.Mp);
    }
    int tm = (M + mt - 1) / mt, tn = (N + ntl - 1) / ntl;
    bool share_a = tn > 1 && size_a <= SHARED_MAX, share_b = tm > 1 && size_b <= SHARED_MAX;
    size_t floats = (size_t)nt * PACK_FLOATS + (share_a ? size_a + 16 : 0) + (share_b ? size_b : 0);
    float *buf = cpu_scratch(SCRATCH_GEMM_PACK, floats * sizeof(float), "gemm");
    if (!buf) return -1;
    float *shared = buf + (size_t)nt * PACK_FLOATS;
    if (share_a) g.sa = shared, shared += (size_a + 15) / 16 * 16; /* keep sb 64-byte aligned */
    if (share_b) g.sb = shared;
#pragma omp parallel num_threads(nt)
    {
        if (g.sa) prepack(a, M, g.Mp, K, MR, g.sa);
        if (g.sb) prepack(b, N, g.Np, K, NR, g.sb);
        float *pa = buf + (size_t)omp_get_thread_num() * PACK_FLOATS;
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tm * tn; t++) {
            int m0 = (t / tn) * mt, n0 = (t % tn) * ntl;
            gemm_tile(&g, m0, imin(M, m0 + mt), n0, imin(N, n0 + ntl), pa, pa + MC * KC);
        }
    }
    return 0;
}

// ----------------------------------------------------------------------------
// the classic BLAS-style entry point

int sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
          int ldb, float beta, float *C, int ldc) {
    if (M < 0 || N < 0 || K < 0) return ldm_error("gemm", "negative size M %d, N %d, K %d", M, N, K);
    if (lda < (trans_a ? M : K) || lda < 1)
        return ldm_error("gemm", "lda %d too small for A %s (M %d, K %d)", lda, trans_a ? "(K, M)" : "(M, K)", M, K);
    if (ldb < (trans_b ? K : N) || ldb < 1)
        return ldm_error("gemm", "ldb %d too small for B %s (K %d, N %d)", ldb, trans_b ? "(N, K)" : "(K, N)", K, N);
    if (ldc < N || ldc < 1) return ldm_error("gemm", "ldc %d too small for C (M %d, N %d)", ldc, M, N);
    if (M == 0 || N == 0) return 0;
    if (!C || (K > 0 && (!A || !B))) return ldm_error("gemm", "NULL matrix (M %d, N %d, K %d)", M, N, K);
    GemmOperand a = {trans_a ? gemm_pack_depth_rows : gemm_pack_lane_rows, A, lda, NULL};
    GemmOperand b = {trans_b ? gemm_pack_lane_rows : gemm_pack_depth_rows, B, ldb, NULL};
    GemmOut c = {C, ldc, NULL, NULL};
    return gemm_ex(M, N, K, alpha, &a, &b, beta, &c);
}

// ----------------------------------------------------------------------------
// bias helpers: rows*n FLOP and 4*rows*n bytes each, memory-bound

void gemm_fill_rows(float *y, long rows, int n, const float *b) {
#pragma omp parallel for schedule(static) if (cpu_par(4.0 * rows * n))
    for (long r = 0; r < rows; r++) memcpy(y + r * n, b, (size_t)n * sizeof(float));
}

/* The sums go in a fixed order, whatever the thread count: each column, within a chunk of
 * SUM_CHUNK rows, in float (four rows interleaved, so four vector adds are in flight), and
 * the chunks in double, first to last. The (chunk, block of 16 columns) pieces are the
 * work items, so a narrow dy (16 or 32 channels, tens of thousands of rows: a conv's bias)
 * still splits over its rows; each piece's sums wait in scratch for the ordered total. */
#define SUM_CHUNK 256

/* The float sums of rows r0 .. r1-1 of columns j0 .. j0+w-1 (w <= 16). */
static void chunk_sums(const float *dy, long r0, long r1, int n, int j0, int w, double *out) {
    float part[4][16] = {{0}};
    long r = r0;
    if (w == 16)
        for (; r + 4 <= r1; r += 4)
            for (int i = 0; i < 4; i++)
#pragma GCC unroll 16
                for (int j = 0; j < 16; j++) part[i][j] += dy[(r + i) * n + j0 + j];
    for (; r < r1; r++)
        for (int j = 0; j < w; j++) part[0][j] += dy[r * n + j0 + j];
    for (int j = 0; j < w; j++) out[j] = (double)((part[0][j] + part[1][j]) + (part[2][j] + part[3][j]));
}

int gemm_sum_rows(const float *dy, long rows, int n, float *db) {
    int nb = (n + 15) / 16;
    long nc = (rows + SUM_CHUNK - 1) / SUM_CHUNK, items = nc * nb;
    double *part = cpu_scratch(SCRATCH_SUM_ROWS, (size_t)items * 16 * sizeof(double), "bias gradient"); /* (nc, nb, 16) */
    if (!part) return -1;
#pragma omp parallel for schedule(dynamic, 4) if (cpu_par(4.0 * rows * n) && items > 1)
    for (long t = 0; t < items; t++) {
        long r0 = t / nb * SUM_CHUNK, r1 = rows - r0 < SUM_CHUNK ? rows : r0 + SUM_CHUNK;
        int j0 = (int)(t % nb) * 16;
        chunk_sums(dy, r0, r1, n, j0, imin(16, n - j0), part + t * 16);
    }
    for (int j = 0; j < n; j++) {
        double acc = 0;
        for (long c = 0; c < nc; c++) acc += part[(c * nb + j / 16) * 16 + j % 16];
        db[j] += (float)acc;
    }
    return 0;
}
