/* tests/test_data_decode.c — PNG, JPEG, NIfTI and IDX decoders against files written
 * by the reference libraries with known pixels, and every kind of broken input. */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/idx.h"
#include "data/image.h"
#include "data/nifti.h"
#include "tests/util/data_fixtures.h"

static char *tmp;
static void setup(void) { cr_assert((tmp = fx_tmpdir())); }
static void teardown(void) {
    fx_rmtree(tmp);
    free(tmp);
}
TestSuite(decode, .init = setup, .fini = teardown);

static uint8_t luma(int r, int g, int b) { return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16); }

static void expect_error(int rc, const char *must1, const char *must2) {
    cr_expect_eq(rc, -1);
    const char *m = ldm_last_error();
    cr_expect(strstr(m, must1) != NULL, "error '%s' should mention '%s'", m, must1);
    if (must2) cr_expect(strstr(m, must2) != NULL, "error '%s' should mention '%s'", m, must2);
}

// ---------------------------------------------------------------------------
// PNG

Test(decode, png_gray8_exact_odd_size) {
    int w = 37, h = 23;
    uint8_t *px = malloc((size_t)w * h);
    fx_pattern(px, w, h, 1);
    char *p = fx_path(tmp, "g8.png");
    cr_assert_eq(fx_write_png(p, px, w, h, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
    GrayImage im;
    cr_assert_eq(img_decode_file(p, &im), 0, "%s", ldm_last_error());
    cr_expect_eq(im.w, w);
    cr_expect_eq(im.h, h);
    cr_expect_eq(memcmp(im.px, px, (size_t)w * h), 0);
    gray_free(&im);
    free(px);
    free(p);
}

Test(decode, png_gray16_is_windowed_min_to_p995) {
    int w = 5, h = 3;
    uint16_t v[15];
    for (int i = 0; i < 15; i++) v[i] = (uint16_t)(i * 4099 + 7);
    char *p = fx_path(tmp, "g16.png");
    cr_assert_eq(fx_write_png(p, v, w, h, PNG_COLOR_TYPE_GRAY, 16, NULL, 0, 0), 0);
    GrayImage im;
    cr_assert_eq(img_decode_file(p, &im), 0, "%s", ldm_last_error());
    /* 14 samples above the minimum 7: the 99.5th percentile of them is the largest */
    for (int i = 0; i < 15; i++) {
        int want = (int)lround((v[i] - 7) * 255.0 / (14 * 4099));
        cr_expect(abs(im.px[i] - want) <= 0, "pixel %d: %d, want %d", i, im.px[i], want);
    }
    gray_free(&im);
    free(p);
}

Test(decode, png_rgb_rgba_graya_palette_interlaced) {
    int w = 9, h = 7;
    uint8_t rgb[9 * 7 * 3], rgba[9 * 7 * 4], ga[9 * 7 * 2], idx[9 * 7], pal[4 * 3] = {0, 0, 0, 255, 0, 0, 0, 255, 0, 10, 20, 250};
    uint8_t want_rgb[63], want_ga[63], want_pal[63];
    for (int i = 0; i < w * h; i++) {
        int r = (i * 37) & 255, g = (i * 91 + 5) & 255, b = (i * 13 + 100) & 255;
        rgb[3 * i] = rgba[4 * i] = (uint8_t)r;
        rgb[3 * i + 1] = rgba[4 * i + 1] = (uint8_t)g;
        rgb[3 * i + 2] = rgba[4 * i + 2] = (uint8_t)b;
        rgba[4 * i + 3] = (uint8_t)(i * 5); /* alpha is dropped, not composited */
        ga[2 * i] = (uint8_t)(i * 3), ga[2 * i + 1] = 17;
        idx[i] = (uint8_t)(i % 4);
        want_rgb[i] = luma(r, g, b);
        want_ga[i] = (uint8_t)(i * 3);
        want_pal[i] = luma(pal[3 * (i % 4)], pal[3 * (i % 4) + 1], pal[3 * (i % 4) + 2]);
    }
    struct {
        const char *name;
        const void *px;
        int type, depth, interlace;
        const uint8_t *want;
    } cases[] = {
        {"rgb.png", rgb, PNG_COLOR_TYPE_RGB, 8, 0, want_rgb},
        {"rgba.png", rgba, PNG_COLOR_TYPE_RGBA, 8, 0, want_rgb},
        {"rgb_interlaced.png", rgb, PNG_COLOR_TYPE_RGB, 8, 1, want_rgb},
        {"ga.png", ga, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, want_ga},
        {"pal.png", idx, PNG_COLOR_TYPE_PALETTE, 8, 0, want_pal},
        {"pal2.png", idx, PNG_COLOR_TYPE_PALETTE, 2, 1, want_pal},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *p = fx_path(tmp, cases[c].name);
        cr_assert_eq(fx_write_png(p, cases[c].px, w, h, cases[c].type, cases[c].depth, pal, 4, cases[c].interlace), 0);
        GrayImage im;
        cr_assert_eq(img_decode_file(p, &im), 0, "%s: %s", cases[c].name, ldm_last_error());
        cr_expect_eq(im.w * im.h, w * h);
        cr_expect_eq(memcmp(im.px, cases[c].want, (size_t)w * h), 0, "%s: pixels differ", cases[c].name);
        gray_free(&im);
        free(p);
    }
}

Test(decode, png_gray_1bit_expands_to_0_255) {
    uint8_t bits[8 * 2] = {0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    char *p = fx_path(tmp, "g1.png");
    cr_assert_eq(fx_write_png(p, bits, 8, 2, PNG_COLOR_TYPE_GRAY, 1, NULL, 0, 0), 0);
    GrayImage im;
    cr_assert_eq(img_decode_file(p, &im), 0, "%s", ldm_last_error());
    for (int i = 0; i < 16; i++) cr_expect_eq(im.px[i], bits[i] ? 255 : 0);
    gray_free(&im);
    free(p);
}

static uint8_t *slurp(const char *p, size_t *n) {
    uint8_t *b;
    cr_assert_eq(read_file(p, 1 << 24, &b, n), 0);
    return b;
}

Test(decode, png_truncated_and_corrupt_name_the_file) {
    int w = 64, h = 64;
    uint8_t *px = malloc((size_t)w * h);
    fx_pattern(px, w, h, 2);
    char *p = fx_path(tmp, "full.png");
    cr_assert_eq(fx_write_png(p, px, w, h, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
    size_t n;
    uint8_t *b = slurp(p, &n);
    GrayImage im;
    for (size_t cut = 8; cut < n; cut += n / 7) {
        char *q = fx_path(tmp, "cut.png");
        fx_write_buf(q, b, cut, 0);
        expect_error(img_decode_file(q, &im), "png", "cut.png");
        cr_expect_null(im.px);
        free(q);
    }
    uint8_t lie[4] = {0x40, 0, 0, 0}; /* IDAT (the chunk after IHDR) claiming 1 GB */
    uint8_t save[4];
    memcpy(save, b + 33, 4);
    memcpy(b + 33, lie, 4);
    cr_assert_eq(memcmp(b + 37, "IDAT", 4), 0);
    expect_error(img_decode(b, n, "lie.png", &im), "lie.png", "claims 1073741824 bytes");
    memcpy(b + 33, save, 4);
    b[n / 2] ^= 0x55; /* a flipped byte inside IDAT: CRC or zlib error */
    char *q = fx_path(tmp, "flip.png");
    fx_write_buf(q, b, n, 0);
    expect_error(img_decode_file(q, &im), "flip.png", NULL);
    free(q);
    free(b);
    free(p);
    free(px);
}

// ---------------------------------------------------------------------------
// JPEG

/* 8x8 blocks of constant value: at quality 100 each block is pure DC, so decoding is
 * exact up to rounding of the DCT. */
static void blocks(uint8_t *px, int w, int h, int ch) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++) px[((size_t)y * w + x) * ch + c] = (uint8_t)(((x / 8) * 40 + (y / 8) * 70 + c * 50) & 255);
}

Test(decode, jpeg_gray_known_pixels) {
    int w = 40, h = 24;
    uint8_t px[40 * 24];
    blocks(px, w, h, 1);
    char *p = fx_path(tmp, "g.jpeg");
    cr_assert_eq(fx_write_jpeg(p, px, w, h, 1, 100), 0);
    GrayImage im;
    cr_assert_eq(img_decode_file(p, &im), 0, "%s", ldm_last_error());
    cr_expect_eq(im.w, w);
    cr_expect_eq(im.h, h);
    int worst = 0;
    for (int i = 0; i < w * h; i++) worst = abs(im.px[i] - px[i]) > worst ? abs(im.px[i] - px[i]) : worst;
    cr_expect_leq(worst, 1, "max |error| %d", worst);
    gray_free(&im);
    free(p);
}

Test(decode, jpeg_color_becomes_luma) {
    int w = 32, h = 16;
    uint8_t px[32 * 16 * 3];
    blocks(px, w, h, 3);
    char *p = fx_path(tmp, "c.jpg");
    cr_assert_eq(fx_write_jpeg(p, px, w, h, 3, 100), 0);
    GrayImage im;
    cr_assert_eq(img_decode_file(p, &im), 0, "%s", ldm_last_error());
    int worst = 0;
    for (int i = 0; i < w * h; i++) {
        int d = abs(im.px[i] - luma(px[3 * i], px[3 * i + 1], px[3 * i + 2]));
        worst = d > worst ? d : worst;
    }
    cr_expect_leq(worst, 2, "max |error| %d", worst);
    gray_free(&im);
    free(p);
}

Test(decode, jpeg_truncated_corrupt_and_not_images) {
    int w = 64, h = 48;
    uint8_t *px = malloc((size_t)w * h);
    fx_pattern(px, w, h, 3);
    char *p = fx_path(tmp, "a.jpeg");
    cr_assert_eq(fx_write_jpeg(p, px, w, h, 1, 90), 0);
    size_t n;
    uint8_t *b = slurp(p, &n);
    GrayImage im;
    for (size_t cut = 3; cut < n - 2; cut += n / 9) {
        char *q = fx_path(tmp, "t.jpeg");
        fx_write_buf(q, b, cut, 0);
        expect_error(img_decode_file(q, &im), "jpeg", "t.jpeg");
        free(q);
    }
    memset(b + n / 2, 0xFF, 40); /* garbage in the entropy-coded data */
    char *q = fx_path(tmp, "garbage.jpeg");
    fx_write_buf(q, b, n, 0);
    expect_error(img_decode_file(q, &im), "jpeg", "garbage.jpeg");
    free(q);
    q = fx_path(tmp, "notes.txt");
    fx_write_buf(q, "hello, not an image\n", 20, 0);
    expect_error(img_decode_file(q, &im), "notes.txt", "not a PNG or JPEG");
    free(q);
    q = fx_path(tmp, "empty.jpeg");
    fx_write_buf(q, "", 0, 0);
    expect_error(img_decode_file(q, &im), "empty.jpeg", "empty");
    free(q);
    q = fx_path(tmp, "missing.jpeg");
    expect_error(img_decode_file(q, &im), "missing.jpeg", "No such file");
    free(q);
    free(b);
    free(p);
    free(px);
}

// ---------------------------------------------------------------------------
// NIfTI

static double *ramp(size_t n, double a, double b) {
    double *v = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) v[i] = a + b * (double)(i % 97);
    return v;
}

Test(decode, nifti_every_datatype_both_byte_orders_plain_and_gz) {
    int dts[] = {2, 256, 4, 512, 8, 768, 16, 64};
    double lo[] = {0, -50, -3000, 0, -100000, 0, -1.5, -2.25};
    double step[] = {2, 1, 61, 600, 2001, 40000, 0.25, 0.125};
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++)
        for (int swap = 0; swap < 2; swap++)
            for (int gz = 0; gz < 2; gz++) {
                FxNifti h = {.dim = {5, 4, 3, 1}, .datatype = dts[d], .swap = swap};
                size_t nv = 60, n;
                double *v = ramp(nv, lo[d], step[d]);
                uint8_t *b = fx_nifti_bytes(&h, v, &n);
                char *p = fx_path(tmp, gz ? "v.nii.gz" : "v.nii");
                cr_assert_eq(fx_write_buf(p, b, n, gz), 0);
                NiftiVolume vol;
                cr_assert_eq(nifti_load(p, &vol), 0, "dt %d swap %d gz %d: %s", dts[d], swap, gz, ldm_last_error());
                cr_expect_eq(vol.nx, 5);
                cr_expect_eq(vol.ny, 4);
                cr_expect_eq(vol.nz, 3);
                for (size_t i = 0; i < nv; i++)
                    cr_expect(fabs(vol.vox[i] - v[i]) <= 1e-6 * fabs(v[i]), "dt %d swap %d gz %d voxel %zu: %g, want %g",
                              dts[d], swap, gz, i, vol.vox[i], v[i]);
                nifti_free(&vol);
                free(p);
                free(b);
                free(v);
            }
}

Test(decode, nifti_scl_slope_inter_and_4d_first_volume) {
    FxNifti h = {.dim = {3, 2, 2, 2}, .datatype = 4, .slope = 0.5f, .inter = -10};
    double v[24];
    for (int i = 0; i < 24; i++) v[i] = i * 3;
    size_t n;
    uint8_t *b = fx_nifti_bytes(&h, v, &n);
    NiftiVolume vol;
    cr_assert_eq(nifti_decode(b, n, "mem", &vol), 0, "%s", ldm_last_error());
    cr_expect_eq(vol.nt, 2);
    for (int i = 0; i < 12; i++) cr_expect_float_eq(vol.vox[i], v[i] * 0.5 - 10, 1e-6);
    nifti_free(&vol);
    free(b);
}

Test(decode, nifti_sform_affine) {
    FxNifti h = {.dim = {2, 2, 2, 1}, .datatype = 2, .sform = 1,
                 .srow = {{-1, 0, 0, 90}, {0, 0, 1.5, -126}, {0, 2, 0, -72}}};
    double v[8] = {0};
    size_t n;
    uint8_t *b = fx_nifti_bytes(&h, v, &n);
    NiftiVolume vol;
    cr_assert_eq(nifti_decode(b, n, "mem", &vol), 0, "%s", ldm_last_error());
    cr_expect_eq(vol.affine_source, 2);
    cr_expect_float_eq(vol.affine[1][2], 1.5, 1e-9);
    cr_expect_float_eq(vol.affine[2][1], 2, 1e-9);
    cr_expect_float_eq(vol.affine[0][3], 90, 1e-9);
    nifti_free(&vol);
    free(b);
}

Test(decode, nifti_header_lying_about_its_size) {
    FxNifti h = {.dim = {16, 16, 8, 1}, .datatype = 4};
    double *v = ramp(16 * 16 * 8, 0, 1);
    size_t n;
    uint8_t *b = fx_nifti_bytes(&h, v, &n);
    for (int gz = 0; gz < 2; gz++) {
        char *p = fx_path(tmp, gz ? "short.nii.gz" : "short.nii");
        cr_assert_eq(fx_write_buf(p, b, n - 100, gz), 0);
        NiftiVolume vol;
        expect_error(nifti_load(p, &vol), gz ? "short.nii.gz" : "short.nii", "header says 16x16x8 int16");
        cr_expect_null(vol.vox);
        free(p);
    }
    /* a header claiming a huge volume in a tiny gz must fail without allocating it */
    FxNifti big = {.dim = {4000, 4000, 8, 1}, .datatype = 2};
    double z[1] = {0};
    big.dim[0] = 1, big.dim[1] = 1, big.dim[2] = 1;
    size_t bn;
    uint8_t *bb = fx_nifti_bytes(&big, z, &bn);
    bb[42] = 0xA0, bb[43] = 0x0F; /* dim[1] = 4000 */
    bb[44] = 0xA0, bb[45] = 0x0F; /* dim[2] = 4000 */
    bb[46] = 8, bb[47] = 0;       /* dim[3] = 8 */
    char *p = fx_path(tmp, "huge.nii.gz");
    cr_assert_eq(fx_write_buf(p, bb, bn, 1), 0);
    NiftiVolume vol;
    expect_error(nifti_load(p, &vol), "huge.nii.gz", "cannot hold that many");
    free(p);
    free(bb);
    free(b);
    free(v);
}

Test(decode, nifti_bad_headers) {
    double v[8] = {0};
    size_t n;
    NiftiVolume vol;
    FxNifti h = {.dim = {2, 2, 2, 1}, .datatype = 4, .bitpix = 8};
    uint8_t *b = fx_nifti_bytes(&h, v, &n);
    expect_error(nifti_decode(b, n, "bitpix.nii", &vol), "bitpix.nii", "bitpix 8");
    free(b);
    h = (FxNifti){.dim = {2, 2, 2, 1}, .datatype = 128}; /* RGB24 */
    b = fx_nifti_bytes(&h, v, &n);
    expect_error(nifti_decode(b, n, "rgb.nii", &vol), "rgb.nii", "datatype 128");
    free(b);
    h = (FxNifti){.dim = {2, 2, 2, 1}, .datatype = 2, .magic = "ni1"};
    b = fx_nifti_bytes(&h, v, &n);
    expect_error(nifti_decode(b, n, "pair.nii", &vol), "pair.nii", "two-file");
    free(b);
    h = (FxNifti){.dim = {2, 2, 2, 1}, .datatype = 2};
    b = fx_nifti_bytes(&h, v, &n);
    b[42] = 0, b[43] = 0x80; /* dim[1] = -32768 */
    expect_error(nifti_decode(b, n, "neg.nii", &vol), "neg.nii", "dim[1]");
    b[42] = 2, b[43] = 0;
    float off = 100;
    memcpy(b + 108, &off, 4);
    expect_error(nifti_decode(b, n, "off.nii", &vol), "off.nii", "vox_offset");
    expect_error(nifti_decode(b, 200, "tiny.nii", &vol), "tiny.nii", "too short");
    b[0] = 1;
    expect_error(nifti_decode(b, n, "junk.nii", &vol), "junk.nii", "not a NIfTI-1");
    free(b);
    uint8_t gz_junk[40] = {0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5};
    expect_error(nifti_decode(gz_junk, sizeof gz_junk, "junk.nii.gz", &vol), "junk.nii.gz", "gzip");
}

// ---------------------------------------------------------------------------
// IDX

Test(decode, idx_plain_and_gz) {
    uint8_t data[2 * 3 * 4];
    for (int i = 0; i < 24; i++) data[i] = (uint8_t)(i * 11);
    int dims[3] = {2, 3, 4};
    size_t n;
    uint8_t *b = fx_idx_bytes(data, 3, dims, &n);
    for (int gz = 0; gz < 2; gz++) {
        char *p = fx_path(tmp, gz ? "x-images-idx3-ubyte.gz" : "x-images-idx3-ubyte");
        cr_assert_eq(fx_write_buf(p, b, n, gz), 0);
        IdxArray a;
        cr_assert_eq(idx_load(p, &a), 0, "%s", ldm_last_error());
        cr_expect_eq(a.ndim, 3);
        cr_expect_eq(a.dims[0], 2);
        cr_expect_eq(a.dims[1], 3);
        cr_expect_eq(a.dims[2], 4);
        cr_expect_eq(memcmp(a.data, data, 24), 0);
        idx_free(&a);
        free(p);
    }
    free(b);
}

Test(decode, idx_lies_and_bad_types) {
    uint8_t data[24] = {0};
    int dims[3] = {2, 3, 4};
    size_t n;
    uint8_t *b = fx_idx_bytes(data, 3, dims, &n);
    IdxArray a;
    expect_error(idx_decode(b, n - 1, "short-idx", &a), "short-idx", "header says 24 elements");
    uint8_t *longer = calloc(1, n + 5);
    memcpy(longer, b, n);
    expect_error(idx_decode(longer, n + 5, "long-idx", &a), "long-idx", "header says 24 elements");
    char *p = fx_path(tmp, "short.gz");
    fx_write_buf(p, b, n - 3, 1);
    expect_error(idx_load(p, &a), "short.gz", "fewer");
    free(p);
    b[2] = 0x0D;
    expect_error(idx_decode(b, n, "float-idx", &a), "float-idx", "0x0d");
    b[2] = 0x08, b[0] = 1;
    expect_error(idx_decode(b, n, "magic-idx", &a), "magic-idx", "bad magic");
    b[0] = 0, b[4] = 0xFF;
    expect_error(idx_decode(b, n, "huge-idx", &a), "huge-idx", "dimension 0");
    uint8_t big[16] = {0, 0, 8, 3, 0, 0, 0x03, 0xE8, 0, 0, 0x03, 0xE8, 0, 0, 0, 200}; /* 1000 x 1000 x 200 */
    p = fx_path(tmp, "big.gz");
    fx_write_buf(p, big, sizeof big, 1);
    expect_error(idx_load(p, &a), "big.gz", "cannot hold that many");
    free(p);
    free(longer);
    free(b);
}
