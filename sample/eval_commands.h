/* sample/eval_commands.h — the three ldm-eval commands (sample/ldm_eval.c parses the flags):
 *   classifier  train the judge on the training split, report held-out accuracy per class
 *   samples     generated images (from a U-Net + VAE, or a folder) against held-out real
 *               images: accuracy, Fréchet distance with its real-vs-real floor, precision,
 *               recall, memorisation share; per class and overall; optional PCA picture
 *   vae         reconstructions of held-out images: PSNR, SSIM, MS-SSIM (and, with a
 *               classifier, the Fréchet distance of the reconstructions: a ceiling for samples)
 * Each returns 0, or 1 after printing an error that names the file (runtime error). */
#ifndef LDM_SAMPLE_EVAL_COMMANDS_H
#define LDM_SAMPLE_EVAL_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/device.h"
#include "data/dataset.h"
#include "models/sampler.h"

typedef struct {
    const char *cmd;
    const char *data, *out, *preset, *classifier, *unet, *vae, *images, *json, *plot;
    const char *sets[32];    /* classifier: --set KEY=VALUE overrides of the preset */
    int n_sets;
    DataLayout layout;
    const char *group_by;    /* --group-by, as ldm-train's: image, prefix or a pattern (NULL: the layout's rule) */
    long steps, batch, n, max_real, max_train, arena_mb;
    double lr, guidance, eta;
    uint64_t seed;
    SamplerKind sampler;
    Device device;
    bool no_ema, quiet;
} EvalArgs;

int eval_cmd_classifier(const EvalArgs *a);
int eval_cmd_samples(const EvalArgs *a);
int eval_cmd_vae(const EvalArgs *a);

#endif
