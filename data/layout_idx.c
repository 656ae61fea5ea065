/* data/layout_idx.c — IDX image/label pairs (MNIST and Fashion-MNIST file names):
 * <prefix>-images-idx3-ubyte[.gz] with <prefix>-labels-idx1-ubyte[.gz]; a prefix of
 * "t10k" or one containing "test" is the test split, anything else train. Each image
 * is its own patient; label value v is class v. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_build.h"
#include "data/idx.h"

static const char *fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/* The labels file beside an images file: "images-idx3" -> "labels-idx1", .gz or not. */
static char *labels_path(const char *images) {
    const char *m = strstr(images, "images-idx3");
    if (!m) return NULL;
    size_t pre = (size_t)(m - images);
    char *p = malloc(strlen(images) + 8);
    if (!p) return NULL;
    memcpy(p, images, pre);
    strcpy(p + pre, "labels-idx1");
    strcat(p, m + strlen("images-idx3"));
    if (is_file(p)) return p;
    size_t l = strlen(p);
    if (has_suffix(p, ".gz")) p[l - 3] = '\0';
    else strcat(p, ".gz");
    return p;
}

static int add_pair(DsBuild *b, const char *images, int *max_label) {
    const char *base = strrchr(images, '/');
    base = base ? base + 1 : images;
    DataSplit split = (!strncmp(base, "t10k", 4) || strstr(base, "test")) ? SPLIT_TEST : SPLIT_TRAIN;
    char *lp = labels_path(images);
    if (!lp) return ldm_error("idx", "out of memory");
    if (!is_file(lp)) {
        ldm_error("idx", "%s: no labels file beside it (looked for %s[.gz])", images, lp);
        free(lp);
        return -1;
    }
    IdxArray im, lab;
    if (idx_load(images, &im)) {
        free(lp);
        return -1;
    }
    int rc = idx_load(lp, &lab);
    if (!rc && im.ndim != 3) rc = ldm_error("idx", "%s: %d-D, an images file is 3-D (count, rows, cols)", images, im.ndim);
    if (!rc && lab.ndim != 1) rc = ldm_error("idx", "%s: %d-D, a labels file is 1-D", lp, lab.ndim);
    if (!rc && lab.dims[0] != im.dims[0])
        rc = ldm_error("idx", "%s has %d images but %s has %d labels", images, im.dims[0], lp, lab.dims[0]);
    if (rc) {
        idx_free(&im);
        idx_free(&lab);
        free(lp);
        return -1;
    }
    int h = im.dims[1], w = im.dims[2];
    uint8_t *px = im.data;
    rc = dsb_block(b, px);
    for (int i = 0; i < im.dims[0] && !rc; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "%.40s#%d", base, i);
        int pi = dsb_patient(b, pat);
        int l = lab.data[i];
        if (l > *max_label) *max_label = l;
        rc = pi < 0 ? -1 : dsb_item(b, images, i, l, pi, split, px + (size_t)i * w * h, w, h);
    }
    idx_free(&lab);
    free(lp);
    return rc;
}

static int contains_ci(const char *s, const char *word) {
    for (; *s; s++) {
        size_t i = 0;
        while (word[i] && tolower((unsigned char)s[i]) == word[i]) i++;
        if (!word[i]) return 1;
    }
    return 0;
}

int layout_idx(DsBuild *b, const char *root) {
    int max_label = -1, rc = 0, found = 0;
    if (!is_dir(root)) {
        rc = add_pair(b, root, &max_label);
        found = 1;
    } else {
        char **names;
        int n;
        if (list_dir(root, &names, &n)) return -1;
        for (int i = 0; i < n && !rc; i++) {
            if (!strstr(names[i], "images-idx3")) continue;
            char *p = path_join(root, names[i]);
            rc = p ? add_pair(b, p, &max_label) : -1;
            found++;
            free(p);
        }
        free_names(names, n);
    }
    if (!rc && !found) rc = ldm_error("data", "%s: no *-images-idx3-ubyte[.gz] files", root);
    int fashion = max_label == 9 && contains_ci(root, "fashion");
    for (int l = 0; l <= max_label && !rc; l++) {
        char name[16];
        snprintf(name, sizeof name, "%d", l);
        if (dsb_class(b, fashion ? fashion_names[l] : name) != l) rc = -1;
    }
    return rc;
}
