/* train/train_args.c — see train_args.h. */
#include "train/train_args.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "models/describe.h"

#define PROG "ldm-train"

void train_usage(FILE *f) {
    fprintf(f,
            "Usage: ldm-train vae  --preset P --data PATH --out DIR [options]\n"
            "       ldm-train unet --preset P --data PATH --vae FILE --out DIR [options]\n"
            "\n"
            "Trains the VAE (images <-> latents), then the class-conditional U-Net that denoises\n"
            "latents. Writes DIR/<kind>.safetensors (checkpoint: model, optimizer, EMA, RNG and\n"
            "data position), DIR/<kind>.csv (step, loss, lr, val_loss, images/s; unet: the\n"
            "--eval-every numbers) and DIR/<kind>_loss.png (the loss curve).\n"
            "\n"
            "Model and data:\n"
            "  --preset P          adni, oasis, demo, fashion (with --resume: the checkpoint's)\n"
            "  --set KEY=VALUE     override one config field (repeatable; --describe lists them)\n"
            "  --data PATH         data set (ADNI AD_NC folder, OASIS slices, class folders,\n"
            "                      NIfTI volume(s), IDX files; see ldm-data info)\n"
            "  --layout L          force the layout: adni, oasis, folder, nifti, idx\n"
            "  --val-patients N    groups held out for validation (default: the layout's rule)\n"
            "  --group-by G        what the validation split keeps together: image (default for\n"
            "                      class folders), prefix (<patient>_<slice> names; default for\n"
            "                      ADNI and OASIS) or a regular expression on file names; image on\n"
            "                      a NIfTI volume: each slice its own group (holds slices out)\n"
            "  --classes C         data: condition on the data's classes (the folder names),\n"
            "                      whatever the preset's are; none: an unconditional model, labels\n"
            "                      ignored. Default: the data's classes when the preset is\n"
            "                      conditional and the data labelled, unconditional when neither\n"
            "  --vae FILE          unet: the trained VAE checkpoint (frozen)\n"
            "  --out DIR           output folder (created if missing; checked before training)\n"
            "  --describe          print the configuration and parameter counts, then exit\n"
            "\n"
            "Training:\n"
            "  --steps N           optimizer steps (default: vae 2000, unet 4000)\n"
            "  --epochs N          instead of --steps: N passes over the training split\n"
            "  --batch B           images per step (default 16)\n"
            "  --lr X              peak learning rate (default: vae 1e-3, unet 5e-4)\n"
            "  --warmup N          linear warm-up steps, then cosine decay (default: 5%% of steps)\n"
            "  --clip X            clip the global gradient norm at X (default 1; 0 = off)\n"
            "  --weight-decay X    AdamW decoupled weight decay of linear and conv weights (not\n"
            "                      biases, norms, embedding tables; default 0)\n"
            "  --ema D             unet: EMA decay of the weights (default 0.999)\n"
            "  --cond-drop P       unet: probability a label becomes the null class (default 0.1)\n"
            "  --seed N            seed of everything random: init, data order, noise (default 0)\n"
            "  --device D          cpu or cuda (default: cuda when a GPU is present)\n"
            "  --precision P       bf16 (activations and matmul operands in bf16; fp32 weights, optimizer,\n"
            "                      norm statistics, softmax, losses) or fp32 (default: bf16 on cuda, fp32 on cpu)\n"
            "  --resume FILE       continue a run exactly from its checkpoint\n"
            "  --ckpt-every N      checkpoint every N steps, and at the end (default 500)\n"
            "  --stop-after N      stop after step N with a checkpoint (train in pieces)\n"
            "  --log-every N       progress line every N steps (default 10; the CSV has every step)\n"
            "  --val-every N       validate every N steps (default: each epoch, at most 20 times)\n"
            "  --arena-mb N        per-step activation memory (default: sized from the model)\n"
            "  --eval-every N      unet: every N steps (and at the end) sample --eval-n images per\n"
            "                      class with the EMA weights (DDIM, fixed seed, guidance 3) and log\n"
            "                      --classifier's accuracy on them and their Frechet distance to\n"
            "                      held-out images (CSV gen_accuracy, gen_fd; the loss plot)\n"
            "  --classifier C      unet: the judge, from 'ldm-eval classifier' on the same data\n"
            "  --eval-n N          images per class for --eval-every (default 16)\n"
            "  --eval-steps N      DDIM steps for --eval-every (default 20)\n"
            "  --disc-weight X     vae: add a patch discriminator (PatchGAN, hinge loss) whose term\n"
            "                      is weighted by X times LDM's adaptive weight (the ratio of the\n"
            "                      reconstruction's and the adversarial gradient norms at the decoder's\n"
            "                      last conv); 0 = off (default; LDM uses 0.5). Range 0..100\n"
            "  --disc-start N      vae: the discriminator trains and counts from step N on (default 0;\n"
            "                      LDM starts it late, once reconstructions are good)\n"
            "  --threads N         data decode threads (default 2)\n"
            "  --quiet             no progress line\n"
            "  -h, --help          this text\n"
            "\n"
            "Presets:\n");
    describe_presets(f);
    fprintf(f, "\nExit status: 0 success, 1 runtime error, 2 usage error.\n");
}

enum {
    O_PRESET = 256, O_SET, O_DATA, O_LAYOUT, O_VALP, O_VAE, O_OUT, O_DESCRIBE, O_STEPS, O_EPOCHS, O_BATCH, O_LR,
    O_WARMUP, O_CLIP, O_WD, O_EMA, O_CDROP, O_SEED, O_DEVICE, O_RESUME, O_CKPT, O_STOP, O_LOG, O_VAL, O_ARENA, O_THREADS,
    O_QUIET, O_GROUP, O_CLASSES, O_EVAL_EVERY, O_CLASSIFIER, O_EVAL_N, O_EVAL_STEPS, O_PRECISION,
    O_DISC_WEIGHT, O_DISC_START
};

static const struct option long_opts[] = {
    {"preset", required_argument, 0, O_PRESET},   {"set", required_argument, 0, O_SET},
    {"data", required_argument, 0, O_DATA},       {"layout", required_argument, 0, O_LAYOUT},
    {"val-patients", required_argument, 0, O_VALP}, {"vae", required_argument, 0, O_VAE},
    {"group-by", required_argument, 0, O_GROUP},  {"classes", required_argument, 0, O_CLASSES},
    {"out", required_argument, 0, O_OUT},         {"describe", no_argument, 0, O_DESCRIBE},
    {"steps", required_argument, 0, O_STEPS},     {"epochs", required_argument, 0, O_EPOCHS},
    {"batch", required_argument, 0, O_BATCH},     {"lr", required_argument, 0, O_LR},
    {"warmup", required_argument, 0, O_WARMUP},   {"clip", required_argument, 0, O_CLIP},
    {"weight-decay", required_argument, 0, O_WD}, {"ema", required_argument, 0, O_EMA},
    {"cond-drop", required_argument, 0, O_CDROP}, {"seed", required_argument, 0, O_SEED},
    {"device", required_argument, 0, O_DEVICE},   {"resume", required_argument, 0, O_RESUME},
    {"precision", required_argument, 0, O_PRECISION},
    {"ckpt-every", required_argument, 0, O_CKPT}, {"stop-after", required_argument, 0, O_STOP},
    {"log-every", required_argument, 0, O_LOG},   {"val-every", required_argument, 0, O_VAL},
    {"arena-mb", required_argument, 0, O_ARENA},
    {"eval-every", required_argument, 0, O_EVAL_EVERY}, {"classifier", required_argument, 0, O_CLASSIFIER},
    {"eval-n", required_argument, 0, O_EVAL_N},   {"eval-steps", required_argument, 0, O_EVAL_STEPS},
    {"disc-weight", required_argument, 0, O_DISC_WEIGHT}, {"disc-start", required_argument, 0, O_DISC_START},
    {"threads", required_argument, 0, O_THREADS}, {"quiet", no_argument, 0, O_QUIET},
    {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};

/* Returns -1 on a bad value (message printed), 1 for --describe, else 0. */
static int take(TrainArgs *a, int c, const char *v, bool *describe) {
    long n;
    switch (c) {
    case O_PRESET: a->preset = v; return 0;
    case O_SET:
        if (a->n_sets == TRAIN_MAX_SETS) return cli_usage_error(PROG, "--set %s: more than %s overrides", v, "64"), -1;
        if (!strchr(v, '=')) return cli_usage_error(PROG, "--set %s: want KEY=VALUE", v), -1;
        a->sets[a->n_sets++] = v;
        return 0;
    case O_DATA: a->data = v; return 0;
    case O_LAYOUT:
        if (layout_parse(v, &a->layout)) return cli_usage_error(PROG, "--layout %s: want adni, oasis, folder, nifti or idx", v), -1;
        return 0;
    case O_VALP: return cli_long(PROG, "--val-patients", v, 0, 1000000, &n) ? -1 : (a->val_patients = (int)n, 0);
    case O_GROUP: {
        DataOptions o;
        data_options_default(&o);
        if (group_by_parse(v, &o)) return cli_usage_error(PROG, "--group-by %s: want image, prefix or a pattern", v), -1;
        a->group_by = o.group_by, a->group_pattern = o.group_pattern;
        return 0;
    }
    case O_CLASSES:
        if (!strcmp(v, "data")) a->classes = CLASSES_DATA;
        else if (!strcmp(v, "none")) a->classes = CLASSES_NONE;
        else if (!strcmp(v, "auto")) a->classes = CLASSES_AUTO;
        else return cli_usage_error(PROG, "--classes %s: want data or none", v), -1;
        return 0;
    case O_VAE: a->vae = v; return 0;
    case O_OUT: a->out = v; return 0;
    case O_DESCRIBE: *describe = true; return 0;
    case O_STEPS:
        if (cli_long(PROG, "--steps", v, 1, 100000000, &a->steps)) return -1;
        a->epochs = 0, a->given_steps = true;
        return 0;
    case O_EPOCHS:
        if (cli_long(PROG, "--epochs", v, 1, 1000000, &a->epochs)) return -1;
        a->steps = 0, a->given_steps = true;
        return 0;
    case O_BATCH: return cli_long(PROG, "--batch", v, 1, 4096, &n) ? -1 : (a->batch = (int)n, a->given_batch = true, 0);
    case O_LR: return cli_double(PROG, "--lr", v, 0, 1e30, &a->lr) ? -1 : (a->given_lr = true, 0);
    case O_WARMUP: return cli_long(PROG, "--warmup", v, 0, 100000000, &a->warmup) ? -1 : (a->given_warmup = true, 0);
    case O_CLIP: return cli_double(PROG, "--clip", v, 0, 1e30, &a->clip) ? -1 : (a->given_clip = true, 0);
    case O_WD: return cli_double(PROG, "--weight-decay", v, 0, 1, &a->weight_decay) ? -1 : (a->given_wd = true, 0);
    case O_EMA: return cli_double(PROG, "--ema", v, 0, 1, &a->ema) ? -1 : (a->given_ema = true, 0);
    case O_CDROP: return cli_double(PROG, "--cond-drop", v, 0, 1, &a->cond_drop) ? -1 : (a->given_cond_drop = true, 0);
    case O_SEED: {
        uint64_t s;
        if (cli_u64(PROG, "--seed", v, &s)) return -1;
        a->seed = s, a->given_seed = true;
        return 0;
    }
    case O_DEVICE:
        if (device_parse(v, &a->device)) return cli_usage_error(PROG, "--device %s: want cpu or cuda", v), -1;
        return 0;
    case O_PRECISION: return cli_precision(PROG, v, &a->precision) ? -1 : (a->given_precision = true, 0);
    case O_RESUME: a->resume = v; return 0;
    case O_CKPT: return cli_long(PROG, "--ckpt-every", v, 0, 100000000, &a->ckpt_every);
    case O_STOP: return cli_long(PROG, "--stop-after", v, 1, 100000000, &a->stop_after);
    case O_LOG: return cli_long(PROG, "--log-every", v, 1, 100000000, &a->log_every);
    case O_VAL: return cli_long(PROG, "--val-every", v, 1, 100000000, &a->val_every);
    case O_ARENA: return cli_long(PROG, "--arena-mb", v, 16, 1 << 20, &n) ? -1 : (a->arena_mb = (size_t)n, 0);
    case O_THREADS: return cli_long(PROG, "--threads", v, 1, 64, &n) ? -1 : (a->threads = (int)n, 0);
    case O_QUIET: a->quiet = true; return 0;
    case O_EVAL_EVERY: return cli_long(PROG, "--eval-every", v, 1, 100000000, &a->eval_every);
    case O_CLASSIFIER: a->classifier = v; return 0;
    case O_EVAL_N: return cli_long(PROG, "--eval-n", v, 2, 100000, &n) ? -1 : (a->eval_n = (int)n, 0);
    case O_EVAL_STEPS: return cli_long(PROG, "--eval-steps", v, 1, 1000, &n) ? -1 : (a->eval_steps = (int)n, 0);
    case O_DISC_WEIGHT:
        return cli_double(PROG, "--disc-weight", v, 0, 100, &a->disc_weight) ? -1 : (a->given_disc_weight = true, 0);
    case O_DISC_START:
        return cli_long(PROG, "--disc-start", v, 0, 100000000, &a->disc_start) ? -1 : (a->given_disc_start = true, 0);
    }
    return -1;
}

int train_args_parse(int argc, char **argv, TrainArgs *a) {
    memset(a, 0, sizeof *a);
    a->batch = 16, a->clip = 1.0, a->ema = 0.999, a->cond_drop = 0.1, a->lr_min_frac = 0.05;
    a->ckpt_every = 500, a->log_every = 10, a->val_patients = -1, a->threads = 2, a->warmup = -1;
    a->eval_n = 16, a->eval_steps = 20;
    a->device = dev_cuda_available() && !dev_cuda_emulated() ? DEV_CUDA : DEV_CPU; /* the emulator only on request */
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        train_usage(stdout);
        return 1;
    }
    if (argc < 2 || argv[1][0] == '-')
        return cli_usage_error(PROG, "the first argument must be the model to train: vae or unet");
    if (!strcmp(argv[1], "vae")) a->kind = TRAIN_VAE;
    else if (!strcmp(argv[1], "unet")) a->kind = TRAIN_UNET;
    else return cli_usage_error(PROG, "unknown model '%s' (want vae or unet)", argv[1]);
    bool describe = false;
    optind = 2;
    opterr = 0;
    int c, idx;
    while ((c = getopt_long(argc, argv, ":h", long_opts, &idx)) != -1) {
        if (c == 'h') {
            train_usage(stdout);
            return 1;
        }
        if (c == '?' || c == ':') return cli_getopt_error(PROG, c, argv, optind);
        if (take(a, c, optarg, &describe)) return 2;
    }
    if (optind < argc) return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
    if (describe) {
        a->out = NULL;
        return 3;
    }
    if (!a->preset && !a->resume) return cli_usage_error(PROG, "--preset is required (one of: %s)", "adni oasis demo fashion");
    if (!a->data) return cli_usage_error(PROG, "--data PATH is required");
    if (!a->out) return cli_usage_error(PROG, "--out DIR is required");
    if (a->kind == TRAIN_UNET && !a->vae) return cli_usage_error(PROG, "unet: --vae FILE (the trained VAE checkpoint) is required");
    if (a->kind == TRAIN_VAE && a->vae) return cli_usage_error(PROG, "vae: --vae is only for 'ldm-train unet'");
    if (!a->given_precision) a->precision = cli_default_precision(a->device);
    if ((a->eval_every > 0) != (a->classifier != NULL))
        return cli_usage_error(PROG, "--eval-every N and --classifier C go together (the judge and how often)");
    if (a->eval_every > 0 && a->kind != TRAIN_UNET)
        return cli_usage_error(PROG, "vae: --eval-every judges samples; it is for 'ldm-train unet'");
    if ((a->given_disc_weight || a->given_disc_start) && a->kind != TRAIN_VAE)
        return cli_usage_error(PROG, "--disc-weight and --disc-start are for 'ldm-train vae' (the autoencoder's adversary)");
    if (a->given_disc_start && !a->given_disc_weight && !a->resume)
        return cli_usage_error(PROG, "--disc-start %ld: the discriminator is off without --disc-weight X > 0", a->disc_start);
    if (!a->steps && !a->epochs) a->steps = a->kind == TRAIN_VAE ? 2000 : 4000;
    if (!a->given_lr) a->lr = a->kind == TRAIN_VAE ? 1e-3 : 5e-4;
    return 0;
}
