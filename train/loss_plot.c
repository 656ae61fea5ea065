/* train/loss_plot.c — see loss_plot.h. */
#include "train/loss_plot.h"

#include <stdlib.h>

#include "core/error.h"
#include "core/font.h"
#include "core/plot.h"
#include "core/png.h"
#include "train/run_files.h"

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
    /* the numbers a reader looks for, under the x axis on the left */
    char note[128];
    int o = snprintf(note, sizeof note, "last %.4g", smooth[n - 1]);
    if (nv > 0) snprintf(note + o, sizeof note - (size_t)o, "  val %.4g", vloss[nv - 1]);
    const unsigned char grey[3] = {90, 90, 90};
    font_draw_text(img, spec.width, spec.height, 3, 4, spec.height - 12, note, 1, grey);
    PngText text[2] = {{"Title", title}, {"Source", csv_path}};
    rc = ldm_png_write(png_path, img, spec.width, spec.height, 3, text, 2);
    free(img);
out:
    free(smooth);
    free(st), free(loss), free(vst), free(vloss);
    return rc;
}
