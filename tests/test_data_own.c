/* tests/test_data_own.c — "bring your own images": class folders named the ways people
 * name them, each checked for the split it gets, the classes it yields and the channels
 * the loader hands out.
 *   prefix per class       bag/bag_000.png, boot/boot_000.png   split by image, both classes
 *   same names per class   a/img_001.png, b/img_001.png         split by image, no collisions
 *   numeric names          cats/0.jpg, dogs/0.jpg               split by image
 *   ADNI names in classes  AD/1000_60.png                       by image + a hint; --group-by
 *                                                               prefix or a pattern: by patient
 *   mixed files            gray, RGB, RGBA, 16-bit PNGs, RGB JPEG, and a class of two images
 */
#include <criterion/criterion.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "tests/util/data_fixtures.h"
#include "train/train_data.h"

static char *tmp;
static void setup(void) { cr_assert((tmp = fx_tmpdir())); }
static void teardown(void) {
    fx_rmtree(tmp);
    free(tmp);
}
TestSuite(own, .init = setup, .fini = teardown);

#define SIDE 12

static void gray_png(const char *rel, int seed) {
    uint8_t px[SIDE * SIDE];
    fx_pattern(px, SIDE, SIDE, seed);
    char *p = fx_path(tmp, rel);
    cr_assert_eq(fx_write_png(p, px, SIDE, SIDE, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
    free(p);
}

static void gray_jpeg(const char *rel, int seed) {
    uint8_t px[SIDE * SIDE];
    fx_pattern(px, SIDE, SIDE, seed);
    char *p = fx_path(tmp, rel);
    cr_assert_eq(fx_write_jpeg(p, px, SIDE, SIDE, 1, 95), 0);
    free(p);
}

static Dataset *open_as(const char *rel, DataGroupBy g, const char *pattern) {
    DataOptions o;
    data_options_default(&o);
    o.group_by = g;
    o.group_pattern = pattern;
    char *p = fx_path(tmp, rel);
    Dataset *ds = dataset_open(p, &o);
    free(p);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    return ds;
}

static int has_note(const Dataset *ds, const char *what) {
    for (int i = 0; i < ds->n_notes; i++)
        if (strstr(ds->notes[i].why, what)) return 1;
    return 0;
}

/* The loader yields (n, side, side, C) for C = 1 and 3; these fixtures are gray, so
 * with C = 3 every pixel has R = G = B, equal to the C = 1 value. */
static void expect_channels(const Dataset *ds) {
    LoaderOptions o;
    loader_options_default(&o);
    o.batch = 2, o.shuffle = false;
    o.tf = (DataTransform){.size = SIDE, .fit = FIT_PAD, .channels = 1};
    Loader *g = loader_create(ds, &o);
    o.tf.channels = 3;
    Loader *c = loader_create(ds, &o);
    cr_assert(g && c, "%s", ldm_last_error());
    const DataBatch *bg = loader_next(g), *bc = loader_next(c);
    cr_assert(bg && bc, "%s", ldm_last_error());
    cr_expect(bg->channels == 1 && bc->channels == 3);
    int bad = 0;
    for (int i = 0; i < 2 * SIDE * SIDE; i++)
        for (int k = 0; k < 3; k++) bad += bc->x[3 * i + k] != bg->x[i];
    cr_expect_eq(bad, 0, "gray in an RGB batch repeats in R, G, B");
    loader_free(g);
    loader_free(c);
}

/* Every class has images in train, and `val_each` of them in validation; the split
 * is by image (one group per image). */
static void expect_split_by_image(const Dataset *ds, int n_classes, int per_class, int val_each) {
    cr_expect_eq(ds->layout, LAYOUT_FOLDER);
    cr_assert_eq(ds->n_classes, n_classes);
    cr_expect_eq(ds->grouping, GROUP_IMAGE);
    cr_expect_eq(ds->n_patients, ds->n_items, "one group per image");
    cr_expect(strstr(ds->split_rule, "by image") != NULL, "%s", ds->split_rule);
    for (int c = 0; c < n_classes; c++) {
        cr_expect_eq(dataset_count(ds, SPLIT_VAL, c), val_each, "class %s", ds->classes[c]);
        cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, c), per_class - val_each, "class %s", ds->classes[c]);
    }
    expect_channels(ds);
}

Test(own, prefix_per_class_splits_by_image_with_every_class_in_train) {
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 20; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "shoes/%s/%s_%03d.png", c ? "boot" : "bag", c ? "boot" : "bag", i);
            gray_png(rel, 20 * c + i);
        }
    Dataset *ds = open_as("shoes", GROUP_AUTO, NULL);
    expect_split_by_image(ds, 2, 20, 2); /* a tenth of 40 images, 2 per class */
    cr_expect_str_eq(ds->classes[0], "bag");
    cr_expect_str_eq(ds->classes[1], "boot");
    cr_expect_not(has_note(ds, "look like"), "one prefix per class is a class name, not a patient");
    dataset_free(ds);
    /* the old rule, asked for: one "patient" per class, so a whole class moves */
    ds = open_as("shoes", GROUP_PREFIX, NULL);
    cr_expect_eq(ds->n_patients, 2);
    cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, -1), 40, "the last group of a class never leaves train");
    cr_expect(has_note(ds, "none held out"));
    dataset_free(ds);
}

Test(own, same_names_in_every_class_are_distinct_images) {
    for (int c = 0; c < 2; c++)
        for (int i = 1; i <= 10; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "ab/%c/img_%03d.png", 'a' + c, i);
            gray_png(rel, 10 * c + i);
        }
    Dataset *ds = open_as("ab", GROUP_AUTO, NULL);
    expect_split_by_image(ds, 2, 10, 1);
    cr_expect_eq(ds->n_patients, 20, "a/img_001 and b/img_001 are two images");
    dataset_free(ds);
}

Test(own, numeric_names_split_by_image) {
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 10; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "pets/%s/%d.jpg", c ? "dogs" : "cats", i);
            gray_jpeg(rel, 10 * c + i);
        }
    Dataset *ds = open_as("pets", GROUP_AUTO, NULL);
    expect_split_by_image(ds, 2, 10, 1);
    dataset_free(ds);
}

/* AD/<1000+p>_<60+s>.png and NC/<2000+p>_<60+s>.png: 5 patients x 4 slices per class. */
static void make_adni_named(void) {
    for (int c = 0; c < 2; c++)
        for (int p = 0; p < 5; p++)
            for (int s = 0; s < 4; s++) {
                char rel[64];
                snprintf(rel, sizeof rel, "scans/%s/%d_%d.png", c ? "NC" : "AD", 1000 * (c + 1) + p, 60 + s);
                gray_png(rel, c * 100 + p * 10 + s);
            }
}

static void expect_patient_disjoint(const Dataset *ds) {
    for (int i = 0; i < ds->n_items; i++)
        for (int j = 0; j < ds->n_items; j++)
            if (ds->items[i].patient == ds->items[j].patient)
                cr_expect_eq(ds->items[i].split, ds->items[j].split, "%s vs %s", ds->items[i].path, ds->items[j].path);
}

Test(own, adni_names_in_class_folders_by_image_with_a_hint_or_by_patient_when_asked) {
    make_adni_named();
    Dataset *ds = open_as("scans", GROUP_AUTO, NULL);
    expect_split_by_image(ds, 2, 20, 2);
    cr_expect(has_note(ds, "look like <patient>_<slice>"), "the hint names --group-by prefix");
    cr_expect(has_note(ds, "--group-by prefix"));
    dataset_free(ds);

    ds = open_as("scans", GROUP_PREFIX, NULL);
    cr_expect_eq(ds->grouping, GROUP_PREFIX);
    cr_expect_eq(ds->n_patients, 10);
    cr_expect_eq(dataset_count_patients(ds, SPLIT_VAL), 1, "a tenth of 10 patients");
    cr_expect_eq(dataset_count(ds, SPLIT_VAL, -1), 4, "all 4 slices of that patient");
    cr_expect(strstr(ds->split_rule, "--group-by prefix") != NULL, "%s", ds->split_rule);
    expect_patient_disjoint(ds);
    dataset_free(ds);

    ds = open_as("scans", GROUP_PATTERN, "^([0-9]+)_");
    cr_expect_eq(ds->grouping, GROUP_PATTERN);
    cr_expect_eq(ds->n_patients, 10, "the pattern's group names the patient");
    cr_expect_str_eq(ds->patients[ds->items[0].patient], "1000");
    expect_patient_disjoint(ds);
    dataset_free(ds);
}

Test(own, bad_pattern_is_an_error_naming_it) {
    make_adni_named();
    DataOptions o;
    data_options_default(&o);
    cr_assert_eq(group_by_parse("([0-9", &o), 0);
    char *p = fx_path(tmp, "scans");
    cr_expect_null(dataset_open(p, &o));
    cr_expect(strstr(ldm_last_error(), "([0-9") != NULL, "%s", ldm_last_error());
    free(p);
}

// ---------------------------------------------------------------------------
// mixed files: channels and depth

/* big/: 10 images of five kinds (2 each); small/: two gray images. Pixel (0, 0) of the
 * RGB files is pure red, of the 16-bit file the largest value. */
static void make_mixed(void) {
    for (int k = 0; k < 2; k++) {
        char rel[64];
        uint8_t rgb[SIDE * SIDE * 3], rgba[SIDE * SIDE * 4];
        uint16_t g16[SIDE * SIDE];
        for (int i = 0; i < SIDE * SIDE; i++) {
            rgb[3 * i] = rgba[4 * i] = (uint8_t)(i * 5);
            rgb[3 * i + 1] = rgba[4 * i + 1] = (uint8_t)(255 - i);
            rgb[3 * i + 2] = rgba[4 * i + 2] = 40;
            rgba[4 * i + 3] = (uint8_t)(i & 1 ? 255 : 0);
            g16[i] = (uint16_t)(i * 1200 / (SIDE * SIDE - 1)); /* a scan stored as 0..1200 */
        }
        rgb[0] = rgba[0] = 255, rgb[1] = rgba[1] = rgb[2] = rgba[2] = 0;
        snprintf(rel, sizeof rel, "mixed/big/gray_%d.png", k);
        gray_png(rel, k);
        snprintf(rel, sizeof rel, "mixed/big/rgb_%d.png", k);
        char *p = fx_path(tmp, rel);
        cr_assert_eq(fx_write_png(p, rgb, SIDE, SIDE, PNG_COLOR_TYPE_RGB, 8, NULL, 0, 0), 0);
        free(p);
        snprintf(rel, sizeof rel, "mixed/big/rgba_%d.png", k);
        p = fx_path(tmp, rel);
        cr_assert_eq(fx_write_png(p, rgba, SIDE, SIDE, PNG_COLOR_TYPE_RGB_ALPHA, 8, NULL, 0, 0), 0);
        free(p);
        snprintf(rel, sizeof rel, "mixed/big/deep_%d.png", k);
        p = fx_path(tmp, rel);
        cr_assert_eq(fx_write_png(p, g16, SIDE, SIDE, PNG_COLOR_TYPE_GRAY, 16, NULL, 0, 0), 0);
        free(p);
        snprintf(rel, sizeof rel, "mixed/big/photo_%d.jpg", k);
        p = fx_path(tmp, rel);
        cr_assert_eq(fx_write_jpeg(p, rgb, SIDE, SIDE, 3, 95), 0);
        free(p);
        snprintf(rel, sizeof rel, "mixed/small/s_%d.png", k);
        gray_png(rel, 50 + k);
    }
}

static int item_named(const Dataset *ds, const char *name) {
    for (int i = 0; i < ds->n_items; i++)
        if (strstr(ds->items[i].path, name)) return i;
    cr_assert_fail("no item %s", name);
    return -1;
}

Test(own, mixed_files_report_their_sources_and_a_class_of_two_stays_in_train) {
    make_mixed();
    Dataset *ds = open_as("mixed", GROUP_AUTO, NULL);
    int colour, alpha, deep;
    dataset_count_sources(ds, &colour, &alpha, &deep);
    cr_expect_eq(colour, 6, "rgb, rgba and the JPEG");
    cr_expect_eq(alpha, 2);
    cr_expect_eq(deep, 2);
    cr_assert_eq(ds->n_classes, 2);
    cr_expect_str_eq(ds->classes[1], "small");
    cr_expect_eq(dataset_count(ds, SPLIT_VAL, 0), 1, "a tenth of 12: one, from the big class");
    cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, 1), 2, "the class of two keeps both");
    cr_expect(has_note(ds, "none held out"), "the small class gets a note");
    dataset_free(ds);
}

Test(own, channels_3_yields_rgb_and_channels_1_the_bt601_luma) {
    make_mixed();
    Dataset *ds = open_as("mixed", GROUP_AUTO, NULL);
    int rgb = item_named(ds, "rgb_0.png"), rgba = item_named(ds, "rgba_0.png"), gray = item_named(ds, "gray_0.png");
    Image im;
    cr_assert_eq(dataset_item_image(ds, rgb, 3, &im), 0, "%s", ldm_last_error());
    cr_expect_eq(im.c, 3);
    cr_expect(im.px[0] == 255 && im.px[1] == 0 && im.px[2] == 0, "red stays red: %d %d %d", im.px[0], im.px[1], im.px[2]);
    cr_expect(im.px[3] == 5 && im.px[4] == 254 && im.px[5] == 40);
    gray_free(&im);
    cr_assert_eq(dataset_item_image(ds, rgba, 3, &im), 0, "%s", ldm_last_error());
    cr_expect(im.px[3] == 5 && im.px[4] == 254 && im.px[5] == 40, "alpha dropped, colour kept");
    gray_free(&im);
    cr_assert_eq(dataset_item_image(ds, rgb, 1, &im), 0, "%s", ldm_last_error());
    cr_expect_eq(im.c, 1);
    cr_expect_eq(im.px[0], 76, "Y of pure red = 0.299 * 255");
    cr_expect_eq(im.px[1], (19595u * 5 + 38470u * 254 + 7471u * 40 + 32768u) >> 16);
    gray_free(&im);
    cr_assert_eq(dataset_item_image(ds, gray, 3, &im), 0, "%s", ldm_last_error());
    cr_expect(im.px[3] == im.px[4] && im.px[4] == im.px[5], "gray repeats in R, G, B");
    gray_free(&im);

    /* the loader: (n, side, side, 3) floats; pure red at pixel 0 of the RGB image */
    LoaderOptions o;
    loader_options_default(&o);
    o.batch = 12, o.shuffle = false, o.drop_last = false, o.split = SPLIT_TRAIN;
    o.tf = (DataTransform){.size = SIDE, .fit = FIT_PAD, .channels = 3};
    Loader *l = loader_create(ds, &o);
    cr_assert_not_null(l, "%s", ldm_last_error());
    const DataBatch *b = loader_next(l);
    cr_assert_not_null(b, "%s", ldm_last_error());
    cr_expect_eq(b->channels, 3);
    int found = 0; /* rgb_0 or rgb_1: one of them is in train */
    for (int k = 0; k < b->n; k++)
        if (strstr(ds->items[b->items[k]].path, "/rgb_")) {
            const float *x = b->x + (size_t)k * SIDE * SIDE * 3;
            cr_expect(x[0] == 1.0f && x[1] == -1.0f && x[2] == -1.0f, "%g %g %g", x[0], x[1], x[2]);
            found++;
        }
    cr_expect_geq(found, 1);
    loader_free(l);
    dataset_free(ds);
}

Test(own, png16_is_windowed_not_scaled_over_65535) {
    make_mixed();
    Dataset *ds = open_as("mixed", GROUP_AUTO, NULL);
    Image im;
    cr_assert_eq(dataset_item_image(ds, item_named(ds, "deep_0.png"), 1, &im), 0, "%s", ldm_last_error());
    int mx = 0;
    for (int i = 0; i < SIDE * SIDE; i++) mx = im.px[i] > mx ? im.px[i] : mx;
    cr_expect_eq(im.px[0], 0);
    cr_expect_eq(mx, 255, "0..1200 fills 0..255 (scaled over 65535 it would end at %d)", 1200 * 255 / 65535);
    cr_expect_gt(im.px[SIDE * SIDE / 2], 100, "the middle of the ramp is mid-gray");
    gray_free(&im);
    dataset_free(ds);
}

// ---------------------------------------------------------------------------
// the transform on colour

Test(own, rgb_geometry_is_the_gray_geometry_of_each_plane) {
    enum { W = 13, H = 9 };
    uint8_t planes[3][W * H], rgb[W * H * 3];
    for (int c = 0; c < 3; c++) fx_pattern(planes[c], W, H, 7 * c + 1);
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 3; c++) rgb[3 * i + c] = planes[c][i];
    DataTransform gray = {.size = 6, .fit = FIT_PAD, .background = 9}, col = gray;
    col.channels = 3;
    uint8_t want[3][36], got[36 * 3];
    for (int c = 0; c < 3; c++) cr_assert_eq(transform_geometry(&gray, planes[c], W, H, want[c], NULL), 0);
    cr_assert_eq(transform_geometry(&col, rgb, W, H, got, NULL), 0, "%s", ldm_last_error());
    for (int i = 0; i < 36; i++)
        for (int c = 0; c < 3; c++) cr_expect_eq(got[3 * i + c], want[c][i], "pixel %d channel %d", i, c);
    /* a flip mirrors pixels, not bytes: channel order is kept */
    float f[36 * 3];
    transform_to_float_ch(got, 6, 3, true, f);
    for (int c = 0; c < 3; c++) cr_expect_float_eq(f[c], got[3 * 5 + c] / 127.5f - 1.0f, 1e-6, "channel %d", c);
    /* the text form says channels=3, and reads it back */
    char s[128];
    DataTransform back = {0};
    cr_assert_eq(transform_format(&col, s, sizeof s), 0);
    cr_expect(strstr(s, ",channels=3") != NULL, "%s", s);
    cr_assert_eq(transform_parse(s, &back), 0, "%s", ldm_last_error());
    cr_expect_eq(back.channels, 3);
    cr_expect_eq(transform_parse("channels=2", &back), -1);
}

/* The U-Net's cache of flipped latents mirrors float images; it must agree with the
 * loader's flip of the same pixels, channel by channel. */
Test(own, train_mirror_matches_the_loader_flip) {
    enum { S = 5 };
    uint8_t px[2 * S * S * 3];
    for (int i = 0; i < 2 * S * S * 3; i++) px[i] = (uint8_t)(i * 37 % 251);
    for (int C = 1; C <= 3; C += 2) {
        float a[2 * S * S * 3], b[2 * S * S * 3];
        for (int k = 0; k < 2; k++) {
            transform_to_float_ch(px + k * S * S * C, S, C, false, a + k * S * S * C);
            transform_to_float_ch(px + k * S * S * C, S, C, true, b + k * S * S * C);
        }
        train_mirror(a, 2, S, C);
        int bad = 0;
        for (int i = 0; i < 2 * S * S * C; i++) bad += a[i] != b[i];
        cr_expect_eq(bad, 0, "C=%d: %d values differ", C, bad);
    }
}
