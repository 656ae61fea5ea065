/* data/dataset_build.c — growing a Dataset, and folder helpers (see dataset_build.h). */
#include "data/dataset_build.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap) return 0;
    int nc = *cap ? *cap : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return ldm_error("data", "out of memory");
    *arr = p;
    *cap = nc;
    return 0;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int phash_insert(DsBuild *b, int idx) {
    uint64_t m = (uint64_t)b->phash_cap - 1;
    for (uint64_t i = fnv1a(b->ds->patients[idx]) & m;; i = (i + 1) & m)
        if (b->phash[i] < 0) return b->phash[i] = idx, 0;
}

int dsb_patient(DsBuild *b, const char *name) {
    Dataset *ds = b->ds;
    if (b->phash_cap) {
        uint64_t m = (uint64_t)b->phash_cap - 1;
        for (uint64_t i = fnv1a(name) & m; b->phash[i] >= 0; i = (i + 1) & m)
            if (!strcmp(ds->patients[b->phash[i]], name)) return b->phash[i];
    }
    if (grow((void **)&ds->patients, &b->cap_patients, ds->n_patients + 1, sizeof(char *))) return -1;
    if (2 * (ds->n_patients + 1) > b->phash_cap) {
        int nc = b->phash_cap ? 2 * b->phash_cap : 256;
        int *t = malloc(sizeof(int) * (size_t)nc);
        if (!t) return ldm_error("data", "out of memory");
        free(b->phash);
        b->phash = t;
        b->phash_cap = nc;
        memset(t, 0xFF, sizeof(int) * (size_t)nc);
        for (int i = 0; i < ds->n_patients; i++) phash_insert(b, i);
    }
    char *copy = strdup(name);
    if (!copy) return ldm_error("data", "out of memory");
    ds->patients[ds->n_patients] = copy;
    phash_insert(b, ds->n_patients);
    return ds->n_patients++;
}

int dsb_class(DsBuild *b, const char *name) {
    Dataset *ds = b->ds;
    for (int i = 0; i < ds->n_classes; i++)
        if (!strcmp(ds->classes[i], name)) return i;
    char **c = realloc(ds->classes, sizeof(char *) * (size_t)(ds->n_classes + 1));
    if (!c) return ldm_error("data", "out of memory");
    ds->classes = c;
    if (!(c[ds->n_classes] = strdup(name))) return ldm_error("data", "out of memory");
    return ds->n_classes++;
}

int dsb_item(DsBuild *b, const char *path, int index, int label, int patient, DataSplit split,
             uint8_t *pixels, int w, int h) {
    Dataset *ds = b->ds;
    if (grow((void **)&ds->items, &b->cap_items, ds->n_items + 1, sizeof(DataItem))) return -1;
    char *p = strdup(path);
    if (!p) return ldm_error("data", "out of memory");
    ds->items[ds->n_items++] = (DataItem){.path = p, .index = index, .label = label, .patient = patient,
                                          .split = split, .w = w, .h = h, .pixels = pixels};
    return 0;
}

static int add_note(DataNote **arr, int *n, int *cap, const char *path, const char *why) {
    if (grow((void **)arr, cap, *n + 1, sizeof(DataNote))) return -1;
    char *p = strdup(path ? path : ""), *w = strdup(why);
    if (!p || !w) {
        free(p);
        free(w);
        return ldm_error("data", "out of memory");
    }
    (*arr)[(*n)++] = (DataNote){.path = p, .why = w};
    return 0;
}

int dsb_note(DsBuild *b, const char *path, const char *fmt, ...) {
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return add_note(&b->ds->notes, &b->ds->n_notes, &b->cap_notes, path, why);
}

int dsb_skip(DsBuild *b, const char *path, const char *why) {
    return add_note(&b->ds->skipped, &b->ds->n_skipped, &b->cap_skipped, path, why);
}

int dsb_block(DsBuild *b, void *mem) {
    Dataset *ds = b->ds;
    if (grow((void **)&ds->blocks, &b->cap_blocks, ds->n_blocks + 1, sizeof(void *))) {
        free(mem);
        return -1;
    }
    ds->blocks[ds->n_blocks++] = mem;
    return 0;
}

// ---------------------------------------------------------------------------
// folders and names

char *path_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) {
        ldm_error("data", "out of memory");
        return NULL;
    }
    memcpy(p, a, la);
    size_t k = la;
    if (la && a[la - 1] != '/') p[k++] = '/';
    memcpy(p + k, b, lb + 1);
    return p;
}

int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void free_names(char **names, int n) {
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

int list_dir(const char *dir, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return ldm_error("data", "%s: cannot open folder: %s", dir, strerror(errno));
    char **v = NULL;
    int cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *s = NULL;
        if (grow((void **)&v, &cap, cnt + 1, sizeof(char *)) || !(s = strdup(e->d_name))) {
            closedir(d);
            free_names(v, cnt);
            return ldm_error("data", "out of memory listing %s", dir);
        }
        v[cnt++] = s;
    }
    closedir(d);
    if (cnt) qsort(v, (size_t)cnt, sizeof(char *), cmp_str);
    *names = v;
    *n = cnt;
    return 0;
}

int has_suffix(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcasecmp(s + ls - lx, suffix) == 0;
}

char *patient_from_name(const char *file) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t len = strlen(base);
    const char *dot = strchr(base, '.');
    if (dot && dot != base) len = (size_t)(dot - base);
    const char *slice = strstr(base, "_slice_");
    if (slice && (size_t)(slice - base) < len && slice != base) {
        len = (size_t)(slice - base);
    } else {
        size_t us = len;
        while (us > 0 && base[us - 1] != '_') us--;
        int digits = us > 1 && us < len;
        for (size_t i = us; digits && i < len; i++) digits = isdigit((unsigned char)base[i]) != 0;
        if (digits) len = us - 1;
    }
    char *p = strndup(base, len);
    if (!p) ldm_error("data", "out of memory");
    return p;
}

char *group_of_file(DsBuild *b, const char *path, const char *rel) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (b->group == GROUP_PREFIX) return patient_from_name(base);
    if (b->group == GROUP_PATTERN) {
        regmatch_t m[2];
        if (regexec(&b->re, base, 2, m, 0) == 0) {
            int k = m[1].rm_so >= 0 ? 1 : 0;
            if (m[k].rm_eo > m[k].rm_so) {
                char *g = strndup(base + m[k].rm_so, (size_t)(m[k].rm_eo - m[k].rm_so));
                if (!g) ldm_error("data", "out of memory");
                return g;
            }
        }
        b->unmatched++;
    }
    char *g = strdup(rel); /* GROUP_IMAGE, or a name the pattern missed: the image alone */
    if (!g) ldm_error("data", "out of memory");
    return g;
}
