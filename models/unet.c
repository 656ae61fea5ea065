/* models/unet.c — see unet.h. */
#include "models/unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define MAX_SKIPS (1 + CFG_MAX_LEVELS * (CFG_MAX_RES + 1))

// ----------------------------------------------------------------------------
// construction

/* ResBlock, then self- and cross-attention when this resolution has attention. */
static int stage_init(UNetStage *s, ParamSet *ps, const ModelConfig *cfg, const char *where, int j, int cin,
                      int cout, bool attn) {
    char name[PS_NAME_MAX];
    int rc = 0, emb = 4 * cfg->unet_ch;
    snprintf(name, sizeof name, "%s.res.%d", where, j);
    rc |= resblock_init(&s->res, ps, name, cin, cout, emb, cfg->unet_groups, true);
    s->res.dropout = cfg->unet_dropout;
    s->has_tf = attn && cfg->unet_attn == ATTN_TRANSFORMER;
    s->has_attn = attn && !s->has_tf;
    s->has_xattn = s->has_attn && cfg->num_classes > 0;
    if (s->has_tf) {
        snprintf(name, sizeof name, "%s.tf.%d", where, j);
        rc |= transformer_init(&s->tf, ps, name, cout, cfg->num_classes > 0 ? cfg->ctx_dim : 0, cfg->head_dim,
                               cfg->unet_groups);
    }
    if (s->has_attn) {
        snprintf(name, sizeof name, "%s.attn.%d", where, j);
        rc |= attn_init(&s->attn, ps, name, cout, cfg->head_dim, cfg->unet_groups, true);
    }
    if (s->has_xattn) {
        snprintf(name, sizeof name, "%s.xattn.%d", where, j);
        rc |= xattn_init(&s->xattn, ps, name, cout, cfg->ctx_dim, cfg->head_dim, true);
    }
    return rc ? -1 : 0;
}

static Tensor *stage_forward(const UNetStage *s, Tape *t, Tensor *h, Tensor *emb, Tensor *ctx, DropoutRng *drop) {
    h = resblock_forward(&s->res, t, h, emb, drop);
    if (s->has_tf) h = transformer_forward(&s->tf, t, h, ctx);
    if (s->has_attn) h = attn_forward(&s->attn, t, h);
    if (s->has_xattn) h = xattn_forward(&s->xattn, t, h, ctx);
    return h;
}

int unet_init(UNet *m, ParamSet *ps, const ModelConfig *cfg) {
    if (cfg_validate(cfg)) return -1;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->conditional = cfg->num_classes > 0;
    const int L = cfg->unet_levels, R = cfg->unet_res, C = cfg->unet_ch, lat = cfg_latent_size(cfg);
    char name[PS_NAME_MAX];
    int rc = 0;
    rc |= linear_layer_init(&m->time1, ps, "unet.time.lin1", C, 4 * C, true, false);
    rc |= linear_layer_init(&m->time2, ps, "unet.time.lin2", 4 * C, 4 * C, true, false);
    if (m->conditional) {
        m->class_emb = ps_add(ps, PI_NORMAL, 2, (int[]){cfg->num_classes + 1, cfg->ctx_tokens * cfg->ctx_dim},
                              "unet.class_emb.weight");
        rc |= m->class_emb ? 0 : -1;
    }
    rc |= conv_layer_init(&m->conv_in, ps, "unet.conv_in", cfg->latent_ch, C, 3, 1, false);
    /* channel counts of the skips, pushed in the order the down path produces them */
    int skips[MAX_SKIPS], ns = 0, ch = C;
    skips[ns++] = ch;
    for (int i = 0; i < L; i++) {
        int out = C * cfg->unet_mult[i];
        bool attn = cfg_has_attn(cfg, lat >> i);
        snprintf(name, sizeof name, "unet.down.%d", i);
        for (int j = 0; j < R; j++) {
            rc |= stage_init(&m->down[i][j], ps, cfg, name, j, ch, out, attn);
            skips[ns++] = ch = out;
        }
        if (i < L - 1) {
            snprintf(name, sizeof name, "unet.down.%d.downsample", i);
            rc |= conv_layer_init(&m->downsample[i], ps, name, ch, ch, 3, 2, false);
            skips[ns++] = ch;
        }
    }
    /* middle: stage_init's naming gives unet.mid.res.0, unet.mid.attn.0, unet.mid.xattn.0 */
    rc |= stage_init(&m->mid, ps, cfg, "unet.mid", 0, ch, ch, true);
    rc |= resblock_init(&m->mid_res1, ps, "unet.mid.res.1", ch, ch, 4 * C, cfg->unet_groups, true);
    m->mid_res1.dropout = cfg->unet_dropout;
    for (int i = L - 1; i >= 0; i--) {
        int out = C * cfg->unet_mult[i];
        bool attn = cfg_has_attn(cfg, lat >> i);
        snprintf(name, sizeof name, "unet.up.%d", i);
        for (int j = 0; j <= R; j++) {
            rc |= stage_init(&m->up[i][j], ps, cfg, name, j, ch + skips[--ns], out, attn);
            ch = out;
        }
        if (i > 0) {
            snprintf(name, sizeof name, "unet.up.%d.upsample", i);
            rc |= conv_layer_init(&m->upsample[i], ps, name, ch, ch, 3, 1, false);
        }
    }
    rc |= norm_layer_init(&m->norm_out, ps, "unet.norm_out", ch, cfg->unet_groups);
    rc |= conv_layer_init(&m->conv_out, ps, "unet.conv_out", ch, cfg->latent_ch, 3, 1, true);
    return rc ? -1 : 0;
}

size_t unet_param_count(const ModelConfig *cfg) {
    ParamSet ps;
    UNet m;
    ps_init(&ps, DEV_CPU, 0, false, false);
    size_t n = unet_init(&m, &ps, cfg) ? 0 : ps_count(&ps);
    ps_free(&ps);
    return n;
}

// ----------------------------------------------------------------------------
// forward

static int check_args(const UNet *m, const Tensor *x, const Tensor *ts, const Tensor *labels) {
    const ModelConfig *c = &m->cfg;
    int s = cfg_latent_size(c);
    if (x->ndim != 4 || x->shape[1] != s || x->shape[2] != s || x->shape[3] != c->latent_ch)
        return ldm_error("unet", "input %s does not match (N, %d, %d, %d) for preset %s", tshape(x), s, s,
                         c->latent_ch, c->preset);
    if (ts->ndim != 1 || ts->shape[0] != x->shape[0])
        return ldm_error("unet", "timesteps %s do not match the batch of %s", tshape(ts), tshape(x));
    if (m->conditional) {
        if (!labels)
            return ldm_error("unet", "preset %s is class-conditional: labels are required (%d = null class)",
                             c->preset, c->num_classes);
        if (labels->ndim != 1 || labels->shape[0] != x->shape[0])
            return ldm_error("unet", "labels %s do not match the batch of %s", tshape(labels), tshape(x));
    }
    return 0;
}

/* Shapes, NHWC, with S = the latent size, Cz = latent_ch, C = unet_ch, C_i = C * unet_mult[i],
 * S_i = S >> i (level i), T = ctx_tokens, D = ctx_dim:
 *   x (N, S, S, Cz) -> conv_in (N, S, S, C)
 *   down level i: R stages (N, S_i, S_i, C_i), each pushed as a skip; then, but for the last
 *     level, a stride-2 conv to (N, S_i/2, S_i/2, C_i), pushed too
 *   middle at the lowest level (N, S_{L-1}, S_{L-1}, C_{L-1})
 *   up level i (from L-1 down to 0): R+1 stages, each on concat(h, the last skip) along
 *     channels and out at (N, S_i, S_i, C_i); then, but for level 0, nearest x2 + conv
 *   -> group norm + SiLU -> conv_out (N, S, S, Cz): the predicted noise. */
Tensor *unet_forward(const UNet *m, Tape *t, Tensor *x, Tensor *timesteps, Tensor *labels) {
    if (!x || !timesteps) return NULL;
    if (check_args(m, x, timesteps, labels)) return NULL;
    const ModelConfig *c = &m->cfg;
    const int L = c->unet_levels, R = c->unet_res, N = x->shape[0];
    Tensor *emb = ag_timestep_embedding(t, timesteps, c->unet_ch); /* (N, C) sinusoidal */
    emb = linear_layer_forward(&m->time2, t, ag_silu(t, linear_layer_forward(&m->time1, t, emb))); /* (N, 4C) */
    emb = ag_silu(t, emb); /* every ResBlock's projection starts with SiLU: do it once */
    Tensor *ctx = NULL;    /* (N, T, D): the class's learned tokens; label num_classes = the null class */
    if (m->conditional)
        ctx = ag_reshape(t, ag_embedding(t, m->class_emb, labels), 3, (int[]){N, c->ctx_tokens, c->ctx_dim});
    Tensor *skips[MAX_SKIPS];
    int ns = 0;
    Tensor *h = conv_layer_forward(&m->conv_in, t, x); /* (N, S, S, C) */
    skips[ns++] = h;
    for (int i = 0; i < L; i++) {
        /* h (N, S_i, S_i, C_i) after the first stage of the level */
        for (int j = 0; j < R; j++) skips[ns++] = h = stage_forward(&m->down[i][j], t, h, emb, ctx, m->dropout_rng);
        /* h (N, S_i / 2, S_i / 2, C_i) */
        if (i < L - 1) skips[ns++] = h = conv_layer_forward(&m->downsample[i], t, h);
    }
    h = stage_forward(&m->mid, t, h, emb, ctx, m->dropout_rng);    /* (N, S_{L-1}, S_{L-1}, C_{L-1}) */
    h = resblock_forward(&m->mid_res1, t, h, emb, m->dropout_rng); /* same */
    for (int i = L - 1; i >= 0; i--) {
        /* concat (N, S_i, S_i, C_h + C_skip) -> stage (N, S_i, S_i, C_i) */
        for (int j = 0; j <= R; j++) h = stage_forward(&m->up[i][j], t, ag_concat_channels(t, h, skips[--ns]), emb, ctx,
                                                         m->dropout_rng);
        /* (N, 2 S_i, 2 S_i, C_i) */
        if (i > 0) h = conv_layer_forward(&m->upsample[i], t, ag_upsample2x(t, h));
    }
    /* (N, S, S, C_0) -> (N, S, S, Cz) */
    return conv_layer_forward(&m->conv_out, t, norm_layer_forward(&m->norm_out, t, h, true));
}

Tensor *unet_loss(const UNet *m, Tape *tp, const NoiseSchedule *s, Tensor *z0, Tensor *noise, const int *t,
                  Tensor *labels) {
    if (!z0 || !noise) return NULL;
    const int N = z0->shape[0];
    Tensor *ts = tensor_new1(tp->arena, z0->device, N);
    float *host = arena_alloc_host(tp->arena, (size_t)N * sizeof(float)); /* staging: no malloc in a step */
    if (!ts || !host) return NULL;
    for (int n = 0; n < N; n++) host[n] = (float)t[n];
    if (tensor_from_host(ts, host)) return NULL;
    Tensor *xt = schedule_q_sample(tp, s, z0, noise, t);
    return ag_mse_loss(tp, unet_forward(m, tp, xt, ts, labels), noise);
}

Tensor *unet_eps(void *ctx, Tape *tp, Tensor *x, Tensor *timesteps, Tensor *labels) {
    return unet_forward((const UNet *)ctx, tp, x, timesteps, labels);
}
