/* core/safetensors.c — see safetensors.h. */
#include "core/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bf16.h"
#include "core/error.h"
#include "core/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c copies little-endian tensor bytes as they are: a big-endian host needs byte swaps"
#endif

/* "safetensors: <file>: <message>" */
static int st_fail(const char *file, const char *fmt, ...) LDM_PRINTF(2, 3);
static int st_fail(const char *file, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ldm_error("safetensors", "%s: %s", file ? file : "(null)", msg);
}

static const struct {
    const char *name;
    int size;
} DTYPES[] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I32", 4}, {"I64", 8}, {"U8", 1}};

static int dtype_size(const char *name) {
    for (size_t k = 0; k < sizeof DTYPES / sizeof DTYPES[0]; k++)
        if (!strcmp(DTYPES[k].name, name)) return DTYPES[k].size;
    return 0;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

// ---------------------------------------------------------------------------
// reading: header fields

static int parse_shape(const char *file, const char *name, const JsonValue *v, StEntry *e) {
    if (v->type != JSON_ARRAY) return st_fail(file, "tensor '%s': 'shape' must be an array of integers", name);
    if (v->n > ST_MAX_DIMS) return st_fail(file, "tensor '%s': %d dims, at most %d supported", name, v->n, ST_MAX_DIMS);
    e->ndim = v->n;
    for (int d = 0; d < v->n; d++) {
        if (v->items[d].type != JSON_INT)
            return st_fail(file, "tensor '%s': shape entry %d is a %s, not an integer", name, d,
                           json_type_name(v->items[d].type));
        if (v->items[d].i < 0)
            return st_fail(file, "tensor '%s': shape entry %d is negative (%lld)", name, d, (long long)v->items[d].i);
        e->shape[d] = v->items[d].i;
    }
    return 0;
}

static int parse_offsets(const char *file, const char *name, const JsonValue *v, StEntry *e) {
    if (v->type != JSON_ARRAY || v->n != 2 || v->items[0].type != JSON_INT || v->items[1].type != JSON_INT)
        return st_fail(file, "tensor '%s': 'data_offsets' must be an array of two integers", name);
    if (v->items[0].i < 0 || v->items[1].i < 0)
        return st_fail(file, "tensor '%s': data_offsets [%lld, %lld] are negative", name, (long long)v->items[0].i,
                       (long long)v->items[1].i);
    e->begin = (uint64_t)v->items[0].i;
    e->end = (uint64_t)v->items[1].i;
    if (e->begin > e->end)
        return st_fail(file, "tensor '%s': data_offsets begin %llu > end %llu", name, (unsigned long long)e->begin,
                       (unsigned long long)e->end);
    return 0;
}

static int parse_tensor(const char *file, const char *name, const JsonValue *v, size_t data_len, StEntry *e) {
    if (!name[0]) return st_fail(file, "a tensor has an empty name");
    if (v->type != JSON_OBJECT)
        return st_fail(file, "tensor '%s': expected an object, got a %s", name, json_type_name(v->type));
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    for (int k = 0; k < v->n; k++)
        if (strcmp(v->keys[k], fields[0]) && strcmp(v->keys[k], fields[1]) && strcmp(v->keys[k], fields[2]))
            return st_fail(file, "tensor '%s': unknown field '%s'", name, v->keys[k]);
    const JsonValue *f[3];
    for (int k = 0; k < 3; k++)
        if (!(f[k] = json_get(v, fields[k]))) return st_fail(file, "tensor '%s': missing field '%s'", name, fields[k]);

    if (f[0]->type != JSON_STRING) return st_fail(file, "tensor '%s': 'dtype' must be a string", name);
    if (!(e->dtype_size = dtype_size(f[0]->s)))
        return st_fail(file, "tensor '%s': dtype '%.16s' is not one of F32, F16, BF16, F64, I32, I64, U8", name,
                       f[0]->s);
    strcpy(e->dtype, f[0]->s); /* at most "BF16" */
    if (parse_shape(file, name, f[1], e) || parse_offsets(file, name, f[2], e)) return -1;

    uint64_t bytes = (uint64_t)e->dtype_size;
    for (int d = 0; d < e->ndim; d++)
        if (__builtin_mul_overflow(bytes, (uint64_t)e->shape[d], &bytes))
            return st_fail(file, "tensor '%s': shape overflows 64 bits", name);
    if (e->end > data_len)
        return st_fail(file, "tensor '%s': data_offsets [%llu, %llu] run past the %zu-byte buffer", name,
                       (unsigned long long)e->begin, (unsigned long long)e->end, data_len);
    if (e->end - e->begin != bytes)
        return st_fail(file, "tensor '%s': %s shape needs %llu bytes but data_offsets [%llu, %llu] hold %llu", name,
                       e->dtype, (unsigned long long)bytes, (unsigned long long)e->begin,
                       (unsigned long long)e->end, (unsigned long long)(e->end - e->begin));
    return (e->name = dup_str(name)) ? 0 : st_fail(file, "out of memory");
}

static int parse_metadata(const char *file, const JsonValue *v, SafeTensors *st) {
    if (v->type != JSON_OBJECT) return st_fail(file, "__metadata__ must be an object of strings");
    st->meta_keys = calloc((size_t)v->n + 1, sizeof(char *));
    st->meta_vals = calloc((size_t)v->n + 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_vals) return st_fail(file, "out of memory");
    for (int k = 0; k < v->n; k++) {
        if (v->items[k].type != JSON_STRING)
            return st_fail(file, "__metadata__ value of '%s' is a %s, must be a string", v->keys[k],
                           json_type_name(v->items[k].type));
        st->meta_keys[k] = dup_str(v->keys[k]);
        st->meta_vals[k] = dup_str(v->items[k].s);
        st->n_meta = k + 1;
        if (!st->meta_keys[k] || !st->meta_vals[k]) return st_fail(file, "out of memory");
    }
    return 0;
}

// ---------------------------------------------------------------------------
// reading: layout

static int cmp_by_offset(const void *a, const void *b) {
    const StEntry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_by_name(const void *a, const void *b, void *entries) {
    const StEntry *e = entries;
    return strcmp(e[*(const int *)a].name, e[*(const int *)b].name);
}

/* The tensors must tile [0, data_len) exactly, in some order. */
static int check_coverage(const char *file, SafeTensors *st) {
    qsort(st->entries, (size_t)st->n, sizeof *st->entries, cmp_by_offset);
    uint64_t pos = 0;
    for (int k = 0; k < st->n; k++) {
        const StEntry *e = &st->entries[k];
        if (e->begin < pos)
            return st_fail(file, "tensors '%s' and '%s' overlap (bytes [%llu, %llu) and [%llu, %llu))",
                           st->entries[k - 1].name, e->name, (unsigned long long)st->entries[k - 1].begin,
                           (unsigned long long)st->entries[k - 1].end, (unsigned long long)e->begin,
                           (unsigned long long)e->end);
        if (e->begin > pos)
            return st_fail(file, "bytes [%llu, %llu) before tensor '%s' belong to no tensor (a hole)",
                           (unsigned long long)pos, (unsigned long long)e->begin, e->name);
        pos = e->end;
    }
    if (pos != st->data_len)
        return st_fail(file, "bytes [%llu, %zu) after the last tensor belong to no tensor", (unsigned long long)pos,
                       st->data_len);
    return 0;
}

/* Parses the file image `buf` (taking ownership of it). */
static int parse_owned(uint8_t *buf, size_t len, const char *label, SafeTensors *out) {
    memset(out, 0, sizeof *out);
    out->file_ = buf;
    out->path = dup_str(label ? label : "(unnamed)");
    if (!out->path) return st_free(out), ldm_error("safetensors", "out of memory");
    const char *file = out->path;
    JsonValue *root = NULL;
    int rc = -1;

    if (len < 8) {
        st_fail(file, "file is %zu bytes, shorter than the 8-byte header length", len);
        goto done;
    }
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | buf[k];
    if (hlen > ST_MAX_HEADER) {
        st_fail(file, "header length %llu is absurd (more than %llu bytes)", (unsigned long long)hlen, ST_MAX_HEADER);
        goto done;
    }
    if (hlen > len - 8) {
        st_fail(file, "header length %llu runs past the end of the file (%zu bytes)", (unsigned long long)hlen, len);
        goto done;
    }
    if (hlen == 0 || buf[8] != '{') {
        st_fail(file, "header does not start with '{'");
        goto done;
    }
    out->data = buf + 8 + hlen;
    out->data_len = len - 8 - (size_t)hlen;

    if (!(root = json_parse((const char *)buf + 8, (size_t)hlen))) {
        char why[512];
        snprintf(why, sizeof why, "%s", ldm_last_error());
        st_fail(file, "header is not valid JSON (%s)", why);
        goto done;
    }
    out->entries = calloc((size_t)root->n + 1, sizeof *out->entries);
    if (!out->entries) {
        st_fail(file, "out of memory");
        goto done;
    }
    for (int k = 0; k < root->n; k++) {
        if (!strcmp(root->keys[k], "__metadata__")) {
            if (parse_metadata(file, &root->items[k], out)) goto done;
            continue;
        }
        StEntry *e = &out->entries[out->n];
        if (parse_tensor(file, root->keys[k], &root->items[k], out->data_len, e)) {
            free(e->name);
            e->name = NULL;
            goto done;
        }
        out->n++;
    }
    if (check_coverage(file, out)) goto done;
    out->by_name_ = malloc(((size_t)out->n + 1) * sizeof *out->by_name_);
    if (!out->by_name_) {
        st_fail(file, "out of memory");
        goto done;
    }
    for (int k = 0; k < out->n; k++) out->by_name_[k] = k;
    qsort_r(out->by_name_, (size_t)out->n, sizeof *out->by_name_, cmp_by_name, out->entries);
    rc = 0;
done:
    json_free(root);
    if (rc) st_free(out);
    return rc;
}

// ---------------------------------------------------------------------------
// reading: public

int st_load_bytes(const void *bytes, size_t len, const char *label, SafeTensors *out) {
    if (!out) return ldm_error("safetensors", "no output struct (NULL)");
    memset(out, 0, sizeof *out);
    if (!bytes && len) return st_fail(label, "no bytes (NULL)");
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) return st_fail(label, "out of memory for %zu bytes", len);
    if (len) memcpy(buf, bytes, len);
    return parse_owned(buf, len, label, out);
}

int st_load(const char *path, SafeTensors *out) {
    if (!out) return ldm_error("safetensors", "no output struct (NULL)");
    memset(out, 0, sizeof *out);
    if (!path) return ldm_error("safetensors", "no path (NULL)");
    FILE *f = fopen(path, "rb");
    if (!f) return st_fail(path, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return st_fail(path, "not a regular file");
    }
    size_t len = (size_t)sb.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        fclose(f);
        return st_fail(path, "out of memory for %zu bytes", len);
    }
    size_t got = fread(buf, 1, len, f);
    int err = ferror(f);
    fclose(f);
    if (got != len || err) {
        free(buf);
        return st_fail(path, "read %zu of %zu bytes", got, len);
    }
    return parse_owned(buf, len, path, out);
}

void st_free(SafeTensors *st) {
    if (!st) return;
    for (int k = 0; k < st->n; k++) free(st->entries[k].name);
    for (int k = 0; k < st->n_meta; k++) {
        free(st->meta_keys[k]);
        free(st->meta_vals[k]);
    }
    free(st->entries);
    free(st->meta_keys);
    free(st->meta_vals);
    free(st->by_name_);
    free(st->file_);
    free(st->path);
    memset(st, 0, sizeof *st);
}

const StEntry *st_find(const SafeTensors *st, const char *name) {
    if (!st || !name || !st->by_name_) return NULL;
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const StEntry *e = &st->entries[st->by_name_[mid]];
        int c = strcmp(name, e->name);
        if (!c) return e;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *st_meta(const SafeTensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (int k = 0; k < st->n_meta; k++)
        if (!strcmp(st->meta_keys[k], key)) return st->meta_vals[k];
    return NULL;
}

uint64_t st_numel(const StEntry *e) {
    uint64_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (uint64_t)e->shape[d]; /* bounded by the byte check at load */
    return n;
}

static void file_shape_str(const StEntry *e, char *buf, size_t n) {
    size_t off = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < e->ndim && off < n; d++)
        off += (size_t)snprintf(buf + off, n - off, d ? ", %lld" : "%lld", (long long)e->shape[d]);
    if (off < n) snprintf(buf + off, n - off, ")");
}

/* The entry for `name` if it exists, is F32 or BF16 (or exactly `want` when given) and has
 * dst's shape; NULL + error otherwise. */
static const StEntry *entry_for(const SafeTensors *st, const char *name, const Tensor *dst, const char *fn,
                                const char *want) {
    if (!st || !st->path || !name) {
        ldm_error("safetensors", "%s: missing file or name (NULL)", fn);
        return NULL;
    }
    if (!dst || !dst->data) {
        st_fail(st->path, "tensor '%s': no destination tensor", name);
        return NULL;
    }
    const StEntry *e = st_find(st, name);
    if (!e) {
        st_fail(st->path, "no tensor named '%s'", name);
        return NULL;
    }
    if (want ? strcmp(e->dtype, want) != 0 : (strcmp(e->dtype, "F32") && strcmp(e->dtype, "BF16"))) {
        st_fail(st->path, "tensor '%s' is %s, expected %s", name, e->dtype, want ? want : "F32 or BF16");
        return NULL;
    }
    char fs[160];
    file_shape_str(e, fs, sizeof fs);
    if (e->ndim != dst->ndim) {
        st_fail(st->path, "tensor '%s' has shape %s in the file but the destination is %s: rank %d vs %d", name, fs,
                tshape(dst), e->ndim, dst->ndim);
        return NULL;
    }
    for (int d = 0; d < e->ndim; d++)
        if (e->shape[d] != dst->shape[d]) {
            st_fail(st->path, "tensor '%s' has shape %s in the file but the destination is %s: dim %d is %lld vs %d",
                    name, fs, tshape(dst), d, (long long)e->shape[d], dst->shape[d]);
            return NULL;
        }
    return e;
}

int st_read_f32(const SafeTensors *st, const char *name, Tensor *dst) {
    if (dst && dst->data && dst->dtype != DT_F32 && st && st->path && name)
        return st_fail(st->path, "tensor '%s': destination %s is not fp32", name, tshape(dst));
    const StEntry *e = entry_for(st, name, dst, "st_read_f32", "F32");
    if (!e) return -1;
    return dev_memcpy(dst->data, dst->device, st->data + e->begin, DEV_CPU, (size_t)(e->end - e->begin));
}

int st_read(const SafeTensors *st, const char *name, Tensor *dst) {
    const StEntry *e = entry_for(st, name, dst, "st_read", NULL);
    if (!e) return -1;
    const DType file_dt = strcmp(e->dtype, "BF16") ? DT_F32 : DT_BF16;
    const uint8_t *bytes = st->data + e->begin;
    if (file_dt == dst->dtype) return dev_memcpy(dst->data, dst->device, bytes, DEV_CPU, (size_t)(e->end - e->begin));
    /* convert on the host: fp32 <-> bf16 (the buffer may be unaligned: copy out first) */
    const size_t n = (size_t)st_numel(e);
    float *f = malloc(n * sizeof(float) + 1);
    bf16_t *h = malloc(n * sizeof(bf16_t) + 1);
    int rc = -1;
    if (!f || !h) {
        st_fail(st->path, "tensor '%s': out of memory converting %s", name, e->dtype);
    } else if (file_dt == DT_BF16) { /* BF16 -> fp32 destination: exact */
        memcpy(h, bytes, n * sizeof(bf16_t));
        ldm_bf16_to_f32_n(h, f, n);
        rc = tensor_from_host(dst, f);
    } else { /* F32 -> bf16 destination: round to nearest even */
        memcpy(f, bytes, n * sizeof(float));
        ldm_f32_to_bf16_n(f, h, n);
        rc = tensor_from_host_raw(dst, h);
    }
    free(f);
    free(h);
    return rc;
}

// ---------------------------------------------------------------------------
// writer

typedef struct {
    char *name;
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    size_t numel;
    DType dtype;
    void *data; /* (numel) host copy of the stored bytes */
} StItem;

struct StWriter {
    StItem *items;
    int n, cap;
    char **meta_keys, **meta_vals;
    int n_meta, cap_meta;
};

StWriter *st_writer_new(void) {
    StWriter *w = calloc(1, sizeof *w);
    if (!w) ldm_error("safetensors", "out of memory");
    return w;
}

void st_writer_free(StWriter *w) {
    if (!w) return;
    for (int k = 0; k < w->n; k++) {
        free(w->items[k].name);
        free(w->items[k].data);
    }
    for (int k = 0; k < w->n_meta; k++) {
        free(w->meta_keys[k]);
        free(w->meta_vals[k]);
    }
    free(w->items);
    free(w->meta_keys);
    free(w->meta_vals);
    free(w);
}

static int check_name(const char *what, const char *s) {
    if (!s) return ldm_error("safetensors", "writer: %s is missing (NULL)", what);
    if (!json_utf8_valid(s, strlen(s))) return ldm_error("safetensors", "writer: %s '%s' is not valid UTF-8", what, s);
    return 0;
}

int st_writer_add(StWriter *w, const char *name, const Tensor *t) {
    if (!w) return ldm_error("safetensors", "writer: no writer (NULL)");
    if (check_name("tensor name", name)) return -1;
    if (!name[0] || !strcmp(name, "__metadata__"))
        return ldm_error("safetensors", "writer: '%s' cannot be a tensor name", name);
    if (!t || !t->data) return ldm_error("safetensors", "writer: tensor '%s' is missing or has no storage", name);
    if (t->dtype != DT_F32 && t->dtype != DT_BF16)
        return ldm_error("safetensors", "writer: tensor '%s' %s has an unknown dtype", name, tshape(t));
    for (int k = 0; k < w->n; k++)
        if (!strcmp(w->items[k].name, name)) return ldm_error("safetensors", "writer: duplicate tensor name '%s'", name);
    if (w->n == w->cap) {
        int nc = w->cap ? 2 * w->cap : 16;
        StItem *ni = realloc(w->items, (size_t)nc * sizeof *ni);
        if (!ni) return ldm_error("safetensors", "out of memory");
        w->items = ni;
        w->cap = nc;
    }
    StItem it = {0};
    it.ndim = t->ndim;
    memcpy(it.shape, t->shape, sizeof it.shape);
    it.numel = t->numel;
    it.dtype = t->dtype;
    it.name = dup_str(name);
    it.data = malloc(tensor_bytes(t) + 1);
    if (!it.name || !it.data || tensor_to_host_raw(t, it.data)) {
        if (!it.name || !it.data) ldm_error("safetensors", "writer: out of memory for tensor '%s' %s", name, tshape(t));
        free(it.name);
        free(it.data);
        return -1;
    }
    w->items[w->n++] = it;
    return 0;
}

int st_writer_meta(StWriter *w, const char *key, const char *value) {
    if (!w) return ldm_error("safetensors", "writer: no writer (NULL)");
    if (check_name("metadata key", key) || check_name("metadata value", value)) return -1;
    for (int k = 0; k < w->n_meta; k++)
        if (!strcmp(w->meta_keys[k], key)) return ldm_error("safetensors", "writer: duplicate metadata key '%s'", key);
    if (w->n_meta == w->cap_meta) {
        int nc = w->cap_meta ? 2 * w->cap_meta : 8;
        char **nk = realloc(w->meta_keys, (size_t)nc * sizeof *nk);
        if (nk) w->meta_keys = nk;
        char **nv = nk ? realloc(w->meta_vals, (size_t)nc * sizeof *nv) : NULL;
        if (!nv) return ldm_error("safetensors", "out of memory");
        w->meta_vals = nv;
        w->cap_meta = nc;
    }
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        free(k);
        free(v);
        return ldm_error("safetensors", "out of memory");
    }
    w->meta_keys[w->n_meta] = k;
    w->meta_vals[w->n_meta++] = v;
    return 0;
}

// ---------------------------------------------------------------------------
// writer: header text

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} Buf;

static void put(Buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->len + n + 1) nc *= 2;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string, escaped as serde_json writes it (so headers match the reference). */
static void put_json_string(Buf *b, const char *s) {
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *short_esc = NULL;
        switch (*p) {
        case '"': short_esc = "\\\""; break;
        case '\\': short_esc = "\\\\"; break;
        case '\b': short_esc = "\\b"; break;
        case '\f': short_esc = "\\f"; break;
        case '\n': short_esc = "\\n"; break;
        case '\r': short_esc = "\\r"; break;
        case '\t': short_esc = "\\t"; break;
        default: break;
        }
        if (short_esc) puts_(b, short_esc);
        else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            puts_(b, esc);
        } else put(b, (const char *)p, 1);
    }
    put(b, "\"", 1);
}

static int build_header(const StWriter *w, Buf *b) {
    char num[64];
    puts_(b, "{");
    int first = 1;
    if (w->n_meta) {
        puts_(b, "\"__metadata__\":{");
        for (int k = 0; k < w->n_meta; k++) {
            if (k) puts_(b, ",");
            put_json_string(b, w->meta_keys[k]);
            puts_(b, ":");
            put_json_string(b, w->meta_vals[k]);
        }
        puts_(b, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (int k = 0; k < w->n; k++) {
        const StItem *it = &w->items[k];
        if (!first) puts_(b, ",");
        first = 0;
        put_json_string(b, it->name);
        puts_(b, it->dtype == DT_BF16 ? ":{\"dtype\":\"BF16\",\"shape\":[" : ":{\"dtype\":\"F32\",\"shape\":[");
        for (int d = 0; d < it->ndim; d++) {
            snprintf(num, sizeof num, d ? ",%d" : "%d", it->shape[d]);
            puts_(b, num);
        }
        uint64_t end = off + (uint64_t)it->numel * dtype_bytes(it->dtype);
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off, (unsigned long long)end);
        puts_(b, num);
        off = end;
    }
    puts_(b, "}");
    while (b->len % 8) puts_(b, " "); /* the buffer then starts 8-byte aligned */
    return b->oom ? ldm_error("safetensors", "writer: out of memory for the header") : 0;
}

// ---------------------------------------------------------------------------
// writer: atomic save

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* fsync the directory holding `path`, so the rename itself is durable. Filesystems
 * that cannot sync a directory (EINVAL) are accepted. */
static int sync_dir(const char *path) {
    size_t n = strlen(path);
    char *dir = malloc(n + 2);
    if (!dir) return -1;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd) && errno != EINVAL ? -1 : 0;
    close(fd);
    return rc;
}

int st_writer_save(const StWriter *w, const char *path) {
    if (!w || !path || !path[0]) return ldm_error("safetensors", "save: missing writer or path");
    Buf h = {0};
    if (build_header(w, &h)) {
        free(h.s);
        return -1;
    }
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp) {
        free(h.s);
        return ldm_error("safetensors", "out of memory");
    }
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);

    int rc = -1, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st_fail(path, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    uint8_t len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)h.len >> (8 * k));
    int ok = !write_all(fd, len8, 8) && !write_all(fd, h.s, h.len);
    for (int k = 0; ok && k < w->n; k++) ok = !write_all(fd, w->items[k].data, w->items[k].numel * dtype_bytes(w->items[k].dtype));
    if (!ok || fsync(fd)) {
        st_fail(path, "writing %s failed: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd)) {
        st_fail(path, "closing %s failed: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path)) {
        st_fail(path, "cannot rename %s over it: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (sync_dir(path)) {
        st_fail(path, "written, but syncing its directory failed: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    free(h.s);
    return rc;
}
