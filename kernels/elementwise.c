/* kernels/elementwise.c — checks and device dispatch for elementwise ops (math in elementwise.h). */
#include "kernels/elementwise.h"

int fill(Tensor *y, float value) {
    if (kcheck("fill", y, "y")) return -1;
    return KDISPATCH("fill", y->device, fill_cpu(y, value), fill_cuda(y, value));
}

int axpy(Tensor *y, const Tensor *x, float alpha) {
    if (kcheck("axpy", y, "y") || kcheck("axpy", x, "x") || kcheck_device("axpy", y, x)) return -1;
    if (y->numel != x->numel) return ldm_error("axpy", "y %s and x %s differ in size", tshape(y), tshape(x));
    return KDISPATCH("axpy", y->device, axpy_cpu(y, x, alpha), axpy_cuda(y, x, alpha));
}

/* The activations of one call share a dtype (fp32 or bf16): one kernel per dtype. */
static int same_dtype(const char *op, int n, const Tensor *const *t, const char *const *what) {
    for (int i = 1; i < n; i++)
        if (t[i] && t[i]->dtype != t[0]->dtype)
            return ldm_error(op, "%s %s is %s but %s %s is %s", what[i], tshape(t[i]), dtype_name(t[i]->dtype),
                             what[0], tshape(t[0]), dtype_name(t[0]->dtype));
    return 0;
}

static int check_binary(const char *op, const Tensor *a, const Tensor *b, const Tensor *y) {
    if (kcheck_same_any(op, a, b, "a", "b") || kcheck_same_any(op, a, y, "a", "y")) return -1;
    return same_dtype(op, 3, (const Tensor *[]){a, b, y}, (const char *[]){"a", "b", "y"});
}

int add_forward(const Tensor *a, const Tensor *b, Tensor *y) {
    if (check_binary("add", a, b, y)) return -1;
    return KDISPATCH("add", a->device, add_forward_cpu(a, b, y), add_forward_cuda(a, b, y));
}

int mul_forward(const Tensor *a, const Tensor *b, Tensor *y) {
    if (check_binary("mul", a, b, y)) return -1;
    return KDISPATCH("mul", a->device, mul_forward_cpu(a, b, y), mul_forward_cuda(a, b, y));
}

int mul_backward(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    const char *op = "mul_backward";
    if (kcheck_same_any(op, a, b, "a", "b") || same_dtype(op, 2, (const Tensor *[]){a, b}, (const char *[]){"a", "b"}) ||
        kcheck_same_any(op, a, dy, "a", "dy") || kcheck_opt_same_any(op, da, a, "da", "a") ||
        kcheck_opt_same_any(op, db, a, "db", "a") || kcheck_f32(op, dy, "dy") || kcheck_f32(op, da, "da") ||
        kcheck_f32(op, db, "db"))
        return -1;
    return KDISPATCH(op, a->device, mul_backward_cpu(a, b, dy, da, db), mul_backward_cuda(a, b, dy, da, db));
}

int scale_forward(const Tensor *x, float s, Tensor *y) {
    if (kcheck_same_any("scale", x, y, "x", "y") ||
        same_dtype("scale", 2, (const Tensor *[]){x, y}, (const char *[]){"x", "y"}))
        return -1;
    return KDISPATCH("scale", x->device, scale_forward_cpu(x, s, y), scale_forward_cuda(x, s, y));
}

// ----------------------------------------------------------------------------
// scale_shift: x (N, ..., C), modulation (N, C)

/* A present modulation tensor must be (N, C) for x (N, ..., C), on x's device. */
static int check_mod(const char *op, const Tensor *x, const Tensor *m, const char *what) {
    if (!m) return 0;
    if (kcheck_rank_any(op, m, 2, what) || kcheck_device(op, x, m)) return -1;
    if (m->shape[0] != x->shape[0] || m->shape[1] != x->shape[x->ndim - 1])
        return ldm_error(op, "%s %s must be (N, C) = (%d, %d) for x %s", what, tshape(m), x->shape[0],
                         x->shape[x->ndim - 1], tshape(x));
    return 0;
}

static int check_x(const char *op, const Tensor *x) {
    if (kcheck_any(op, x, "x")) return -1;
    if (x->ndim < 2) return ldm_error(op, "x %s must have at least 2 dims (N, ..., C)", tshape(x));
    return 0;
}

int scale_shift_forward(const Tensor *x, const Tensor *scale, const Tensor *shift, Tensor *y) {
    const char *op = "scale_shift";
    if (check_x(op, x) || check_mod(op, x, scale, "scale") || check_mod(op, x, shift, "shift") ||
        kcheck_same_any(op, x, y, "x", "y") ||
        same_dtype(op, 4, (const Tensor *[]){x, scale, shift, y}, (const char *[]){"x", "scale", "shift", "y"}))
        return -1;
    return KDISPATCH(op, x->device, scale_shift_forward_cpu(x, scale, shift, y),
                     scale_shift_forward_cuda(x, scale, shift, y));
}

int scale_shift_backward(const Tensor *x, const Tensor *scale, const Tensor *dy, Tensor *dx, Tensor *dscale,
                         Tensor *dshift) {
    const char *op = "scale_shift_backward";
    if (check_x(op, x) || check_mod(op, x, scale, "scale") || kcheck_same_any(op, x, dy, "x", "dy") ||
        same_dtype(op, 2, (const Tensor *[]){x, scale}, (const char *[]){"x", "scale"}) ||
        kcheck_opt_same_any(op, dx, x, "dx", "x") || check_mod(op, x, dscale, "dscale") ||
        check_mod(op, x, dshift, "dshift") || kcheck_f32(op, dy, "dy") || kcheck_f32(op, dx, "dx") ||
        kcheck_f32(op, dscale, "dscale") || kcheck_f32(op, dshift, "dshift"))
        return -1;
    return KDISPATCH(op, x->device, scale_shift_backward_cpu(x, scale, dy, dx, dscale, dshift),
                     scale_shift_backward_cuda(x, scale, dy, dx, dscale, dshift));
}
