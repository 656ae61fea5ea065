/* data/decode_png.c — PNG to 8-bit gray or RGB through libpng, from memory (see image.h).
 *
 * libpng reports errors by longjmp; every allocation made after setjmp lives in the
 * PngCtx struct (not in locals) so the error path can free it. Before libpng sees the
 * bytes, the chunk list is walked once: a chunk whose length runs past the end of the
 * file is rejected here, because libpng would first allocate (and clear) that many
 * bytes — fuzzing found a 100-byte file claiming a 1 GB tEXt chunk that took seconds.
 * Text, ICC and other metadata chunks are skipped: the pixels are all we need.
 * 16-bit samples come out of libpng as they are (big-endian) and are windowed here
 * (window16), after the reading, so the error path never meets that buffer.
 */
#include <ctype.h>
#include <math.h>
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

/* The window of image.h on n 16-bit big-endian samples, into dst (n bytes). */
static int window16(const uint8_t *src, size_t n, uint8_t *dst) {
    uint32_t *hist = calloc(65536, sizeof(uint32_t));
    if (!hist) return -1;
    unsigned lo = 65535;
    for (size_t i = 0; i < n; i++) {
        unsigned v = (unsigned)src[2 * i] << 8 | src[2 * i + 1];
        hist[v]++;
        lo = v < lo ? v : lo;
    }
    size_t above = n - hist[lo], cum = 0, target = (size_t)ceil(0.995 * (double)above);
    unsigned hi = lo;
    for (unsigned v = lo + 1; v < 65536 && above; v++)
        if ((cum += hist[v]) >= target) {
            hi = v;
            break;
        }
    free(hist);
    double scale = hi > lo ? 255.0 / (hi - lo) : 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v = (unsigned)src[2 * i] << 8 | src[2 * i + 1];
        double q = v <= lo ? 0 : (v - lo) * scale + 0.5;
        dst[i] = q >= 255 ? 255 : (uint8_t)q;
    }
    return 0;
}

int img_decode_png_as(const uint8_t *buf, size_t n, const char *name, int channels, Image *out, ImageSource *src) {
    if (!out) return ldm_error("png", "%s: no output image", name);
    *out = (Image){0};
    if (channels != 1 && channels != 3) return ldm_error("png", "%s: %d channels asked (want 1 or 3)", name, channels);
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
    int ctype = png_get_color_type(png, info), depth = png_get_bit_depth(png, info) == 16 ? 16 : 8;
    int trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if (src) {
        src->channels = ctype == PNG_COLOR_TYPE_GRAY ? 1 + trns : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                        : ctype == PNG_COLOR_TYPE_RGB_ALPHA ? 4 : 3 + trns;
        src->depth = depth;
    }
    png_set_expand(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info), bytes = depth / 8;
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((ch != 1 && ch != 3) || rowbytes != (size_t)w * ch * bytes) png_error(png, "unexpected pixel format after conversion");
    c.pixels = malloc(rowbytes * h);
    c.rows = malloc(h * sizeof *c.rows);
    if (!c.pixels || !c.rows) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) c.rows[y] = c.pixels + y * rowbytes;
    png_read_image(png, c.rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(c.rows);
    /* 16 -> 8 bits, then ch -> channels */
    size_t np = (size_t)w * h;
    uint8_t *px = c.pixels;
    if (depth == 16) {
        uint8_t *p8 = malloc(np * ch);
        if (!p8 || window16(c.pixels, np * ch, p8)) {
            free(p8);
            free(c.pixels);
            return ldm_error("png", "%s: out of memory", name);
        }
        free(c.pixels);
        px = p8;
    }
    if (ch == 3 && channels == 1) {
        for (size_t i = 0; i < np; i++) px[i] = luma(px + 3 * i);
        uint8_t *shrunk = realloc(px, np);
        if (shrunk) px = shrunk;
    } else if (ch == 1 && channels == 3) {
        uint8_t *rgb = malloc(np * 3);
        if (!rgb) {
            free(px);
            return ldm_error("png", "%s: out of memory", name);
        }
        for (size_t i = 0; i < np; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = px[i];
        free(px);
        px = rgb;
    }
    *out = (Image){.w = (int)w, .h = (int)h, .px = px, .c = channels};
    return 0;
}
