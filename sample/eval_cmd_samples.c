/* sample/eval_cmd_samples.c — `ldm-eval samples`: generated images against held-out real
 * images, per class and overall (see eval_commands.h).
 *
 *   accuracy   share of generated images of class k that the classifier calls k (does the
 *              conditioning work); beside it the classifier's accuracy on real held-out
 *              images of class k (what a perfect generator would score)
 *   FD         Fréchet distance (frechet.h) between the classifier features (penultimate
 *              layer) of generated and held-out real images; "floor" = FD between two
 *              halves of the held-out real images (alternate images), i.e. what sampling
 *              noise alone gives at half the count. Both are biased upwards at small counts
 *              (and the floor more, having half the images), so compare FDs of equal n.
 *   precision, recall   k-NN manifolds (knn_metrics.h, k = 3) in the same feature space
 *   memorised  memorisation share (knn_metrics.h) in pixel space: generated images closer to
 *              a training image than 95% of held-out real images are to theirs (the
 *              threshold is set per class from that class's held-out images); ~5% = none
 * Images come from --unet/--vae (n per class, models/generate.h, any sampler options) or
 * from --images DIR: PNG files named <class>_<anything>.png (ldm-sample --each writes
 * <class>_<i>.png), each image_size x image_size. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "data/dataset_build.h"
#include "data/image.h"
#include "models/classifier_run.h"
#include "sample/embedding_plot.h"
#include "sample/eval_commands.h"
#include "sample/eval_data.h"
#include "sample/eval_report.h"
#include "core/frechet.h"
#include "models/generate.h"
#include "sample/knn_metrics.h"

typedef struct {
    int n_gen, n_real;
    double acc, real_acc, fd, floor, precision, recall, memo, tau;
} Row;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* --images DIR: every <class>_*.png into *x (n, S, S) floats and *lab; -1 naming the file. */
static int read_images(const char *dir, const ModelConfig *cfg, float **x, int **lab, int *n) {
    char **names;
    int m;
    *x = NULL, *lab = NULL, *n = 0;
    if (list_dir(dir, &names, &m)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        return ldm_error("samples", "--images %s: %s", dir, msg);
    }
    const int S = cfg->image_size;
    int rc = 0, k = 0;
    float *buf = malloc(((size_t)m + 1) * S * S * sizeof(float));
    int *lb = malloc(((size_t)m + 1) * sizeof(int));
    if (!buf || !lb) rc = ldm_error("samples", "out of memory");
    for (int i = 0; i < m && !rc; i++) {
        if (!has_suffix(names[i], ".png")) continue;
        char cls[256];
        snprintf(cls, sizeof cls, "%s", names[i]);
        char *us = strrchr(cls, '_');
        char *path = path_join(dir, names[i]);
        if (!path) {
            rc = -1;
            break;
        }
        int c = -1;
        if (us) *us = '\0', c = cfg_class_index(cfg, cls);
        if (c < 0) {
            rc = ldm_error("samples", "--images %s: %s is not named <class>_<i>.png with a class of the classifier (%s)",
                           dir, path, cfg->class_names);
        } else {
            GrayImage im;
            if (img_decode_file(path, &im)) rc = -1;
            else {
                if (im.w != S || im.h != S)
                    rc = ldm_error("samples", "--images: %s is %dx%d, but the classifier takes %dx%d", path, im.w, im.h,
                                   S, S);
                else
                    eval_u8_to_float(im.px, (size_t)S * S, buf + (size_t)k * S * S), lb[k++] = c;
                gray_free(&im);
            }
        }
        free(path);
    }
    free_names(names, m);
    if (!rc && k == 0) rc = ldm_error("samples", "--images %s: no <class>_<i>.png images in the folder", dir);
    if (rc) {
        free(buf), free(lb);
        return -1;
    }
    *x = buf, *lab = lb, *n = k;
    return 0;
}

/* Rows of x (n, d) whose label is k (k < 0: all) into a new array; *m gets the count. */
static float *rows_of(const float *x, const int *lab, int n, int d, int k, int *m) {
    float *o = malloc(((size_t)n + 1) * d * sizeof(float));
    *m = 0;
    if (!o) return NULL;
    for (int i = 0; i < n; i++)
        if (k < 0 || lab[i] == k) memcpy(o + (size_t)(*m)++ * d, x + (size_t)i * d, (size_t)d * sizeof(float));
    return o;
}

static double fd_or_nan(const float *x, int nx, const float *y, int ny, int d) {
    double fd;
    return nx >= 2 && ny >= 2 && !frechet_distance_sets(x, nx, y, ny, d, &fd) ? fd : NAN;
}

/* Metrics for class k (k < 0: overall). */
static int metrics(Row *r, int k, const float *gf, const int *glab, const int *gpred, const double *gd, int ng,
                   const float *rf, const int *rlab, const int *rpred, const double *rd, int nr, int F) {
    memset(r, 0, sizeof *r);
    int mg, mr;
    float *g = rows_of(gf, glab, ng, F, k, &mg), *q = rows_of(rf, rlab, nr, F, k, &mr);
    double *gdk = malloc(((size_t)ng + 1) * sizeof(double)), *rdk = malloc(((size_t)nr + 1) * sizeof(double));
    float *h0 = malloc(((size_t)mr + 1) * F * sizeof(float)), *h1 = malloc(((size_t)mr + 1) * F * sizeof(float));
    if (!g || !q || !gdk || !rdk || !h0 || !h1) {
        free(g), free(q), free(gdk), free(rdk), free(h0), free(h1);
        return ldm_error("samples", "out of memory");
    }
    int hits = 0, rhits = 0, a = 0, b = 0;
    for (int i = 0, j = 0; i < ng; i++)
        if (k < 0 || glab[i] == k) hits += gpred[i] == glab[i], gdk[j++] = gd[i];
    for (int i = 0, j = 0; i < nr; i++)
        if (k < 0 || rlab[i] == k) rhits += rpred[i] == rlab[i], rdk[j++] = rd[i];
    for (int i = 0; i < mr; i++) memcpy((i % 2 ? h1 + (size_t)b++ * F : h0 + (size_t)a++ * F), q + (size_t)i * F,
                                        (size_t)F * sizeof(float));
    r->n_gen = mg, r->n_real = mr;
    r->acc = mg ? (double)hits / mg : NAN;
    r->real_acc = mr ? (double)rhits / mr : NAN;
    r->fd = fd_or_nan(g, mg, q, mr, F);
    r->floor = fd_or_nan(h0, a, h1, b, F);
    r->precision = r->recall = r->memo = r->tau = NAN;
    if (mg > PR_K && mr > PR_K && precision_recall(q, mr, g, mg, F, PR_K, &r->precision, &r->recall))
        r->precision = r->recall = NAN;
    if (mg && mr) memorisation_share(gdk, mg, rdk, mr, &r->memo, &r->tau);
    free(g), free(q), free(gdk), free(rdk), free(h0), free(h1);
    return 0;
}

static void pct(char *b, size_t n, double v) {
    if (isfinite(v)) snprintf(b, n, "%.1f%%", 100 * v);
    else snprintf(b, n, "-");
}
static void num(char *b, size_t n, double v, const char *fmt) {
    if (isfinite(v)) snprintf(b, n, fmt, v);
    else snprintf(b, n, "-");
}

static void print_row(const char *name, const Row *r) {
    char acc[16], racc[16], fd[24], fl[24], p[16], rc[16], mm[16];
    pct(acc, sizeof acc, r->acc), pct(racc, sizeof racc, r->real_acc), pct(mm, sizeof mm, r->memo);
    num(fd, sizeof fd, r->fd, "%.3g"), num(fl, sizeof fl, r->floor, "%.3g");
    num(p, sizeof p, r->precision, "%.3f"), num(rc, sizeof rc, r->recall, "%.3f");
    printf("%-14s %6d %6d %9s %9s %9s %9s %9s %7s %9s\n", name, r->n_gen, r->n_real, acc, racc, fd, fl, p, rc, mm);
}

static void json_row(JsonWriter *w, const char *key, const char *name, const Row *r) {
    jw_obj(w, key);
    jw_str(w, "class", name);
    jw_int(w, "generated", r->n_gen);
    jw_int(w, "real_heldout", r->n_real);
    jw_num(w, "accuracy", r->acc);
    jw_num(w, "real_accuracy", r->real_acc);
    jw_num(w, "fd", r->fd);
    jw_num(w, "fd_floor", r->floor);
    jw_num(w, "precision", r->precision);
    jw_num(w, "recall", r->recall);
    jw_num(w, "memorisation_share", r->memo);
    jw_num(w, "memorisation_threshold", r->tau);
    jw_end(w);
}

int eval_cmd_samples(const EvalArgs *a) {
    ModelConfig cfg;
    Classifier m;
    ParamSet ps;
    if (cls_load(a->classifier, a->device, &cfg, &m, &ps)) {
        fprintf(stderr, "ldm-eval: --classifier %s\n", ldm_last_error());
        return 1;
    }
    const int S = cfg.image_size, K = cfg.num_classes, F = m.cc.feat, P = S * S;
    float *gx = NULL, *rx = NULL, *tx = NULL, *gf = NULL, *rf = NULL;
    int *glab = NULL, *gpred = NULL, *rlab = NULL, *rpred = NULL, *held = NULL, *train = NULL, ng = 0, nr = 0, nt = 0;
    uint8_t *u8 = NULL;
    double *gd = NULL, *rd = NULL;
    Row rows[CFG_MAX_CLASSES + 1];
    EvalData e = {0};
    int rc = 0;
    char gen_desc[512] = "";
    /* the generated images */
    if (a->images) {
        rc = read_images(a->images, &cfg, &gx, &glab, &ng);
        snprintf(gen_desc, sizeof gen_desc, "images from %s", a->images);
    } else {
        Generator g;
        if (gen_open(&g, a->unet, a->vae, a->device, !a->no_ema, (size_t)a->arena_mb)) rc = -1;
        else {
            char what[600];
            snprintf(what, sizeof what, "--unet %s", a->unet);
            rc = cls_check_compat(a->classifier, &cfg, what, &g.cfg);
            ng = (int)a->n * K;
            gx = rc ? NULL : malloc((size_t)ng * P * sizeof(float));
            glab = rc ? NULL : malloc((size_t)ng * sizeof(int));
            if (!rc && (!gx || !glab)) rc = ldm_error("samples", "out of memory");
            SamplerOpts so = {.kind = a->sampler, .steps = (int)a->steps, .eta = (float)a->eta,
                              .guidance = (float)a->guidance, .seed = a->seed};
            if (a->sampler == SAMPLER_DDPM) so.eta = 1.0f;
            snprintf(gen_desc, sizeof gen_desc, "%ld per class by %s %ld steps, guidance %g, seed %llu (%s weights)",
                     a->n, sampler_name(a->sampler), a->steps, a->guidance, (unsigned long long)a->seed,
                     g.used_ema ? "EMA" : "raw");
            if (!rc && a->steps > g.cfg.timesteps)
                rc = ldm_error("samples", "--steps %ld: the model has %d timesteps", a->steps, g.cfg.timesteps);
            double t0 = now();
            for (int k = 0; k < K && !rc; k++) {
                char name[64];
                if (!a->quiet)
                    printf("ldm-eval samples: generating %ld images of class %s (%d/%d)...\n", a->n,
                           cfg_class_name(&cfg, k, name, sizeof name), k + 1, K);
                rc = gen_images(&g, k, (int)a->n, &so, gx + (size_t)k * a->n * P, NULL);
                for (int i = 0; i < a->n; i++) glab[k * a->n + i] = k;
                if (!rc && !a->quiet)
                    printf("ldm-eval samples: %.1f s per image; ETA %.0f s\n", (now() - t0) / ((k + 1) * a->n),
                           (now() - t0) / (k + 1) * (K - k - 1));
            }
            gen_close(&g);
        }
    }
    /* the real images */
    if (!rc && eval_data_open(&e, a->data, a->layout, a->group_by, K)) rc = -1;
    if (!rc) {
        nr = eval_pick(&e, e.held, e.n_held, -1, (int)a->max_real, &held);
        nt = eval_pick(&e, e.train, e.n_train, -1, (int)a->max_train, &train);
        if (nr < 0 || nt < 0) rc = -1;
    }
    if (!rc) {
        int nmax = nr > nt ? nr : nt;
        u8 = malloc((size_t)nmax * P);
        rx = malloc((size_t)nr * P * sizeof(float));
        tx = malloc((size_t)nt * P * sizeof(float));
        rlab = malloc((size_t)nr * sizeof(int)), rpred = malloc((size_t)nr * sizeof(int));
        gpred = malloc((size_t)ng * sizeof(int));
        gf = malloc((size_t)ng * F * sizeof(float)), rf = malloc((size_t)nr * F * sizeof(float));
        gd = malloc((size_t)ng * sizeof(double)), rd = malloc((size_t)nr * sizeof(double));
        if (!u8 || !rx || !tx || !rlab || !rpred || !gpred || !gf || !rf || !gd || !rd)
            rc = ldm_error("samples", "out of memory");
    }
    if (!rc && !eval_load_u8(e.ds, &cfg, held, nr, u8)) eval_u8_to_float(u8, (size_t)nr * P, rx);
    else if (!rc) rc = -1;
    if (!rc && !eval_load_u8(e.ds, &cfg, train, nt, u8)) eval_u8_to_float(u8, (size_t)nt * P, tx);
    else if (!rc) rc = -1;
    if (!rc) {
        eval_labels(e.ds, held, nr, rlab);
        if (!a->quiet) printf("ldm-eval samples: features of %d generated and %d held-out images; nearest of %d "
                              "training images\n", ng, nr, nt);
        rc = cls_predict(&m, a->device, gx, ng, gpred, gf) || cls_predict(&m, a->device, rx, nr, rpred, rf) ||
             knn_distance(gx, ng, tx, nt, P, 1, 0, gd) || knn_distance(rx, nr, tx, nt, P, 1, 0, rd);
    }
    for (int k = 0; k < K && !rc; k++)
        rc = metrics(&rows[k], k, gf, glab, gpred, gd, ng, rf, rlab, rpred, rd, nr, F);
    if (!rc) rc = metrics(&rows[K], -1, gf, glab, gpred, gd, ng, rf, rlab, rpred, rd, nr, F);
    if (!rc) {
        printf("\nldm-eval samples: %s\n", gen_desc);
        printf("  real: %d held-out images of %s%s; memorisation against %d training images\n", nr, a->data,
               e.held_from_train ? " (every 5th image: no held-out split; the models may have seen them)" : "", nt);
        printf("  judge: %s (features: %d-d penultimate layer)\n\n", a->classifier, F);
        printf("%-14s %6s %6s %9s %9s %9s %9s %9s %7s %9s\n", "class", "gen", "real", "accuracy", "real acc", "FD",
               "FD floor", "precision", "recall", "memorised");
        for (int k = 0; k <= K; k++) {
            char name[64];
            print_row(k < K ? cfg_class_name(&cfg, k, name, sizeof name) : "overall", &rows[k]);
        }
        printf("\n  accuracy: the classifier's call on generated images; real acc: on held-out real ones.\n"
               "  FD floor: two halves of the held-out images; memorised: ~5%% means no copying (see --help).\n");
    }
    if (!rc && a->plot) {
        const int n = ng + nr;
        float *all = malloc((size_t)n * F * sizeof(float));
        double *xy = malloc((size_t)n * 2 * sizeof(double)), explained = 0;
        int *cls = malloc((size_t)n * sizeof(int));
        bool *gen = malloc((size_t)n * sizeof(bool));
        char names[CFG_MAX_CLASSES][64];
        const char *np[CFG_MAX_CLASSES];
        for (int k = 0; k < K; k++) np[k] = cfg_class_name(&cfg, k, names[k], sizeof names[k]);
        if (!all || !xy || !cls || !gen) rc = ldm_error("samples", "out of memory");
        if (!rc) {
            memcpy(all, rf, (size_t)nr * F * sizeof(float));
            memcpy(all + (size_t)nr * F, gf, (size_t)ng * F * sizeof(float));
            for (int i = 0; i < n; i++) cls[i] = i < nr ? rlab[i] : glab[i - nr], gen[i] = i >= nr;
            rc = pca2(all, n, F, xy, &explained);
        }
        if (!rc) {
            char title[128];
            snprintf(title, sizeof title, "%s: real vs generated", cfg.preset);
            EmbeddingPlot p = {n, xy, cls, gen, K, np, title, explained};
            rc = embedding_plot_write(a->plot, &p);
            if (!rc) printf("ldm-eval samples: wrote %s\n", a->plot);
        }
        free(all), free(xy), free(cls), free(gen);
    }
    if (!rc && a->json) {
        JsonWriter w;
        rc = jw_open(&w, a->json);
        if (!rc) {
            jw_str(&w, "command", "samples");
            jw_str(&w, "classifier", a->classifier);
            jw_str(&w, "data", a->data);
            jw_str(&w, "generated", gen_desc);
            if (a->unet) jw_str(&w, "unet", a->unet), jw_str(&w, "vae", a->vae);
            jw_int(&w, "real_heldout", nr);
            jw_int(&w, "train_reference", nt);
            jw_bool(&w, "heldout_from_train", e.held_from_train);
            jw_int(&w, "pr_k", PR_K);
            jw_num(&w, "memorisation_quantile", MEMO_QUANTILE);
            char name[64];
            jw_arr(&w, "classes");
            for (int k = 0; k < K; k++) json_row(&w, NULL, cfg_class_name(&cfg, k, name, sizeof name), &rows[k]);
            jw_end(&w);
            json_row(&w, "overall", "overall", &rows[K]);
            rc = jw_close(&w);
        }
    }
    if (rc) fprintf(stderr, "ldm-eval: %s\n", ldm_last_error());
    free(gx), free(rx), free(tx), free(gf), free(rf), free(glab), free(gpred), free(rlab), free(rpred);
    free(held), free(train), free(u8), free(gd), free(rd);
    eval_data_close(&e);
    ps_free(&ps);
    return rc ? 1 : 0;
}
