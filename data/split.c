/* data/split.c — the patient-disjoint validation split.
 *
 * The ADNI write-up in ../shared/seeds moves patients from the test set to validation
 * in directory order until it has n_train_images / 100 of them, with an off-by-one
 * (<= lets one more in) and, since the directories list AD before NC, a validation
 * set of one class. Here: the patients of the source split are sorted by id, grouped
 * by class (a patient's class is that of its first image), each group shuffled with
 * Philox from the seed, and the n patients are shared out between the groups in
 * proportion to their sizes (largest remainders), never the last patient of a class
 * that has no other patient staying (so no class leaves the source split empty: a small
 * class keeps all its patients).
 * Every image of a chosen patient moves; a patient that also has images in another
 * split is never chosen, so no patient is ever on both sides of the train/validation line.
 */
#include <stdlib.h>
#include <string.h>

#include "core/philox.h"
#include "data/dataset_build.h"

#define SPLIT_STREAM 0x53504C54u /* Philox tag "SPLT" */

static int cmp_patient(const void *a, const void *b, void *ctx) {
    char **names = ctx;
    return strcmp(names[*(const int *)a], names[*(const int *)b]);
}

static uint32_t draw(uint64_t seed, uint32_t stream, uint64_t i) {
    return philox_block(seed, i / 4, stream).v[i % 4];
}

int split_validation(Dataset *ds, DataSplit from, int n, uint64_t seed) {
    int np = ds->n_patients, nc = ds->n_classes > 0 ? ds->n_classes : 1;
    int *cls = malloc(sizeof(int) * (size_t)(np + 1)), *mask = calloc((size_t)np + 1, sizeof(int));
    int *order = malloc(sizeof(int) * (size_t)(np + 1)), *take = calloc((size_t)nc, sizeof(int));
    int *group = calloc((size_t)nc, sizeof(int));
    int rc = 0;
    if (!cls || !mask || !order || !take || !group) {
        rc = ldm_error("data", "out of memory in the validation split");
        goto done;
    }
    /* mask bit 1: has images in `from`; bit 2: has images elsewhere */
    for (int i = 0; i < np; i++) cls[i] = -1;
    for (int i = 0; i < ds->n_items; i++) {
        const DataItem *it = &ds->items[i];
        mask[it->patient] |= it->split == from ? 1 : 2;
        if (cls[it->patient] < 0) cls[it->patient] = it->label < 0 ? 0 : it->label;
    }
    int m = 0;
    for (int i = 0; i < np; i++)
        if (mask[i] == 1) order[m++] = i;
    if (n > m) n = m;
    qsort_r(order, (size_t)m, sizeof(int), cmp_patient, ds->patients);
    for (int i = 0; i < m; i++) group[cls[order[i]]]++;
    /* keep[c]: movable patients class c must keep in `from`: 1, unless a patient of c that
     * also has images elsewhere (never moved) already stays there */
    int *keep = calloc((size_t)nc, sizeof(int));
    if (!keep) {
        rc = ldm_error("data", "out of memory in the validation split");
        goto done;
    }
    for (int c = 0; c < nc; c++) keep[c] = 1;
    for (int i = 0; i < np; i++)
        if (mask[i] == 3 && cls[i] >= 0) keep[cls[i]] = 0;
    /* shares: floor of the proportional share, then one more for the largest remainders */
    long long *rem = malloc(sizeof(long long) * (size_t)nc);
    int *pool = malloc(sizeof(int) * (size_t)(m ? m : 1));
    if (!rem || !pool) {
        free(rem);
        free(pool);
        free(keep);
        rc = ldm_error("data", "out of memory in the validation split");
        goto done;
    }
    int given = 0;
    for (int c = 0; c < nc; c++) {
        take[c] = m ? (int)((long long)n * group[c] / m) : 0;
        rem[c] = m ? (long long)n * group[c] % m : 0;
        if (take[c] > group[c] - keep[c]) take[c] = group[c] > keep[c] ? group[c] - keep[c] : 0;
        given += take[c];
    }
    while (given < n) {
        int best = -1;
        for (int c = 0; c < nc; c++)
            if (take[c] < group[c] - keep[c] && (best < 0 || rem[c] > rem[best])) best = c;
        if (best < 0) break;
        take[best]++, rem[best] = -1, given++;
    }
    /* per class: its patients in id order, Fisher-Yates from the seed, the first take[c] move */
    uint64_t k = 0;
    for (int c = 0; c < nc; c++) {
        int q = 0;
        for (int i = 0; i < m; i++)
            if (cls[order[i]] == c) pool[q++] = order[i];
        for (int i = q - 1; i > 0; i--) {
            int j = (int)(((uint64_t)draw(seed, SPLIT_STREAM, k++) * (uint64_t)(i + 1)) >> 32);
            int t = pool[i];
            pool[i] = pool[j], pool[j] = t;
        }
        for (int i = 0; i < take[c]; i++) mask[pool[i]] = 4;
    }
    for (int i = 0; i < ds->n_items; i++)
        if (mask[ds->items[i].patient] == 4) ds->items[i].split = SPLIT_VAL;
    free(rem);
    free(pool);
    free(keep);
done:
    free(cls);
    free(mask);
    free(order);
    free(take);
    free(group);
    return rc;
}
