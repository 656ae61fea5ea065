/* kernels/cpu/random.c — Philox4x32-10 fills on the CPU (the stream is defined in
 * core/philox.h; this file only walks it).
 *
 *   y[i] = draw (offset + i) of stream `seed`:
 *     uniform  u = (x >> 8) 2^-24
 *     normal   Box-Muller on lane pairs (0,1), (2,3) of the block at counter (d / 4, 1)
 *
 * Work goes by Philox block (4 draws): one block = 10 rounds of 2 32x32->64 multiplies,
 * ~60 integer ops, plus per normal pair one log, one sqrt, one sincos (~60 FLOP).
 * Bytes: 4 written per element, nothing read. OpenMP over blocks; a block is computed
 * once and its lanes that fall inside [offset, offset + n) are stored, so the result
 * does not depend on the thread count.
 *
 * Built with -ffp-contract=off (see the Makefile): the normals must round exactly as
 * the CUDA file's do.
 */
#include "core/philox.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/random.h"

/* Blocks first .. last hold draws offset .. offset + n - 1 (n >= 1). */
typedef struct {
    uint64_t first;
    long nblocks;
} BlockRange;

static BlockRange block_range(uint64_t offset, size_t n) {
    BlockRange r;
    r.first = offset >> 2;
    r.nblocks = (long)(((offset + n - 1) >> 2) - r.first + 1);
    return r;
}

int rng_uniform_cpu(Tensor *y, uint64_t seed, uint64_t offset) {
    float *yp = y->data; /* (numel) */
    size_t n = y->numel;
    BlockRange r = block_range(offset, n);
#pragma omp parallel for schedule(static) if (cpu_par(16.0 * n))
    for (long b = 0; b < r.nblocks; b++) {
        uint64_t blk = r.first + (uint64_t)b;
        Philox4 x = philox_block(seed, blk, 0);
        for (unsigned lane = 0; lane < 4; lane++) {
            uint64_t d = blk * 4 + lane;
            if (d < offset || d - offset >= n) continue;
            yp[d - offset] = philox_u01(x.v[lane]);
        }
    }
    return 0;
}

int rng_normal_cpu(Tensor *y, uint64_t seed, uint64_t offset) {
    float *yp = y->data; /* (numel) */
    size_t n = y->numel;
    BlockRange r = block_range(offset, n);
#pragma omp parallel for schedule(static) if (cpu_par(40.0 * n))
    for (long b = 0; b < r.nblocks; b++) {
        uint64_t blk = r.first + (uint64_t)b;
        Philox4 x = philox_block(seed, blk, 1);
        float z[4];
        for (unsigned pair = 0; pair < 4; pair += 2) {
            float u1 = philox_u01_open0(x.v[pair]);
            float u2 = philox_u01(x.v[pair + 1]);
            float rad = sqrtf(-2.0f * philox_logf(u1));
            float s, c;
            philox_sincos2pi(u2, &s, &c);
            z[pair] = rad * c;
            z[pair + 1] = rad * s;
        }
        for (unsigned lane = 0; lane < 4; lane++) {
            uint64_t d = blk * 4 + lane;
            if (d < offset || d - offset >= n) continue;
            yp[d - offset] = z[lane];
        }
    }
    return 0;
}
