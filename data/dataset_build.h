/* data/dataset_build.h — internal to data/: growing a Dataset while a layout is read.
 * Not for use outside data/ (the layouts and dataset.c share it). */
#ifndef LDM_DATA_DATASET_BUILD_H
#define LDM_DATA_DATASET_BUILD_H

#include <regex.h>

#include "core/error.h"
#include "data/dataset.h"

typedef struct {
    Dataset *ds;
    const DataOptions *opt;
    int cap_items, cap_patients, cap_notes, cap_skipped, cap_blocks;
    int *phash;   /* open-addressing table of patient indices, -1 = empty */
    int phash_cap;
    DataGroupBy group;  /* the rule for layouts of image files (resolved from opt) */
    regex_t re;         /* GROUP_PATTERN */
    int has_re, unmatched; /* names the pattern did not match */
} DsBuild;

/* Each returns 0, or -1 with an error (out of memory). */
int dsb_patient(DsBuild *b, const char *name);  /* index of the patient, added if new (-1 on error) */
int dsb_class(DsBuild *b, const char *name);    /* index of the class, added if new (-1 on error) */
int dsb_item(DsBuild *b, const char *path, int index, int label, int patient, DataSplit split,
             uint8_t *pixels, int w, int h);
int dsb_note(DsBuild *b, const char *path, const char *fmt, ...) LDM_PRINTF(3, 4);
int dsb_skip(DsBuild *b, const char *path, const char *why);
int dsb_block(DsBuild *b, void *mem);           /* dataset frees mem; on error mem is freed now */

/* Folder helpers. */
char *path_join(const char *a, const char *b);  /* malloc'ed "a/b" (NULL + error) */
int is_dir(const char *path);
int is_file(const char *path);
/* Entries of `dir` except . and .., sorted by strcmp; -1 with an error naming dir. */
int list_dir(const char *dir, char ***names, int *n);
void free_names(char **names, int n);
int has_suffix(const char *s, const char *suffix);
/* Patient id of an image file name (see dataset.h); malloc'ed. */
char *patient_from_name(const char *file);
/* Group of the image file `path` (rel: its path below the data set's root) under b's
 * rule; malloc'ed. */
char *group_of_file(DsBuild *b, const char *path, const char *rel);

/* The layouts: fill b->ds (items, classes, patients, notes) from root. */
int layout_adni(DsBuild *b, const char *root);
int layout_oasis(DsBuild *b, const char *root);
int layout_folder(DsBuild *b, const char *root);
int layout_nifti(DsBuild *b, const char *root);
int layout_idx(DsBuild *b, const char *root);

/* Moves whole patients from `from` to SPLIT_VAL, `n` of them, in proportion to the
 * classes, chosen by a seeded shuffle of the sorted patient ids. Patients that also
 * have items in another split are never moved, nor a class's last patient in `from`. */
int split_validation(Dataset *ds, DataSplit from, int n, uint64_t seed);

#endif
