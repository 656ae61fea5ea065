/* models/params.c — see params.h. */
#include "models/params.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/philox.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

void ps_init(ParamSet *ps, Device dev, uint64_t seed, bool alloc, bool with_grad) {
    memset(ps, 0, sizeof *ps);
    ps->device = dev;
    ps->seed = seed;
    ps->alloc = alloc;
    ps->with_grad = with_grad;
}

void ps_free(ParamSet *ps) {
    if (!ps) return;
    for (int i = 0; i < ps->n; i++)
        if (ps->alloc) tensor_free(ps->p[i].t);
        else free(ps->p[i].t);
    free(ps->p);
    memset(ps, 0, sizeof *ps);
}

/* FNV-1a of the name, mixed with the seed: the Philox key of one tensor's stream. */
static uint64_t stream_of(uint64_t seed, const char *name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) h = (h ^ *s) * 0x100000001b3ull;
    h ^= seed + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

/* Values for param p on the host, then copied to its device. */
static int init_values(Param *p, uint64_t seed, ParamInit init, float std_override) {
    float *v = malloc(p->numel * sizeof(float));
    if (!v) return ldm_error("params", "out of host memory initialising %s", p->name);
    uint64_t key = stream_of(seed, p->name);
    float std = std_override;
    if (std_override < 0) std = init == PI_FAN_IN ? (float)(1.0 / sqrt((double)(p->numel / (size_t)p->shape[0]))) : 1.0f;
    for (size_t i = 0; i < p->numel; i++) {
        switch (init) {
        case PI_ZERO: v[i] = 0.0f; break;
        case PI_ONE: v[i] = 1.0f; break;
        default: v[i] = std * philox_normal(key, i); break;
        }
    }
    int rc = tensor_from_host(p->t, v);
    free(v);
    return rc;
}

Tensor *ps_add(ParamSet *ps, ParamInit init, int ndim, const int *shape, const char *fmt, ...) {
    char name[PS_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (len < 0 || len >= PS_NAME_MAX) {
        ldm_error("params", "parameter name '%s...' is longer than %d characters", name, PS_NAME_MAX - 1);
        return NULL;
    }
    if (ndim < 1 || ndim > TENSOR_MAX_DIMS) {
        ldm_error("params", "%s: rank %d is outside 1..%d", name, ndim, TENSOR_MAX_DIMS);
        return NULL;
    }
    if (ps_find_param(ps, name)) {
        ldm_error("params", "parameter %s is registered twice", name);
        return NULL;
    }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 64;
        Param *np = realloc(ps->p, (size_t)cap * sizeof *np);
        if (!np) {
            ldm_error("params", "out of host memory registering %s", name);
            return NULL;
        }
        ps->p = np;
        ps->cap = cap;
        for (int i = 0; i < ps->n; i++) ps->p[i].t->name = ps->p[i].name; /* the names moved */
    }
    Param *p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->numel = 1;
    p->init = init;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) {
            ldm_error("params", "%s: dimension %d has size %d", name, i, shape[i]);
            return NULL;
        }
        p->shape[i] = shape[i];
        p->numel *= (size_t)shape[i];
    }
    if (ps->alloc) {
        p->t = ps->with_grad ? tensor_param(ps->device, ndim, shape, p->name)
                             : tensor_new(NULL, ps->device, ndim, shape);
        if (!p->t) return NULL;
        p->t->name = p->name;
        if (init_values(p, ps->seed, init, -1.0f)) {
            tensor_free(p->t);
            return NULL;
        }
    } else {
        /* a placeholder carrying the shape: lets model code compute channel counts */
        p->t = calloc(1, sizeof *p->t);
        if (!p->t) {
            ldm_error("params", "out of host memory registering %s", name);
            return NULL;
        }
        p->t->ndim = ndim;
        memcpy(p->t->shape, shape, (size_t)ndim * sizeof(int));
        p->t->numel = p->numel;
        p->t->device = ps->device;
    }
    ps->n++;
    ps->numel += p->numel;
    return p->t;
}

const Param *ps_find_param(const ParamSet *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (!strcmp(ps->p[i].name, name)) return &ps->p[i];
    return NULL;
}

Tensor *ps_find(const ParamSet *ps, const char *name) {
    const Param *p = ps_find_param(ps, name);
    return p ? p->t : NULL;
}

size_t ps_count(const ParamSet *ps) { return ps->numel; }

int ps_zero_grad(ParamSet *ps) {
    for (int i = 0; i < ps->n; i++)
        if (ps->alloc && tensor_zero_grad(ps->p[i].t)) return -1;
    return 0;
}

int ps_clone(ParamSet *dst, const ParamSet *src, Device dev, bool with_grad, bool copy_values) {
    if (!src->alloc && copy_values) return ldm_error("params", "clone: cannot copy values from a dry set");
    ps_init(dst, dev, src->seed, true, with_grad);
    for (int i = 0; i < src->n; i++) {
        const Param *p = &src->p[i];
        Tensor *t = ps_add(dst, PI_ZERO, p->ndim, p->shape, "%s", p->name);
        if (!t || (copy_values && tensor_copy(t, p->t))) {
            ps_free(dst);
            return -1;
        }
        dst->p[i].init = p->init;
    }
    return 0;
}

static int same_layout(const ParamSet *a, const ParamSet *b, const char *op) {
    if (a->n != b->n) return ldm_error("params", "%s: %d parameters vs %d", op, a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        if (strcmp(a->p[i].name, b->p[i].name))
            return ldm_error("params", "%s: parameter %d is %s vs %s", op, i, a->p[i].name, b->p[i].name);
        if (a->p[i].numel != b->p[i].numel || a->p[i].ndim != b->p[i].ndim ||
            memcmp(a->p[i].shape, b->p[i].shape, sizeof a->p[i].shape))
            return ldm_error("params", "%s: %s has shape %s vs %s", op, a->p[i].name, tshape(a->p[i].t),
                             tshape(b->p[i].t));
    }
    return 0;
}

bool ps_decays(const Param *p) { return p->ndim >= 2 && p->init != PI_NORMAL; }

int ps_swap_values(ParamSet *a, ParamSet *b) {
    if (a->n != b->n) return ldm_error("params", "swap: %d tensors vs %d", a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        Tensor *x = a->p[i].t, *y = b->p[i].t;
        if (!x || !y || x->numel != y->numel || x->device != y->device || x->dtype != y->dtype ||
            strcmp(a->p[i].name, b->p[i].name))
            return ldm_error("params", "swap: %s and %s differ in shape, device or dtype", a->p[i].name, b->p[i].name);
    }
    for (int i = 0; i < a->n; i++) {
        float *d = a->p[i].t->data;
        a->p[i].t->data = b->p[i].t->data, b->p[i].t->data = d;
    }
    return 0;
}

int ps_copy_values(ParamSet *dst, const ParamSet *src) {
    if (!dst->alloc || !src->alloc) return ldm_error("params", "copy_values: a dry set has no values");
    if (same_layout(dst, src, "copy_values")) return -1;
    for (int i = 0; i < dst->n; i++)
        if (tensor_copy(dst->p[i].t, src->p[i].t)) return -1;
    return 0;
}

/* New storage for one buffer on `dev`, filled from `old` on the tensor's device. */
static float *move_buffer(float *old, Device from, Device to, size_t bytes) {
    if (!old) return NULL;
    float *n = dev_malloc(to, bytes);
    if (!n) return NULL;
    if (dev_memcpy(n, to, old, from, bytes)) {
        dev_free(to, n);
        return NULL;
    }
    return n;
}

int ps_to_device(ParamSet *ps, Device dev) {
    if (!ps->alloc) {
        ps->device = dev;
        return 0;
    }
    for (int i = 0; i < ps->n; i++) {
        Tensor *t = ps->p[i].t;
        if (t->device == dev) continue;
        size_t bytes = tensor_bytes(t);
        float *d = move_buffer(t->data, t->device, dev, bytes);
        if (!d) return -1;
        float *g = NULL;
        if (t->grad && !(g = move_buffer(t->grad, t->device, dev, bytes))) {
            dev_free(dev, d);
            return -1;
        }
        dev_free(t->device, t->data);
        dev_free(t->device, t->grad);
        t->data = d;
        t->grad = g;
        t->device = dev;
    }
    ps->device = dev;
    return 0;
}

int ps_ema_update(ParamSet *ema, const ParamSet *ps, float decay) {
    if (!(decay >= 0 && decay <= 1)) return ldm_error("params", "ema: decay %g is outside [0, 1]", (double)decay);
    if (!ema->alloc || !ps->alloc) return ldm_error("params", "ema: a dry set has no values");
    if (same_layout(ema, ps, "ema")) return -1;
    for (int i = 0; i < ps->n; i++) /* ema += (1 - decay) (p - ema), as two elementwise passes */
        if (axpy(ema->p[i].t, ema->p[i].t, decay - 1.0f) || axpy(ema->p[i].t, ps->p[i].t, 1.0f - decay)) return -1;
    return 0;
}

int ps_grad_sumsq(const ParamSet *ps, double *out) {
    *out = 0;
    for (int i = 0; i < ps->n; i++) {
        const Tensor *t = ps->p[i].t;
        if (!ps->alloc || !t->grad) return ldm_error("params", "grad_sumsq: %s has no gradient", ps->p[i].name);
        Tensor g = tensor_grad_view(t);
        double s;
        if (sumsq(&g, &s)) return -1;
        *out += s;
    }
    return 0;
}

int ps_randomize(ParamSet *ps, uint64_t seed, float std) {
    if (!ps->alloc) return ldm_error("params", "randomize: a dry set has no values");
    for (int i = 0; i < ps->n; i++)
        if (init_values(&ps->p[i], seed, PI_NORMAL, std)) return -1;
    return 0;
}
