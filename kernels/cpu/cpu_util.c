/* kernels/cpu/cpu_util.c — see cpu_util.h. */
#include "kernels/cpu/cpu_util.h"

#include <stdlib.h>

#include "core/error.h"

static double par_min = CPU_PAR_MIN_BYTES;

double cpu_par_min(void) { return par_min; }

double cpu_set_par_min(double cost) {
    double old = par_min;
    par_min = cost;
    return old;
}

// ----------------------------------------------------------------------------
// scratch

typedef struct {
    void *p;
    size_t cap;
} Scratch;

static _Thread_local Scratch scratch[SCRATCH_N_SLOTS];
static long grows;

void *cpu_scratch(CpuScratchSlot slot, size_t bytes, const char *op) {
    Scratch *s = &scratch[slot];
    if (bytes <= s->cap && s->p) return s->p;
    size_t cap = (bytes + 63) / 64 * 64;
    if (cap < 4096) cap = 4096;
    void *p = aligned_alloc(64, cap);
    if (!p) {
        ldm_error(op, "out of host memory for %zu bytes of scratch", bytes);
        return NULL;
    }
    free(s->p);
    s->p = p;
    s->cap = cap;
#pragma omp atomic
    grows++;
    return p;
}

long cpu_scratch_grows(void) {
    long g;
#pragma omp atomic read
    g = grows;
    return g;
}
