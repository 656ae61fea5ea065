/* data/loader.h — shuffled batches from a split, prepared in the background.
 *
 * A Loader is an endless stream of batches over epochs. Epoch e visits the split's
 * items in a permutation drawn from (seed, e) (or in order without shuffle); batch b
 * of the stream is batch b % per_epoch of epoch b / per_epoch, so a run that restarts
 * at start_batch sees exactly the batches it would have seen. Horizontal flips, when
 * the transform asks for them, are drawn from (seed, epoch, position) too.
 *
 * A background thread prepares batch k+1 (decoding with `threads` OpenMP threads)
 * while the caller trains on batch k: loader_next hands out one buffer and the thread
 * fills the other. With `cache`, each image's transformed uint8 pixels are kept after
 * the first visit (side^2 x channels bytes per image), so later epochs skip decoding.
 *
 * Batches are float NHWC (n, side, side, C) in [-1, 1] in host memory, C = the
 * transform's channels (1 gray, 3 RGB), with int labels
 * (-1 for unconditional data); loader_batch_to_tensor copies one into a Tensor on any
 * device.
 */
#ifndef LDM_DATA_LOADER_H
#define LDM_DATA_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tensor.h"
#include "data/dataset.h"
#include "data/transform.h"

typedef struct {
    DataSplit split;
    int batch;           /* images per batch */
    uint64_t seed;
    bool shuffle;        /* new permutation each epoch (else file order) */
    bool drop_last;      /* every batch full; the last partial batch of an epoch is dropped */
    bool cache;          /* keep transformed uint8 images in memory */
    int threads;         /* decode threads in the background (1..64) */
    long long start_batch; /* position in the stream to start at (resume) */
    DataTransform tf;
} LoaderOptions;

typedef struct {
    int n;              /* images in this batch */
    int side;           /* images are side x side */
    int channels;       /* C: 1 gray, 3 RGB */
    float *x;           /* (n, side, side, C) */
    int *labels;        /* (n) */
    int *items;         /* (n) dataset item indices */
    bool *flipped;      /* (n) whether each image was mirrored */
    long long epoch;    /* which epoch, and which batch of the stream */
    long long index;
} DataBatch;

typedef struct Loader Loader;

/* Defaults: train split, batch 16, shuffle, drop_last, no cache, 2 threads, size 64 pad. */
void loader_options_default(LoaderOptions *o);
/* NULL with an error on bad options or an empty split. The dataset must outlive it. */
Loader *loader_create(const Dataset *ds, const LoaderOptions *o);
/* The next batch, valid until the next loader_next or loader_free; NULL with an error
 * naming the file when an image fails to load. */
const DataBatch *loader_next(Loader *l);
int loader_batches_per_epoch(const Loader *l);
int loader_side(const Loader *l);
size_t loader_cache_bytes(const Loader *l);
void loader_free(Loader *l);

/* Copies the batch into x, which must be (n, side, side, C) on any device. */
int loader_batch_to_tensor(const DataBatch *b, Tensor *x);

#endif
