/* kernels/reduce.c — checks and device dispatch for reductions and losses (math in reduce.h). */
#include "kernels/reduce.h"

#include "kernels/elementwise.h"

/* y is a one-element tensor on x's device. */
static int check_scalar(const char *op, const Tensor *x, const Tensor *y, const char *wy) {
    if (kcheck(op, y, wy) || kcheck_device(op, x, y)) return -1;
    if (y->numel != 1) return ldm_error(op, "%s %s must have one element (input %s)", wy, tshape(y), tshape(x));
    return 0;
}

int sum_forward(const Tensor *x, Tensor *y) {
    if (kcheck("sum", x, "x") || check_scalar("sum", x, y, "y")) return -1;
    return KDISPATCH("sum", x->device, sum_forward_cpu(x, y), sum_forward_cuda(x, y));
}

int mean_forward(const Tensor *x, Tensor *y) {
    if (kcheck("mean", x, "x") || check_scalar("mean", x, y, "y")) return -1;
    if (sum_forward(x, y)) return -1;
    return scale_forward(y, (float)(1.0 / (double)x->numel), y);
}

int broadcast_scalar_backward(const Tensor *dy, float k, Tensor *dx) {
    const char *op = "broadcast_scalar_backward";
    if (kcheck(op, dx, "dx") || check_scalar(op, dx, dy, "dy")) return -1;
    return KDISPATCH(op, dx->device, broadcast_scalar_backward_cpu(dy, k, dx),
                     broadcast_scalar_backward_cuda(dy, k, dx));
}

int mse_forward(const Tensor *a, const Tensor *b, Tensor *y) {
    if (kcheck_same("mse", a, b, "a", "b") || check_scalar("mse", a, y, "y")) return -1;
    return KDISPATCH("mse", a->device, mse_forward_cpu(a, b, y), mse_forward_cuda(a, b, y));
}

/* Shared by the backward of mse and l1: a, b same shape, dy scalar, da / db optional. */
static int check_pair_backward(const char *op, const Tensor *a, const Tensor *b, const Tensor *dy, const Tensor *da,
                               const Tensor *db) {
    if (kcheck_same(op, a, b, "a", "b") || check_scalar(op, a, dy, "dy") || kcheck_opt_same(op, da, a, "da", "a") ||
        kcheck_opt_same(op, db, a, "db", "a"))
        return -1;
    return 0;
}

int mse_backward(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    if (check_pair_backward("mse_backward", a, b, dy, da, db)) return -1;
    return KDISPATCH("mse_backward", a->device, mse_backward_cpu(a, b, dy, da, db),
                     mse_backward_cuda(a, b, dy, da, db));
}

int l1_forward(const Tensor *a, const Tensor *b, Tensor *y) {
    if (kcheck_same("l1", a, b, "a", "b") || check_scalar("l1", a, y, "y")) return -1;
    return KDISPATCH("l1", a->device, l1_forward_cpu(a, b, y), l1_forward_cuda(a, b, y));
}

int l1_backward(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    if (check_pair_backward("l1_backward", a, b, dy, da, db)) return -1;
    return KDISPATCH("l1_backward", a->device, l1_backward_cpu(a, b, dy, da, db), l1_backward_cuda(a, b, dy, da, db));
}

int sumsq(const Tensor *x, double *out) {
    if (kcheck("sumsq", x, "x")) return -1;
    if (!out) return ldm_error("sumsq", "out is missing (NULL) for x %s", tshape(x));
    return KDISPATCH("sumsq", x->device, sumsq_cpu(x, out), sumsq_cuda(x, out));
}
