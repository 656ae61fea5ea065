/* train/train_args.h — the command line of ldm-train, parsed and checked.
 *
 *   ldm-train vae  --preset P --data PATH --out DIR [flags]
 *   ldm-train unet --preset P --data PATH --vae FILE --out DIR [flags]
 *
 * Parsing never touches the file system; the trainers check paths and say which flag a
 * bad one came from. Flags the user gave are remembered (given_*) so a resumed run can
 * tell a flag that contradicts the checkpoint from a default.
 */
#ifndef LDM_TRAIN_TRAIN_ARGS_H
#define LDM_TRAIN_TRAIN_ARGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/device.h"
#include "core/tensor.h"
#include "data/dataset.h"

#define TRAIN_MAX_SETS 64

typedef enum { TRAIN_VAE = 0, TRAIN_UNET = 1 } TrainKind;
/* --classes: what the model is conditional on (train_data.h says when each applies). */
typedef enum { CLASSES_AUTO = 0, CLASSES_DATA = 1, CLASSES_NONE = 2 } ClassesMode;

typedef struct {
    TrainKind kind;
    const char *preset;        /* NULL: from --resume's checkpoint, else required */
    const char *sets[TRAIN_MAX_SETS]; /* --set key=value, in order */
    int n_sets;
    const char *data, *vae, *out, *resume;
    long steps, epochs;        /* exactly one > 0 after parsing (default: steps from the kind) */
    long stop_after;           /* stop (with a checkpoint) after this step; 0 = run to the end */
    int batch;
    double lr, lr_min_frac;    /* peak lr; the cosine ends at lr * lr_min_frac */
    long warmup;               /* warm-up steps */
    double clip;               /* global gradient-norm clip; 0 = off */
    double weight_decay;
    double ema;                /* U-Net EMA decay */
    double cond_drop;          /* U-Net: probability of the null class */
    uint64_t seed;
    long ckpt_every;           /* checkpoint every N steps (and at the end); 0 = end only */
    long log_every;            /* progress line every N steps */
    long val_every;            /* validate every N steps; 0 = each epoch, at most 20 times a run */
    Device device;
    DType precision;           /* activations: DT_BF16 (mixed precision) or DT_F32 */
    bool given_precision;      /* else the device's default (cli_default_precision) */
    size_t arena_mb;           /* 0 = sized from the model */
    DataLayout layout;
    int val_patients;          /* -1: the layout's rule */
    DataGroupBy group_by;      /* --group-by (GROUP_AUTO: the layout's rule) */
    const char *group_pattern;
    ClassesMode classes;
    int threads;               /* loader decode threads */
    long eval_every;           /* unet: sample and judge every N steps (train/unet_eval.h); 0 = off */
    const char *classifier;    /* unet: ldm-eval's classifier checkpoint, the judge */
    int eval_n, eval_steps;    /* images per class, DDIM steps */
    double disc_weight;        /* vae: weight of the patch discriminator's term (models/patch_disc.h); 0 = off */
    long disc_start;           /* vae: the step (0-based) from which the discriminator trains and counts */
    bool quiet;
    bool given_batch, given_lr, given_seed, given_warmup, given_clip, given_ema, given_cond_drop,
        given_wd, given_steps, given_disc_weight, given_disc_start;
} TrainArgs;

/* 0 ok; 1 help printed (exit 0); 2 usage error (message printed to stderr); 3 --describe
 * asked (print the configuration and exit 0). */
int train_args_parse(int argc, char **argv, TrainArgs *a);
void train_usage(FILE *f);

#endif
