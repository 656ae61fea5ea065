/* kernels/adamw.h — one fused AdamW update (decoupled weight decay, Loshchilov & Hutter).
 *   step t >= 1 (1-based), g = grad * grad_scale (grad_scale carries gradient clipping)
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   mhat = m / (1 - b1^t);  vhat = v / (1 - b2^t)
 *   p = p - lr * (mhat / (sqrt(vhat) + eps) + wd * p)
 * param, m, v same shape; the gradient is param->grad. 5 reads + 3 writes of 4 bytes,
 * about 14 FLOP per element. */
#ifndef LDM_KERNELS_ADAMW_H
#define LDM_KERNELS_ADAMW_H

#include "kernels/kernel_common.h"

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} AdamWConfig;

int adamw_step(Tensor *param, Tensor *m, Tensor *v, const AdamWConfig *cfg, int step, float grad_scale);

int adamw_step_cpu(Tensor *param, Tensor *m, Tensor *v, const AdamWConfig *cfg, int step, float grad_scale);
#ifdef LDM_CUDA
int adamw_step_cuda(Tensor *param, Tensor *m, Tensor *v, const AdamWConfig *cfg, int step, float grad_scale);
#endif

#endif
