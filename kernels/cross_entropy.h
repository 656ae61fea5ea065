/* kernels/cross_entropy.h — softmax cross-entropy of logits against class labels, the
 * classifier's training loss.
 *   z (N, K) logits, labels (N) floats holding class ids in [0, K)
 *   y (1) = (1/N) sum_i [ logsumexp(z_i) - z_i[label_i] ],
 *           logsumexp(z) = m + log sum_k exp(z_k - m), m = max_k z_k (no overflow)
 *   backward: dz_ik += dy / N * (softmax(z_i)_k - [k == label_i])
 * The backward recomputes the row's max and sum instead of saving the softmax: for the
 * few classes a classifier has this is cheaper than the memory.
 * Cost: forward ~3 N K FLOP + N K exp, 4 N K bytes; backward recomputes the row per
 * element on the GPU (N K^2, K <= 64) and per row on the CPU (N K).
 * A label outside [0, K) is an error naming its row (checked on the host for CPU tensors;
 * on the GPU the row contributes nothing, as the labels are not copied back). */
#ifndef LDM_KERNELS_CROSS_ENTROPY_H
#define LDM_KERNELS_CROSS_ENTROPY_H

#include "kernels/kernel_common.h"

int cross_entropy_forward(const Tensor *z, const Tensor *labels, Tensor *y);
int cross_entropy_backward(const Tensor *z, const Tensor *labels, const Tensor *dy, Tensor *dz);

int cross_entropy_forward_cpu(const Tensor *z, const Tensor *labels, Tensor *y);
int cross_entropy_backward_cpu(const Tensor *z, const Tensor *labels, const Tensor *dy, Tensor *dz);
#ifdef LDM_CUDA
int cross_entropy_forward_cuda(const Tensor *z, const Tensor *labels, Tensor *y);
int cross_entropy_backward_cuda(const Tensor *z, const Tensor *labels, const Tensor *dy, Tensor *dz);
#endif

#endif
