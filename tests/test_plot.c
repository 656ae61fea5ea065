/* tests/test_plot.c — the font and the line plotter draw where they should. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/font.h"
#include "core/plot.h"

Test(font, draws_glyph_pixels_and_clips) {
    unsigned char img[10 * 8];
    memset(img, 0, sizeof img);
    unsigned char white[1] = {255};
    int wd = font_draw_text(img, 10, 8, 1, 0, 0, "1", 1, white);
    cr_expect_eq(wd, FONT_W + 1);
    /* '1' has its stem in column 2 on every row but the last, which spans columns 1..3 */
    for (int r = 0; r < 7; r++) cr_expect_eq(img[r * 10 + 2], 255, "row %d", r);
    cr_expect_eq(img[0 * 10 + 0], 0);
    cr_expect_eq(img[6 * 10 + 1], 255);
    /* Drawing far outside the image must not write anything (nor crash). */
    unsigned char before[sizeof img];
    memcpy(before, img, sizeof img);
    font_draw_text(img, 10, 8, 1, 50, 50, "ABC", 3, white);
    font_draw_text(img, 10, 8, 1, -100, -100, "ABC", 3, white);
    cr_expect_arr_eq(img, before, sizeof img);
}

Test(plot, draws_series_in_its_colour) {
    double x[50], y[50];
    for (int i = 0; i < 50; i++) {
        x[i] = i;
        y[i] = exp(-i / 10.0);
    }
    PlotSeries s = {"loss", x, y, 50, {200, 30, 30}};
    PlotSpec spec = {320, 200, "loss", "step", true};
    unsigned char *img = plot_lines(&spec, &s, 1);
    cr_assert_not_null(img, "%s", ldm_last_error());
    int red = 0;
    for (int i = 0; i < 320 * 200; i++)
        if (img[i * 3] == 200 && img[i * 3 + 1] == 30) red++;
    cr_expect_gt(red, 100, "the curve is drawn (%d red pixels)", red);
    free(img);
}

Test(plot, rejects_empty_and_bad_sizes) {
    double x[2] = {0, 1}, y[2] = {NAN, -1};
    PlotSeries s = {"bad", x, y, 2, {0, 0, 0}};
    PlotSpec spec = {320, 200, "t", "x", true};
    cr_expect_null(plot_lines(&spec, &s, 1));
    cr_expect(strstr(ldm_last_error(), "plot"));
    PlotSpec tiny = {10, 10, "t", "x", false};
    cr_expect_null(plot_lines(&tiny, &s, 1));
}
