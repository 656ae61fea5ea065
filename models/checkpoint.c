/* models/checkpoint.c — see checkpoint.h. */
#include "models/checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define KINDS "vae, unet, classifier"

static bool kind_known(const char *k) { return !strcmp(k, "vae") || !strcmp(k, "unet") || !strcmp(k, "classifier"); }

/* longest first: "disc.adam.m.x" belongs to "disc.adam.m.", not to "disc." */
static const char *const groups[] = {"ema.", "adam.m.", "adam.v.", "disc.adam.m.", "disc.adam.v.", "disc."};
#define N_GROUPS 6

/* The group prefix of a tensor name ("" for model parameters). */
static const char *group_of(const char *name) {
    for (int i = 0; i < N_GROUPS; i++)
        if (!strncmp(name, groups[i], strlen(groups[i]))) return groups[i];
    return "";
}

// ----------------------------------------------------------------------------
// save

static int add_group(StWriter *w, const ParamSet *ps, const char *prefix, const char *what) {
    if (!ps) return 0;
    if (!ps->alloc) return ldm_error("checkpoint", "%s: a dry parameter set has no values", what);
    for (int i = 0; i < ps->n; i++) {
        char name[PS_NAME_MAX + 16];
        snprintf(name, sizeof name, "%s%s", prefix, ps->p[i].name);
        if (st_writer_add(w, name, ps->p[i].t)) return -1;
    }
    return 0;
}

int checkpoint_save(const char *path, const CheckpointSave *c) {
    if (!path || !c || !c->kind || !c->cfg || !c->params) return ldm_error("checkpoint", "save: NULL argument");
    if (!kind_known(c->kind)) return ldm_error("checkpoint", "save: kind '%s' is not one of %s", c->kind, KINDS);
    char cfg_text[4096], num[64];
    if (cfg_to_string(c->cfg, cfg_text, sizeof cfg_text) < 0) return -1;
    StWriter *w = st_writer_new();
    if (!w) return -1;
    int rc = st_writer_meta(w, "format", CKPT_FORMAT) || st_writer_meta(w, "kind", c->kind) ||
             st_writer_meta(w, "preset", c->cfg->preset) || st_writer_meta(w, "config", cfg_text);
    snprintf(num, sizeof num, "%.17g", c->latent_scale);
    rc = rc || st_writer_meta(w, "latent_scale", num);
    snprintf(num, sizeof num, "%lld", c->step);
    rc = rc || st_writer_meta(w, "step", num);
    for (int i = 0; i < c->n_extra && !rc; i++) {
        static const char *const reserved[] = {"format", "kind", "preset", "config", "latent_scale", "step"};
        for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++)
            if (!strcmp(c->extra_keys[i], reserved[k]))
                rc = ldm_error("checkpoint", "save: extra metadata key '%s' is reserved", c->extra_keys[i]);
        rc = rc || st_writer_meta(w, c->extra_keys[i], c->extra_vals[i]);
    }
    rc = rc || add_group(w, c->params, "", "params") || add_group(w, c->ema, "ema.", "ema") ||
         add_group(w, c->adam_m, "adam.m.", "adam.m") || add_group(w, c->adam_v, "adam.v.", "adam.v") ||
         add_group(w, c->disc, "disc.", "disc") || add_group(w, c->disc_m, "disc.adam.m.", "disc.adam.m") ||
         add_group(w, c->disc_v, "disc.adam.v.", "disc.adam.v");
    rc = rc || st_writer_save(w, path);
    st_writer_free(w);
    return rc ? -1 : 0;
}

// ----------------------------------------------------------------------------
// load

static const char *need_meta(const Checkpoint *ck, const char *path, const char *key) {
    const char *v = st_meta(&ck->st, key);
    if (!v) ldm_error("checkpoint", "%s: metadata has no '%s' (not an ldm.c checkpoint?)", path, key);
    return v;
}

static int parse_meta(Checkpoint *ck, const char *path) {
    const char *fmt = need_meta(ck, path, "format");
    if (!fmt) return -1;
    if (strcmp(fmt, CKPT_FORMAT))
        return ldm_error("checkpoint", "%s: format '%s', but this build reads '%s'", path, fmt, CKPT_FORMAT);
    const char *kind = need_meta(ck, path, "kind"), *cfg = need_meta(ck, path, "config");
    const char *ls = need_meta(ck, path, "latent_scale"), *step = need_meta(ck, path, "step");
    if (!kind || !cfg || !ls || !step) return -1;
    if (!kind_known(kind)) return ldm_error("checkpoint", "%s: kind '%s' is not one of %s", path, kind, KINDS);
    snprintf(ck->kind, sizeof ck->kind, "%s", kind);
    if (cfg_from_string(&ck->cfg, cfg)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        return ldm_error("checkpoint", "%s: bad config: %s", path, msg);
    }
    char *end;
    errno = 0;
    ck->latent_scale = strtod(ls, &end);
    if (*end || errno || !(ck->latent_scale > 0))
        return ldm_error("checkpoint", "%s: latent_scale '%s' is not a positive number", path, ls);
    ck->step = strtoll(step, &end, 10);
    if (*end || errno || ck->step < 0) return ldm_error("checkpoint", "%s: step '%s' is not a count", path, step);
    return 0;
}

int checkpoint_open(Checkpoint *ck, const char *path, const char *expect_kind, const ModelConfig *expect) {
    memset(ck, 0, sizeof *ck);
    if (!path) return ldm_error("checkpoint", "open: NULL path");
    if (st_load(path, &ck->st)) return -1;
    if (parse_meta(ck, path)) goto fail;
    if (expect_kind && strcmp(expect_kind, ck->kind)) {
        ldm_error("checkpoint", "%s is a %s checkpoint, expected a %s checkpoint", path, ck->kind, expect_kind);
        goto fail;
    }
    if (expect) {
        if (strcmp(expect->preset, ck->cfg.preset)) {
            ldm_error("checkpoint", "%s was trained with preset '%s', expected preset '%s'", path, ck->cfg.preset,
                      expect->preset);
            goto fail;
        }
        char diff[640];
        if (cfg_diff(&ck->cfg, expect, strcmp(ck->kind, "unet") ? CFG_SCOPE_VAE : CFG_SCOPE_ALL, diff, sizeof diff)) {
            ldm_error("checkpoint", "%s: config differs from the expected one (checkpoint vs expected) in %s", path,
                      diff);
            goto fail;
        }
    }
    return 0;
fail:
    checkpoint_close(ck);
    return -1;
}

void checkpoint_close(Checkpoint *ck) { st_free(&ck->st); }

static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < n) snprintf(buf + o, n - o, ")");
    return buf;
}

int checkpoint_read(const Checkpoint *ck, const char *prefix, ParamSet *ps) {
    if (!ck || !prefix || !ps) return ldm_error("checkpoint", "read: NULL argument");
    if (!ps->alloc) return ldm_error("checkpoint", "read: a dry parameter set has no storage");
    const char *path = ck->st.path;
    /* every expected tensor, present, F32, with its shape */
    for (int i = 0; i < ps->n; i++) {
        const Param *p = &ps->p[i];
        char name[PS_NAME_MAX + 16];
        snprintf(name, sizeof name, "%s%s", prefix, p->name);
        const StEntry *e = st_find(&ck->st, name);
        if (!e) return ldm_error("checkpoint", "%s: tensor %s is missing", path, name);
        if (strcmp(e->dtype, "F32")) return ldm_error("checkpoint", "%s: tensor %s is %s, expected F32", path, name, e->dtype);
        bool same = e->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = e->shape[d] == p->shape[d];
        if (!same) {
            char got[128];
            return ldm_error("checkpoint", "%s: tensor %s has shape %s, expected %s", path, name,
                             shape_str(e->ndim, e->shape, got, sizeof got), tshape(p->t));
        }
    }
    /* nothing of the group that the model does not have */
    for (int i = 0; i < ck->st.n; i++) {
        const char *name = ck->st.entries[i].name;
        if (strcmp(group_of(name), prefix)) continue;
        if (!ps_find_param(ps, name + strlen(prefix)))
            return ldm_error("checkpoint", "%s: tensor %s is not part of the %s model of preset '%s'", path, name,
                             ck->kind, ck->cfg.preset);
    }
    for (int i = 0; i < ps->n; i++) {
        char name[PS_NAME_MAX + 16];
        snprintf(name, sizeof name, "%s%s", prefix, ps->p[i].name);
        if (st_read_f32(&ck->st, name, ps->p[i].t)) return -1;
    }
    return 0;
}

bool checkpoint_has_group(const Checkpoint *ck, const char *prefix) {
    for (int i = 0; i < ck->st.n; i++)
        if (!strcmp(group_of(ck->st.entries[i].name), prefix)) return true;
    return false;
}

const char *checkpoint_meta(const Checkpoint *ck, const char *key) { return st_meta(&ck->st, key); }
