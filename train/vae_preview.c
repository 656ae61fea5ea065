/* train/vae_preview.c — see vae_preview.h. Layout: caption line, then two rows of S x S
 * tiles drawn 2x, labels "real" and "recon" on the left, white background. */
#include "train/vae_preview.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/font.h"
#include "core/png.h"

#define ZOOM 2
#define GAP 2
#define LEFT 44
#define TOP 18

int vae_preview_write(const char *path, const float *x, const float *x_hat, int n, int S, int C, long step, double psnr) {
    if (n < 1 || S < 1 || S > 1024 || (C != 1 && C != 3))
        return ldm_error("vae_preview", "bad preview: %d images of %d pixels, %d channels", n, S, C);
    const int t = S * ZOOM, W = LEFT + n * (t + GAP) + 4, H = TOP + 2 * (t + GAP) + 4;
    unsigned char *img = malloc((size_t)W * H * C);
    if (!img) return ldm_error("vae_preview", "out of memory");
    memset(img, 255, (size_t)W * H * C);
    const unsigned char black[3] = {0, 0, 0};
    char cap[128];
    snprintf(cap, sizeof cap, "VAE STEP %ld: PSNR %.2f DB", step, psnr); /* the font has capitals */
    font_draw_text(img, W, H, C, 4, 5, cap, 1, black);
    for (int r = 0; r < 2; r++) {
        const float *src = r ? x_hat : x;
        int y0 = TOP + r * (t + GAP);
        font_draw_text(img, W, H, C, 4, y0 + (t - FONT_H) / 2, r ? "RECON" : "REAL", 1, black);
        for (int k = 0; k < n; k++)
            for (int y = 0; y < t; y++)
                for (int xx = 0; xx < t; xx++)
                    for (int c = 0; c < C; c++) {
                        float v = src[(((size_t)k * S + y / ZOOM) * S + xx / ZOOM) * C + c];
                        v = v != v ? -1 : v < -1 ? -1 : v > 1 ? 1 : v;
                        img[((size_t)(y0 + y) * W + LEFT + k * (t + GAP) + xx) * C + c] = (unsigned char)lrintf((v + 1) * 127.5f);
                    }
    }
    PngText text[1] = {{"Content", "top: images; bottom: VAE reconstructions from the posterior mean"}};
    int rc = ldm_png_write(path, img, W, H, C, text, 1);
    free(img);
    return rc;
}
