/* models/patch_disc.c — see patch_disc.h. */
#include "models/patch_disc.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

int disc_init(PatchDisc *d, ParamSet *ps, int in_ch) {
    memset(d, 0, sizeof *d);
    d->in_ch = in_ch, d->ch = DISC_CH, d->layers = DISC_LAYERS;
    char name[PS_NAME_MAX];
    int rc = conv_layer_init(&d->conv_in, ps, "conv_in", in_ch, d->ch, 3, 2, false);
    int ch = d->ch;
    for (int i = 1; i <= d->layers; i++) {
        int out = d->ch << i;
        snprintf(name, sizeof name, "layer.%d.conv", i);
        rc |= conv_layer_init(&d->conv[i], ps, name, ch, out, 3, i < d->layers ? 2 : 1, false);
        snprintf(name, sizeof name, "layer.%d.norm", i);
        rc |= norm_layer_init(&d->norm[i], ps, name, out, DISC_GROUPS);
        ch = out;
    }
    rc |= conv_layer_init(&d->conv_out, ps, "conv_out", ch, 1, 3, 1, false);
    return rc ? -1 : 0;
}

size_t disc_param_count(int in_ch) {
    ParamSet ps;
    PatchDisc d;
    ps_init(&ps, DEV_CPU, 0, false, false);
    size_t n = disc_init(&d, &ps, in_ch) ? 0 : ps_count(&ps);
    ps_free(&ps);
    return n;
}

size_t disc_activation_floats(int size) {
    size_t s = (size_t)size / 2, n = 2 * s * s * DISC_CH; /* conv_in, SiLU */
    for (int i = 1; i <= DISC_LAYERS; i++) {
        if (i < DISC_LAYERS) s /= 2;
        n += 2 * s * s * ((size_t)DISC_CH << i); /* conv, GroupNorm + SiLU */
    }
    return n + s * s;
}

/* Shapes, NHWC, with S the image size and c = DISC_CH:
 *   x (N, S, S, Cx) -> conv_in, SiLU (N, S/2, S/2, c)
 *   layer i < L: (N, S/2^(i+1), S/2^(i+1), c 2^i); layer L: (N, S/2^L, S/2^L, c 2^L)
 *   conv_out (N, S/2^L, S/2^L, 1): one logit per patch */
Tensor *disc_forward(const PatchDisc *d, Tape *t, Tensor *x) {
    if (!x) return NULL;
    const int f = 1 << d->layers;
    if (x->ndim != 4 || x->shape[3] != d->in_ch || x->shape[1] % f || x->shape[2] % f || x->shape[1] < f)
        return ldm_error("disc", "input %s: want (N, S, S, %d) with S a multiple of %d", tshape(x), d->in_ch, f), NULL;
    Tensor *h = ag_silu(t, conv_layer_forward(&d->conv_in, t, x));                              /* (N, S/2, S/2, c) */
    for (int i = 1; i <= d->layers; i++)
        h = norm_layer_forward(&d->norm[i], t, conv_layer_forward(&d->conv[i], t, h), true); /* (N, ., ., c 2^i) */
    return conv_layer_forward(&d->conv_out, t, h);                                            /* (N, S/f, S/f, 1) */
}

double disc_hinge_loss(const float *r, int n_r, const float *f, int n_f, float *dr, float *df) {
    double lr = 0, lf = 0;
    for (int i = 0; i < n_r; i++) {
        double m = 1.0 - r[i]; /* relu(1 - r) */
        lr += m > 0 ? m : 0;
        if (dr) dr[i] = m > 0 ? -1.0f / n_r : 0.0f;
    }
    for (int i = 0; i < n_f; i++) {
        double m = 1.0 + f[i]; /* relu(1 + f) */
        lf += m > 0 ? m : 0;
        if (df) df[i] = m > 0 ? 1.0f / n_f : 0.0f;
    }
    return lr / n_r + lf / n_f;
}

double disc_adaptive_weight(double rec_norm, double g_norm, double disc_weight) {
    double w = rec_norm / (g_norm + 1e-4);
    w = w < 0 ? 0 : w > 1e4 ? 1e4 : w;
    return w * disc_weight;
}
