/* tests/test_sample_grid.c — the picture side of ldm-sample: [-1, 1] -> uint8, the
 * labelled grid's geometry and tile placement, bad grids refused, per-class seeds. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/generate.h"
#include "sample/grid.h"

Test(grid, to_u8_maps_and_clamps) {
    const float x[7] = {-1.0f, 1.0f, 0.0f, -3.0f, 7.0f, NAN, 0.5f};
    uint8_t o[7];
    grid_to_u8(x, 7, o);
    const uint8_t want[7] = {0, 255, 128, 0, 255, 0, 191};
    for (int i = 0; i < 7; i++) cr_expect_eq(o[i], want[i], "x = %g: %d, want %d", (double)x[i], o[i], want[i]);
}

/* Tile k filled with the value 10 + k: each must appear, whole, where the layout puts it. */
Test(grid, tiles_land_in_rows_and_columns_with_zoom) {
    enum { R = 2, C = 3, T = 5, Z = 2 };
    uint8_t tiles[R * C * T * T];
    for (int k = 0; k < R * C; k++) memset(tiles + k * T * T, 10 + k, T * T);
    const char *rows[R] = {"AD", "NC"}, *cols[C] = {"a", "b", "c"};
    GridSpec g = {.rows = R, .cols = C, .tile = T, .tiles = tiles, .row_labels = rows, .col_labels = cols,
                  .title = "T", .zoom = Z};
    int w, h;
    uint8_t *img = grid_render(&g, &w, &h);
    cr_assert_not_null(img, "%s", ldm_last_error());
    /* find each tile's top-left corner by its value; check the whole zoomed square */
    int first_x[R * C], first_y[R * C];
    for (int k = 0; k < R * C; k++) first_x[k] = first_y[k] = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int k = img[y * w + x] - 10;
            if (k >= 0 && k < R * C && first_x[k] < 0) first_x[k] = x, first_y[k] = y;
        }
    for (int k = 0; k < R * C; k++) {
        cr_assert_geq(first_x[k], 0, "tile %d is missing", k);
        for (int y = 0; y < T * Z; y++)
            for (int x = 0; x < T * Z; x++)
                cr_expect_eq(img[(first_y[k] + y) * w + first_x[k] + x], 10 + k, "tile %d pixel (%d, %d)", k, x, y);
    }
    /* same row, same y; next column T*Z + 2 to the right; next row below */
    cr_expect_eq(first_y[0], first_y[2]);
    cr_expect_eq(first_x[1] - first_x[0], T * Z + 2);
    cr_expect_eq(first_y[3] - first_y[0], T * Z + 2);
    cr_expect_eq(first_x[3], first_x[0]);
    cr_expect_gt(first_x[0], 6, "room for the row labels on the left");
    cr_expect_gt(h, first_y[3] + T * Z + 7, "room for the column labels below");
    free(img);
}

/* RGB tiles: tile k is the colour (10 + k, 100 + k, 200 - k); the same layout as gray,
 * each pixel's three bytes kept in order, the background white in all three. */
Test(grid, rgb_tiles_keep_their_colour) {
    enum { R = 1, C = 2, T = 4, Z = 1 };
    uint8_t tiles[R * C * T * T * 3];
    for (int k = 0; k < R * C; k++)
        for (int i = 0; i < T * T; i++) {
            uint8_t *p = tiles + ((size_t)k * T * T + i) * 3;
            p[0] = (uint8_t)(10 + k), p[1] = (uint8_t)(100 + k), p[2] = (uint8_t)(200 - k);
        }
    const char *rows[R] = {"RED"};
    GridSpec g = {.rows = R, .cols = C, .tile = T, .channels = 3, .tiles = tiles, .row_labels = rows, .zoom = Z};
    int w, h;
    uint8_t *img = grid_render(&g, &w, &h);
    cr_assert_not_null(img, "%s", ldm_last_error());
    int count[C] = {0}, first_x[C] = {-1, -1};
    for (int i = 0; i < w * h; i++) {
        const uint8_t *p = img + (size_t)i * 3;
        for (int k = 0; k < C; k++)
            if (p[0] == 10 + k && p[1] == 100 + k && p[2] == 200 - k) {
                count[k]++;
                if (first_x[k] < 0) first_x[k] = i % w;
            }
    }
    for (int k = 0; k < C; k++) cr_expect_eq(count[k], T * T, "tile %d: %d pixels of its colour", k, count[k]);
    cr_expect_eq(first_x[1] - first_x[0], T + 2);
    cr_expect(img[0] == 255 && img[1] == 255 && img[2] == 255, "white background");
    free(img);
    g.channels = 2;
    cr_expect_null(grid_render(&g, &w, &h));
}

Test(grid, bad_grids_are_refused) {
    uint8_t t[4] = {0};
    int w, h;
    GridSpec g = {.rows = 0, .cols = 1, .tile = 2, .tiles = t, .zoom = 1};
    cr_expect_null(grid_render(&g, &w, &h));
    cr_expect(strstr(ldm_last_error(), "grid"), "%s", ldm_last_error());
    g.rows = 1, g.zoom = 0;
    cr_expect_null(grid_render(&g, &w, &h));
    g.zoom = 1, g.tiles = NULL;
    cr_expect_null(grid_render(&g, &w, &h));
    cr_expect_null(grid_render(NULL, &w, &h));
}

Test(generate, row_seeds_differ_per_class_and_seed) {
    uint64_t s[8];
    for (int i = 0; i < 4; i++) s[i] = gen_row_seed(0, i - 1), s[4 + i] = gen_row_seed(1, i - 1);
    for (int i = 0; i < 8; i++)
        for (int j = i + 1; j < 8; j++) cr_expect_neq(s[i], s[j], "seeds %d and %d collide", i, j);
    cr_expect_eq(gen_row_seed(7, 2), gen_row_seed(7, 2));
}
