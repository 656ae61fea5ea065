/* core/safetensors.h — read and write safetensors files (checkpoints).
 *
 * The format (https://github.com/huggingface/safetensors):
 *   8 bytes      N, little-endian u64: length of the header
 *   N bytes      JSON object, UTF-8, may be padded at the end with spaces:
 *                  { "__metadata__": { "key": "value", ... },          (optional, strings only)
 *                    "name": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ... }
 *   rest         the byte buffer; tensor `name` is bytes [begin, end) of it, row-major,
 *                little-endian. The tensors cover the buffer exactly: no holes, no overlaps.
 *
 * Reading treats the file as untrusted: every malformed header (lengths, JSON, fields,
 * dtypes, shapes, offsets, coverage, duplicate names) is an error naming the file, the
 * problem and the tensor. Writing produces F32 and BF16 tensors (as the tensor's dtype), the header padded so the buffer
 * starts 8-byte aligned (as the reference implementation does), and is atomic: PATH.tmp is
 * written, flushed, fsync'ed and renamed over PATH, and the directory fsync'ed; on any
 * failure the temporary file is removed and an existing PATH is left as it was.
 * Errors: -1 / NULL with ldm_error("safetensors", "<file>: ...").
 */
#ifndef LDM_CORE_SAFETENSORS_H
#define LDM_CORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000ull /* bytes; longer headers are refused as absurd */

typedef struct {
    char *name;
    char dtype[8];             /* "F32", "F16", "BF16", "F64", "I32", "I64", "U8" */
    int dtype_size;            /* bytes per element */
    int ndim;                  /* 0 (a scalar) .. ST_MAX_DIMS */
    int64_t shape[ST_MAX_DIMS];
    uint64_t begin, end;       /* byte range in `data` */
} StEntry;

typedef struct {
    char *path;                /* as given, for messages */
    StEntry *entries;          /* n, in buffer order (ascending begin) */
    int n;
    char **meta_keys, **meta_vals; /* n_meta pairs from __metadata__, in header order */
    int n_meta;
    const uint8_t *data;       /* the byte buffer after the header (data_len bytes) */
    size_t data_len;
    uint8_t *file_;            /* owned: the whole file */
    int *by_name_;             /* owned: entry indices sorted by name, for st_find */
} SafeTensors;

/* Reads and validates the file at `path`. On failure *out is left empty (st_free is a no-op). */
int st_load(const char *path, SafeTensors *out);
/* Same from bytes in memory (copied); `label` stands for the file name in messages. */
int st_load_bytes(const void *bytes, size_t len, const char *label, SafeTensors *out);
void st_free(SafeTensors *st);

const StEntry *st_find(const SafeTensors *st, const char *name); /* NULL when absent */
const char *st_meta(const SafeTensors *st, const char *key);     /* NULL when absent */
uint64_t st_numel(const StEntry *e);

/* Copies tensor `name` into dst (any device). The entry must be F32 with exactly dst's
 * shape; otherwise -1 naming the tensor and the first mismatch. */
int st_read_f32(const SafeTensors *st, const char *name, Tensor *dst);
/* The same for an F32 or BF16 entry into a DT_F32 or DT_BF16 tensor: the bytes as they are
 * when the dtypes match, else converted (BF16 -> fp32 exactly, F32 -> bf16 rounded to nearest
 * even). */
int st_read(const SafeTensors *st, const char *name, Tensor *dst);

// ---------------------------------------------------------------------------
// writer

typedef struct StWriter StWriter;

StWriter *st_writer_new(void);
/* Snapshots t (any device, F32 or BF16, written as such) to host memory under `name`: the tensor may change or be
 * freed afterwards. Names must be non-empty UTF-8, unique, and not "__metadata__". */
int st_writer_add(StWriter *w, const char *name, const Tensor *t);
/* A __metadata__ entry; keys unique, both UTF-8. */
int st_writer_meta(StWriter *w, const char *key, const char *value);
/* Writes everything added so far to `path`, atomically (see above). Tensors appear in
 * the order they were added. */
int st_writer_save(const StWriter *w, const char *path);
void st_writer_free(StWriter *w);

#endif
