/* core/bf16.h — bfloat16 (bf16): the upper 16 bits of an IEEE fp32 (1 sign, 8 exponent,
 * 7 mantissa bits). Same range as fp32, 8 significant bits: one rounding of a normal value
 * costs at most the unit roundoff u = 2^-8 relative (half an ulp; the ulp at 1.0 is 2^-7).
 *
 * fp32 -> bf16 rounds to nearest, ties to even (RNE), as the tensor cores' cvt.rn.bf16.f32
 * does: add 0x7fff plus the lowest kept bit, then truncate. Overflow goes to +-inf exactly as
 * RNE gives it (values from 0x1.fefp127 up round to inf); subnormals round like any other
 * value (the bit pattern is continuous); NaN stays NaN and is made quiet (bit 6 of the bf16
 * mantissa set) so a payload in the dropped bits can never turn it into inf.
 * bf16 -> fp32 is exact (a shift).
 *
 * Usable from C, C++ and CUDA (host and device): LDM_HD marks the functions for nvcc. */
#ifndef LDM_CORE_BF16_H
#define LDM_CORE_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define LDM_HD __host__ __device__ __forceinline__
#else
#define LDM_HD static inline
#endif

typedef uint16_t bf16_t; /* raw bits; the tensor dtype DT_BF16 stores these */

LDM_HD uint32_t ldm_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

LDM_HD float ldm_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* fp32 -> bf16, round to nearest even; NaN -> quiet NaN of the same sign. */
LDM_HD bf16_t ldm_f32_to_bf16(float f) {
    uint32_t u = ldm_f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t)((u >> 16) | 0x0040u); /* NaN */
    u += 0x7fffu + ((u >> 16) & 1u); /* carries into the exponent, up to inf, as RNE says */
    return (bf16_t)(u >> 16);
}

LDM_HD float ldm_bf16_to_f32(bf16_t h) { return ldm_bits_f32((uint32_t)h << 16); }

/* f rounded to bf16 and back: what a bf16 store then load gives. */
LDM_HD float ldm_round_bf16(float f) { return ldm_bf16_to_f32(ldm_f32_to_bf16(f)); }

/* Host array conversions (n elements; may not overlap). */
static inline void ldm_f32_to_bf16_n(const float *src, bf16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ldm_f32_to_bf16(src[i]);
}
static inline void ldm_bf16_to_f32_n(const bf16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ldm_bf16_to_f32(src[i]);
}

#endif
