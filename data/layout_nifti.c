/* data/layout_nifti.c — NIfTI volumes as 2-D slices with slice-band classes.
 *
 * Per volume:
 *   window   lo = the volume's minimum, hi = its 99.5th percentile (4096-bin histogram
 *            of the voxels above lo), v -> round(255 (v - lo) / (hi - lo)) clamped
 *   axis     the voxel axis whose direction (affine column) is closest to the world
 *            axis asked for (axial: z, coronal: y, sagittal: x)
 *   display  rows run down the image's "up" world axis (anterior for axial, superior
 *            otherwise), columns increase with world x (y for sagittal)
 *   empty    a slice is kept when at least min_fill of its pixels exceed 10% of the range
 *   classes  the kept slices split into thirds along the axis, in world order:
 *            inferior / middle / superior (posterior / middle / anterior; left / middle / right)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_build.h"
#include "data/nifti.h"

static const char *band_names[3][3] = {
    {"inferior", "middle", "superior"}, {"posterior", "middle", "anterior"}, {"left", "middle", "right"}};
static const int world_of_axis[3] = {2, 1, 0}; /* axial: z, coronal: y, sagittal: x */

static int window(const NiftiVolume *v, float *lo, float *hi) {
    size_t n = (size_t)v->nx * v->ny * v->nz;
    float mn = v->vox[0], mx = v->vox[0];
    for (size_t i = 1; i < n; i++) {
        mn = v->vox[i] < mn ? v->vox[i] : mn;
        mx = v->vox[i] > mx ? v->vox[i] : mx;
    }
    if (!(mx > mn)) return -1;
    enum { BINS = 4096 };
    size_t *hist = calloc(BINS, sizeof(size_t)), above = 0;
    if (!hist) return -1;
    double scale = BINS / ((double)mx - mn);
    for (size_t i = 0; i < n; i++)
        if (v->vox[i] > mn) {
            int b = (int)((v->vox[i] - (double)mn) * scale);
            hist[b >= BINS ? BINS - 1 : b]++;
            above++;
        }
    size_t target = (size_t)ceil(0.995 * (double)above), cum = 0;
    int b = 0;
    for (; b < BINS - 1; b++)
        if ((cum += hist[b]) >= target) break;
    free(hist);
    *lo = mn;
    *hi = (float)(mn + (b + 1) / scale);
    return 0;
}

/* Index k of the voxel axis whose direction is closest to world axis `wa`, excluding `skip`. */
static int closest_axis(const NiftiVolume *v, int wa, int skip1, int skip2) {
    int best = -1;
    double bv = -1;
    for (int k = 0; k < 3; k++) {
        if (k == skip1 || k == skip2) continue;
        double nrm = sqrt(v->affine[0][k] * v->affine[0][k] + v->affine[1][k] * v->affine[1][k] +
                          v->affine[2][k] * v->affine[2][k]);
        double c = nrm > 0 ? fabs(v->affine[wa][k]) / nrm : 0;
        if (c > bv) bv = c, best = k;
    }
    return best;
}

static int add_volume(DsBuild *b, const char *path) {
    const DataOptions *o = b->opt;
    NiftiVolume v;
    if (nifti_load(path, &v)) return -1;
    int dims[3] = {v.nx, v.ny, v.nz};
    size_t strides[3] = {1, (size_t)v.nx, (size_t)v.nx * v.ny};
    int wa = world_of_axis[o->axis];
    int s = closest_axis(&v, wa, -1, -1);
    int up_world = o->axis == AXIS_AXIAL ? 1 : 2, col_world = o->axis == AXIS_SAGITTAL ? 1 : 0;
    int r = closest_axis(&v, up_world, s, -1), c = closest_axis(&v, col_world, s, r);
    int rows = dims[r], cols = dims[c], n_sl = dims[s];
    int flip_r = v.affine[up_world][r] > 0, flip_c = v.affine[col_world][c] < 0;
    float lo, hi;
    if (window(&v, &lo, &hi)) {
        nifti_free(&v);
        return ldm_error("nifti", "%s: the volume is constant, nothing to show", path);
    }
    size_t area = (size_t)rows * cols;
    uint8_t *px = malloc(area * (size_t)n_sl);
    int *keep = calloc((size_t)n_sl, sizeof(int));
    if (!px || !keep) {
        free(px);
        free(keep);
        nifti_free(&v);
        return ldm_error("nifti", "%s: out of memory", path);
    }
    int n_kept = 0, first = -1, last = -1;
    float k = 255.0f / (hi - lo);
    for (int t = 0; t < n_sl; t++) {
        uint8_t *dst = px + area * (size_t)n_kept;
        size_t filled = 0;
        for (int y = 0; y < rows; y++) {
            int iy = flip_r ? rows - 1 - y : y;
            for (int x = 0; x < cols; x++) {
                int ix = flip_c ? cols - 1 - x : x;
                float val = (v.vox[(size_t)t * strides[s] + (size_t)iy * strides[r] + (size_t)ix * strides[c]] - lo) * k;
                uint8_t q = val <= 0 ? 0 : val >= 255 ? 255 : (uint8_t)(val + 0.5f);
                dst[(size_t)y * cols + x] = q;
                filled += q > 25;
            }
        }
        if ((double)filled >= o->min_fill * (double)area) {
            keep[n_kept++] = t;
            if (first < 0) first = t;
            last = t;
        }
    }
    int up_slices = v.affine[wa][s] > 0; /* slice index grows toward superior (anterior, right) */
    int nt = v.nt;
    nifti_free(&v);
    int rc = 0;
    if (!n_kept) {
        free(px);
        free(keep);
        return ldm_error("nifti", "%s: every slice is near-empty (min_fill %.3g)", path, (double)o->min_fill);
    }
    if (dsb_block(b, px)) {
        free(keep);
        return -1;
    }
    const bool by_slice = b->opt->group_by == GROUP_IMAGE; /* --group-by image: a group per slice, "<volume>#<t>" */
    char *name = patient_from_name(path);
    int pi = !name ? -1 : by_slice ? 0 : dsb_patient(b, name);
    if (pi < 0) rc = -1;
    for (int i = 0; i < n_kept && !rc; i++) {
        int t = keep[i];
        double pos = (double)(up_slices ? t - first : last - t) / (last - first + 1);
        int band = (int)(3 * pos);
        if (by_slice) {
            char sl[1100];
            snprintf(sl, sizeof sl, "%s#%d", name, t);
            if ((pi = dsb_patient(b, sl)) < 0) rc = -1;
        }
        if (!rc) rc = dsb_item(b, path, t, band > 2 ? 2 : band, pi, SPLIT_TRAIN, px + area * (size_t)i, cols, rows);
    }
    free(name);
    if (!rc)
        rc = dsb_note(b, path, "%dx%dx%d volume: kept %d of %d slices along voxel axis %d (%d..%d), %d near-empty dropped%s",
                      dims[0], dims[1], dims[2], n_kept, n_sl, s, first, last, n_sl - n_kept,
                      nt > 1 ? "; 4-D file, first volume only" : "");
    free(keep);
    return rc;
}

static int try_volume(DsBuild *b, const char *path) {
    if (!add_volume(b, path)) return 0;
    if (!b->opt->skip_bad) return -1;
    return dsb_skip(b, path, ldm_last_error());
}

int layout_nifti(DsBuild *b, const char *root) {
    for (int i = 0; i < 3; i++)
        if (dsb_class(b, band_names[b->opt->axis][i]) != i) return -1;
    if (!is_dir(root)) return try_volume(b, root);
    char **names;
    int n, rc = 0, found = 0;
    if (list_dir(root, &names, &n)) return -1;
    for (int i = 0; i < n && !rc; i++) {
        if (names[i][0] == '.' || !(has_suffix(names[i], ".nii") || has_suffix(names[i], ".nii.gz"))) continue;
        char *p = path_join(root, names[i]);
        rc = p ? try_volume(b, p) : -1;
        found++;
        free(p);
    }
    free_names(names, n);
    if (!rc && !found) rc = ldm_error("data", "%s: no .nii or .nii.gz files", root);
    return rc;
}
