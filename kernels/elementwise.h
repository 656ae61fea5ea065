/* kernels/elementwise.h — elementwise and broadcast ops, and the small utilities
 * (fill, axpy) the tape and the optimizer use. See kernel_common.h for the
 * conventions (forward writes, backward accumulates, 0 / -1 + error).
 *
 * dtypes: add, mul, scale and scale_shift take fp32 or bf16 activations (a, b, x, scale,
 * shift, y), all of one call in the same dtype; the math is fp32 and a bf16 y is rounded
 * once to nearest even. Gradients (dy, da, db, dx, dscale, dshift) are fp32. fill and axpy
 * are fp32 only (they work on gradients and optimizer state).
 */
#ifndef LDM_KERNELS_ELEMENTWISE_H
#define LDM_KERNELS_ELEMENTWISE_H

#include "kernels/kernel_common.h"

/* y[i] = value */
int fill(Tensor *y, float value);
/* y[i] += alpha * x[i]   (same numel; shapes may differ, e.g. a view) */
int axpy(Tensor *y, const Tensor *x, float alpha);

/* y = a + b (same shape) */
int add_forward(const Tensor *a, const Tensor *b, Tensor *y);
/* y = a * b (same shape); backward: da += dy*b, db += dy*a */
int mul_forward(const Tensor *a, const Tensor *b, Tensor *y);
int mul_backward(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);
/* y = s * x (add's and scale's backward are axpy) */
int scale_forward(const Tensor *x, float s, Tensor *y);

/* FiLM-style per-(N, C) modulation, broadcast over H and W:
 *   x (N, H, W, C), scale (N, C) or NULL, shift (N, C) or NULL
 *   y[n,h,w,c] = x[n,h,w,c] * (1 + scale[n,c]) + shift[n,c]
 * backward: dx += dy*(1+scale); dscale[n,c] += sum_hw dy*x; dshift[n,c] += sum_hw dy.
 * x may also be (N, L, C) or any rank >= 2: dims between the first and last are
 * flattened into the broadcast axis. */
int scale_shift_forward(const Tensor *x, const Tensor *scale, const Tensor *shift, Tensor *y);
int scale_shift_backward(const Tensor *x, const Tensor *scale, const Tensor *dy, Tensor *dx, Tensor *dscale,
                         Tensor *dshift);

/* Backend entry points (called only by the front functions above, after checks). */
int fill_cpu(Tensor *y, float value);
int axpy_cpu(Tensor *y, const Tensor *x, float alpha);
int add_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y);
int mul_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y);
int mul_backward_cpu(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);
int scale_forward_cpu(const Tensor *x, float s, Tensor *y);
int scale_shift_forward_cpu(const Tensor *x, const Tensor *scale, const Tensor *shift, Tensor *y);
int scale_shift_backward_cpu(const Tensor *x, const Tensor *scale, const Tensor *dy, Tensor *dx, Tensor *dscale,
                             Tensor *dshift);
#ifdef LDM_CUDA
int fill_cuda(Tensor *y, float value);
int axpy_cuda(Tensor *y, const Tensor *x, float alpha);
int add_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y);
int mul_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y);
int mul_backward_cuda(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);
int scale_forward_cuda(const Tensor *x, float s, Tensor *y);
int scale_shift_forward_cuda(const Tensor *x, const Tensor *scale, const Tensor *shift, Tensor *y);
int scale_shift_backward_cuda(const Tensor *x, const Tensor *scale, const Tensor *dy, Tensor *dx, Tensor *dscale,
                              Tensor *dshift);
#endif

#endif
