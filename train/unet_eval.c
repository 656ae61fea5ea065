/* train/unet_eval.c — see unet_eval.h. */
#include "train/unet_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/generate.h"
#include "train/train_data.h"

int unet_eval_open(UnetEval *e, const TrainArgs *a, const ModelConfig *cfg, const Dataset *ds) {
    memset(e, 0, sizeof *e);
    e->per_class = a->eval_n, e->steps = a->eval_steps, e->dev = a->device;
    e->precision = a->precision;
    ModelConfig ccfg;
    if (cls_load(a->classifier, a->device, &ccfg, &e->cls, &e->cls_ps)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        return ldm_error("unet", "--classifier %s", msg);
    }
    if (!cfg->num_classes) return ldm_error("unet", "--eval-every: the model is unconditional; the classifier judges "
                                            "class-conditional samples");
    if (cls_check_compat(a->classifier, &ccfg, "the model being trained", cfg)) return -1;
    DataSplit split = dataset_count(ds, SPLIT_VAL, -1) > 0 ? SPLIT_VAL : SPLIT_TRAIN;
    int *items = NULL;
    int n = train_pick_items(ds, split, UEVAL_MAX_REAL, &items);
    if (n < 2) {
        free(items);
        return ldm_error("unet", "--eval-every: need at least 2 real images to compare with, found %d", n);
    }
    const int S = cfg->image_size, F = e->cls.cc.feat;
    float *x = malloc((size_t)n * S * S * sizeof(float)), *f = malloc((size_t)n * F * sizeof(float));
    int *pred = malloc((size_t)n * sizeof(int));
    int rc = x && f && pred ? 0 : ldm_error("unet", "out of memory");
    if (!rc) rc = train_load_items(ds, cfg, items, n, x) || cls_predict(&e->cls, e->dev, x, n, pred, f) ||
                  gauss_stats(f, n, F, &e->real);
    if (!rc) {
        int hits = 0;
        for (int i = 0; i < n; i++) hits += pred[i] == ds->items[items[i]].label;
        e->n_real = n, e->real_acc = (double)hits / n;
        if (!a->quiet)
            printf("unet: sample evaluation every %ld steps: %d images per class, DDIM %d steps, guidance %g, EMA "
                   "weights; judged by %s (%.1f%% on %d %s images)\n", a->eval_every, e->per_class, e->steps,
                   UEVAL_GUIDANCE, a->classifier, 100 * e->real_acc, n,
                   split == SPLIT_VAL ? "held-out" : "training (the data has no validation split)");
    }
    free(items), free(x), free(f), free(pred);
    return rc ? -1 : 0;
}

int unet_eval_run(UnetEval *e, const ModelConfig *cfg, const UNet *unet, ParamSet *ps, ParamSet *ema, const VAE *vae,
                  double latent_scale, double *acc, double *fd) {
    const int K = cfg->num_classes, S = cfg->image_size, F = e->cls.cc.feat, n = e->per_class * K;
    float *x = malloc((size_t)n * S * S * sizeof(float)), *f = malloc((size_t)n * F * sizeof(float));
    int *pred = malloc((size_t)n * sizeof(int));
    if (!x || !f || !pred) {
        free(x), free(f), free(pred);
        return ldm_error("unet", "out of memory evaluating samples");
    }
    /* The generator borrows unet's parameter tensors, whose values the swap exchanges, so one
     * attached at the first evaluation serves every later one (and its arena is made once). */
    int rc = 0;
    if (!e->gen_open) {
        rc = gen_attach(&e->gen, cfg, unet, vae, latent_scale, e->dev, 0);
        if (!rc) tape_set_precision(&e->gen.tp, e->precision), e->gen_open = true;
    }
    rc = rc || ps_swap_values(ps, ema);
    bool swapped = !rc;
    SamplerOpts so = {.kind = SAMPLER_DDIM, .steps = e->steps, .eta = 0, .guidance = UEVAL_GUIDANCE, .seed = UEVAL_SEED};
    for (int k = 0; k < K && !rc; k++)
        rc = gen_images(&e->gen, k, e->per_class, &so, x + (size_t)k * e->per_class * S * S, NULL);
    if (swapped && ps_swap_values(ps, ema)) rc = -1;
    rc = rc || cls_predict(&e->cls, e->dev, x, n, pred, f);
    GaussStats gs;
    if (!rc && !(rc = gauss_stats(f, n, F, &gs))) {
        rc = frechet_distance(&gs, &e->real, fd);
        gauss_stats_free(&gs);
    }
    if (!rc) {
        int hits = 0;
        for (int i = 0; i < n; i++) hits += pred[i] == i / e->per_class;
        *acc = (double)hits / n;
    }
    free(x), free(f), free(pred);
    return rc ? -1 : 0;
}

void unet_eval_close(UnetEval *e) {
    if (e->gen_open) gen_close(&e->gen), e->gen_open = false;
    ps_free(&e->cls_ps);
    gauss_stats_free(&e->real);
}
