/* models/config.c — presets, overrides by name, validation and the text form of a
 * ModelConfig. One table of fields drives parsing, printing, comparing and --describe. */
#include "models/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

// ----------------------------------------------------------------------------
// the field table

typedef enum { F_INT, F_FLOAT, F_STR, F_LIST, F_ENUM } FieldType;

typedef struct {
    const char *key;
    FieldType type;
    int scope;              /* CfgScope bits; 0 for the preset name (always compared) */
    size_t off;             /* the value */
    size_t off_n;           /* F_LIST: the count */
    size_t cap;             /* F_STR: buffer size; F_LIST: max entries */
    int min_n;              /* F_LIST: min entries */
    const char *const *names; /* F_ENUM: value names, NULL-terminated */
    const char *help;
    bool optional;          /* may be absent from a stored config (written before the field
                             * existed): it then reads as 0, what the model was without it */
} Field;

static const char *const recon_names[] = {"l1", "mse", NULL};
static const char *const sched_names[] = {"linear", "scaled_linear", "cosine", NULL};
static const char *const attn_names[] = {"basic", "transformer", NULL};

#define OFF(f) offsetof(ModelConfig, f)
#define V CFG_SCOPE_VAE
#define U CFG_SCOPE_UNET
#define A CFG_SCOPE_ALL
static const Field fields[] = {
    {"preset", F_STR, 0, OFF(preset), 0, CFG_NAME_MAX, 0, NULL, "preset this config started from", false},
    {"image_size", F_INT, A, OFF(image_size), 0, 0, 0, NULL, "model input side in pixels", false},
    {"data_size", F_INT, A, OFF(data_size), 0, 0, 0, NULL, "images are fitted into data_size^2, centred", false},
    {"channels", F_INT, A, OFF(channels), 0, 0, 0, NULL, "image channels: 1 gray, 3 RGB (colour is kept)", false},
    {"hflip", F_INT, A, OFF(hflip), 0, 0, 0, NULL, "random horizontal flips in training (0/1)", false},
    {"num_classes", F_INT, A, OFF(num_classes), 0, 0, 0, NULL, "class labels (0: unconditional)", false},
    {"class_names", F_STR, A, OFF(class_names), 0, 256, 0, NULL, "comma-separated class names", false},
    {"vae_ch", F_INT, V, OFF(vae_ch), 0, 0, 0, NULL, "VAE base width", false},
    {"vae_mult", F_LIST, V, OFF(vae_mult), OFF(vae_levels), CFG_MAX_LEVELS, 1, NULL,
     "VAE width multipliers, one per level (factor 2^(levels-1))", false},
    {"vae_res", F_INT, V, OFF(vae_res), 0, 0, 0, NULL, "VAE ResBlocks per level", false},
    {"vae_attn", F_INT, V, OFF(vae_attn), 0, 0, 0, NULL, "VAE middle self-attention (0/1)", false},
    {"vae_groups", F_INT, V, OFF(vae_groups), 0, 0, 0, NULL, "VAE GroupNorm groups", false},
    {"latent_ch", F_INT, A, OFF(latent_ch), 0, 0, 0, NULL, "latent channels", false},
    {"recon", F_ENUM, V, OFF(recon), 0, 0, 0, recon_names, "VAE reconstruction loss: l1 | mse", false},
    {"kl_beta", F_FLOAT, V, OFF(kl_beta), 0, 0, 0, NULL, "VAE KL weight per element (LDM's kl_weight below)", false},
    {"unet_ch", F_INT, U, OFF(unet_ch), 0, 0, 0, NULL, "U-Net base width", false},
    {"unet_mult", F_LIST, U, OFF(unet_mult), OFF(unet_levels), CFG_MAX_LEVELS, 1, NULL,
     "U-Net width multipliers, one per level", false},
    {"unet_res", F_INT, U, OFF(unet_res), 0, 0, 0, NULL, "U-Net ResBlocks per level", false},
    {"attn_res", F_LIST, U, OFF(attn_res), OFF(n_attn_res), CFG_MAX_ATTN, 0, NULL,
     "latent resolutions with attention (the middle always has it)", false},
    {"head_dim", F_INT, U, OFF(head_dim), 0, 0, 0, NULL, "channels per attention head", false},
    {"unet_groups", F_INT, U, OFF(unet_groups), 0, 0, 0, NULL, "U-Net GroupNorm groups", false},
    {"ctx_tokens", F_INT, U, OFF(ctx_tokens), 0, 0, 0, NULL, "learned tokens per class", false},
    {"ctx_dim", F_INT, U, OFF(ctx_dim), 0, 0, 0, NULL, "width of a class token", false},
    {"unet_attn", F_ENUM, U, OFF(unet_attn), 0, 0, 0, attn_names,
     "attention stage: basic (self- + cross-attention) | transformer (LDM's spatial transformer)", true},
    {"unet_dropout", F_FLOAT, U, OFF(unet_dropout), 0, 0, 0, NULL, "U-Net ResBlock dropout rate in training", true},
    {"schedule", F_ENUM, U, OFF(schedule), 0, 0, 0, sched_names, "noise schedule: linear | scaled_linear | cosine", false},
    {"timesteps", F_INT, U, OFF(timesteps), 0, 0, 0, NULL, "diffusion steps T", false},
    {"beta_start", F_FLOAT, U, OFF(beta_start), 0, 0, 0, NULL, "beta_1 (linear, scaled_linear)", false},
    {"beta_end", F_FLOAT, U, OFF(beta_end), 0, 0, 0, NULL, "beta_T (linear, scaled_linear)", false},
};
#undef V
#undef U
#undef A
#define N_FIELDS ((int)(sizeof fields / sizeof fields[0]))

static const Field *field_find(const char *key) {
    for (int i = 0; i < N_FIELDS; i++)
        if (!strcmp(fields[i].key, key)) return &fields[i];
    return NULL;
}

static void *fptr(const ModelConfig *c, size_t off) { return (char *)c + off; }

/* The value of field f as text. */
static void field_format(const ModelConfig *c, const Field *f, char *buf, size_t n) {
    switch (f->type) {
    case F_INT: snprintf(buf, n, "%d", *(int *)fptr(c, f->off)); break;
    case F_FLOAT: { /* the shortest text that reads back as the same float */
        float v = *(float *)fptr(c, f->off);
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(buf, n, "%.*g", prec, (double)v);
            if (strtof(buf, NULL) == v) break;
        }
        break;
    }
    case F_STR: snprintf(buf, n, "%s", (char *)fptr(c, f->off)); break;
    case F_ENUM: snprintf(buf, n, "%s", f->names[*(int *)fptr(c, f->off)]); break;
    case F_LIST: {
        const int *v = fptr(c, f->off);
        int cnt = *(int *)fptr(c, f->off_n);
        size_t o = 0;
        buf[0] = 0;
        for (int i = 0; i < cnt && o < n; i++) o += (size_t)snprintf(buf + o, n - o, i ? ",%d" : "%d", v[i]);
        break;
    }
    }
}

static int parse_int(const char *key, const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < INT_MIN || v > INT_MAX)
        return ldm_error("config", "%s: '%s' is not an integer", key, s);
    *out = (int)v;
    return 0;
}

static int field_parse(ModelConfig *c, const Field *f, const char *s) {
    switch (f->type) {
    case F_INT: return parse_int(f->key, s, fptr(c, f->off));
    case F_FLOAT: {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (!*s || *end || errno || !isfinite(v) || fabs(v) > 3e38)
            return ldm_error("config", "%s: '%s' is not a finite number", f->key, s);
        *(float *)fptr(c, f->off) = (float)v;
        return 0;
    }
    case F_STR:
        if (strlen(s) >= f->cap)
            return ldm_error("config", "%s: '%s' is longer than %zu characters", f->key, s, f->cap - 1);
        if (strpbrk(s, "\n\r="))
            return ldm_error("config", "%s: '%s' may not contain '=' or line breaks", f->key, s);
        snprintf(fptr(c, f->off), f->cap, "%s", s);
        return 0;
    case F_ENUM:
        for (int i = 0; f->names[i]; i++)
            if (!strcmp(f->names[i], s)) {
                *(int *)fptr(c, f->off) = i;
                return 0;
            }
        {
            char known[128] = "";
            for (int i = 0; f->names[i]; i++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? " | " : "", f->names[i]);
            return ldm_error("config", "%s: '%s' is not one of %s", f->key, s, known);
        }
    case F_LIST: {
        int v[CFG_MAX_LEVELS > CFG_MAX_ATTN ? CFG_MAX_LEVELS : CFG_MAX_ATTN], cnt = 0;
        if (*s && strcmp(s, "none")) {
            char tmp[128];
            if (strlen(s) >= sizeof tmp) return ldm_error("config", "%s: list '%s' is too long", f->key, s);
            snprintf(tmp, sizeof tmp, "%s", s);
            char *save = NULL;
            for (char *tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (cnt == (int)f->cap)
                    return ldm_error("config", "%s: '%s' has more than %zu entries", f->key, s, f->cap);
                if (parse_int(f->key, tok, &v[cnt])) return -1;
                cnt++;
            }
        }
        if (cnt < f->min_n) return ldm_error("config", "%s: needs at least %d entries, got '%s'", f->key, f->min_n, s);
        memcpy(fptr(c, f->off), v, (size_t)cnt * sizeof(int));
        *(int *)fptr(c, f->off_n) = cnt;
        return 0;
    }
    }
    return ldm_error("config", "%s: unknown field type", f->key);
}

// ----------------------------------------------------------------------------
// presets

static void set_list(int *dst, int *n, int cnt, const int *v) {
    memcpy(dst, v, (size_t)cnt * sizeof(int));
    *n = cnt;
}

/* 256x256 brain slices, the reference latent-diffusion geometry: VAE f8 -> 4x32x32,
 * U-Net 128 wide with multipliers 1,2,2, attention at 16x16, 8x8 and the middle. */
static void preset_adni(ModelConfig *c) {
    snprintf(c->preset, sizeof c->preset, "adni");
    c->image_size = 256, c->data_size = 256, c->channels = 1, c->hflip = 1;
    c->num_classes = 2;
    snprintf(c->class_names, sizeof c->class_names, "AD,NC");
    c->vae_ch = 64, c->vae_res = 2, c->vae_attn = 1, c->vae_groups = 32, c->latent_ch = 4;
    set_list(c->vae_mult, &c->vae_levels, 4, (int[]){1, 2, 4, 4});
    c->recon = RECON_L1, c->kl_beta = 1e-5f;
    c->unet_ch = 128, c->unet_res = 2, c->head_dim = 64, c->unet_groups = 32;
    set_list(c->unet_mult, &c->unet_levels, 3, (int[]){1, 2, 2});
    set_list(c->attn_res, &c->n_attn_res, 2, (int[]){16, 8});
    c->ctx_tokens = 4, c->ctx_dim = 128;
    c->schedule = SCHED_LINEAR, c->timesteps = 1000, c->beta_start = 1e-4f, c->beta_end = 0.02f;
}

static void preset_oasis(ModelConfig *c) {
    preset_adni(c);
    snprintf(c->preset, sizeof c->preset, "oasis");
    c->num_classes = 0;
    c->class_names[0] = 0;
}

/* 64x64 slices of one brain in three classes: small enough that the VAE and the U-Net
 * each train to a recognisable result in minutes on two CPU cores. VAE f4 -> 4x16x16. */
static void preset_demo(ModelConfig *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->preset, sizeof c->preset, "demo");
    c->image_size = 64, c->data_size = 64, c->channels = 1, c->hflip = 1;
    c->num_classes = 3;
    snprintf(c->class_names, sizeof c->class_names, "inferior,middle,superior");
    c->vae_ch = 16, c->vae_res = 1, c->vae_attn = 1, c->vae_groups = 8, c->latent_ch = 4;
    set_list(c->vae_mult, &c->vae_levels, 3, (int[]){1, 2, 2});
    c->recon = RECON_L1, c->kl_beta = 1e-4f;
    c->unet_ch = 32, c->unet_res = 1, c->head_dim = 32, c->unet_groups = 8;
    set_list(c->unet_mult, &c->unet_levels, 3, (int[]){1, 2, 2});
    set_list(c->attn_res, &c->n_attn_res, 1, (int[]){8});
    c->ctx_tokens = 4, c->ctx_dim = 64;
    c->schedule = SCHED_LINEAR, c->timesteps = 1000, c->beta_start = 1e-4f, c->beta_end = 0.02f;
}

/* Fashion-MNIST: 28x28 padded to 32x32, 10 classes; VAE f4 -> 4x8x8. */
static void preset_fashion(ModelConfig *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->preset, sizeof c->preset, "fashion");
    c->image_size = 32, c->data_size = 28, c->channels = 1, c->hflip = 0;
    c->num_classes = 10;
    snprintf(c->class_names, sizeof c->class_names, "tshirt,trouser,pullover,dress,coat,sandal,shirt,sneaker,bag,boot");
    c->vae_ch = 32, c->vae_res = 1, c->vae_attn = 1, c->vae_groups = 8, c->latent_ch = 4;
    set_list(c->vae_mult, &c->vae_levels, 3, (int[]){1, 2, 2});
    c->recon = RECON_L1, c->kl_beta = 1e-4f;
    c->unet_ch = 64, c->unet_res = 2, c->head_dim = 32, c->unet_groups = 16;
    set_list(c->unet_mult, &c->unet_levels, 2, (int[]){1, 2});
    set_list(c->attn_res, &c->n_attn_res, 2, (int[]){8, 4});
    c->ctx_tokens = 4, c->ctx_dim = 64;
    c->schedule = SCHED_LINEAR, c->timesteps = 1000, c->beta_start = 1e-4f, c->beta_end = 0.02f;
}

static const struct {
    const char *name;
    void (*fn)(ModelConfig *);
} presets[] = {{"adni", preset_adni}, {"oasis", preset_oasis}, {"demo", preset_demo}, {"fashion", preset_fashion}};

const char *cfg_preset_names(void) { return "adni oasis demo fashion"; }

int cfg_preset(ModelConfig *cfg, const char *name) {
    if (!cfg || !name) return ldm_error("config", "preset: NULL argument");
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(presets[i].name, name)) {
            memset(cfg, 0, sizeof *cfg);
            presets[i].fn(cfg);
            return 0;
        }
    return ldm_error("config", "unknown preset '%s' (known: %s)", name, cfg_preset_names());
}

// ----------------------------------------------------------------------------
// overrides, text form, comparison

int cfg_set(ModelConfig *cfg, const char *key, const char *value) {
    if (!cfg || !key || !value) return ldm_error("config", "set: NULL argument");
    const Field *f = field_find(key);
    if (!f) {
        char known[1024] = "";
        for (int i = 0; i < N_FIELDS; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? " " : "", fields[i].key);
        return ldm_error("config", "unknown field '%s' (fields: %s)", key, known);
    }
    ModelConfig tmp = *cfg; /* a failed parse leaves cfg as it was */
    if (field_parse(&tmp, f, value)) return -1;
    *cfg = tmp;
    return 0;
}

int cfg_set_arg(ModelConfig *cfg, const char *kv) {
    if (!cfg || !kv) return ldm_error("config", "set: NULL argument");
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) return ldm_error("config", "'%s' is not key=value", kv);
    char key[64];
    if ((size_t)(eq - kv) >= sizeof key) return ldm_error("config", "'%s': key too long", kv);
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = 0;
    return cfg_set(cfg, key, eq + 1);
}

int cfg_to_string(const ModelConfig *cfg, char *buf, size_t n) {
    if (!cfg || !buf) return ldm_error("config", "to_string: NULL argument");
    size_t o = 0;
    for (int i = 0; i < N_FIELDS; i++) {
        char v[300];
        field_format(cfg, &fields[i], v, sizeof v);
        int w = snprintf(buf + o, o < n ? n - o : 0, "%s=%s\n", fields[i].key, v);
        o += (size_t)w;
    }
    if (o >= n) return ldm_error("config", "to_string: buffer of %zu bytes is too small (%zu needed)", n, o + 1);
    return (int)o;
}

int cfg_from_string(ModelConfig *cfg, const char *text) {
    if (!cfg || !text) return ldm_error("config", "from_string: NULL argument");
    ModelConfig c;
    memset(&c, 0, sizeof c);
    bool seen[N_FIELDS] = {false};
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[400];
        if (len >= sizeof line) return ldm_error("config", "line of %zu characters is too long", len);
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (nl ? 1 : 0);
        if (!len) continue;
        char *eq = strchr(line, '=');
        if (!eq) return ldm_error("config", "line '%s' is not key=value", line);
        *eq = 0;
        const Field *f = field_find(line);
        if (!f) return ldm_error("config", "unknown field '%s'", line);
        if (field_parse(&c, f, eq + 1)) return -1;
        seen[f - fields] = true;
    }
    for (int i = 0; i < N_FIELDS; i++)
        if (!seen[i] && !fields[i].optional) return ldm_error("config", "field '%s' is missing", fields[i].key);
    if (cfg_validate(&c)) return -1;
    *cfg = c;
    return 0;
}

int cfg_diff(const ModelConfig *a, const ModelConfig *b, CfgScope scope, char *msg, size_t n) {
    for (int i = 0; i < N_FIELDS; i++) {
        const Field *f = &fields[i];
        if (f->scope && !(f->scope & scope)) continue;
        char va[300], vb[300];
        field_format(a, f, va, sizeof va);
        field_format(b, f, vb, sizeof vb);
        if (strcmp(va, vb)) {
            snprintf(msg, n, "%s: '%s' vs '%s'", f->key, va, vb);
            return 1;
        }
    }
    if (n) msg[0] = 0;
    return 0;
}

void cfg_describe(const ModelConfig *cfg, FILE *f) {
    for (int i = 0; i < N_FIELDS; i++) {
        char v[300];
        field_format(cfg, &fields[i], v, sizeof v);
        fprintf(f, "  %-12s = %-28s %s\n", fields[i].key, v, fields[i].help);
        if (!strcmp(fields[i].key, "kl_beta"))
            fprintf(f, "  %-12s = %-28.4g %s\n", "(kl_weight)", cfg_kl_weight_ldm(cfg),
                    "kl_beta in LDM's convention: x image elements / latent elements");
    }
}

double cfg_kl_weight_ldm(const ModelConfig *cfg) {
    const double s = cfg_latent_size(cfg);
    return cfg->kl_beta * ((double)cfg->image_size * cfg->image_size * cfg->channels) / (s * s * cfg->latent_ch);
}

// ----------------------------------------------------------------------------
// derived sizes, classes, validation

int cfg_vae_factor(const ModelConfig *cfg) { return 1 << (cfg->vae_levels - 1); }
int cfg_latent_size(const ModelConfig *cfg) { return cfg->image_size / cfg_vae_factor(cfg); }

bool cfg_has_attn(const ModelConfig *cfg, int resolution) {
    for (int i = 0; i < cfg->n_attn_res; i++)
        if (cfg->attn_res[i] == resolution) return true;
    return false;
}

static int count_names(const char *s) {
    if (!*s) return 0;
    int n = 1;
    for (; *s; s++) n += *s == ',';
    return n;
}

const char *cfg_class_name(const ModelConfig *cfg, int i, char *buf, size_t n) {
    const char *s = cfg->class_names;
    for (int k = 0; k < i && s; k++) {
        s = strchr(s, ',');
        if (s) s++;
    }
    if (!*cfg->class_names || !s) {
        snprintf(buf, n, "%d", i);
        return buf;
    }
    size_t len = strcspn(s, ",");
    snprintf(buf, n, "%.*s", (int)len, s);
    return buf;
}

int cfg_class_index(const ModelConfig *cfg, const char *label) {
    if (!cfg || !label) return ldm_error("config", "class: NULL argument");
    if (cfg->num_classes == 0) return ldm_error("config", "preset '%s' is unconditional (no classes)", cfg->preset);
    for (int i = 0; i < cfg->num_classes; i++) {
        char name[64];
        if (!strcmp(cfg_class_name(cfg, i, name, sizeof name), label)) return i;
    }
    char *end;
    long l = strtol(label, &end, 10);
    if (*label && !*end && l >= 0 && l < cfg->num_classes) return (int)l;
    return ldm_error("config", "unknown class '%s' (classes: %s, or an index 0..%d)", label,
                     *cfg->class_names ? cfg->class_names : "none named", cfg->num_classes - 1);
}

static int check_range(const char *key, int v, int lo, int hi) {
    if (v < lo || v > hi) return ldm_error("config", "%s = %d is outside %d..%d", key, v, lo, hi);
    return 0;
}

static int check_groups(const char *what, int ch, int groups) {
    if (ch % groups)
        return ldm_error("config", "%s: %d channels are not divisible into %d GroupNorm groups", what, ch, groups);
    return 0;
}

int cfg_validate(const ModelConfig *c) {
    if (!c) return ldm_error("config", "validate: NULL config");
    if (!c->preset[0]) return ldm_error("config", "preset name is empty");
    if (check_range("image_size", c->image_size, 8, 4096) || check_range("data_size", c->data_size, 1, c->image_size) ||
        check_range("channels", c->channels, 1, 4) || check_range("hflip", c->hflip, 0, 1) ||
        check_range("num_classes", c->num_classes, 0, CFG_MAX_CLASSES))
        return -1;
    if (c->class_names[0] && count_names(c->class_names) != c->num_classes)
        return ldm_error("config", "class_names '%s' has %d names but num_classes = %d", c->class_names,
                         count_names(c->class_names), c->num_classes);
    /* VAE */
    if (check_range("vae_ch", c->vae_ch, 1, 4096) || check_range("vae_res", c->vae_res, 1, CFG_MAX_RES) ||
        check_range("vae_attn", c->vae_attn, 0, 1) || check_range("vae_groups", c->vae_groups, 1, 4096) ||
        check_range("latent_ch", c->latent_ch, 1, 64) || check_range("vae_levels", c->vae_levels, 1, CFG_MAX_LEVELS))
        return -1;
    for (int i = 0; i < c->vae_levels; i++) {
        if (check_range("vae_mult", c->vae_mult[i], 1, 64)) return -1;
        if (check_groups("vae_ch * vae_mult", c->vae_ch * c->vae_mult[i], c->vae_groups)) return -1;
    }
    if (check_groups("vae_ch", c->vae_ch, c->vae_groups)) return -1;
    if (c->image_size % cfg_vae_factor(c))
        return ldm_error("config", "image_size %d is not divisible by the VAE factor %d (vae_mult has %d levels)",
                         c->image_size, cfg_vae_factor(c), c->vae_levels);
    if (!(c->kl_beta >= 0)) return ldm_error("config", "kl_beta = %g must be >= 0", (double)c->kl_beta);
    if (!(c->unet_dropout >= 0 && c->unet_dropout < 1))
        return ldm_error("config", "unet_dropout = %g must be in [0, 1)", (double)c->unet_dropout);
    /* U-Net */
    if (check_range("unet_ch", c->unet_ch, 1, 4096) || check_range("unet_res", c->unet_res, 1, CFG_MAX_RES) ||
        check_range("unet_groups", c->unet_groups, 1, 4096) || check_range("head_dim", c->head_dim, 1, 4096) ||
        check_range("unet_levels", c->unet_levels, 1, CFG_MAX_LEVELS))
        return -1;
    if (c->num_classes > 0 &&
        (check_range("ctx_tokens", c->ctx_tokens, 1, 256) || check_range("ctx_dim", c->ctx_dim, 1, 4096)))
        return -1;
    int lat = cfg_latent_size(c);
    if (lat % (1 << (c->unet_levels - 1)))
        return ldm_error("config", "latent size %d is not divisible by 2^%d for %d U-Net levels", lat,
                         c->unet_levels - 1, c->unet_levels);
    if (check_groups("unet_ch", c->unet_ch, c->unet_groups)) return -1;
    if (c->unet_ch % 2) return ldm_error("config", "unet_ch = %d must be even (sinusoidal time embedding)", c->unet_ch);
    for (int i = 0; i < c->unet_levels; i++) {
        int ch = c->unet_ch * c->unet_mult[i];
        if (check_range("unet_mult", c->unet_mult[i], 1, 64)) return -1;
        if (check_groups("unet_ch * unet_mult", ch, c->unet_groups)) return -1;
        bool attn = cfg_has_attn(c, lat >> i) || i == c->unet_levels - 1; /* the middle runs at the last level */
        if (attn && ch % c->head_dim)
            return ldm_error("config", "level %d (%dx%d) has %d channels, not a multiple of head_dim %d", i, lat >> i,
                             lat >> i, ch, c->head_dim);
    }
    for (int k = 0; k < c->n_attn_res; k++) {
        bool found = false;
        for (int i = 0; i < c->unet_levels; i++) found |= (lat >> i) == c->attn_res[k];
        if (!found)
            return ldm_error("config", "attn_res %d is not one of the U-Net's resolutions (%d down to %d)",
                             c->attn_res[k], lat, lat >> (c->unet_levels - 1));
    }
    /* schedule */
    if (check_range("timesteps", c->timesteps, 2, 100000)) return -1;
    if (c->schedule != SCHED_COSINE && !(c->beta_start > 0 && c->beta_start < c->beta_end && c->beta_end < 1))
        return ldm_error("config", "need 0 < beta_start (%g) < beta_end (%g) < 1", (double)c->beta_start,
                         (double)c->beta_end);
    return 0;
}
