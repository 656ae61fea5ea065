/* kernels/cpu/elem.h — element access for CPU kernels that take fp32 or bf16 tensors: the
 * value is loaded as fp32 (a bf16 value widens exactly) and stored rounded to nearest even
 * (core/bf16.h), so a kernel's bf16 result is its fp32 result on the widened inputs, rounded.
 *
 * elem_get / elem_set test the dtype per call: for the simple loops. The vector kernels
 * (vec_math.h) keep their fp32 loops as they are and run the same loop body through
 * ld_elem / vf_ld_elem / st_elem / vf_st_elem with `bf` a constant at an always-inlined
 * call, so each loop is compiled once per element type with no test inside it. */
#ifndef LDM_KERNELS_CPU_ELEM_H
#define LDM_KERNELS_CPU_ELEM_H

#include <stdbool.h>

#include "core/bf16.h"
#include "core/tensor.h"
#include "kernels/cpu/vec_math.h"

#define ELEM_INLINE static inline __attribute__((always_inline))

/* Element i of t (any dtype) as fp32. */
static inline float elem_get(const Tensor *t, size_t i) {
    return t->dtype == DT_BF16 ? ldm_bf16_to_f32(((const bf16_t *)t->data)[i]) : t->data[i];
}

/* Element i of t = v, rounded when t is bf16. */
static inline void elem_set(Tensor *t, size_t i, float v) {
    if (t->dtype == DT_BF16)
        ((bf16_t *)t->data)[i] = ldm_f32_to_bf16(v);
    else
        t->data[i] = v;
}

/* Element i of p (bf16 when bf, else fp32) as fp32; store v there (rounded when bf). */
ELEM_INLINE float ld_elem(const void *p, size_t i, bool bf) {
    return bf ? ldm_bf16_to_f32(((const bf16_t *)p)[i]) : ((const float *)p)[i];
}
ELEM_INLINE void st_elem(void *p, size_t i, float v, bool bf) {
    if (bf)
        ((bf16_t *)p)[i] = ldm_f32_to_bf16(v);
    else
        ((float *)p)[i] = v;
}

/* VW elements from p + i as a vector; VW elements stored at p + i. */
ELEM_INLINE vf vf_ld_elem(const void *p, size_t i, bool bf) {
    if (!bf) return vf_load((const float *)p + i);
    float l[VW];
    for (int k = 0; k < VW; k++) l[k] = ldm_bf16_to_f32(((const bf16_t *)p)[i + k]);
    return vf_load(l);
}
ELEM_INLINE void vf_st_elem(void *p, size_t i, vf v, bool bf) {
    if (!bf) {
        vf_store((float *)p + i, v);
        return;
    }
    float l[VW];
    vf_store(l, v);
    for (int k = 0; k < VW; k++) ((bf16_t *)p)[i + k] = ldm_f32_to_bf16(l[k]);
}

#endif
