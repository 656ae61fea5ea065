/* sample/eval_data.h — the real images ldm-eval compares against: a data set opened for a
 * model's config, split into the images models trained on and held-out images, loaded as
 * the models see them.
 *
 * Held out = every item outside the data set's training split (validation and test:
 * ADNI's test patients, Fashion-MNIST's t10k, a folder's val/ and test/). A data set that
 * has no such split (one NIfTI volume: the demo) holds out every EVAL_HOLDOUT_EVERY-th
 * training item instead (slices 4, 9, 14, ... of the kept slices), and says so: the
 * classifier never trains on those, but a VAE or U-Net trained with ldm-train has seen them.
 *
 * Images are loaded exactly as ldm-train feeds them: fitted into data_size x data_size
 * (data/transform.h, pad with black), centred on the image_size x image_size canvas of
 * background -1, values in [-1, 1]. Stored as uint8 (the transform's own precision) to
 * keep Fashion-MNIST's 60000 training images at 60 MB.
 */
#ifndef LDM_SAMPLE_EVAL_DATA_H
#define LDM_SAMPLE_EVAL_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "data/dataset.h"
#include "models/config.h"

#define EVAL_HOLDOUT_EVERY 5

typedef struct {
    Dataset *ds;
    int *train, n_train;     /* item indices */
    int *held, n_held;
    bool held_from_train;    /* held out by EVAL_HOLDOUT_EVERY (no split of its own) */
} EvalData;

/* Opens `path` (layout forced unless LAYOUT_AUTO) and splits it. need_classes > 0: the data
 * must have exactly that many classes. -1 with an error naming the path when it cannot be
 * opened, is empty, or does not fit. */
int eval_data_open(EvalData *e, const char *path, DataLayout layout, const char *group_by, int need_classes);
void eval_data_close(EvalData *e);

/* Up to max of items[0..n) spread evenly through the list; optionally only those of class
 * `label` (-1: any). malloc'ed into *out; returns the count. */
int eval_pick(const EvalData *e, const int *items, int n, int label, int max, int **out);

/* Loads items into dst (n, S, S) uint8 on the model's canvas (S = cfg->image_size). */
int eval_load_u8(const Dataset *ds, const ModelConfig *cfg, const int *items, int n, uint8_t *dst);
/* uint8 canvas pixels -> [-1, 1] floats: v / 127.5 - 1 (as data/transform.h step 5). */
void eval_u8_to_float(const uint8_t *src, size_t n, float *dst);
/* Labels of items into labels[n]. */
void eval_labels(const Dataset *ds, const int *items, int n, int *labels);

#endif
