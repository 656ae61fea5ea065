/* core/font.h — draw short labels into 8-bit images (gray: channels 1, RGB: 3). */
#ifndef LDM_CORE_FONT_H
#define LDM_CORE_FONT_H

#define FONT_W 5
#define FONT_H 7
#define FONT_ADVANCE (FONT_W + 1) /* pixels from one glyph to the next, at scale 1 */

/* Draws `text` with its top-left corner at (x, y), each font pixel a scale x scale
 * square, in colour rgb (rgb[0] only for gray). Clips at the image border. Returns the
 * width drawn in pixels. */
int font_draw_text(unsigned char *img, int w, int h, int channels, int x, int y, const char *text, int scale,
                   const unsigned char *rgb);
/* Width in pixels that font_draw_text would use. */
int font_text_width(const char *text, int scale);

#endif
