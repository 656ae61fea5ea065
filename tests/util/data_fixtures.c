/* tests/util/data_fixtures.c — see data_fixtures.h. */
#include "tests/util/data_fixtures.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>
#include <zlib.h>

char *fx_tmpdir(void) {
    char t[] = "/tmp/ldm-test-data-XXXXXX";
    return mkdtemp(t) ? strdup(t) : NULL;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

void fx_rmtree(const char *dir) {
    if (dir) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *fx_path(const char *dir, const char *rel) {
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, rel);
    for (char *s = p + strlen(dir) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    return p;
}

int fx_write_buf(const char *path, const void *buf, size_t n, int gz) {
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (!g) return -1;
        int ok = n == 0 || gzwrite(g, buf, (unsigned)n) == (int)n;
        return gzclose(g) == Z_OK && ok ? 0 : -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(buf, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

void fx_pattern(uint8_t *px, int w, int h, int seed) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) px[(size_t)y * w + x] = (uint8_t)((x * 7 + y * 13 + seed * 31) & 255);
}

int fx_write_jpeg(const char *path, const uint8_t *px, int w, int h, int channels, int quality) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = (JDIMENSION)w, c.image_height = (JDIMENSION)h;
    c.input_components = channels;
    c.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, quality, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * channels);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return fclose(f);
}

int fx_write_png(const char *path, const void *px, int w, int h, int color_type, int bit_depth,
                 const uint8_t *palette, int n_palette, int interlace) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bit_depth, color_type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        for (int i = 0; i < n_palette; i++) pal[i] = (png_color){palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]};
        png_set_PLTE(png, info, pal, n_palette);
    }
    png_write_info(png, info);
    if (bit_depth < 8) png_set_packing(png);
    if (bit_depth == 16) png_set_swap(png); /* host (little-endian) uint16 -> PNG big-endian */
    int ch = color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_PALETTE ? 1
             : color_type == PNG_COLOR_TYPE_GRAY_ALPHA                                  ? 2
             : color_type == PNG_COLOR_TYPE_RGB                                         ? 3
                                                                                        : 4;
    size_t stride = (size_t)w * ch * (bit_depth == 16 ? 2 : 1);
    png_bytep *rows = malloc(sizeof(png_bytep) * (size_t)h);
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)px + (size_t)y * stride;
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return fclose(f);
}

// ---------------------------------------------------------------------------
// NIfTI

static void put(uint8_t *dst, const void *src, int n, int swap) {
    for (int i = 0; i < n; i++) dst[i] = ((const uint8_t *)src)[swap ? n - 1 - i : i];
}
static void put16(uint8_t *h, int off, int v, int swap) {
    int16_t x = (int16_t)v;
    put(h + off, &x, 2, swap);
}
static void put32(uint8_t *h, int off, int32_t v, int swap) { put(h + off, &v, 4, swap); }
static void putf(uint8_t *h, int off, float v, int swap) { put(h + off, &v, 4, swap); }

static int dt_bytes(int dt) {
    return dt == 2 || dt == 256 ? 1 : dt == 4 || dt == 512 ? 2 : dt == 8 || dt == 16 || dt == 768 ? 4 : dt == 64 ? 8 : 1;
}

uint8_t *fx_nifti_bytes(const FxNifti *hd, const double *vals, size_t *n) {
    int nt = hd->dim[3] > 0 && hd->dim[3] > 1 ? hd->dim[3] : 1;
    size_t nvox = (size_t)hd->dim[0] * hd->dim[1] * hd->dim[2] * nt;
    int bpv = dt_bytes(hd->datatype);
    *n = 352 + nvox * bpv;
    uint8_t *b = calloc(1, *n);
    int s = hd->swap;
    put32(b, 0, 348, s);
    put16(b, 40, nt > 1 ? 4 : 3, s);
    for (int i = 0; i < 3; i++) put16(b, 42 + 2 * i, hd->dim[i], s);
    put16(b, 48, nt, s);
    put16(b, 70, hd->datatype, s);
    put16(b, 72, hd->bitpix ? hd->bitpix : 8 * bpv, s);
    putf(b, 76, 1, s);
    for (int i = 0; i < 3; i++) putf(b, 80 + 4 * i, 1, s);
    putf(b, 108, 352, s);
    putf(b, 112, hd->slope, s);
    putf(b, 116, hd->inter, s);
    if (hd->sform) {
        put16(b, 254, 1, s);
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 4; k++) putf(b, 280 + 16 * r + 4 * k, (float)hd->srow[r][k], s);
    }
    memcpy(b + 344, hd->magic ? hd->magic : "n+1", 4);
    for (size_t i = 0; i < nvox; i++) {
        uint8_t *d = b + 352 + i * bpv;
        double v = vals[i];
        switch (hd->datatype) {
        case 2: { uint8_t x = (uint8_t)v; put(d, &x, 1, s); break; }
        case 256: { int8_t x = (int8_t)v; put(d, &x, 1, s); break; }
        case 4: { int16_t x = (int16_t)v; put(d, &x, 2, s); break; }
        case 512: { uint16_t x = (uint16_t)v; put(d, &x, 2, s); break; }
        case 8: { int32_t x = (int32_t)v; put(d, &x, 4, s); break; }
        case 768: { uint32_t x = (uint32_t)v; put(d, &x, 4, s); break; }
        case 16: { float x = (float)v; put(d, &x, 4, s); break; }
        case 64: { put(d, &v, 8, s); break; }
        default: break;
        }
    }
    return b;
}

uint8_t *fx_idx_bytes(const uint8_t *data, int ndim, const int *dims, size_t *n) {
    size_t total = 1;
    for (int i = 0; i < ndim; i++) total *= (size_t)dims[i];
    *n = 4 + 4 * (size_t)ndim + total;
    uint8_t *b = malloc(*n);
    b[0] = b[1] = 0, b[2] = 0x08, b[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = (uint32_t)dims[i];
        b[4 + 4 * i] = (uint8_t)(d >> 24), b[5 + 4 * i] = (uint8_t)(d >> 16);
        b[6 + 4 * i] = (uint8_t)(d >> 8), b[7 + 4 * i] = (uint8_t)d;
    }
    memcpy(b + 4 + 4 * ndim, data, total);
    return b;
}
