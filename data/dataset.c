/* data/dataset.c — opening a data set: layout detection, the verify pass, the size
 * check, --skip-bad, and the validation split (see dataset.h). */
#include "data/dataset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset_build.h"

void data_options_default(DataOptions *o) {
    *o = (DataOptions){.layout = LAYOUT_AUTO, .verify = true, .seed = 0, .val_patients = -1,
                       .group_by = GROUP_AUTO, .axis = AXIS_AXIAL, .min_fill = 0.05f, .threads = 2};
}

const char *group_by_name(DataGroupBy g) {
    return g == GROUP_IMAGE ? "image" : g == GROUP_PREFIX ? "prefix" : g == GROUP_PATTERN ? "pattern" : "auto";
}

int group_by_parse(const char *s, DataOptions *o) {
    if (!s || !*s) return ldm_error("data", "empty --group-by (want image, prefix or a pattern)");
    o->group_pattern = NULL;
    if (!strcmp(s, "image")) o->group_by = GROUP_IMAGE;
    else if (!strcmp(s, "prefix")) o->group_by = GROUP_PREFIX;
    else if (!strcmp(s, "auto")) o->group_by = GROUP_AUTO;
    else o->group_by = GROUP_PATTERN, o->group_pattern = s;
    return 0;
}

static const char *layout_names[] = {"auto", "adni", "oasis", "folder", "nifti", "idx"};

const char *layout_name(DataLayout l) { return (unsigned)l < 6 ? layout_names[l] : "?"; }

int layout_parse(const char *s, DataLayout *out) {
    for (int i = 0; i < 6; i++)
        if (!strcmp(s, layout_names[i])) return *out = (DataLayout)i, 0;
    return ldm_error("data", "layout '%s' (want auto, adni, oasis, folder, nifti or idx)", s);
}

const char *split_name(DataSplit s) { return s == SPLIT_TRAIN ? "train" : s == SPLIT_VAL ? "val" : s == SPLIT_TEST ? "test" : "?"; }

int axis_parse(const char *s, SliceAxis *out) {
    if (!strcmp(s, "axial")) *out = AXIS_AXIAL;
    else if (!strcmp(s, "coronal")) *out = AXIS_CORONAL;
    else if (!strcmp(s, "sagittal")) *out = AXIS_SAGITTAL;
    else return ldm_error("data", "axis '%s' (want axial, coronal or sagittal)", s);
    return 0;
}

void dataset_free(Dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n_items; i++) free(ds->items[i].path);
    free(ds->items);
    for (int i = 0; i < ds->n_classes; i++) free(ds->classes[i]);
    free(ds->classes);
    for (int i = 0; i < ds->n_patients; i++) free(ds->patients[i]);
    free(ds->patients);
    for (int i = 0; i < ds->n_skipped; i++) free(ds->skipped[i].path), free(ds->skipped[i].why);
    free(ds->skipped);
    for (int i = 0; i < ds->n_notes; i++) free(ds->notes[i].path), free(ds->notes[i].why);
    free(ds->notes);
    for (int i = 0; i < ds->n_blocks; i++) free(ds->blocks[i]);
    free(ds->blocks);
    free(ds->split_rule);
    free(ds->root);
    free(ds);
}

int dataset_count(const Dataset *ds, DataSplit split, int label) {
    if (!ds) return ldm_error("data", "NULL dataset");
    int n = 0;
    for (int i = 0; i < ds->n_items; i++)
        n += ds->items[i].split == split && (label < 0 || ds->items[i].label == label);
    return n;
}

int dataset_count_patients(const Dataset *ds, DataSplit split) {
    if (!ds) return ldm_error("data", "NULL dataset");
    char *seen = calloc((size_t)ds->n_patients + 1, 1);
    if (!seen) return ldm_error("data", "out of memory");
    int n = 0;
    for (int i = 0; i < ds->n_items; i++)
        if (ds->items[i].split == split && !seen[ds->items[i].patient]) seen[ds->items[i].patient] = 1, n++;
    free(seen);
    return n;
}

// ---------------------------------------------------------------------------
// detection

static int sub_is_dir(const char *root, const char *sub) {
    char *p = path_join(root, sub);
    int r = p && is_dir(p);
    free(p);
    return r;
}

static int dir_has(const char *dir, const char *needle, const char *suffix1, const char *suffix2) {
    char **names;
    int n, found = 0;
    if (list_dir(dir, &names, &n)) return 0;
    for (int i = 0; i < n && !found; i++)
        found = names[i][0] != '.' && (needle ? strstr(names[i], needle) != NULL
                                              : has_suffix(names[i], suffix1) || has_suffix(names[i], suffix2));
    free_names(names, n);
    return found;
}

static int has_oasis(const char *d) {
    return sub_is_dir(d, "keras_png_slices_train") || sub_is_dir(d, "keras_png_slices_validate") ||
           sub_is_dir(d, "keras_png_slices_test");
}

/* The layout of `path` (or `forced`) and the folder/file it is read from. */
static int detect(const char *path, DataLayout forced, DataLayout *layout, char **root) {
    struct stat st;
    *root = NULL;
    if (stat(path, &st) != 0) return ldm_error("data", "%s: %s", path, strerror(errno));
    const char *use = path;
    char *adni = path_join(path, "AD_NC"), *oasis = path_join(path, "keras_png_slices_data");
    if (!adni || !oasis) {
        free(adni);
        free(oasis);
        return -1;
    }
    DataLayout l = forced;
    if (S_ISDIR(st.st_mode) && (forced == LAYOUT_AUTO || forced == LAYOUT_ADNI) && is_dir(adni)) {
        l = LAYOUT_ADNI, use = adni;
    } else if (S_ISDIR(st.st_mode) && (forced == LAYOUT_AUTO || forced == LAYOUT_OASIS) && !has_oasis(path) &&
               is_dir(oasis) && has_oasis(oasis)) {
        l = LAYOUT_OASIS, use = oasis;
    } else if (forced != LAYOUT_AUTO) {
        l = forced;
    } else if (S_ISREG(st.st_mode)) {
        if (has_suffix(path, ".nii") || has_suffix(path, ".nii.gz")) l = LAYOUT_NIFTI;
        else if (strstr(path, "idx3-ubyte")) l = LAYOUT_IDX;
    } else if (S_ISDIR(st.st_mode)) {
        if ((sub_is_dir(path, "train") || sub_is_dir(path, "test")) &&
            (sub_is_dir(path, "train/AD") || sub_is_dir(path, "train/NC") || sub_is_dir(path, "test/AD") ||
             sub_is_dir(path, "test/NC")))
            l = LAYOUT_ADNI;
        else if (has_oasis(path)) l = LAYOUT_OASIS;
        else if (dir_has(path, NULL, ".nii", ".nii.gz")) l = LAYOUT_NIFTI;
        else if (dir_has(path, "idx3-ubyte", NULL, NULL)) l = LAYOUT_IDX;
        else l = LAYOUT_FOLDER;
    }
    int rc = 0;
    if (l == LAYOUT_AUTO) rc = ldm_error("data", "%s: not a data set folder, NIfTI volume or IDX file (--layout)", path);
    else if ((l == LAYOUT_ADNI || l == LAYOUT_OASIS || l == LAYOUT_FOLDER) && !is_dir(use))
        rc = ldm_error("data", "%s: the %s layout needs a folder", path, layout_name(l));
    else if (!(*root = strdup(use))) rc = ldm_error("data", "out of memory");
    *layout = l;
    free(adni);
    free(oasis);
    return rc;
}

// ---------------------------------------------------------------------------
// verify, sizes, skip

/* Decodes every file item (in parallel); fills w, h or errs[i]. */
static int verify(Dataset *ds, int threads, char **errs) {
    int n = ds->n_items, oom = 0;
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads)
    for (int i = 0; i < n; i++) {
        DataItem *it = &ds->items[i];
        if (it->pixels) continue;
        GrayImage im;
        ImageSource src;
        if (img_decode_file_as(it->path, 1, &im, &src)) {
            if (!(errs[i] = strdup(ldm_last_error()))) oom = 1;
        } else {
            it->w = im.w, it->h = im.h;
            it->src_channels = (uint8_t)src.channels, it->src_depth = (uint8_t)src.depth;
            gray_free(&im);
        }
    }
    return oom ? ldm_error("data", "out of memory") : 0;
}

/* The most common size (ties: the one met first); items of another size get an error. */
static int check_sizes(Dataset *ds, char **errs) {
    int n = ds->n_items, nd = 0, best = -1;
    int (*sz)[3] = malloc(sizeof *sz * (size_t)(n + 1)); /* w, h, count */
    if (!sz) return ldm_error("data", "out of memory");
    for (int i = 0; i < n; i++) {
        if (errs[i] || !ds->items[i].w) continue;
        int j = 0;
        while (j < nd && !(sz[j][0] == ds->items[i].w && sz[j][1] == ds->items[i].h)) j++;
        if (j == nd) sz[nd][0] = ds->items[i].w, sz[nd][1] = ds->items[i].h, sz[nd++][2] = 0;
        sz[j][2]++;
    }
    for (int j = 0; j < nd; j++)
        if (best < 0 || sz[j][2] > sz[best][2]) best = j;
    if (best >= 0) ds->w = sz[best][0], ds->h = sz[best][1];
    int rc = 0;
    for (int i = 0; i < n && best >= 0 && !rc; i++) {
        DataItem *it = &ds->items[i];
        if (errs[i] || !it->w || (it->w == ds->w && it->h == ds->h)) continue;
        char msg[600];
        snprintf(msg, sizeof msg, "data: %s: %s %dx%d, expected %dx%d like the other %d images", it->path,
                 it->index >= 0 ? "slices are" : "image is", it->w, it->h, ds->w, ds->h, sz[best][2]);
        if (!(errs[i] = strdup(msg))) rc = ldm_error("data", "out of memory");
    }
    free(sz);
    return rc;
}

/* Fails on the first bad item, or (skip_bad) drops every bad item and lists it: once
 * per file (the slices of a volume or records of an IDX file share one entry). */
static int drop_bad(DsBuild *b, char **errs) {
    Dataset *ds = b->ds;
    int n_bad = 0, first = -1;
    for (int i = 0; i < ds->n_items; i++)
        if (errs[i]) n_bad++, first = first < 0 ? i : first;
    if (!n_bad) return 0;
    if (!b->opt->skip_bad) {
        const char *m = errs[first];
        if (!strncmp(m, "data: ", 6)) m += 6;
        if (n_bad > 1) return ldm_error("data", "%s (%d bad files in all; --skip-bad leaves them out)", m, n_bad);
        return ldm_error("data", "%s (--skip-bad leaves it out)", m);
    }
    int k = 0, rc = 0;
    for (int i = 0; i < ds->n_items; i++) {
        if (!errs[i]) {
            ds->items[k++] = ds->items[i];
            continue;
        }
        int j = i; /* the run of bad items from the same file with the same message */
        while (j + 1 < ds->n_items && errs[j + 1] && !strcmp(ds->items[j + 1].path, ds->items[i].path) &&
               !strcmp(errs[j + 1], errs[i]))
            j++;
        const char *m = errs[i], *p = strstr(m, ds->items[i].path);
        if (p) m = p + strlen(ds->items[i].path) + (p[strlen(ds->items[i].path)] == ':' ? 2 : 0);
        char why[700];
        if (j > i) snprintf(why, sizeof why, "%s (%d slices/records)", m, j - i + 1);
        if (!rc) rc = dsb_skip(b, ds->items[i].path, j > i ? why : m);
        for (int t = i; t <= j; t++) free(ds->items[t].path);
        i = j;
    }
    ds->n_items = k;
    return rc;
}

// ---------------------------------------------------------------------------
// validation split

typedef struct {
    char *prefix;
    int cls;
} PrefixOf;

static int cmp_prefix(const void *a, const void *b) {
    const PrefixOf *x = a, *y = b;
    int c = strcmp(x->prefix, y->prefix);
    return c ? c : x->cls - y->cls;
}

/* Class folders whose names look like <patient>_<slice>: every name has a prefix, the
 * prefixes repeat, no prefix is in two classes and each class has at least two of them
 * (bag/bag_000.png has one per class: a class name, not a patient). */
static int names_look_like_patients(const Dataset *ds, int *n_prefixes) {
    int n = ds->n_items, nc = ds->n_classes > 0 ? ds->n_classes : 1, np = 0;
    PrefixOf *v = calloc((size_t)n + 1, sizeof *v);
    int *per = calloc((size_t)nc, sizeof(int)), ok = v && per && n > 1, made = 0;
    for (; made < n && ok; made++) {
        const char *base = strrchr(ds->items[made].path, '/');
        base = base ? base + 1 : ds->items[made].path;
        v[made].cls = ds->items[made].label < 0 ? 0 : ds->items[made].label;
        ok = (v[made].prefix = patient_from_name(base)) && strlen(v[made].prefix) < strcspn(base, ".");
    }
    if (ok) qsort(v, (size_t)n, sizeof *v, cmp_prefix);
    for (int i = 0; i < n && ok; i++) {
        if (i && !strcmp(v[i].prefix, v[i - 1].prefix)) {
            ok = v[i].cls == v[i - 1].cls;
            continue;
        }
        np++, per[v[i].cls]++;
    }
    for (int c = 0; c < nc && ok; c++) ok = per[c] >= 2 || per[c] == 0;
    ok = ok && np < n;
    for (int i = 0; v && i < made; i++) free(v[i].prefix);
    free(v), free(per);
    *n_prefixes = np;
    return ok;
}

static int set_rule(Dataset *ds, const char *fmt, ...) LDM_PRINTF(2, 3);
static int set_rule(Dataset *ds, const char *fmt, ...) {
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    free(ds->split_rule);
    return (ds->split_rule = strdup(buf)) ? 0 : ldm_error("data", "out of memory");
}

/* What a group is (how) and why, for the split rule. */
static void group_words(const DsBuild *b, char *how, char *why, size_t n) {
    const Dataset *ds = b->ds;
    bool forced = b->opt->group_by != GROUP_AUTO;
    snprintf(why, n, "--group-by %s", b->opt->group_pattern ? b->opt->group_pattern : group_by_name(b->opt->group_by));
    if (ds->layout == LAYOUT_NIFTI && ds->grouping == GROUP_IMAGE) {
        snprintf(how, n, "by slice");
        snprintf(why, n, "--group-by image: each slice of a volume is its own group (neighbouring slices look alike: "
                 "a held-out slice is new to the model, not to the brain)");
    } else if (ds->layout == LAYOUT_NIFTI) {
        snprintf(how, n, "by volume");
        snprintf(why, n, "a NIfTI volume is one patient");
    } else if (ds->layout == LAYOUT_IDX) {
        snprintf(how, n, "by image");
        snprintf(why, n, "an IDX record stands alone");
    } else if (ds->grouping == GROUP_PATTERN) {
        snprintf(how, n, "by the part of the file name the pattern '%s' matches", b->opt->group_pattern);
    } else if (ds->grouping == GROUP_PREFIX) {
        snprintf(how, n, "by patient (the file-name prefix before _<slice>)");
        if (!forced) snprintf(why, n, "%s", ds->layout == LAYOUT_ADNI ? "ADNI file names are <patient>_<slice>"
                                            : "OASIS file names carry case numbers");
    } else {
        snprintf(how, n, "by image");
        if (!forced) snprintf(why, n, "class folders name no patients; --group-by prefix or a pattern groups images");
    }
}

static int make_validation(DsBuild *b) {
    Dataset *ds = b->ds;
    const DataOptions *o = b->opt;
    char how[300], why[300];
    group_words(b, how, why, sizeof how);
    const char *unit = ds->grouping == GROUP_IMAGE ? "images" : ds->grouping == GROUP_PATTERN ? "groups" : "patients";
    if (o->val_patients == 0) return set_rule(ds, "no validation split\nwhy: --val-patients 0");
    if (ds->layout != LAYOUT_ADNI && dataset_count(ds, SPLIT_VAL, -1) > 0) {
        if (o->val_patients > 0) dsb_note(b, ds->root, "the data set has its own validation split; --val-patients ignored");
        return set_rule(ds, "the data set's own validation folder (groups %s)\nwhy: %s", how, why);
    }
    DataSplit from = ds->layout == LAYOUT_ADNI ? SPLIT_TEST : SPLIT_TRAIN;
    int avail = dataset_count_patients(ds, from);
    if (avail < 0) return -1;
    int n = o->val_patients;
    if (n < 0) n = ds->layout == LAYOUT_ADNI ? dataset_count(ds, SPLIT_TRAIN, -1) / 100 : avail / 10;
    if (n < 1) n = 1;
    if (n > avail - 1) n = avail - 1; /* leave the source split at least one patient */
    if (n < 1) {
        if (set_rule(ds, "%s: no validation split (the %s split has %d %.*s)\nwhy: %s", how, split_name(from), avail,
                     (int)strlen(unit) - (avail == 1), unit, why))
            return -1;
        return dsb_note(b, ds->root, "no validation split: the %s split has %d %.*s", split_name(from), avail,
                        (int)strlen(unit) - (avail == 1), unit);
    }
    if (split_validation(ds, from, n, o->seed)) return -1;
    if (set_rule(ds, "%s, stratified by class: %d of %d %s taken from %s for validation (seed %llu)\nwhy: %s", how, n,
                 avail, unit, split_name(from), (unsigned long long)o->seed, why))
        return -1;
    for (int c = 0; c < ds->n_classes; c++) {
        int left = dataset_count(ds, from, c), moved = dataset_count(ds, SPLIT_VAL, c);
        if (left > 0 && moved == 0 &&
            dsb_note(b, ds->classes[c], "class of %d %s image%s: none held out for validation (too few for the "
                     "share of %d in %d); every one stays in %s", left, split_name(from), left == 1 ? "" : "s", n,
                     avail, split_name(from)))
            return -1;
    }
    return dsb_note(b, ds->root, "validation: %d %s taken from %s (seed %llu)", n, unit, split_name(from),
                    (unsigned long long)o->seed);
}

// ---------------------------------------------------------------------------
// open

static int check_options(const DataOptions *o) {
    if ((unsigned)o->layout > LAYOUT_IDX) return ldm_error("data", "bad layout %d", (int)o->layout);
    if ((unsigned)o->axis > AXIS_SAGITTAL) return ldm_error("data", "bad axis %d", (int)o->axis);
    if (!(o->min_fill >= 0 && o->min_fill <= 1)) return ldm_error("data", "min_fill %g (want 0..1)", (double)o->min_fill);
    if (o->threads < 1 || o->threads > 256) return ldm_error("data", "threads %d (want 1..256)", o->threads);
    if (o->val_patients < -1) return ldm_error("data", "val_patients %d (want >= 0, or -1 for the default)", o->val_patients);
    if ((unsigned)o->group_by > GROUP_PATTERN || (o->group_by == GROUP_PATTERN && (!o->group_pattern || !*o->group_pattern)))
        return ldm_error("data", "bad group_by %d (a pattern needs its text)", (int)o->group_by);
    return 0;
}

Dataset *dataset_open(const char *path, const DataOptions *opt) {
    DataOptions def;
    if (!opt) data_options_default(&def), opt = &def;
    if (!path || !*path) {
        ldm_error("data", "no data path");
        return NULL;
    }
    if (check_options(opt)) return NULL;
    Dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        ldm_error("data", "out of memory");
        return NULL;
    }
    DsBuild b = {.ds = ds, .opt = opt};
    char **errs = NULL;
    int n_errs = 0;
    int rc = detect(path, opt->layout, &ds->layout, &ds->root);
    b.group = opt->group_by != GROUP_AUTO ? opt->group_by : !rc && ds->layout == LAYOUT_FOLDER ? GROUP_IMAGE : GROUP_PREFIX;
    if (!rc && b.group == GROUP_PATTERN) {
        int e = regcomp(&b.re, opt->group_pattern, REG_EXTENDED);
        if (e) {
            char why[200];
            regerror(e, &b.re, why, sizeof why);
            rc = ldm_error("data", "--group-by '%s': not a regular expression: %s", opt->group_pattern, why);
        } else {
            b.has_re = 1;
        }
    }
    /* NIfTI: a volume is a patient, unless --group-by image makes each slice its own group
     * (one volume can then hold slices out) */
    const bool slices = ds->layout == LAYOUT_NIFTI && opt->group_by == GROUP_IMAGE;
    ds->grouping = slices ? GROUP_IMAGE : ds->layout == LAYOUT_NIFTI ? GROUP_PREFIX : ds->layout == LAYOUT_IDX ? GROUP_IMAGE : b.group;
    if (!rc && !slices && opt->group_by != GROUP_AUTO && (ds->layout == LAYOUT_NIFTI || ds->layout == LAYOUT_IDX))
        rc = dsb_note(&b, ds->root, "--group-by %s ignored: %s", opt->group_pattern ? opt->group_pattern : group_by_name(opt->group_by),
                      ds->layout == LAYOUT_NIFTI ? "a NIfTI volume is one patient" : "an IDX record stands alone");
    if (!rc) switch (ds->layout) {
        case LAYOUT_ADNI: rc = layout_adni(&b, ds->root); break;
        case LAYOUT_OASIS: rc = layout_oasis(&b, ds->root); break;
        case LAYOUT_FOLDER: rc = layout_folder(&b, ds->root); break;
        case LAYOUT_NIFTI: rc = layout_nifti(&b, ds->root); break;
        default: rc = layout_idx(&b, ds->root); break;
        }
    if (!rc && ds->n_items == 0) rc = ldm_error("data", "%s: no usable images", path);
    if (!rc && b.unmatched)
        rc = dsb_note(&b, ds->root, "--group-by '%s' did not match %d file name%s: each is its own group", opt->group_pattern,
                      b.unmatched, b.unmatched == 1 ? "" : "s");
    if (!rc && !(errs = calloc((size_t)(n_errs = ds->n_items), sizeof(char *)))) rc = ldm_error("data", "out of memory");
    if (!rc) {
        if (opt->verify) {
            rc = verify(ds, opt->threads, errs);
        } else {
            int i = 0; /* the size comes from the first file; the loader checks the rest */
            while (i < ds->n_items && ds->items[i].pixels) i++;
            GrayImage im;
            if (i < ds->n_items && !(rc = img_decode_file(ds->items[i].path, &im))) {
                ds->items[i].w = im.w, ds->items[i].h = im.h;
                gray_free(&im);
            }
        }
    }
    if (!rc) rc = check_sizes(ds, errs);
    if (!rc) rc = drop_bad(&b, errs);
    if (!rc && ds->n_items == 0) rc = ldm_error("data", "%s: no usable images (%d skipped)", path, ds->n_skipped);
    if (!rc && dataset_count(ds, SPLIT_TRAIN, -1) == 0)
        rc = ldm_error("data", "%s: no training images", path);
    int n_prefixes;
    if (!rc && ds->layout == LAYOUT_FOLDER && opt->group_by == GROUP_AUTO && names_look_like_patients(ds, &n_prefixes))
        rc = dsb_note(&b, ds->root, "the file names look like <patient>_<slice> (%d prefixes, none in two classes), but "
                      "the split is by image: --group-by prefix keeps each patient on one side", n_prefixes);
    if (!rc) rc = make_validation(&b);
    for (int i = 0; i < n_errs; i++) free(errs[i]);
    free(errs);
    free(b.phash);
    if (b.has_re) regfree(&b.re);
    if (rc) {
        dataset_free(ds);
        return NULL;
    }
    return ds;
}

// ---------------------------------------------------------------------------
// items

int dataset_item_image(const Dataset *ds, int item, int channels, Image *out) {
    if (!ds || !out || item < 0 || item >= ds->n_items) return ldm_error("data", "item %d out of range", item);
    if (channels != 1 && channels != 3) return ldm_error("data", "%d channels asked (want 1 or 3)", channels);
    const DataItem *it = &ds->items[item];
    *out = (Image){0};
    if (it->pixels) { /* gray in memory (NIfTI, IDX) */
        size_t n = (size_t)it->w * it->h;
        if (!(out->px = malloc(n * channels))) return ldm_error("data", "out of memory");
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < channels; c++) out->px[i * channels + c] = it->pixels[i];
        out->w = it->w, out->h = it->h, out->c = channels;
        return 0;
    }
    if (img_decode_file_as(it->path, channels, out, NULL)) return -1;
    if (out->w != ds->w || out->h != ds->h) {
        ldm_error("data", "%s: image is %dx%d, expected %dx%d", it->path, out->w, out->h, ds->w, ds->h);
        gray_free(out);
        return -1;
    }
    return 0;
}

int dataset_item_gray(const Dataset *ds, int item, GrayImage *out) { return dataset_item_image(ds, item, 1, out); }

int dataset_item_geometry(const Dataset *ds, int item, const DataTransform *tf, uint8_t *dst, TransformWork *ws) {
    if (!ds || !tf || item < 0 || item >= ds->n_items) return ldm_error("data", "item %d out of range", item);
    const DataItem *it = &ds->items[item];
    int C = transform_channels(tf);
    if (it->pixels && C == 1) return transform_geometry(tf, it->pixels, it->w, it->h, dst, ws);
    Image im;
    if (dataset_item_image(ds, item, C, &im)) return -1;
    int rc = transform_geometry(tf, im.px, im.w, im.h, dst, ws);
    gray_free(&im);
    return rc;
}

void dataset_count_sources(const Dataset *ds, int *colour, int *alpha, int *deep) {
    *colour = *alpha = *deep = 0;
    for (int i = 0; ds && i < ds->n_items; i++) {
        const DataItem *it = &ds->items[i];
        *colour += it->src_channels >= 3;
        *alpha += it->src_channels == 2 || it->src_channels == 4;
        *deep += it->src_depth == 16;
    }
}
