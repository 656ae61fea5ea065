/* data/nifti.c — NIfTI-1 reader (see nifti.h).
 *
 * Header fields used (byte offsets in the 348-byte header):
 *   0 sizeof_hdr (348; byte-swapped 348 means the other byte order)
 *   40 dim[8]  70 datatype  72 bitpix  76 pixdim[8]  108 vox_offset
 *   112 scl_slope  116 scl_inter  252 qform_code  254 sform_code
 *   256 quatern_b,c,d  268 qoffset_x,y,z  280 srow_x[4]  296 srow_y[4]  312 srow_z[4]
 *   344 magic ("n+1\0" single file; "ni1\0" is the .hdr/.img pair, not supported)
 */
#include "data/nifti.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/byte_reader.h"
#include "data/image.h"

#define HDR 348
#define MAX_VOX_OFFSET (1u << 24)

void nifti_free(NiftiVolume *v) {
    if (!v) return;
    free(v->vox);
    *v = (NiftiVolume){0};
}

const char *nifti_datatype_name(int dt) {
    switch (dt) {
    case 2: return "uint8";
    case 4: return "int16";
    case 8: return "int32";
    case 16: return "float32";
    case 64: return "float64";
    case 256: return "int8";
    case 512: return "uint16";
    case 768: return "uint32";
    default: return "unsupported";
    }
}

static int datatype_bytes(int dt) {
    switch (dt) {
    case 2: case 256: return 1;
    case 4: case 512: return 2;
    case 8: case 16: case 768: return 4;
    case 64: return 8;
    default: return 0;
    }
}

// ---------------------------------------------------------------------------
// header fields in the file's byte order

static void swap_bytes(uint8_t *p, int n) {
    for (int i = 0; i < n / 2; i++) {
        uint8_t t = p[i];
        p[i] = p[n - 1 - i];
        p[n - 1 - i] = t;
    }
}

static int16_t get_i16(const uint8_t *h, int off, int swap) {
    uint8_t b[2] = {h[off], h[off + 1]};
    if (swap) swap_bytes(b, 2);
    int16_t v;
    memcpy(&v, b, 2);
    return v;
}

static int32_t get_i32(const uint8_t *h, int off, int swap) {
    uint8_t b[4];
    memcpy(b, h + off, 4);
    if (swap) swap_bytes(b, 4);
    int32_t v;
    memcpy(&v, b, 4);
    return v;
}

static float get_f32(const uint8_t *h, int off, int swap) {
    uint8_t b[4];
    memcpy(b, h + off, 4);
    if (swap) swap_bytes(b, 4);
    float v;
    memcpy(&v, b, 4);
    return v;
}

// ---------------------------------------------------------------------------
// orientation

/* Quaternion (b, c, d) with a = sqrt(1 - b^2 - c^2 - d^2) to a rotation, then scaled
 * by the voxel sizes, qfac = pixdim[0] flipping the third axis (NIfTI-1 standard). */
static void qform_affine(const uint8_t *h, int swap, double A[3][4]) {
    double b = get_f32(h, 256, swap), c = get_f32(h, 260, swap), d = get_f32(h, 264, swap);
    double a = 1.0 - (b * b + c * c + d * d);
    if (a < 1e-7) {
        double s = 1.0 / sqrt(b * b + c * c + d * d);
        b *= s, c *= s, d *= s, a = 0;
    } else {
        a = sqrt(a);
    }
    double R[3][3] = {{a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)},
                      {2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)},
                      {2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b}};
    double qfac = get_f32(h, 76, swap) < 0 ? -1.0 : 1.0;
    double px[3] = {get_f32(h, 80, swap), get_f32(h, 84, swap), qfac * get_f32(h, 88, swap)};
    double off[3] = {get_f32(h, 268, swap), get_f32(h, 272, swap), get_f32(h, 276, swap)};
    for (int r = 0; r < 3; r++) {
        for (int k = 0; k < 3; k++) A[r][k] = R[r][k] * (isfinite(px[k]) && px[k] != 0 ? px[k] : 1.0);
        A[r][3] = off[r];
    }
}

static int set_affine(const uint8_t *h, int swap, NiftiVolume *v) {
    int qcode = get_i16(h, 252, swap), scode = get_i16(h, 254, swap);
    memset(v->affine, 0, sizeof v->affine);
    if (scode > 0) {
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 4; k++) v->affine[r][k] = get_f32(h, 280 + 16 * r + 4 * k, swap);
        v->affine_source = 2;
    } else if (qcode > 0) {
        qform_affine(h, swap, v->affine);
        v->affine_source = 1;
    } else {
        for (int r = 0; r < 3; r++) {
            double p = get_f32(h, 80 + 4 * r, swap);
            v->affine[r][r] = isfinite(p) && p != 0 ? fabs(p) : 1.0;
        }
        v->affine_source = 0;
    }
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 4; k++)
            if (!isfinite(v->affine[r][k])) return -1;
    return 0;
}

// ---------------------------------------------------------------------------
// voxels

static float voxel_value(const uint8_t *p, int dt, int swap) {
    uint8_t b[8];
    int n = datatype_bytes(dt);
    memcpy(b, p, (size_t)n);
    if (swap) swap_bytes(b, n);
    switch (dt) {
    case 2: return b[0];
    case 256: return (int8_t)b[0];
    case 4: { int16_t v; memcpy(&v, b, 2); return v; }
    case 512: { uint16_t v; memcpy(&v, b, 2); return v; }
    case 8: { int32_t v; memcpy(&v, b, 4); return (float)v; }
    case 768: { uint32_t v; memcpy(&v, b, 4); return (float)v; }
    case 16: { float v; memcpy(&v, b, 4); return v; }
    default: { double v; memcpy(&v, b, 8); return (float)v; }
    }
}

/* Reads `need` bytes through r into a buffer grown as data arrives (so a small .gz
 * claiming a huge volume never allocates it); the count read through *got. */
static uint8_t *read_voxels(ByteReader *r, size_t need, size_t *got) {
    size_t cap = need < (1u << 20) ? need : (1u << 20), have = 0;
    uint8_t *raw = malloc(cap ? cap : 1);
    while (raw && have < need) {
        if (have == cap) {
            size_t ncap = cap * 2 < need ? cap * 2 : need;
            uint8_t *g = realloc(raw, ncap);
            if (!g) {
                free(raw);
                ldm_error("nifti", "%s: out of memory (%zu bytes)", r->name, ncap);
                return NULL;
            }
            raw = g, cap = ncap;
        }
        long long k = br_read(r, raw + have, cap - have, "nifti");
        if (k < 0) {
            free(raw);
            return NULL;
        }
        have += (size_t)k;
        if (k == 0) break;
    }
    if (!raw) ldm_error("nifti", "%s: out of memory", r->name);
    *got = have;
    return raw;
}

int nifti_decode(const uint8_t *buf, size_t n, const char *name, NiftiVolume *out) {
    if (!out) return ldm_error("nifti", "%s: no output volume", name);
    *out = (NiftiVolume){0};
    if (!buf) return ldm_error("nifti", "%s: no data", name);
    ByteReader r;
    if (br_open(&r, buf, n, name)) return -1;
    uint8_t h[HDR];
    long long k = br_read(&r, h, HDR, "nifti");
    int rc = -1;
    uint8_t *raw = NULL;
    if (k < 0) goto done;
    if (k < HDR) {
        ldm_error("nifti", "%s: %lld bytes, too short for a NIfTI-1 header (348)", name, k);
        goto done;
    }
    int32_t sz = get_i32(h, 0, 0);
    int swap = sz != HDR;
    if (swap && get_i32(h, 0, 1) != HDR) {
        if (sz == 540 || get_i32(h, 0, 1) == 540) ldm_error("nifti", "%s: NIfTI-2 is not supported", name);
        else ldm_error("nifti", "%s: not a NIfTI-1 file (sizeof_hdr %d, want 348)", name, sz);
        goto done;
    }
    if (memcmp(h + 344, "ni1", 4) == 0) {
        ldm_error("nifti", "%s: two-file NIfTI (.hdr/.img) is not supported; convert to .nii", name);
        goto done;
    }
    if (memcmp(h + 344, "n+1", 4) != 0) {
        ldm_error("nifti", "%s: no NIfTI-1 magic \"n+1\" (ANALYZE 7.5 is not supported)", name);
        goto done;
    }
    int ndim = get_i16(h, 40, swap);
    if (ndim < 1 || ndim > 7) {
        ldm_error("nifti", "%s: dim[0] = %d, want 1..7", name, ndim);
        goto done;
    }
    int dim[8] = {ndim, 1, 1, 1, 1, 1, 1, 1};
    size_t nt = 1;
    for (int i = 1; i <= ndim; i++) {
        dim[i] = get_i16(h, 40 + 2 * i, swap);
        if (dim[i] < 1 || (i <= 3 && dim[i] > NIFTI_MAX_SIDE)) {
            ldm_error("nifti", "%s: dim[%d] = %d, want 1..%d", name, i, dim[i], i <= 3 ? NIFTI_MAX_SIDE : 32767);
            goto done;
        }
        if (i >= 4) nt *= (size_t)dim[i];
    }
    size_t nvox = (size_t)dim[1] * dim[2] * dim[3];
    if (nvox > NIFTI_MAX_VOXELS) {
        ldm_error("nifti", "%s: %dx%dx%d = %zu voxels, more than %u", name, dim[1], dim[2], dim[3], nvox, NIFTI_MAX_VOXELS);
        goto done;
    }
    int dt = get_i16(h, 70, swap), bitpix = get_i16(h, 72, swap), bpv = datatype_bytes(dt);
    if (!bpv) {
        ldm_error("nifti", "%s: datatype %d is not supported (uint8, int8, int16, uint16, int32, uint32, float32, float64)", name, dt);
        goto done;
    }
    if (bitpix != 8 * bpv) {
        ldm_error("nifti", "%s: bitpix %d does not match datatype %s (%d bits)", name, bitpix, nifti_datatype_name(dt), 8 * bpv);
        goto done;
    }
    float vo = get_f32(h, 108, swap);
    if (!(vo >= 352.0f && vo <= (float)MAX_VOX_OFFSET) || vo != floorf(vo)) {
        ldm_error("nifti", "%s: vox_offset %g is not a whole number in 352..%u", name, (double)vo, MAX_VOX_OFFSET);
        goto done;
    }
    if (set_affine(h, swap, out)) {
        ldm_error("nifti", "%s: non-finite orientation (qform/sform) in the header", name);
        goto done;
    }
    size_t offset = (size_t)vo, need = nvox * (size_t)bpv;
    if (!r.gz && (n < offset || n - offset < need)) {
        ldm_error("nifti", "%s: header says %dx%dx%d %s voxels (%zu bytes from offset %zu) but the file has %zu bytes",
                  name, dim[1], dim[2], dim[3], nifti_datatype_name(dt), need, offset, n);
        goto done;
    }
    if (r.gz && need > br_max_remaining(&r)) {
        ldm_error("nifti", "%s: header says %dx%dx%d %s voxels (%zu bytes) but %zu bytes of gzip data cannot hold that many",
                  name, dim[1], dim[2], dim[3], nifti_datatype_name(dt), need, n);
        goto done;
    }
    k = br_skip(&r, offset - HDR, "nifti");
    if (k < 0) goto done;
    size_t got = 0;
    if ((size_t)k == offset - HDR) {
        raw = read_voxels(&r, need, &got);
        if (!raw) goto done;
    }
    if (got < need) {
        ldm_error("nifti", "%s: header says %dx%dx%d %s voxels (%zu bytes from offset %zu) but the data holds only %zu",
                  name, dim[1], dim[2], dim[3], nifti_datatype_name(dt), need, offset, got);
        goto done;
    }
    out->vox = malloc(nvox * sizeof(float));
    if (!out->vox) {
        ldm_error("nifti", "%s: out of memory (%zu voxels)", name, nvox);
        goto done;
    }
    float slope = get_f32(h, 112, swap), inter = get_f32(h, 116, swap);
    int scale = isfinite(slope) && slope != 0.0f;
    if (!isfinite(inter)) inter = 0;
    for (size_t i = 0; i < nvox; i++) {
        float v = voxel_value(raw + i * (size_t)bpv, dt, swap);
        if (scale) v = v * slope + inter;
        out->vox[i] = isfinite(v) ? v : 0.0f;
    }
    out->nx = dim[1], out->ny = dim[2], out->nz = dim[3];
    out->nt = nt > 0x7FFFFFFF ? 0x7FFFFFFF : (int)nt;
    out->datatype = dt;
    rc = 0;
done:
    free(raw);
    br_close(&r);
    if (rc) nifti_free(out);
    return rc;
}

int nifti_load(const char *path, NiftiVolume *out) {
    uint8_t *buf;
    size_t n;
    if (out) *out = (NiftiVolume){0};
    if (read_file(path, IMG_MAX_FILE, &buf, &n)) return -1;
    int rc = nifti_decode(buf, n, path, out);
    free(buf);
    return rc;
}
