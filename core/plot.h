/* core/plot.h — line charts rasterised into an RGB buffer (loss curves, benchmark
 * bars are drawn by their callers). The caller writes the PNG (core/png.h). */
#ifndef LDM_CORE_PLOT_H
#define LDM_CORE_PLOT_H

#include <stdbool.h>

typedef struct {
    const char *label;     /* legend text */
    const double *x, *y;   /* n points; non-finite y values are skipped */
    int n;
    unsigned char rgb[3];
} PlotSeries;

typedef struct {
    int width, height;     /* pixels, at least 160 x 120 */
    const char *title;
    const char *xlabel;
    bool log_y;            /* log10 axis; values <= 0 are skipped */
} PlotSpec;

/* Renders the series into a new width*height*3 RGB buffer (caller frees). NULL with an
 * error when the spec is invalid or nothing is plottable. */
unsigned char *plot_lines(const PlotSpec *spec, const PlotSeries *series, int n_series);

#endif
