/* data/layout_files.c — layouts made of image files: adni, oasis, folder (see dataset.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_build.h"

/* Adds every regular file in `dir` as an item (hidden files and subfolders are noted and
 * ignored). An empty folder is an error; a non-image file is found later, by verify. */
static int scan_images(DsBuild *b, const char *dir, int label, DataSplit split) {
    char **names;
    int n, added = 0, hidden = 0, subdirs = 0, rc = 0;
    if (list_dir(dir, &names, &n)) return -1;
    for (int i = 0; i < n && !rc; i++) {
        char *p = path_join(dir, names[i]), *pat = NULL;
        if (!p) {
            rc = -1;
            break;
        }
        if (names[i][0] == '.') {
            hidden++;
        } else if (is_dir(p)) {
            subdirs++;
        } else {
            size_t lr = strlen(b->ds->root);
            const char *rel = !strncmp(p, b->ds->root, lr) && p[lr] == '/' ? p + lr + 1 : p;
            int pi = (pat = group_of_file(b, p, rel)) ? dsb_patient(b, pat) : -1;
            rc = pi < 0 ? -1 : dsb_item(b, p, -1, label, pi, split, NULL, 0, 0);
            added++;
        }
        free(pat);
        free(p);
    }
    free_names(names, n);
    if (rc) return -1;
    if (hidden) dsb_note(b, dir, "%d hidden file%s ignored", hidden, hidden > 1 ? "s" : "");
    if (subdirs) dsb_note(b, dir, "%d subfolder%s ignored", subdirs, subdirs > 1 ? "s" : "");
    if (!added) return ldm_error("data", "%s: no image files (empty folder)", dir);
    return 0;
}

// ---------------------------------------------------------------------------
// adni

int layout_adni(DsBuild *b, const char *root) {
    static const char *splits[2] = {"train", "test"};
    static const char *classes[2] = {"AD", "NC"};
    for (int c = 0; c < 2; c++)
        if (dsb_class(b, classes[c]) != c) return -1;
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < 2; c++) {
            char sub[16];
            snprintf(sub, sizeof sub, "%s/%s", splits[s], classes[c]);
            char *dir = path_join(root, sub);
            if (!dir) return -1;
            int rc = is_dir(dir) ? scan_images(b, dir, c, s == 0 ? SPLIT_TRAIN : SPLIT_TEST)
                                 : ldm_error("data", "%s: missing folder %s (ADNI layout: {train,test}/{AD,NC})", root, sub);
            free(dir);
            if (rc) return -1;
        }
    return 0;
}

// ---------------------------------------------------------------------------
// oasis

int layout_oasis(DsBuild *b, const char *root) {
    static const char *dirs[3] = {"keras_png_slices_train", "keras_png_slices_validate", "keras_png_slices_test"};
    static const DataSplit splits[3] = {SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST};
    int found = 0;
    for (int s = 0; s < 3; s++) {
        char *dir = path_join(root, dirs[s]);
        if (!dir) return -1;
        int rc = 0;
        if (is_dir(dir)) {
            found++;
            rc = scan_images(b, dir, -1, splits[s]);
        } else {
            rc = dsb_note(b, root, "no %s folder", dirs[s]);
        }
        free(dir);
        if (rc) return -1;
    }
    if (!found) return ldm_error("data", "%s: no keras_png_slices_{train,validate,test} folder (OASIS layout)", root);
    char **names;
    int n;
    if (list_dir(root, &names, &n)) return -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++)
        if (!strncmp(names[i], "keras_png_slices_seg", 20)) rc = dsb_note(b, names[i], "segmentation masks, ignored");
    free_names(names, n);
    return rc;
}

// ---------------------------------------------------------------------------
// folder

static int split_of(const char *name, DataSplit *s) {
    if (!strcmp(name, "train")) *s = SPLIT_TRAIN;
    else if (!strcmp(name, "val") || !strcmp(name, "valid") || !strcmp(name, "validate") || !strcmp(name, "validation")) *s = SPLIT_VAL;
    else if (!strcmp(name, "test")) *s = SPLIT_TEST;
    else return 0;
    return 1;
}

/* Subfolders of dir (not hidden) -> classes; then each one scanned into split. */
static int scan_classes(DsBuild *b, const char *dir, DataSplit split, int *n_class_dirs) {
    char **names;
    int n, rc = 0;
    *n_class_dirs = 0;
    if (list_dir(dir, &names, &n)) return -1;
    for (int i = 0; i < n && !rc; i++) {
        char *p = path_join(dir, names[i]);
        if (!p) rc = -1;
        else if (names[i][0] != '.' && is_dir(p)) {
            int c = dsb_class(b, names[i]);
            rc = c < 0 ? -1 : scan_images(b, p, c, split);
            (*n_class_dirs)++;
        }
        free(p);
    }
    free_names(names, n);
    return rc;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int layout_folder(DsBuild *b, const char *root) {
    char **names;
    int n, rc = 0, n_split_dirs = 0, n_subdirs = 0, n_files = 0;
    if (list_dir(root, &names, &n)) return -1;
    for (int i = 0; i < n && !rc; i++) {
        char *p = path_join(root, names[i]);
        DataSplit s;
        if (!p) rc = -1;
        else if (names[i][0] != '.' && is_dir(p)) {
            n_subdirs++;
            n_split_dirs += split_of(names[i], &s);
        } else if (names[i][0] != '.') {
            n_files++;
        }
        free(p);
    }
    if (rc) goto done;
    if (n_subdirs == 0) { /* loose images: one unconditional set */
        rc = scan_images(b, root, -1, SPLIT_TRAIN);
        goto done;
    }
    if (n_files) dsb_note(b, root, "%d loose file%s beside the class folders ignored", n_files, n_files > 1 ? "s" : "");
    if (n_split_dirs == 0) {
        int k;
        rc = scan_classes(b, root, SPLIT_TRAIN, &k);
        goto done;
    }
    /* train/ val/ test/ folders, each with class folders. Classes are registered in
     * sorted order first so a class missing from one split keeps its index. */
    char **cls = NULL;
    int n_cls = 0;
    for (int i = 0; i < n && !rc; i++) {
        DataSplit s;
        char *p = path_join(root, names[i]);
        if (!p) {
            rc = -1;
            break;
        }
        if (names[i][0] != '.' && is_dir(p) && split_of(names[i], &s)) {
            char **sub;
            int m;
            if (!(rc = list_dir(p, &sub, &m))) {
                for (int j = 0; j < m && !rc; j++) {
                    char *q = path_join(p, sub[j]);
                    if (!q) rc = -1;
                    else if (sub[j][0] != '.' && is_dir(q)) {
                        char **g = realloc(cls, sizeof(char *) * (size_t)(n_cls + 1));
                        if (!g) rc = ldm_error("data", "out of memory");
                        else (cls = g)[n_cls++] = sub[j], sub[j] = NULL;
                    }
                    free(q);
                }
                free_names(sub, m);
            }
        } else if (names[i][0] != '.' && is_dir(p)) {
            dsb_note(b, p, "not a split folder (train, val, test), ignored");
        }
        free(p);
    }
    if (!rc && n_cls) {
        qsort(cls, (size_t)n_cls, sizeof(char *), cmp_cstr);
        for (int i = 0; i < n_cls && !rc; i++)
            if (dsb_class(b, cls[i]) < 0) rc = -1;
    }
    free_names(cls, n_cls);
    for (int i = 0; i < n && !rc; i++) {
        DataSplit s;
        char *p = path_join(root, names[i]);
        if (!p) rc = -1;
        else if (names[i][0] != '.' && is_dir(p) && split_of(names[i], &s)) {
            int k;
            rc = scan_classes(b, p, s, &k);
            if (!rc && k == 0) rc = ldm_error("data", "%s: no class folders", p);
        }
        free(p);
    }
done:
    free_names(names, n);
    return rc;
}
