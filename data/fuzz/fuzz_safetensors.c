/* data/fuzz/fuzz_safetensors.c — libFuzzer target for the safetensors reader
 * (core/safetensors.c + core/json.c; `make fuzz`). It lives beside the decoders' targets
 * so one `make fuzz` covers every parser of untrusted files. A file that loads must
 * describe tensors that lie inside its data and whose byte counts match their shapes. */
#include <stdlib.h>

#include "core/error.h"
#include "core/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ldm_clear_error();
    SafeTensors st;
    if (st_load_bytes(data, size, "fuzz-safetensors", &st) == 0) {
        for (int i = 0; i < st.n; i++) {
            const StEntry *e = &st.entries[i];
            if (e->begin > e->end || e->end > st.data_len) abort();
            size_t n = 1;
            for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
            if (n * (size_t)e->dtype_size != e->end - e->begin) abort();
            if (st_find(&st, e->name) == NULL) abort();
            volatile unsigned sum = 0;
            for (uint64_t b = e->begin; b < e->end; b++) sum += st.data[b];
        }
        for (int i = 0; i < st.n_meta; i++)
            if (!st_meta(&st, st.meta_keys[i])) abort();
        st_free(&st);
    } else if (!ldm_last_error()[0]) {
        abort();
    }
    return 0;
}
