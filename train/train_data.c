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
    if (cfg->channels != 1)
        return ldm_error("config", "channels = %d: the data pipeline gives gray images (channels=1)", cfg->channels);
    return 0;
}

Dataset *train_open_data(const TrainArgs *a, const ModelConfig *cfg) {
    DataOptions o;
    data_options_default(&o);
    o.layout = a->layout;
    o.val_patients = a->val_patients;
    o.threads = a->threads;
    Dataset *ds = dataset_open(a->data, &o);
    if (!ds) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        ldm_error("data", "--data %s: %s", a->data, msg);
        return NULL;
    }
    int n_train = dataset_count(ds, SPLIT_TRAIN, -1), n_val = dataset_count(ds, SPLIT_VAL, -1);
    const char *why = NULL;
    char buf[512];
    if (cfg->num_classes > 0 && ds->n_classes != cfg->num_classes) {
        snprintf(buf, sizeof buf, "the data set has %d class%s but preset %s is conditional on %d (%s)", ds->n_classes,
                 ds->n_classes == 1 ? "" : "es", cfg->preset, cfg->num_classes, cfg->class_names);
        why = buf;
    } else if (n_train < 1) {
        why = "the training split is empty";
    }
    if (why) {
        ldm_error("data", "--data %s: %s", a->data, why);
        dataset_free(ds);
        return NULL;
    }
    if (!a->quiet) {
        printf("data: %s (%s layout): %d training images, %d validation images from %d patients", a->data,
               layout_name(ds->layout), n_train, n_val, dataset_count_patients(ds, SPLIT_VAL));
        if (ds->n_classes) {
            printf("; classes");
            for (int i = 0; i < ds->n_classes; i++) printf(" %s", ds->classes[i]);
        }
        printf("\n");
        if (n_val == 0) printf("data: no validation split (%d patient%s)\n", ds->n_patients, ds->n_patients == 1 ? "" : "s");
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
    return o;
}

int train_batch_to_input(const DataBatch *b, const ModelConfig *cfg, Tensor *x, float *scratch) {
    const int S = cfg->image_size, D = b->side, n = b->n;
    if (x->ndim != 4 || x->shape[0] != n || x->shape[1] != S || x->shape[2] != S || x->shape[3] != 1)
        return ldm_error("train", "input tensor %s does not fit a batch of %d images of %dx%d", tshape(x), n, S, S);
    if (D > S) return ldm_error("train", "loader images are %dx%d, larger than the model's %dx%d", D, D, S, S);
    if (D == S) return tensor_from_host(x, b->x);
    const int off = (S - D) / 2;
    for (size_t i = 0; i < (size_t)n * S * S; i++) scratch[i] = -1.0f;
    for (int k = 0; k < n; k++)
        for (int y = 0; y < D; y++)
            memcpy(scratch + ((size_t)k * S + y + off) * S + off, b->x + ((size_t)k * D + y) * D, (size_t)D * sizeof(float));
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
    DataTransform tf = {.size = cfg->data_size, .fit = FIT_PAD, .background = 0, .hflip = false};
    const int S = cfg->image_size, D = cfg->data_size, off = (S - D) / 2;
    uint8_t *u8 = malloc((size_t)D * D);
    float *f = malloc((size_t)D * D * sizeof(float));
    TransformWork *ws = transform_work_new();
    int rc = u8 && f && ws ? 0 : ldm_error("train", "out of memory");
    for (int k = 0; k < n && !rc; k++) {
        if (dataset_item_geometry(ds, items[k], &tf, u8, ws)) {
            rc = -1;
            break;
        }
        transform_to_float(u8, D, false, f);
        float *o = dst + (size_t)k * S * S;
        for (int i = 0; i < S * S; i++) o[i] = -1.0f;
        for (int y = 0; y < D; y++) memcpy(o + (size_t)(y + off) * S + off, f + (size_t)y * D, (size_t)D * sizeof(float));
    }
    transform_work_free(ws);
    free(u8), free(f);
    return rc;
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
