/* train/train_data.c — see train_data.h. */
#include "train/train_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define UNET_FLOATS 260.0

int train_config(const TrainArgs *a, const ModelConfig *base, ModelConfig *cfg) {
    if (base) {
        if (a->preset && strcmp(a->preset, base->preset))
            return ldm_error("config", "--preset %s, but the checkpoint was trained with preset '%s'", a->preset,
                             base->preset);
        *cfg = *base;
    } else if (cfg_preset(cfg, a->preset)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        return ldm_error("config", "--preset: %s", msg);
    }
    for (int i = 0; i < a->n_sets; i++)
        if (cfg_set_arg(cfg, a->sets[i])) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", ldm_last_error());
            return ldm_error("config", "--set %s: %s", a->sets[i], msg);
        }
    if (cfg_validate(cfg)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        return ldm_error("config", "preset %s with the --set overrides is not a valid model: %s", cfg->preset, msg);
    }
    if (cfg->channels != 1 && cfg->channels != 3)
        return ldm_error("config", "channels = %d: the data pipeline gives gray (channels=1) or RGB (channels=3) images",
                         cfg->channels);
    return 0;
}

static bool set_given(const TrainArgs *a, const char *key) {
    size_t n = strlen(key);
    for (int i = 0; i < a->n_sets; i++)
        if (!strncmp(a->sets[i], key, n) && a->sets[i][n] == '=') return true;
    return false;
}

/* "a,b,c" from the data's class names into cfg; -1 naming the folder that cannot be one. */
static int adopt_classes(const Dataset *ds, ModelConfig *cfg) {
    char names[sizeof cfg->class_names] = "";
    size_t o = 0;
    if (ds->n_classes > CFG_MAX_CLASSES)
        return ldm_error("data", "the data set has %d classes, more than the %d a model can have", ds->n_classes,
                         CFG_MAX_CLASSES);
    for (int c = 0; c < ds->n_classes; c++) {
        const char *n = ds->classes[c];
        if (!*n || strlen(n) > 63 || strpbrk(n, ",=\n\r"))
            return ldm_error("data", "class folder '%s' cannot be a class name (1..63 characters, no ',' or '='): "
                             "rename it, or name the classes with --set class_names=...", n);
        int k = snprintf(names + o, sizeof names - o, "%s%s", c ? "," : "", n);
        if (k < 0 || (size_t)k >= sizeof names - o)
            return ldm_error("data", "the class names (%d folders) are longer than %zu characters in all: shorten "
                             "them, or name the classes with --set class_names=...", ds->n_classes, sizeof names - 1);
        o += (size_t)k;
    }
    cfg->num_classes = ds->n_classes;
    snprintf(cfg->class_names, sizeof cfg->class_names, "%s", names);
    return 0;
}

static bool same_classes(const Dataset *ds, const ModelConfig *cfg) {
    if (ds->n_classes != cfg->num_classes) return false;
    for (int c = 0; c < ds->n_classes; c++) {
        char name[64];
        if (strcmp(cfg_class_name(cfg, c, name, sizeof name), ds->classes[c])) return false;
    }
    return true;
}

/* Settles what the model is conditional on (see train_data.h); -1 with the reason and the
 * flag that chooses otherwise. */
static int settle_classes(const TrainArgs *a, const Dataset *ds, ModelConfig *cfg, char *say, size_t n) {
    char was[300];
    snprintf(was, sizeof was, "%d (%s)", cfg->num_classes, cfg->class_names);
    say[0] = '\0';
    if (a->classes == CLASSES_NONE) {
        if (cfg->num_classes || ds->n_classes)
            snprintf(say, n, "classes: none (--classes none): an unconditional model; preset %s's %s and the data's %d "
                     "labels are not used\n", cfg->preset, was, ds->n_classes);
        cfg->num_classes = 0;
        cfg->class_names[0] = '\0';
        return 0;
    }
    if (ds->n_classes == 0) {
        if (a->classes == CLASSES_DATA)
            return ldm_error("data", "--classes data: the data set has no classes (put the images in one folder per class)");
        if (cfg->num_classes)
            return ldm_error("data", "the data set has no classes (its images are not in class folders) but preset %s is "
                             "conditional on %s: --classes none trains an unconditional model", cfg->preset, was);
        return 0;
    }
    if (cfg->num_classes == 0 && a->classes != CLASSES_DATA)
        return ldm_error("data", "preset %s is unconditional but the data set has %d classes: --classes data trains a "
                         "model conditional on them, --classes none ignores them", cfg->preset, ds->n_classes);
    if (same_classes(ds, cfg)) return 0;
    if (a->classes != CLASSES_DATA && (set_given(a, "num_classes") || set_given(a, "class_names"))) {
        /* the user named the classes: keep them */
        if (ds->n_classes == cfg->num_classes) return 0;
        return ldm_error("data", "the data set has %d class%s but --set makes the model conditional on %s; drop "
                         "--set num_classes/class_names to use the data's classes", ds->n_classes,
                         ds->n_classes == 1 ? "" : "es", was);
    }
    bool was_cond = cfg->num_classes > 0;
    if (adopt_classes(ds, cfg)) return -1;
    if (was_cond)
        snprintf(say, n, "classes: the data's %d (%s) replace preset %s's %s; ldm-sample --label takes these names\n",
                 cfg->num_classes, cfg->class_names, cfg->preset, was);
    else
        snprintf(say, n, "classes: conditional on the data's %d (%s) (--classes data); ldm-sample --label takes these "
                 "names\n", cfg->num_classes, cfg->class_names);
    return 0;
}

Dataset *train_open_data(const TrainArgs *a, ModelConfig *cfg) {
    DataOptions o;
    data_options_default(&o);
    o.layout = a->layout;
    o.val_patients = a->val_patients;
    o.group_by = a->group_by;
    o.group_pattern = a->group_pattern;
    o.threads = a->threads;
    Dataset *ds = dataset_open(a->data, &o);
    if (!ds) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        ldm_error("data", "--data %s: %s", a->data, msg);
        return NULL;
    }
    int n_train = dataset_count(ds, SPLIT_TRAIN, -1), n_val = dataset_count(ds, SPLIT_VAL, -1);
    char say[1024];
    if (n_train < 1 || settle_classes(a, ds, cfg, say, sizeof say)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", n_train < 1 ? "the training split is empty" : ldm_last_error());
        if (!strncmp(msg, "data: ", 6)) memmove(msg, msg + 6, strlen(msg + 6) + 1);
        ldm_error("data", "--data %s: %s", a->data, msg);
        dataset_free(ds);
        return NULL;
    }
    if (!a->quiet) {
        const char *unit = ds->grouping == GROUP_IMAGE ? "images" : ds->grouping == GROUP_PATTERN ? "groups" : "patients";
        printf("data: %s (%s layout): %d training images, %d validation images", a->data, layout_name(ds->layout),
               n_train, n_val);
        int n_groups = dataset_count_patients(ds, SPLIT_VAL);
        if (ds->grouping != GROUP_IMAGE) printf(" from %d %.*s", n_groups, (int)strlen(unit) - (n_groups == 1), unit);
        if (ds->n_classes) {
            printf("; classes");
            for (int i = 0; i < ds->n_classes; i++) printf(" %s", ds->classes[i]);
        }
        printf("\n%s", say);
        const char *rule = ds->split_rule ? ds->split_rule : "?", *nl = strchr(rule, '\n');
        printf("data: split %.*s\n", nl ? (int)(nl - rule) : (int)strlen(rule), rule);
        if (nl) printf("data: split %s\n", nl + 1);
        for (int i = 0; i < ds->n_notes; i++)
            if (strstr(ds->notes[i].why, "none held out") || strstr(ds->notes[i].why, "look like"))
                printf("data: note: %s: %s\n", ds->notes[i].path, ds->notes[i].why);
        int colour, alpha, deep;
        dataset_count_sources(ds, &colour, &alpha, &deep);
        if (colour && cfg->channels == 1)
            printf("data: %d colour images read as gray (BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B); --set channels=3 "
                   "keeps RGB\n", colour);
        if (cfg->channels == 3 && ds->n_items > colour)
            printf("data: channels=3: %d gray images repeat their value in R, G and B\n", ds->n_items - colour);
        if (deep) printf("data: %d 16-bit images windowed to 8 bits (minimum to 99.5th percentile, per image)\n", deep);
        if (alpha) printf("data: %d images with alpha: alpha dropped\n", alpha);
        if (n_val == 0)
            printf("data: no validation split (%d %.*s)\n", ds->n_patients, (int)strlen(unit) - (ds->n_patients == 1), unit);
    }
    return ds;
}

LoaderOptions train_loader_options(const TrainArgs *a, const ModelConfig *cfg, DataSplit split, int batch,
                                   uint64_t seed, bool train, long long start) {
    LoaderOptions o;
    loader_options_default(&o);
    o.split = split;
    o.batch = batch;
    o.seed = seed;
    o.shuffle = train;
    o.drop_last = train;
    o.cache = true;
    o.threads = a->threads;
    o.start_batch = start;
    o.tf.size = cfg->data_size;
    o.tf.fit = FIT_PAD;
    o.tf.background = 0;
    o.tf.hflip = train && cfg->hflip;
    o.tf.channels = cfg->channels;
    return o;
}

int train_batch_to_input(const DataBatch *b, const ModelConfig *cfg, Tensor *x, float *scratch) {
    const int S = cfg->image_size, D = b->side, n = b->n, C = cfg->channels;
    if (x->ndim != 4 || x->shape[0] != n || x->shape[1] != S || x->shape[2] != S || x->shape[3] != C || b->channels != C)
        return ldm_error("train", "input tensor %s does not fit a batch of %d images of %dx%dx%d", tshape(x), n, D, D,
                         b->channels);
    if (D > S) return ldm_error("train", "loader images are %dx%d, larger than the model's %dx%d", D, D, S, S);
    if (D == S) return tensor_from_host(x, b->x);
    const int off = (S - D) / 2;
    for (size_t i = 0; i < (size_t)n * S * S * C; i++) scratch[i] = -1.0f;
    for (int k = 0; k < n; k++)
        for (int y = 0; y < D; y++)
            memcpy(scratch + (((size_t)k * S + y + off) * S + off) * C, b->x + ((size_t)k * D + y) * D * C,
                   (size_t)D * C * sizeof(float));
    return tensor_from_host(x, scratch);
}

int train_pick_items(const Dataset *ds, DataSplit split, int max, int **items) {
    int total = dataset_count(ds, split, -1);
    *items = NULL;
    if (total <= 0) return total;
    int n = total < max ? total : max;
    int *all = malloc((size_t)total * sizeof *all), *out = malloc((size_t)n * sizeof *out);
    if (!all || !out) {
        free(all), free(out);
        return ldm_error("train", "out of memory");
    }
    for (int i = 0, k = 0; i < ds->n_items; i++)
        if (ds->items[i].split == split) all[k++] = i;
    for (int i = 0; i < n; i++) out[i] = all[(int)((long long)i * total / n)];
    free(all);
    *items = out;
    return n;
}

int train_load_items(const Dataset *ds, const ModelConfig *cfg, const int *items, int n, float *dst) {
    DataTransform tf = {.size = cfg->data_size, .fit = FIT_PAD, .background = 0, .hflip = false, .channels = cfg->channels};
    const int S = cfg->image_size, D = cfg->data_size, C = cfg->channels, off = (S - D) / 2;
    uint8_t *u8 = malloc((size_t)D * D * C);
    float *f = malloc((size_t)D * D * C * sizeof(float));
    TransformWork *ws = transform_work_new();
    int rc = u8 && f && ws ? 0 : ldm_error("train", "out of memory");
    for (int k = 0; k < n && !rc; k++) {
        if (dataset_item_geometry(ds, items[k], &tf, u8, ws)) {
            rc = -1;
            break;
        }
        transform_to_float_ch(u8, D, C, false, f);
        float *o = dst + (size_t)k * S * S * C;
        for (size_t i = 0; i < (size_t)S * S * C; i++) o[i] = -1.0f;
        for (int y = 0; y < D; y++)
            memcpy(o + ((size_t)(y + off) * S + off) * C, f + (size_t)y * D * C, (size_t)D * C * sizeof(float));
    }
    transform_work_free(ws);
    free(u8), free(f);
    return rc;
}

void train_mirror(float *x, int n, int S, int C) {
    for (int k = 0; k < n; k++)
        for (int y = 0; y < S; y++) {
            float *r = x + ((size_t)k * S + y) * S * C;
            for (int i = 0, j = S - 1; i < j; i++, j--)
                for (int c = 0; c < C; c++) {
                    float t = r[(size_t)i * C + c];
                    r[(size_t)i * C + c] = r[(size_t)j * C + c], r[(size_t)j * C + c] = t;
                }
        }
}

size_t train_arena_bytes(const TrainArgs *a, const ModelConfig *cfg, TrainKind kind, int batch) {
    if (a->arena_mb) return a->arena_mb << 20;
    /* Measured peaks of a training step (fp32 activations, their gradients and the tape):
     * VAE about 26 floats per pixel per base channel per full-resolution ResBlock
     * (2 vae_res + 1 of them: encoder and decoder), per image (demo 19 MB, adni 1.9 GB);
     * U-Net about UNET_FLOATS per latent pixel per base channel (demo 151, adni 242). A quarter
     * more for safety. */
    double per_image;
    if (kind == TRAIN_VAE) per_image = 26.0 * 4 * (2 * cfg->vae_res + 1) * cfg->image_size * cfg->image_size * cfg->vae_ch;
    else {
        double s = cfg_latent_size(cfg);
        per_image = UNET_FLOATS * 4 * s * s * cfg->unet_ch;
    }
    return (size_t)(1.25 * per_image * batch) + ((size_t)64 << 20);
}
