/* bench/shapes.c — see shapes.h. The walks below follow models/vae.c and models/unet.c
 * call for call; tests/test_bench.c holds them to the real forward pass. */
#include "bench/shapes.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/unet.h"
#include "models/vae.h"

typedef struct {
    BenchShape *s;
    int n, max, full;
    const char *model;
} Table;

static int same_dims(const BenchShape *a, const BenchShape *b) {
    return a->kind == b->kind && !strcmp(a->model, b->model) && a->n == b->n && a->h == b->h && a->w == b->w &&
           a->c == b->c && a->k == b->k && a->r == b->r && a->stride == b->stride && a->groups == b->groups &&
           a->silu == b->silu && a->lq == b->lq && a->lk == b->lk && a->heads == b->heads && a->d == b->d &&
           a->rows == b->rows && a->in == b->in && a->out == b->out && a->numel == b->numel;
}

static void put(Table *t, BenchShape s) {
    s.model = t->model;
    for (int i = 0; i < t->n; i++)
        if (same_dims(&t->s[i], &s)) {
            t->s[i].count++;
            return;
        }
    if (t->n == t->max) {
        t->full = 1;
        return;
    }
    s.count = 1;
    t->s[t->n++] = s;
}

// ----------------------------------------------------------------------------
// layers and blocks (models/blocks.c)

static void conv(Table *t, int n, int h, int w, int c, int k, int r, int stride) {
    put(t, (BenchShape){.kind = BK_CONV2D, .n = n, .h = h, .w = w, .c = c, .k = k, .r = r, .stride = stride});
}
static void gnorm(Table *t, int n, int h, int w, int c, int groups, int silu) {
    put(t, (BenchShape){.kind = BK_GROUP_NORM, .n = n, .h = h, .w = w, .c = c, .groups = groups, .silu = silu});
}
static void lnorm(Table *t, int rows, int c) { put(t, (BenchShape){.kind = BK_LAYER_NORM, .rows = rows, .in = c}); }
static void linear(Table *t, int rows, int in, int out) {
    put(t, (BenchShape){.kind = BK_LINEAR, .rows = rows, .in = in, .out = out});
}
static void silu(Table *t, long long numel) { put(t, (BenchShape){.kind = BK_SILU, .numel = numel}); }
static void add(Table *t, long long numel) { put(t, (BenchShape){.kind = BK_ADD, .numel = numel}); }
static void upsample(Table *t, int n, int h, int w, int c) {
    put(t, (BenchShape){.kind = BK_UPSAMPLE, .n = n, .h = h, .w = w, .c = c});
}
static void attention(Table *t, int n, int lq, int lk, int heads, int d) {
    put(t, (BenchShape){.kind = BK_ATTENTION, .n = n, .lq = lq, .lk = lk, .heads = heads, .d = d});
}

static int heads_for(int c, int head_dim) { return c <= head_dim ? 1 : c / head_dim; }

static void resblock(Table *t, int n, int s, int cin, int cout, int emb_dim, int groups) {
    gnorm(t, n, s, s, cin, groups, 1);
    conv(t, n, s, s, cin, cout, 3, 1);
    if (emb_dim) {
        linear(t, n, emb_dim, 2 * cout);
        gnorm(t, n, s, s, cout, groups, 0);
        silu(t, (long long)n * s * s * cout);
    } else {
        gnorm(t, n, s, s, cout, groups, 1);
    }
    conv(t, n, s, s, cout, cout, 3, 1);
    if (cin != cout) conv(t, n, s, s, cin, cout, 1, 1);
    add(t, (long long)n * s * s * cout);
}

static void self_attn(Table *t, int n, int s, int c, int head_dim, int groups) {
    int heads = heads_for(c, head_dim), rows = n * s * s;
    gnorm(t, n, s, s, c, groups, 0);
    for (int i = 0; i < 3; i++) linear(t, rows, c, c);
    attention(t, n, s * s, s * s, heads, c / heads);
    linear(t, rows, c, c);
    add(t, (long long)rows * c);
}

static void cross_attn(Table *t, int n, int s, int c, int head_dim, int tokens, int ctx_dim) {
    int heads = heads_for(c, head_dim), rows = n * s * s;
    lnorm(t, rows, c);
    linear(t, rows, c, c);
    linear(t, n * tokens, ctx_dim, c);
    linear(t, n * tokens, ctx_dim, c);
    attention(t, n, s * s, tokens, heads, c / heads);
    linear(t, rows, c, c);
    add(t, (long long)rows * c);
}

// ----------------------------------------------------------------------------
// the models

static void vae_mid(Table *t, const ModelConfig *c, int n, int s, int ch) {
    resblock(t, n, s, ch, ch, 0, c->vae_groups);
    if (c->vae_attn) self_attn(t, n, s, ch, ch, c->vae_groups);
    resblock(t, n, s, ch, ch, 0, c->vae_groups);
}

static void vae_walk(Table *t, const ModelConfig *c, int n) {
    const int L = c->vae_levels, R = c->vae_res, C = c->vae_ch;
    int s = c->image_size, ch = C;
    conv(t, n, s, s, c->channels, C, 3, 1);
    for (int i = 0; i < L; i++) {
        for (int j = 0; j < R; j++) {
            resblock(t, n, s, ch, C * c->vae_mult[i], 0, c->vae_groups);
            ch = C * c->vae_mult[i];
        }
        if (i < L - 1) {
            conv(t, n, s, s, ch, ch, 3, 2);
            s /= 2;
        }
    }
    vae_mid(t, c, n, s, ch);
    gnorm(t, n, s, s, ch, c->vae_groups, 1);
    conv(t, n, s, s, ch, 2 * c->latent_ch, 3, 1);
    /* decoder */
    ch = C * c->vae_mult[L - 1];
    conv(t, n, s, s, c->latent_ch, ch, 3, 1);
    vae_mid(t, c, n, s, ch);
    for (int i = L - 1; i >= 0; i--) {
        for (int j = 0; j <= R; j++) {
            resblock(t, n, s, ch, C * c->vae_mult[i], 0, c->vae_groups);
            ch = C * c->vae_mult[i];
        }
        if (i > 0) {
            upsample(t, n, s, s, ch);
            s *= 2;
            conv(t, n, s, s, ch, ch, 3, 1);
        }
    }
    gnorm(t, n, s, s, ch, c->vae_groups, 1);
    conv(t, n, s, s, ch, c->channels, 3, 1);
}

static void unet_stage(Table *t, const ModelConfig *c, int n, int s, int cin, int cout, int attn) {
    resblock(t, n, s, cin, cout, 4 * c->unet_ch, c->unet_groups);
    if (attn) self_attn(t, n, s, cout, c->head_dim, c->unet_groups);
    if (attn && c->num_classes > 0) cross_attn(t, n, s, cout, c->head_dim, c->ctx_tokens, c->ctx_dim);
}

static void unet_walk(Table *t, const ModelConfig *c, int n) {
    const int L = c->unet_levels, R = c->unet_res, C = c->unet_ch, lat = cfg_latent_size(c);
    linear(t, n, C, 4 * C);
    silu(t, (long long)n * 4 * C);
    linear(t, n, 4 * C, 4 * C);
    silu(t, (long long)n * 4 * C);
    conv(t, n, lat, lat, c->latent_ch, C, 3, 1);
    int skips[1 + CFG_MAX_LEVELS * (CFG_MAX_RES + 1)], ns = 0, ch = C, s = lat;
    skips[ns++] = ch;
    for (int i = 0; i < L; i++) {
        for (int j = 0; j < R; j++) {
            unet_stage(t, c, n, s, ch, C * c->unet_mult[i], cfg_has_attn(c, s));
            skips[ns++] = ch = C * c->unet_mult[i];
        }
        if (i < L - 1) {
            conv(t, n, s, s, ch, ch, 3, 2);
            s /= 2;
            skips[ns++] = ch;
        }
    }
    unet_stage(t, c, n, s, ch, ch, 1);
    resblock(t, n, s, ch, ch, 4 * C, c->unet_groups);
    for (int i = L - 1; i >= 0; i--) {
        for (int j = 0; j <= R; j++) {
            unet_stage(t, c, n, s, ch + skips[--ns], C * c->unet_mult[i], cfg_has_attn(c, s));
            ch = C * c->unet_mult[i];
        }
        if (i > 0) {
            upsample(t, n, s, s, ch);
            s *= 2;
            conv(t, n, s, s, ch, ch, 3, 1);
        }
    }
    gnorm(t, n, s, s, ch, c->unet_groups, 1);
    conv(t, n, s, s, ch, c->latent_ch, 3, 1);
}

int shapes_for_preset(const ModelConfig *cfg, int batch, BenchShape *out, int max) {
    if (!cfg || !out || max < 1) return ldm_error("bench", "shapes: NULL argument");
    if (batch < 1) return ldm_error("bench", "shapes: batch %d must be >= 1", batch);
    if (cfg_validate(cfg)) return -1;
    Table t = {out, 0, max, 0, "vae"};
    vae_walk(&t, cfg, batch);
    put(&t, (BenchShape){.kind = BK_ADAMW, .numel = (long long)vae_param_count(cfg)});
    t.model = "unet";
    unet_walk(&t, cfg, batch);
    put(&t, (BenchShape){.kind = BK_ADAMW, .numel = (long long)unet_param_count(cfg)});
    if (t.full) return ldm_error("bench", "shapes: more than %d distinct shapes for preset %s", max, cfg->preset);
    return t.n;
}

int shapes_long_attention(int batch, const int *lens, int nl, int heads, int head_dim, int tokens, BenchShape *out,
                          int max) {
    if (!lens || !out || max < 1) return ldm_error("bench", "shapes: NULL argument");
    if (batch < 1 || heads < 1 || head_dim < 1 || tokens < 1)
        return ldm_error("bench", "shapes: batch %d, heads %d, head dim %d, tokens %d must be >= 1", batch, heads,
                         head_dim, tokens);
    Table t = {out, 0, max, 0, "unet"};
    for (int i = 0; i < nl; i++) {
        if (lens[i] < 1) return ldm_error("bench", "shapes: attention length %d must be >= 1", lens[i]);
        attention(&t, batch, lens[i], lens[i], heads, head_dim);
        attention(&t, batch, lens[i], tokens, heads, head_dim);
    }
    if (t.full) return ldm_error("bench", "shapes: more than %d attention shapes", max);
    return t.n;
}

// ----------------------------------------------------------------------------
// names

static const char *const kind_names[BK_N_KINDS] = {"conv2d", "group_norm", "layer_norm", "attention", "linear",
                                                   "silu",   "add",        "upsample2x", "adamw"};

const char *bench_kind_name(BenchKind k) { return k >= 0 && k < BK_N_KINDS ? kind_names[k] : "?"; }

int bench_kind_parse(const char *s) {
    for (int i = 0; s && i < BK_N_KINDS; i++)
        if (!strcmp(s, kind_names[i])) return i;
    return -1;
}

const char *bench_pass_name(BenchPass p) {
    static const char *const names[] = {"fwd", "bwd", "dgrad", "wgrad", "step"};
    return p >= 0 && p <= BP_STEP ? names[p] : "?";
}

int bench_passes(BenchKind k, BenchPass *p) {
    switch (k) {
    case BK_CONV2D: p[0] = BP_FWD, p[1] = BP_DGRAD, p[2] = BP_WGRAD; return 3;
    case BK_ADD: p[0] = BP_FWD; return 1;
    case BK_ADAMW: p[0] = BP_STEP; return 1;
    default: p[0] = BP_FWD, p[1] = BP_BWD; return 2;
    }
}

const char *bench_shape_str(const BenchShape *s, char *buf, size_t n) {
    switch (s->kind) {
    case BK_CONV2D:
        snprintf(buf, n, "%dx%dx%dx%d -> %d %dx%d s%d", s->n, s->h, s->w, s->c, s->k, s->r, s->r, s->stride);
        break;
    case BK_GROUP_NORM:
        snprintf(buf, n, "%dx%dx%dx%d G%d%s", s->n, s->h, s->w, s->c, s->groups, s->silu ? " +silu" : "");
        break;
    case BK_UPSAMPLE: snprintf(buf, n, "%dx%dx%dx%d", s->n, s->h, s->w, s->c); break;
    case BK_LAYER_NORM: snprintf(buf, n, "%d x %d", s->rows, s->in); break;
    case BK_LINEAR: snprintf(buf, n, "%d x %d -> %d", s->rows, s->in, s->out); break;
    case BK_ATTENTION: snprintf(buf, n, "b%d Lq%d Lk%d h%d d%d", s->n, s->lq, s->lk, s->heads, s->d); break;
    default: snprintf(buf, n, "%lld", s->numel); break;
    }
    return buf;
}
