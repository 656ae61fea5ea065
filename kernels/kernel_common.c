/* kernels/kernel_common.c — shared argument checks (see kernel_common.h). */
#include "kernels/kernel_common.h"

#include <limits.h>

int kcheck(const char *op, const Tensor *t, const char *what) {
    if (!t) return ldm_error(op, "%s is missing (NULL)", what);
    if (!t->data) return ldm_error(op, "%s %s has no storage", what, tshape(t));
    if (t->dtype != DT_F32) return ldm_error(op, "%s %s is not fp32 (only fp32 is implemented)", what, tshape(t));
    /* the CUDA kernels index rows, pixels and channels with 32-bit ints */
    if (t->device == DEV_CUDA && t->numel > (size_t)INT_MAX)
        return ldm_error(op, "%s %s has %zu elements; the CUDA kernels take at most 2^31 - 1", what, tshape(t),
                         t->numel);
    return 0;
}

int kcheck_rank(const char *op, const Tensor *t, int ndim, const char *what) {
    if (kcheck(op, t, what)) return -1;
    if (t->ndim != ndim) return ldm_error(op, "%s must have %d dims, got %s", what, ndim, tshape(t));
    return 0;
}

int kcheck_device(const char *op, const Tensor *a, const Tensor *b) {
    if (a->device != b->device)
        return ldm_error(op, "tensors on different devices: %s on %s, %s on %s", tshape(a), device_name(a->device),
                         tshape(b), device_name(b->device));
    return 0;
}

int kcheck_same(const char *op, const Tensor *a, const Tensor *b, const char *what_a, const char *what_b) {
    if (kcheck(op, a, what_a) || kcheck(op, b, what_b)) return -1;
    if (!tensor_same_shape(a, b))
        return ldm_error(op, "%s %s and %s %s must have the same shape", what_a, tshape(a), what_b, tshape(b));
    return kcheck_device(op, a, b);
}

int kcheck_opt_same(const char *op, const Tensor *t, const Tensor *ref, const char *what_t, const char *what_ref) {
    if (!t) return 0;
    return kcheck_same(op, t, ref, what_t, what_ref);
}
