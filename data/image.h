/* data/image.h — 8-bit grayscale images and the 2-D image decoders (PNG, JPEG).
 *
 * Every decoder reads untrusted bytes: it checks the format's own structure, caps the
 * dimensions at IMG_MAX_SIDE per side and IMG_MAX_PIXELS in all, and fails with -1 and
 * an error "<decoder>: <name>: <problem>" (name = the file, for messages) instead of
 * exiting, crashing or reading out of bounds.
 *
 * Channels: the caller asks for 1 (gray) or 3 (RGB) and gets them whatever the file
 * holds. Colour asked as gray is the ITU-R BT.601 luma, the weights PIL's "L" uses:
 *   Y = (19595 R + 38470 G + 7471 B + 2^15) >> 16    (0.299 R + 0.587 G + 0.114 B)
 * (a YCbCr JPEG's Y channel is that same luma); gray asked as RGB is repeated in R, G
 * and B. Alpha is dropped (the colour under it is kept, not blended). 16-bit PNG
 * samples are windowed to 8 bits per image the way NIfTI volumes are (layout_nifti.c):
 *   lo = the image's minimum, hi = the 99.5th percentile of the samples above lo,
 *   v -> round(255 (v - lo) / (hi - lo)), clamped to 0..255
 * so a scan stored as 0..1200 fills 0..255 instead of becoming 0..4 (v * 255 / 65535);
 * an image with a single value becomes 0.
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
    uint8_t *px; /* (h, w, c) row-major, channels interleaved, malloc'ed; gray_free releases it */
    int c;       /* channels in px: 1 (gray) or 3 (RGB) */
} Image;
typedef Image GrayImage; /* an Image with c = 1 */

void gray_free(GrayImage *im);

/* What a file holds, before conversion: colour channels as stored (1 gray, 2 gray +
 * alpha, 3 RGB, 4 RGBA; a palette counts as RGB, or RGBA with transparency) and the
 * bit depth of a sample (8, or 16; depths below 8 count as 8). */
typedef struct {
    int channels, depth;
} ImageSource;

/* PNG, any bit depth and colour type (gray, gray+alpha, palette, RGB, RGBA). */
int img_decode_png_as(const uint8_t *buf, size_t n, const char *name, int channels, Image *out, ImageSource *src);
/* JPEG (baseline or progressive; gray or YCbCr). Any libjpeg warning (truncated or
 * corrupt data) is an error here, since libjpeg would otherwise fill in gray. */
int img_decode_jpeg_as(const uint8_t *buf, size_t n, const char *name, int channels, Image *out, ImageSource *src);
/* PNG or JPEG chosen by the file's signature; anything else is "not a PNG or JPEG". */
int img_decode_as(const uint8_t *buf, size_t n, const char *name, int channels, Image *out, ImageSource *src);
/* Reads `path` (at most IMG_MAX_FILE bytes) and decodes it with img_decode_as. */
int img_decode_file_as(const char *path, int channels, Image *out, ImageSource *src);

/* The same as 8-bit gray (channels 1, no source report). */
int img_decode_png(const uint8_t *buf, size_t n, const char *name, GrayImage *out);
int img_decode_jpeg(const uint8_t *buf, size_t n, const char *name, GrayImage *out);
int img_decode(const uint8_t *buf, size_t n, const char *name, GrayImage *out);
int img_decode_file(const char *path, GrayImage *out);

/* Whole file into a malloc'ed buffer; fails on more than max bytes. */
int read_file(const char *path, size_t max, uint8_t **buf, size_t *n);

#endif
