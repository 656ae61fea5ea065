/* kernels/reduce.h — reductions and losses, all to a scalar y (1).
 * Deterministic: a fixed summation order (blocked pairwise on the CPU, a fixed tree
 * on the GPU), accumulated in double on the CPU.
 *   sum:   y = sum_i x_i                     backward dx += dy
 *   mean:  y = sum_i x_i / n                 backward dx += dy / n
 *   mse:   y = mean_i (a_i - b_i)^2          backward da += dy*2(a-b)/n, db -= same
 *   l1:    y = mean_i |a_i - b_i|            backward da += dy*sign(a-b)/n, db -= same (sign(0) = 0)
 *   sumsq: *out = sum_i x_i^2 on the host    (gradient clipping; no backward) */
#ifndef LDM_KERNELS_REDUCE_H
#define LDM_KERNELS_REDUCE_H

#include "kernels/kernel_common.h"

int sum_forward(const Tensor *x, Tensor *y);
int mean_forward(const Tensor *x, Tensor *y);
/* dx += dy[0] * k for every element (the backward of sum with k=1, of mean with k=1/n) */
int broadcast_scalar_backward(const Tensor *dy, float k, Tensor *dx);
int mse_forward(const Tensor *a, const Tensor *b, Tensor *y);
int mse_backward(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);
int l1_forward(const Tensor *a, const Tensor *b, Tensor *y);
int l1_backward(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);
int sumsq(const Tensor *x, double *out);

/* CPU helper shared by the scalar reductions (also gaussian.c): *out = sum_{i < n} f(i) with
 * f summed in double over fixed blocks of REDUCE_BLOCK elements (fn(ctx, lo, hi) returns
 * the sum over [lo, hi)), the block sums then added pairwise. The order depends on n
 * only, never on the thread count. -1 + error (naming op) when out of memory. */
#define REDUCE_BLOCK 4096
typedef double (*ReduceBlockFn)(const void *ctx, long lo, long hi);
int reduce_blocked_cpu(const char *op, long n, ReduceBlockFn fn, const void *ctx, double *out);

int sum_forward_cpu(const Tensor *x, Tensor *y);
int broadcast_scalar_backward_cpu(const Tensor *dy, float k, Tensor *dx);
int mse_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y);
int mse_backward_cpu(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);
int l1_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y);
int l1_backward_cpu(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);
int sumsq_cpu(const Tensor *x, double *out);
#ifdef LDM_CUDA
int sum_forward_cuda(const Tensor *x, Tensor *y);
int broadcast_scalar_backward_cuda(const Tensor *dy, float k, Tensor *dx);
int mse_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y);
int mse_backward_cuda(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);
int l1_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y);
int l1_backward_cuda(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);
int sumsq_cuda(const Tensor *x, double *out);
#endif

#endif
