/* train/train_data.h — what the trainers share: the configuration from the flags, the
 * data set opened and checked against it, loaders, and batches turned into model inputs.
 *
 * Images are fitted into data_size x data_size by the loader (data/transform.h) and
 * centred on the model's image_size x image_size canvas filled with the background
 * (-1 after scaling), so Fashion-MNIST's 28x28 becomes 32x32 with a 2-pixel border.
 */
#ifndef LDM_TRAIN_TRAIN_DATA_H
#define LDM_TRAIN_TRAIN_DATA_H

#include "data/loader.h"
#include "models/config.h"
#include "train/train_args.h"

/* cfg = the preset (or `base`, the checkpoint's config on resume) + every --set. When
 * both a base and --preset are given they must name the same preset. -1 naming the
 * flag on a bad preset or override. */
int train_config(const TrainArgs *a, const ModelConfig *base, ModelConfig *cfg);

/* Opens --data with the layout and split flags and checks it fits cfg: the number of
 * classes (a conditional model needs labelled data with exactly num_classes classes)
 * and a non-empty training split. The validation split uses the data's own seed (0),
 * so the VAE and the U-Net of one project hold out the same patients whatever their
 * training seeds. Prints one line about the data set unless quiet. */
Dataset *train_open_data(const TrainArgs *a, const ModelConfig *cfg);

/* Loader options for `split` of cfg's data: batch, seed, flips from cfg (training
 * only), cached transformed images, starting at stream batch start. */
LoaderOptions train_loader_options(const TrainArgs *a, const ModelConfig *cfg, DataSplit split, int batch,
                                   uint64_t seed, bool train, long long start);

/* The batch into x (n, image_size, image_size, channels) on any device; host scratch of
 * n * image_size^2 floats. */
int train_batch_to_input(const DataBatch *b, const ModelConfig *cfg, Tensor *x, float *scratch);

/* Up to `max` items of `split`, evenly spaced through it in data set order (so they span
 * classes and patients); malloc'ed into *items. Returns the count (0 when the split is
 * empty), -1 on error. */
int train_pick_items(const Dataset *ds, DataSplit split, int max, int **items);

/* The model inputs of items[0..n) into dst (n, image_size, image_size) floats in [-1, 1],
 * with the transform the loader applies (no flip). */
int train_load_items(const Dataset *ds, const ModelConfig *cfg, const int *items, int n, float *dst);

/* Bytes of per-step activation memory: --arena-mb, else an estimate for a training
 * step of the `kind` model at this batch size. */
size_t train_arena_bytes(const TrainArgs *a, const ModelConfig *cfg, TrainKind kind, int batch);

#endif
