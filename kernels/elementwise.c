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
