/* sample/grid.h — pictures of samples: a labelled grid of gray or RGB tiles.
 *
 *   +--------------------------------------------+
 *   | title                                      |
 *   | label0  [tile][tile][tile] ...             |   one row per class (or per image
 *   | label1  [tile][tile][tile] ...             |   for a denoising strip)
 *   |         col0  col1  col2                   |   optional column captions
 *   +--------------------------------------------+
 * White background, black text (core/font.h, 5x7 glyphs), 2-pixel gaps between tiles.
 */
#ifndef LDM_SAMPLE_GRID_H
#define LDM_SAMPLE_GRID_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rows, cols, tile;          /* tiles are tile x tile */
    int channels;                  /* 1 gray (0 means 1) or 3 RGB: of the tiles and the picture */
    const uint8_t *tiles;          /* (rows * cols, tile, tile, channels), row-major tile order */
    const char *const *row_labels; /* rows strings, or NULL */
    const char *const *col_labels; /* cols strings (under the grid), or NULL */
    const char *title;             /* or NULL */
    int zoom;                      /* each pixel drawn zoom x zoom (1..8) */
} GridSpec;

/* A new (h, w, channels) image (caller frees) and its size; NULL + error on bad arguments. */
uint8_t *grid_render(const GridSpec *g, int *w, int *h);

/* Maps model outputs in [-1, 1] to uint8 (clamped): v -> round((v + 1) * 127.5). */
void grid_to_u8(const float *x, size_t n, uint8_t *out);

#endif
