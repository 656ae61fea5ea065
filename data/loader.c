/* data/loader.c — the batch stream (see loader.h).
 *
 * Two slots; stream batch k always lives in slot k % 2. The producer thread fills
 * batch k once its slot is FREE and marks it READY; loader_next frees the slot of the
 * batch it handed out last, waits for the next one to be READY and marks it HELD.
 * So while the caller works on batch k the producer prepares batch k+1, and never more.
 * Only the producer (and its OpenMP team, on distinct images) touches the cache and
 * the permutation, so they need no lock.
 */
#include "data/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/philox.h"

#define SHUFFLE_STREAM 0x53485546u /* Philox tags "SHUF", "FLIP" */
#define FLIP_STREAM    0x464C4950u

enum { SLOT_FREE, SLOT_READY, SLOT_HELD, SLOT_ERROR };

typedef struct {
    DataBatch b;
    uint8_t *u8;      /* (batch, side, side, C) scratch when not caching */
    int state;
    char err[1024];
} Slot;

struct Loader {
    const Dataset *ds;
    LoaderOptions o;
    int side, channels, n, per_epoch;
    int *ids;               /* (n) dataset item of each split position */
    int *perm;              /* (n) positions in the order of epoch perm_epoch */
    long long perm_epoch;
    uint8_t *cache;         /* (n, side, side, C) or NULL */
    uint8_t *cached;        /* (n) 1 when cache row is filled */
    Slot slot[2];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, stop;
    long long next_give;
    int held;               /* slot the caller holds, or -1 */
};

void loader_options_default(LoaderOptions *o) {
    *o = (LoaderOptions){.split = SPLIT_TRAIN, .batch = 16, .seed = 0, .shuffle = true, .drop_last = true,
                         .cache = false, .threads = 2, .start_batch = 0,
                         .tf = {.size = 64, .fit = FIT_PAD, .background = 0, .hflip = false}};
}

static uint32_t draw(uint64_t seed, uint32_t stream, uint64_t i) {
    return philox_block(seed, i / 4, stream).v[i % 4];
}

// ---------------------------------------------------------------------------
// producer

static void make_perm(Loader *l, long long epoch) {
    if (l->perm_epoch == epoch) return;
    for (int i = 0; i < l->n; i++) l->perm[i] = i;
    if (l->o.shuffle) {
        uint64_t base = (uint64_t)epoch * (uint64_t)l->n;
        for (int i = l->n - 1; i > 0; i--) {
            int j = (int)(((uint64_t)draw(l->o.seed, SHUFFLE_STREAM, base + (uint64_t)i) * (uint64_t)(i + 1)) >> 32);
            int t = l->perm[i];
            l->perm[i] = l->perm[j], l->perm[j] = t;
        }
    }
    l->perm_epoch = epoch;
}

/* Fills slot s with stream batch k; 0, or -1 with the first failure's message in s->err. */
static int fill(Loader *l, Slot *s, long long k) {
    long long epoch = k / l->per_epoch;
    int j = (int)(k % l->per_epoch), first = j * l->o.batch;
    int n = l->n - first < l->o.batch ? l->n - first : l->o.batch;
    make_perm(l, epoch);
    size_t area = (size_t)l->side * l->side * l->channels;
    int failed = -1;
    s->err[0] = '\0';
#pragma omp parallel num_threads(l->o.threads)
    {
        TransformWork *ws = transform_work_new(); /* NULL falls back to a temporary one */
#pragma omp for schedule(dynamic, 1)
        for (int i = 0; i < n; i++) {
            int pos = first + i, row = l->perm[pos], item = l->ids[row];
            uint8_t *px = l->cache ? l->cache + (size_t)row * area : s->u8 + (size_t)i * area;
            int ok = 1;
            if (!l->cache || !l->cached[row]) {
                ok = dataset_item_geometry(l->ds, item, &l->o.tf, px, ws) == 0;
                if (ok && l->cache) l->cached[row] = 1;
            }
            if (!ok) {
#pragma omp critical(loader_err)
                if (failed < 0 || i < failed) {
                    failed = i;
                    snprintf(s->err, sizeof s->err, "%s", ldm_last_error());
                }
                continue;
            }
            bool flip = l->o.tf.hflip && (draw(l->o.seed, FLIP_STREAM, (uint64_t)epoch * l->n + (uint64_t)pos) & 1);
            transform_to_float_ch(px, l->side, l->channels, flip, s->b.x + (size_t)i * area);
            s->b.labels[i] = l->ds->items[item].label;
            s->b.items[i] = item;
            s->b.flipped[i] = flip;
        }
        transform_work_free(ws);
    }
    s->b.n = n;
    s->b.epoch = epoch;
    s->b.index = k;
    return failed >= 0 ? -1 : 0;
}

static void *producer(void *arg) {
    Loader *l = arg;
    for (long long k = l->o.start_batch;; k++) {
        Slot *s = &l->slot[k % 2];
        pthread_mutex_lock(&l->mu);
        while (!l->stop && s->state != SLOT_FREE) pthread_cond_wait(&l->cv, &l->mu);
        int stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop) break;
        int rc = fill(l, s, k);
        pthread_mutex_lock(&l->mu);
        s->state = rc ? SLOT_ERROR : SLOT_READY;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        if (rc) break;
    }
    return NULL;
}

// ---------------------------------------------------------------------------
// public

Loader *loader_create(const Dataset *ds, const LoaderOptions *o) {
    if (!ds || !o) {
        ldm_error("loader", "NULL dataset or options");
        return NULL;
    }
    if ((unsigned)o->split >= SPLIT_COUNT || o->batch < 1 || o->batch > 65536 || o->threads < 1 ||
        o->threads > 64 || o->start_batch < 0) {
        ldm_error("loader", "bad options: split %d, batch %d (1..65536), threads %d (1..64), start_batch %lld",
                  (int)o->split, o->batch, o->threads, o->start_batch);
        return NULL;
    }
    int side = transform_out_side(&o->tf, ds->w, ds->h);
    if (side < 0) return NULL;
    if (transform_channels(&o->tf) != 1 && transform_channels(&o->tf) != 3) {
        ldm_error("loader", "bad options: channels %d (want 1 or 3)", o->tf.channels);
        return NULL;
    }
    int n = dataset_count(ds, o->split, -1);
    int per_epoch = o->drop_last ? n / o->batch : (n + o->batch - 1) / o->batch;
    if (per_epoch < 1) {
        ldm_error("loader", "the %s split has %d images, fewer than one batch of %d", split_name(o->split), n, o->batch);
        return NULL;
    }
    Loader *l = calloc(1, sizeof *l);
    if (!l) {
        ldm_error("loader", "out of memory");
        return NULL;
    }
    l->ds = ds, l->o = *o, l->side = side, l->n = n, l->per_epoch = per_epoch;
    l->channels = transform_channels(&o->tf);
    l->perm_epoch = -1, l->held = -1, l->next_give = o->start_batch;
    size_t area = (size_t)side * side * l->channels, B = (size_t)o->batch;
    int bad = !(l->ids = malloc(sizeof(int) * (size_t)n)) || !(l->perm = malloc(sizeof(int) * (size_t)n));
    if (o->cache && !bad) bad = !(l->cache = malloc(area * (size_t)n)) || !(l->cached = calloc((size_t)n, 1));
    for (int i = 0; i < 2 && !bad; i++) {
        Slot *s = &l->slot[i];
        s->b.side = side;
        s->b.channels = l->channels;
        bad = !(s->b.x = malloc(sizeof(float) * area * B)) || !(s->b.labels = malloc(sizeof(int) * B)) ||
              !(s->b.items = malloc(sizeof(int) * B)) || !(s->b.flipped = malloc(sizeof(bool) * B)) ||
              (!o->cache && !(s->u8 = malloc(area * B)));
    }
    if (bad) {
        ldm_error("loader", "out of memory (%d images of %dx%d, batch %d%s)", n, side, side, o->batch,
                  o->cache ? ", cache" : "");
        loader_free(l);
        return NULL;
    }
    for (int i = 0, k = 0; i < ds->n_items; i++)
        if (ds->items[i].split == o->split) l->ids[k++] = i;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (pthread_create(&l->thread, NULL, producer, l) != 0) {
        ldm_error("loader", "cannot start the prefetch thread");
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        loader_free(l);
        return NULL;
    }
    l->started = 1;
    return l;
}

const DataBatch *loader_next(Loader *l) {
    if (!l) {
        ldm_error("loader", "NULL loader");
        return NULL;
    }
    Slot *s = &l->slot[l->next_give % 2];
    pthread_mutex_lock(&l->mu);
    if (l->held >= 0) {
        l->slot[l->held].state = SLOT_FREE;
        l->held = -1;
        pthread_cond_broadcast(&l->cv);
    }
    while (s->state != SLOT_READY && s->state != SLOT_ERROR) pthread_cond_wait(&l->cv, &l->mu);
    int err = s->state == SLOT_ERROR;
    if (!err) {
        s->state = SLOT_HELD;
        l->held = (int)(l->next_give % 2);
        l->next_give++;
    }
    pthread_mutex_unlock(&l->mu);
    if (err) {
        ldm_error("loader", "%s", s->err);
        return NULL;
    }
    return &s->b;
}

int loader_batches_per_epoch(const Loader *l) { return l ? l->per_epoch : 0; }
int loader_side(const Loader *l) { return l ? l->side : 0; }
size_t loader_cache_bytes(const Loader *l) { return l && l->cache ? (size_t)l->n * l->side * l->side * l->channels : 0; }

void loader_free(Loader *l) {
    if (!l) return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
    }
    for (int i = 0; i < 2; i++) {
        Slot *s = &l->slot[i];
        free(s->b.x), free(s->b.labels), free(s->b.items), free(s->b.flipped), free(s->u8);
    }
    free(l->ids), free(l->perm), free(l->cache), free(l->cached);
    free(l);
}

int loader_batch_to_tensor(const DataBatch *b, Tensor *x) {
    if (!b || !x) return ldm_error("loader", "NULL batch or tensor");
    if (x->ndim != 4 || x->shape[0] != b->n || x->shape[1] != b->side || x->shape[2] != b->side || x->shape[3] != b->channels)
        return ldm_error("loader", "tensor %s, batch needs (%d, %d, %d, %d)", tshape(x), b->n, b->side, b->side, b->channels);
    return tensor_from_host(x, b->x);
}
