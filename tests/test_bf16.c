/* tests/test_bf16.c — bf16 as a storage type: the fp32 -> bf16 rounding (core/bf16.h) against
 * an independent reference, its special cases, bf16 tensors (core/tensor) and the CPU cast
 * op (kernels/cast.h). The GPU cast runs on the emulator in tests/test_tc.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/bf16.h"
#include "core/error.h"
#include "core/tensor.h"
#include "kernels/cast.h"

static float fbits(uint32_t u) { return ldm_bits_f32(u); }
static uint16_t rne(uint32_t u) { return ldm_f32_to_bf16(fbits(u)); }

/* The reference: the two bf16 neighbours of x (truncation and the next one up in magnitude),
 * distances measured exactly in double; the nearer wins, a tie goes to the even one. */
static uint16_t ref_rne(uint32_t u) {
    const double x = (double)fbits(u);
    const uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    if ((u & 0xffffu) == 0) return lo;
    const double dlo = fabs(x - (double)ldm_bf16_to_f32(lo));
    /* hi may be inf (0x7f80 / 0xff80): its "value" for rounding is 2^128 */
    const double vhi = (hi & 0x7fffu) == 0x7f80u ? copysign(ldexp(1.0, 128), x) : (double)ldm_bf16_to_f32(hi);
    const double dhi = fabs(vhi - x);
    if (dlo < dhi) return lo;
    if (dhi < dlo) return hi;
    return (lo & 1u) ? hi : lo;
}

Test(bf16, ties_go_to_even) {
    cr_expect_eq(rne(0x3f808000u), 0x3f80u, "1 + 2^-8 is a tie: stays at even 0x3f80");
    cr_expect_eq(rne(0x3f818000u), 0x3f82u, "tie above an odd mantissa rounds up to even");
    cr_expect_eq(rne(0x3f808001u), 0x3f81u, "just above the tie rounds up");
    cr_expect_eq(rne(0x3f807fffu), 0x3f80u, "just below the tie rounds down");
    cr_expect_eq(rne(0xbf808000u), 0xbf80u, "negative tie to even");
    cr_expect_eq(rne(0xbf818000u), 0xbf82u);
    cr_expect_eq(rne(0x3fffffffu), 0x4000u, "mantissa carry into the exponent");
    cr_expect_eq(ldm_f32_to_bf16(1.0f), 0x3f80u);
    cr_expect_eq(ldm_f32_to_bf16(-2.0f), 0xc000u);
    cr_expect_eq(ldm_f32_to_bf16(0.0f), 0x0000u);
    cr_expect_eq(ldm_f32_to_bf16(-0.0f), 0x8000u);
}

Test(bf16, subnormals_round_like_normals) {
    cr_expect_eq(rne(0x00000001u), 0x0000u, "the smallest fp32 subnormal rounds to +0");
    cr_expect_eq(rne(0x00008000u), 0x0000u, "subnormal tie to even (0)");
    cr_expect_eq(rne(0x00018000u), 0x0002u, "subnormal tie to even (2)");
    cr_expect_eq(rne(0x00008001u), 0x0001u, "the smallest bf16 subnormal");
    cr_expect_eq(rne(0x007fffffu), 0x0080u, "the largest subnormal rounds up to the smallest normal");
    cr_expect_eq(rne(0x80008001u), 0x8001u, "negative subnormal");
    cr_expect_eq(ldm_bf16_to_f32(0x0001u), fbits(0x00010000u), "bf16 subnormals widen exactly");
}

Test(bf16, inf_nan_and_overflow) {
    cr_expect_eq(ldm_f32_to_bf16(INFINITY), 0x7f80u);
    cr_expect_eq(ldm_f32_to_bf16(-INFINITY), 0xff80u);
    cr_expect_eq(rne(0x7f7f7fffu), 0x7f7fu, "below the midpoint: the largest finite bf16");
    cr_expect_eq(rne(0x7f7f8000u), 0x7f80u, "the midpoint to 2^128 is a tie whose even side is inf");
    cr_expect_eq(rne(0x7f7fffffu), 0x7f80u, "FLT_MAX overflows to inf");
    cr_expect_eq(rne(0xff7fffffu), 0xff80u, "-FLT_MAX overflows to -inf");
    /* NaN stays NaN, quiet, sign kept, even when only dropped bits carry the payload */
    const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0x7fffffffu, 0xff800001u, 0xffc00000u, 0x7f80ffffu};
    for (size_t k = 0; k < sizeof nans / sizeof nans[0]; k++) {
        const uint16_t h = rne(nans[k]);
        cr_expect(isnan(ldm_bf16_to_f32(h)), "0x%08x -> 0x%04x is not NaN", nans[k], h);
        cr_expect(h & 0x0040u, "0x%08x -> 0x%04x is not a quiet NaN", nans[k], h);
        cr_expect_eq(h >> 15, nans[k] >> 31, "0x%08x: NaN sign lost", nans[k]);
    }
}

Test(bf16, every_bf16_round_trips) {
    for (uint32_t h = 0; h < 0x10000u; h++) {
        const float f = ldm_bf16_to_f32((uint16_t)h);
        const uint16_t back = ldm_f32_to_bf16(f);
        const int is_nan = (h & 0x7f80u) == 0x7f80u && (h & 0x7fu);
        if (is_nan) cr_assert_eq(back, (uint16_t)(h | 0x40u), "NaN 0x%04x -> 0x%04x", h, back);
        else cr_assert_eq(back, (uint16_t)h, "0x%04x -> %g -> 0x%04x", h, (double)f, back);
    }
}

Test(bf16, matches_the_reference_on_random_and_edge_bits) {
    uint64_t s = 0x9e3779b97f4a7c15ull;
    long bad = 0;
    for (long i = 0; i < 4000000 && bad < 5; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t u = (uint32_t)(s >> 11);
        if (i & 1) u = (u & 0xffff0000u) | (i & 2 ? 0x8000u : (u & 3u) + 0x7fffu); /* near ties */
        if ((u & 0x7f800000u) == 0x7f800000u) continue; /* inf/NaN: tested above */
        if (rne(u) != ref_rne(u)) {
            bad++;
            cr_expect_eq(rne(u), ref_rne(u), "0x%08x (%g): got 0x%04x, want 0x%04x", u, (double)fbits(u), rne(u),
                         ref_rne(u));
        }
    }
    /* relative error of one rounding <= u = 2^-8 for normals */
    for (float x = 1e-30f; x < 1e30f; x *= 1.37f)
        cr_assert_leq(fabs((double)ldm_round_bf16(x) - x), ldexp(fabs((double)x), -8), "%g", (double)x);
}

Test(bf16, tensors_store_two_bytes_and_convert_at_the_host_boundary) {
    Tensor *t = tensor_new_dtype(NULL, DEV_CPU, DT_BF16, 2, (int[]){3, 5});
    cr_assert(t, "%s", ldm_last_error());
    cr_expect_eq(t->dtype, DT_BF16);
    cr_expect_eq(tensor_bytes(t), 30u);
    float in[15], out[15];
    for (int i = 0; i < 15; i++) in[i] = 1.0f + (float)i * 0.001f - 7.3f * (float)(i % 3);
    in[3] = fbits(0x3f808000u); /* a tie */
    cr_assert_eq(tensor_from_host(t, in), 0);
    cr_assert_eq(tensor_to_host(t, out), 0);
    for (int i = 0; i < 15; i++) cr_expect_eq(out[i], ldm_round_bf16(in[i]), "element %d", i);
    cr_expect_eq(((const bf16_t *)t->data)[3], 0x3f80u);
    /* tensor_like keeps the dtype; tensor_copy converts between dtypes */
    Tensor *u = tensor_like(NULL, t);
    cr_expect_eq(u->dtype, DT_BF16);
    Tensor *f = tensor_new2(NULL, DEV_CPU, 3, 5);
    cr_assert_eq(tensor_copy(f, t), 0);
    for (int i = 0; i < 15; i++) cr_expect_eq(f->data[i], out[i]);
    memcpy(f->data, in, sizeof in);
    cr_assert_eq(tensor_copy(u, f), 0);
    cr_expect_eq(memcmp(u->data, t->data, 30), 0, "fp32 -> bf16 copy differs from from_host");
    tensor_free(t);
    tensor_free(u);
    tensor_free(f);
}

Test(bf16, cpu_cast_op) {
    const int n = 1000;
    Tensor *x = tensor_new1(NULL, DEV_CPU, n), *h = tensor_new_dtype(NULL, DEV_CPU, DT_BF16, 1, (int[]){n});
    Tensor *y = tensor_new1(NULL, DEV_CPU, n);
    for (int i = 0; i < n; i++) x->data[i] = sinf((float)i) * powf(10.0f, (float)(i % 60 - 30));
    x->data[0] = NAN, x->data[1] = INFINITY, x->data[2] = fbits(0x7f7fffffu);
    cr_assert_eq(cast_tensor(x, h), 0, "%s", ldm_last_error());
    cr_assert_eq(cast_tensor(h, y), 0, "%s", ldm_last_error());
    for (int i = 0; i < n; i++) {
        cr_expect_eq(((bf16_t *)h->data)[i], ldm_f32_to_bf16(x->data[i]), "element %d", i);
        if (i) cr_expect_eq(y->data[i], ldm_round_bf16(x->data[i]), "element %d", i);
    }
    cr_expect(isnan(y->data[0]));
    Tensor *bad = tensor_new1(NULL, DEV_CPU, n - 1);
    cr_expect_neq(cast_tensor(x, bad), 0, "shape mismatch accepted");
    tensor_free(x), tensor_free(h), tensor_free(y), tensor_free(bad);
}
