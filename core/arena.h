/* core/arena.h — a bump allocator for one training step's (or one denoising step's)
 * activations, gradients of activations and the tape.
 *
 * Two regions: `data` on the arena's device (one cudaMalloc for CUDA, one aligned
 * host block for the CPU) for tensor storage, and `host` for Tensor structs and tape
 * nodes, which the host always reads. arena_reset() forgets everything at once; nothing
 * is freed one by one. Parameters, their gradients and optimizer state never live here.
 * A full arena is an error (NULL + message), never a silent overflow.
 */
#ifndef LDM_CORE_ARENA_H
#define LDM_CORE_ARENA_H

#include <stddef.h>

#include "core/device.h"

typedef struct Arena {
    Device device;
    char *data;        /* device memory, capacity data_cap */
    size_t data_cap, data_used, data_peak;
    char *host;        /* host memory, capacity host_cap */
    size_t host_cap, host_used, host_peak;
} Arena;

#define ARENA_ALIGN 256

/* NULL with an error when either allocation fails. */
Arena *arena_create(Device d, size_t data_bytes, size_t host_bytes);
void arena_destroy(Arena *a);

/* `bytes` of device storage, ARENA_ALIGN-aligned, uninitialised. NULL + error when full. */
void *arena_alloc(Arena *a, size_t bytes);
/* `bytes` of zeroed host memory, 16-byte aligned. NULL + error when full. */
void *arena_alloc_host(Arena *a, size_t bytes);

/* Forget every allocation (peaks are kept). */
void arena_reset(Arena *a);

/* Allocation marks, for scratch memory an op frees when it returns. */
typedef struct { size_t data_used, host_used; } ArenaMark;
ArenaMark arena_mark(const Arena *a);
void arena_rewind(Arena *a, ArenaMark m);

#endif
