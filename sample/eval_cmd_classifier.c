/* sample/eval_cmd_classifier.c — `ldm-eval classifier`: train the judge (see eval_commands.h).
 *
 * The classifier's data config is a preset's (--preset, or the one that goes with the
 * layout: idx -> fashion, nifti -> demo, adni -> adni), so its image size and canvas are
 * exactly those of the VAE and U-Net of that preset; when the data set has another number
 * of classes than the preset, the classes are the data set's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "models/classifier_run.h"
#include "sample/eval_commands.h"
#include "sample/eval_data.h"
#include "sample/eval_report.h"

static const char *preset_for(DataLayout l) {
    switch (l) {
    case LAYOUT_IDX: return "fashion";
    case LAYOUT_NIFTI: return "demo";
    case LAYOUT_ADNI: return "adni";
    default: return NULL;
    }
}

static int fail(const char *msg) {
    fprintf(stderr, "ldm-eval: %s\n", msg);
    return 1;
}

/* The folder of `path` exists (so the checkpoint can be written after training). */
static int out_dir_ok(const char *path) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *s = strrchr(dir, '/');
    if (!s) return 0;
    *s = '\0';
    struct stat st;
    if (*dir && (stat(dir, &st) || !S_ISDIR(st.st_mode)))
        return ldm_error("classifier", "--out %s: the folder %s does not exist", path, dir);
    return 0;
}

int eval_cmd_classifier(const EvalArgs *a) {
    if (out_dir_ok(a->out)) return fail(ldm_last_error());
    EvalData e;
    if (eval_data_open(&e, a->data, a->layout, a->group_by, 0)) return fail(ldm_last_error());
    const Dataset *ds = e.ds;
    int rc = 0;
    ModelConfig cfg;
    const char *preset = a->preset ? a->preset : preset_for(ds->layout);
    if (ds->n_classes < 2) {
        ldm_error("classifier", "--data %s is not labelled with 2 or more classes (%d): nothing to classify", a->data,
                  ds->n_classes);
        rc = 1;
    } else if (!preset) {
        ldm_error("classifier", "--data %s (%s layout): give --preset so the classifier sees the image size the "
                  "models use (%s)", a->data, layout_name(ds->layout), cfg_preset_names());
        rc = 1;
    } else if (cfg_preset(&cfg, preset)) {
        rc = 2;
    }
    for (int i = 0; !rc && i < a->n_sets; i++)
        if (cfg_set_arg(&cfg, a->sets[i])) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", ldm_last_error());
            ldm_error("classifier", "--set %s: %s", a->sets[i], msg);
            rc = 2;
        }
    if (!rc && cfg_validate(&cfg)) { /* the config travels in the checkpoint: it must be a valid model's */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        ldm_error("classifier", "preset %s with the --set overrides is not a valid model config (give the overrides "
                  "the VAE and U-Net were trained with): %s", cfg.preset, msg);
        rc = 2;
    }
    /* the data set's classes, as ldm-train takes them (so the judge and the models it judges
     * agree on the names: Fashion-MNIST's "T-shirt/top", not the preset's "tshirt"), unless
     * --set named them; commas would split a name */
    bool named = false;
    for (int i = 0; i < a->n_sets; i++) named |= !strncmp(a->sets[i], "class_names=", 12);
    if (!rc && (cfg.num_classes != ds->n_classes || !named)) {
        char names[256] = "", num[16];
        for (int k = 0; k < ds->n_classes; k++) {
            size_t o = strlen(names);
            snprintf(names + o, sizeof names - o, "%s%s", k ? "," : "", ds->classes[k]);
            for (char *c = names + o + (k ? 1 : 0); *c; c++)
                if (*c == ',' || *c == '\n' || *c == '=') *c = '_';
        }
        snprintf(num, sizeof num, "%d", ds->n_classes);
        if (cfg_set(&cfg, "num_classes", num) || cfg_set(&cfg, "class_names", names)) rc = 1;
    }
    if (rc) { /* 2: the flags name a bad preset or override (a usage error) */
        eval_data_close(&e);
        fail(ldm_last_error());
        return rc;
    }
    const int S = cfg.image_size, K = cfg.num_classes;
    printf("ldm-eval classifier: %s (%s layout): %d training, %d held-out images%s; preset %s (%dx%d), %d classes\n",
           a->data, layout_name(ds->layout), e.n_train, e.n_held,
           e.held_from_train ? " (every 5th training image: the data set has no held-out split)" : "", cfg.preset, S,
           S, K);
    ClassifierConfig cc;
    classifier_default(&cc, S, K);
    Classifier m;
    ParamSet ps;
    ps_init(&ps, a->device, a->seed, true, true);
    uint8_t *xt = malloc((size_t)e.n_train * S * S), *xh = malloc((size_t)e.n_held * S * S);
    int *lt = malloc((size_t)e.n_train * sizeof(int)), *lh = malloc((size_t)e.n_held * sizeof(int));
    int *pred = malloc((size_t)e.n_held * sizeof(int)), correct[CFG_MAX_CLASSES], total[CFG_MAX_CLASSES];
    float *fh = malloc((size_t)e.n_held * S * S * sizeof(float));
    rc = xt && xh && lt && lh && pred && fh ? 0 : ldm_error("classifier", "out of memory");
    rc = rc || classifier_init(&m, &ps, &cc) || eval_load_u8(ds, &cfg, e.train, e.n_train, xt) ||
         eval_load_u8(ds, &cfg, e.held, e.n_held, xh);
    if (!rc) {
        eval_labels(ds, e.train, e.n_train, lt);
        eval_labels(ds, e.held, e.n_held, lh);
        printf("ldm-eval classifier: %zu parameters; %ld steps of %ld on %s\n", ps_count(&ps), a->steps, a->batch,
               device_name(a->device));
        ClsTrainOpts o = {.steps = (int)a->steps, .batch = (int)a->batch, .lr = a->lr, .seed = a->seed,
                          .device = a->device, .quiet = a->quiet};
        rc = cls_train(&m, &ps, xt, lt, e.n_train, &o);
    }
    if (!rc) {
        eval_u8_to_float(xh, (size_t)e.n_held * S * S, fh);
        rc = cls_predict(&m, a->device, fh, e.n_held, pred, NULL);
    }
    double acc = 0;
    if (!rc) {
        cls_tally(lh, pred, e.n_held, K, correct, total);
        int c = 0;
        for (int k = 0; k < K; k++) c += correct[k];
        acc = (double)c / e.n_held;
        printf("\n%-16s %8s %10s\n", "class", "held-out", "accuracy");
        for (int k = 0; k < K; k++) {
            char name[64];
            cfg_class_name(&cfg, k, name, sizeof name);
            printf("%-16s %8d %9.1f%%\n", name, total[k], total[k] ? 100.0 * correct[k] / total[k] : 0.0);
        }
        printf("%-16s %8d %9.1f%%\n", "overall", e.n_held, 100 * acc);
        char accs[32], nh[32];
        snprintf(accs, sizeof accs, "%.6f", acc);
        snprintf(nh, sizeof nh, "%d", e.n_held);
        const char *keys[] = {"eval.heldout_accuracy", "eval.heldout_images", "eval.data"};
        const char *vals[] = {accs, nh, a->data};
        rc = cls_save(a->out, &cfg, &ps, &cc, a->steps, 3, keys, vals);
        if (!rc) printf("ldm-eval classifier: wrote %s\n", a->out);
    }
    if (!rc && a->json) {
        JsonWriter w;
        rc = jw_open(&w, a->json);
        if (!rc) {
            jw_str(&w, "command", "classifier");
            jw_str(&w, "data", a->data);
            jw_str(&w, "classifier", a->out);
            jw_str(&w, "preset", cfg.preset);
            jw_int(&w, "train_images", e.n_train);
            jw_int(&w, "heldout_images", e.n_held);
            jw_bool(&w, "heldout_from_train", e.held_from_train);
            jw_num(&w, "accuracy", acc);
            jw_arr(&w, "classes");
            for (int k = 0; k < K; k++) {
                char name[64];
                jw_obj(&w, NULL);
                jw_str(&w, "name", cfg_class_name(&cfg, k, name, sizeof name));
                jw_int(&w, "heldout", total[k]);
                jw_num(&w, "accuracy", total[k] ? (double)correct[k] / total[k] : NAN);
                jw_end(&w);
            }
            jw_end(&w);
            rc = jw_close(&w);
        }
    }
    if (rc) fprintf(stderr, "ldm-eval: %s\n", ldm_last_error());
    free(xt), free(xh), free(lt), free(lh), free(pred), free(fh);
    ps_free(&ps);
    eval_data_close(&e);
    return rc ? 1 : 0;
}
