/* kernels/cpu/adamw.c — one AdamW step on the CPU (math in kernels/adamw.h).
 * The bias corrections 1 - beta^t are computed once in double; the per-element update is
 * fp32: ~14 FLOP + a sqrt, 5 reads + 3 writes of 4 bytes. Memory-bound; OpenMP over
 * elements, and vectorised: the Makefile builds this file with -fno-math-errno, without which
 * sqrtf may set errno and GCC keeps the loop scalar (one element per ~15 cycles, slower
 * than memory). vsqrtps and vdivps round as sqrtf and / do, so the bits are unchanged. */
#include <math.h>

#include "kernels/cpu/cpu_util.h"
#include "kernels/adamw.h"

int adamw_step_cpu(Tensor *param, Tensor *m, Tensor *v, const AdamWConfig *cfg, int step, float grad_scale) {
    const float b1 = cfg->beta1, b2 = cfg->beta2, eps = cfg->eps, lr = cfg->lr, wd = cfg->weight_decay;
    const float ib1 = (float)(1.0 / (1.0 - pow(b1, step))), ib2 = (float)(1.0 / (1.0 - pow(b2, step)));
    float *p = param->data, *mp = m->data, *vp = v->data;
    const float *gp = param->grad;
    long n = (long)param->numel;
#pragma omp parallel for simd schedule(static) if (parallel: cpu_par(28.0 * n))
    for (long i = 0; i < n; i++) {
        float g = gp[i] * grad_scale;
        float mi = b1 * mp[i] + (1.0f - b1) * g;
        float vi = b2 * vp[i] + (1.0f - b2) * g * g;
        mp[i] = mi;
        vp[i] = vi;
        p[i] -= lr * (mi * ib1 / (sqrtf(vi * ib2) + eps) + wd * p[i]);
    }
    return 0;
}
