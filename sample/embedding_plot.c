/* sample/embedding_plot.c — see embedding_plot.h. */
#include "sample/embedding_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/font.h"
#include "core/png.h"
#include "core/frechet.h"

int pca2(const float *f, int n, int d, double *xy, double *explained) {
    GaussStats g;
    if (gauss_stats(f, n, d, &g)) return -1;
    double *w = malloc((size_t)d * sizeof(double)), *v = malloc((size_t)d * d * sizeof(double));
    int rc = w && v ? 0 : ldm_error("pca", "out of memory");
    double total = 0;
    for (int i = 0; !rc && i < d; i++) total += g.cov[(size_t)i * d + i];
    rc = rc || sym_eig(g.cov, d, w, v);
    if (!rc) {
        int a = 0, b = d > 1 ? 1 : 0; /* the two largest eigenvalues */
        if (d > 1 && w[b] > w[a]) a = 1, b = 0;
        for (int i = 2; i < d; i++) {
            if (w[i] > w[a]) b = a, a = i;
            else if (w[i] > w[b]) b = i;
        }
        *explained = total > 0 ? (w[a] + (d > 1 ? w[b] : 0)) / total : 0;
        for (int k = 0; k < n; k++) {
            double p = 0, q = 0;
            for (int j = 0; j < d; j++) {
                double c = f[(size_t)k * d + j] - g.mean[j];
                p += c * v[(size_t)j * d + a];
                q += c * v[(size_t)j * d + b];
            }
            xy[2 * k] = p, xy[2 * k + 1] = d > 1 ? q : 0;
        }
    }
    free(w), free(v);
    gauss_stats_free(&g);
    return rc;
}

// ----------------------------------------------------------------------------
// drawing

static const unsigned char palette[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                              {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                              {188, 189, 34},  {23, 190, 207}};

static void put(unsigned char *img, int W, int H, int x, int y, const unsigned char *c) {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    memcpy(img + ((size_t)y * W + x) * 3, c, 3);
}

static void square(unsigned char *img, int W, int H, int cx, int cy, int r, bool hollow, const unsigned char *c) {
    for (int y = -r; y <= r; y++)
        for (int x = -r; x <= r; x++)
            if (!hollow || abs(x) == r || abs(y) == r) put(img, W, H, cx + x, cy + y, c);
}

int embedding_plot_write(const char *path, const EmbeddingPlot *p) {
    const int W = 720, H = 560, L = 40, R = 170, T = 40, B = 40; /* plot area margins; legend on the right */
    unsigned char *img = malloc((size_t)W * H * 3);
    if (!img) return ldm_error("plot", "out of memory");
    memset(img, 255, (size_t)W * H * 3);
    const unsigned char black[3] = {0, 0, 0}, grey[3] = {150, 150, 150};
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < p->n; i++) {
        x0 = fmin(x0, p->xy[2 * i]), x1 = fmax(x1, p->xy[2 * i]);
        y0 = fmin(y0, p->xy[2 * i + 1]), y1 = fmax(y1, p->xy[2 * i + 1]);
    }
    if (!(x1 > x0)) x0 -= 1, x1 += 1;
    if (!(y1 > y0)) y0 -= 1, y1 += 1;
    const int pw = W - L - R, ph = H - T - B;
    for (int x = L; x <= L + pw; x++) put(img, W, H, x, T, grey), put(img, W, H, x, T + ph, grey);
    for (int y = T; y <= T + ph; y++) put(img, W, H, L, y, grey), put(img, W, H, L + pw, y, grey);
    /* real first, generated on top */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < p->n; i++) {
            if (p->generated[i] != (pass == 1)) continue;
            int px = L + 6 + (int)lround((p->xy[2 * i] - x0) / (x1 - x0) * (pw - 12));
            int py = T + ph - 6 - (int)lround((p->xy[2 * i + 1] - y0) / (y1 - y0) * (ph - 12));
            square(img, W, H, px, py, pass ? 3 : 2, pass == 1, palette[p->cls[i] % 10]);
        }
    font_draw_text(img, W, H, 3, L, 12, p->title ? p->title : "", 2, black);
    char cap[160];
    snprintf(cap, sizeof cap, "PCA of classifier features: 2 axes explain %.0f%% of the variance", 100 * p->explained);
    font_draw_text(img, W, H, 3, L, H - B + 14, cap, 1, black);
    int ly = T + 4;
    for (int k = 0; k < p->n_classes && ly < H - 60; k++, ly += 16) {
        square(img, W, H, W - R + 16, ly + 3, 3, false, palette[k % 10]);
        font_draw_text(img, W, H, 3, W - R + 26, ly, p->class_names[k], 1, black);
    }
    ly += 12;
    square(img, W, H, W - R + 16, ly + 3, 2, false, grey);
    font_draw_text(img, W, H, 3, W - R + 26, ly, "real", 1, black);
    square(img, W, H, W - R + 16, ly + 19, 3, true, grey);
    font_draw_text(img, W, H, 3, W - R + 26, ly + 16, "generated", 1, black);
    PngText t[2] = {{"Software", "ldm.c ldm-eval"}, {"Content", "PCA embedding of classifier features"}};
    int rc = ldm_png_write(path, img, W, H, 3, t, 2);
    free(img);
    return rc;
}
