/* models/blocks.c — see blocks.h. */
#include "models/blocks.h"

#include <stdio.h>

#include "core/error.h"

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
// ResBlock

int resblock_init(ResBlock *r, ParamSet *ps, const char *prefix, int cin, int cout, int emb_dim, int groups,
                  bool zero_out) {
    char name[PS_NAME_MAX];
    r->cin = cin;
    r->cout = cout;
    r->emb_dim = emb_dim;
    r->has_skip = cin != cout;
    int rc = 0;
    rc |= norm_layer_init(&r->norm1, ps, sub(name, prefix, "norm1"), cin, groups);
    rc |= conv_layer_init(&r->conv1, ps, sub(name, prefix, "conv1"), cin, cout, 3, 1, false);
    if (emb_dim) rc |= linear_layer_init(&r->emb, ps, sub(name, prefix, "emb"), emb_dim, 2 * cout, true, false);
    rc |= norm_layer_init(&r->norm2, ps, sub(name, prefix, "norm2"), cout, groups);
    rc |= conv_layer_init(&r->conv2, ps, sub(name, prefix, "conv2"), cout, cout, 3, 1, zero_out);
    if (r->has_skip) rc |= conv_layer_init(&r->skip, ps, sub(name, prefix, "skip"), cin, cout, 1, 1, false);
    return rc ? -1 : 0;
}

Tensor *resblock_forward(const ResBlock *r, Tape *t, Tensor *x, Tensor *emb_silu) {
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
