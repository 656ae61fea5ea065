/* kernels/cuda/adamw.cu — one fused AdamW update (math in kernels/adamw.h):
 *   g = grad * grad_scale;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr (m / (1-b1^t) / (sqrt(v / (1-b2^t)) + eps) + wd p)
 * Per parameter ~14 FLOP + sqrt and two divisions; 16 bytes read (p, grad, m, v) and 12
 * written (p, m, v): memory-bound.
 * Decomposition: ew_launch (common.cuh), one thread per four parameters (16-byte
 * accesses) per iteration of a grid-stride loop, scalar tail. Bias corrections are
 * computed once on the host, in double. */
#include <math.h>

extern "C" {
#include "core/cuda_check.h"
#include "kernels/adamw.h"
}
#include "kernels/cuda/common.cuh"

struct AdamWOp {
    float *p, *m, *v;
    const float *g;
    float lr, b1, b2, eps, wd, bc1, bc2, gs;
    template <int V>
    __device__ void run(long i) const {
        float pv[V], gv[V], mv[V], vv[V];
        ldv<V>(p + i, pv);
        ldv<V>(g + i, gv);
        ldv<V>(m + i, mv);
        ldv<V>(v + i, vv);
        for (int j = 0; j < V; j++) {
            const float gr = gv[j] * gs;
            mv[j] = b1 * mv[j] + (1.0f - b1) * gr;
            vv[j] = b2 * vv[j] + (1.0f - b2) * gr * gr;
            const float mh = mv[j] / bc1, vh = vv[j] / bc2;
            pv[j] -= lr * (mh / (sqrtf(vh) + eps) + wd * pv[j]);
        }
        stv<V>(p + i, pv);
        stv<V>(m + i, mv);
        stv<V>(v + i, vv);
    }
};

extern "C" int adamw_step_cuda(Tensor *param, Tensor *m, Tensor *v, const AdamWConfig *cfg, int step,
                               float grad_scale) {
    const float bc1 = (float)(1.0 - pow((double)cfg->beta1, step));
    const float bc2 = (float)(1.0 - pow((double)cfg->beta2, step));
    AdamWOp op{param->data, m->data,     v->data,          param->grad,
               cfg->lr,     cfg->beta1,  cfg->beta2,       cfg->eps,
               cfg->weight_decay, bc1,   bc2,              grad_scale};
    const bool vec = aligned16(param->data) && aligned16(param->grad) && aligned16(m->data) && aligned16(v->data);
    return ew_launch("adamw_step", op, (long)param->numel, vec);
}
