/* kernels/cast.c — checks and device dispatch for the dtype conversion (cast.h). */
#include "kernels/cast.h"

#include <string.h>

int cast_tensor(const Tensor *src, Tensor *dst) {
    if (!src || !dst) return ldm_error("cast", "missing tensor (NULL)");
    if (!tensor_same_shape(src, dst))
        return ldm_error("cast", "src %s and dst %s differ in shape", tshape(src), tshape(dst));
    if (kcheck_device("cast", src, dst)) return -1;
    if (src->dtype == dst->dtype)
        return dev_memcpy(dst->data, dst->device, src->data, src->device, tensor_bytes(src));
    return KDISPATCH("cast", src->device, cast_tensor_cpu(src, dst), cast_tensor_cuda(src, dst));
}
