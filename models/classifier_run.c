/* models/classifier_run.c — see classifier_run.h. */
#include "models/classifier_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "kernels/adamw.h"
#include "models/checkpoint.h"

#define CLS_RUN_BATCH 64

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Activation bytes for a batch: the full-resolution maps (conv_in and its norm, ~S^2 ch
 * floats each) dominate; with gradients and the tape about 8 such maps per image. */
static size_t arena_bytes(const ClassifierConfig *cc, int batch) {
    return (size_t)(8.0 * 4 * cc->image_size * cc->image_size * cc->ch * batch * 1.5) + ((size_t)64 << 20);
}

/* uint8 canvas pixels -> [-1, 1]: v / 127.5 - 1, as data/transform.h's transform_to_float */
static void u8_to_input(const uint8_t *src, size_t n, float *dst) {
    for (size_t i = 0; i < n; i++) dst[i] = src[i] * (1.0f / 127.5f) - 1.0f;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int argmax_rows(const float *z, int n, int K, int *pred) {
    for (int i = 0; i < n; i++) {
        int b = 0;
        for (int k = 1; k < K; k++)
            if (z[(size_t)i * K + k] > z[(size_t)i * K + b]) b = k;
        pred[i] = b;
    }
    return 0;
}

int cls_train(Classifier *m, ParamSet *ps, const uint8_t *x, const int *labels, int n, const ClsTrainOpts *o) {
    const ClassifierConfig *cc = &m->cc;
    const int S = cc->image_size, B = o->batch < n ? o->batch : n, K = cc->num_classes;
    if (n < 1 || B < 1 || o->steps < 1) return ldm_error("classifier", "nothing to train on (%d images)", n);
    ParamSet mm, vv;
    if (ps_clone(&mm, ps, o->device, false, false)) return -1;
    if (ps_clone(&vv, ps, o->device, false, false)) {
        ps_free(&mm);
        return -1;
    }
    Arena *arena = arena_create(o->device, arena_bytes(cc, B), (size_t)16 << 20);
    int *perm = malloc((size_t)n * sizeof(int)), *pred = malloc((size_t)B * sizeof(int));
    float *hx = malloc((size_t)B * S * S * sizeof(float)), *hl = malloc((size_t)B * sizeof(float));
    float *logits = malloc((size_t)B * K * sizeof(float));
    int rc = arena && perm && pred && hx && hl && logits ? 0 : ldm_error("classifier", "out of memory");
    Tape tp;
    tape_init(&tp, arena);
    uint64_t rs = o->seed * 0x2545F4914F6CDD1Dull + 1;
    int pos = n; /* next index into perm; n = draw a new permutation */
    const int warm = o->steps / 20 > 0 ? o->steps / 20 : 1;
    double loss_sum = 0, t0 = now();
    int hits = 0, seen = 0;
    AdamWConfig ac = {.lr = 0, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0};
    for (int step = 1; step <= o->steps && !rc; step++) {
        for (int b = 0; b < B; b++) {
            if (pos == n) { /* Fisher-Yates */
                for (int i = 0; i < n; i++) perm[i] = i;
                for (int i = n - 1; i > 0; i--) {
                    int j = (int)(splitmix64(&rs) % (uint64_t)(i + 1)), t = perm[i];
                    perm[i] = perm[j], perm[j] = t;
                }
                pos = 0;
            }
            const int k = perm[pos++];
            u8_to_input(x + (size_t)k * S * S, (size_t)S * S, hx + (size_t)b * S * S);
            hl[b] = (float)labels[k];
        }
        arena_reset(arena);
        tape_reset(&tp);
        Tensor *tx = tensor_new4(arena, o->device, B, S, S, 1), *tl = tensor_new1(arena, o->device, B);
        if (!tx || !tl || tensor_from_host(tx, hx) || tensor_from_host(tl, hl)) {
            rc = -1;
            break;
        }
        Tensor *z = classifier_forward(m, &tp, tx, NULL);
        Tensor *loss = ag_cross_entropy(&tp, z, tl);
        float lv;
        if (!loss || ps_zero_grad(ps) || tape_backward(&tp, loss, NULL) || tensor_to_host(loss, &lv) ||
            tensor_to_host(z, logits)) {
            rc = -1;
            break;
        }
        if (!isfinite(lv)) {
            rc = ldm_error("classifier", "loss is %g at step %d (lower --lr)", lv, step);
            break;
        }
        const double frac = step <= warm ? (double)step / warm
                                         : 0.5 * (1 + cos(M_PI * (double)(step - warm) / (o->steps - warm + 1)));
        ac.lr = (float)(o->lr * frac);
        for (int i = 0; i < ps->n && !rc; i++)
            if (adamw_step(ps->p[i].t, mm.p[i].t, vv.p[i].t, &ac, step, 1.0f)) rc = -1;
        argmax_rows(logits, B, K, pred);
        for (int b = 0; b < B; b++) hits += pred[b] == (int)hl[b];
        seen += B;
        loss_sum += lv;
        if (!o->quiet && (step % 50 == 0 || step == o->steps)) {
            double el = now() - t0;
            printf("classifier: step %d/%d  loss %.4f  batch accuracy %.1f%%  %.0f images/s  ETA %.0f s\n", step,
                   o->steps, loss_sum / (seen / B), 100.0 * hits / seen, step * (double)B / el,
                   el / step * (o->steps - step));
            loss_sum = 0, hits = 0, seen = 0;
        }
    }
    arena_destroy(arena);
    ps_free(&mm), ps_free(&vv);
    free(perm), free(pred), free(hx), free(hl), free(logits);
    return rc;
}

int cls_predict(const Classifier *m, Device dev, const float *x, int n, int *pred, float *feat) {
    const ClassifierConfig *cc = &m->cc;
    const int S = cc->image_size, K = cc->num_classes, F = cc->feat;
    Arena *arena = arena_create(dev, arena_bytes(cc, CLS_RUN_BATCH), (size_t)16 << 20);
    float *logits = malloc((size_t)CLS_RUN_BATCH * K * sizeof(float));
    int rc = arena && logits ? 0 : ldm_error("classifier", "out of memory");
    Tape tp;
    tape_init(&tp, arena);
    tape_set_grad_enabled(&tp, false);
    for (int i0 = 0; i0 < n && !rc; i0 += CLS_RUN_BATCH) {
        const int b = n - i0 < CLS_RUN_BATCH ? n - i0 : CLS_RUN_BATCH;
        arena_reset(arena);
        tape_reset(&tp);
        Tensor *tx = tensor_new4(arena, dev, b, S, S, 1), *f = NULL, *z;
        if (!tx || tensor_from_host(tx, x + (size_t)i0 * S * S) || !(z = classifier_forward(m, &tp, tx, &f)) ||
            tensor_to_host(z, logits) || (feat && tensor_to_host(f, feat + (size_t)i0 * F))) {
            rc = -1;
            break;
        }
        if (pred) argmax_rows(logits, b, K, pred + i0);
    }
    arena_destroy(arena);
    free(logits);
    return rc;
}

/* The classifier and the generator must agree on the canvas and the classes. */
int cls_check_compat(const char *cpath, const ModelConfig *c, const char *what, const ModelConfig *g) {
    if (g->channels != 1)
        return ldm_error("classifier", "%s makes %d-channel images; ldm-eval judges gray images only (channels = 1)",
                         what, g->channels);
    if (c->image_size != g->image_size || c->data_size != g->data_size)
        return ldm_error("classifier", "classifier %s was trained on %dx%d images (data %dx%d), but %s makes %dx%d (data %dx%d)",
                         cpath, c->image_size, c->image_size, c->data_size, c->data_size, what, g->image_size,
                         g->image_size, g->data_size, g->data_size);
    if (c->num_classes != g->num_classes || strcmp(c->class_names, g->class_names))
        return ldm_error("classifier", "classifier %s was trained for %d classes (%s), but %s has %d (%s)", cpath,
                         c->num_classes, c->class_names, what, g->num_classes,
                         g->num_classes ? g->class_names : "unconditional");
    return 0;
}

void cls_tally(const int *labels, const int *pred, int n, int K, int *correct, int *total) {
    for (int k = 0; k < K; k++) correct[k] = total[k] = 0;
    for (int i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < K) total[labels[i]]++, correct[labels[i]] += pred[i] == labels[i];
}

int cls_save(const char *path, const ModelConfig *cfg, const ParamSet *ps, const ClassifierConfig *cc, long long step,
             int n_extra, const char *const *keys, const char *const *vals) {
    char arch[128];
    const char *k[8], *v[8];
    if (n_extra > 7) return ldm_error("classifier", "save: too many metadata entries");
    if (classifier_format(cc, arch, sizeof arch)) return -1;
    k[0] = "classifier", v[0] = arch;
    for (int i = 0; i < n_extra; i++) k[i + 1] = keys[i], v[i + 1] = vals[i];
    CheckpointSave c = {.kind = "classifier", .cfg = cfg, .latent_scale = 1, .step = step, .params = ps,
                        .n_extra = n_extra + 1, .extra_keys = k, .extra_vals = v};
    return checkpoint_save(path, &c);
}

int cls_load(const char *path, Device dev, ModelConfig *cfg, Classifier *m, ParamSet *ps) {
    Checkpoint ck;
    if (checkpoint_open(&ck, path, "classifier", NULL)) return -1;
    *cfg = ck.cfg;
    ClassifierConfig cc = {.image_size = cfg->image_size, .num_classes = cfg->num_classes};
    const char *arch = checkpoint_meta(&ck, "classifier");
    int rc = 0;
    if (!arch) rc = ldm_error("classifier", "%s: no 'classifier' metadata (not written by ldm-eval classifier?)", path);
    else if (classifier_parse(arch, &cc)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        rc = ldm_error("classifier", "%s: %s", path, msg);
    }
    ps_init(ps, DEV_CPU, 0, true, false);
    rc = rc || classifier_init(m, ps, &cc) || checkpoint_read(&ck, "", ps) || ps_to_device(ps, dev);
    checkpoint_close(&ck);
    if (rc) ps_free(ps);
    return rc ? -1 : 0;
}
