/* bench/ldm_bench.c — ldm-bench: kernel micro-benchmarks and end-to-end numbers.
 *
 *   ldm-bench kernels [--op NAME] [--version V] [--device cpu|cuda] [--preset P]
 *                     [--batch B] [--quick] [--no-naive] [--attn-len L,...] [--json FILE]
 *   ldm-bench train   [--preset P] [--device D] [--batch B] [--steps N] [--precision bf16|fp32] [--json FILE]
 *   ldm-bench sample  [--preset P] [--device D] [--batch B] [--steps N] [--precision bf16|fp32] [--json FILE]
 *   ldm-bench numerics [--preset P] --out FILE.safetensors
 *   ldm-bench chart   --json KERNELS.json [--torch TORCH.json] --png FILE.png
 *   ldm-bench cpu     [--op gemm|conv2d|threads|all]  CPU GEMM and conv2d, GFLOP/s; threads: where
 *                     a second thread starts to pay (kernels/cpu/cpu_util.h's threshold)
 *
 * Threads: OMP_NUM_THREADS. Exit status 0, 1 on a runtime error, 2 on a usage error. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/chart.h"
#include "bench/cpu_bench.h"
#include "bench/kernel_bench.h"
#include "bench/model_bench.h"
#include "core/cli.h"
#include "core/error.h"

#define PROG "ldm-bench"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ldm-bench COMMAND [options]\n"
            "\n"
            "  kernels        every op at the shapes the preset uses (bench/shapes.c): validated\n"
            "                 against the CPU first (on cuda), then timed (median); ms, GB/s, GFLOP/s\n"
            "                 and %% of the bandwidth and FMA ceilings measured at start\n"
            "     --op NAME        conv2d group_norm layer_norm attention linear silu add upsample2x adamw\n"
            "     --version V      CUDA kernel version only (0 = default; default: every version)\n"
            "     --quick          shorter timing, at most 3 shapes per op/pass/model (adni on the cpu: batch 1)\n"
            "     --no-naive       leave out each op's naive CUDA version (bench/ops/op_table.c)\n"
            "     --attn-len L,..  attention alone at these sequence lengths (self and to 4 context\n"
            "                      tokens; 4 heads of 64) instead of the preset's shapes\n"
            "  train          one training step of the VAE and the U-Net: forward, backward, optimizer,\n"
            "                 images/s, peak arena and parameter memory (--steps timed steps, default 3)\n"
            "  sample         DDIM sampling: time per denoising step and per image (--steps, default 10;\n"
            "                 median of 3 timed runs after a 2-step warm-up)\n"
            "  numerics       randomised weights, inputs and ldm.c's outputs for bench/torch_twin.py --numerics\n"
            "     --out FILE       the safetensors file to write\n"
            "  chart          PNG bars per op: %% of ceiling and ldm.c / PyTorch time\n"
            "     --json FILE      from `kernels --json`;  --torch FILE  from torch_twin.py --out;  --png FILE\n"
            "  cpu            the CPU SGEMM (1024^3) and conv2d speed-goal shapes (--op gemm|conv2d|all);\n"
            "                 --op threads: 1 thread vs all on add and SiLU, 2^10..2^20 elements\n"
            "\n"
            "common: --preset adni|oasis|demo|fashion (default demo), --device cpu|cuda (default cpu),\n"
            "        --batch B (default 8; adni/oasis 4), --json FILE (integers only: ns, bytes, FLOP),\n"
            "        --arena-mb M (train/sample; default 2048 cpu, 24576 cuda),\n"
            "        --precision bf16|fp32 (train/sample: the activations, as ldm-train's; default bf16 on cuda,\n"
            "        fp32 on cpu), -h/--help.\n"
            "Threads come from OMP_NUM_THREADS.\n");
}

typedef struct {
    const char *op, *preset, *json, *torch, *png, *out;
    Device device;
    DType precision;
    bool given_precision;
    int attn_lens[8], n_attn_lens;
    int version, batch, steps, quick, no_naive;
    long arena_mb;
} Args;

/* Parses argv[1..] into a; 0, or 2 on a usage error (printed), or 1 after --help. */
static int parse(int argc, char **argv, Args *a) {
    static const struct option opts[] = {
        {"op", required_argument, 0, 'o'},     {"version", required_argument, 0, 'v'},
        {"device", required_argument, 0, 'd'}, {"preset", required_argument, 0, 'p'},
        {"batch", required_argument, 0, 'b'},  {"steps", required_argument, 0, 's'},
        {"json", required_argument, 0, 'j'},   {"torch", required_argument, 0, 't'},
        {"png", required_argument, 0, 'g'},    {"out", required_argument, 0, 'O'},
        {"arena-mb", required_argument, 0, 'a'}, {"quick", no_argument, 0, 'q'},
        {"no-naive", no_argument, 0, 'N'},    {"attn-len", required_argument, 0, 'L'},
        {"precision", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},         {0}};
    int c;
    long v;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': a->op = optarg; break;
        case 'v': if (cli_int(PROG, "--version", optarg, 0, 16, &a->version)) return 2; break;
        case 'd':
            if (device_parse(optarg, &a->device)) return cli_usage_error(PROG, "--device %s: want cpu or cuda", optarg);
            break;
        case 'p': a->preset = optarg; break;
        case 'b': if (cli_int(PROG, "--batch", optarg, 1, 4096, &a->batch)) return 2; break;
        case 's': if (cli_int(PROG, "--steps", optarg, 1, 1 << 20, &a->steps)) return 2; break;
        case 'j': a->json = optarg; break;
        case 't': a->torch = optarg; break;
        case 'g': a->png = optarg; break;
        case 'O': a->out = optarg; break;
        case 'a':
            if (cli_long(PROG, "--arena-mb", optarg, 1, 1 << 20, &v)) return 2;
            a->arena_mb = v;
            break;
        case 'q': a->quick = 1; break;
        case 'P':
            if (cli_precision(PROG, optarg, &a->precision)) return 2;
            a->given_precision = true;
            break;
        case 'N': a->no_naive = 1; break;
        case 'L': {
            char buf[128], *save = NULL;
            snprintf(buf, sizeof buf, "%s", optarg);
            a->n_attn_lens = 0;
            for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                if (a->n_attn_lens == 8) return cli_usage_error(PROG, "--attn-len: at most 8 lengths");
                if (cli_int(PROG, "--attn-len", tok, 1, 65536, &a->attn_lens[a->n_attn_lens++])) return 2;
            }
            if (!a->n_attn_lens) return cli_usage_error(PROG, "--attn-len: give lengths, e.g. 1024,4096");
            break;
        }
        case 'h': usage(stdout); return 1;
        default: return cli_getopt_error(PROG, c, argv, optind);
        }
    }
    if (optind < argc) return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
    if (!a->given_precision) a->precision = cli_default_precision(a->device);
    return 0;
}

static int fail(void) {
    fprintf(stderr, "ldm-bench: %s\n", ldm_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        usage(stdout);
        return 0;
    }
    Args a = {.preset = "demo", .device = DEV_CPU, .version = -1};
    int rc = parse(argc - 1, argv + 1, &a);
    if (rc) return rc == 1 ? 0 : rc;
    if (!strcmp(cmd, "cpu")) {
        const char *op = a.op ? a.op : "all";
        if (strcmp(op, "gemm") && strcmp(op, "conv2d") && strcmp(op, "threads") && strcmp(op, "all")) {
            fprintf(stderr, "ldm-bench cpu: unknown --op '%s' (gemm, conv2d, threads or all)\n", op);
            return 2;
        }
        return cpu_bench_run(stdout, op) ? fail() : 0;
    }
    if (!strcmp(cmd, "kernels")) {
        KernelBenchOpts o = {a.preset, a.device, a.batch, a.quick, a.op, a.version, a.json, a.no_naive,
                             a.n_attn_lens, {0}};
        memcpy(o.attn_lens, a.attn_lens, sizeof o.attn_lens);
        return kernel_bench_run(&o, stdout) ? fail() : 0;
    }
    if (!strcmp(cmd, "train") || !strcmp(cmd, "sample")) {
        bool train = !strcmp(cmd, "train");
        ModelBenchOpts o = {a.preset, a.device, a.batch, a.steps ? a.steps : train ? 3 : 10,
                            (size_t)a.arena_mb << 20, a.json, a.precision};
        return (train ? train_bench_run(&o, stdout) : sample_bench_run(&o, stdout)) ? fail() : 0;
    }
    if (!strcmp(cmd, "numerics")) {
        if (!a.out) {
            fprintf(stderr, "ldm-bench numerics: --out FILE is required\n");
            return 2;
        }
        return numerics_write(a.preset, a.out, stdout) ? fail() : 0;
    }
    if (!strcmp(cmd, "chart")) {
        if (!a.json || !a.png) {
            fprintf(stderr, "ldm-bench chart: --json FILE and --png FILE are required\n");
            return 2;
        }
        return chart_write(a.json, a.torch, a.png) ? fail() : 0;
    }
    fprintf(stderr, "ldm-bench: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
