/* train/optimizer.h — AdamW over a ParamSet, with global gradient-norm clipping.
 *
 *   norm  = sqrt(sum over all parameters of sum(grad^2))     (ps_grad_sumsq, in double)
 *   scale = clip / norm when clip > 0 and norm > clip, else 1
 *   every parameter: adamw_step(p, m, v, lr, t, grad_scale = scale), with the weight decay
 *   only where ps_decays (linear and conv weights; not biases, norms, embedding tables)
 * The moments m and v are ParamSets with the model's names, so they go into the
 * checkpoint as "adam.m.<name>" / "adam.v.<name>" and a resumed run continues exactly.
 */
#ifndef LDM_TRAIN_OPTIMIZER_H
#define LDM_TRAIN_OPTIMIZER_H

#include "kernels/adamw.h"
#include "models/params.h"

typedef struct {
    ParamSet m, v;
    AdamWConfig cfg;
} Optimizer;

/* Zeroed moments shaped like ps, on ps's device. */
int optim_init(Optimizer *o, const ParamSet *ps, double weight_decay);
void optim_free(Optimizer *o);

/* One update at AdamW step t (1-based) with learning rate lr. *grad_norm gets the norm
 * before clipping. A non-finite norm returns -1 without touching the parameters. */
int optim_step(Optimizer *o, ParamSet *ps, long t, double lr, double clip, double *grad_norm);

#endif
