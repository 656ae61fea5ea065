/* tests/test_train_own.c — training on your own images as a new user would, with the
 * binaries built beside this test (skipped with a message when they are not built):
 *   - class folders named three ways (bag/bag_000.png, a/img_001.png, cats/0.jpg) train
 *     a `demo`-based model without extra flags: the data's classes replace the preset's,
 *     are stored in the checkpoint, and ldm-sample --label takes the folder names;
 *   - an unconditional model on labelled data, or a conditional one on unlabelled data,
 *     is refused with a message naming --classes, and runs with it;
 *   - RGB end to end: a colour fixture with --set channels=3 trains the VAE and the
 *     U-Net and samples RGB PNGs (grid, single images, strip, VAE preview);
 *   - ldm-data info names the split rule and the colour conversion; preview --channels 3.
 * The model is the tiny 16x16 `demo` of test_train_cli.c; every run is a few steps. */
#include <criterion/criterion.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "models/checkpoint.h"
#include "tests/util/data_fixtures.h"
#include "tests/util/testutil.h"

static char *tmp, bindir[4096], out[65536];

#define TINY                                                                                                  \
    "--preset demo --set image_size=16 --set data_size=16 --set vae_ch=8 --set vae_groups=4 --set unet_ch=16 " \
    "--set unet_groups=4 --set head_dim=16 --set ctx_dim=16 --set attn_res=2 --set unet_mult=1,2 --device cpu "   \
    "--batch 4 --steps 2"

/* A 16x16 blob: gray, or coloured (class 0 red, class 1 blue). */
static void blob(uint8_t *px, int channels, int cls, int k) {
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            int dx = x - 5 - k % 5, dy = y - 6 - cls, v = 230 - 14 * (dx * dx + dy * dy);
            v = v < 0 ? 0 : v;
            uint8_t *p = px + (size_t)(y * 16 + x) * channels;
            if (channels == 1) p[0] = (uint8_t)v;
            else p[0] = (uint8_t)(cls ? 20 : v), p[1] = (uint8_t)(v / 3), p[2] = (uint8_t)(cls ? v : 20);
        }
}

/* Two classes of 10 images, file names from fmt(class name, k). */
static void make_classes(const char *root, const char *c0, const char *c1, const char *fmt, int channels, int jpeg) {
    uint8_t px[16 * 16 * 3];
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 10; k++) {
            char name[64], rel[256];
            snprintf(name, sizeof name, fmt, c ? c1 : c0, k);
            snprintf(rel, sizeof rel, "%s/%s/%s", root, c ? c1 : c0, name);
            blob(px, channels, c, k);
            char *p = fx_path(tmp, rel);
            if (jpeg) cr_assert_eq(fx_write_jpeg(p, px, 16, 16, channels, 95), 0);
            else cr_assert_eq(fx_write_png(p, px, 16, 16, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, 8,
                                           NULL, 0, 0), 0);
            free(p);
        }
}

static void setup(void) {
    cr_assert((tmp = fx_tmpdir()));
    tu_build_dir(bindir, sizeof bindir);
}
static void teardown(void) {
    fx_rmtree(tmp);
    free(tmp);
}
TestSuite(train_own, .init = setup, .fini = teardown, .timeout = 120);

/* "<build>/<prog> <args>", stdout + stderr into `out`; the exit status. */
/* "<build>/<prog> <args>" (printf-formatted), stdout + stderr into `out`; the exit status. */
#define run(prog, ...) tu_run_cli(bindir, out, sizeof out, prog, __VA_ARGS__)

static ModelConfig ck_config(const char *dir, const char *kind) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s/%s.safetensors", tmp, dir, kind);
    Checkpoint ck;
    cr_assert_eq(checkpoint_open(&ck, p, kind, NULL), 0, "%s", ldm_last_error());
    ModelConfig c = ck.cfg;
    checkpoint_close(&ck);
    return c;
}

/* The PNG's colour type from its IHDR (byte 25): 0 gray, 2 RGB. */
static int png_colour_type(const char *rel) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    FILE *f = fopen(p, "rb");
    cr_assert_not_null(f, "no %s", p);
    uint8_t h[26];
    cr_assert_eq(fread(h, 1, 26, f), 26u);
    fclose(f);
    return h[25];
}

Test(train_own, prefix_named_classes_train_and_sample_by_folder_name) {
    make_classes("shoes", "bag", "boot", "%s_%03d.png", 1, 0);
    cr_assert_eq(run("ldm-train", "vae " TINY " --data %s/shoes --out %s/m", tmp, tmp), 0, "%s", out);
    cr_expect(strstr(out, "2 validation images"), "one image of each class held out: %s", out);
    cr_expect(strstr(out, "classes: the data's 2 (bag,boot) replace preset demo's 3"), "%s", out);
    cr_expect(strstr(out, "split by image"), "%s", out);
    ModelConfig c = ck_config("m", "vae");
    cr_expect_eq(c.num_classes, 2);
    cr_expect_str_eq(c.class_names, "bag,boot");
    cr_assert_eq(run("ldm-train", "unet " TINY " --data %s/shoes --vae %s/m/vae.safetensors --out %s/m", tmp, tmp, tmp),
                 0, "%s", out);
    c = ck_config("m", "unet");
    cr_expect_str_eq(c.class_names, "bag,boot");
    cr_expect_eq(run("ldm-sample", "--unet %s/m/unet.safetensors --vae %s/m/vae.safetensors --label boot --n 2 "
                     "--steps 2 --device cpu --out %s/g.png --each %s/each", tmp, tmp, tmp, tmp), 0, "%s", out);
    char p[4400];
    snprintf(p, sizeof p, "%s/each/boot_001.png", tmp);
    cr_expect_eq(access(p, F_OK), 0, "the single images are named after the class folder");
    cr_expect_eq(run("ldm-sample", "--unet %s/m/unet.safetensors --vae %s/m/vae.safetensors --label middle --n 1 "
                     "--steps 2 --device cpu --out %s/g.png", tmp, tmp, tmp), 2, "%s", out);
    cr_expect(strstr(out, "bag,boot"), "the error lists the classes: %s", out);
}

Test(train_own, ldm_data_info_says_the_split_rule_and_how_colour_is_read) {
    make_classes("colour", "blue", "red", "%s_%d.png", 3, 0);
    cr_assert_eq(run("ldm-data", "info %s/colour", tmp), 0, "%s", out);
    cr_expect(strstr(out, "split      by image, stratified by class: 2 of 20 images"), "%s", out);
    cr_expect(strstr(out, "why: class folders name no patients"), "%s", out);
    cr_expect(strstr(out, "20 colour") && strstr(out, "BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B"), "%s", out);
    cr_assert_eq(run("ldm-data", "info --group-by prefix %s/colour", tmp), 0, "%s", out);
    cr_expect(strstr(out, "by patient") && strstr(out, "why: --group-by prefix"), "%s", out);
    cr_assert_eq(run("ldm-data", "preview %s/colour --channels 3 --count 4 --out %s/p3.png", tmp, tmp), 0, "%s", out);
    cr_expect_eq(png_colour_type("p3.png"), PNG_COLOR_TYPE_RGB);
    cr_assert_eq(run("ldm-data", "preview %s/colour --count 4 --out %s/p1.png", tmp, tmp), 0, "%s", out);
    cr_expect_eq(png_colour_type("p1.png"), PNG_COLOR_TYPE_GRAY, "gray by default, as a gray model sees it");
}

Test(train_own, same_names_numeric_names_and_adni_names_train_without_flags) {
    make_classes("ab", "a", "b", "%.0simg_%03d.png", 1, 0);
    make_classes("pets", "cats", "dogs", "%.0s%d.jpg", 1, 1);
    cr_assert_eq(run("ldm-train", "vae " TINY " --data %s/ab --out %s/m1", tmp, tmp), 0, "%s", out);
    cr_expect(strstr(out, "18 training images, 2 validation images"), "%s", out);
    cr_expect_str_eq(ck_config("m1", "vae").class_names, "a,b");
    cr_assert_eq(run("ldm-train", "vae " TINY " --data %s/pets --out %s/m2", tmp, tmp), 0, "%s", out);
    cr_expect(strstr(out, "18 training images, 2 validation images"), "%s", out);
    cr_expect_str_eq(ck_config("m2", "vae").class_names, "cats,dogs");
    /* ADNI-style <patient>_<slice> names in class folders: by image, with the hint */
    uint8_t px[256];
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 12; k++) {
            char rel[64];
            snprintf(rel, sizeof rel, "scans/%s/%d_%d.png", c ? "NC" : "AD", 1000 * (c + 1) + k / 3, 60 + k % 3);
            blob(px, 1, c, k);
            char *p = fx_path(tmp, rel);
            cr_assert_eq(fx_write_png(p, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
            free(p);
        }
    cr_assert_eq(run("ldm-train", "vae " TINY " --data %s/scans --out %s/m3", tmp, tmp), 0, "%s", out);
    cr_expect(strstr(out, "22 training images, 2 validation images"), "%s", out);
    cr_expect(strstr(out, "look like <patient>_<slice>"), "%s", out);
    cr_expect_str_eq(ck_config("m3", "vae").class_names, "AD,NC");
    cr_assert_eq(run("ldm-train", "vae " TINY " --group-by prefix --data %s/scans --out %s/m4", tmp, tmp), 0, "%s", out);
    cr_expect(strstr(out, "from 1 patient;"), "a tenth of 8 patients, at least one: %s", out);
}

Test(train_own, conditional_or_not_is_a_choice_named_by_a_flag) {
    make_classes("shoes", "bag", "boot", "%s_%03d.png", 1, 0);
    /* an unconditional model on labelled data */
    cr_expect_eq(run("ldm-train", "vae " TINY " --set num_classes=0 --set class_names= --data %s/shoes --out %s/u",
                     tmp, tmp), 1, "%s", out);
    cr_expect(strstr(out, "--classes data") && strstr(out, "--classes none"), "%s", out);
    cr_assert_eq(run("ldm-train", "vae " TINY " --set num_classes=0 --set class_names= --classes none --data %s/shoes "
                     "--out %s/u", tmp, tmp), 0, "%s", out);
    cr_expect_eq(ck_config("u", "vae").num_classes, 0);
    cr_assert_eq(run("ldm-train", "vae " TINY " --set num_classes=0 --set class_names= --classes data --data %s/shoes "
                     "--out %s/c", tmp, tmp), 0, "%s", out);
    cr_expect_eq(ck_config("c", "vae").num_classes, 2);
    /* a conditional model on unlabelled data (images directly in the folder) */
    uint8_t px[256];
    for (int k = 0; k < 8; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "flat/%d.png", k);
        blob(px, 1, 0, k);
        char *p = fx_path(tmp, rel);
        cr_assert_eq(fx_write_png(p, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
        free(p);
    }
    cr_expect_eq(run("ldm-train", "vae " TINY " --data %s/flat --out %s/f", tmp, tmp), 1, "%s", out);
    cr_expect(strstr(out, "no classes") && strstr(out, "--classes none"), "%s", out);
    cr_expect_eq(run("ldm-train", "vae " TINY " --classes none --data %s/flat --out %s/f", tmp, tmp), 0, "%s", out);
    cr_expect_eq(run("ldm-train", "vae " TINY " --classes maybe --data %s/flat --out %s/f", tmp, tmp), 2, "%s", out);
}

Test(train_own, rgb_end_to_end) {
    make_classes("colour", "blue", "red", "%s_%d.png", 3, 0);
    cr_assert_eq(run("ldm-train", "vae " TINY " --data %s/colour --out %s/g", tmp, tmp), 0, "%s", out);
    cr_expect(strstr(out, "read as gray (BT.601 luma"), "a gray model says how it reads colour: %s", out);
    cr_assert_eq(run("ldm-train", "vae " TINY " --set channels=3 --data %s/colour --out %s/m", tmp, tmp), 0, "%s", out);
    cr_expect_eq(ck_config("m", "vae").channels, 3);
    cr_expect_eq(png_colour_type("m/vae_recon.png"), PNG_COLOR_TYPE_RGB);
    cr_assert_eq(run("ldm-train", "unet " TINY " --set channels=3 --data %s/colour --vae %s/m/vae.safetensors --out %s/m",
                     tmp, tmp, tmp), 0, "%s", out);
    cr_assert_eq(run("ldm-sample", "--unet %s/m/unet.safetensors --vae %s/m/vae.safetensors --n 2 --steps 2 "
                     "--device cpu --out %s/s.png --each %s/each --strip %s/strip.png", tmp, tmp, tmp, tmp, tmp),
                 0, "%s", out);
    cr_expect_eq(png_colour_type("s.png"), PNG_COLOR_TYPE_RGB);
    cr_expect_eq(png_colour_type("strip.png"), PNG_COLOR_TYPE_RGB);
    cr_expect_eq(png_colour_type("each/red_001.png"), PNG_COLOR_TYPE_RGB);
    /* the gray VAE cannot be paired with an RGB U-Net run */
    cr_expect_eq(run("ldm-train", "unet " TINY " --set channels=3 --data %s/colour --vae %s/g/vae.safetensors --out %s/x",
                     tmp, tmp, tmp), 1, "%s", out);
    cr_expect(strstr(out, "channels"), "%s", out);
}
