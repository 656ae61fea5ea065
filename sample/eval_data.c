/* sample/eval_data.c — see eval_data.h. */
#include "sample/eval_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/transform.h"

int eval_data_open(EvalData *e, const char *path, DataLayout layout, const char *group_by, int need_classes) {
    memset(e, 0, sizeof *e);
    DataOptions o;
    data_options_default(&o);
    o.layout = layout;
    if (group_by && group_by_parse(group_by, &o)) return -1;
    if (!(e->ds = dataset_open(path, &o))) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        return ldm_error("data", "--data %s: %s", path, msg);
    }
    const Dataset *ds = e->ds;
    if (ds->n_items == 0) {
        eval_data_close(e);
        return ldm_error("data", "--data %s: no images", path);
    }
    if (need_classes > 0 && ds->n_classes != need_classes) {
        int n = ds->n_classes;
        eval_data_close(e);
        return ldm_error("data", "--data %s has %d class%s, but the model has %d", path, n, n == 1 ? "" : "es",
                         need_classes);
    }
    e->train = malloc((size_t)ds->n_items * sizeof(int));
    e->held = malloc((size_t)ds->n_items * sizeof(int));
    if (!e->train || !e->held) {
        eval_data_close(e);
        return ldm_error("data", "out of memory");
    }
    for (int i = 0; i < ds->n_items; i++) {
        if (ds->items[i].split == SPLIT_TRAIN) e->train[e->n_train++] = i;
        else e->held[e->n_held++] = i;
    }
    if (e->n_held == 0) { /* one volume: every EVAL_HOLDOUT_EVERY-th training item */
        int k = 0;
        e->held_from_train = true;
        for (int j = 0; j < e->n_train; j++) {
            if (j % EVAL_HOLDOUT_EVERY == EVAL_HOLDOUT_EVERY - 1) e->held[e->n_held++] = e->train[j];
            else e->train[k++] = e->train[j];
        }
        e->n_train = k;
    }
    if (e->n_train == 0 || e->n_held == 0) {
        eval_data_close(e);
        return ldm_error("data", "--data %s: too few images to hold some out (%d)", path, ds->n_items);
    }
    return 0;
}

void eval_data_close(EvalData *e) {
    dataset_free(e->ds);
    free(e->train), free(e->held);
    memset(e, 0, sizeof *e);
}

int eval_pick(const EvalData *e, const int *items, int n, int label, int max, int **out) {
    int *all = malloc(((size_t)n + 1) * sizeof(int)), m = 0;
    if (!all) return ldm_error("data", "out of memory");
    for (int i = 0; i < n; i++)
        if (label < 0 || e->ds->items[items[i]].label == label) all[m++] = items[i];
    int k = m < max ? m : max;
    int *o = malloc(((size_t)k + 1) * sizeof(int));
    if (!o) {
        free(all);
        return ldm_error("data", "out of memory");
    }
    for (int i = 0; i < k; i++) o[i] = all[(int)((long long)i * m / k)];
    free(all);
    *out = o;
    return k;
}

int eval_load_u8(const Dataset *ds, const ModelConfig *cfg, const int *items, int n, uint8_t *dst) {
    DataTransform tf = {.size = cfg->data_size, .fit = FIT_PAD, .background = 0, .hflip = false};
    const int S = cfg->image_size, D = cfg->data_size, off = (S - D) / 2;
    uint8_t *u8 = malloc((size_t)D * D);
    TransformWork *ws = transform_work_new();
    int rc = u8 && ws ? 0 : ldm_error("data", "out of memory");
    for (int k = 0; k < n && !rc; k++) {
        if (dataset_item_geometry(ds, items[k], &tf, u8, ws)) {
            rc = -1;
            break;
        }
        uint8_t *o = dst + (size_t)k * S * S;
        memset(o, 0, (size_t)S * S);
        for (int y = 0; y < D; y++) memcpy(o + (size_t)(y + off) * S + off, u8 + (size_t)y * D, (size_t)D);
    }
    transform_work_free(ws);
    free(u8);
    return rc;
}

void eval_u8_to_float(const uint8_t *src, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i] * (1.0f / 127.5f) - 1.0f; /* as transform_to_float */
}

void eval_labels(const Dataset *ds, const int *items, int n, int *labels) {
    for (int i = 0; i < n; i++) labels[i] = ds->items[items[i]].label;
}
