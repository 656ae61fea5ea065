/* kernels/cpu/linear.c — fully connected layer on the CPU, three GEMMs (kernels/cpu/gemm.h).
 *
 *   x (M, IN) (leading dims flattened), w (OUT, IN), b (OUT), y (M, OUT)
 *   forward  y  = x w^T + b        2*M*OUT*IN FLOP
 *   dgrad    dx += dy w            2*M*OUT*IN FLOP
 *   wgrad    dw += dy^T x          2*M*OUT*IN FLOP
 *   bias     db += sum_rows dy     M*OUT FLOP
 * Bytes: each operand read once per GEMM at best, 4*(M*IN + OUT*IN + M*OUT).
 */
#include "kernels/cpu/gemm.h"
#include "kernels/linear.h"

int linear_forward_cpu(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y) {
    int M = (int)tensor_rows(x), OUT = w->shape[0], IN = w->shape[1];
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
