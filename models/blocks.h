/* models/blocks.h — the layers and blocks the VAE and the U-Net are built from.
 *
 * Each block has an *_init that registers its parameters under a name prefix in a
 * ParamSet and a *_forward built only from autograd ops (so it runs on any device and
 * differentiates through the tape). Shapes: activations NHWC (N, H, W, C); token
 * sequences (N, L, D).
 *
 *   ResBlock    h = conv1(silu(gn1(x)))
 *               with emb:  h = silu(gn2(h) * (1 + scale) + shift), (scale, shift) = linear(emb)
 *               without:   h = silu(gn2(h))
 *               out = skip(x) + conv2(h)          skip = 1x1 conv when cin != cout, else x
 *   AttnBlock   out = x + proj(attention(q(n), k(n), v(n))),  n = gn(x)     (self-attention)
 *   CrossAttn   out = x + proj(attention(q(n), k(ctx), v(ctx))), n = ln(x) (image tokens attend
 *               to the context tokens; the result is added, never substituted)
 *
 * zero_out initialises the last layer of a residual branch to zero, so the block starts
 * as the identity (as in the reference latent-diffusion U-Net).
 */
#ifndef LDM_MODELS_BLOCKS_H
#define LDM_MODELS_BLOCKS_H

#include <stdbool.h>

#include "autograd/ops.h"
#include "models/params.h"

#define NORM_EPS 1e-5f

typedef struct {
    Tensor *w, *b; /* (K, R, S, C), (K) */
    int stride, pad;
} Conv;

typedef struct {
    Tensor *w, *b; /* (out, in), (out) or NULL */
} Linear;

typedef struct {
    Tensor *w, *b; /* (C), (C) */
    int groups;    /* GroupNorm groups; 0 for a LayerNorm */
} Norm;

/* prefix.weight, prefix.bias */
int conv_layer_init(Conv *c, ParamSet *ps, const char *prefix, int cin, int cout, int k, int stride, bool zero);
int linear_layer_init(Linear *l, ParamSet *ps, const char *prefix, int in, int out, bool bias, bool zero);
int norm_layer_init(Norm *n, ParamSet *ps, const char *prefix, int c, int groups);
Tensor *conv_layer_forward(const Conv *c, Tape *t, Tensor *x);
Tensor *linear_layer_forward(const Linear *l, Tape *t, Tensor *x);
Tensor *norm_layer_forward(const Norm *n, Tape *t, Tensor *x, bool silu);

typedef struct {
    int cin, cout, emb_dim; /* emb_dim 0: no time embedding */
    Norm norm1, norm2;
    Conv conv1, conv2, skip;
    Linear emb; /* emb_dim -> 2 * cout (scale, shift) */
    bool has_skip;
} ResBlock;

/* Names: prefix.{norm1,conv1,emb,norm2,conv2,skip}.{weight,bias}. */
int resblock_init(ResBlock *r, ParamSet *ps, const char *prefix, int cin, int cout, int emb_dim, int groups,
                  bool zero_out);
/* x (N, H, W, cin), emb_silu (N, emb_dim) = silu(time embedding), or NULL when emb_dim == 0. */
Tensor *resblock_forward(const ResBlock *r, Tape *t, Tensor *x, Tensor *emb_silu);

typedef struct {
    int c, heads;
    Norm norm;
    Linear q, k, v, proj;
} AttnBlock;

/* Names: prefix.{norm,q,k,v,proj}.{weight,bias}. heads = c / head_dim (1 when c < head_dim). */
int attn_init(AttnBlock *a, ParamSet *ps, const char *prefix, int c, int head_dim, int groups, bool zero_out);
Tensor *attn_forward(const AttnBlock *a, Tape *t, Tensor *x);

typedef struct {
    int c, ctx_dim, heads;
    Norm norm; /* LayerNorm over channels */
    Linear q, k, v, proj;
} CrossAttnBlock;

/* Names: prefix.{norm,q,k,v,proj}.{weight,bias} (q, k, v without bias). */
int xattn_init(CrossAttnBlock *a, ParamSet *ps, const char *prefix, int c, int ctx_dim, int head_dim, bool zero_out);
/* x (N, H, W, c), ctx (N, L, ctx_dim). */
Tensor *xattn_forward(const CrossAttnBlock *a, Tape *t, Tensor *x, Tensor *ctx);

#endif
