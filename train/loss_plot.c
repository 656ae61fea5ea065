/* train/loss_plot.c — see loss_plot.h. */
#include "train/loss_plot.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/font.h"
#include "core/plot.h"
#include "core/png.h"
#include "train/run_files.h"

#define EVAL_H 220 /* height of the sample-evaluation row under the loss chart */

/* Copies a (w, h) RGB chart into dst (dw wide) at column x0, row y0. */
static void blit(unsigned char *dst, int dw, const unsigned char *src, int w, int h, int x0, int y0) {
    for (int y = 0; y < h; y++) memcpy(dst + ((size_t)(y0 + y) * dw + x0) * 3, src + (size_t)y * w * 3, (size_t)w * 3);
}

/* The row of two charts under the loss curve: generated-sample accuracy (%) and FD (log)
 * against the step, from the CSV's gen_accuracy and gen_fd columns. */
static int eval_row(const char *csv_path, unsigned char *img, int width, int y0, bool *drawn) {
    double *as, *acc, *fs, *fd;
    int na, nf, rc = 0;
    *drawn = false;
    if (csv_read_column(csv_path, 5, &as, &acc, &na)) return -1;
    if (csv_read_column(csv_path, 6, &fs, &fd, &nf)) {
        free(as), free(acc);
        return -1;
    }
    if (na > 0 && nf > 0) {
        bool pos = true; /* log axis for FD unless a tiny FD came out <= 0 (rounding) */
        for (int i = 0; i < na; i++) acc[i] *= 100;
        for (int i = 0; i < nf; i++) pos &= fd[i] > 0;
        const int w = width / 2;
        PlotSeries sa = {"accuracy %", as, acc, na, {40, 150, 60}}, sf = {"FD", fs, fd, nf, {170, 40, 140}};
        PlotSpec pa = {.width = w, .height = EVAL_H, .title = "samples: classifier accuracy", .xlabel = "step"};
        PlotSpec pf = {.width = w, .height = EVAL_H, .title = "samples: Frechet distance", .xlabel = "step", .log_y = pos};
        unsigned char *a = plot_lines(&pa, &sa, 1), *f = a ? plot_lines(&pf, &sf, 1) : NULL;
        if (a && f) {
            blit(img, width, a, w, EVAL_H, 0, y0), blit(img, width, f, w, EVAL_H, w, y0);
            *drawn = true;
        } else {
            rc = -1;
        }
        free(a), free(f);
    }
    free(as), free(acc), free(fs), free(fd);
    return rc;
}

int loss_plot_write(const char *csv_path, const char *png_path, const char *title) {
    double *st, *loss, *vst, *vloss;
    int n, nv;
    if (csv_read_losses(csv_path, &st, &loss, &n, &vst, &vloss, &nv)) return -1;
    int rc = -1;
    double *smooth = malloc((size_t)(n > 0 ? n : 1) * sizeof *smooth);
    if (!smooth) {
        ldm_error("loss_plot", "out of memory");
        goto out;
    }
    if (n == 0) {
        ldm_error("loss_plot", "%s has no rows to plot", csv_path);
        goto out;
    }
    /* trailing mean over a window of ~2% of the run (at least 1 step) */
    int win = n / 50 > 1 ? n / 50 : 1;
    double acc = 0;
    for (int i = 0; i < n; i++) {
        acc += loss[i];
        if (i >= win) acc -= loss[i - win];
        smooth[i] = acc / (i + 1 < win ? i + 1 : win);
    }
    PlotSeries s[3] = {{"loss", st, loss, n, {170, 190, 230}},
                       {"mean", st, smooth, n, {30, 70, 170}},
                       {"val", vst, vloss, nv, {230, 120, 20}}};
    PlotSpec spec = {.width = 640, .height = 400, .title = title, .xlabel = "step", .log_y = true};
    unsigned char *img = plot_lines(&spec, s, nv > 0 ? 3 : 2);
    if (!img) goto out;
    /* with sample evaluations, a second row of charts under the loss: one taller image */
    int height = spec.height;
    unsigned char *tall = malloc((size_t)spec.width * (spec.height + EVAL_H) * 3);
    bool drawn = false;
    if (!tall || eval_row(csv_path, tall, spec.width, spec.height, &drawn)) {
        free(img), free(tall);
        goto out;
    }
    if (drawn) {
        blit(tall, spec.width, img, spec.width, spec.height, 0, 0);
        free(img);
        img = tall, height += EVAL_H;
    } else {
        free(tall);
    }
    /* the numbers a reader looks for, under the x axis on the left */
    char note[128];
    int o = snprintf(note, sizeof note, "last %.4g", smooth[n - 1]);
    if (nv > 0) snprintf(note + o, sizeof note - (size_t)o, "  val %.4g", vloss[nv - 1]);
    const unsigned char grey[3] = {90, 90, 90};
    font_draw_text(img, spec.width, height, 3, 4, spec.height - 12, note, 1, grey);
    PngText text[2] = {{"Title", title}, {"Source", csv_path}};
    rc = ldm_png_write(png_path, img, spec.width, height, 3, text, 2);
    free(img);
out:
    free(smooth);
    free(st), free(loss), free(vst), free(vloss);
    return rc;
}
