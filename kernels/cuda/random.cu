/* kernels/cuda/random.cu — fill a tensor from the Philox4x32-10 stream (core/philox.h),
 * bit-identical to the CPU: element i gets draw offset + i of stream `seed`.
 *   uniform: one Philox block (10 rounds, ~60 integer ops) gives 4 draws;
 *   normal: Box-Muller on lane pairs, log + sqrt + sincos from philox.h (~60 FLOP a pair).
 *   4 bytes written per element: bound by the integer work, not memory.
 * Decomposition: one thread per Philox block of four draws, grid-stride; it writes the
 * lanes of its block that fall inside [offset, offset + n), so the blocks at either end
 * may be partial. Normals compute r and sincos once per lane pair, by exactly the
 * operations of philox_normal().
 * Built with --fmad=false (Makefile): nvcc must not contract a*b+c into an FMA that the
 * CPU build (-ffp-contract=off) does not make. */
extern "C" {
#include "core/cuda_check.h"
#include "core/philox.h"
#include "kernels/random.h"
}
#include "kernels/cuda/common.cuh"

// ---------------------------------------------------------------------------------
// kernels

__global__ void __launch_bounds__(EW_THREADS)
    rng_uniform_kernel(float *__restrict__ y, uint64_t n, uint64_t seed, uint64_t offset) {
    const uint64_t first = offset >> 2, nblk = ((offset + n - 1) >> 2) - first + 1;
    for (uint64_t j = blockIdx.x * (uint64_t)EW_THREADS + threadIdx.x; j < nblk;
         j += (uint64_t)gridDim.x * EW_THREADS) {
        const uint64_t blk = first + j;
        const Philox4 b = philox_block(seed, blk, 0);
#pragma unroll
        for (int l = 0; l < 4; l++) {
            const uint64_t d = blk * 4 + l;
            if (d >= offset && d - offset < n) y[d - offset] = philox_u01(b.v[l]);
        }
    }
}

__global__ void __launch_bounds__(EW_THREADS)
    rng_normal_kernel(float *__restrict__ y, uint64_t n, uint64_t seed, uint64_t offset) {
    const uint64_t first = offset >> 2, nblk = ((offset + n - 1) >> 2) - first + 1;
    for (uint64_t j = blockIdx.x * (uint64_t)EW_THREADS + threadIdx.x; j < nblk;
         j += (uint64_t)gridDim.x * EW_THREADS) {
        const uint64_t blk = first + j;
        const Philox4 b = philox_block(seed, blk, 1);
#pragma unroll
        for (int pair = 0; pair < 4; pair += 2) {
            const uint64_t d0 = blk * 4 + pair, d1 = d0 + 1;
            const bool w0 = d0 >= offset && d0 - offset < n, w1 = d1 >= offset && d1 - offset < n;
            if (!w0 && !w1) continue;
            const float u1 = philox_u01_open0(b.v[pair]);
            const float u2 = philox_u01(b.v[pair + 1]);
            const float r = sqrtf(-2.0f * philox_logf(u1));
            float s, c;
            philox_sincos2pi(u2, &s, &c);
            if (w0) y[d0 - offset] = r * c;
            if (w1) y[d1 - offset] = r * s;
        }
    }
}

// ---------------------------------------------------------------------------------
// launchers

static int rng_grid(uint64_t n, uint64_t offset) {
    const uint64_t nblk = ((offset + n - 1) >> 2) - (offset >> 2) + 1;
    return ew_grid((long)(nblk < (1ull << 40) ? nblk : (1ull << 40)));
}

extern "C" int rng_uniform_cuda(Tensor *y, uint64_t seed, uint64_t offset) {
    const uint64_t n = y->numel;
    if (n == 0) return 0;
    LDM_LAUNCH(rng_uniform_kernel, rng_grid(n, offset), EW_THREADS)(y->data, n, seed, offset);
    CUDA_LAUNCH_CHECK("rng_uniform");
    return 0;
}

extern "C" int rng_normal_cuda(Tensor *y, uint64_t seed, uint64_t offset) {
    const uint64_t n = y->numel;
    if (n == 0) return 0;
    LDM_LAUNCH(rng_normal_kernel, rng_grid(n, offset), EW_THREADS)(y->data, n, seed, offset);
    CUDA_LAUNCH_CHECK("rng_normal");
    return 0;
}
