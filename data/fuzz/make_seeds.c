/* data/fuzz/make_seeds.c — writes a small starting corpus for each fuzz target:
 *   make_seeds DIR  ->  DIR/fuzz_png/ (gray, RGB, 16-bit), DIR/fuzz_jpeg/ (gray, colour,
 *   progressive), DIR/fuzz_nifti/ (int16 .nii, float32 swapped .nii.gz), DIR/fuzz_idx/,
 *   DIR/fuzz_safetensors/ (two tensors and metadata).
 * Valid files give the fuzzer the formats' structure to mutate from. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <zlib.h>

#include "core/png.h"

static char dir[4096];

static FILE *open_seed(const char *target, const char *name) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, target);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", dir, target, name);
    return fopen(p, "wb");
}

static void jpeg_seed(const char *name, int ch, int progressive) {
    FILE *f = open_seed("fuzz_jpeg", name);
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    uint8_t row[24 * 3];
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, f);
    c.image_width = 24, c.image_height = 16, c.input_components = ch;
    c.in_color_space = ch == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    if (progressive) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        for (int i = 0; i < 24 * ch; i++) row[i] = (uint8_t)(i * 9 + c.next_scanline * 17);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

static void png_seed(const char *name, int ch) {
    uint8_t px[12 * 10 * 3];
    for (int i = 0; i < 12 * 10 * ch; i++) px[i] = (uint8_t)(i * 7);
    char p[4400];
    snprintf(p, sizeof p, "%s/fuzz_png", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/fuzz_png/%s", dir, name);
    PngText t = {"Comment", "seed"};
    if (ldm_png_write(p, px, 12, 10, ch, &t, 1)) exit(1);
}

static void put16(uint8_t *h, int off, int v) { h[off] = (uint8_t)v, h[off + 1] = (uint8_t)(v >> 8); }

static void nifti_seed(const char *name, int datatype, int bytes, int gz) {
    enum { NX = 6, NY = 5, NZ = 4 };
    size_t n = 352 + (size_t)NX * NY * NZ * bytes;
    uint8_t *b = calloc(1, n);
    int32_t hdr = 348;
    memcpy(b, &hdr, 4);
    put16(b, 40, 3), put16(b, 42, NX), put16(b, 44, NY), put16(b, 46, NZ), put16(b, 48, 1);
    put16(b, 70, datatype), put16(b, 72, 8 * bytes);
    float one = 1, off = 352;
    for (int i = 0; i < 4; i++) memcpy(b + 76 + 4 * i, &one, 4);
    memcpy(b + 108, &off, 4);
    memcpy(b + 344, "n+1", 4);
    for (size_t i = 352; i < n; i++) b[i] = (uint8_t)(i * 13);
    FILE *f = open_seed("fuzz_nifti", name);
    if (gz) {
        fclose(f);
        char p[4400];
        snprintf(p, sizeof p, "%s/fuzz_nifti/%s", dir, name);
        gzFile g = gzopen(p, "wb");
        gzwrite(g, b, (unsigned)n);
        gzclose(g);
    } else {
        fwrite(b, 1, n, f);
        fclose(f);
    }
    free(b);
}

static void idx_seed(const char *name, int gz) {
    uint8_t b[4 + 12 + 2 * 3 * 4] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4};
    for (int i = 16; i < (int)sizeof b; i++) b[i] = (uint8_t)(i * 5);
    char p[4400];
    FILE *f = open_seed("fuzz_idx", name);
    fclose(f);
    snprintf(p, sizeof p, "%s/fuzz_idx/%s", dir, name);
    if (gz) {
        gzFile g = gzopen(p, "wb");
        gzwrite(g, b, sizeof b);
        gzclose(g);
    } else {
        f = fopen(p, "wb");
        fwrite(b, 1, sizeof b, f);
        fclose(f);
    }
}

static void safetensors_seed(void) {
    const char *hdr = "{\"__metadata__\":{\"step\":\"7\"},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                      "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[16,19]}}";
    uint64_t n = strlen(hdr);
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)(n >> (8 * i));
    uint8_t data[19];
    for (int i = 0; i < 19; i++) data[i] = (uint8_t)(i * 13);
    FILE *f = open_seed("fuzz_safetensors", "two.safetensors");
    fwrite(len, 1, 8, f);
    fwrite(hdr, 1, n, f);
    fwrite(data, 1, sizeof data, f);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    mkdir(dir, 0755);
    png_seed("gray.png", 1);
    png_seed("rgb.png", 3);
    jpeg_seed("gray.jpeg", 1, 0);
    jpeg_seed("rgb.jpeg", 3, 0);
    jpeg_seed("progressive.jpeg", 3, 1);
    nifti_seed("int16.nii", 4, 2, 0);
    nifti_seed("float32.nii.gz", 16, 4, 1);
    nifti_seed("uint8.nii", 2, 1, 0);
    idx_seed("images-idx3-ubyte", 0);
    idx_seed("images-idx3-ubyte.gz", 1);
    safetensors_seed();
    return 0;
}
