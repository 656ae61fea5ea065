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
 *               h = dropout(h)                    training only, when the block has a rate
 *               out = skip(x) + conv2(h)          skip = 1x1 conv when cin != cout, else x
 *   AttnBlock   out = x + proj(attention(q(n), k(n), v(n))),  n = gn(x)     (self-attention)
 *   CrossAttn   out = x + proj(attention(q(n), k(ctx), v(ctx))), n = ln(x) (image tokens attend
 *               to the context tokens; the result is added, never substituted)
 *   SpatialTransformer (LDM's attention stage, Rombach et al. 2022, ldm/modules/attention.py)
 *               h = proj_in(gn(x))                                     1x1 conv = linear on NHWC
 *               h = h + out1(attention(q1(a), k1(a), v1(a))),    a = ln1(h)     self-attention
 *               h = h + out2(attention(q2(b), k2(ctx), v2(ctx))), b = ln2(h)    cross-attention
 *               h = h + ff_out(u * gelu(g)),  (u, g) = ff_in(ln3(h))   GEGLU, inner width 4c
 *               out = x + proj_out(h)                                  proj_out zero-initialised
 *               gelu(g) is the sigmoid form g * sigmoid(1.702 g) (Hendrycks & Gimpel 2016), built
 *               from SiLU: silu(1.702 g) / 1.702; it differs from the erf form by < 0.021.
 *
 * zero_out initialises the last layer of a residual branch to zero, so the block starts
 * as the identity (as in the reference latent-diffusion U-Net).
 */
#ifndef LDM_MODELS_BLOCKS_H
#define LDM_MODELS_BLOCKS_H

#include <stdbool.h>
#include <stdint.h>

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

/* Dropout's randomness: element i of a mask is draw (*offset + i) of Philox stream `key`
 * (core/philox.h), taken on the host, so the CPU and the GPU drop the same elements; each
 * mask advances *offset by its size (a training run passes its stream and offset, so a
 * resumed run drops what the uninterrupted one would have). */
typedef struct {
    uint64_t key;
    uint64_t *offset;
} DropoutRng;

/* y = x * keep / (1 - p), keep_i = [u_i >= p], u_i ~ U[0, 1) from rng (inverted dropout:
 * the expectation is x, so nothing changes at evaluation). Returns x itself when p == 0,
 * rng is NULL or the tape records no gradients (validation, sampling). */
Tensor *dropout_forward(Tape *t, Tensor *x, float p, DropoutRng *rng);

typedef struct {
    int cin, cout, emb_dim; /* emb_dim 0: no time embedding */
    Norm norm1, norm2;
    Conv conv1, conv2, skip;
    Linear emb; /* emb_dim -> 2 * cout (scale, shift) */
    bool has_skip;
    float dropout; /* rate before conv2 in training (0: none) */
} ResBlock;

/* Names: prefix.{norm1,conv1,emb,norm2,conv2,skip}.{weight,bias}. dropout starts at 0. */
int resblock_init(ResBlock *r, ParamSet *ps, const char *prefix, int cin, int cout, int emb_dim, int groups,
                  bool zero_out);
/* x (N, H, W, cin), emb_silu (N, emb_dim) = silu(time embedding), or NULL when emb_dim == 0.
 * drop: the dropout draws (NULL: no dropout). */
Tensor *resblock_forward(const ResBlock *r, Tape *t, Tensor *x, Tensor *emb_silu, DropoutRng *drop);

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

typedef struct {
    int c, heads, inner; /* inner = 4 c: the feed-forward width */
    bool cross;          /* with the cross-attention to ctx */
    Norm norm, ln1, ln2, ln3;
    Linear proj_in, q1, k1, v1, out1, q2, k2, v2, out2, ff_in, ff_out, proj_out;
} SpatialTransformer;

/* Names: prefix.{norm,proj_in,ln1,attn1.{q,k,v,out},ln2,attn2.{q,k,v,out},ln3,ff.in,ff.out,
 * proj_out}.{weight,bias} (q, k, v without bias, as LDM). ctx_dim 0: no cross-attention. */
int transformer_init(SpatialTransformer *a, ParamSet *ps, const char *prefix, int c, int ctx_dim, int head_dim,
                     int groups);
/* x (N, H, W, c), ctx (N, L, ctx_dim) or NULL without cross-attention. */
Tensor *transformer_forward(const SpatialTransformer *a, Tape *t, Tensor *x, Tensor *ctx);

#endif
