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

/* Opens --data with the layout and split flags, checks the training split is not empty
 * and settles the classes into cfg:
 *   --classes none                  unconditional (num_classes 0), labels ignored
 *   conditional preset, labelled    the data's classes: when they differ from the
 *     data (or --classes data)      preset's (count or names), num_classes and
 *                                   class_names become the data's (folder names), unless
 *                                   --set named the classes (then the counts must agree)
 *   conditional preset, no labels   an error naming --classes none
 *   unconditional preset, labelled  an error naming --classes data and --classes none
 * The config then travels in the checkpoint, so ldm-sample --label takes the names.
 * The validation split uses the data's own seed (0), so the VAE and the U-Net of one
 * project hold out the same images whatever their training seeds. Unless quiet, prints
 * the data set, the split rule, the class change and how colour and depth are read. */
Dataset *train_open_data(const TrainArgs *a, ModelConfig *cfg);

/* Loader options for `split` of cfg's data: batch, seed, flips from cfg (training
 * only), cached transformed images, starting at stream batch start. */
LoaderOptions train_loader_options(const TrainArgs *a, const ModelConfig *cfg, DataSplit split, int batch,
                                   uint64_t seed, bool train, long long start);

/* The batch into x (n, image_size, image_size, channels) on any device; host scratch of
 * n * image_size^2 * channels floats. */
int train_batch_to_input(const DataBatch *b, const ModelConfig *cfg, Tensor *x, float *scratch);

/* Up to `max` items of `split`, evenly spaced through it in data set order (so they span
 * classes and patients); malloc'ed into *items. Returns the count (0 when the split is
 * empty), -1 on error. */
int train_pick_items(const Dataset *ds, DataSplit split, int max, int **items);

/* The model inputs of items[0..n) into dst (n, image_size, image_size, channels) floats
 * in [-1, 1], with the transform the loader applies (no flip). */
int train_load_items(const Dataset *ds, const ModelConfig *cfg, const int *items, int n, float *dst);

/* x (n, S, S, C) mirrored left to right in place: each row reversed pixel by pixel, a
 * pixel keeping its channel order (what the loader's flip does to uint8 images). */
void train_mirror(float *x, int n, int S, int C);

/* Bytes of per-step activation memory: --arena-mb, else an estimate for a training
 * step of the `kind` model at this batch size. */
size_t train_arena_bytes(const TrainArgs *a, const ModelConfig *cfg, TrainKind kind, int batch);

#endif
