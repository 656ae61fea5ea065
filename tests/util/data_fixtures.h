/* tests/util/data_fixtures.h — files for the data suites, written with the reference
 * libraries (libjpeg, libpng, zlib) in a temporary folder: images with known pixels,
 * NIfTI volumes in any datatype and byte order, IDX files, and broken versions of each. */
#ifndef LDM_TESTS_DATA_FIXTURES_H
#define LDM_TESTS_DATA_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* A fresh folder under /tmp (malloc'ed path); fx_rmtree removes it and everything in it. */
char *fx_tmpdir(void);
void fx_rmtree(const char *dir);
/* dir + "/" + rel, creating the parent folders of the result (malloc'ed). */
char *fx_path(const char *dir, const char *rel);
/* Writes n bytes, gzip'ed when gz. 0 or -1. */
int fx_write_buf(const char *path, const void *buf, size_t n, int gz);

/* Deterministic gray test picture: value at (x, y) = (x * 7 + y * 13 + seed * 31) & 255. */
void fx_pattern(uint8_t *px, int w, int h, int seed);

/* (h, w, channels) uint8, channels 1 or 3, baseline JPEG at `quality`. */
int fx_write_jpeg(const char *path, const uint8_t *px, int w, int h, int channels, int quality);
/* libpng color_type (PNG_COLOR_TYPE_*) and bit_depth; samples are uint8 for depth <= 8
 * (values already in range) or uint16 (host order) for depth 16, interleaved per
 * channel. For palette images px holds indices and palette (n_palette RGB triples) is
 * required. Interlaced (Adam7) when interlace. */
int fx_write_png(const char *path, const void *px, int w, int h, int color_type, int bit_depth,
                 const uint8_t *palette, int n_palette, int interlace);

typedef struct {
    int dim[4];         /* nx, ny, nz, nt (nt 0 or 1 = 3-D) */
    int datatype;       /* NIfTI code */
    int bitpix;         /* 0 = matching the datatype */
    int swap;           /* write in the other byte order */
    float slope, inter; /* scl_slope, scl_inter */
    int sform;          /* write srow (sform_code 1); else pixdim only */
    double srow[3][4];
    const char *magic;  /* NULL = "n+1" */
} FxNifti;
/* The file's bytes (malloc'ed): header + 4 zero bytes + voxels from vals (nx*ny*nz*nt
 * values, x fastest), converted to the datatype. */
uint8_t *fx_nifti_bytes(const FxNifti *h, const double *vals, size_t *n);

/* IDX bytes: unsigned-byte type, big-endian dims (malloc'ed). */
uint8_t *fx_idx_bytes(const uint8_t *data, int ndim, const int *dims, size_t *n);

#endif
