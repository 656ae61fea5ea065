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
 * A thin forward, IN <= GEMM_THIN_K and w at most GEMM_THIN_W_FLOATS (the attention
 * projections: 2048 x 32 -> 32 in the VAE, 512 x 64 -> 64 in the U-Net), skips the packed
 * GEMM too: its packing of x and the loops around it cost as much as the FMAs (2048 x 32 ->
 * 32 took 0.11 ms on one core, PyTorch 0.08 ms). gemm_thin (gemm.c) reads x where it lies.
 *
 * The path depends on the shape alone, never on the thread count.
 */
#include "kernels/cpu/gemm.h"
#include "kernels/linear.h"

#define FEW_ROWS 8

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

int linear_forward_cpu(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y) {
    int M = (int)tensor_rows(x), OUT = w->shape[0], IN = w->shape[1];
    if (M <= FEW_ROWS) {
        linear_few_rows(x->data, w->data, b ? b->data : NULL, y->data, M, IN, OUT);
        return 0;
    }
    if (gemm_thin_fits(IN, OUT)) return gemm_thin(x->data, w->data, b ? b->data : NULL, y->data, M, IN, OUT);
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
