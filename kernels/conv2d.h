/* kernels/conv2d.h — 2-D convolution, NHWC activations, KRSC weights.
 *   x (N, H, W, C), w (K, R, S, C), b (K) or NULL, y (N, P, Q, K)
 *   P = (H + 2*pad - R) / stride + 1,  Q = (W + 2*pad - S) / stride + 1
 *   y[n,p,q,k] = b[k] + sum_{r,s,c} x[n, p*stride - pad + r, q*stride - pad + s, c] * w[k,r,s,c]
 * (zero padding). As a GEMM: M = N*P*Q, N = K, K = R*S*C.
 * conv2d_forward_res adds a residual res (N, P, Q, K) in the same pass: y = conv(x) + b + res
 * (a ResBlock's skip; res must not be y).
 * Supported: R = S in {1, 3}, stride in {1, 2}, any pad >= 0 with P, Q >= 1.
 * backward accumulates dx (N,H,W,C), dw (K,R,S,C), db (K); any may be NULL. */
#ifndef LDM_KERNELS_CONV2D_H
#define LDM_KERNELS_CONV2D_H

#include "kernels/kernel_common.h"

int conv2d_forward(const Tensor *x, const Tensor *w, const Tensor *b, int stride, int pad, Tensor *y);
int conv2d_forward_res(const Tensor *x, const Tensor *w, const Tensor *b, const Tensor *res, int stride, int pad,
                       Tensor *y);
int conv2d_backward(const Tensor *x, const Tensor *w, const Tensor *dy, int stride, int pad, Tensor *dx, Tensor *dw,
                    Tensor *db);
/* Output spatial size for the given input size; -1 with an error when it is < 1. */
int conv2d_out_size(int in, int k, int stride, int pad);

int conv2d_forward_cpu(const Tensor *x, const Tensor *w, const Tensor *b, int stride, int pad, Tensor *y);
int conv2d_backward_cpu(const Tensor *x, const Tensor *w, const Tensor *dy, int stride, int pad, Tensor *dx,
                        Tensor *dw, Tensor *db);
#ifdef LDM_CUDA
int conv2d_forward_cuda(const Tensor *x, const Tensor *w, const Tensor *b, const Tensor *res, int stride, int pad,
                        Tensor *y);
int conv2d_backward_cuda(const Tensor *x, const Tensor *w, const Tensor *dy, int stride, int pad, Tensor *dx,
                         Tensor *dw, Tensor *db);
/* version 3: bf16 tensor cores (kernels/cuda/conv2d_tc.cu); res (N,P,Q,K) or NULL is added to y;
 * the backward does dx and dw (db is version 2's) */
int conv2d_forward_tc_cuda(const Tensor *x, const Tensor *w, const Tensor *b, const Tensor *res, int stride, int pad,
                           Tensor *y);
int conv2d_backward_tc_cuda(const Tensor *x, const Tensor *w, const Tensor *dy, int stride, int pad, Tensor *dx,
                            Tensor *dw);
#endif

#endif
