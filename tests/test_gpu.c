/* tests/test_gpu.c — the op table's device parity (bench/ops/op_table.h) on the quick
 * shapes, every op, pass and kernel version, under Criterion so that `make test` shows it.
 * Without a CUDA device (or under a CPU-only build) the test is a visible skip, never a
 * pass; with a GPU, or the CUDA emulator (make CUDA=emu), it runs in full. The full
 * shapes, the sanitizers and the benchmark are bench/gpu_run.sh. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <time.h>

#include "bench/ops/op_run.h"
#include "core/device.h"

Test(gpu, op_table_parity_quick, .timeout = 900) {
    if (!dev_cuda_available()) {
        fprintf(stderr, "SKIPPED: no CUDA device (tests/test_gpu.c)\n");
        cr_skip_test("no CUDA device: device parity not run (bench/gpu_run.sh runs it on a GPU)");
    }
    OpRun r;
    op_run_init(&r, (uint64_t)time(NULL));
    printf("test_gpu on %s: seed %llu\n", dev_cuda_name(), (unsigned long long)r.rng);
    r.quiet_ok = true;
    op_run_table(&r, NULL, SHAPES_QUICK, DEV_CUDA, -1, false);
    cr_expect_eq(r.failed, 0, "%d device parity checks failed (FAIL lines above)", r.failed);
    cr_expect_gt(r.passed, 100);
}
