/* kernels/attention.h — multi-head scaled dot-product attention (self or cross).
 *   q (B, Lq, C), k (B, Lk, C), v (B, Lk, C), C = heads * D, o (B, Lq, C)
 *   (any rank >= 3 is read as (first dim, product of middle dims, last dim), so an
 *   NHWC activation is its own token sequence)
 *   for each b, head h (channels [h*D, (h+1)*D)):
 *     S = scale * Q_h K_h^T   (Lq, Lk);  P = softmax_rows(S);  O_h = P V_h
 *   lse (B, heads, Lq) = log sum_j exp(S_ij), saved for backward, which recomputes P.
 * backward accumulates dq, dk, dv (any may be NULL):
 *   dP = dO V^T; dS = P * (dP - rowsum(dO * O)); dQ = scale dS K; dK = scale dS^T Q; dV = P^T dO */
#ifndef LDM_KERNELS_ATTENTION_H
#define LDM_KERNELS_ATTENTION_H

#include "kernels/kernel_common.h"

int attention_forward(const Tensor *q, const Tensor *k, const Tensor *v, int heads, float scale, Tensor *o,
                      Tensor *lse);
int attention_backward(const Tensor *q, const Tensor *k, const Tensor *v, const Tensor *o, const Tensor *lse,
                       const Tensor *dout, int heads, float scale, Tensor *dq, Tensor *dk, Tensor *dv);

int attention_forward_cpu(const Tensor *q, const Tensor *k, const Tensor *v, int heads, float scale, Tensor *o,
                          Tensor *lse);
int attention_backward_cpu(const Tensor *q, const Tensor *k, const Tensor *v, const Tensor *o, const Tensor *lse,
                           const Tensor *dout, int heads, float scale, Tensor *dq, Tensor *dk, Tensor *dv);
#ifdef LDM_CUDA
int attention_forward_cuda(const Tensor *q, const Tensor *k, const Tensor *v, int heads, float scale, Tensor *o,
                           Tensor *lse);
int attention_backward_cuda(const Tensor *q, const Tensor *k, const Tensor *v, const Tensor *o, const Tensor *lse,
                            const Tensor *dout, int heads, float scale, Tensor *dq, Tensor *dk, Tensor *dv);
/* version 3: bf16 tensor cores (kernels/cuda/attention_tc.cu); head dims <= 128 */
int attention_forward_tc_cuda(const Tensor *q, const Tensor *k, const Tensor *v, int heads, float scale, Tensor *o,
                              Tensor *lse);
int attention_backward_tc_cuda(const Tensor *q, const Tensor *k, const Tensor *v, const Tensor *o, const Tensor *lse,
                               const Tensor *dout, int heads, float scale, Tensor *dq, Tensor *dk, Tensor *dv);
#endif

#endif
