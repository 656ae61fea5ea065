/* data/image.h — 8-bit grayscale images and the 2-D image decoders (PNG, JPEG).
 *
 * Every decoder reads untrusted bytes: it checks the format's own structure, caps the
 * dimensions at IMG_MAX_SIDE per side and IMG_MAX_PIXELS in all, and fails with -1 and
 * an error "<decoder>: <name>: <problem>" (name = the file, for messages) instead of
 * exiting, crashing or reading out of bounds. Colour is converted to gray with the
 * ITU-R 601 luma weights PIL uses (L = (19595 R + 38470 G + 7471 B + 2^15) >> 16).
 */
#ifndef LDM_DATA_IMAGE_H
#define LDM_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#define IMG_MAX_SIDE   16384
#define IMG_MAX_PIXELS (1 << 26) /* 64 Mpixel: far above any MRI slice */
#define IMG_MAX_FILE   (256u << 20) /* bytes read from one image or volume file */

typedef struct {
    int w, h;
    uint8_t *px; /* (h, w) row-major, malloc'ed; gray_free releases it */
} GrayImage;

void gray_free(GrayImage *im);

/* PNG, any bit depth and colour type (gray, gray+alpha, palette, RGB, RGBA); 16-bit
 * samples are rounded to 8 bits (v * 255 / 65535), alpha is dropped. */
int img_decode_png(const uint8_t *buf, size_t n, const char *name, GrayImage *out);
/* JPEG (baseline or progressive; gray or YCbCr). Any libjpeg warning (truncated or
 * corrupt data) is an error here, since libjpeg would otherwise fill in gray. */
int img_decode_jpeg(const uint8_t *buf, size_t n, const char *name, GrayImage *out);
/* PNG or JPEG chosen by the file's signature; anything else is "not a PNG or JPEG". */
int img_decode(const uint8_t *buf, size_t n, const char *name, GrayImage *out);
/* Reads `path` (at most IMG_MAX_FILE bytes) and decodes it with img_decode. */
int img_decode_file(const char *path, GrayImage *out);

/* Whole file into a malloc'ed buffer; fails on more than max bytes. */
int read_file(const char *path, size_t max, uint8_t **buf, size_t *n);

#endif
