/* models/blocks.c — see blocks.h. */
#include "models/blocks.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/bf16.h"
#include "core/device.h"
#include "core/philox.h"

/* "<prefix>.<leaf>" in buf (PS_NAME_MAX bytes); ps_add reports a name that is too long. */
static const char *sub(char *buf, const char *prefix, const char *leaf) {
    snprintf(buf, PS_NAME_MAX, "%s.%s", prefix, leaf);
    return buf;
}

// ----------------------------------------------------------------------------
// layers

int conv_layer_init(Conv *c, ParamSet *ps, const char *prefix, int cin, int cout, int k, int stride, bool zero) {
    c->w = ps_add(ps, zero ? PI_ZERO : PI_FAN_IN, 4, (int[]){cout, k, k, cin}, "%s.weight", prefix);
    c->b = ps_add(ps, PI_ZERO, 1, (int[]){cout}, "%s.bias", prefix);
    c->stride = stride;
    c->pad = k / 2;
    return c->w && c->b ? 0 : -1;
}

int linear_layer_init(Linear *l, ParamSet *ps, const char *prefix, int in, int out, bool bias, bool zero) {
    l->w = ps_add(ps, zero ? PI_ZERO : PI_FAN_IN, 2, (int[]){out, in}, "%s.weight", prefix);
    l->b = bias ? ps_add(ps, PI_ZERO, 1, (int[]){out}, "%s.bias", prefix) : NULL;
    return l->w && (l->b || !bias) ? 0 : -1;
}

int norm_layer_init(Norm *n, ParamSet *ps, const char *prefix, int c, int groups) {
    n->w = ps_add(ps, PI_ONE, 1, (int[]){c}, "%s.weight", prefix);
    n->b = ps_add(ps, PI_ZERO, 1, (int[]){c}, "%s.bias", prefix);
    n->groups = groups;
    return n->w && n->b ? 0 : -1;
}

Tensor *conv_layer_forward(const Conv *c, Tape *t, Tensor *x) { return ag_conv2d(t, x, c->w, c->b, c->stride, c->pad); }

Tensor *linear_layer_forward(const Linear *l, Tape *t, Tensor *x) { return ag_linear(t, x, l->w, l->b); }

Tensor *norm_layer_forward(const Norm *n, Tape *t, Tensor *x, bool silu) {
    if (n->groups) return ag_group_norm(t, x, n->w, n->b, n->groups, NORM_EPS, silu);
    Tensor *y = ag_layer_norm(t, x, n->w, n->b, NORM_EPS);
    return silu ? ag_silu(t, y) : y;
}

static int heads_for(int c, int head_dim) { return c <= head_dim ? 1 : c / head_dim; }

// ----------------------------------------------------------------------------
// dropout

#define DROP_CHUNK ((size_t)1 << 16) /* mask elements staged at a time */

Tensor *dropout_forward(Tape *t, Tensor *x, float p, DropoutRng *rng) {
    if (!x || p <= 0 || !rng || !t->grad_enabled) return x;
    /* The mask takes x's dtype. A bf16 mask holds 0 or 1 (exact) and the 1 / (1 - p) follows
     * as a scale (fp32 math, one rounding), as PyTorch's bf16 dropout does: 1 / (1 - p) held
     * in bf16 would bias the kept values by up to 2^-9. An fp32 mask holds 0 or 1 / (1 - p). */
    const bool bf = x->dtype == DT_BF16;
    Tensor *mask = tensor_new_dtype(t->arena, x->device, x->dtype, x->ndim, x->shape);
    if (!mask) return NULL;
    /* The draws go through a host staging block of at most DROP_CHUNK elements taken from the
     * arena and given back at once (no malloc in a step, and any mask size fits). */
    const size_t cap = x->numel < DROP_CHUNK ? x->numel : DROP_CHUNK, es = bf ? sizeof(bf16_t) : sizeof(float);
    const ArenaMark mark = arena_mark(t->arena);
    float *h = arena_alloc_host(t->arena, cap * sizeof(float));
    bf16_t *hb = bf && h ? arena_alloc_host(t->arena, cap * sizeof(bf16_t)) : NULL;
    if (!h || (bf && !hb)) {
        arena_rewind(t->arena, mark);
        return NULL;
    }
    const float keep = 1.0f / (1.0f - p), on = bf ? 1.0f : keep;
    const uint64_t o = *rng->offset;
    int rc = 0;
    for (size_t k = 0; k < x->numel && !rc; k += cap) {
        const size_t n = x->numel - k < cap ? x->numel - k : cap;
        for (size_t i = 0; i < n; i++) h[i] = philox_uniform(rng->key, o + k + i) >= p ? on : 0.0f;
        if (bf) ldm_f32_to_bf16_n(h, hb, n);
        rc = dev_memcpy((char *)mask->data + k * es, mask->device, bf ? (const void *)hb : h, DEV_CPU, n * es);
    }
    arena_rewind(t->arena, mark);
    if (rc) return NULL;
    *rng->offset += x->numel;
    Tensor *y = ag_mul(t, x, mask);
    return bf ? ag_scale(t, y, keep) : y;
}

// ----------------------------------------------------------------------------
// ResBlock

int resblock_init(ResBlock *r, ParamSet *ps, const char *prefix, int cin, int cout, int emb_dim, int groups,
                  bool zero_out) {
    char name[PS_NAME_MAX];
    r->cin = cin;
    r->cout = cout;
    r->emb_dim = emb_dim;
    r->has_skip = cin != cout;
    r->dropout = 0;
    int rc = 0;
    rc |= norm_layer_init(&r->norm1, ps, sub(name, prefix, "norm1"), cin, groups);
    rc |= conv_layer_init(&r->conv1, ps, sub(name, prefix, "conv1"), cin, cout, 3, 1, false);
    if (emb_dim) rc |= linear_layer_init(&r->emb, ps, sub(name, prefix, "emb"), emb_dim, 2 * cout, true, false);
    rc |= norm_layer_init(&r->norm2, ps, sub(name, prefix, "norm2"), cout, groups);
    rc |= conv_layer_init(&r->conv2, ps, sub(name, prefix, "conv2"), cout, cout, 3, 1, zero_out);
    if (r->has_skip) rc |= conv_layer_init(&r->skip, ps, sub(name, prefix, "skip"), cin, cout, 1, 1, false);
    return rc ? -1 : 0;
}

Tensor *resblock_forward(const ResBlock *r, Tape *t, Tensor *x, Tensor *emb_silu, DropoutRng *drop) {
    if (!x) return NULL;
    Tensor *h = conv_layer_forward(&r->conv1, t, norm_layer_forward(&r->norm1, t, x, true));
    if (r->emb_dim) {
        if (!emb_silu) {
            ldm_error("resblock", "block with a time embedding called without one (x %s)", tshape(x));
            return NULL;
        }
        Tensor *e = linear_layer_forward(&r->emb, t, emb_silu); /* (N, 2 cout) */
        Tensor *scale = ag_slice_channels(t, e, 0, r->cout);
        Tensor *shift = ag_slice_channels(t, e, r->cout, 2 * r->cout);
        h = ag_silu(t, ag_scale_shift(t, norm_layer_forward(&r->norm2, t, h, false), scale, shift));
    } else {
        h = norm_layer_forward(&r->norm2, t, h, true);
    }
    h = dropout_forward(t, h, r->dropout, drop);
    Tensor *s = r->has_skip ? conv_layer_forward(&r->skip, t, x) : x;
    if (!s) return NULL;
    return ag_conv2d_res(t, h, r->conv2.w, r->conv2.b, s, r->conv2.stride, r->conv2.pad); /* conv2(h) + s */
}

// ----------------------------------------------------------------------------
// attention

int attn_init(AttnBlock *a, ParamSet *ps, const char *prefix, int c, int head_dim, int groups, bool zero_out) {
    char name[PS_NAME_MAX];
    a->c = c;
    a->heads = heads_for(c, head_dim);
    int rc = 0;
    rc |= norm_layer_init(&a->norm, ps, sub(name, prefix, "norm"), c, groups);
    rc |= linear_layer_init(&a->q, ps, sub(name, prefix, "q"), c, c, true, false);
    rc |= linear_layer_init(&a->k, ps, sub(name, prefix, "k"), c, c, true, false);
    rc |= linear_layer_init(&a->v, ps, sub(name, prefix, "v"), c, c, true, false);
    rc |= linear_layer_init(&a->proj, ps, sub(name, prefix, "proj"), c, c, true, zero_out);
    return rc ? -1 : 0;
}

Tensor *attn_forward(const AttnBlock *a, Tape *t, Tensor *x) {
    /* NHWC (N, H, W, C) is already (N, L = H*W, C) tokens for linear and attention */
    Tensor *n = norm_layer_forward(&a->norm, t, x, false);
    Tensor *o = ag_attention(t, linear_layer_forward(&a->q, t, n), linear_layer_forward(&a->k, t, n), linear_layer_forward(&a->v, t, n),
                             a->heads);
    return ag_add(t, x, linear_layer_forward(&a->proj, t, o));
}

int xattn_init(CrossAttnBlock *a, ParamSet *ps, const char *prefix, int c, int ctx_dim, int head_dim, bool zero_out) {
    char name[PS_NAME_MAX];
    a->c = c;
    a->ctx_dim = ctx_dim;
    a->heads = heads_for(c, head_dim);
    int rc = 0;
    rc |= norm_layer_init(&a->norm, ps, sub(name, prefix, "norm"), c, 0);
    rc |= linear_layer_init(&a->q, ps, sub(name, prefix, "q"), c, c, false, false);
    rc |= linear_layer_init(&a->k, ps, sub(name, prefix, "k"), ctx_dim, c, false, false);
    rc |= linear_layer_init(&a->v, ps, sub(name, prefix, "v"), ctx_dim, c, false, false);
    rc |= linear_layer_init(&a->proj, ps, sub(name, prefix, "proj"), c, c, true, zero_out);
    return rc ? -1 : 0;
}

Tensor *xattn_forward(const CrossAttnBlock *a, Tape *t, Tensor *x, Tensor *ctx) {
    Tensor *n = norm_layer_forward(&a->norm, t, x, false);
    Tensor *o = ag_attention(t, linear_layer_forward(&a->q, t, n), linear_layer_forward(&a->k, t, ctx),
                             linear_layer_forward(&a->v, t, ctx), a->heads);
    return ag_add(t, x, linear_layer_forward(&a->proj, t, o));
}

// ----------------------------------------------------------------------------
// spatial transformer

int transformer_init(SpatialTransformer *a, ParamSet *ps, const char *prefix, int c, int ctx_dim, int head_dim,
                     int groups) {
    char name[PS_NAME_MAX];
    a->c = c, a->heads = heads_for(c, head_dim), a->inner = 4 * c, a->cross = ctx_dim > 0;
    int rc = 0;
    rc |= norm_layer_init(&a->norm, ps, sub(name, prefix, "norm"), c, groups);
    rc |= linear_layer_init(&a->proj_in, ps, sub(name, prefix, "proj_in"), c, c, true, false);
    rc |= norm_layer_init(&a->ln1, ps, sub(name, prefix, "ln1"), c, 0);
    rc |= linear_layer_init(&a->q1, ps, sub(name, prefix, "attn1.q"), c, c, false, false);
    rc |= linear_layer_init(&a->k1, ps, sub(name, prefix, "attn1.k"), c, c, false, false);
    rc |= linear_layer_init(&a->v1, ps, sub(name, prefix, "attn1.v"), c, c, false, false);
    rc |= linear_layer_init(&a->out1, ps, sub(name, prefix, "attn1.out"), c, c, true, false);
    if (a->cross) {
        rc |= norm_layer_init(&a->ln2, ps, sub(name, prefix, "ln2"), c, 0);
        rc |= linear_layer_init(&a->q2, ps, sub(name, prefix, "attn2.q"), c, c, false, false);
        rc |= linear_layer_init(&a->k2, ps, sub(name, prefix, "attn2.k"), ctx_dim, c, false, false);
        rc |= linear_layer_init(&a->v2, ps, sub(name, prefix, "attn2.v"), ctx_dim, c, false, false);
        rc |= linear_layer_init(&a->out2, ps, sub(name, prefix, "attn2.out"), c, c, true, false);
    }
    rc |= norm_layer_init(&a->ln3, ps, sub(name, prefix, "ln3"), c, 0);
    rc |= linear_layer_init(&a->ff_in, ps, sub(name, prefix, "ff.in"), c, 2 * a->inner, true, false);
    rc |= linear_layer_init(&a->ff_out, ps, sub(name, prefix, "ff.out"), a->inner, c, true, false);
    rc |= linear_layer_init(&a->proj_out, ps, sub(name, prefix, "proj_out"), c, c, true, true);
    return rc ? -1 : 0;
}

/* u * gelu(g) for (u, g) = the two halves of y's channels; gelu in the sigmoid form */
static Tensor *geglu(Tape *t, Tensor *y, int inner) {
    Tensor *u = ag_slice_channels(t, y, 0, inner), *g = ag_slice_channels(t, y, inner, 2 * inner);
    const float k = 1.702f;
    return ag_mul(t, u, ag_scale(t, ag_silu(t, ag_scale(t, g, k)), 1.0f / k));
}

Tensor *transformer_forward(const SpatialTransformer *a, Tape *t, Tensor *x, Tensor *ctx) {
    if (!x) return NULL;
    if (a->cross && !ctx) {
        ldm_error("transformer", "block with cross-attention called without a context (x %s)", tshape(x));
        return NULL;
    }
    /* NHWC (N, H, W, c) is (N, L = H W, c) tokens: proj_in as a linear layer is the 1x1 conv */
    Tensor *h = linear_layer_forward(&a->proj_in, t, norm_layer_forward(&a->norm, t, x, false)); /* (N, H, W, c) */
    Tensor *n = norm_layer_forward(&a->ln1, t, h, false);
    h = ag_add(t, h, linear_layer_forward(&a->out1, t, ag_attention(t, linear_layer_forward(&a->q1, t, n),
                                                                    linear_layer_forward(&a->k1, t, n),
                                                                    linear_layer_forward(&a->v1, t, n), a->heads)));
    if (a->cross) {
        n = norm_layer_forward(&a->ln2, t, h, false);
        h = ag_add(t, h, linear_layer_forward(&a->out2, t, ag_attention(t, linear_layer_forward(&a->q2, t, n),
                                                                        linear_layer_forward(&a->k2, t, ctx),
                                                                        linear_layer_forward(&a->v2, t, ctx),
                                                                        a->heads)));
    }
    Tensor *f = linear_layer_forward(&a->ff_in, t, norm_layer_forward(&a->ln3, t, h, false)); /* (N, H, W, 8c) */
    h = ag_add(t, h, linear_layer_forward(&a->ff_out, t, geglu(t, f, a->inner)));              /* (N, H, W, c) */
    return ag_add(t, x, linear_layer_forward(&a->proj_out, t, h));
}
