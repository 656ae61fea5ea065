/* kernels/kernel_common.c — shared argument checks (see kernel_common.h). */
#include "kernels/kernel_common.h"

#include <limits.h>

static int check(const char *op, const Tensor *t, const char *what, bool bf16_ok) {
    if (!t) return ldm_error(op, "%s is missing (NULL)", what);
    if (!t->data) return ldm_error(op, "%s %s has no storage", what, tshape(t));
    if (t->dtype != DT_F32 && !(bf16_ok && t->dtype == DT_BF16))
        return ldm_error(op, "%s %s is %s (only fp32%s is implemented)", what, tshape(t), dtype_name(t->dtype),
                         bf16_ok ? " and bf16" : "");
    /* the CUDA kernels index rows, pixels and channels with 32-bit ints */
    if (t->device == DEV_CUDA && t->numel > (size_t)INT_MAX)
        return ldm_error(op, "%s %s has %zu elements; the CUDA kernels take at most 2^31 - 1", what, tshape(t),
                         t->numel);
    return 0;
}

int kcheck(const char *op, const Tensor *t, const char *what) { return check(op, t, what, false); }

int kcheck_any(const char *op, const Tensor *t, const char *what) { return check(op, t, what, true); }

static int check_rank(const char *op, const Tensor *t, int ndim, const char *what, bool bf16_ok) {
    if (check(op, t, what, bf16_ok)) return -1;
    if (t->ndim != ndim) return ldm_error(op, "%s must have %d dims, got %s", what, ndim, tshape(t));
    return 0;
}

int kcheck_rank(const char *op, const Tensor *t, int ndim, const char *what) {
    return check_rank(op, t, ndim, what, false);
}

int kcheck_rank_any(const char *op, const Tensor *t, int ndim, const char *what) {
    return check_rank(op, t, ndim, what, true);
}

int kcheck_device(const char *op, const Tensor *a, const Tensor *b) {
    if (a->device != b->device)
        return ldm_error(op, "tensors on different devices: %s on %s, %s on %s", tshape(a), device_name(a->device),
                         tshape(b), device_name(b->device));
    return 0;
}

static int check_same(const char *op, const Tensor *a, const Tensor *b, const char *what_a, const char *what_b,
                      bool bf16_ok) {
    if (check(op, a, what_a, bf16_ok) || check(op, b, what_b, bf16_ok)) return -1;
    if (!tensor_same_shape(a, b))
        return ldm_error(op, "%s %s and %s %s must have the same shape", what_a, tshape(a), what_b, tshape(b));
    return kcheck_device(op, a, b);
}

int kcheck_same(const char *op, const Tensor *a, const Tensor *b, const char *what_a, const char *what_b) {
    return check_same(op, a, b, what_a, what_b, false);
}

int kcheck_same_any(const char *op, const Tensor *a, const Tensor *b, const char *what_a, const char *what_b) {
    return check_same(op, a, b, what_a, what_b, true);
}

int kcheck_opt_same(const char *op, const Tensor *t, const Tensor *ref, const char *what_t, const char *what_ref) {
    if (!t) return 0;
    return kcheck_same(op, t, ref, what_t, what_ref);
}

int kcheck_opt_same_any(const char *op, const Tensor *t, const Tensor *ref, const char *what_t,
                        const char *what_ref) {
    if (!t) return 0;
    return kcheck_same_any(op, t, ref, what_t, what_ref);
}

int kcheck_f32(const char *op, const Tensor *t, const char *what) {
    if (t && t->dtype != DT_F32) return ldm_error(op, "%s %s must be fp32, got %s", what, tshape(t), dtype_name(t->dtype));
    return 0;
}
