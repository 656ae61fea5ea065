/* kernels/silu.c — checks and device dispatch for SiLU (math in silu.h). */
#include "kernels/silu.h"

int silu_forward(const Tensor *x, Tensor *y) {
    if (kcheck_same_any("silu", x, y, "x", "y")) return -1;
    if (x->dtype != y->dtype)
        return ldm_error("silu", "x %s is %s but y is %s", tshape(x), dtype_name(x->dtype), dtype_name(y->dtype));
    return KDISPATCH("silu", x->device, silu_forward_cpu(x, y), silu_forward_cuda(x, y));
}

int silu_backward(const Tensor *x, const Tensor *dy, Tensor *dx) {
    if (kcheck_same_any("silu_backward", x, dy, "x", "dy") || kcheck_same_any("silu_backward", x, dx, "x", "dx") ||
        kcheck_f32("silu_backward", dy, "dy") || kcheck_f32("silu_backward", dx, "dx"))
        return -1;
    return KDISPATCH("silu_backward", x->device, silu_backward_cpu(x, dy, dx), silu_backward_cuda(x, dy, dx));
}
