/* data/fuzz/fuzz_nifti.c — libFuzzer target for the NIfTI-1 reader, plain and gzip
 * (`make fuzz`). A decoded volume must have sane sizes and only finite voxels. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "data/nifti.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ldm_clear_error();
    NiftiVolume v;
    if (nifti_decode(data, size, "fuzz.nii", &v) == 0) {
        size_t n = (size_t)v.nx * v.ny * v.nz;
        if (v.nx < 1 || v.ny < 1 || v.nz < 1 || n > NIFTI_MAX_VOXELS || !v.vox) abort();
        for (size_t i = 0; i < n; i++)
            if (!isfinite(v.vox[i])) abort();
        nifti_free(&v);
    } else if (!ldm_last_error()[0] || v.vox) {
        abort();
    }
    return 0;
}
