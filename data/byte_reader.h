/* data/byte_reader.h — sequential reads from an in-memory file that may be gzip'ed.
 *
 * NIfTI (.nii / .nii.gz) and IDX (plain or .gz) readers parse a header first and only
 * then know how many bytes should follow; reading through this lets them inflate
 * exactly that many and no more, so a small .gz that claims (or expands to) gigabytes
 * costs nothing. gzip is recognised by its signature (1f 8b), not the file name.
 */
#ifndef LDM_DATA_BYTE_READER_H
#define LDM_DATA_BYTE_READER_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

typedef struct {
    const uint8_t *buf;
    size_t n, pos;    /* plain: the bytes; gzip: the compressed bytes */
    int gz;           /* 1 when the data is a gzip stream */
    int ended;        /* gzip: the stream's end was reached */
    z_stream zs;
    const char *name; /* for messages */
} ByteReader;

/* 0, or -1 with an error when zlib cannot start. */
int br_open(ByteReader *r, const uint8_t *buf, size_t n, const char *name);
/* Reads up to len bytes into dst; the count read (< len only at the end of the data),
 * or -1 with an error "<op>: <name>: corrupt gzip data ..." */
long long br_read(ByteReader *r, void *dst, size_t len, const char *op);
/* An upper bound on the bytes still to come: exact for plain data; for gzip, deflate's
 * best ratio (1032:1, a run of one byte) times the compressed bytes left, so a header
 * claiming more than this is a lie and can be rejected before allocating anything. */
size_t br_max_remaining(const ByteReader *r);
/* Discards up to len bytes; same results as br_read. */
long long br_skip(ByteReader *r, size_t len, const char *op);
void br_close(ByteReader *r);

#endif
