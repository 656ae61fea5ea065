/* core/png.c — PNG writer on libpng with tEXt metadata and an atomic rename (see png.h). */
#include "core/png.h"

#include <png.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

#define PNG_MAX_SIDE 65535 /* far above any grid we draw; keeps w*h*c inside size_t on 32-bit */

typedef struct {
    char msg[200];
} PngWriteErr;

static void on_png_error(png_structp png, png_const_charp msg) {
    PngWriteErr *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static int check_args(const char *path, const uint8_t *px, int w, int h, int channels,
                      const PngText *text, int n_text) {
    if (!path || !*path) return ldm_error("png_write", "no output path");
    if (!px) return ldm_error("png_write", "%s: no pixels", path);
    if (w < 1 || h < 1 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
        return ldm_error("png_write", "%s: bad size %dx%d (1..%d per side)", path, w, h, PNG_MAX_SIDE);
    if (channels != 1 && channels != 3)
        return ldm_error("png_write", "%s: %d channels (only 1 = gray or 3 = RGB)", path, channels);
    if (n_text < 0 || (n_text > 0 && !text)) return ldm_error("png_write", "%s: bad text list", path);
    for (int i = 0; i < n_text; i++) {
        size_t k = text[i].key ? strlen(text[i].key) : 0;
        if (k < 1 || k > 79 || !text[i].value)
            return ldm_error("png_write", "%s: text chunk %d needs a 1..79 character key and a value", path, i);
    }
    return 0;
}

/* Encodes into an open FILE; 0 or -1 with the libpng message in err. */
static int encode(FILE *f, const uint8_t *px, int w, int h, int channels, const PngText *text,
                  int n_text, PngWriteErr *err) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, err, on_png_error, on_png_warning);
    if (!png) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    png_textp volatile chunks = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        if (!info) snprintf(err->msg, sizeof err->msg, "out of memory");
        free(chunks);
        png_destroy_write_struct(&png, info ? &info : NULL);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (n_text > 0) {
        chunks = calloc((size_t)n_text, sizeof *chunks);
        if (!chunks) png_error(png, "out of memory");
        for (int i = 0; i < n_text; i++) {
            chunks[i].compression = PNG_TEXT_COMPRESSION_NONE;
            chunks[i].key = (png_charp)text[i].key;
            chunks[i].text = (png_charp)text[i].value;
            chunks[i].text_length = strlen(text[i].value);
        }
        png_set_text(png, info, chunks, n_text);
    }
    png_write_info(png, info);
    size_t stride = (size_t)w * (size_t)channels;
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(px + (size_t)y * stride));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(chunks);
    return 0;
}

int ldm_png_write(const char *path, const uint8_t *px, int w, int h, int channels,
                  const PngText *text, int n_text) {
    if (check_args(path, px, w, h, channels, text, n_text)) return -1;
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return ldm_error("png_write", "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ldm_error("png_write", "%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    PngWriteErr err = {{0}};
    int rc = encode(f, px, w, h, channels, text, n_text, &err);
    if (rc) ldm_error("png_write", "%s: libpng: %s", path, err.msg);
    if (!rc && (fflush(f) != 0 || fsync(fileno(f)) != 0)) rc = ldm_error("png_write", "%s: write failed: %s", path, strerror(errno));
    if (fclose(f) != 0 && !rc) rc = ldm_error("png_write", "%s: write failed: %s", path, strerror(errno));
    if (!rc && rename(tmp, path) != 0) rc = ldm_error("png_write", "%s: cannot rename %s: %s", path, tmp, strerror(errno));
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}
