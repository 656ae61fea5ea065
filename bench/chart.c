/* bench/chart.c — see chart.h. Bars drawn straight into an RGB buffer with core/font.h
 * labels; written with core/png.h (the inputs' preset, device and commit in tEXt). */
#include "bench/chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/font.h"
#include "core/json.h"
#include "core/png.h"

#define MAX_GROUPS 32
#define MAX_ROWS 4096

static JsonValue *read_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return ldm_error("chart", "%s: cannot open", path), NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = len > 0 ? malloc((size_t)len) : NULL;
    size_t got = buf ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    JsonValue *v = buf && got == (size_t)len ? json_parse(buf, got) : NULL;
    if (!v && buf) ldm_error("chart", "%s: %s", path, ldm_last_error());
    free(buf);
    return v;
}

static long long jint(const JsonValue *o, const char *key) {
    const JsonValue *v = json_get(o, key);
    return v && v->type == JSON_INT ? v->i : -1;
}

static const char *jstr(const JsonValue *o, const char *key) {
    const JsonValue *v = json_get(o, key);
    return v && v->type == JSON_STRING ? v->s : "";
}

typedef struct {
    char name[40];
    int matmul;
    double work, time, ldm_t, torch_t; /* work: count x bytes or FLOP; time: count x s */
} Group;

typedef struct {
    char key[200];
    const JsonValue *row;
} Best;

static void fill_rect(unsigned char *img, int w, int h, int x0, int y0, int x1, int y1, const unsigned char *c) {
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < w; x++) memcpy(img + ((size_t)y * w + x) * 3, c, 3);
}

static void panel(unsigned char *img, int w, int h, int x0, int y0, int pw, const char *title, const Group *g, int ng,
                  const double *val, double vmax, double mark, const char *fmt, const unsigned char *col) {
    static const unsigned char black[3] = {0, 0, 0}, grid[3] = {200, 200, 200}, red[3] = {200, 40, 40};
    font_draw_text(img, w, h, 3, x0, y0, title, 2, black);
    const int label_w = 130, top = y0 + 28, bar_h = 14, step = 22, bw = pw - label_w - 60;
    for (int i = 0; i <= 4; i++) {
        int x = x0 + label_w + (int)(bw * i / 4.0);
        fill_rect(img, w, h, x, top - 4, x + 1, top + ng * step, grid);
        char t[32];
        snprintf(t, sizeof t, fmt, vmax * i / 4.0);
        font_draw_text(img, w, h, 3, x - font_text_width(t, 1) / 2, top + ng * step + 4, t, 1, black);
    }
    for (int i = 0; i < ng; i++) {
        int y = top + i * step;
        font_draw_text(img, w, h, 3, x0, y + 4, g[i].name, 1, black);
        if (!isfinite(val[i])) {
            font_draw_text(img, w, h, 3, x0 + label_w + 4, y + 4, "-", 1, black);
            continue;
        }
        int len = (int)(bw * fmin(val[i], vmax) / vmax);
        fill_rect(img, w, h, x0 + label_w, y, x0 + label_w + len, y + bar_h, col);
        char t[32];
        snprintf(t, sizeof t, fmt, val[i]);
        font_draw_text(img, w, h, 3, x0 + label_w + len + 4, y + 4, t, 1, black);
    }
    if (mark > 0) {
        int x = x0 + label_w + (int)(bw * mark / vmax);
        fill_rect(img, w, h, x, top - 6, x + 2, top + ng * step, red);
    }
}

int chart_write(const char *kernels_json, const char *torch_json, const char *png_path) {
    JsonValue *k = read_json(kernels_json), *t = torch_json ? read_json(torch_json) : NULL;
    int rc = !k || (torch_json && !t) ? -1 : 0;
    const JsonValue *rows = k ? json_get(k, "rows") : NULL, *ceilings = k ? json_get(k, "ceilings") : NULL;
    const JsonValue *trows = t ? json_get(t, "rows") : NULL;
    if (!rc && (!rows || rows->type != JSON_ARRAY || !ceilings))
        rc = ldm_error("chart", "%s: not an ldm-bench kernels JSON (no rows/ceilings)", kernels_json);
    if (!rc && t && (!trows || trows->type != JSON_OBJECT))
        rc = ldm_error("chart", "%s: no \"rows\" object of key: ns", torch_json);
    /* bench/torch_twin.py's BLAS check: PyTorch on the reference BLAS is no yardstick. */
    const JsonValue *blas = t ? json_get(t, "blas") : NULL;
    if (!rc && t && !strcmp(jstr(k, "device"), "cpu") && (!blas || jint(blas, "ok") != 1))
        rc = ldm_error("chart", "%s: PyTorch's BLAS is %s, not an optimised one (or the file predates the check): "
                       "no ratios", torch_json, blas ? jstr(blas, "name") : "unrecorded");
    Best *best = rc ? NULL : calloc(MAX_ROWS, sizeof *best);
    int nb = 0;
    /* the fastest version of each (op, pass, model, shape) */
    for (int i = 0; !rc && best && i < rows->n; i++) {
        const JsonValue *r = &rows->items[i];
        char key[200];
        snprintf(key, sizeof key, "%s.%s %s %s", jstr(r, "op"), jstr(r, "pass"), jstr(r, "model"), jstr(r, "shape"));
        int j = 0;
        while (j < nb && strcmp(best[j].key, key)) j++;
        if (j == nb) {
            if (nb == MAX_ROWS) break;
            snprintf(best[nb].key, sizeof best[nb].key, "%s", key);
            best[nb++].row = r;
        } else if (jint(r, "time_ns") < jint(best[j].row, "time_ns")) {
            best[j].row = r;
        }
    }
    Group g[MAX_GROUPS];
    int ng = 0;
    for (int i = 0; !rc && i < nb; i++) {
        const JsonValue *r = best[i].row;
        char name[40];
        snprintf(name, sizeof name, "%s.%s", jstr(r, "op"), jstr(r, "pass"));
        int j = 0;
        while (j < ng && strcmp(g[j].name, name)) j++;
        if (j == ng) {
            if (ng == MAX_GROUPS) continue;
            memset(&g[ng], 0, sizeof g[ng]);
            snprintf(g[ng].name, sizeof g[ng].name, "%s", name);
            const char *op = jstr(r, "op");
            g[ng++].matmul = !strcmp(op, "conv2d") || !strcmp(op, "linear") || !strcmp(op, "attention");
        }
        double cnt = (double)jint(r, "count"), sec = jint(r, "time_ns") * 1e-9;
        g[j].work += cnt * (double)jint(r, g[j].matmul ? "flop" : "bytes");
        g[j].time += cnt * sec;
        const JsonValue *tv = trows ? json_get(trows, best[i].key) : NULL;
        if (tv && tv->type == JSON_INT && tv->i > 0) {
            g[j].ldm_t += cnt * sec;
            g[j].torch_t += cnt * tv->i * 1e-9;
        }
    }
    if (!rc && ng == 0) rc = ldm_error("chart", "%s: no rows", kernels_json);
    if (!rc) {
        double bw = (double)jint(ceilings, "bw_bytes_s"), fma = (double)jint(ceilings, "fma_flop_s");
        double pct[MAX_GROUPS], ratio[MAX_GROUPS], rmax = 2;
        for (int i = 0; i < ng; i++) {
            pct[i] = 100.0 * g[i].work / g[i].time / (g[i].matmul ? fma : bw);
            ratio[i] = g[i].torch_t > 0 ? g[i].ldm_t / g[i].torch_t : NAN;
            if (isfinite(ratio[i]) && ratio[i] > rmax) rmax = ceil(ratio[i]);
        }
        const int pw = 520, w = t ? 2 * pw + 20 : pw + 20, h = 100 + ng * 22 + 40;
        unsigned char *img = malloc((size_t)w * h * 3);
        if (!img) rc = ldm_error("chart", "out of memory");
        else {
            static const unsigned char black[3] = {0, 0, 0}, blue[3] = {60, 110, 200}, orange[3] = {230, 140, 40};
            memset(img, 255, (size_t)w * h * 3);
            char title[200];
            snprintf(title, sizeof title, "ldm-bench kernels: preset %s, batch %lld, %s (%s), commit %s",
                     jstr(k, "preset"), jint(k, "batch"), jstr(k, "device"), jstr(k, "device_name"), jstr(k, "commit"));
            font_draw_text(img, w, h, 3, 10, 8, title, 1, black);
            font_draw_text(img, w, h, 3, 10, 20,
                           "% of ceiling: memory-bound ops vs copy bandwidth, conv2d/linear/attention vs FMA peak", 1,
                           black);
            panel(img, w, h, 10, 40, pw, "% of ceiling", g, ng, pct, 100, 0, "%.0f", blue);
            if (t)
                panel(img, w, h, pw + 20, 40, pw, "ldm.c / PyTorch time", g, ng, ratio, rmax, 1.0, "%.2f", orange);
            PngText text[] = {{"preset", jstr(k, "preset")}, {"device", jstr(k, "device_name")},
                              {"commit", jstr(k, "commit")}, {"date", jstr(k, "date")}};
            rc = ldm_png_write(png_path, img, w, h, 3, text, 4);
            free(img);
        }
    }
    free(best);
    json_free(k);
    json_free(t);
    return rc;
}
