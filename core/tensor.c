/* core/tensor.c — see tensor.h. */
#include "core/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/bf16.h"
#include "core/error.h"

static int check_shape(int ndim, const int *shape, size_t *numel) {
    if (ndim < 1 || ndim > TENSOR_MAX_DIMS)
        return ldm_error("tensor", "rank %d is outside 1..%d", ndim, TENSOR_MAX_DIMS);
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] <= 0) return ldm_error("tensor", "dimension %d has size %d (must be > 0)", i, shape[i]);
        if (n > ((size_t)1 << 40) / (size_t)shape[i]) return ldm_error("tensor", "too many elements");
        n *= (size_t)shape[i];
    }
    *numel = n;
    return 0;
}

static Tensor *tensor_struct(Arena *arena) {
    Tensor *t = arena ? arena_alloc_host(arena, sizeof *t) : calloc(1, sizeof *t);
    if (!t && !arena) ldm_error("tensor", "out of host memory");
    return t;
}

Tensor *tensor_new(Arena *arena, Device dev, int ndim, const int *shape) {
    return tensor_new_dtype(arena, dev, DT_F32, ndim, shape);
}

Tensor *tensor_new_dtype(Arena *arena, Device dev, DType dt, int ndim, const int *shape) {
    if (dt != DT_F32 && dt != DT_BF16) {
        ldm_error("tensor", "unknown dtype %d", (int)dt);
        return NULL;
    }
    size_t numel;
    if (check_shape(ndim, shape, &numel)) return NULL;
    if (arena) dev = arena->device;
    Tensor *t = tensor_struct(arena);
    if (!t) return NULL;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->numel = numel;
    t->device = dev;
    t->dtype = dt;
    t->on_heap = arena == NULL;
    t->data = arena ? arena_alloc(arena, tensor_bytes(t)) : dev_malloc(dev, tensor_bytes(t));
    if (!t->data) {
        if (!arena) free(t);
        return NULL;
    }
    return t;
}

Tensor *tensor_zeros(Arena *arena, Device dev, int ndim, const int *shape) {
    Tensor *t = tensor_new(arena, dev, ndim, shape);
    if (t && tensor_zero(t)) {
        tensor_free(t);
        return NULL;
    }
    return t;
}

Tensor *tensor_new1(Arena *a, Device dev, int d0) { return tensor_new(a, dev, 1, (int[]){d0}); }
Tensor *tensor_new2(Arena *a, Device dev, int d0, int d1) { return tensor_new(a, dev, 2, (int[]){d0, d1}); }
Tensor *tensor_new3(Arena *a, Device dev, int d0, int d1, int d2) {
    return tensor_new(a, dev, 3, (int[]){d0, d1, d2});
}
Tensor *tensor_new4(Arena *a, Device dev, int d0, int d1, int d2, int d3) {
    return tensor_new(a, dev, 4, (int[]){d0, d1, d2, d3});
}

Tensor *tensor_like(Arena *arena, const Tensor *x) {
    if (!x) return NULL;
    return tensor_new_dtype(arena, x->device, x->dtype, x->ndim, x->shape);
}

Tensor *tensor_param(Device dev, int ndim, const int *shape, const char *name) {
    Tensor *t = tensor_zeros(NULL, dev, ndim, shape);
    if (!t) return NULL;
    t->grad = dev_malloc(dev, t->numel * sizeof(float));
    if (!t->grad || dev_memset0(dev, t->grad, t->numel * sizeof(float))) {
        tensor_free(t);
        return NULL;
    }
    t->requires_grad = true;
    t->name = name;
    return t;
}

void tensor_free(Tensor *t) {
    if (!t || !t->on_heap) return;
    dev_free(t->device, t->data);
    dev_free(t->device, t->grad);
    free(t);
}

Tensor *tensor_view(Arena *arena, const Tensor *x, int ndim, const int *shape) {
    if (!x) return NULL;
    size_t numel;
    if (check_shape(ndim, shape, &numel)) return NULL;
    if (numel != x->numel) {
        ldm_error("view", "cannot view %s (%zu elements) as %d dims of %zu elements", tshape(x), x->numel, ndim,
                  numel);
        return NULL;
    }
    Tensor *t = tensor_struct(arena);
    if (!t) return NULL;
    *t = *x;
    t->ndim = ndim;
    memset(t->shape, 0, sizeof t->shape);
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->on_heap = false; /* a view never owns storage */
    return t;
}

Tensor tensor_grad_view(const Tensor *t) {
    Tensor g = *t;
    g.data = t->grad;
    g.dtype = DT_F32; /* gradients are fp32 whatever the tensor's dtype */
    g.grad = NULL;
    g.requires_grad = false;
    g.on_heap = false;
    return g;
}

int tensor_zero(Tensor *t) { return dev_memset0(t->device, t->data, tensor_bytes(t)); }

int tensor_zero_grad(Tensor *t) { return t->grad ? dev_memset0(t->device, t->grad, t->numel * sizeof(float)) : 0; }

int tensor_ensure_grad(Tensor *t, Arena *arena) {
    if (t->grad) return 0;
    const size_t bytes = t->numel * sizeof(float); /* fp32 whatever t's dtype */
    if (t->on_heap) {
        t->grad = dev_malloc(t->device, bytes);
    } else {
        if (!arena) return ldm_error("tensor", "no arena to hold the gradient of %s", tshape(t));
        t->grad = arena_alloc(arena, bytes);
    }
    if (!t->grad) return -1;
    return dev_memset0(t->device, t->grad, bytes);
}

int tensor_to_host_raw(const Tensor *t, void *dst) {
    return dev_memcpy(dst, DEV_CPU, t->data, t->device, tensor_bytes(t));
}

int tensor_from_host_raw(Tensor *t, const void *src) {
    return dev_memcpy(t->data, t->device, src, DEV_CPU, tensor_bytes(t));
}

int tensor_to_host(const Tensor *t, float *dst) {
    if (t->dtype == DT_F32) return tensor_to_host_raw(t, dst);
    if (t->device == DEV_CPU) {
        ldm_bf16_to_f32_n((const bf16_t *)t->data, dst, t->numel);
        return 0;
    }
    bf16_t *tmp = malloc(tensor_bytes(t) ? tensor_bytes(t) : 1);
    if (!tmp) return ldm_error("tensor", "out of host memory for %s", tshape(t));
    int rc = tensor_to_host_raw(t, tmp);
    if (!rc) ldm_bf16_to_f32_n(tmp, dst, t->numel);
    free(tmp);
    return rc;
}

int tensor_from_host(Tensor *t, const float *src) {
    if (t->dtype == DT_F32) return tensor_from_host_raw(t, src);
    if (t->device == DEV_CPU) {
        ldm_f32_to_bf16_n(src, (bf16_t *)t->data, t->numel);
        return 0;
    }
    bf16_t *tmp = malloc(tensor_bytes(t) ? tensor_bytes(t) : 1);
    if (!tmp) return ldm_error("tensor", "out of host memory for %s", tshape(t));
    ldm_f32_to_bf16_n(src, tmp, t->numel);
    int rc = tensor_from_host_raw(t, tmp);
    free(tmp);
    return rc;
}

int tensor_copy(Tensor *dst, const Tensor *src) {
    if (dst->numel != src->numel)
        return ldm_error("tensor_copy", "element counts differ: %s vs %s", tshape(dst), tshape(src));
    if (dst->dtype == src->dtype)
        return dev_memcpy(dst->data, dst->device, src->data, src->device, tensor_bytes(src));
    float *tmp = malloc(src->numel * sizeof(float) + 1);
    if (!tmp) return ldm_error("tensor_copy", "out of host memory for %s", tshape(src));
    int rc = tensor_to_host(src, tmp);
    if (!rc) rc = tensor_from_host(dst, tmp);
    free(tmp);
    return rc;
}

size_t dtype_bytes(DType dt) { return dt == DT_BF16 ? sizeof(bf16_t) : sizeof(float); }

const char *dtype_name(DType dt) { return dt == DT_BF16 ? "bf16" : "f32"; }

size_t tensor_bytes(const Tensor *t) { return t->numel * dtype_bytes(t->dtype); }

bool tensor_same_shape(const Tensor *a, const Tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

const char *tensor_shape_str(const Tensor *t, char *buf, size_t n) {
    if (!t) {
        snprintf(buf, n, "(null)");
        return buf;
    }
    size_t off = 0;
    off += (size_t)snprintf(buf + off, n - off, "(");
    for (int i = 0; i < t->ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %d" : "%d", t->shape[i]);
    if (off < n) snprintf(buf + off, n - off, ")");
    return buf;
}

const char *tshape(const Tensor *t) {
    static _Thread_local char bufs[8][64];
    static _Thread_local int slot;
    char *b = bufs[slot++ & 7];
    return tensor_shape_str(t, b, 64);
}

size_t tensor_rows(const Tensor *t) { return t->numel / (size_t)t->shape[t->ndim - 1]; }

int tensor_cols(const Tensor *t) { return t->shape[t->ndim - 1]; }
