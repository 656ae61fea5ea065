/* kernels/cpu/linear.c — fully connected layer on the CPU, three GEMMs (kernels/cpu/gemm.h).
 *
 *   x (M, IN) (leading dims flattened), w (OUT, IN), b (OUT), y (M, OUT)
 *   forward  y  = x w^T + b        2*M*OUT*IN FLOP
 *   dgrad    dx += dy w            2*M*OUT*IN FLOP
 *   wgrad    dw += dy^T x          2*M*OUT*IN FLOP
 *   bias     db += sum_rows dy     M*OUT FLOP
 * Bytes: each operand read once per GEMM at best, 4*(M*IN + OUT*IN + M*OUT).
 *
 * A forward of at most FEW_ROWS rows (the U-Net's time and class embeddings: 8 rows of
 * 32-128) skips the GEMM: packing w (OUT*IN floats) cost more than the 2*M*OUT*IN FLOPs it
 * served (8 x 128 -> 128: 30 us, PyTorch 15 us). There each output is the dot product of
 * two contiguous rows, 4 rows x 2 outputs per block of 8 vector accumulators, the last
 * IN % VW terms added in order after the vector sum; the bias is added last, as the GEMM
 * path adds it.
 *
 * A thin forward, IN <= THIN_IN and w at most THIN_W_FLOATS (the attention projections:
 * 2048 x 32 -> 32 in the VAE, 512 x 64 -> 64 in the U-Net), skips the GEMM too: its packing
 * of x and the loops around it cost as much as the FMAs (2048 x 32 -> 32 took 0.11 ms on one
 * core, PyTorch 0.08 ms). There w^T is packed once into blocks of THIN_NV vectors of
 * outputs, (OUT / (THIN_NV*VW), IN, THIN_NV*VW), and x is read where it lies: a register
 * tile of THIN_ROWS rows x THIN_NV vectors, one broadcast of x[r][k] per row and THIN_NV
 * loads of w^T per k. Rows go in chunks of THIN_CHUNK (x's chunk stays in L1 while every
 * block of w^T passes it); the chunks are shared by the threads, each element summed in the
 * same order whatever the thread count.
 *
 * The path depends on the shape alone, never on the thread count.
 */
#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/gemm.h"
#include "kernels/linear.h"

#define FEW_ROWS 8
#define THIN_IN 128
#define THIN_W_FLOATS 32768 /* 128 KB: w^T stays in L2 */
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

static void linear_few_rows(const float *x, const float *w, const float *b, float *y, int M, int IN, int OUT) {
    const int kv = IN / VW * VW;
    for (int o0 = 0; o0 < OUT; o0 += 2)
        for (int m0 = 0; m0 < M; m0 += 4) {
            /* rows past M and an output past OUT repeat the last one; their sums are dropped */
            const float *xr[4], *wr[2];
            for (int i = 0; i < 4; i++) xr[i] = x + (size_t)(m0 + i < M ? m0 + i : M - 1) * IN;
            for (int j = 0; j < 2; j++) wr[j] = w + (size_t)(o0 + j < OUT ? o0 + j : OUT - 1) * IN;
            vf acc[4][2];
            for (int i = 0; i < 4; i++) acc[i][0] = acc[i][1] = vf_set1(0.0f);
            for (int k = 0; k < kv; k += VW) {
                const vf w0 = vf_loadu(wr[0] + k), w1 = vf_loadu(wr[1] + k);
                for (int i = 0; i < 4; i++) {
                    const vf xv = vf_loadu(xr[i] + k);
                    acc[i][0] = vf_fma(xv, w0, acc[i][0]);
                    acc[i][1] = vf_fma(xv, w1, acc[i][1]);
                }
            }
            for (int i = 0; i < 4 && m0 + i < M; i++)
                for (int j = 0; j < 2 && o0 + j < OUT; j++) {
                    float sum = vf_sum(acc[i][j]);
                    for (int k = kv; k < IN; k++) sum += xr[i][k] * wr[j][k];
                    y[(size_t)(m0 + i) * OUT + o0 + j] = b ? sum + b[o0 + j] : sum;
                }
        }
}

/* Rows m0 .. m0+THIN_ROWS-1 (those past M repeat the last one; their sums are dropped)
 * times block `blk` of the packed w^T (wt: IN x THIN_NR), into y with the bias. */
static inline __attribute__((always_inline)) void thin_tile(const float *x, const float *wt, const float *b, float *y, int M, int IN, int OUT,
                             int m0, int blk) {
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

static int linear_thin(const float *x, const float *w, const float *b, float *y, int M, int IN, int OUT) {
    const int blocks = (OUT + THIN_NR - 1) / THIN_NR, chunks = (M + THIN_CHUNK - 1) / THIN_CHUNK;
    float *wt = cpu_scratch(SCRATCH_LINEAR, (size_t)blocks * IN * THIN_NR * sizeof(float), "linear");
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

int linear_forward_cpu(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y) {
    int M = (int)tensor_rows(x), OUT = w->shape[0], IN = w->shape[1];
    if (M <= FEW_ROWS) {
        linear_few_rows(x->data, w->data, b ? b->data : NULL, y->data, M, IN, OUT);
        return 0;
    }
    if (IN <= THIN_IN && (size_t)IN * OUT <= THIN_W_FLOATS)
        return linear_thin(x->data, w->data, b ? b->data : NULL, y->data, M, IN, OUT);
    if (b) gemm_fill_rows(y->data, M, OUT, b->data);
    return sgemm(false, true, M, OUT, IN, 1.0f, x->data, IN, w->data, IN, b ? 1.0f : 0.0f, y->data, OUT);
}

int linear_backward_cpu(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw, Tensor *db) {
    int M = (int)tensor_rows(x), OUT = w->shape[0], IN = w->shape[1];
    if (db && gemm_sum_rows(dy->data, M, OUT, db->data)) return -1;
    if (dw && sgemm(true, false, OUT, IN, M, 1.0f, dy->data, OUT, x->data, IN, 1.0f, dw->data, IN)) return -1;
    if (dx && sgemm(false, false, M, IN, OUT, 1.0f, dy->data, OUT, w->data, IN, 1.0f, dx->data, IN)) return -1;
    return 0;
}
