/* bench/ldm_bench.c — ldm-bench: micro-benchmarks of the kernels.
 *
 *   ldm-bench cpu [--op gemm|conv2d|all]     CPU GEMM and conv2d, GFLOP/s
 *
 * Threads: OMP_NUM_THREADS. Exit status 0, 1 on a runtime error, 2 on a usage error. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bench/cpu_bench.h"
#include "core/error.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ldm-bench cpu [--op gemm|conv2d|all]\n"
            "\n"
            "  cpu            time the CPU SGEMM (1024^3, NN/NT/TN) and conv2d forward, dgrad and\n"
            "                 wgrad; prints ms per call (best of the runs) and GFLOP/s\n"
            "  --op OP        gemm, conv2d or all (default all)\n"
            "  -h, --help     this text\n"
            "\n"
            "Threads come from OMP_NUM_THREADS.\n");
}

static int cmd_cpu(int argc, char **argv) {
    static const struct option opts[] = {{"op", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0}};
    const char *op = "all";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'o') {
            op = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ldm-bench cpu: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (strcmp(op, "gemm") && strcmp(op, "conv2d") && strcmp(op, "all")) {
        fprintf(stderr, "ldm-bench cpu: unknown --op '%s' (gemm, conv2d or all)\n", op);
        return 2;
    }
    if (cpu_bench_run(stdout, op)) {
        fprintf(stderr, "ldm-bench: %s\n", ldm_last_error());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "cpu")) return cmd_cpu(argc - 1, argv + 1);
    fprintf(stderr, "ldm-bench: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
