/* kernels/linear.c — checks and device dispatch for linear (math in linear.h). */
#include "kernels/linear.h"

#include <limits.h>

/* x (..., IN) with rank 1..4 and weight (OUT, IN). */
static int check_xw(const char *op, const Tensor *x, const Tensor *w) {
    if (kcheck(op, x, "x") || kcheck_rank(op, w, 2, "weight") || kcheck_device(op, x, w)) return -1;
    if (x->shape[x->ndim - 1] != w->shape[1])
        return ldm_error(op, "x %s has %d features but weight %s expects IN = %d", tshape(x), x->shape[x->ndim - 1],
                         tshape(w), w->shape[1]);
    if (tensor_rows(x) > INT_MAX) return ldm_error(op, "x %s has more than 2^31 rows", tshape(x));
    return 0;
}

/* t is x's shape with the last dim OUT. */
static int check_out(const char *op, const Tensor *t, const char *what, const Tensor *x, const Tensor *w) {
    if (kcheck(op, t, what) || kcheck_device(op, x, t)) return -1;
    int ok = t->ndim == x->ndim && t->shape[t->ndim - 1] == w->shape[0];
    for (int i = 0; ok && i < x->ndim - 1; i++) ok = t->shape[i] == x->shape[i];
    if (!ok)
        return ldm_error(op, "%s %s should be x %s with the last dim %d (weight %s)", what, tshape(t), tshape(x),
                         w->shape[0], tshape(w));
    return 0;
}

/* Optional bias (or its gradient): (OUT). */
static int check_bias(const char *op, const Tensor *b, const char *what, const Tensor *w) {
    if (!b) return 0;
    if (kcheck(op, b, what) || kcheck_device(op, w, b)) return -1;
    if (b->ndim != 1 || b->shape[0] != w->shape[0])
        return ldm_error(op, "%s %s should be (%d) for weight %s", what, tshape(b), w->shape[0], tshape(w));
    return 0;
}

int linear_forward(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y) {
    if (check_xw("linear", x, w) || check_bias("linear", b, "bias", w) || check_out("linear", y, "y", x, w)) return -1;
    return KDISPATCH("linear", x->device, linear_forward_cpu(x, w, b, y), linear_forward_cuda(x, w, b, y));
}

int linear_backward(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw, Tensor *db) {
    const char *op = "linear_backward";
    if (check_xw(op, x, w) || check_out(op, dy, "dy", x, w) || kcheck_opt_same(op, dx, x, "dx", "x") ||
        kcheck_opt_same(op, dw, w, "dw", "weight") || check_bias(op, db, "db", w))
        return -1;
    if (!dx && !dw && !db) return 0;
    return KDISPATCH(op, x->device, linear_backward_cpu(x, w, dy, dx, dw, db),
                     linear_backward_cuda(x, w, dy, dx, dw, db));
}
