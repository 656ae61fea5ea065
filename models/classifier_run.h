/* models/classifier_run.h — training ldm-eval's classifier (models/classifier.h) and running
 * it over images.
 *
 * Training: AdamW (lr with a 5% linear warm-up, then cosine decay to 0; no weight decay),
 * softmax cross-entropy, batches drawn without replacement from a fresh permutation of the
 * training images each epoch (splitmix64 from the seed: the same seed gives the same run on
 * one device). A progress line every 50 steps: step, mean loss, batch accuracy, images/s.
 */
#ifndef LDM_MODELS_CLASSIFIER_RUN_H
#define LDM_MODELS_CLASSIFIER_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "models/classifier.h"

typedef struct {
    int steps, batch;
    double lr;
    uint64_t seed;
    Device device;
    bool quiet;
} ClsTrainOpts;

/* Trains m (parameters ps, on o->device) on x (n, S, S) uint8 canvas images with labels[n]. */
int cls_train(Classifier *m, ParamSet *ps, const uint8_t *x, const int *labels, int n, const ClsTrainOpts *o);

/* Runs m over x (n, S, S) floats in [-1, 1]: pred[n] (argmax class; may be NULL) and the
 * features (n, feat) (may be NULL). */
int cls_predict(const Classifier *m, Device dev, const float *x, int n, int *pred, float *feat);

/* A classifier checkpoint (kind "classifier"): the data config cfg (image size, classes)
 * and the architecture (metadata "classifier"). cls_load fills cfg, m and ps (allocated,
 * on dev); -1 with a message naming the file (missing, not a classifier, bad shapes). */
int cls_save(const char *path, const ModelConfig *cfg, const ParamSet *ps, const ClassifierConfig *cc, long long step,
             int n_extra, const char *const *keys, const char *const *vals);
int cls_load(const char *path, Device dev, ModelConfig *cfg, Classifier *m, ParamSet *ps);

/* The classifier (config c, from file cpath) and a model `what` with config g agree on
 * the canvas, the data size and the classes, and g makes gray images; -1 naming both. */
int cls_check_compat(const char *cpath, const ModelConfig *c, const char *what, const ModelConfig *g);

/* Per-class accuracy: correct[k], total[k] for k < K, from labels and predictions. */
void cls_tally(const int *labels, const int *pred, int n, int K, int *correct, int *total);

#endif
