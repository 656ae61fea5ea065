/* kernels/adamw.c — checks and device dispatch for the fused AdamW step (math in adamw.h). */
#include <math.h>

#include "kernels/adamw.h"

int adamw_step(Tensor *param, Tensor *m, Tensor *v, const AdamWConfig *cfg, int step, float grad_scale) {
    const char *op = "adamw";
    if (kcheck(op, param, "param") || kcheck_same(op, param, m, "param", "m") ||
        kcheck_same(op, param, v, "param", "v"))
        return -1;
    if (!param->grad) return ldm_error(op, "param %s has no gradient", tshape(param));
    if (!cfg) return ldm_error(op, "config is missing (NULL) for param %s", tshape(param));
    if (step < 1) return ldm_error(op, "step %d must be >= 1 (1-based) for param %s", step, tshape(param));
    if (!(cfg->lr >= 0 && isfinite(cfg->lr)) || !(cfg->beta1 >= 0 && cfg->beta1 < 1) ||
        !(cfg->beta2 >= 0 && cfg->beta2 < 1) || !(cfg->eps > 0 && isfinite(cfg->eps)) ||
        !(cfg->weight_decay >= 0 && isfinite(cfg->weight_decay)) || !isfinite(grad_scale))
        return ldm_error(op,
                         "bad hyperparameters for param %s: lr %g beta1 %g beta2 %g eps %g weight_decay %g "
                         "grad_scale %g (need lr, wd >= 0, betas in [0, 1), eps > 0, all finite)",
                         tshape(param), cfg->lr, cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay, grad_scale);
    return KDISPATCH(op, param->device, adamw_step_cpu(param, m, v, cfg, step, grad_scale),
                     adamw_step_cuda(param, m, v, cfg, step, grad_scale));
}
