/* sample/image_quality.c — see image_quality.h. Straight loops: evaluation images are small. */
#include "sample/image_quality.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"

double psnr(const float *a, const float *b, int w, int h, double range) {
    double se = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        double e = (double)a[i] - (double)b[i];
        se += e * e;
    }
    double mse = se / ((double)w * h);
    return 10 * log10(range * range / mse);
}

int ssim(const float *a, const float *b, int w, int h, double range, double *ssim_out, double *cs_out) {
    if (w < SSIM_WIN || h < SSIM_WIN)
        return ldm_error("ssim", "a %dx%d image is smaller than the %dx%d window", w, h, SSIM_WIN, SSIM_WIN);
    double g[SSIM_WIN], gs = 0;
    for (int i = 0; i < SSIM_WIN; i++) {
        double x = i - SSIM_WIN / 2;
        gs += g[i] = exp(-x * x / (2 * SSIM_SIGMA * SSIM_SIGMA));
    }
    for (int i = 0; i < SSIM_WIN; i++) g[i] /= gs;
    const double c1 = (0.01 * range) * (0.01 * range), c2 = (0.03 * range) * (0.03 * range);
    double sum_s = 0, sum_cs = 0;
    const int oh = h - SSIM_WIN + 1, ow = w - SSIM_WIN + 1;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            double mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
            for (int u = 0; u < SSIM_WIN; u++)
                for (int v = 0; v < SSIM_WIN; v++) {
                    double wt = g[u] * g[v], p = a[(size_t)(y + u) * w + x + v], q = b[(size_t)(y + u) * w + x + v];
                    mx += wt * p, my += wt * q, xx += wt * p * p, yy += wt * q * q, xy += wt * p * q;
                }
            double vx = xx - mx * mx, vy = yy - my * my, cxy = xy - mx * my;
            double l = (2 * mx * my + c1) / (mx * mx + my * my + c1), cs = (2 * cxy + c2) / (vx + vy + c2);
            sum_s += l * cs, sum_cs += cs;
        }
    if (ssim_out) *ssim_out = sum_s / ((double)oh * ow);
    if (cs_out) *cs_out = sum_cs / ((double)oh * ow);
    return 0;
}

int msssim_scales(int w, int h) {
    int m = 0;
    while (m < MSSSIM_MAX_SCALES && w >= SSIM_WIN && h >= SSIM_WIN) m++, w /= 2, h /= 2;
    return m;
}

int ms_ssim(const float *a, const float *b, int w, int h, double range, double *out, int *scales) {
    static const double weights[MSSSIM_MAX_SCALES] = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
    const int m = msssim_scales(w, h);
    if (scales) *scales = m;
    if (m < 2) return ldm_error("ms_ssim", "a %dx%d image allows %d scale(s) of the %d-pixel window; MS-SSIM needs 2",
                                w, h, m, SSIM_WIN);
    double wsum = 0;
    for (int j = 0; j < m; j++) wsum += weights[j];
    float *pa = malloc((size_t)w * h * sizeof(float)), *pb = malloc((size_t)w * h * sizeof(float));
    if (!pa || !pb) {
        free(pa), free(pb);
        return ldm_error("ms_ssim", "out of memory");
    }
    const float *ca = a, *cb = b;
    double log_ms = 0;
    int rc = 0;
    for (int j = 0; j < m && !rc; j++) {
        double s, cs;
        if ((rc = ssim(ca, cb, w, h, range, &s, &cs))) break;
        double v = fmax(j == m - 1 ? s : cs, 0.0);
        log_ms += weights[j] / wsum * log(v);
        if (j == m - 1) break;
        /* 2x2 average pooling (an odd last row or column is dropped); in place is safe:
         * output pixel (y, x) reads input rows 2y, 2y+1 >= y */
        const int nw = w / 2, nh = h / 2;
        for (int y = 0; y < nh; y++)
            for (int x = 0; x < nw; x++) {
                size_t i = (size_t)2 * y * w + 2 * x;
                pa[(size_t)y * nw + x] = 0.25f * (ca[i] + ca[i + 1] + ca[i + w] + ca[i + w + 1]);
                pb[(size_t)y * nw + x] = 0.25f * (cb[i] + cb[i + 1] + cb[i + w] + cb[i + w + 1]);
            }
        ca = pa, cb = pb, w = nw, h = nh;
    }
    free(pa), free(pb);
    if (!rc) *out = exp(log_ms);
    return rc;
}
