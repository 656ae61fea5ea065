/* core/plot.c — see plot.h. Axes with 5 ticks each, labels from core/font, series as
 * 2-pixel polylines (Bresenham), a legend in the top-right corner. */
#include "core/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/font.h"

static void px(unsigned char *img, int w, int h, int x, int y, const unsigned char *c) {
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    memcpy(img + ((size_t)y * (size_t)w + (size_t)x) * 3, c, 3);
}

static void line(unsigned char *img, int w, int h, int x0, int y0, int x1, int y1, const unsigned char *c,
                 int thick) {
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        for (int t = 0; t < thick; t++) {
            px(img, w, h, x0, y0 + t, c);
            px(img, w, h, x0 + t, y0, c);
        }
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) { err += dy; x0 += sx; }
        if (e2 <= dx) { err += dx; y0 += sy; }
    }
}

static bool usable(double v, bool log_y) { return isfinite(v) && (!log_y || v > 0); }

unsigned char *plot_lines(const PlotSpec *spec, const PlotSeries *series, int n_series) {
    if (!spec || spec->width < 160 || spec->height < 120 || spec->width > 8192 || spec->height > 8192) {
        ldm_error("plot", "image size must be between 160x120 and 8192x8192");
        return NULL;
    }
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !usable(y, spec->log_y)) continue;
            double yv = spec->log_y ? log10(y) : y;
            if (x < xmin) xmin = x;
            if (x > xmax) xmax = x;
            if (yv < ymin) ymin = yv;
            if (yv > ymax) ymax = yv;
        }
    if (!(xmin <= xmax)) {
        ldm_error("plot", "no finite points to plot");
        return NULL;
    }
    if (xmax == xmin) xmax = xmin + 1;
    if (ymax == ymin) { ymax += 0.5; ymin -= 0.5; }
    double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;

    int w = spec->width, h = spec->height;
    unsigned char *img = malloc((size_t)w * (size_t)h * 3);
    if (!img) {
        ldm_error("plot", "out of memory");
        return NULL;
    }
    memset(img, 255, (size_t)w * (size_t)h * 3);
    const unsigned char black[3] = {0, 0, 0}, grid[3] = {225, 225, 225};
    int left = 70, right = w - 15, top = 28, bottom = h - 38;

    if (spec->title) font_draw_text(img, w, h, 3, left, 8, spec->title, 2, black);
    if (spec->xlabel)
        font_draw_text(img, w, h, 3, (left + right - font_text_width(spec->xlabel, 1)) / 2, h - 12, spec->xlabel, 1,
                       black);
    char buf[32];
    for (int i = 0; i <= 4; i++) {
        int yy = bottom - (bottom - top) * i / 4;
        int xx = left + (right - left) * i / 4;
        line(img, w, h, left, yy, right, yy, grid, 1);
        line(img, w, h, xx, top, xx, bottom, grid, 1);
        double yv = ymin + (ymax - ymin) * i / 4;
        if (spec->log_y) snprintf(buf, sizeof buf, "%.3g", pow(10, yv));
        else snprintf(buf, sizeof buf, "%.3g", yv);
        font_draw_text(img, w, h, 3, left - 6 - font_text_width(buf, 1), yy - 3, buf, 1, black);
        snprintf(buf, sizeof buf, "%.6g", xmin + (xmax - xmin) * i / 4);
        font_draw_text(img, w, h, 3, xx - font_text_width(buf, 1) / 2, bottom + 6, buf, 1, black);
    }
    line(img, w, h, left, top, left, bottom, black, 1);
    line(img, w, h, left, bottom, right, bottom, black, 1);

    for (int s = 0; s < n_series; s++) {
        int have = 0, lx = 0, ly = 0;
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !usable(y, spec->log_y)) continue;
            double yv = spec->log_y ? log10(y) : y;
            int X = left + (int)lround((x - xmin) / (xmax - xmin) * (right - left));
            int Y = bottom - (int)lround((yv - ymin) / (ymax - ymin) * (bottom - top));
            if (have) line(img, w, h, lx, ly, X, Y, series[s].rgb, 2);
            else px(img, w, h, X, Y, series[s].rgb);
            lx = X;
            ly = Y;
            have = 1;
        }
        if (series[s].label) {
            int tw = font_text_width(series[s].label, 1);
            int ly0 = top + 6 + 12 * s;
            line(img, w, h, right - tw - 30, ly0 + 3, right - tw - 14, ly0 + 3, series[s].rgb, 2);
            font_draw_text(img, w, h, 3, right - tw - 8, ly0, series[s].label, 1, black);
        }
    }
    return img;
}
