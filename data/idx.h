/* data/idx.h — IDX files (MNIST, Fashion-MNIST), plain or gzip'ed.
 *
 * Format: bytes 0,1 zero; byte 2 the element type (only 0x08 = unsigned byte is
 * accepted); byte 3 the number of dimensions; then one big-endian uint32 per dimension;
 * then the elements, row-major. Images files are 3-D (count, rows, cols), label files
 * 1-D (count). The element count must match the data exactly, in both directions.
 */
#ifndef LDM_DATA_IDX_H
#define LDM_DATA_IDX_H

#include <stddef.h>
#include <stdint.h>

#define IDX_MAX_BYTES (1u << 28)

typedef struct {
    int ndim;       /* 1..3 */
    int dims[3];
    uint8_t *data;  /* product(dims) bytes */
    size_t n;
} IdxArray;

int idx_decode(const uint8_t *buf, size_t n, const char *name, IdxArray *out);
int idx_load(const char *path, IdxArray *out);
void idx_free(IdxArray *a);

#endif
