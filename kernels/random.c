/* kernels/random.c — checks and device dispatch for the Philox fills (math in random.h
 * and core/philox.h). */
#include "kernels/random.h"

/* The fill reads draws offset .. offset + numel - 1: that range must not wrap. */
static int check_fill(const char *op, const Tensor *y, uint64_t offset) {
    if (kcheck(op, y, "y")) return -1;
    if (offset > UINT64_MAX - (uint64_t)y->numel)
        return ldm_error(op, "offset %llu + %zu elements of %s runs past the end of the stream",
                         (unsigned long long)offset, y->numel, tshape(y));
    return 0;
}

int rng_uniform(Tensor *y, uint64_t seed, uint64_t offset) {
    if (check_fill("rng_uniform", y, offset)) return -1;
    return KDISPATCH("rng_uniform", y->device, rng_uniform_cpu(y, seed, offset), rng_uniform_cuda(y, seed, offset));
}

int rng_normal(Tensor *y, uint64_t seed, uint64_t offset) {
    if (check_fill("rng_normal", y, offset)) return -1;
    return KDISPATCH("rng_normal", y->device, rng_normal_cpu(y, seed, offset), rng_normal_cuda(y, seed, offset));
}
