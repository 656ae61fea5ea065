/* sample/grid.c — see grid.h. */
#include "sample/grid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/font.h"

#define GAP 2
#define MARGIN 6
#define TEXT_H (FONT_H + 6)

void grid_to_u8(const float *x, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i] != x[i] ? -1.0f : x[i]; /* NaN -> black */
        v = v < -1 ? -1 : v > 1 ? 1 : v;
        out[i] = (uint8_t)lrintf((v + 1.0f) * 127.5f);
    }
}

uint8_t *grid_render(const GridSpec *g, int *w_out, int *h_out) {
    const int C = g && g->channels ? g->channels : 1;
    if (!g || !g->tiles || g->rows < 1 || g->cols < 1 || g->tile < 1 || g->zoom < 1 || g->zoom > 8 ||
        (long)g->rows * g->cols > 65536 || g->tile > 4096 || (C != 1 && C != 3)) {
        ldm_error("grid", "bad grid: %d x %d tiles of %d pixels, %d channels, zoom %d", g ? g->rows : 0,
                  g ? g->cols : 0, g ? g->tile : 0, C, g ? g->zoom : 0);
        return NULL;
    }
    const int t = g->tile * g->zoom;
    int label_w = 0;
    for (int r = 0; g->row_labels && r < g->rows; r++) {
        int lw = font_text_width(g->row_labels[r], 1);
        label_w = lw > label_w ? lw : label_w;
    }
    int left = MARGIN + (label_w ? label_w + MARGIN : 0);
    int top = MARGIN + (g->title ? TEXT_H : 0);
    int W = left + g->cols * (t + GAP) - GAP + MARGIN;
    int H = top + g->rows * (t + GAP) - GAP + (g->col_labels ? TEXT_H : 0) + MARGIN;
    if (g->title) {
        int tw = font_text_width(g->title, 1) + 2 * MARGIN;
        W = tw > W ? tw : W;
    }
    uint8_t *img = malloc((size_t)W * H * C);
    if (!img) {
        ldm_error("grid", "out of memory for a %dx%d grid", W, H);
        return NULL;
    }
    memset(img, 255, (size_t)W * H * C);
    const unsigned char black[3] = {0, 0, 0};
    if (g->title) font_draw_text(img, W, H, C, MARGIN, MARGIN, g->title, 1, black);
    for (int r = 0; r < g->rows; r++) {
        int y0 = top + r * (t + GAP);
        if (g->row_labels) font_draw_text(img, W, H, C, MARGIN, y0 + (t - FONT_H) / 2, g->row_labels[r], 1, black);
        for (int c = 0; c < g->cols; c++) {
            const uint8_t *src = g->tiles + ((size_t)r * g->cols + c) * g->tile * g->tile * C;
            int x0 = left + c * (t + GAP);
            for (int y = 0; y < t; y++)
                for (int x = 0; x < t; x++)
                    memcpy(img + ((size_t)(y0 + y) * W + x0 + x) * C,
                           src + ((size_t)(y / g->zoom) * g->tile + x / g->zoom) * C, (size_t)C);
        }
    }
    for (int c = 0; g->col_labels && c < g->cols; c++) {
        int x0 = left + c * (t + GAP), lw = font_text_width(g->col_labels[c], 1);
        font_draw_text(img, W, H, C, x0 + (t - lw) / 2, top + g->rows * (t + GAP) + 2, g->col_labels[c], 1, black);
    }
    *w_out = W, *h_out = H;
    return img;
}
