/* tests/gpu/gpu_check.c — build/gpu-check: device parity of the whole op table
 * (bench/ops/op_table.h) against the CPU, every op, pass and kernel version, without a
 * test framework (the GPU machine may lack Criterion).
 *
 *   build/gpu-check                  core device checks, then every case of the full shape set
 *   build/gpu-check --quick          the quick shapes (for compute-sanitizer, the emulator)
 *   build/gpu-check --shared-only    only the ops with a shared-memory kernel (racecheck)
 *   build/gpu-check --only OP        one op of the table (--list prints them)
 *   build/gpu-check --version V      only kernel version V (0 = the default)
 *   build/gpu-check --seed N         reproduce a run's random inputs (the seed is printed)
 * One line per check, then 'N passed, N failed'. Exit status: 0 all passed; 1 a check
 * failed, no CUDA device was found (this program exists to check one: a machine whose
 * device is hidden must not read as a pass) or CUDA is installed but broken; 2 a usage
 * error. Under the emulator (make CUDA=emu) the "device" is the emulator.
 * The timing half of the old harness is `ldm-bench kernels --device cuda` (bench/). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/ops/op_run.h"
#include "core/arena.h"
#include "core/device.h"
#include "core/error.h"
#include "kernels/elementwise.h"
#include "kernels/embedding.h"

static void expect(OpRun *r, bool ok, const char *what, const char *why) {
    if (ok) r->passed++;
    else r->failed++;
    printf("%-4s %-26s v0  %9s  [-] %s%s%s\n", ok ? "OK" : "FAIL", "core", "-", what, ok ? "" : "  -- ",
           ok ? "" : why);
}

/* the device's memory: the arena on CUDA, copies both ways, a failed allocation, an error path */
static void core_checks(OpRun *r, bool quick) {
    const char *name = dev_cuda_name();
    expect(r, name && name[0], "dev_cuda_name", "empty device name");
    Arena *a = arena_create(DEV_CUDA, (size_t)1 << 20, (size_t)1 << 16);
    expect(r, a != NULL, "arena_create(cuda, 1 MiB)", ldm_last_error());
    if (a) {
        Tensor *t1 = tensor_new(a, DEV_CPU, 1, (int[]){1000}), *t2 = tensor_new(a, DEV_CPU, 1, (int[]){3});
        expect(r, t1 && t2 && t1->device == DEV_CUDA && ((uintptr_t)t1->data % ARENA_ALIGN) == 0 &&
                      ((uintptr_t)t2->data % ARENA_ALIGN) == 0 && (char *)t2->data >= (char *)t1->data + 4000,
               "arena: two tensors on cuda, 256-aligned, disjoint", ldm_last_error());
        const float *first = t1 ? t1->data : NULL;
        ldm_clear_error();
        void *big = arena_alloc(a, (size_t)2 << 20);
        expect(r, big == NULL && strstr(ldm_last_error(), "out of memory"), "arena: full is an error",
               ldm_last_error());
        arena_reset(a);
        Tensor *t3 = tensor_new(a, DEV_CUDA, 1, (int[]){(1 << 20) / 4});
        expect(r, t3 && t3->data == first, "arena: reset reuses the one allocation", ldm_last_error());
        arena_destroy(a);
    }
    if (!quick) { /* not under compute-sanitizer, which reports the failed cudaMalloc */
        ldm_clear_error();
        Arena *huge = arena_create(DEV_CUDA, (size_t)1 << 50, 16);
        expect(r, huge == NULL && strstr(ldm_last_error(), "arena"), "cudaMalloc of 1 PiB is an error",
               ldm_last_error());
        arena_destroy(huge);
    }
    const int n = 100003;
    float *src = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float));
    for (int i = 0; i < n; i++) src[i] = (float)((i * 2654435761u) % 2000003) - 1e6f;
    Tensor *d1 = tensor_new(NULL, DEV_CUDA, 1, &n), *d2 = tensor_new(NULL, DEV_CUDA, 1, &n);
    Tensor *h = tensor_new(NULL, DEV_CPU, 1, &n);
    bool ok = d1 && d2 && h && tensor_from_host(d1, src) == 0 && tensor_copy(d2, d1) == 0 &&
              tensor_copy(h, d2) == 0 && memcmp(h->data, src, n * sizeof(float)) == 0;
    expect(r, ok, "host->cuda->cuda->host (100003 floats) exact", ldm_last_error());
    ok = d1 && tensor_zero(d1) == 0 && tensor_to_host(d1, back) == 0;
    for (int i = 0; ok && i < n; i++) ok = back[i] == 0.0f;
    expect(r, ok, "tensor_zero on cuda", ldm_last_error());
    tensor_free(d1);
    tensor_free(d2);
    tensor_free(h);
    free(src);
    free(back);
    /* a bad id is an error on the device too, naming the op */
    Tensor *table = tensor_new(NULL, DEV_CUDA, 2, (int[]){4, 8}), *ids = tensor_new(NULL, DEV_CUDA, 1, (int[]){3});
    Tensor *y = tensor_new(NULL, DEV_CUDA, 2, (int[]){3, 8});
    const float bad[3] = {1, 4, 2};
    int rc = (table && ids && y && fill(table, 1.0f) == 0 && tensor_from_host(ids, bad) == 0)
                 ? embedding_forward(table, ids, y)
                 : 0;
    expect(r, rc == -1 && strstr(ldm_last_error(), "embedding") && strstr(ldm_last_error(), "ids[1]"),
           "embedding id 4 of a (4, 8) table is an error", ldm_last_error());
    tensor_free(table);
    tensor_free(ids);
    tensor_free(y);
}

static int usage(void) {
    fprintf(stderr, "usage: gpu-check [--quick] [--shared-only] [--only OP] [--version V] [--seed N] [--list]\n");
    return 2;
}

int main(int argc, char **argv) {
    bool quick = false, shared_only = false;
    const char *only = NULL;
    int version = -1;
    unsigned long long seed = (unsigned long long)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = true;
        else if (!strcmp(argv[i], "--shared-only")) shared_only = true;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--version") && i + 1 < argc) version = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--list")) {
            for (int k = 0; k < op_table_len; k++)
                printf("%-20s versions %d%s\n", op_table[k].name, op_table[k].versions,
                       op_table[k].shared_memory ? "  shared memory" : "");
            return 0;
        } else return usage();
    }
    if (only && !op_find(only)) {
        fprintf(stderr, "gpu-check: no op '%s' in the table (--list)\n", only);
        return 2;
    }
    const int probe = dev_cuda_probe();
    if (probe <= 0) { /* broken CUDA or no device: never a pass */
        printf("FAIL: %s\n0 passed, 1 failed\n",
               probe < 0 ? ldm_last_error() : "no CUDA device (gpu-check checks a GPU and found none)");
        return 1;
    }
    printf("gpu-check on %s, seed %llu, %s shapes%s\n", dev_cuda_name(), seed, quick ? "quick" : "full",
           shared_only ? ", shared-memory ops only" : "");
    OpRun r;
    op_run_init(&r, seed);
    if (!only && !shared_only) core_checks(&r, quick);
    for (int k = 0; k < op_table_len; k++) {
        const OpDef *op = &op_table[k];
        if ((only && strcmp(only, op->name)) || (shared_only && !op->shared_memory)) continue;
        op_run_table(&r, op->name, quick ? SHAPES_QUICK : SHAPES_FULL, DEV_CUDA, version, false);
    }
    printf("%d passed, %d failed\n", r.passed, r.failed);
    return r.failed ? 1 : 0;
}
