/* models/classifier.h — a small CNN that tells the classes of a data set apart: ldm-eval's
 * judge of generated images (accuracy on samples, and its penultimate layer as the feature
 * space of the Fréchet distance, precision/recall and the embedding plot).
 *
 *   x (N, S, S, 1)
 *   conv_in 3x3 -> ch; GroupNorm + SiLU (norm_in)                        (N, S, S, ch)
 *   per level i < levels: 3x3 conv stride 2 -> w_i = ch * min(2^(i+1), 4); GroupNorm + SiLU
 *                                                                        (N, S/2^(i+1), ., w_i)
 *   flatten                                                              (N, (S/2^levels)^2 w)
 *   fc -> feat; SiLU                    = the features                   (N, feat)
 *   head -> num_classes                 = the logits                     (N, K)
 * Loss: softmax cross-entropy (ag_cross_entropy). Flattening (rather than global average
 * pooling) keeps where things are, which is what separates MRI slabs of one brain.
 * For the demo (64x64, ch 16, 3 levels) about 0.6M parameters and 25 MFLOP per image.
 *
 * Parameter names: cls.conv_in, cls.norm_in, cls.down.<i>.conv, cls.down.<i>.norm, cls.fc,
 * cls.head (.weight, .bias). The checkpoint is kind "classifier": the ModelConfig of the
 * data it was trained for (preset, image_size, data_size, classes) as for every model, and
 * the architecture as the metadata key "classifier" (classifier_format's text).
 */
#ifndef LDM_MODELS_CLASSIFIER_H
#define LDM_MODELS_CLASSIFIER_H

#include <stddef.h>

#include "models/blocks.h"
#include "models/config.h"

#define CLS_MAX_LEVELS 5

typedef struct {
    int image_size, num_classes;
    int ch, levels, feat, groups;
} ClassifierConfig;

typedef struct {
    ClassifierConfig cc;
    Conv conv_in, down[CLS_MAX_LEVELS];
    Norm norm_in, down_norm[CLS_MAX_LEVELS];
    Linear fc, head;
} Classifier;

/* The default architecture for images of side image_size with num_classes classes. */
void classifier_default(ClassifierConfig *cc, int image_size, int num_classes);
/* -1 naming the field when cc cannot be built (side not divisible by 2^levels, ...). */
int classifier_validate(const ClassifierConfig *cc);
/* "ch=16,levels=3,feat=128,groups=8" (image size and classes come from the ModelConfig). */
int classifier_format(const ClassifierConfig *cc, char *buf, size_t n);
/* Parses classifier_format's text into cc (image_size and num_classes are kept). */
int classifier_parse(const char *s, ClassifierConfig *cc);

int classifier_init(Classifier *m, ParamSet *ps, const ClassifierConfig *cc);
/* x (N, S, S, 1) -> logits (N, K); *features (N, feat) when features != NULL. */
Tensor *classifier_forward(const Classifier *m, Tape *t, Tensor *x, Tensor **features);

#endif
