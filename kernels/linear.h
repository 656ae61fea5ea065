/* kernels/linear.h — fully connected layer over the last dim.
 *   x (..., IN), w (OUT, IN), b (OUT) or NULL, y (..., OUT):  y = x w^T + b
 * As a GEMM: M = rows of x, N = OUT, K = IN.
 * backward accumulates dx (..., IN) = dy w, dw (OUT, IN) = dy^T x, db = sum_rows dy. */
#ifndef LDM_KERNELS_LINEAR_H
#define LDM_KERNELS_LINEAR_H

#include "kernels/kernel_common.h"

int linear_forward(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y);
int linear_backward(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw, Tensor *db);

int linear_forward_cpu(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y);
int linear_backward_cpu(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw, Tensor *db);
#ifdef LDM_CUDA
int linear_forward_cuda(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y);
int linear_backward_cuda(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw, Tensor *db);
/* version 3 forward, dx and dw: bf16 tensor cores (kernels/cuda/linear_tc.cu) */
int linear_forward_tc_cuda(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y);
int linear_dx_tc_cuda(const Tensor *w, const Tensor *dy, Tensor *dx);
int linear_dw_tc_cuda(const Tensor *x, const Tensor *dy, Tensor *dw);
#endif

#endif
