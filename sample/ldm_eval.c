/* sample/ldm_eval.c — ldm-eval: numbers for how good a trained model is.
 *
 *   ldm-eval classifier --data PATH --out judge.safetensors          train the judge
 *   ldm-eval samples --classifier judge.safetensors --data PATH \
 *            --unet unet.safetensors --vae vae.safetensors --n 100   judge generated images
 *   ldm-eval samples --classifier judge.safetensors --data PATH --images DIR
 *   ldm-eval vae --vae vae.safetensors --data PATH                   judge reconstructions
 *
 * The commands and the metrics are described in sample/eval_commands.h and the files it
 * names (frechet.h, knn_metrics.h, image_quality.h, embedding_plot.h). Everything runs on
 * the project's own tensors, autograd and data loading.
 * Exit status: 0 success, 1 runtime error (bad or mismatched files, named), 2 usage error.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/error.h"
#include "sample/eval_commands.h"

#define PROG "ldm-eval"

static void usage(FILE *f) {
    fprintf(f,
            "Usage: ldm-eval classifier --data PATH --out FILE [options]\n"
            "       ldm-eval samples --classifier FILE --data PATH (--unet FILE --vae FILE | --images DIR) [options]\n"
            "       ldm-eval vae --vae FILE --data PATH [options]\n"
            "\n"
            "classifier: trains a small CNN on the training split of PATH (any data set ldm-train reads) and\n"
            "  reports its accuracy on the held-out split, per class; it is the judge of the other commands.\n"
            "  --out FILE          the classifier checkpoint (required)\n"
            "  --preset P          the image size and canvas of preset P (default: fashion for IDX files,\n"
            "                      demo for NIfTI, adni for ADNI; required for a folder of images)\n"
            "  --steps N           training steps (default 600)\n"
            "  --batch B           images per step (default 32)\n"
            "  --lr X              peak learning rate (default 2e-3)\n"
            "  --set KEY=VALUE     override a field of the preset (image_size, data_size, ...; repeatable)\n"
            "\n"
            "samples: per class and overall, for generated images against held-out real ones:\n"
            "  accuracy    the classifier's call on generated images (beside: on real held-out ones)\n"
            "  FD          Frechet distance of the classifier's penultimate-layer features, beside the floor:\n"
            "              the FD between two halves of the held-out real images\n"
            "  precision, recall   k-NN manifolds in that feature space (Kynkaanniemi et al. 2019, k = 3)\n"
            "  memorised   share of generated images closer (in pixels) to their nearest training image than\n"
            "              95%% of held-out real images are to theirs: about 5%% when nothing is copied\n"
            "  --classifier FILE   from ldm-eval classifier (required)\n"
            "  --unet FILE --vae FILE   generate: --n N per class (default 100), --steps S (default 50),\n"
            "                      --sampler ddim|ddpm|dpmpp2m, --eta E, --guidance G (default 3), --seed X,\n"
            "                      --no-ema, --arena-mb N (as ldm-sample)\n"
            "  --images DIR        or judge PNG files DIR/<class>_<i>.png (what ldm-sample --each writes)\n"
            "  --max-real N        held-out real images used (default 2000)\n"
            "  --max-train N       training images searched for the nearest neighbour (default 5000)\n"
            "  --plot FILE         PNG: PCA of real and generated features, coloured by class\n"
            "\n"
            "vae: PSNR, SSIM and MS-SSIM of the reconstructions of held-out images (posterior mean).\n"
            "  --vae FILE          VAE checkpoint (required)\n"
            "  --classifier FILE   also the FD of the reconstructions (the best any sample can do)\n"
            "  --max-real N        held-out images (default 500)\n"
            "\n"
            "Common:\n"
            "  --data PATH         the data set (as ldm-train --data)\n"
            "  --layout L          force the layout: adni, oasis, folder, nifti, idx\n"
            "  --group-by G        the split's grouping, as given to ldm-train: image, prefix or a pattern\n"
            "  --json FILE         also write the results as JSON\n"
            "  --device D          cpu or cuda (default: cuda when a GPU is present)\n"
            "  --quiet             no progress lines\n"
            "  -h, --help          this text\n"
            "\n"
            "Held out: the data set's validation and test splits; a data set without them (one NIfTI volume)\n"
            "holds out every 5th training image, which ldm-train's models have seen (the output says so).\n"
            "Exit status: 0 success, 1 runtime error, 2 usage error.\n");
}

/* 0 ok, 1 help printed, 2 usage error (printed). */
static int parse_args(int argc, char **argv, EvalArgs *a) {
    *a = (EvalArgs){.n = 100, .max_train = 5000, .guidance = 3, .sampler = SAMPLER_DDIM, .batch = 32, .lr = 2e-3,
                    .device = dev_cuda_available() ? DEV_CUDA : DEV_CPU};
    if (argc < 2) return cli_usage_error(PROG, "a command is required: classifier, samples or vae");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(stdout);
        return 1;
    }
    a->cmd = argv[1];
    const bool is_cls = !strcmp(a->cmd, "classifier"), is_samples = !strcmp(a->cmd, "samples"),
               is_vae = !strcmp(a->cmd, "vae");
    if (!is_cls && !is_samples && !is_vae)
        return cli_usage_error(PROG, "unknown command '%s' (want classifier, samples or vae)", a->cmd);
    a->steps = is_cls ? 600 : 50;
    a->max_real = is_vae ? 500 : 2000;
    enum { O_DATA = 256, O_OUT, O_PRESET, O_CLS, O_UNET, O_VAE, O_IMAGES, O_JSON, O_PLOT, O_LAYOUT, O_GROUP, O_STEPS,
           O_BATCH, O_N, O_MAXR, O_MAXT, O_LR, O_GUID, O_ETA, O_SEED, O_SAMPLER, O_DEV, O_NOEMA, O_QUIET, O_ARENA, O_SET };
    static const struct option opts[] = {
        {"data", required_argument, 0, O_DATA},         {"out", required_argument, 0, O_OUT},
        {"preset", required_argument, 0, O_PRESET},     {"classifier", required_argument, 0, O_CLS},
        {"unet", required_argument, 0, O_UNET},         {"vae", required_argument, 0, O_VAE},
        {"images", required_argument, 0, O_IMAGES},     {"json", required_argument, 0, O_JSON},
        {"plot", required_argument, 0, O_PLOT},         {"layout", required_argument, 0, O_LAYOUT}, {"group-by", required_argument, 0, O_GROUP},
        {"steps", required_argument, 0, O_STEPS},       {"batch", required_argument, 0, O_BATCH},
        {"n", required_argument, 0, O_N},               {"max-real", required_argument, 0, O_MAXR},
        {"max-train", required_argument, 0, O_MAXT},    {"lr", required_argument, 0, O_LR},
        {"guidance", required_argument, 0, O_GUID},     {"eta", required_argument, 0, O_ETA},
        {"seed", required_argument, 0, O_SEED},         {"sampler", required_argument, 0, O_SAMPLER},
        {"device", required_argument, 0, O_DEV},        {"no-ema", no_argument, 0, O_NOEMA},
        {"quiet", no_argument, 0, O_QUIET},             {"arena-mb", required_argument, 0, O_ARENA},
        {"set", required_argument, 0, O_SET},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    opterr = 0;
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 1;
        case '?':
        case ':': return cli_getopt_error(PROG, c, argv, optind);
        case O_DATA: a->data = optarg; break;
        case O_OUT: a->out = optarg; break;
        case O_PRESET: a->preset = optarg; break;
        case O_CLS: a->classifier = optarg; break;
        case O_UNET: a->unet = optarg; break;
        case O_VAE: a->vae = optarg; break;
        case O_IMAGES: a->images = optarg; break;
        case O_JSON: a->json = optarg; break;
        case O_PLOT: a->plot = optarg; break;
        case O_LAYOUT: if (layout_parse(optarg, &a->layout)) return cli_usage_error(PROG, "--layout %s: want adni, oasis, folder, nifti or idx", optarg); break;
        case O_GROUP: {
            DataOptions o;
            data_options_default(&o);
            if (group_by_parse(optarg, &o)) return cli_usage_error(PROG, "--group-by %s: want image, prefix or a pattern", optarg);
            a->group_by = optarg;
            break;
        }
        case O_STEPS: if (cli_long(PROG, "--steps", optarg, 1, 10000000, &a->steps)) return 2; break;
        case O_BATCH: if (cli_long(PROG, "--batch", optarg, 1, 4096, &a->batch)) return 2; break;
        case O_N: if (cli_long(PROG, "--n", optarg, 1, 100000, &a->n)) return 2; break;
        case O_MAXR: if (cli_long(PROG, "--max-real", optarg, 8, 10000000, &a->max_real)) return 2; break;
        case O_MAXT: if (cli_long(PROG, "--max-train", optarg, 1, 10000000, &a->max_train)) return 2; break;
        case O_LR: if (cli_double(PROG, "--lr", optarg, 1e-7, 1, &a->lr)) return 2; break;
        case O_GUID: if (cli_double(PROG, "--guidance", optarg, -100, 100, &a->guidance)) return 2; break;
        case O_ETA: if (cli_double(PROG, "--eta", optarg, 0, 1, &a->eta)) return 2; break;
        case O_SEED: if (cli_u64(PROG, "--seed", optarg, &a->seed)) return 2; break;
        case O_SAMPLER:
            if (sampler_parse(optarg, &a->sampler)) return cli_usage_error(PROG, "--sampler %s: want ddim, ddpm or dpmpp2m", optarg);
            break;
        case O_DEV: if (device_parse(optarg, &a->device)) return cli_usage_error(PROG, "--device %s: want cpu or cuda", optarg); break;
        case O_NOEMA: a->no_ema = true; break;
        case O_QUIET: a->quiet = true; break;
        case O_SET:
            if (a->n_sets == 32) return cli_usage_error(PROG, "--set %s: at most 32 overrides", optarg);
            a->sets[a->n_sets++] = optarg;
            break;
        case O_ARENA: if (cli_long(PROG, "--arena-mb", optarg, 1, 1 << 20, &a->arena_mb)) return 2; break;
        }
    }
    if (optind < argc) return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
    if (!a->data) return cli_usage_error(PROG, "--data PATH is required");
    if (is_cls && !a->out) return cli_usage_error(PROG, "classifier: --out FILE is required");
    if (!is_cls && a->n_sets) return cli_usage_error(PROG, "--set %s: only the classifier command takes overrides", a->sets[0]);
    if (is_samples) {
        if (!a->classifier) return cli_usage_error(PROG, "samples: --classifier FILE is required");
        if (!a->images && !(a->unet && a->vae))
            return cli_usage_error(PROG, "samples: give --unet FILE and --vae FILE, or --images DIR");
        if (a->images && (a->unet || a->vae)) return cli_usage_error(PROG, "samples: --images and --unet/--vae exclude each other");
    }
    if (is_vae && !a->vae) return cli_usage_error(PROG, "vae: --vae FILE is required");
    if (a->device == DEV_CUDA && !dev_cuda_available())
        return cli_usage_error(PROG, "--device cuda: no CUDA device (or this build has no CUDA); use --device cpu");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress reaches a log file as it happens */
    EvalArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc == 1) return 0;
    if (rc) return 2;
    if (!strcmp(a.cmd, "classifier")) return eval_cmd_classifier(&a);
    if (!strcmp(a.cmd, "samples")) return eval_cmd_samples(&a);
    return eval_cmd_vae(&a);
}
