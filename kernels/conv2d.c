/* kernels/conv2d.c — checks and device dispatch for conv2d (math in conv2d.h). */
#include "kernels/conv2d.h"

#include <limits.h>

#include "kernels/elementwise.h"

int conv2d_out_size(int in, int k, int stride, int pad) {
    if (in < 1 || k < 1 || stride < 1 || pad < 0)
        return ldm_error("conv2d", "bad geometry: input %d, kernel %d, stride %d, pad %d", in, k, stride, pad);
    if (in + 2 * pad < k)
        return ldm_error("conv2d", "output size < 1: input %d + 2 * pad %d is smaller than kernel %d", in, pad, k);
    return (in + 2 * pad - k) / stride + 1;
}

/* x, w and the geometry; the output spatial size through P, Q. */
static int check_geometry(const char *op, const Tensor *x, const Tensor *w, int stride, int pad, int *P, int *Q) {
    if (kcheck_rank(op, x, 4, "x") || kcheck_rank(op, w, 4, "weight") || kcheck_device(op, x, w)) return -1;
    int R = w->shape[1], S = w->shape[2];
    if (R != S || (R != 1 && R != 3))
        return ldm_error(op, "weight %s: kernel %dx%d is not supported (R = S in {1, 3})", tshape(w), R, S);
    if (stride != 1 && stride != 2) return ldm_error(op, "stride %d is not supported (1 or 2)", stride);
    if (pad < 0) return ldm_error(op, "pad %d < 0", pad);
    if (w->shape[3] != x->shape[3])
        return ldm_error(op, "weight %s has C = %d but x %s has C = %d", tshape(w), w->shape[3], tshape(x),
                         x->shape[3]);
    if (x->shape[1] + 2 * pad < R || x->shape[2] + 2 * pad < S)
        return ldm_error(op, "output size < 1: x %s, weight %s, stride %d, pad %d", tshape(x), tshape(w), stride, pad);
    *P = (x->shape[1] + 2 * pad - R) / stride + 1;
    *Q = (x->shape[2] + 2 * pad - S) / stride + 1;
    if ((long long)x->shape[0] * *P * *Q > INT_MAX || (long long)x->shape[1] * x->shape[2] * x->shape[0] > INT_MAX)
        return ldm_error(op, "x %s is too large (more than 2^31 pixels)", tshape(x));
    return 0;
}

/* t is (N, P, Q, K) for x (N, H, W, C) and weight (K, R, S, C). */
static int check_out(const char *op, const Tensor *t, const char *what, const Tensor *x, const Tensor *w, int P,
                     int Q) {
    if (kcheck_rank(op, t, 4, what) || kcheck_device(op, x, t)) return -1;
    if (t->shape[0] != x->shape[0] || t->shape[1] != P || t->shape[2] != Q || t->shape[3] != w->shape[0])
        return ldm_error(op, "%s %s should be (%d, %d, %d, %d) for x %s and weight %s", what, tshape(t), x->shape[0],
                         P, Q, w->shape[0], tshape(x), tshape(w));
    return 0;
}

/* Optional bias (or its gradient): (K). */
static int check_bias(const char *op, const Tensor *b, const char *what, const Tensor *w) {
    if (!b) return 0;
    if (kcheck(op, b, what) || kcheck_device(op, w, b)) return -1;
    if (b->ndim != 1 || b->shape[0] != w->shape[0])
        return ldm_error(op, "%s %s should be (%d) for weight %s", what, tshape(b), w->shape[0], tshape(w));
    return 0;
}

int conv2d_forward(const Tensor *x, const Tensor *w, const Tensor *b, int stride, int pad, Tensor *y) {
    return conv2d_forward_res(x, w, b, NULL, stride, pad, y);
}

/* The CPU reference adds res in a second pass: y = (conv(x) + b) + res, in that order. */
static int forward_res_cpu(const Tensor *x, const Tensor *w, const Tensor *b, const Tensor *res, int stride, int pad,
                           Tensor *y) {
    if (conv2d_forward_cpu(x, w, b, stride, pad, y)) return -1;
    return res ? axpy_cpu(y, res, 1.0f) : 0;
}

int conv2d_forward_res(const Tensor *x, const Tensor *w, const Tensor *b, const Tensor *res, int stride, int pad,
                       Tensor *y) {
    int P, Q;
    if (check_geometry("conv2d", x, w, stride, pad, &P, &Q) || check_bias("conv2d", b, "bias", w) ||
        check_out("conv2d", y, "y", x, w, P, Q) || (res && check_out("conv2d", res, "res", x, w, P, Q)))
        return -1;
    if (res && res->data == y->data) return ldm_error("conv2d", "res %s is y: it must be another tensor", tshape(res));
    return KDISPATCH("conv2d", x->device, forward_res_cpu(x, w, b, res, stride, pad, y),
                     conv2d_forward_cuda(x, w, b, res, stride, pad, y));
}

int conv2d_backward(const Tensor *x, const Tensor *w, const Tensor *dy, int stride, int pad, Tensor *dx, Tensor *dw,
                    Tensor *db) {
    const char *op = "conv2d_backward";
    int P, Q;
    if (check_geometry(op, x, w, stride, pad, &P, &Q) || check_out(op, dy, "dy", x, w, P, Q) ||
        kcheck_opt_same(op, dx, x, "dx", "x") || kcheck_opt_same(op, dw, w, "dw", "weight") ||
        check_bias(op, db, "db", w))
        return -1;
    if (!dx && !dw && !db) return 0;
    return KDISPATCH(op, x->device, conv2d_backward_cpu(x, w, dy, stride, pad, dx, dw, db),
                     conv2d_backward_cuda(x, w, dy, stride, pad, dx, dw, db));
}
