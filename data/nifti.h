/* data/nifti.h — NIfTI-1 volumes (.nii, .nii.gz) to float voxels.
 *
 * Single-file NIfTI-1 ("n+1") in either byte order; datatypes uint8, int8, int16,
 * uint16, int32, uint32, float32, float64. Values are scaled by scl_slope/scl_inter
 * (slope 0 or non-finite = no scaling, as the standard says); NaN and Inf become 0.
 * A 4-D file yields its first volume. The header is checked before any voxel is read:
 * dimensions in range, bitpix matching the datatype, vox_offset inside the file, and
 * exactly enough voxel bytes present (a header that claims more than the file holds is
 * an error naming both sizes). The voxel-to-world affine comes from the sform, else
 * the qform, else the pixel sizes, and tells which voxel axis points up.
 */
#ifndef LDM_DATA_NIFTI_H
#define LDM_DATA_NIFTI_H

#include <stddef.h>
#include <stdint.h>

#define NIFTI_MAX_SIDE   4096
#define NIFTI_MAX_VOXELS (1u << 27) /* 128 M voxels (512 MB as float) in one 3-D volume */

typedef struct {
    int nx, ny, nz;        /* voxel grid; x varies fastest in `vox` */
    int nt;                /* volumes in the file (only the first is loaded) */
    int datatype;          /* NIfTI code: 2 uint8, 4 int16, 8 int32, 16 float32, 64 float64, ... */
    float *vox;            /* (nz, ny, nx), scaled */
    double affine[3][4];   /* world (mm, RAS+) = affine * (i, j, k, 1) */
    int affine_source;     /* 0 pixel sizes only, 1 qform, 2 sform */
} NiftiVolume;

int nifti_decode(const uint8_t *buf, size_t n, const char *name, NiftiVolume *out);
/* Reads `path` (plain or gzip, whatever the extension says) and decodes it. */
int nifti_load(const char *path, NiftiVolume *out);
void nifti_free(NiftiVolume *v);
const char *nifti_datatype_name(int datatype);

#endif
