/* models/vae.c — see vae.h. */
#include "models/vae.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

// ----------------------------------------------------------------------------
// construction

static int mid_init(MidBlock *m, ParamSet *ps, const char *prefix, int ch, int groups, bool attn) {
    char name[PS_NAME_MAX];
    int rc = 0;
    snprintf(name, sizeof name, "%s.res.0", prefix);
    rc |= resblock_init(&m->res0, ps, name, ch, ch, 0, groups, false);
    m->has_attn = attn;
    if (attn) {
        snprintf(name, sizeof name, "%s.attn", prefix);
        rc |= attn_init(&m->attn, ps, name, ch, ch, groups, false); /* one head, as in the reference VAE */
    }
    snprintf(name, sizeof name, "%s.res.1", prefix);
    rc |= resblock_init(&m->res1, ps, name, ch, ch, 0, groups, false);
    return rc ? -1 : 0;
}

static Tensor *mid_forward(const MidBlock *m, Tape *t, Tensor *h) {
    h = resblock_forward(&m->res0, t, h, NULL, NULL);
    if (m->has_attn) h = attn_forward(&m->attn, t, h);
    return resblock_forward(&m->res1, t, h, NULL, NULL);
}

int vae_init(VAE *v, ParamSet *ps, const ModelConfig *cfg) {
    if (cfg_validate(cfg)) return -1;
    memset(v, 0, sizeof *v);
    v->cfg = *cfg;
    const int L = cfg->vae_levels, R = cfg->vae_res, G = cfg->vae_groups, C = cfg->vae_ch;
    const bool attn = cfg->vae_attn;
    char name[PS_NAME_MAX];
    int rc = 0;
    /* encoder */
    rc |= conv_layer_init(&v->enc_in, ps, "vae.enc.conv_in", cfg->channels, C, 3, 1, false);
    int ch = C;
    for (int i = 0; i < L; i++) {
        int out = C * cfg->vae_mult[i];
        for (int j = 0; j < R; j++) {
            snprintf(name, sizeof name, "vae.enc.down.%d.res.%d", i, j);
            rc |= resblock_init(&v->enc_res[i][j], ps, name, ch, out, 0, G, false);
            ch = out;
        }
        if (i < L - 1) {
            snprintf(name, sizeof name, "vae.enc.down.%d.downsample", i);
            rc |= conv_layer_init(&v->enc_down[i], ps, name, ch, ch, 3, 2, false);
        }
    }
    rc |= mid_init(&v->enc_mid, ps, "vae.enc.mid", ch, G, attn);
    rc |= norm_layer_init(&v->enc_norm, ps, "vae.enc.norm_out", ch, G);
    rc |= conv_layer_init(&v->enc_out, ps, "vae.enc.conv_out", ch, 2 * cfg->latent_ch, 3, 1, false);
    /* decoder */
    ch = C * cfg->vae_mult[L - 1];
    rc |= conv_layer_init(&v->dec_in, ps, "vae.dec.conv_in", cfg->latent_ch, ch, 3, 1, false);
    rc |= mid_init(&v->dec_mid, ps, "vae.dec.mid", ch, G, attn);
    for (int i = L - 1; i >= 0; i--) {
        int out = C * cfg->vae_mult[i];
        for (int j = 0; j <= R; j++) {
            snprintf(name, sizeof name, "vae.dec.up.%d.res.%d", i, j);
            rc |= resblock_init(&v->dec_res[i][j], ps, name, ch, out, 0, G, false);
            ch = out;
        }
        if (i > 0) {
            snprintf(name, sizeof name, "vae.dec.up.%d.upsample", i);
            rc |= conv_layer_init(&v->dec_up[i], ps, name, ch, ch, 3, 1, false);
        }
    }
    rc |= norm_layer_init(&v->dec_norm, ps, "vae.dec.norm_out", ch, G);
    rc |= conv_layer_init(&v->dec_out, ps, "vae.dec.conv_out", ch, cfg->channels, 3, 1, false);
    return rc ? -1 : 0;
}

size_t vae_param_count(const ModelConfig *cfg) {
    ParamSet ps;
    VAE v;
    ps_init(&ps, DEV_CPU, 0, false, false);
    size_t n = vae_init(&v, &ps, cfg) ? 0 : ps_count(&ps);
    ps_free(&ps);
    return n;
}

// ----------------------------------------------------------------------------
// forward

static int check_input(const VAE *v, const Tensor *x, int size, int ch, const char *what) {
    if (!x) return -1;
    if (x->ndim != 4 || x->shape[1] != size || x->shape[2] != size || x->shape[3] != ch)
        return ldm_error("vae", "%s %s does not match (N, %d, %d, %d) for preset %s", what, tshape(x), size, size, ch,
                         v->cfg.preset);
    return 0;
}

/* Encoder shapes, NHWC, with S = image_size, Cx = channels, C_i = vae_ch * vae_mult[i],
 * S_i = S >> i, Z = latent_ch, L = vae_levels, s = S_{L-1} = the latent size:
 *   x (N, S, S, Cx) -> enc_in (N, S, S, C_0)
 *   level i: R ResBlocks to (N, S_i, S_i, C_i); but for the last level, a stride-2 conv
 *     to (N, S_i / 2, S_i / 2, C_i)
 *   middle (N, s, s, C_{L-1}) -> norm + SiLU -> enc_out (N, s, s, 2Z) = [mean | logvar] */
int vae_encode(const VAE *v, Tape *t, Tensor *x, Tensor **mean, Tensor **logvar) {
    *mean = *logvar = NULL;
    if (check_input(v, x, v->cfg.image_size, v->cfg.channels, "image")) return -1;
    const int L = v->cfg.vae_levels, R = v->cfg.vae_res, Z = v->cfg.latent_ch;
    Tensor *h = conv_layer_forward(&v->enc_in, t, x); /* (N, S, S, C_0) */
    for (int i = 0; i < L; i++) {
        for (int j = 0; j < R; j++) h = resblock_forward(&v->enc_res[i][j], t, h, NULL, NULL); /* (N, S_i, S_i, C_i) */
        if (i < L - 1) h = conv_layer_forward(&v->enc_down[i], t, h); /* (N, S_i / 2, S_i / 2, C_i) */
    }
    h = mid_forward(&v->enc_mid, t, h);                                                  /* (N, s, s, C_{L-1}) */
    h = conv_layer_forward(&v->enc_out, t, norm_layer_forward(&v->enc_norm, t, h, true)); /* (N, s, s, 2Z) */
    *mean = ag_slice_channels(t, h, 0, Z);       /* (N, s, s, Z) */
    *logvar = ag_slice_channels(t, h, Z, 2 * Z); /* (N, s, s, Z) */
    return *mean && *logvar ? 0 : -1;
}

/* Decoder shapes (as the encoder's, reversed): z (N, s, s, Z) -> dec_in + middle
 * (N, s, s, C_{L-1}); level i from L-1 down to 0: R+1 ResBlocks to (N, S_i, S_i, C_i), then,
 * but for level 0, nearest x2 + conv to (N, 2 S_i, 2 S_i, C_i); norm + SiLU -> dec_out
 * (N, S, S, Cx). No tanh: samples are clamped when written. */
static Tensor *decode(const VAE *v, Tape *t, Tensor *z, Tensor **h_out) {
    if (check_input(v, z, cfg_latent_size(&v->cfg), v->cfg.latent_ch, "latent")) return NULL;
    const int L = v->cfg.vae_levels, R = v->cfg.vae_res;
    Tensor *h = mid_forward(&v->dec_mid, t, conv_layer_forward(&v->dec_in, t, z)); /* (N, s, s, C_{L-1}) */
    for (int i = L - 1; i >= 0; i--) {
        for (int j = 0; j <= R; j++) h = resblock_forward(&v->dec_res[i][j], t, h, NULL, NULL); /* (N, S_i, S_i, C_i) */
        if (i > 0) h = conv_layer_forward(&v->dec_up[i], t, ag_upsample2x(t, h)); /* (N, 2 S_i, 2 S_i, C_i) */
    }
    h = norm_layer_forward(&v->dec_norm, t, h, true); /* (N, S, S, C_0) */
    if (h_out) *h_out = h;
    return conv_layer_forward(&v->dec_out, t, h); /* (N, S, S, Cx) */
}

Tensor *vae_decode(const VAE *v, Tape *t, Tensor *z) { return decode(v, t, z, NULL); }

Tensor *vae_recon_loss(const VAE *v, Tape *t, Tensor *x_hat, Tensor *x) {
    return v->cfg.recon == RECON_L1 ? ag_l1_loss(t, x_hat, x) : ag_mse_loss(t, x_hat, x);
}

int vae_out_grad_norm(const VAE *v, Tape *t, Tensor *h, const Tensor *dy, Tensor *dw, double *norm) {
    const Conv *c = &v->dec_out;
    ArenaMark m = arena_mark(t->arena);
    Tensor *h32 = tape_f32(t, h); /* the weight gradient in fp32 whatever the activations' dtype */
    int rc = !h32 || fill(dw, 0.0f) || conv2d_backward(h32, c->w, dy, c->stride, c->pad, NULL, dw, NULL) ||
             sumsq(dw, norm);
    arena_rewind(t->arena, m);
    if (rc) return -1;
    *norm = sqrt(*norm);
    return 0;
}

Tensor *vae_loss(const VAE *v, Tape *t, Tensor *x, Tensor *noise, VAEOutput *out) {
    VAEOutput o = {0};
    if (out) *out = o;
    if (vae_encode(v, t, x, &o.mean, &o.logvar)) return NULL;
    if (!noise || !tensor_same_shape(noise, o.mean)) {
        ldm_error("vae", "noise %s must have the latent's shape %s", tshape(noise), tshape(o.mean));
        return NULL;
    }
    Tensor *z = ag_reparameterize(t, o.mean, o.logvar, noise);
    o.x_hat = decode(v, t, z, &o.h_out);
    o.recon = vae_recon_loss(v, t, o.x_hat, x);
    o.kl = ag_gaussian_kl(t, o.mean, o.logvar);
    o.loss = ag_add(t, o.recon, ag_scale(t, o.kl, v->cfg.kl_beta));
    if (out) *out = o;
    return o.loss;
}
