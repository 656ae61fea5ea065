/* train/unet_eval.h — `ldm-train unet --eval-every N --classifier C`: how good the samples
 * are while the U-Net trains, judged by ldm-eval's classifier (models/classifier.h).
 *
 * Once, before training: the classifier is loaded and checked against the run's config
 * (canvas, classes), and up to UEVAL_MAX_REAL held-out images (the validation split; the
 * training split when there is none, said so) go through it: their features' mean and
 * covariance are kept.
 * Every N steps (and at the last step):
 *   swap the EMA weights into the U-Net (ps_swap_values: no copy)
 *   n images per class: DDIM (eta 0), `steps` steps, guidance UEVAL_GUIDANCE, the fixed
 *   seed UEVAL_SEED (models/generate.h: the same starting noise at every evaluation, so
 *   the curve shows the model changing, not the draw)
 *   decode with the VAE; the classifier's argmax and features
 *   accuracy = share called their own class; FD = Fréchet distance (core/frechet.h) of
 *   the generated features to the held-out ones
 *   swap back
 * The sampler (models/generate.h) is attached at the first evaluation and kept until
 * unet_eval_close, so its arena is made once per run, not once per evaluation.
 * The FD at n per class is biased upwards by the small count: compare it across steps of
 * one run (fixed n), not with ldm-eval's FD at other counts.
 */
#ifndef LDM_TRAIN_UNET_EVAL_H
#define LDM_TRAIN_UNET_EVAL_H

#include "core/frechet.h"
#include "data/dataset.h"
#include "models/classifier_run.h"
#include "models/generate.h"
#include "models/unet.h"
#include "models/vae.h"
#include "train/train_args.h"

#define UEVAL_MAX_REAL 1000
#define UEVAL_GUIDANCE 3.0f
#define UEVAL_SEED 1234

typedef struct {
    Classifier cls;
    ParamSet cls_ps;
    GaussStats real;     /* features of the held-out images */
    int n_real;
    double real_acc;     /* the classifier's accuracy on them */
    int per_class, steps;
    Device dev;
    DType precision;     /* the samples' activations: the run's --precision */
    Generator gen;       /* attached at the first evaluation and kept: its arena is planned once */
    bool gen_open;
} UnetEval;

/* Loads --classifier, checks it against cfg, and summarises the held-out images of ds.
 * -1 naming the flag or file. */
int unet_eval_open(UnetEval *e, const TrainArgs *a, const ModelConfig *cfg, const Dataset *ds);

/* Samples with ema's weights swapped into unet (ps holds unet's parameters), then
 * restores them: *acc in [0, 1] and *fd. */
int unet_eval_run(UnetEval *e, const ModelConfig *cfg, const UNet *unet, ParamSet *ps, ParamSet *ema, const VAE *vae,
                  double latent_scale, double *acc, double *fd);

void unet_eval_close(UnetEval *e);

#endif
