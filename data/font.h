/* data/font.h — a tiny built-in 5x7 bitmap font for labels on picture grids.
 *
 * Covers A-Z (lower case is drawn as upper case), 0-9 and - _ . : / ( ) = + , # % ? '
 * and space; anything else is drawn as '?'. Each glyph is 5 x 7 pixels on a 6-pixel
 * advance, multiplied by an integer scale. Drawing clips to the image.
 */
#ifndef LDM_DATA_FONT_H
#define LDM_DATA_FONT_H

#include <stdint.h>

#define FONT_W 5
#define FONT_H 7
#define FONT_ADVANCE 6

/* Width in pixels of s drawn at `scale` (no trailing gap). */
int font_text_width(const char *s, int scale);
/* Draws s with its top-left corner at (x, y) into an (h, w, channels) uint8 image,
 * setting covered pixels to color[0..channels-1]. */
void font_draw(uint8_t *img, int w, int h, int channels, int x, int y, const char *s, int scale,
               const uint8_t *color);

#endif
