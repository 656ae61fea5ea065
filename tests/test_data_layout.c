/* tests/test_data_layout.c — each layout built in a temporary folder: labels, counts,
 * patients, the patient-disjoint validation split, and every bad-input case. */
#include <criterion/criterion.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "data/dataset.h"
#include "tests/util/data_fixtures.h"
#include "tests/util/testutil.h"

static char *tmp;
static void setup(void) { cr_assert((tmp = fx_tmpdir())); }
static void teardown(void) {
    fx_rmtree(tmp);
    free(tmp);
}
TestSuite(layout, .init = setup, .fini = teardown);

#define W 32
#define H 30

static void jpeg_at(const char *rel, int seed, int w, int h) {
    uint8_t *px = malloc((size_t)w * h);
    fx_pattern(px, w, h, seed);
    char *p = fx_path(tmp, rel);
    cr_assert_eq(fx_write_jpeg(p, px, w, h, 1, 95), 0);
    free(p);
    free(px);
}

static void png_at(const char *rel, int seed, int w, int h) {
    uint8_t *px = malloc((size_t)w * h);
    fx_pattern(px, w, h, seed);
    char *p = fx_path(tmp, rel);
    cr_assert_eq(fx_write_png(p, px, w, h, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
    free(p);
    free(px);
}

/* ADNI: per split and class, `patients` patients of `slices` slices; patient ids
 * 1000 (train AD), 2000 (train NC), 3000 (test AD), 4000 (test NC) + i. */
static void make_adni(int train_pat, int test_ad, int test_nc, int slices) {
    const char *dirs[4] = {"AD_NC/train/AD", "AD_NC/train/NC", "AD_NC/test/AD", "AD_NC/test/NC"};
    int counts[4] = {train_pat, train_pat, test_ad, test_nc};
    for (int d = 0; d < 4; d++)
        for (int p = 0; p < counts[d]; p++)
            for (int s = 0; s < slices; s++) {
                char rel[128];
                snprintf(rel, sizeof rel, "%s/%d_%d.jpeg", dirs[d], 1000 * (d + 1) + p, 60 + s);
                jpeg_at(rel, d * 100 + p * 10 + s, W, H);
            }
}

static Dataset *open_with(const char *rel, void (*tweak)(DataOptions *)) {
    DataOptions o;
    data_options_default(&o);
    if (tweak) tweak(&o);
    char *p = fx_path(tmp, rel);
    Dataset *ds = dataset_open(p, &o);
    free(p);
    return ds;
}

static void expect_open_error(const char *rel, void (*tweak)(DataOptions *), const char *m1, const char *m2) {
    Dataset *ds = open_with(rel, tweak);
    cr_expect_null(ds);
    const char *m = ldm_last_error();
    cr_expect(strstr(m, m1) != NULL, "error '%s' should mention '%s'", m, m1);
    if (m2) cr_expect(strstr(m, m2) != NULL, "error '%s' should mention '%s'", m, m2);
    dataset_free(ds);
}

static int patient_id(const Dataset *ds, int item) { return atoi(ds->patients[ds->items[item].patient]); }

// ---------------------------------------------------------------------------
// ADNI

Test(layout, adni_labels_counts_and_patients) {
    make_adni(3, 6, 4, 4);
    Dataset *ds = open_with("", NULL); /* the parent of AD_NC works too */
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->layout, LAYOUT_ADNI);
    cr_assert_eq(ds->n_classes, 2);
    cr_expect_str_eq(ds->classes[0], "AD");
    cr_expect_str_eq(ds->classes[1], "NC");
    cr_expect_eq(ds->w, W);
    cr_expect_eq(ds->h, H);
    cr_expect_eq(ds->n_items, (3 + 3 + 6 + 4) * 4);
    cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, 0), 12);
    cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, 1), 12);
    cr_expect_eq(dataset_count(ds, SPLIT_VAL, -1) + dataset_count(ds, SPLIT_TEST, -1), 40);
    cr_expect_eq(ds->n_patients, 16);
    for (int i = 0; i < ds->n_items; i++) {
        const DataItem *it = &ds->items[i];
        int want = strstr(it->path, "/AD/") ? 0 : 1;
        cr_expect_eq(it->label, want, "%s labelled %d", it->path, it->label);
        int pid = patient_id(ds, i), d = pid / 1000 - 1;
        cr_expect_eq(want, d % 2, "%s: patient %d", it->path, pid);
        cr_expect_eq(it->split == SPLIT_TRAIN, d < 2, "%s in split %d", it->path, it->split);
    }
    /* default rule: n_train / 100 patients = 0 -> at least 1, out of the test set */
    cr_expect_eq(dataset_count_patients(ds, SPLIT_VAL), 1);
    dataset_free(ds);
}

static void val5_seed1(DataOptions *o) { o->val_patients = 5, o->seed = 1; }
static void val5_seed2(DataOptions *o) { o->val_patients = 5, o->seed = 2; }

static unsigned long long val_set(const Dataset *ds) { /* bit per test patient: 3000+i -> i, 4000+i -> 32+i */
    unsigned long long m = 0;
    for (int i = 0; i < ds->n_items; i++)
        if (ds->items[i].split == SPLIT_VAL) {
            int pid = patient_id(ds, i);
            m |= 1ull << (pid >= 4000 ? 32 + pid - 4000 : pid - 3000);
        }
    return m;
}

Test(layout, adni_validation_is_patient_disjoint_stratified_and_seeded) {
    make_adni(2, 10, 10, 3);
    Dataset *a = open_with("AD_NC", val5_seed1), *b = open_with("AD_NC", val5_seed1), *c = open_with("AD_NC", val5_seed2);
    cr_assert(a && b && c, "%s", ldm_last_error());
    cr_expect_eq(dataset_count_patients(a, SPLIT_VAL), 5);
    cr_expect_eq(dataset_count_patients(a, SPLIT_TEST), 15);
    cr_expect_eq(dataset_count_patients(a, SPLIT_TRAIN), 4);
    /* stratified: 10 AD and 10 NC test patients -> 3 + 2 or 2 + 3 */
    int ad = dataset_count(a, SPLIT_VAL, 0) / 3, nc = dataset_count(a, SPLIT_VAL, 1) / 3;
    cr_expect(ad + nc == 5 && ad >= 2 && nc >= 2, "val AD %d NC %d", ad, nc);
    /* every image of a patient is in one split */
    for (int i = 0; i < a->n_items; i++)
        for (int j = 0; j < a->n_items; j++)
            if (a->items[i].patient == a->items[j].patient)
                cr_expect_eq(a->items[i].split, a->items[j].split, "%s vs %s", a->items[i].path, a->items[j].path);
    /* only test patients move */
    for (int i = 0; i < a->n_items; i++)
        if (a->items[i].split == SPLIT_VAL) cr_expect_geq(patient_id(a, i), 3000);
    cr_expect_eq(val_set(a), val_set(b), "same seed, same validation patients");
    cr_expect_neq(val_set(a), val_set(c), "another seed, other validation patients");
    dataset_free(a);
    dataset_free(b);
    dataset_free(c);
}

static void skip_bad(DataOptions *o) { o->skip_bad = true; }

Test(layout, adni_corrupt_truncated_nonimage_wrong_size_and_skip_bad) {
    make_adni(2, 2, 2, 2);
    char *p = fx_path(tmp, "AD_NC/train/AD/1000_60.jpeg");
    size_t n;
    uint8_t *b;
    cr_assert_eq(read_file(p, 1 << 20, &b, &n), 0);
    cr_assert_eq(fx_write_buf(p, b, n / 2, 0), 0); /* truncated */
    free(b);
    free(p);
    expect_open_error("AD_NC", NULL, "1000_60.jpeg", "--skip-bad");
    p = fx_path(tmp, "AD_NC/test/NC/readme.txt");
    cr_assert_eq(fx_write_buf(p, "not an image", 12, 0), 0);
    free(p);
    jpeg_at("AD_NC/train/NC/2000_99.jpeg", 5, 16, 16); /* wrong size */
    Dataset *ds = open_with("AD_NC", NULL);
    cr_expect_null(ds);
    cr_expect(strstr(ldm_last_error(), "3 bad files") != NULL, "%s", ldm_last_error());
    ds = open_with("AD_NC", skip_bad);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->n_skipped, 3);
    cr_expect_eq(ds->n_items, 16 + 1 - 2);
    int seen = 0;
    for (int i = 0; i < ds->n_skipped; i++) {
        const DataNote *s = &ds->skipped[i];
        if (strstr(s->path, "1000_60.jpeg")) seen |= 1;
        if (strstr(s->path, "readme.txt") && strstr(s->why, "not a PNG or JPEG")) seen |= 2;
        if (strstr(s->path, "2000_99.jpeg") && strstr(s->why, "16x16, expected 32x30")) seen |= 4;
    }
    cr_expect_eq(seen, 7, "skipped list names each file and why");
    dataset_free(ds);
}

Test(layout, adni_wrong_size_alone_names_file_and_sizes) {
    make_adni(1, 1, 1, 3);
    jpeg_at("AD_NC/test/AD/3000_99.jpeg", 1, 40, 30);
    expect_open_error("AD_NC", NULL, "3000_99.jpeg", "40x30, expected 32x30");
}

Test(layout, adni_empty_and_missing_folders) {
    make_adni(1, 1, 1, 1);
    char *p = fx_path(tmp, "AD_NC/test/NC/4000_60.jpeg");
    unlink(p);
    free(p);
    expect_open_error("AD_NC", NULL, "test/NC", "empty folder");
    p = fx_path(tmp, "AD_NC/test/NC");
    rmdir(p);
    free(p);
    expect_open_error("AD_NC", NULL, "missing folder test/NC", NULL);
    expect_open_error("no/such/place", NULL, "no/such/place", "No such file");
}

Test(layout, hidden_files_ignored_and_noted) {
    make_adni(1, 1, 1, 1);
    char *p = fx_path(tmp, "AD_NC/train/AD/.DS_Store");
    fx_write_buf(p, "x", 1, 0);
    free(p);
    Dataset *ds = open_with("AD_NC", NULL);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    int noted = 0;
    for (int i = 0; i < ds->n_notes; i++) noted |= strstr(ds->notes[i].why, "hidden") != NULL;
    cr_expect(noted);
    cr_expect_eq(ds->n_items, 4);
    dataset_free(ds);
}

// ---------------------------------------------------------------------------
// OASIS, folder

Test(layout, oasis_splits_unconditional_seg_ignored) {
    const char *splits[3] = {"train", "validate", "test"};
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 2; c++)
            for (int k = 0; k < 3; k++) {
                char rel[160];
                snprintf(rel, sizeof rel, "keras_png_slices_%s/case_%03d_slice_%d.nii.png", splits[s], 10 * s + c, k);
                png_at(rel, s + c + k, 24, 24);
                snprintf(rel, sizeof rel, "keras_png_slices_seg_%s/seg_%03d_slice_%d.nii.png", splits[s], 10 * s + c, k);
                png_at(rel, 0, 24, 24);
            }
    Dataset *ds = open_with("", NULL);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->layout, LAYOUT_OASIS);
    cr_expect_eq(ds->n_classes, 0);
    cr_expect_eq(ds->n_items, 18);
    for (int s = 0; s < 3; s++) {
        cr_expect_eq(dataset_count(ds, (DataSplit)s, -1), 6);
        cr_expect_eq(dataset_count_patients(ds, (DataSplit)s), 2);
    }
    for (int i = 0; i < ds->n_items; i++) {
        cr_expect_eq(ds->items[i].label, -1);
        cr_expect_null(strstr(ds->items[i].path, "seg"));
        cr_expect_eq(strncmp(ds->patients[ds->items[i].patient], "case_", 5), 0);
        cr_expect_eq(strlen(ds->patients[ds->items[i].patient]), 8);
    }
    int seg = 0;
    for (int i = 0; i < ds->n_notes; i++) seg += strstr(ds->notes[i].why, "segmentation") != NULL;
    cr_expect_eq(seg, 3);
    dataset_free(ds);
}

Test(layout, folder_classes_sorted_with_split_folders) {
    png_at("data/train/zebra/z_1.png", 1, 20, 20);
    png_at("data/train/zebra/z_2.png", 2, 20, 20);
    jpeg_at("data/train/ant/a_1.jpg", 3, 20, 20);
    jpeg_at("data/test/ant/a_9.jpg", 4, 20, 20);
    png_at("data/val/mole/m_1.png", 5, 20, 20);
    Dataset *ds = open_with("data", NULL);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->layout, LAYOUT_FOLDER);
    cr_assert_eq(ds->n_classes, 3);
    cr_expect_str_eq(ds->classes[0], "ant");
    cr_expect_str_eq(ds->classes[1], "mole");
    cr_expect_str_eq(ds->classes[2], "zebra");
    cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, 2), 2);
    cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, 0), 1);
    cr_expect_eq(dataset_count(ds, SPLIT_TEST, 0), 1);
    cr_expect_eq(dataset_count(ds, SPLIT_VAL, 1), 1, "its own val folder is kept");
    for (int i = 0; i < ds->n_items; i++) {
        const DataItem *it = &ds->items[i];
        cr_expect(strstr(it->path, ds->classes[it->label]) != NULL, "%s labelled %s", it->path, ds->classes[it->label]);
    }
    dataset_free(ds);
}

static void val2(DataOptions *o) { o->val_patients = 2; }

Test(layout, folder_class_dirs_and_flat_folder) {
    for (int i = 0; i < 6; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "cls/%s/p%d_%d.png", i % 2 ? "b" : "a", i / 2, i);
        png_at(rel, i, 12, 10);
        snprintf(rel, sizeof rel, "flat/img%d.png", i);
        png_at(rel, i, 12, 10);
    }
    Dataset *ds = open_with("cls", val2);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->n_classes, 2);
    cr_expect_eq(dataset_count_patients(ds, SPLIT_VAL), 2, "validation from train, whole patients");
    dataset_free(ds);
    ds = open_with("flat", NULL);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->n_classes, 0);
    cr_expect_eq(ds->n_items, 6);
    cr_expect_eq(ds->n_patients, 6);
    dataset_free(ds);
    char *p = fx_path(tmp, "void/x");
    free(p);
    expect_open_error("void", NULL, "void", "empty folder");
}

// ---------------------------------------------------------------------------
// NIfTI

#define NX 20
#define NY 24
#define NZ 30

/* A cylinder of value 200 in slices 5..24 (z), radius 8 around the centre, with a
 * marker voxel of 40 at (1, 2, 10) and of 120 at (18, 20, 6). */
static double *phantom(void) {
    double *v = calloc(NX * NY * NZ, sizeof(double));
    for (int z = 5; z < 25; z++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++) {
                double dx = x - NX / 2.0, dy = y - NY / 2.0;
                if (dx * dx + dy * dy < 64) v[(z * NY + y) * NX + x] = 200;
            }
    v[(10 * NY + 2) * NX + 1] = 40;
    v[(6 * NY + 20) * NX + 18] = 120;
    return v;
}

static void write_phantom(const char *rel, int gz, int datatype, int swap) {
    FxNifti h = {.dim = {NX, NY, NZ, 1}, .datatype = datatype, .swap = swap, .sform = 1,
                 .srow = {{1, 0, 0, -10}, {0, 1, 0, -12}, {0, 0, 1, -15}}};
    double *v = phantom();
    size_t n;
    uint8_t *b = fx_nifti_bytes(&h, v, &n);
    char *p = fx_path(tmp, rel);
    cr_assert_eq(fx_write_buf(p, b, n, gz), 0);
    free(p);
    free(b);
    free(v);
}

static int find_slice(const Dataset *ds, int t) {
    for (int i = 0; i < ds->n_items; i++)
        if (ds->items[i].index == t) return i;
    return -1;
}

Test(layout, nifti_axial_slices_drop_empty_bands_and_orientation) {
    write_phantom("vol.nii.gz", 1, 4, 1);
    Dataset *ds = open_with("vol.nii.gz", NULL);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->layout, LAYOUT_NIFTI);
    cr_expect_eq(ds->n_items, 20, "slices 5..24 kept");
    cr_expect_eq(ds->w, NX);
    cr_expect_eq(ds->h, NY);
    cr_assert_eq(ds->n_classes, 3);
    cr_expect_str_eq(ds->classes[0], "inferior");
    for (int i = 0; i < ds->n_items; i++) {
        int t = ds->items[i].index, want = (t - 5) * 3 / 20;
        cr_expect_eq(ds->items[i].label, want, "slice %d band %d", t, ds->items[i].label);
    }
    /* windowing: 0 -> 0, 200 (the top) -> 255, 40 -> 51; rows flipped so +y is up */
    int k = find_slice(ds, 10);
    cr_assert_geq(k, 0);
    GrayImage im;
    cr_assert_eq(dataset_item_gray(ds, k, &im), 0);
    cr_expect_eq(im.px[(NY - 1 - 2) * NX + 1], 51);
    cr_expect_eq(im.px[(NY - 1 - 12) * NX + 10], 255);
    cr_expect_eq(im.px[0], 0);
    gray_free(&im);
    k = find_slice(ds, 6);
    cr_assert_eq(dataset_item_gray(ds, k, &im), 0);
    cr_expect_eq(im.px[(NY - 1 - 20) * NX + 18], 153);
    gray_free(&im);
    dataset_free(ds);
}

static void coronal(DataOptions *o) { o->axis = AXIS_CORONAL; }

Test(layout, nifti_coronal_axis) {
    write_phantom("vol.nii", 0, 2, 0);
    Dataset *ds = open_with("vol.nii", coronal);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->w, NX, "columns: x");
    cr_expect_eq(ds->h, NZ, "rows: z (superior up)");
    cr_expect_str_eq(ds->classes[2], "anterior");
    cr_expect_lt(find_slice(ds, 2), 0, "y = 2 is outside the cylinder but for one voxel: dropped");
    int k = find_slice(ds, 12); /* the centre: the cylinder spans z = 5..24, z up */
    cr_assert_geq(k, 0);
    GrayImage im;
    cr_assert_eq(dataset_item_gray(ds, k, &im), 0);
    cr_expect_eq(im.px[(NZ - 1 - 5) * NX + 10], 255);
    cr_expect_eq(im.px[(NZ - 1 - 4) * NX + 10], 0);
    cr_expect_eq(im.px[(NZ - 1 - 24) * NX + 10], 255);
    cr_expect_eq(im.px[(NZ - 1 - 25) * NX + 10], 0);
    gray_free(&im);
    dataset_free(ds);
}

static void by_slice(DataOptions *o) { o->group_by = GROUP_IMAGE; }
static void by_slice_4(DataOptions *o) { o->group_by = GROUP_IMAGE, o->val_patients = 4; }

/* --group-by image: each slice is its own group, so one volume can hold slices out (a tenth
 * by default, stratified by class); without it the volume is one patient and all trains. */
Test(layout, nifti_group_by_image_holds_slices_out) {
    write_phantom("vol.nii", 0, 4, 0);
    Dataset *ds = open_with("vol.nii", NULL);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->n_patients, 1);
    cr_expect_eq(dataset_count(ds, SPLIT_VAL, -1), 0);
    dataset_free(ds);
    ds = open_with("vol.nii", by_slice);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->n_patients, 20, "one group per kept slice");
    cr_expect_eq(ds->grouping, GROUP_IMAGE);
    cr_expect_eq(dataset_count(ds, SPLIT_VAL, -1), 2, "a tenth of 20 slices");
    cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, -1), 18);
    dataset_free(ds);
    ds = open_with("vol.nii", by_slice_4);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(dataset_count(ds, SPLIT_VAL, -1), 4);
    for (int c = 0; c < 3; c++) cr_expect_geq(dataset_count(ds, SPLIT_VAL, c), 1, "class %d held out too", c);
    int seen[NZ] = {0};
    for (int i = 0; i < ds->n_items; i++) seen[ds->items[i].index]++;
    for (int t = 5; t < 25; t++) cr_expect_eq(seen[t], 1, "slice %d once, on one side", t);
    cr_expect(strstr(ds->split_rule, "by slice"), "%s", ds->split_rule);
    dataset_free(ds);
}

Test(layout, nifti_folder_volumes_are_patients_and_bad_volume_skipped) {
    write_phantom("vols/a.nii", 0, 16, 0);
    write_phantom("vols/b.nii.gz", 1, 64, 1);
    write_phantom("vols/c.nii.gz", 1, 4, 0);
    FxNifti h = {.dim = {NX, NY, NZ, 1}, .datatype = 4};
    double *v = phantom();
    size_t n;
    uint8_t *b = fx_nifti_bytes(&h, v, &n);
    char *p = fx_path(tmp, "vols/lying.nii");
    fx_write_buf(p, b, n / 2, 0);
    free(p);
    free(b);
    free(v);
    expect_open_error("vols", NULL, "lying.nii", "header says 20x24x30 int16");
    FxNifti small = {.dim = {10, 10, 10, 1}, .datatype = 2};
    double cube[1000];
    for (int i = 0; i < 1000; i++) /* a 6-voxel cube in the middle: 6 slices kept */
        cube[i] = (i % 10 >= 2 && i % 10 < 8 && i / 10 % 10 >= 2 && i / 10 % 10 < 8 && i / 100 >= 2 && i / 100 < 8) ? 100 : 0;
    b = fx_nifti_bytes(&small, cube, &n);
    p = fx_path(tmp, "vols/small.nii");
    fx_write_buf(p, b, n, 0);
    free(p);
    free(b);
    Dataset *ds = open_with("vols", skip_bad);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->n_skipped, 2, "the lying volume and the wrong-size one, once each");
    int merged = 0;
    for (int i = 0; i < ds->n_skipped; i++)
        merged |= strstr(ds->skipped[i].path, "small.nii") && strstr(ds->skipped[i].why, "10x10, expected 20x24") &&
                  strstr(ds->skipped[i].why, "6 slices");
    cr_expect(merged, "one entry for the 6 slices of small.nii");
    cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, -1) + dataset_count(ds, SPLIT_VAL, -1), 60);
    cr_expect_eq(dataset_count_patients(ds, SPLIT_VAL), 1, "one volume for validation");
    cr_expect_eq(dataset_count(ds, SPLIT_VAL, -1), 20);
    dataset_free(ds);
}

Test(layout, colin27_template_if_installed) {
    const char *path = "/usr/share/mricron/templates/ch2.nii.gz";
    if (access(path, R_OK) != 0) TU_SKIP("%s is missing (Debian package mricron-data)", path);
    Dataset *ds = dataset_open(path, NULL);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->w, 181);
    cr_expect_eq(ds->h, 217);
    cr_expect_eq(ds->n_patients, 1);
    cr_expect_geq(ds->n_items, 120);
    cr_expect_leq(ds->n_items, 181);
    for (int c = 0; c < 3; c++) {
        int n = dataset_count(ds, SPLIT_TRAIN, c);
        cr_expect(n >= ds->n_items / 3 - 1 && n <= ds->n_items / 3 + 1, "band %d has %d slices", c, n);
    }
    dataset_free(ds);
}

// ---------------------------------------------------------------------------
// IDX

static void write_idx(const char *rel, int n, int gz, int with_labels, int n_labels) {
    uint8_t *img = malloc((size_t)n * 6 * 5), *lab = malloc((size_t)n_labels);
    for (int i = 0; i < n * 30; i++) img[i] = (uint8_t)(i * 3);
    for (int i = 0; i < n_labels; i++) lab[i] = (uint8_t)(i % 3);
    size_t bn;
    char name[128];
    uint8_t *b = fx_idx_bytes(img, 3, (int[]){n, 6, 5}, &bn);
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", rel, gz ? ".gz" : "");
    char *p = fx_path(tmp, name);
    fx_write_buf(p, b, bn, gz);
    free(p);
    free(b);
    if (with_labels) {
        b = fx_idx_bytes(lab, 1, (int[]){n_labels}, &bn);
        snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", rel, gz ? ".gz" : "");
        p = fx_path(tmp, name);
        fx_write_buf(p, b, bn, gz);
        free(p);
        free(b);
    }
    free(img);
    free(lab);
}

Test(layout, idx_train_and_t10k) {
    write_idx("mnist/train", 40, 1, 1, 40);
    write_idx("mnist/t10k", 10, 0, 1, 10);
    Dataset *ds = open_with("mnist", NULL);
    cr_assert_not_null(ds, "%s", ldm_last_error());
    cr_expect_eq(ds->layout, LAYOUT_IDX);
    cr_expect_eq(ds->n_classes, 3);
    cr_expect_eq(ds->w, 5);
    cr_expect_eq(ds->h, 6);
    cr_expect_eq(dataset_count(ds, SPLIT_TEST, -1), 10);
    cr_expect_eq(dataset_count(ds, SPLIT_VAL, -1), 4, "10%% of the training images");
    cr_expect_eq(dataset_count(ds, SPLIT_TRAIN, -1), 36);
    for (int i = 0; i < ds->n_items; i++) {
        const DataItem *it = &ds->items[i];
        cr_expect_eq(it->label, it->index % 3);
        GrayImage im;
        cr_assert_eq(dataset_item_gray(ds, i, &im), 0);
        cr_expect_eq(im.px[7], (uint8_t)((it->index * 30 + 7) * 3));
        gray_free(&im);
    }
    dataset_free(ds);
}

Test(layout, idx_missing_or_mismatched_labels) {
    write_idx("a/train", 4, 0, 0, 0);
    expect_open_error("a", NULL, "no labels file", "train-labels-idx1-ubyte");
    write_idx("b/train", 4, 0, 1, 5);
    expect_open_error("b", NULL, "4 images", "5 labels");
}

Test(layout, forced_layout_and_bad_options) {
    make_adni(1, 1, 1, 1);
    DataLayout l;
    cr_expect_eq(layout_parse("oasis", &l), 0);
    cr_expect_eq(layout_parse("imagenet", &l), -1);
    DataOptions o;
    data_options_default(&o);
    o.layout = LAYOUT_OASIS;
    char *p = fx_path(tmp, "AD_NC");
    cr_expect_null(dataset_open(p, &o));
    cr_expect(strstr(ldm_last_error(), "keras_png_slices") != NULL, "%s", ldm_last_error());
    data_options_default(&o);
    o.min_fill = 2;
    cr_expect_null(dataset_open(p, &o));
    cr_expect(strstr(ldm_last_error(), "min_fill") != NULL, "%s", ldm_last_error());
    free(p);
}
