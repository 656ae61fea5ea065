/* tests/test_data_loader.c — the batch stream: epochs are permutations, batches hold
 * exactly the transformed items they name, order is a function of the seed, resume
 * and cache change nothing, flips are mirrored images, and a bad file mid-stream is an
 * error naming it. */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/loader.h"
#include "tests/util/data_fixtures.h"

static char *tmp;
static Dataset *ds;

/* 50 IDX images of 6 x 5 with a per-image pattern, labels i % 3 (45 train, 5 val). */
static void setup(void) {
    cr_assert((tmp = fx_tmpdir()));
    int n = 50;
    uint8_t img[50 * 30], lab[50];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 30; k++) img[i * 30 + k] = (uint8_t)((i * 37 + k * 11) & 255);
        lab[i] = (uint8_t)(i % 3);
    }
    size_t bn;
    uint8_t *b = fx_idx_bytes(img, 3, (int[]){n, 6, 5}, &bn);
    char *p = fx_path(tmp, "train-images-idx3-ubyte");
    fx_write_buf(p, b, bn, 0);
    free(p);
    free(b);
    b = fx_idx_bytes(lab, 1, (int[]){n}, &bn);
    p = fx_path(tmp, "train-labels-idx1-ubyte");
    fx_write_buf(p, b, bn, 0);
    free(p);
    free(b);
    ds = dataset_open(tmp, NULL);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_assert_eq(dataset_count(ds, SPLIT_TRAIN, -1), 45);
}
static void teardown(void) {
    dataset_free(ds);
    fx_rmtree(tmp);
    free(tmp);
}
TestSuite(loader, .init = setup, .fini = teardown);

static LoaderOptions opts(int batch, uint64_t seed) {
    LoaderOptions o;
    loader_options_default(&o);
    o.batch = batch, o.seed = seed, o.tf.size = 0; /* 6x5 padded to 6x6 */
    return o;
}

/* The batch's image i against the item it names, transformed independently. */
static void expect_matches_item(const DataBatch *b, int i, const DataTransform *tf) {
    int side = b->side;
    uint8_t *px = malloc((size_t)side * side);
    cr_assert_eq(dataset_item_geometry(ds, b->items[i], tf, px, NULL), 0);
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            int sx = b->flipped[i] ? side - 1 - x : x;
            float want = px[y * side + sx] / 127.5f - 1.0f, got = b->x[((size_t)i * side + y) * side + x];
            cr_expect(fabsf(got - want) < 1e-6f, "batch %lld image %d (%d,%d): %g, want %g", b->index, i, x, y, got, want);
        }
    cr_expect_eq(b->labels[i], ds->items[b->items[i]].label);
    cr_expect_eq(ds->items[b->items[i]].split, SPLIT_TRAIN);
    free(px);
}

Test(loader, epochs_are_permutations_of_the_split) {
    LoaderOptions o = opts(8, 3);
    Loader *l = loader_create(ds, &o);
    cr_assert_not_null(l, "%s", ldm_last_error());
    cr_expect_eq(loader_batches_per_epoch(l), 5, "45 / 8, last partial batch dropped");
    cr_expect_eq(loader_side(l), 6);
    for (int e = 0; e < 3; e++) {
        int seen[50] = {0};
        for (int k = 0; k < 5; k++) {
            const DataBatch *b = loader_next(l);
            cr_assert_not_null(b, "%s", ldm_last_error());
            cr_expect_eq(b->n, 8);
            cr_expect_eq(b->epoch, e);
            cr_expect_eq(b->index, e * 5 + k);
            for (int i = 0; i < b->n; i++) {
                cr_expect_eq(seen[b->items[i]]++, 0, "item %d twice in epoch %d", b->items[i], e);
                expect_matches_item(b, i, &o.tf);
            }
        }
    }
    loader_free(l);
}

static void collect(const LoaderOptions *o, int n_batches, int *items, uint8_t *flips, float *x0) {
    Loader *l = loader_create(ds, o);
    cr_assert_not_null(l, "%s", ldm_last_error());
    for (int k = 0; k < n_batches; k++) {
        const DataBatch *b = loader_next(l);
        cr_assert_not_null(b, "%s", ldm_last_error());
        for (int i = 0; i < b->n; i++) {
            items[k * o->batch + i] = b->items[i];
            flips[k * o->batch + i] = b->flipped[i];
        }
        if (x0) memcpy(x0 + (size_t)k * o->batch * 36, b->x, sizeof(float) * b->n * 36);
    }
    loader_free(l);
}

Test(loader, order_is_a_function_of_the_seed) {
    enum { NB = 12, B = 7 };
    int a[NB * B], b[NB * B], c[NB * B];
    uint8_t fa[NB * B], fb[NB * B], fc[NB * B];
    LoaderOptions o = opts(B, 11);
    o.tf.hflip = true;
    collect(&o, NB, a, fa, NULL);
    collect(&o, NB, b, fb, NULL);
    cr_expect_eq(memcmp(a, b, sizeof a), 0, "same seed, same order");
    cr_expect_eq(memcmp(fa, fb, sizeof fa), 0, "same seed, same flips");
    o.seed = 12;
    collect(&o, NB, c, fc, NULL);
    cr_expect_neq(memcmp(a, c, sizeof a), 0, "another seed, another order");
    int nflip = 0;
    for (int i = 0; i < NB * B; i++) nflip += fa[i];
    cr_expect(nflip > NB * B / 4 && nflip < NB * B * 3 / 4, "%d of %d flipped", nflip, NB * B);
}

Test(loader, resume_at_start_batch_and_cache_change_nothing) {
    enum { NB = 14, B = 6 };
    int a[NB * B], r[NB * B], c[NB * B];
    uint8_t fa[NB * B], fr[NB * B], fc[NB * B];
    float *xa = malloc(sizeof(float) * NB * B * 36), *xc = malloc(sizeof(float) * NB * B * 36);
    LoaderOptions o = opts(B, 5);
    o.tf.hflip = true;
    collect(&o, NB, a, fa, xa);
    o.start_batch = 9;
    collect(&o, NB - 9, r, fr, NULL);
    cr_expect_eq(memcmp(a + 9 * B, r, sizeof(int) * (NB - 9) * B), 0, "resumed stream = tail of the full stream");
    cr_expect_eq(memcmp(fa + 9 * B, fr, (size_t)(NB - 9) * B), 0);
    o.start_batch = 0;
    o.cache = true;
    collect(&o, NB, c, fc, xc);
    cr_expect_eq(memcmp(a, c, sizeof a), 0);
    cr_expect_eq(memcmp(xa, xc, sizeof(float) * NB * B * 36), 0, "cached batches are bit-identical");
    free(xa);
    free(xc);
}

Test(loader, no_shuffle_keeps_file_order_and_partial_last_batch) {
    LoaderOptions o = opts(20, 0);
    o.shuffle = false, o.drop_last = false;
    Loader *l = loader_create(ds, &o);
    cr_assert_not_null(l, "%s", ldm_last_error());
    cr_expect_eq(loader_batches_per_epoch(l), 3);
    int prev = -1, total = 0, first = -1;
    for (int k = 0; k < 3; k++) {
        const DataBatch *b = loader_next(l);
        cr_assert_not_null(b);
        if (k == 0) first = b->items[0];
        cr_expect_eq(b->n, k < 2 ? 20 : 5);
        for (int i = 0; i < b->n; i++, total++) {
            cr_expect_gt(b->items[i], prev);
            prev = b->items[i];
            cr_expect(!b->flipped[i]);
        }
    }
    cr_expect_eq(total, 45);
    const DataBatch *b = loader_next(l);
    cr_expect_eq(b->epoch, 1);
    cr_expect_eq(b->items[0], first, "the next epoch starts over in the same order");
    loader_free(l);
}

Test(loader, batch_to_tensor_checks_the_shape) {
    LoaderOptions o = opts(4, 1);
    Loader *l = loader_create(ds, &o);
    const DataBatch *b = loader_next(l);
    cr_assert_not_null(b);
    Tensor *x = tensor_new4(NULL, DEV_CPU, 4, 6, 6, 1), *bad = tensor_new4(NULL, DEV_CPU, 4, 6, 6, 3);
    cr_assert_eq(loader_batch_to_tensor(b, x), 0, "%s", ldm_last_error());
    cr_expect_eq(memcmp(x->data, b->x, sizeof(float) * 4 * 36), 0);
    cr_expect_eq(loader_batch_to_tensor(b, bad), -1);
    cr_expect(strstr(ldm_last_error(), "(4, 6, 6, 3)") != NULL, "%s", ldm_last_error());
    tensor_free(x);
    tensor_free(bad);
    loader_free(l);
}

Test(loader, bad_options) {
    LoaderOptions o = opts(0, 1);
    cr_expect_null(loader_create(ds, &o));
    cr_expect(strstr(ldm_last_error(), "batch 0") != NULL, "%s", ldm_last_error());
    o = opts(46, 1);
    cr_expect_null(loader_create(ds, &o));
    cr_expect(strstr(ldm_last_error(), "fewer than one batch") != NULL, "%s", ldm_last_error());
    o = opts(4, 1);
    o.split = SPLIT_TEST;
    cr_expect_null(loader_create(ds, &o), "the IDX fixture has no test split");
    o = opts(4, 1);
    o.tf.size = -3;
    cr_expect_null(loader_create(ds, &o));
    cr_expect_null(loader_next(NULL));
}

Test(loader, corrupt_file_mid_stream_is_an_error_naming_it) {
    char *dir = fx_tmpdir();
    uint8_t px[16 * 16];
    for (int i = 0; i < 12; i++) {
        char rel[32];
        snprintf(rel, sizeof rel, "img_%02d.png", i);
        char *p = fx_path(dir, rel);
        fx_pattern(px, 16, 16, i);
        cr_assert_eq(fx_write_png(p, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
        free(p);
    }
    DataOptions d;
    data_options_default(&d);
    d.verify = false, d.val_patients = 0;
    Dataset *fs = dataset_open(dir, &d);
    cr_assert_not_null(fs, "%s", ldm_last_error());
    char *p = fx_path(dir, "img_07.png");
    fx_write_buf(p, "\x89PNG\r\n\x1a\n garbage", 17, 0);
    free(p);
    LoaderOptions o = opts(4, 0);
    o.shuffle = false;
    Loader *l = loader_create(fs, &o);
    cr_assert_not_null(l, "%s", ldm_last_error());
    cr_expect_not_null(loader_next(l), "batch 0: images 0-3");
    cr_expect_null(loader_next(l), "batch 1 holds img_07");
    cr_expect(strstr(ldm_last_error(), "img_07.png") != NULL, "%s", ldm_last_error());
    cr_expect_null(loader_next(l), "the error sticks");
    loader_free(l);
    dataset_free(fs);
    fx_rmtree(dir);
    free(dir);
}
