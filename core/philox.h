/* core/philox.h — Philox4x32-10 counter-based RNG (Salmon et al., SC'11), shared by
 * the CPU and CUDA backends so both produce bit-identical streams.
 *
 * A stream is named by a 64-bit seed (the Philox key). Draw number i of a stream is
 * lane i % 4 of the 4x32-bit block at counter (i / 4, tag), tag 0 for uniforms and 1
 * for normals. Any thread can compute any draw: no state, no sequence.
 *
 *   uniform:  u = (x >> 8) * 2^-24                      in [0, 1), 24 bits
 *   normal:   Box-Muller on the block's lane pairs (0,1) and (2,3):
 *             u1 = ((x_a >> 8) + 1) * 2^-24 in (0, 1],  u2 = (x_b >> 8) * 2^-24
 *             r = sqrt(-2 ln u1);  lane a gets r cos(2 pi u2), lane b gets r sin(2 pi u2)
 *
 * ln, sin and cos are computed here with explicit fmaf, IEEE division and sqrt (all
 * correctly rounded on both sides) instead of libm / CUDA intrinsics, whose last bits
 * differ. Files that include this must not let the compiler contract a*b+c on their
 * own: the CPU file is built with -ffp-contract=off and the CUDA file with --fmad=false.
 * Accuracy of the helpers: ~2 ulp, far below what a normal draw needs.
 */
#ifndef LDM_CORE_PHILOX_H
#define LDM_CORE_PHILOX_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define LDM_HD __host__ __device__ __forceinline__
#else
#define LDM_HD static inline
#endif

typedef struct {
    uint32_t v[4];
} Philox4;

LDM_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

/* The raw generator: 10 rounds on counter c with key k. */
LDM_HD Philox4 philox4x32_10(Philox4 c, uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = philox_mulhilo(0xD2511F53u, c.v[0], &hi0);
        uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, c.v[2], &hi1);
        Philox4 n;
        n.v[0] = hi1 ^ c.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ c.v[3] ^ k1;
        n.v[3] = lo0;
        c = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

/* The block holding draw i of stream `seed` with the given tag (0 uniform, 1 normal). */
LDM_HD Philox4 philox_block(uint64_t seed, uint64_t block, uint32_t tag) {
    Philox4 c;
    c.v[0] = (uint32_t)block;
    c.v[1] = (uint32_t)(block >> 32);
    c.v[2] = tag;
    c.v[3] = 0;
    return philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

LDM_HD float philox_u01(uint32_t x) { return (float)(x >> 8) * 5.9604644775390625e-8f; }        /* [0,1) */
LDM_HD float philox_u01_open0(uint32_t x) { return (float)((x >> 8) + 1) * 5.9604644775390625e-8f; } /* (0,1] */

/* ln(x) for x in (0, 1]: x = m 2^e with m in [sqrt(1/2), sqrt(2)), ln x = e ln2 + ln m,
 * ln m = 2 atanh(t), t = (m-1)/(m+1), |t| < 0.172, odd series to t^11. */
LDM_HD float philox_logf(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    int e = (int)((bits >> 23) & 0xFF) - 127;
    uint32_t mb = (bits & 0x007FFFFFu) | 0x3F800000u; /* m in [1, 2) */
    float m;
    memcpy(&m, &mb, 4);
    if (m > 1.41421356f) {
        m = m * 0.5f; /* exact */
        e += 1;
    }
    float t = (m - 1.0f) / (m + 1.0f);
    float t2 = t * t;
    float p = fmaf(t2, 0.09090909f, 0.11111111f);
    p = fmaf(t2, p, 0.14285715f);
    p = fmaf(t2, p, 0.2f);
    p = fmaf(t2, p, 0.33333334f);
    p = fmaf(t2, p, 1.0f);
    float lnm = 2.0f * (t * p);
    return fmaf((float)e, 0.69314718f, lnm);
}

/* sin and cos of 2 pi u for u in [0, 1): quadrant from 4u (exact), then Taylor
 * polynomials on a = f * pi/2, f in [0, 1). */
LDM_HD void philox_sincos2pi(float u, float *s, float *c) {
    float q4 = u * 4.0f;
    float qf = floorf(q4);
    int q = (int)qf & 3;
    float a = (q4 - qf) * 1.57079637f;
    float a2 = a * a;
    float sp = fmaf(a2, -2.5052108e-8f, 2.7557319e-6f);
    sp = fmaf(a2, sp, -1.9841270e-4f);
    sp = fmaf(a2, sp, 8.3333333e-3f);
    sp = fmaf(a2, sp, -1.6666667e-1f);
    sp = fmaf(a2, sp, 1.0f);
    float sa = a * sp;
    float cp = fmaf(a2, 2.0876757e-9f, -2.7557319e-7f);
    cp = fmaf(a2, cp, 2.4801587e-5f);
    cp = fmaf(a2, cp, -1.3888889e-3f);
    cp = fmaf(a2, cp, 4.1666667e-2f);
    cp = fmaf(a2, cp, -0.5f);
    float ca = fmaf(a2, cp, 1.0f);
    switch (q) {
    case 0: *s = sa; *c = ca; break;
    case 1: *s = ca; *c = -sa; break;
    case 2: *s = -sa; *c = -ca; break;
    default: *s = -ca; *c = sa; break;
    }
}

/* Draw i of the uniform stream. */
LDM_HD float philox_uniform(uint64_t seed, uint64_t i) {
    Philox4 b = philox_block(seed, i >> 2, 0);
    return philox_u01(b.v[i & 3]);
}

/* Draw i of the normal stream. */
LDM_HD float philox_normal(uint64_t seed, uint64_t i) {
    Philox4 b = philox_block(seed, i >> 2, 1);
    unsigned pair = (unsigned)(i & 2);
    float u1 = philox_u01_open0(b.v[pair]);
    float u2 = philox_u01(b.v[pair + 1]);
    float r = sqrtf(-2.0f * philox_logf(u1));
    float s, c;
    philox_sincos2pi(u2, &s, &c);
    return (i & 1) ? r * s : r * c;
}

#endif
