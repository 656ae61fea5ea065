/* train/optimizer.c — see optimizer.h. */
#include "train/optimizer.h"

#include <math.h>

#include "core/error.h"

int optim_init(Optimizer *o, const ParamSet *ps, double weight_decay) {
    o->cfg = (AdamWConfig){.lr = 0, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = (float)weight_decay};
    if (ps_clone(&o->m, ps, ps->device, false, false)) return -1;
    if (ps_clone(&o->v, ps, ps->device, false, false)) {
        ps_free(&o->m);
        return -1;
    }
    return 0;
}

void optim_free(Optimizer *o) {
    ps_free(&o->m);
    ps_free(&o->v);
}

int optim_step(Optimizer *o, ParamSet *ps, long t, double lr, double clip, double *grad_norm) {
    double ss;
    if (ps_grad_sumsq(ps, &ss)) return -1;
    double norm = sqrt(ss);
    *grad_norm = norm;
    if (!isfinite(norm)) return ldm_error("optimizer", "the gradient norm is %g at step %ld", norm, t);
    if (t < 1 || t > 2147483647L) return ldm_error("optimizer", "step %ld is outside 1..2^31-1", t);
    float scale = clip > 0 && norm > clip ? (float)(clip / norm) : 1.0f;
    o->cfg.lr = (float)lr;
    AdamWConfig no_wd = o->cfg;
    no_wd.weight_decay = 0;
    for (int i = 0; i < ps->n; i++)
        if (adamw_step(ps->p[i].t, o->m.p[i].t, o->v.p[i].t, ps_decays(&ps->p[i]) ? &o->cfg : &no_wd, (int)t, scale))
            return -1;
    return 0;
}
