/* kernels/cpu/cast.c — fp32 <-> bf16 on the CPU (core/bf16.h), OpenMP over elements. */
#include "core/bf16.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/cast.h"

int cast_tensor_cpu(const Tensor *src, Tensor *dst) {
    const long n = (long)src->numel;
    if (src->dtype == DT_F32) {
        const float *s = src->data;
        bf16_t *d = (bf16_t *)dst->data;
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * n))
        for (long i = 0; i < n; i++) d[i] = ldm_f32_to_bf16(s[i]);
    } else {
        const bf16_t *s = (const bf16_t *)src->data;
        float *d = dst->data;
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * n))
        for (long i = 0; i < n; i++) d[i] = ldm_bf16_to_f32(s[i]);
    }
    return 0;
}
