/* core/arena.c — see arena.h. */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

Arena *arena_create(Device d, size_t data_bytes, size_t host_bytes) {
    Arena *a = calloc(1, sizeof *a);
    if (!a) {
        ldm_error("arena_create", "out of host memory");
        return NULL;
    }
    a->device = d;
    a->data_cap = (data_bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    a->host_cap = (host_bytes + 15) / 16 * 16;
    a->data = dev_malloc(d, a->data_cap);
    a->host = a->host_cap ? aligned_alloc(16, a->host_cap) : NULL;
    if (!a->data || (a->host_cap && !a->host)) {
        if (a->data) dev_free(d, a->data);
        free(a->host);
        free(a);
        ldm_error("arena_create", "cannot allocate an arena of %zu bytes on %s and %zu host bytes",
                  data_bytes, device_name(d), host_bytes);
        return NULL;
    }
    return a;
}

void arena_destroy(Arena *a) {
    if (!a) return;
    dev_free(a->device, a->data);
    free(a->host);
    free(a);
}

void *arena_alloc(Arena *a, size_t bytes) {
    size_t need = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (need < bytes || need > a->data_cap - a->data_used) {
        ldm_error("arena", "out of memory: %zu bytes requested, %zu of %zu used on %s (raise the arena size)",
                  bytes, a->data_used, a->data_cap, device_name(a->device));
        return NULL;
    }
    void *p = a->data + a->data_used;
    a->data_used += need;
    if (a->data_used > a->data_peak) a->data_peak = a->data_used;
    return p;
}

void *arena_alloc_host(Arena *a, size_t bytes) {
    size_t need = (bytes + 15) / 16 * 16;
    if (need < bytes || need > a->host_cap - a->host_used) {
        ldm_error("arena", "out of host memory: %zu bytes requested, %zu of %zu used (raise the arena size)",
                  bytes, a->host_used, a->host_cap);
        return NULL;
    }
    void *p = a->host + a->host_used;
    a->host_used += need;
    if (a->host_used > a->host_peak) a->host_peak = a->host_used;
    memset(p, 0, need);
    return p;
}

void arena_reset(Arena *a) {
    a->data_used = 0;
    a->host_used = 0;
}

ArenaMark arena_mark(const Arena *a) {
    ArenaMark m = {a->data_used, a->host_used};
    return m;
}

void arena_rewind(Arena *a, ArenaMark m) {
    a->data_used = m.data_used;
    a->host_used = m.host_used;
}
