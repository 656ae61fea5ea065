/* models/sampler.c — see sampler.h for the math. Coefficients are computed in double
 * from the schedule; the tensor arithmetic is autograd ops under no-grad, so the same
 * code runs on the CPU and the GPU. */
#include "models/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "core/error.h"
#include "kernels/random.h"

static const char *const names[] = {"ddpm", "ddim", "dpmpp2m"};

int sampler_parse(const char *name, SamplerKind *out) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, names[i])) {
            *out = (SamplerKind)i;
            return 0;
        }
    return ldm_error("sampler", "unknown sampler '%s' (known: ddpm ddim dpmpp2m)", name ? name : "(null)");
}

const char *sampler_name(SamplerKind k) { return k >= 0 && k <= 2 ? names[k] : "?"; }

int sampler_timesteps(const NoiseSchedule *s, int steps, int *ts) {
    if (steps < 1 || steps > s->T) return ldm_error("sampler", "steps = %d is outside 1..%d", steps, s->T);
    if (steps == 1) {
        ts[0] = s->T - 1;
        return 0;
    }
    for (int i = 0; i < steps; i++) ts[i] = (int)lround((double)(s->T - 1) * (steps - 1 - i) / (steps - 1));
    return 0;
}

int sample_init_noise(Tensor *x, uint64_t seed) { return rng_normal(x, seed, 0); }

// ----------------------------------------------------------------------------
// small tensor helpers (arena tensors on x's device)

/* A (n) tensor holding the host ints v[] as floats, or n copies of `fill_v` when v is NULL. */
static Tensor *float_vec(Tape *tp, Device dev, int n, const int *v, int fill_v) {
    Tensor *t = tensor_new1(tp->arena, dev, n);
    float *h = arena_alloc_host(tp->arena, (size_t)n * sizeof(float)); /* staging: no malloc in a step */
    if (!t || !h) return NULL;
    for (int i = 0; i < n; i++) h[i] = (float)(v ? v[i] : fill_v);
    return tensor_from_host(t, h) ? NULL : t;
}

/* Rows [half * B/2, (half + 1) * B/2) of x (B, ...) as a view. */
static Tensor *batch_half(Tape *tp, Tensor *x, int half) {
    if (!x) return NULL;
    Tensor *v = arena_alloc_host(tp->arena, sizeof *v);
    if (!v) return NULL;
    *v = *x;
    v->shape[0] = x->shape[0] / 2;
    v->numel = x->numel / 2;
    v->data = x->data + (size_t)half * v->numel;
    v->grad = NULL;
    v->on_heap = false;
    v->requires_grad = false;
    return v;
}

/* ca x + cb y */
static Tensor *lincomb(Tape *tp, double ca, Tensor *x, double cb, Tensor *y) {
    return ag_add(tp, ag_scale(tp, x, (float)ca), ag_scale(tp, y, (float)cb));
}

// ----------------------------------------------------------------------------
// the noise prediction

Tensor *guided_eps(EpsFn fn, void *ctx, Tape *tp, Tensor *x, int t, const int *labels, int null_label, float s) {
    if (!x) return NULL;
    if (!labels) {
        ldm_error("guided_eps", "classifier-free guidance needs labels (x %s)", tshape(x));
        return NULL;
    }
    const int N = x->shape[0];
    int shape2[TENSOR_MAX_DIMS];
    memcpy(shape2, x->shape, sizeof shape2);
    shape2[0] = 2 * N;
    Tensor *x2 = tensor_new(tp->arena, x->device, x->ndim, shape2);
    Tensor *lab = tensor_new1(tp->arena, x->device, 2 * N);
    if (!x2 || !lab) return NULL;
    if (dev_memcpy(x2->data, x2->device, x->data, x->device, tensor_bytes(x)) ||
        dev_memcpy(x2->data + x->numel, x2->device, x->data, x->device, tensor_bytes(x)))
        return NULL;
    float *h = arena_alloc_host(tp->arena, 2 * (size_t)N * sizeof(float));
    if (!h) return NULL;
    for (int i = 0; i < N; i++) {
        h[i] = (float)labels[i];
        h[N + i] = (float)null_label;
    }
    if (tensor_from_host(lab, h)) return NULL;
    Tensor *eps2 = fn(ctx, tp, x2, float_vec(tp, x->device, 2 * N, NULL, t), lab);
    if (eps2 && !tensor_same_shape(eps2, x2)) {
        ldm_error("guided_eps", "eps model returned %s for input %s", tshape(eps2), tshape(x2));
        return NULL;
    }
    Tensor *ec = batch_half(tp, eps2, 0), *eu = batch_half(tp, eps2, 1);
    return lincomb(tp, 1.0 - s, eu, s, ec); /* eps_u + s (eps_c - eps_u); exactly eps_c at s = 1 */
}

static Tensor *predict_eps(EpsFn fn, void *ctx, Tape *tp, Tensor *x, int t, const int *labels, const SamplerOpts *o) {
    if (labels && o->guidance != 1.0f) return guided_eps(fn, ctx, tp, x, t, labels, o->null_label, o->guidance);
    const int N = x->shape[0];
    Tensor *lab = labels ? float_vec(tp, x->device, N, labels, 0) : NULL;
    if (labels && !lab) return NULL;
    Tensor *eps = fn(ctx, tp, x, float_vec(tp, x->device, N, NULL, t), lab);
    if (eps && !tensor_same_shape(eps, x)) {
        ldm_error("sampler", "eps model returned %s for input %s", tshape(eps), tshape(x));
        return NULL;
    }
    return eps;
}

// ----------------------------------------------------------------------------
// the loop

static int check_opts(const NoiseSchedule *s, const Tensor *x, const SamplerOpts *o) {
    if (!s || !x || !o) return ldm_error("sampler", "NULL argument");
    if (o->kind < SAMPLER_DDPM || o->kind > SAMPLER_DPMPP_2M) return ldm_error("sampler", "unknown sampler kind %d", o->kind);
    if (!(o->eta >= 0 && o->eta <= 1)) return ldm_error("sampler", "eta = %g is outside [0, 1]", (double)o->eta);
    if (!isfinite(o->guidance)) return ldm_error("sampler", "guidance scale %g is not finite", (double)o->guidance);
    if (!x->on_heap) return ldm_error("sampler", "the state x %s must be a heap tensor (the arena is reset)", tshape(x));
    return 0;
}

int sample(const NoiseSchedule *s, EpsFn fn, void *ctx, Tape *tp, Tensor *x, const int *labels,
           const SamplerOpts *o) {
    if (check_opts(s, x, o)) return -1;
    int *ts = malloc((size_t)o->steps * sizeof(int));
    if (!ts) return ldm_error("sampler", "out of host memory");
    if (sampler_timesteps(s, o->steps, ts)) {
        free(ts);
        return -1;
    }
    Tensor *prev_x0 = NULL; /* DPM++(2M): x0 of the previous step (heap) */
    if (o->kind == SAMPLER_DPMPP_2M && !(prev_x0 = tensor_like(NULL, x))) {
        free(ts);
        return -1;
    }
    bool grad = tape_set_grad_enabled(tp, false);
    double h_prev = 0;
    int rc = 0;
    for (int i = 0; i < o->steps && !rc; i++) {
        arena_reset(tp->arena);
        tape_reset(tp);
        const int t = ts[i], tn = i + 1 < o->steps ? ts[i + 1] : -1;
        const double ab = schedule_alpha_bar(s, t), abn = schedule_alpha_bar(s, tn);
        if (isnan(ab) || isnan(abn)) {
            rc = -1;
            break;
        }
        const double a = sqrt(ab), b = sqrt(1 - ab), an = sqrt(abn), bn = sqrt(1 - abn);
        Tensor *eps = predict_eps(fn, ctx, tp, x, t, labels, o);
        Tensor *x0 = lincomb(tp, 1 / a, x, -b / a, eps);
        if (!x0) {
            rc = -1;
            break;
        }
        if (o->callback && (rc = o->callback(o->callback_ctx, i, o->steps, t, x, x0))) break;
        Tensor *xn;
        if (o->kind == SAMPLER_DPMPP_2M) {
            if (tn < 0) {
                xn = x0;
            } else {
                double h = log(an / bn) - log(a / b);
                Tensor *D = x0;
                if (i > 0 && tn > 0) { /* second order, except into t = 0 (see sampler.h) */
                    double r = h_prev / h;
                    D = lincomb(tp, 1 + 1 / (2 * r), x0, -1 / (2 * r), prev_x0);
                }
                xn = ag_add(tp, x, lincomb(tp, bn / b - 1, x, -an * expm1(-h), D));
                h_prev = h;
            }
            if (tensor_copy(prev_x0, x0)) rc = -1;
        } else {
            double eta = o->kind == SAMPLER_DDPM ? 1.0 : o->eta;
            double sigma = tn < 0 ? 0 : eta * sqrt((1 - abn) / (1 - ab)) * sqrt(1 - ab / abn);
            double ce = sqrt(fmax(0.0, 1 - abn - sigma * sigma)) - an * b / a;
            xn = ag_add(tp, x, lincomb(tp, an / a - 1, x, ce, eps)); /* x + small: one rounding of x */
            if (sigma > 0) {
                Tensor *z = tensor_like(tp->arena, x);
                if (!z || rng_normal(z, o->seed, (uint64_t)(i + 1) * x->numel)) z = NULL;
                xn = z ? ag_add(tp, xn, ag_scale(tp, z, (float)sigma)) : NULL;
            }
        }
        if (!rc && (!xn || tensor_copy(x, xn))) rc = -1;
    }
    tape_set_grad_enabled(tp, grad);
    tensor_free(prev_x0);
    free(ts);
    return rc;
}
