/* train/trainer_state.c — see trainer_state.h. Numbers are written with %.17g (doubles)
 * or as integers, so they read back exactly. */
#include "train/trainer_state.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void train_state_new(TrainState *s, const TrainArgs *a, long per_epoch) {
    memset(s, 0, sizeof *s);
    s->total = a->steps > 0 ? a->steps : a->epochs * per_epoch;
    s->seed = a->seed;
    s->batch = a->batch;
    s->lr = a->lr;
    s->lr_min = a->lr * a->lr_min_frac;
    s->clip = a->clip;
    s->weight_decay = a->weight_decay;
    s->ema = a->kind == TRAIN_UNET ? a->ema : 0;
    s->cond_drop = a->kind == TRAIN_UNET ? a->cond_drop : 0;
    s->warmup = a->warmup >= 0 ? a->warmup : s->total / 20;
    if (s->warmup > s->total) s->warmup = s->total;
    s->disc_weight = a->kind == TRAIN_VAE ? a->disc_weight : 0;
    s->disc_start = a->kind == TRAIN_VAE ? a->disc_start : 0;
    s->val_loss = s->val_psnr = NAN;
    snprintf(s->vae_file, sizeof s->vae_file, "%s", a->vae ? a->vae : "");
    snprintf(s->data, sizeof s->data, "%s", a->data ? a->data : "");
}

int train_state_meta(const TrainState *s, const char **keys, const char **vals, char *buf, size_t n) {
    int k = 0;
    size_t o = 0;
#define PUT(key, ...)                                                                   \
    do {                                                                                \
        int len = snprintf(buf + o, n - o, __VA_ARGS__);                                \
        if (len < 0 || (size_t)len >= n - o) return ldm_error("train", "metadata buffer too small"); \
        keys[k] = key, vals[k++] = buf + o;                                             \
        o += (size_t)len + 1;                                                           \
    } while (0)
    PUT("train.total_steps", "%ld", s->total);
    PUT("train.seed", "%llu", (unsigned long long)s->seed);
    PUT("train.rng_offset", "%llu", (unsigned long long)s->rng_offset);
    PUT("train.batch", "%d", s->batch);
    PUT("train.lr", "%.17g", s->lr);
    PUT("train.lr_min", "%.17g", s->lr_min);
    PUT("train.warmup", "%ld", s->warmup);
    PUT("train.clip", "%.17g", s->clip);
    PUT("train.weight_decay", "%.17g", s->weight_decay);
    PUT("train.ema", "%.17g", s->ema);
    PUT("train.cond_drop", "%.17g", s->cond_drop);
    PUT("train.val_loss", "%.17g", s->val_loss);
    PUT("train.val_psnr", "%.17g", s->val_psnr);
    PUT("train.data", "%s", s->data);
    if (s->disc_weight > 0) {
        PUT("train.disc_weight", "%.17g", s->disc_weight);
        PUT("train.disc_start", "%ld", s->disc_start);
    }
    if (s->vae_file[0]) PUT("train.vae", "%s", s->vae_file);
#undef PUT
    return k;
}

static int meta_num(const Checkpoint *ck, const char *key, double *out) {
    const char *v = checkpoint_meta(ck, key);
    if (!v) return ldm_error("resume", "%s has no '%s': not a training checkpoint of ldm-train", ck->st.path, key);
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    if (!*v || *end || errno == EINVAL) return ldm_error("resume", "%s: '%s' = '%s' is not a number", ck->st.path, key, v);
    return 0;
}

static int meta_u64(const Checkpoint *ck, const char *key, uint64_t *out) {
    const char *v = checkpoint_meta(ck, key);
    if (!v) return ldm_error("resume", "%s has no '%s': not a training checkpoint of ldm-train", ck->st.path, key);
    char *end;
    errno = 0;
    unsigned long long u = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-') return ldm_error("resume", "%s: '%s' = '%s' is not a count", ck->st.path, key, v);
    *out = u;
    return 0;
}

int train_state_from_ckpt(TrainState *s, const Checkpoint *ck) {
    memset(s, 0, sizeof *s);
    uint64_t total, batch, warmup;
    double d[9];
    static const char *const dk[9] = {"train.lr", "train.lr_min", "train.clip", "train.weight_decay", "train.ema",
                                      "train.cond_drop", "train.val_loss", "train.val_psnr", NULL};
    if (meta_u64(ck, "train.total_steps", &total) || meta_u64(ck, "train.seed", &s->seed) ||
        meta_u64(ck, "train.rng_offset", &s->rng_offset) || meta_u64(ck, "train.batch", &batch) ||
        meta_u64(ck, "train.warmup", &warmup))
        return -1;
    for (int i = 0; dk[i]; i++)
        if (meta_num(ck, dk[i], &d[i])) return -1;
    if (batch < 1 || batch > 4096 || total < 1 || total > 100000000 || warmup > total)
        return ldm_error("resume", "%s: batch %llu, total steps %llu or warm-up %llu is out of range", ck->st.path,
                         (unsigned long long)batch, (unsigned long long)total, (unsigned long long)warmup);
    s->step = (long)ck->step;
    s->total = (long)total;
    s->batch = (int)batch;
    s->warmup = (long)warmup;
    s->lr = d[0], s->lr_min = d[1], s->clip = d[2], s->weight_decay = d[3], s->ema = d[4], s->cond_drop = d[5];
    s->val_loss = d[6], s->val_psnr = d[7];
    /* the discriminator's settings: absent from runs without it (and from older checkpoints) */
    if (checkpoint_meta(ck, "train.disc_weight")) {
        uint64_t start;
        if (meta_num(ck, "train.disc_weight", &s->disc_weight) || meta_u64(ck, "train.disc_start", &start)) return -1;
        if (!(s->disc_weight >= 0 && s->disc_weight <= 100) || start > 100000000)
            return ldm_error("resume", "%s: disc weight %g or disc start %llu is out of range", ck->st.path,
                             s->disc_weight, (unsigned long long)start);
        s->disc_start = (long)start;
    }
    const char *data = checkpoint_meta(ck, "train.data"), *vae = checkpoint_meta(ck, "train.vae");
    snprintf(s->data, sizeof s->data, "%s", data ? data : "");
    snprintf(s->vae_file, sizeof s->vae_file, "%s", vae ? vae : "");
    return 0;
}

static int differs(const char *flag, double given, double saved) {
    return ldm_error("resume", "%s %.9g differs from the checkpoint's %.9g; a resumed run continues with the "
                     "checkpoint's settings (leave %s out)", flag, given, saved, flag);
}

int train_state_apply_args(TrainState *s, const TrainArgs *a, long per_epoch) {
    if (a->given_batch && a->batch != s->batch) return differs("--batch", a->batch, s->batch);
    if (a->given_seed && a->seed != s->seed) return differs("--seed", (double)a->seed, (double)s->seed);
    if (a->given_lr && a->lr != s->lr) return differs("--lr", a->lr, s->lr);
    if (a->given_warmup && a->warmup != s->warmup) return differs("--warmup", (double)a->warmup, (double)s->warmup);
    if (a->given_clip && a->clip != s->clip) return differs("--clip", a->clip, s->clip);
    if (a->given_wd && a->weight_decay != s->weight_decay) return differs("--weight-decay", a->weight_decay, s->weight_decay);
    if (a->given_ema && a->ema != s->ema) return differs("--ema", a->ema, s->ema);
    if (a->given_cond_drop && a->cond_drop != s->cond_drop) return differs("--cond-drop", a->cond_drop, s->cond_drop);
    if (a->given_disc_weight && a->disc_weight != s->disc_weight)
        return differs("--disc-weight", a->disc_weight, s->disc_weight);
    if (a->given_disc_start && a->disc_start != s->disc_start)
        return differs("--disc-start", (double)a->disc_start, (double)s->disc_start);
    if (a->given_steps) {
        long total = a->steps > 0 ? a->steps : a->epochs * per_epoch;
        if (total < s->step)
            return ldm_error("resume", "--%s asks for %ld steps in all, but the checkpoint is already at step %ld",
                             a->steps > 0 ? "steps" : "epochs", total, s->step);
        s->total = total;
    }
    return 0;
}
