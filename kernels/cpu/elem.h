/* kernels/cpu/elem.h — element access for CPU kernels that take fp32 or bf16 tensors: the
 * value is loaded as fp32 (a bf16 value widens exactly) and stored rounded to nearest even
 * (core/bf16.h). The dtype test is loop-invariant, so the compiler hoists it out of a loop. */
#ifndef LDM_KERNELS_CPU_ELEM_H
#define LDM_KERNELS_CPU_ELEM_H

#include "core/bf16.h"
#include "core/tensor.h"

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

#endif
