/* data/preview.c — the labelled preview grid (see preview.h). */
#include "data/preview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/png.h"
#include "core/font.h"

#define GAP 2

/* Items to show: per class, evenly spaced through its items in the split. */
static int pick(const Dataset *ds, const PreviewOptions *o, int *items) {
    int nc = ds->n_classes > 0 ? ds->n_classes : 1, n = 0;
    int per = (o->count + nc - 1) / nc;
    for (int c = 0; c < nc && n < o->count; c++) {
        int avail = 0;
        for (int i = 0; i < ds->n_items; i++)
            avail += ds->items[i].split == o->split && (ds->n_classes == 0 || ds->items[i].label == c);
        int take = avail < per ? avail : per;
        if (take > o->count - n) take = o->count - n;
        for (int t = 0, seen = 0, i = 0; t < take && i < ds->n_items; i++) {
            if (ds->items[i].split != o->split || (ds->n_classes > 0 && ds->items[i].label != c)) continue;
            /* the t-th pick is the item at position floor((t + 0.5) * avail / take) */
            if (seen++ == (int)(((long long)2 * t + 1) * avail / (2 * take))) items[n++] = i, t++;
        }
    }
    return n;
}

int data_preview(const Dataset *ds, const PreviewOptions *o, const char *out_png) {
    if (!ds || !o || !out_png) return ldm_error("preview", "NULL argument");
    if (o->count < 1 || o->count > 1024 || o->cols < 0) return ldm_error("preview", "count %d (1..1024), cols %d", o->count, o->cols);
    int side = transform_out_side(&o->tf, ds->w, ds->h);
    if (side < 0) return -1;
    int *items = malloc(sizeof(int) * (size_t)o->count);
    if (!items) return ldm_error("preview", "out of memory");
    int n = pick(ds, o, items);
    if (n == 0) {
        free(items);
        return ldm_error("preview", "the %s split is empty", split_name(o->split));
    }
    int cols = o->cols ? o->cols : (int)ceil(sqrt((double)n));
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols, scale = side >= 96 ? 2 : 1;
    int strip = FONT_H * scale + 4, tile_w = side + GAP, tile_h = side + strip + GAP;
    int W = cols * tile_w + GAP, H = rows * tile_h + GAP;
    const int C = transform_channels(&o->tf);
    if (C != 1 && C != 3) {
        free(items);
        return ldm_error("preview", "channels %d (want 1 or 3)", C);
    }
    uint8_t *img = malloc((size_t)W * H * C), *px = malloc((size_t)side * side * C);
    float *f = malloc(sizeof(float) * (size_t)side * side * C);
    int rc = 0;
    if (!img || !px || !f) rc = ldm_error("preview", "out of memory (%dx%d grid)", W, H);
    if (!rc) memset(img, 48, (size_t)W * H * C);
    static const uint8_t white[3] = {255, 255, 255};
    for (int k = 0; k < n && !rc; k++) {
        const DataItem *it = &ds->items[items[k]];
        int x0 = GAP + (k % cols) * tile_w, y0 = GAP + (k / cols) * tile_h;
        if ((rc = dataset_item_geometry(ds, items[k], &o->tf, px, NULL))) break;
        transform_to_float_ch(px, side, C, false, f);
        for (int y = 0; y < side; y++)
            for (int x = 0; x < side * C; x++) {
                float v = (f[(size_t)y * side * C + x] + 1.0f) * 127.5f;
                img[((size_t)(y0 + strip + y) * W + x0) * C + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5f);
            }
        char label[128];
        snprintf(label, sizeof label, "%s", ds->n_classes > 0 ? ds->classes[it->label] : ds->patients[it->patient]);
        int max_chars = (side + 1) / (FONT_ADVANCE * scale);
        if ((int)strlen(label) > max_chars) label[max_chars > 0 ? max_chars : 0] = '\0';
        font_draw_text(img, W, H, C, x0 + 1, y0 + 2, label, scale, white);
    }
    if (!rc) {
        char tf[128], classes[512] = "", count[32];
        transform_format(&o->tf, tf, sizeof tf);
        for (int c = 0; c < ds->n_classes; c++) {
            size_t l = strlen(classes);
            snprintf(classes + l, sizeof classes - l, "%s%s=%d", c ? "," : "", ds->classes[c], c);
        }
        snprintf(count, sizeof count, "%d", n);
        PngText text[] = {{"Software", "ldm-data preview"}, {"Source", ds->root}, {"Layout", layout_name(ds->layout)},
                          {"Split", split_name(o->split)}, {"Transform", tf}, {"Images", count},
                          {"Classes", ds->n_classes ? classes : "unconditional"}};
        rc = ldm_png_write(out_png, img, W, H, C, text, (int)(sizeof text / sizeof text[0]));
    }
    free(items);
    free(img);
    free(px);
    free(f);
    return rc;
}
