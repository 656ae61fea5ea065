/* kernels/cross_entropy.c — checks and device dispatch for the softmax cross-entropy
 * (math in cross_entropy.h). */
#include "kernels/cross_entropy.h"

static int check(const char *op, const Tensor *z, const Tensor *labels, const Tensor *y, const char *what_y) {
    if (kcheck_rank(op, z, 2, "logits") || kcheck_rank(op, labels, 1, "labels") || kcheck(op, y, what_y) ||
        kcheck_device(op, z, labels) || kcheck_device(op, z, y))
        return -1;
    if (labels->shape[0] != z->shape[0])
        return ldm_error(op, "labels %s do not match logits %s", tshape(labels), tshape(z));
    if (y->numel != 1) return ldm_error(op, "%s %s must have one element", what_y, tshape(y));
    return 0;
}

int cross_entropy_forward(const Tensor *z, const Tensor *labels, Tensor *y) {
    const char *op = "cross_entropy";
    if (check(op, z, labels, y, "y")) return -1;
    return KDISPATCH(op, z->device, cross_entropy_forward_cpu(z, labels, y), cross_entropy_forward_cuda(z, labels, y));
}

int cross_entropy_backward(const Tensor *z, const Tensor *labels, const Tensor *dy, Tensor *dz) {
    const char *op = "cross_entropy_backward";
    if (check(op, z, labels, dy, "dy") || kcheck_same(op, dz, z, "dz", "logits")) return -1;
    return KDISPATCH(op, z->device, cross_entropy_backward_cpu(z, labels, dy, dz),
                     cross_entropy_backward_cuda(z, labels, dy, dz));
}
