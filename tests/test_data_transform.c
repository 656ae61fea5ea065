/* tests/test_data_transform.c — square / resize / flip / scale against plain double
 * loops, the text form, and the core PNG writer (round trip, text chunks, atomicity). */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/png.h"
#include "data/image.h"
#include "data/transform.h"
#include "tests/util/data_fixtures.h"

/* Reference resize of one axis in double precision (see transform.c for the rules). */
static void ref_weights(int in, int out, int o, double *w /* (in) */) {
    memset(w, 0, sizeof(double) * (size_t)in);
    double s = (double)in / out;
    if (in >= out) {
        for (int i = 0; i < in; i++) {
            double a = fmax(o * s, i), b = fmin((o + 1) * s, i + 1);
            if (b > a) w[i] = (b - a) / s;
        }
    } else {
        double p = fmax((o + 0.5) * s - 0.5, 0);
        int i0 = (int)floor(p);
        double f = p - i0;
        if (i0 >= in - 1) i0 = in - 1, f = 0;
        w[i0] += 1 - f;
        if (f > 0) w[i0 + 1] += f;
    }
}

static void ref_resize(const uint8_t *src, int n, int out, double *dst) {
    double *wy = malloc(sizeof(double) * n), *wx = malloc(sizeof(double) * n);
    for (int oy = 0; oy < out; oy++) {
        ref_weights(n, out, oy, wy);
        for (int ox = 0; ox < out; ox++) {
            ref_weights(n, out, ox, wx);
            double acc = 0;
            for (int y = 0; y < n; y++)
                for (int x = 0; x < n; x++) acc += wy[y] * wx[x] * src[y * n + x];
            dst[oy * out + ox] = acc;
        }
    }
    free(wy);
    free(wx);
}

Test(transform, resize_matches_double_reference) {
    TransformWork *ws = transform_work_new(); /* one scratch across sizes: its tap tables must follow */
    int sizes[][2] = {{37, 37}, {37, 16}, {37, 64}, {64, 32}, {30, 7}, {5, 13}, {1, 4}, {9, 1}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int n = sizes[k][0], out = sizes[k][1];
        uint8_t *src = malloc((size_t)n * n), *dst = malloc((size_t)out * out);
        double *ref = malloc(sizeof(double) * out * out);
        fx_pattern(src, n, n, (int)k);
        memset(dst, 0xAB, (size_t)out * out);
        DataTransform tf = {.size = out, .fit = FIT_PAD};
        cr_assert_eq(transform_geometry(&tf, src, n, n, dst, ws), 0, "%s", ldm_last_error());
        ref_resize(src, n, out, ref);
        for (int i = 0; i < out * out; i++)
            cr_expect(fabs(dst[i] - ref[i]) <= 0.5 + 1e-3, "%d->%d pixel %d: %d, want %.3f", n, out, i, dst[i], ref[i]);
        free(src);
        free(dst);
        free(ref);
    }
    transform_work_free(ws);
}

Test(transform, area_halving_is_2x2_mean_and_identity_is_exact) {
    uint8_t src[16] = {0, 2, 10, 20, 4, 6, 30, 40, 100, 100, 1, 1, 200, 200, 1, 2};
    uint8_t dst[4];
    DataTransform tf = {.size = 2, .fit = FIT_PAD};
    cr_assert_eq(transform_geometry(&tf, src, 4, 4, dst, NULL), 0);
    cr_expect_eq(dst[0], 3);
    cr_expect_eq(dst[1], 25);
    cr_expect_eq(dst[2], 150);
    cr_expect_eq(dst[3], 1); /* 1.25 rounds down */
    uint8_t same[16];
    tf.size = 4;
    cr_assert_eq(transform_geometry(&tf, src, 4, 4, same, NULL), 0);
    cr_expect_eq(memcmp(same, src, 16), 0);
}

Test(transform, pad_and_crop_place_the_image_in_the_centre) {
    /* 5 wide, 3 high */
    uint8_t src[15];
    for (int i = 0; i < 15; i++) src[i] = (uint8_t)(100 + i);
    uint8_t pad[25], crop[9];
    DataTransform tf = {.size = 0, .fit = FIT_PAD, .background = 7};
    cr_assert_eq(transform_out_side(&tf, 5, 3), 5);
    cr_assert_eq(transform_geometry(&tf, src, 5, 3, pad, NULL), 0);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 5; x++) {
            int want = (y == 0 || y == 4) ? 7 : src[(y - 1) * 5 + x];
            cr_expect_eq(pad[y * 5 + x], want, "pad (%d,%d)", x, y);
        }
    tf.fit = FIT_CROP;
    cr_assert_eq(transform_out_side(&tf, 5, 3), 3);
    cr_assert_eq(transform_geometry(&tf, src, 5, 3, crop, NULL), 0);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 3; x++) cr_expect_eq(crop[y * 3 + x], src[y * 5 + x + 1], "crop (%d,%d)", x, y);
}

Test(transform, adni_256x240_pads_then_shrinks_to_64) {
    int w = 256, h = 240;
    uint8_t *src = malloc((size_t)w * h), dst[64 * 64];
    memset(src, 200, (size_t)w * h);
    DataTransform tf = {.size = 64, .fit = FIT_PAD, .background = 0};
    cr_assert_eq(transform_geometry(&tf, src, w, h, dst, NULL), 0);
    /* 8 rows of padding on top and bottom in 256 -> 2 rows of 0 in 64 */
    for (int x = 0; x < 64; x++) {
        cr_expect_eq(dst[x], 0);
        cr_expect_eq(dst[64 + x], 0);
        cr_expect_eq(dst[2 * 64 + x], 200);
        cr_expect_eq(dst[61 * 64 + x], 200);
        cr_expect_eq(dst[63 * 64 + x], 0);
    }
    free(src);
}

Test(transform, flip_and_scale_to_minus_one_one) {
    uint8_t src[4] = {0, 255, 127, 1}; /* 2 x 2 */
    float f[4];
    transform_to_float(src, 2, false, f);
    cr_expect_float_eq(f[0], -1.0f, 1e-7);
    cr_expect_float_eq(f[1], 1.0f, 1e-7);
    cr_expect_float_eq(f[2], 127 / 127.5 - 1, 1e-6);
    transform_to_float(src, 2, true, f);
    cr_expect_float_eq(f[0], 1.0f, 1e-7);
    cr_expect_float_eq(f[1], -1.0f, 1e-7);
    cr_expect_float_eq(f[3], 127 / 127.5 - 1, 1e-6);
}

Test(transform, text_form_round_trips_and_rejects_bad_fields) {
    DataTransform a = {.size = 128, .fit = FIT_CROP, .background = 12, .hflip = true}, b = {0};
    char s[128];
    cr_assert_eq(transform_format(&a, s, sizeof s), 0);
    cr_expect_str_eq(s, "size=128,fit=crop,background=12,hflip=1");
    cr_assert_eq(transform_parse(s, &b), 0, "%s", ldm_last_error());
    cr_expect(b.size == 128 && b.fit == FIT_CROP && b.background == 12 && b.hflip);
    DataTransform keep = b;
    cr_expect_eq(transform_parse("size=64,colour=red", &b), -1);
    cr_expect(strstr(ldm_last_error(), "colour") != NULL, "%s", ldm_last_error());
    cr_expect_eq(memcmp(&b, &keep, sizeof b), 0, "a failed parse changes nothing");
    cr_expect_eq(transform_parse("size=99999", &b), -1);
    cr_expect_eq(transform_parse("fit=squash", &b), -1);
    cr_expect_eq(transform_parse("background=256", &b), -1);
    cr_expect_eq(transform_parse("size", &b), -1);
}

Test(transform, bad_arguments) {
    uint8_t px[4] = {0}, out[4];
    DataTransform tf = {.size = -1};
    cr_expect_eq(transform_geometry(&tf, px, 2, 2, out, NULL), -1);
    tf = (DataTransform){.size = 2, .fit = (DataFit)9};
    cr_expect_eq(transform_geometry(&tf, px, 2, 2, out, NULL), -1);
    tf = (DataTransform){.size = 2};
    cr_expect_eq(transform_geometry(&tf, px, 0, 2, out, NULL), -1);
    cr_expect(strstr(ldm_last_error(), "0x2") != NULL, "%s", ldm_last_error());
    cr_expect_eq(transform_geometry(&tf, NULL, 2, 2, out, NULL), -1);
    tf = (DataTransform){.size = 0, .fit = FIT_STRETCH};
    cr_expect_eq(transform_out_side(&tf, 3, 2), -1);
}

// ---------------------------------------------------------------------------
// core/png.h

Test(png_write, gray_and_rgb_round_trip_with_text) {
    char *dir = fx_tmpdir(), *p = fx_path(dir, "out.png");
    uint8_t g[7 * 5], rgb[7 * 5 * 3];
    fx_pattern(g, 7, 5, 4);
    for (int i = 0; i < 35; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = g[i];
    PngText t[2] = {{"Seed", "42"}, {"Sampler", "ddim, 50 steps"}};
    cr_assert_eq(ldm_png_write(p, g, 7, 5, 1, t, 2), 0, "%s", ldm_last_error());
    GrayImage im;
    cr_assert_eq(img_decode_file(p, &im), 0, "%s", ldm_last_error());
    cr_expect(im.w == 7 && im.h == 5 && memcmp(im.px, g, 35) == 0);
    gray_free(&im);
    /* text chunks read back with libpng */
    FILE *f = fopen(p, "rb");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_read_info(png, info);
    png_textp text;
    int n = 0;
    png_get_text(png, info, &text, &n);
    cr_expect_eq(n, 2);
    cr_expect_str_eq(text[0].key, "Seed");
    cr_expect_str_eq(text[1].text, "ddim, 50 steps");
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    /* RGB gray-valued pixels decode to the same gray; the rename replaced the old file */
    cr_assert_eq(ldm_png_write(p, rgb, 7, 5, 3, NULL, 0), 0, "%s", ldm_last_error());
    cr_assert_eq(img_decode_file(p, &im), 0);
    cr_expect_eq(memcmp(im.px, g, 35), 0);
    gray_free(&im);
    char tmpname[4200];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", p, (long)getpid());
    cr_expect_neq(access(tmpname, F_OK), 0, "no temporary file left behind");
    fx_rmtree(dir);
    free(p);
    free(dir);
}

Test(png_write, errors_name_the_file_and_leave_nothing) {
    uint8_t g[4] = {0};
    cr_expect_eq(ldm_png_write("/nonexistent-dir/x.png", g, 2, 2, 1, NULL, 0), -1);
    cr_expect(strstr(ldm_last_error(), "/nonexistent-dir/x.png") != NULL, "%s", ldm_last_error());
    cr_expect_eq(ldm_png_write("/tmp/x.png", g, 2, 2, 2, NULL, 0), -1);
    cr_expect(strstr(ldm_last_error(), "2 channels") != NULL, "%s", ldm_last_error());
    cr_expect_eq(ldm_png_write("/tmp/x.png", g, 0, 2, 1, NULL, 0), -1);
    PngText bad = {"", "v"};
    cr_expect_eq(ldm_png_write("/tmp/x.png", g, 2, 2, 1, &bad, 1), -1);
}
