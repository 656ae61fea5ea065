/* kernels/embedding.h — table lookup and the sinusoidal timestep embedding.
 *   embedding: table (V, D), ids (N) holding integers in [0, V) stored as floats
 *     (exact below 2^24), y (N, D) = table[ids[n]]; backward dtable[ids[n]] += dy[n]
 *     (deterministic: rows are summed in order of n). An id outside [0, V) is an error.
 *   timestep_embedding: t (N) timesteps (floats), y (N, dim), dim even, half = dim/2,
 *     f_i = exp(-ln(max_period) * i / half), y[n, i] = cos(t_n f_i), y[n, half + i] = sin(t_n f_i)
 *     (no gradient: timesteps are data). */
#ifndef LDM_KERNELS_EMBEDDING_H
#define LDM_KERNELS_EMBEDDING_H

#include "kernels/kernel_common.h"

int embedding_forward(const Tensor *table, const Tensor *ids, Tensor *y);
int embedding_backward(const Tensor *ids, const Tensor *dy, Tensor *dtable);
int timestep_embedding_forward(const Tensor *t, float max_period, Tensor *y);

int embedding_forward_cpu(const Tensor *table, const Tensor *ids, Tensor *y);
int embedding_backward_cpu(const Tensor *ids, const Tensor *dy, Tensor *dtable);
int timestep_embedding_forward_cpu(const Tensor *t, float max_period, Tensor *y);
#ifdef LDM_CUDA
int embedding_forward_cuda(const Tensor *table, const Tensor *ids, Tensor *y);
int embedding_backward_cuda(const Tensor *ids, const Tensor *dy, Tensor *dtable);
int timestep_embedding_forward_cuda(const Tensor *t, float max_period, Tensor *y);
#endif

#endif
