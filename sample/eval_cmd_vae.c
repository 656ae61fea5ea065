/* sample/eval_cmd_vae.c — `ldm-eval vae`: how well the autoencoder reconstructs held-out
 * images (see eval_commands.h). Each image goes through the encoder, its posterior mean is
 * decoded (no sampling: the reconstruction the U-Net's latents are decoded with), and the
 * result is compared with the input on the whole image_size canvas, in [-1, 1] (range 2):
 * PSNR, SSIM and MS-SSIM per image (image_quality.h), averaged over the images; the median
 * and the worst PSNR too. With --classifier, also the Fréchet distance between the
 * classifier features of the reconstructions and of the originals, beside the real-vs-real
 * floor: the FD a perfect U-Net would reach through this VAE. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/checkpoint.h"
#include "models/vae.h"
#include "models/classifier_run.h"
#include "sample/eval_commands.h"
#include "sample/eval_data.h"
#include "sample/eval_report.h"
#include "core/frechet.h"
#include "sample/image_quality.h"

#define VAE_EVAL_BATCH 4

/* x (b, S, S) -> y (b, S, S): decode(mean(encode(x))), in arena `*ar`, which doubles (up to
 * 16 times its start) when a batch does not fit. */
static int reconstruct(const VAE *v, Device dev, Arena **ar, const float *x, int b, float *y) {
    const int S = v->cfg.image_size;
    for (int attempt = 0;; attempt++) {
        Tape tp;
        tape_init(&tp, *ar);
        tape_set_grad_enabled(&tp, false);
        arena_reset(*ar);
        Tensor *tx = tensor_new4(*ar, dev, b, S, S, 1), *mean, *logvar;
        int rc = !tx || tensor_from_host(tx, x) || vae_encode(v, &tp, tx, &mean, &logvar);
        Tensor *r = rc ? NULL : vae_decode(v, &tp, mean);
        if (r && !tensor_to_host(r, y)) return 0;
        if (attempt == 4 || !strstr(ldm_last_error(), "arena")) return -1;
        size_t cap = (*ar)->data_cap * 2;
        arena_destroy(*ar);
        if (!(*ar = arena_create(dev, cap, (size_t)16 << 20))) return -1;
    }
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int eval_cmd_vae(const EvalArgs *a) {
    Checkpoint ck;
    if (checkpoint_open(&ck, a->vae, "vae", NULL)) {
        fprintf(stderr, "ldm-eval: --vae %s\n", ldm_last_error());
        return 1;
    }
    ModelConfig cfg = ck.cfg;
    if (cfg.channels != 1) {
        fprintf(stderr, "ldm-eval: --vae %s makes %d-channel images; ldm-eval judges gray images only (channels = 1)\n",
                a->vae, cfg.channels);
        checkpoint_close(&ck);
        return 1;
    }
    VAE v;
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 0, true, false);
    int rc = vae_init(&v, &ps, &cfg) || checkpoint_read(&ck, "", &ps) || ps_to_device(&ps, a->device);
    const long long vae_step = ck.step;
    checkpoint_close(&ck);
    ModelConfig ccfg;
    Classifier m;
    ParamSet cps = {0};
    bool have_cls = false;
    if (!rc && a->classifier) {
        if (cls_load(a->classifier, a->device, &ccfg, &m, &cps)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", ldm_last_error());
            rc = ldm_error("vae", "--classifier %s", msg);
        } else {
            have_cls = true;
            if (ccfg.image_size != cfg.image_size || ccfg.data_size != cfg.data_size)
                rc = ldm_error("vae", "classifier %s was trained on %dx%d images, but --vae %s makes %dx%d",
                               a->classifier, ccfg.image_size, ccfg.image_size, a->vae, cfg.image_size, cfg.image_size);
        }
    }
    EvalData e = {0};
    if (!rc && eval_data_open(&e, a->data, a->layout, a->group_by, 0)) rc = -1;
    const int S = cfg.image_size, P = S * S;
    int *held = NULL, n = 0;
    if (!rc && (n = eval_pick(&e, e.held, e.n_held, -1, (int)a->max_real, &held)) < 1) rc = -1;
    uint8_t *u8 = NULL;
    float *x = NULL, *y = NULL;
    double *ps_db = NULL, *ss = NULL, *ms = NULL;
    if (!rc) {
        u8 = malloc((size_t)n * P);
        x = malloc((size_t)n * P * sizeof(float)), y = malloc((size_t)n * P * sizeof(float));
        ps_db = malloc((size_t)n * sizeof(double)), ss = malloc((size_t)n * sizeof(double));
        ms = malloc((size_t)n * sizeof(double));
        if (!u8 || !x || !y || !ps_db || !ss || !ms) rc = ldm_error("vae", "out of memory");
    }
    if (!rc && eval_load_u8(e.ds, &cfg, held, n, u8)) rc = -1;
    Arena *ar = NULL;
    if (!rc) {
        eval_u8_to_float(u8, (size_t)n * P, x);
        size_t bytes = (size_t)(60.0 * 4 * P * cfg.vae_ch * VAE_EVAL_BATCH) + ((size_t)64 << 20);
        if (!(ar = arena_create(a->device, bytes, (size_t)16 << 20))) rc = -1;
    }
    for (int i = 0; i < n && !rc; i += VAE_EVAL_BATCH) {
        int b = n - i < VAE_EVAL_BATCH ? n - i : VAE_EVAL_BATCH;
        rc = reconstruct(&v, a->device, &ar, x + (size_t)i * P, b, y + (size_t)i * P);
        if (!a->quiet && ((i / VAE_EVAL_BATCH) % 25 == 24 || i + b == n))
            printf("ldm-eval vae: %d/%d images\n", i + b, n);
    }
    const int scales = msssim_scales(S, S);
    double m_psnr = 0, m_ssim = 0, m_ms = 0, med = 0, worst = INFINITY;
    for (int i = 0; i < n && !rc; i++) {
        const float *p = x + (size_t)i * P, *q = y + (size_t)i * P;
        ps_db[i] = psnr(p, q, S, S, 2.0);
        rc = ssim(p, q, S, S, 2.0, &ss[i], NULL);
        if (!rc && scales >= 2) rc = ms_ssim(p, q, S, S, 2.0, &ms[i], NULL);
        m_psnr += ps_db[i] / n, m_ssim += ss[i] / n, m_ms += scales >= 2 ? ms[i] / n : 0;
        worst = fmin(worst, ps_db[i]);
    }
    if (!rc) {
        qsort(ps_db, (size_t)n, sizeof(double), cmp_d);
        med = n % 2 ? ps_db[n / 2] : 0.5 * (ps_db[n / 2 - 1] + ps_db[n / 2]);
    }
    double fd = NAN, floor_fd = NAN;
    if (!rc && have_cls) {
        const int F = m.cc.feat;
        float *fx = malloc((size_t)n * F * sizeof(float)), *fy = malloc((size_t)n * F * sizeof(float));
        float *h0 = malloc((size_t)n * F * sizeof(float)), *h1 = malloc((size_t)n * F * sizeof(float));
        rc = fx && fy && h0 && h1 ? 0 : ldm_error("vae", "out of memory");
        rc = rc || cls_predict(&m, a->device, x, n, NULL, fx) || cls_predict(&m, a->device, y, n, NULL, fy) ||
             frechet_distance_sets(fy, n, fx, n, F, &fd);
        int k0 = 0, k1 = 0;
        for (int i = 0; !rc && i < n; i++)
            memcpy(i % 2 ? h1 + (size_t)k1++ * F : h0 + (size_t)k0++ * F, fx + (size_t)i * F, (size_t)F * sizeof(float));
        if (!rc && k0 >= 2 && k1 >= 2) rc = frechet_distance_sets(h0, k0, h1, k1, F, &floor_fd);
        free(fx), free(fy), free(h0), free(h1);
    }
    if (!rc) {
        printf("\nldm-eval vae: %s (step %lld, preset %s) on %d held-out images of %s%s\n", a->vae, vae_step, cfg.preset,
               n, a->data, e.held_from_train ? " (every 5th image: no held-out split; the VAE may have seen them)" : "");
        printf("  PSNR     %6.2f dB   (median %.2f, worst %.2f)\n", m_psnr, med, worst);
        printf("  SSIM     %6.4f      (Gaussian 11x11, sigma 1.5)\n", m_ssim);
        if (scales >= 2) printf("  MS-SSIM  %6.4f      (%d scales%s)\n", m_ms, scales, scales < 5 ? " of 5: the image is small" : "");
        else printf("  MS-SSIM  -           (a %dx%d image allows %d scale)\n", S, S, scales);
        if (have_cls)
            printf("  FD of reconstructions %.3g (real-vs-real floor %.3g), judged by %s\n", fd, floor_fd, a->classifier);
    }
    if (!rc && a->json) {
        JsonWriter w;
        rc = jw_open(&w, a->json);
        if (!rc) {
            jw_str(&w, "command", "vae");
            jw_str(&w, "vae", a->vae);
            jw_str(&w, "data", a->data);
            jw_int(&w, "images", n);
            jw_bool(&w, "heldout_from_train", e.held_from_train);
            jw_num(&w, "psnr", m_psnr);
            jw_num(&w, "psnr_median", med);
            jw_num(&w, "psnr_worst", worst);
            jw_num(&w, "ssim", m_ssim);
            jw_num(&w, "ms_ssim", scales >= 2 ? m_ms : NAN);
            jw_int(&w, "ms_ssim_scales", scales);
            if (have_cls) jw_num(&w, "fd_reconstruction", fd), jw_num(&w, "fd_floor", floor_fd);
            rc = jw_close(&w);
        }
    }
    if (rc) fprintf(stderr, "ldm-eval: %s\n", ldm_last_error());
    arena_destroy(ar);
    free(held), free(u8), free(x), free(y), free(ps_db), free(ss), free(ms);
    eval_data_close(&e);
    ps_free(&ps);
    if (have_cls) ps_free(&cps);
    return rc ? 1 : 0;
}
