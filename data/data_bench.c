/* data/data_bench.c — data loader throughput (see data_bench.h).
 *
 * Napkin math: a 256x240 JPEG is ~61 K pixels; libjpeg-turbo's SIMD decoder runs at
 * roughly 100-200 Mpixel/s per core for gray baseline, i.e. 0.3-0.6 ms per slice, so
 * 2 cores should give ~3000-6000 slices/s before file I/O; the 256 -> 64 area resize
 * adds ~0.1 M multiply-adds per image (~0.05 ms).
 */
#include "data/data_bench.h"

#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"

static double clock_s(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

// ---------------------------------------------------------------------------
// synthetic ADNI

static int write_jpeg(const char *path, const uint8_t *px, int w, int h) {
    FILE *f = fopen(path, "wb");
    if (!f) return ldm_error("data_bench", "%s: %s", path, strerror(errno));
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = 1, c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f) ? ldm_error("data_bench", "%s: write failed", path) : 0;
}

/* A bright textured ellipse ("head") on black, different per patient and slice. */
static void synth_slice(uint8_t *px, int w, int h, int patient, int slice) {
    uint64_t s = (uint64_t)patient * 1000003u + (uint64_t)slice * 7919u + 1;
    double rx = 0.38 * w + (patient % 7), ry = 0.42 * h - (slice % 5);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double dx = (x - w / 2.0) / rx, dy = (y - h / 2.0) / ry, r2 = dx * dx + dy * dy;
            int v = 0;
            if (r2 < 1) v = 90 + (int)(60 * (1 - r2)) + (int)(40 * ((x / 9 + y / 7 + slice) % 3 == 0)) + (int)((s >> 59) & 15);
            px[(size_t)y * w + x] = (uint8_t)(v > 255 ? 255 : v);
        }
}

static int make_synthetic(const char *root, int images) {
    static const char *dirs[] = {"AD_NC", "AD_NC/train", "AD_NC/test", "AD_NC/train/AD", "AD_NC/train/NC",
                                 "AD_NC/test/AD", "AD_NC/test/NC"};
    char p[4096];
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        if (mkdir(p, 0755) && errno != EEXIST) return ldm_error("data_bench", "%s: %s", p, strerror(errno));
    }
    enum { W = 256, H = 240, SLICES = 20 };
    uint8_t *px = malloc(W * H);
    if (!px) return ldm_error("data_bench", "out of memory");
    int rc = 0, test_every = 10; /* 1 in 10 images goes to test, so ADNI's validation rule has patients */
    for (int i = 0; i < images && !rc; i++) {
        int patient = i / SLICES, slice = i % SLICES;
        const char *split = (patient / 2) % test_every == 0 ? "test" : "train", *cls = patient % 2 ? "NC" : "AD";
        snprintf(p, sizeof p, "%s/AD_NC/%s/%s/%d_%d.jpeg", root, split, cls, 100000 + patient, slice);
        synth_slice(px, W, H, patient, slice);
        rc = write_jpeg(p, px, W, H);
    }
    free(px);
    return rc;
}

static int remove_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void remove_tree(const char *root) {
    if (nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) fprintf(stderr, "data_bench: could not remove %s\n", root);
}

// ---------------------------------------------------------------------------
// measurements

static int run(const char *path, const DataBenchOptions *o, DataBenchResult *r, FILE *out) {
    DataOptions dopt;
    data_options_default(&dopt);
    dopt.threads = o->threads;
    double t0 = now_s();
    Dataset *ds = dataset_open(path, &dopt);
    if (!ds) return -1;
    double t_open = now_s() - t0;
    LoaderOptions lo;
    loader_options_default(&lo);
    lo.batch = o->batch, lo.threads = o->threads, lo.tf.size = o->size;
    int n = dataset_count(ds, SPLIT_TRAIN, -1), side = transform_out_side(&lo.tf, ds->w, ds->h);
    uint8_t *px = side > 0 ? malloc((size_t)side * side) : NULL;
    int rc = px ? 0 : -1;
    r->images = n;
    /* (1) and (2): one thread, every training image */
    double t_dec = now_s();
    for (int i = 0; i < ds->n_items && !rc; i++) {
        if (ds->items[i].split != SPLIT_TRAIN) continue;
        GrayImage im;
        rc = dataset_item_gray(ds, i, &im);
        gray_free(&im);
    }
    t_dec = now_s() - t_dec;
    TransformWork *ws = transform_work_new();
    double t_tf = now_s();
    for (int i = 0; i < ds->n_items && !rc; i++)
        if (ds->items[i].split == SPLIT_TRAIN) rc = dataset_item_geometry(ds, i, &lo.tf, px, ws);
    t_tf = now_s() - t_tf;
    transform_work_free(ws);
    /* (3): the loader; the first batch (thread start-up) is not timed */
    Loader *l = rc ? NULL : loader_create(ds, &lo);
    long long imgs = 0;
    double t_ld = 0, c_ld = 0;
    if (!l) rc = -1;
    else {
        const DataBatch *b = loader_next(l);
        int total = o->epochs * loader_batches_per_epoch(l);
        t_ld = now_s(), c_ld = cpu_s();
        for (int k = 1; k < total && b; k++)
            if ((b = loader_next(l))) imgs += b->n;
        t_ld = now_s() - t_ld, c_ld = cpu_s() - c_ld;
        if (!b) rc = -1;
        loader_free(l);
    }
    if (!rc) {
        r->decode_per_s = n / t_dec;
        r->transform_per_s = n / t_tf;
        r->loader_per_s = imgs / t_ld;
        r->loader_per_cpu_s = imgs / c_ld;
        if (out) {
            fprintf(out, "data bench: %s, %d training images of %dx%d -> %dx%d (open + verify %.2f s on %d threads)\n",
                    path, n, ds->w, ds->h, side, side, t_open, o->threads);
            fprintf(out, "  %-44s %10.0f images/s\n", "decode, 1 thread", r->decode_per_s);
            fprintf(out, "  %-44s %10.0f images/s\n", "decode + transform, 1 thread", r->transform_per_s);
            char what[96];
            snprintf(what, sizeof what, "loader, %d threads, batch %d, no cache", o->threads, o->batch);
            fprintf(out, "  %-44s %10.0f images/s   (target >= 1500)\n", what, r->loader_per_s);
            fprintf(out, "  %-44s %10.0f images/s   (%.0f per CPU-second: the rate on %d free cores)\n",
                    "loader, CPU-time based", r->loader_per_cpu_s * o->threads, r->loader_per_cpu_s, o->threads);
        }
    }
    free(px);
    dataset_free(ds);
    return rc;
}

int data_bench(const DataBenchOptions *opt, DataBenchResult *r, FILE *out) {
    DataBenchOptions o = *opt;
    if (o.images <= 0) o.images = 2000;
    if (o.threads <= 0) o.threads = 2;
    if (o.batch <= 0) o.batch = 32;
    if (o.size <= 0) o.size = 64;
    if (o.epochs <= 0) o.epochs = 2;
    *r = (DataBenchResult){0};
    if (o.path) return run(o.path, &o, r, out);
    char root[] = "/tmp/ldm-data-bench-XXXXXX";
    if (!mkdtemp(root)) return ldm_error("data_bench", "cannot make a temporary folder: %s", strerror(errno));
    if (out) fprintf(out, "data bench: writing %d synthetic 256x240 JPEGs under %s\n", o.images, root), fflush(out);
    int rc = make_synthetic(root, o.images);
    if (!rc) rc = run(root, &o, r, out);
    remove_tree(root);
    return rc;
}
