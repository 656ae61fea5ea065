/* autograd/ops.h — differentiable ops: kernel forward + a recorded backward.
 *
 * Each ag_* allocates its output from the tape's arena, runs the kernel forward, and
 * when tape_wants_grad() records a node whose backward calls the kernel backward.
 * NULL in, NULL out: if any required input is NULL (an earlier op failed) the op
 * returns NULL and keeps the first error message. On its own failure it returns NULL
 * with an error naming the op and the shapes.
 *
 * Shapes follow the headers in kernels/. Activations are NHWC; token sequences are (B, L, C).
 */
#ifndef LDM_AUTOGRAD_OPS_H
#define LDM_AUTOGRAD_OPS_H

#include <stdbool.h>

#include "autograd/tape.h"

/* kernels/conv2d.h: x (N,H,W,C), w (K,R,S,C), b (K) or NULL -> (N,P,Q,K) */
Tensor *ag_conv2d(Tape *t, Tensor *x, Tensor *w, Tensor *b, int stride, int pad);
/* conv2d(x, w, b) + res in one pass (res (N,P,Q,K): a ResBlock's skip) */
Tensor *ag_conv2d_res(Tape *t, Tensor *x, Tensor *w, Tensor *b, Tensor *res, int stride, int pad);
/* kernels/linear.h: x (..., IN), w (OUT, IN), b (OUT) or NULL -> (..., OUT) */
Tensor *ag_linear(Tape *t, Tensor *x, Tensor *w, Tensor *b);
/* kernels/group_norm.h: NHWC, `groups` groups, optional fused SiLU */
Tensor *ag_group_norm(Tape *t, Tensor *x, Tensor *gamma, Tensor *beta, int groups, float eps, bool silu);
/* kernels/layer_norm.h: over the last dim */
Tensor *ag_layer_norm(Tape *t, Tensor *x, Tensor *gamma, Tensor *beta, float eps);
Tensor *ag_silu(Tape *t, Tensor *x);
/* kernels/attention.h: q (B, Lq, C), k and v (B, Lk, C), scale = 1/sqrt(C/heads); output has q's shape */
Tensor *ag_attention(Tape *t, Tensor *q, Tensor *k, Tensor *v, int heads);
/* kernels/embedding.h: timesteps (N) -> (N, dim), max_period 10000; never records */
Tensor *ag_timestep_embedding(Tape *t, Tensor *timesteps, int dim);
/* table (V, D), ids (N) -> (N, D) */
Tensor *ag_embedding(Tape *t, Tensor *table, Tensor *ids);
Tensor *ag_upsample2x(Tape *t, Tensor *x);
Tensor *ag_concat_channels(Tape *t, Tensor *a, Tensor *b);
Tensor *ag_slice_channels(Tape *t, Tensor *x, int c0, int c1);
Tensor *ag_add(Tape *t, Tensor *a, Tensor *b);
Tensor *ag_mul(Tape *t, Tensor *a, Tensor *b);
Tensor *ag_scale(Tape *t, Tensor *x, float s);
/* x (N, ..., C), scale and shift (N, C), either may be NULL: x * (1 + scale) + shift */
Tensor *ag_scale_shift(Tape *t, Tensor *x, Tensor *scale, Tensor *shift);
/* Same data, new shape (same numel); the gradient flows back unchanged. */
Tensor *ag_reshape(Tape *t, Tensor *x, int ndim, const int *shape);
/* Scalars (shape (1)). */
Tensor *ag_sum(Tape *t, Tensor *x);
Tensor *ag_mean(Tape *t, Tensor *x);
Tensor *ag_mse_loss(Tape *t, Tensor *pred, Tensor *target);
Tensor *ag_l1_loss(Tape *t, Tensor *pred, Tensor *target);
/* kernels/cross_entropy.h: logits (N, K), labels (N) class ids as floats -> mean loss (1);
 * the labels get no gradient */
Tensor *ag_cross_entropy(Tape *t, Tensor *logits, Tensor *labels);
/* kernels/gaussian.h */
Tensor *ag_gaussian_kl(Tape *t, Tensor *mean, Tensor *logvar);
Tensor *ag_reparameterize(Tape *t, Tensor *mean, Tensor *logvar, Tensor *noise);

#endif
