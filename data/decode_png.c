/* data/decode_png.c — PNG to 8-bit gray through libpng, from memory (see image.h).
 *
 * libpng reports errors by longjmp; every allocation made after setjmp lives in the
 * PngCtx struct (not in locals) so the error path can free it. Before libpng sees the
 * bytes, the chunk list is walked once: a chunk whose length runs past the end of the
 * file is rejected here, because libpng would first allocate (and clear) that many
 * bytes — fuzzing found a 100-byte file claiming a 1 GB tEXt chunk that took seconds.
 * Text, ICC and other metadata chunks are skipped: the pixels are all we need.
 */
#include <ctype.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/image.h"

typedef struct {
    const uint8_t *buf;
    size_t n, pos;
    char msg[160];
    uint8_t *pixels; /* (h, rowbytes) as libpng delivers it */
    png_bytep *rows;
} PngCtx;

static void on_error(png_structp png, png_const_charp msg) {
    PngCtx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void on_read(png_structp png, png_bytep dst, size_t len) {
    PngCtx *c = png_get_io_ptr(png);
    if (len > c->n - c->pos) png_error(png, "file ends early (truncated)");
    memcpy(dst, c->buf + c->pos, len);
    c->pos += len;
}

/* PIL's "L" conversion of an RGB pixel. */
static inline uint8_t luma(const uint8_t *p) {
    return (uint8_t)((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 32768u) >> 16);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Every chunk (length, type, data, CRC) up to IEND must lie inside the n bytes. */
static int check_chunks(const uint8_t *buf, size_t n, const char *name) {
    size_t pos = 8;
    while (pos + 8 <= n) {
        uint32_t len = be32(buf + pos);
        const uint8_t *type = buf + pos + 4;
        if (len > 0x7FFFFFFFu || len > n - pos - 8 || n - pos - 8 - len < 4)
            return ldm_error("png", "%s: chunk '%.4s' at byte %zu claims %u bytes, the file has %zu left (truncated or corrupt)",
                             name, isprint(type[0]) && isprint(type[1]) && isprint(type[2]) && isprint(type[3]) ? (const char *)type : "????",
                             pos, len, n - pos - 8);
        if (!memcmp(type, "IEND", 4)) return 0;
        pos += 12 + (size_t)len;
    }
    return ldm_error("png", "%s: file ends early (truncated, no IEND chunk)", name);
}

int img_decode_png(const uint8_t *buf, size_t n, const char *name, GrayImage *out) {
    if (!out) return ldm_error("png", "%s: no output image", name);
    *out = (GrayImage){0};
    if (!buf || n < 8 || png_sig_cmp(buf, 0, 8)) return ldm_error("png", "%s: not a PNG file (bad signature)", name);
    if (check_chunks(buf, n, name)) return -1;
    PngCtx c = {.buf = buf, .n = n};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    if (!png) return ldm_error("png", "%s: out of memory", name);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ldm_error("png", "%s: out of memory", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(c.pixels);
        free(c.rows);
        return ldm_error("png", "%s: %s", name, c.msg[0] ? c.msg : "corrupt PNG");
    }
    png_set_read_fn(png, &c, on_read);
    png_set_user_limits(png, IMG_MAX_SIDE, IMG_MAX_SIDE);
    png_set_chunk_malloc_max(png, 8u << 20);
    static const png_byte skip[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skip, 6);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((size_t)w * h > IMG_MAX_PIXELS) png_error(png, "image too large");
    png_set_expand(png);
    if (png_get_bit_depth(png, info) == 16) png_set_scale_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((ch != 1 && ch != 3) || rowbytes != (size_t)w * ch) png_error(png, "unexpected pixel format after conversion");
    c.pixels = malloc(rowbytes * h);
    c.rows = malloc(h * sizeof *c.rows);
    if (!c.pixels || !c.rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) c.rows[y] = c.pixels + y * rowbytes;
    png_read_image(png, c.rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(c.rows);
    if (ch == 3) {
        size_t np = (size_t)w * h;
        for (size_t i = 0; i < np; i++) c.pixels[i] = luma(c.pixels + 3 * i);
        uint8_t *shrunk = realloc(c.pixels, np);
        if (shrunk) c.pixels = shrunk;
    }
    *out = (GrayImage){.w = (int)w, .h = (int)h, .px = c.pixels};
    return 0;
}
