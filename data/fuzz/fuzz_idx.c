/* data/fuzz/fuzz_idx.c — libFuzzer target for the IDX reader, plain and gzip
 * (`make fuzz`). A decoded array must hold exactly product(dims) bytes. */
#include <stdlib.h>

#include "core/error.h"
#include "data/idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ldm_clear_error();
    IdxArray a;
    if (idx_decode(data, size, "fuzz-idx", &a) == 0) {
        size_t n = 1;
        for (int i = 0; i < a.ndim; i++) n *= (size_t)a.dims[i];
        if (a.ndim < 1 || a.ndim > 3 || n != a.n || !a.data) abort();
        volatile unsigned sum = 0;
        for (size_t i = 0; i < n; i++) sum += a.data[i];
        idx_free(&a);
    } else if (!ldm_last_error()[0] || a.data) {
        abort();
    }
    return 0;
}
