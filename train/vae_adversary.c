/* train/vae_adversary.c — see vae_adversary.h. */
#include "train/vae_adversary.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/elementwise.h"

int adv_init(Adversary *a, const VAE *v, Arena *arena, Device dev, DType act_dtype, int batch, uint64_t seed,
             double weight, long start) {
    memset(a, 0, sizeof *a);
    const ModelConfig *cfg = &v->cfg;
    const int S = cfg->image_size, f = 1 << DISC_LAYERS;
    if (S % f)
        return ldm_error("disc", "image size %d is not a multiple of %d: the discriminator halves it %d times", S, f,
                         DISC_LAYERS);
    a->batch = batch, a->size = S, a->channels = cfg->channels, a->weight = weight, a->start = start;
    ps_init(&a->ps, DEV_CPU, seed, true, true);
    if (disc_init(&a->d, &a->ps, cfg->channels) || optim_init(&a->opt, &a->ps, 0)) goto fail;
    a->opt.cfg.beta1 = 0.5f, a->opt.cfg.beta2 = 0.9f; /* LDM's discriminator optimizer */
    if (ps_to_device(&a->ps, dev) || ps_to_device(&a->opt.m, dev) || ps_to_device(&a->opt.v, dev)) goto fail;
    if (!(a->dw = tensor_new(NULL, dev, v->dec_out.w->ndim, v->dec_out.w->shape))) goto fail;
    const size_t P = (size_t)S * S * cfg->channels;
    if (!(a->host = malloc(2 * (size_t)batch * P * sizeof(float)))) {
        ldm_error("disc", "out of memory");
        goto fail;
    }
    tape_init(&a->tp, arena);
    tape_set_precision(&a->tp, act_dtype);
    a->ready = true;
    return 0;
fail:
    adv_free(a);
    return -1;
}

void adv_free(Adversary *a) {
    if (a->ps.p) {
        optim_free(&a->opt);
        ps_free(&a->ps);
    }
    tensor_free(a->dw);
    free(a->host);
    memset(a, 0, sizeof *a);
}

bool adv_active(const Adversary *a, long step) { return a->ready && a->weight > 0 && step >= a->start; }

/* A detached fp32 copy of the host images src (shape like `like`) that collects a gradient. */
static Tensor *leaf(Arena *arena, const Tensor *like, const float *src) {
    Tensor *y = tensor_new(arena, like->device, like->ndim, like->shape);
    if (!y || tensor_from_host(y, src) || tensor_ensure_grad(y, arena)) return NULL;
    y->requires_grad = true;
    return y;
}

int adv_generator(Adversary *a, const VAE *v, Tape *t, Tensor *x, const VAEOutput *o, Tensor **root, Tensor **logged) {
    *root = *logged = NULL;
    const size_t n = o->x_hat->numel;
    float *real = a->host, *fake = a->host + n;
    if (x->shape[0] != a->batch) return ldm_error("disc", "batch %d, built for %d", x->shape[0], a->batch);
    if (tensor_to_host(x, real) || tensor_to_host(o->x_hat, fake)) return -1;
    Tape *at = &a->tp;
    /* g_rec = dL_rec/dx_hat */
    Tensor *xr = leaf(t->arena, o->x_hat, fake), *xg = leaf(t->arena, o->x_hat, fake);
    if (!xr || !xg) return -1;
    tape_reset(at);
    if (tape_backward(at, vae_recon_loss(v, at, xr, x), NULL)) return -1;
    /* g_adv = dL_G/dx_hat, L_G = -mean(D(x_hat)); D's parameters collect a gradient too, which the
     * discriminator step zeroes first */
    tape_reset(at);
    Tensor *lg = ag_scale(at, ag_mean(at, disc_forward(&a->d, at, xg)), -1.0f);
    if (tape_backward(at, lg, NULL)) return -1;
    tape_reset(at);
    Tensor g_rec = tensor_grad_view(xr), g_adv = tensor_grad_view(xg);
    if (vae_out_grad_norm(v, t, o->h_out, &g_rec, a->dw, &a->rec_norm) ||
        vae_out_grad_norm(v, t, o->h_out, &g_adv, a->dw, &a->g_norm))
        return -1;
    a->lambda = disc_adaptive_weight(a->rec_norm, a->g_norm, a->weight);
    /* c = g_rec + lambda g_adv, a constant; root = kl_beta KL + sum(x_hat * c) */
    Tensor *c = tensor_new(t->arena, x->device, o->x_hat->ndim, o->x_hat->shape);
    if (!c || fill(c, 0.0f) || axpy(c, &g_rec, 1.0f) || axpy(c, &g_adv, (float)a->lambda)) return -1;
    *root = ag_add(t, ag_scale(t, o->kl, v->cfg.kl_beta), ag_sum(t, ag_mul(t, o->x_hat, c)));
    bool prev = tape_set_grad_enabled(at, false);
    *logged = ag_add(at, o->loss, ag_scale(at, lg, (float)a->lambda));
    tape_set_grad_enabled(at, prev);
    float lgv;
    if (!*root || !*logged || tensor_to_host(lg, &lgv)) return -1;
    a->loss_g = lgv;
    return 0;
}

int adv_discriminator_step(Adversary *a, long step, double lr) {
    Tape *at = &a->tp;
    const int B = a->batch, S = a->size, C = a->channels;
    Tensor *xd = tensor_new4(at->arena, a->dw->device, 2 * B, S, S, C); /* real | fake */
    if (!xd || tensor_from_host(xd, a->host) || ps_zero_grad(&a->ps)) return -1;
    tape_reset(at);
    Tensor *logits = disc_forward(&a->d, at, xd); /* (2B, S/f, S/f, 1) */
    if (!logits) return -1;
    const int n = (int)(logits->numel / 2);
    float *lh = a->host, *dl = a->host + 2 * n; /* the images are on the device now: reuse */
    Tensor *seed = tensor_new(at->arena, logits->device, logits->ndim, logits->shape);
    if (!seed || tensor_to_host(logits, lh)) return -1;
    a->loss_d = disc_hinge_loss(lh, n, lh + n, n, dl, dl + n);
    if (tensor_from_host(seed, dl) || tape_backward(at, logits, seed)) return -1;
    tape_reset(at);
    double gnorm;
    if (optim_step(&a->opt, &a->ps, step - a->start + 1, lr, 0, &gnorm)) return -1;
    a->steps_done++;
    return 0;
}
