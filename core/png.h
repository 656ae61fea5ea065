/* core/png.h — write 8-bit grayscale or RGB PNG files (libpng), with text metadata.
 *
 * Used for data previews, sample grids, loss curves and denoising strips. Text chunks
 * (tEXt) carry how a picture was made (seed, steps, sampler, transform...), so an
 * image documents itself. The file is written to "<path>.tmp.<pid>", flushed, fsync'ed
 * and renamed over `path`: a crash never leaves a half-written PNG where a good one was.
 */
#ifndef LDM_CORE_PNG_H
#define LDM_CORE_PNG_H

#include <stdint.h>

typedef struct {
    const char *key;   /* 1..79 Latin-1 characters, no leading/trailing space */
    const char *value; /* any text */
} PngText;

/* Writes an (h, w, channels) uint8 image, channels 1 (gray) or 3 (RGB), row-major with
 * no row padding, plus n_text tEXt chunks (text may be NULL when n_text is 0).
 * 0 on success; -1 with an error naming the file on failure (nothing left behind). */
int ldm_png_write(const char *path, const uint8_t *px, int w, int h, int channels,
                  const PngText *text, int n_text);

#endif
