/* data/idx.c — IDX reader (see idx.h). */
#include "data/idx.h"

#include <stdlib.h>

#include "core/error.h"
#include "data/byte_reader.h"
#include "data/image.h"

void idx_free(IdxArray *a) {
    if (!a) return;
    free(a->data);
    *a = (IdxArray){0};
}

int idx_decode(const uint8_t *buf, size_t n, const char *name, IdxArray *out) {
    if (!out) return ldm_error("idx", "%s: no output array", name);
    *out = (IdxArray){0};
    if (!buf) return ldm_error("idx", "%s: no data", name);
    ByteReader r;
    if (br_open(&r, buf, n, name)) return -1;
    uint8_t h[16];
    int rc = -1;
    long long k = br_read(&r, h, 4, "idx");
    if (k < 0) goto done;
    if (k < 4 || h[0] != 0 || h[1] != 0 || h[3] < 1 || h[3] > 3) {
        ldm_error("idx", "%s: not an IDX file (bad magic)", name);
        goto done;
    }
    if (h[2] != 0x08) {
        ldm_error("idx", "%s: IDX element type 0x%02x is not supported (only 0x08, unsigned byte)", name, h[2]);
        goto done;
    }
    int ndim = h[3];
    k = br_read(&r, h + 4, 4 * (size_t)ndim, "idx");
    if (k < 0) goto done;
    if (k < 4 * ndim) {
        ldm_error("idx", "%s: header ends early (truncated)", name);
        goto done;
    }
    size_t total = 1;
    for (int i = 0; i < ndim; i++) {
        const uint8_t *p = h + 4 + 4 * i;
        uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (d < 1 || d > IDX_MAX_BYTES || (i > 0 && d > IMG_MAX_SIDE)) {
            ldm_error("idx", "%s: dimension %d is %u", name, i, d);
            goto done;
        }
        out->dims[i] = (int)d;
        total *= d;
        if (total > IDX_MAX_BYTES) {
            ldm_error("idx", "%s: more than %u elements", name, IDX_MAX_BYTES);
            goto done;
        }
    }
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (!r.gz && n - hdr != total) {
        ldm_error("idx", "%s: header says %zu elements but the file holds %zu bytes of data", name, total, n - hdr);
        goto done;
    }
    if (r.gz && total > br_max_remaining(&r)) {
        ldm_error("idx", "%s: header says %zu elements but %zu bytes of gzip data cannot hold that many", name, total, n);
        goto done;
    }
    out->data = malloc(total);
    if (!out->data) {
        ldm_error("idx", "%s: out of memory (%zu bytes)", name, total);
        goto done;
    }
    k = br_read(&r, out->data, total, "idx");
    if (k < 0) goto done;
    uint8_t extra;
    long long more = (size_t)k == total ? br_read(&r, &extra, 1, "idx") : 0;
    if (more < 0) goto done;
    if ((size_t)k != total || more) {
        ldm_error("idx", "%s: header says %zu elements but the data holds %s", name, total,
                  more ? "more" : "fewer");
        goto done;
    }
    out->ndim = ndim;
    out->n = total;
    rc = 0;
done:
    br_close(&r);
    if (rc) idx_free(out);
    return rc;
}

int idx_load(const char *path, IdxArray *out) {
    uint8_t *buf;
    size_t n;
    if (out) *out = (IdxArray){0};
    if (read_file(path, IMG_MAX_FILE, &buf, &n)) return -1;
    int rc = idx_decode(buf, n, path, out);
    free(buf);
    return rc;
}
