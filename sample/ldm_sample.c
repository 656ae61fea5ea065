/* sample/ldm_sample.c — ldm-sample: new images from a trained U-Net and VAE.
 *
 *   ldm-sample --unet out/demo/unet.safetensors --vae out/demo/vae.safetensors \
 *              --label all --n 8 --steps 50 --sampler ddim --guidance 3 --out grid.png
 *
 * Writes a labelled PNG grid (one row per class with --label all), optionally one PNG per
 * image (--each DIR) and a denoising strip (--strip FILE: the decoded prediction of x0
 * at evenly spaced sampler steps, one row per class). Every PNG carries the sampling
 * parameters and the checkpoints' names in tEXt chunks. Same seed, same device, same
 * pixels.
 * Exit status: 0 success, 1 runtime error, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/cli.h"
#include "core/error.h"
#include "core/png.h"
#include "models/checkpoint.h"
#include "models/generate.h"
#include "sample/grid.h"

#define PROG "ldm-sample"

#define MAX_ROWS (CFG_MAX_CLASSES + 1)

static void usage(FILE *f) {
    fprintf(f,
            "Usage: ldm-sample --unet FILE --vae FILE --out grid.png [options]\n"
            "\n"
            "Generates images with a trained U-Net (ldm-train unet) and its VAE (ldm-train vae).\n"
            "\n"
            "  --unet FILE         U-Net checkpoint (required)\n"
            "  --vae FILE          VAE checkpoint it was trained with (required)\n"
            "  --out FILE          the grid PNG (required)\n"
            "  --label L           a class name (AD, NC, inferior, ...), a class index, or all\n"
            "                      (default all: one row per class)\n"
            "  --n N               images per class (default 8)\n"
            "  --steps S           sampler steps (default 50)\n"
            "  --sampler K         ddim (default), ddpm, dpmpp2m\n"
            "  --eta E             DDIM noise: 0 deterministic (default) .. 1 (DDPM-like)\n"
            "  --guidance G        classifier-free guidance scale (default 3; 1 = conditional only)\n"
            "  --seed X            seed (default 0)\n"
            "  --device D          cpu or cuda (default: cuda when a GPU is present)\n"
            "  --precision P       bf16 (the U-Net's and VAE's activations in bf16; the sampler in fp32) or\n"
            "                      fp32 (default: bf16 on cuda, fp32 on cpu)\n"
            "  --no-ema            use the raw U-Net weights instead of their EMA\n"
            "  --strip FILE        also write a denoising strip: the decoded x0 prediction\n"
            "  --strip-cols K      columns of the strip (default 8)\n"
            "  --each DIR          also write every image as DIR/<class>_<i>.png\n"
            "  --zoom Z            draw each pixel Z x Z in the grid and strip (default 2)\n"
            "  --arena-mb N        activation memory per step (default: measured from the model, n and\n"
            "                      the guidance, up to 1 GiB (8 GiB on a GPU); more images go in batches)\n"
            "  -h, --help          this text\n"
            "\n"
            "Exit status: 0 success, 1 runtime error, 2 usage error.\n");
}

typedef struct {
    const char *unet, *vae, *out, *label, *strip, *each;
    long n, steps, strip_cols, zoom, arena_mb;
    double eta, guidance;
    uint64_t seed;
    SamplerKind sampler;
    Device device;
    DType precision;
    bool given_precision;
    bool no_ema;
} SampleArgs;

static int parse_args(int argc, char **argv, SampleArgs *a) {
    *a = (SampleArgs){.label = "all", .n = 8, .steps = 50, .strip_cols = 8, .zoom = 2, .eta = 0, .guidance = 3,
                      .sampler = SAMPLER_DDIM, .device = dev_cuda_available() && !dev_cuda_emulated() ? DEV_CUDA : DEV_CPU};
    enum { O_UNET = 256, O_VAE, O_OUT, O_LABEL, O_N, O_STEPS, O_SAMPLER, O_ETA, O_GUID, O_SEED, O_DEV, O_NOEMA,
           O_STRIP, O_SCOLS, O_EACH, O_ZOOM, O_ARENA, O_PREC };
    static const struct option opts[] = {
        {"unet", required_argument, 0, O_UNET},     {"vae", required_argument, 0, O_VAE},
        {"out", required_argument, 0, O_OUT},       {"label", required_argument, 0, O_LABEL},
        {"n", required_argument, 0, O_N},           {"steps", required_argument, 0, O_STEPS},
        {"sampler", required_argument, 0, O_SAMPLER}, {"eta", required_argument, 0, O_ETA},
        {"guidance", required_argument, 0, O_GUID}, {"seed", required_argument, 0, O_SEED},
        {"device", required_argument, 0, O_DEV},    {"no-ema", no_argument, 0, O_NOEMA},
        {"strip", required_argument, 0, O_STRIP},   {"strip-cols", required_argument, 0, O_SCOLS},
        {"each", required_argument, 0, O_EACH},     {"zoom", required_argument, 0, O_ZOOM},
        {"arena-mb", required_argument, 0, O_ARENA}, {"precision", required_argument, 0, O_PREC},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 1;
        case '?':
        case ':': return cli_getopt_error(PROG, c, argv, optind);
        case O_UNET: a->unet = optarg; break;
        case O_VAE: a->vae = optarg; break;
        case O_OUT: a->out = optarg; break;
        case O_LABEL: a->label = optarg; break;
        case O_N: if (cli_long(PROG, "--n", optarg, 1, 1024, &a->n)) return 2; break;
        case O_STEPS: if (cli_long(PROG, "--steps", optarg, 1, 100000, &a->steps)) return 2; break;
        case O_SAMPLER:
            if (sampler_parse(optarg, &a->sampler)) return cli_usage_error(PROG, "--sampler %s: want ddim, ddpm or dpmpp2m", optarg);
            break;
        case O_ETA: if (cli_double(PROG, "--eta", optarg, 0, 1, &a->eta)) return 2; break;
        case O_GUID: if (cli_double(PROG, "--guidance", optarg, -100, 100, &a->guidance)) return 2; break;
        case O_SEED: if (cli_u64(PROG, "--seed", optarg, &a->seed)) return 2; break;
        case O_DEV: if (device_parse(optarg, &a->device)) return cli_usage_error(PROG, "--device %s: want cpu or cuda", optarg); break;
        case O_NOEMA: a->no_ema = true; break;
        case O_PREC: if (cli_precision(PROG, optarg, &a->precision)) return 2; a->given_precision = true; break;
        case O_STRIP: a->strip = optarg; break;
        case O_SCOLS: if (cli_long(PROG, "--strip-cols", optarg, 2, 64, &a->strip_cols)) return 2; break;
        case O_EACH: a->each = optarg; break;
        case O_ZOOM: if (cli_long(PROG, "--zoom", optarg, 1, 8, &a->zoom)) return 2; break;
        case O_ARENA: if (cli_long(PROG, "--arena-mb", optarg, 1, 1 << 20, &a->arena_mb)) return 2; break;
        }
    }
    if (optind < argc) return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind]);
    if (!a->unet) return cli_usage_error(PROG, "--unet FILE is required");
    if (!a->vae) return cli_usage_error(PROG, "--vae FILE is required");
    if (!a->out) return cli_usage_error(PROG, "--out FILE is required");
    if (a->device == DEV_CUDA && !dev_cuda_available())
        return cli_usage_error(PROG, "--device cuda: no CUDA device (or this build has no CUDA); use --device cpu");
    if (a->device == DEV_CUDA) dev_cuda_announce("ldm-sample");
    if (!a->given_precision) a->precision = cli_default_precision(a->device);
    return 0;
}

/* The 5x7 font draws capitals (lower case 'e' and 'x' look odd in words). */
static void capitals(char *s) {
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z') *s = (char)(*s - 'a' + 'A');
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The text chunks every PNG of this run carries. */
typedef struct {
    char params[1024], unet[600], vae[600], cfg[256];
    PngText t[6];
    int n;
} Meta;

static void meta_init(Meta *m, const SampleArgs *a, const Generator *g, const char *what) {
    snprintf(m->params, sizeof m->params,
             "sampler=%s steps=%ld eta=%g guidance=%g seed=%llu label=%s n=%ld ema=%d device=%s precision=%s preset=%s",
             sampler_name(a->sampler), a->steps, a->eta, a->guidance, (unsigned long long)a->seed, a->label, a->n,
             g->used_ema, device_name(a->device), cli_precision_name(a->precision), g->cfg.preset);
    snprintf(m->unet, sizeof m->unet, "%s (step %lld)", base_name(a->unet), g->unet_step);
    snprintf(m->vae, sizeof m->vae, "%s (step %lld, latent scale %.6g)", base_name(a->vae), g->vae_step,
             g->latent_scale);
    snprintf(m->cfg, sizeof m->cfg, "%s", what);
    m->t[0] = (PngText){"Software", "ldm.c ldm-sample"};
    m->t[1] = (PngText){"Parameters", m->params};
    m->t[2] = (PngText){"UNet", m->unet};
    m->t[3] = (PngText){"VAE", m->vae};
    m->t[4] = (PngText){"Content", m->cfg};
    m->n = 5;
}

int main(int argc, char **argv) {
    SampleArgs a;
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress and notes reach a log file as they happen */
    int rc = parse_args(argc, argv, &a);
    if (rc == 1) return 0;
    if (rc) return 2;

    Generator g;
    if (gen_open(&g, a.unet, a.vae, a.device, !a.no_ema, (size_t)a.arena_mb)) {
        fprintf(stderr, "ldm-sample: %s\n", ldm_last_error());
        return 1;
    }
    tape_set_precision(&g.tp, a.precision);
    const ModelConfig *cfg = &g.cfg;
    /* the rows: every class, one class, or the unconditional model */
    int rows[MAX_ROWS], n_rows = 0;
    if (!cfg->num_classes) {
        if (strcmp(a.label, "all"))
            fprintf(stderr, "ldm-sample: note: preset %s is unconditional; --label %s ignored\n", cfg->preset, a.label);
        rows[n_rows++] = -1;
    } else if (!strcmp(a.label, "all")) {
        for (int c = 0; c < cfg->num_classes; c++) rows[n_rows++] = c;
    } else {
        int c = cfg_class_index(cfg, a.label);
        if (c < 0) {
            fprintf(stderr, "ldm-sample: --label %s: %s\n", a.label, ldm_last_error());
            gen_close(&g);
            return 2;
        }
        rows[n_rows++] = c;
    }
    if (a.steps > cfg->timesteps) {
        fprintf(stderr, "ldm-sample: --steps %ld: the model has %d timesteps\n", a.steps, cfg->timesteps);
        gen_close(&g);
        return 2;
    }
    if (a.each && mkdir(a.each, 0777) && errno != EEXIST) {
        fprintf(stderr, "ldm-sample: --each %s: cannot create the folder: %s\n", a.each, strerror(errno));
        gen_close(&g);
        return 1;
    }

    const int S = cfg->image_size, C = cfg->channels, n = (int)a.n, K = (int)a.strip_cols;
    const size_t img = (size_t)S * S * C; /* values per image: (S, S, C) */
    float *x = malloc((size_t)n * img * sizeof(float));
    uint8_t *tiles = malloc((size_t)n_rows * n * img);
    float *strip_f = a.strip ? malloc((size_t)n_rows * (K + 1) * img * sizeof(float)) : NULL;
    int *strip_steps = malloc((size_t)K * sizeof(int));
    char names[MAX_ROWS][64], upper[MAX_ROWS][64];
    const char *row_labels[MAX_ROWS];
    rc = x && tiles && (!a.strip || strip_f) && strip_steps ? 0 : (ldm_error("sample", "out of memory"), 1);
    for (int i = 0; i < K; i++) strip_steps[i] = (int)lround((double)i * (a.steps - 1) / (K - 1));
    SamplerOpts so = {.kind = a.sampler, .steps = (int)a.steps, .eta = (float)a.eta, .guidance = (float)a.guidance,
                      .seed = a.seed};
    if (a.sampler == SAMPLER_DDPM) so.eta = 1.0f;
    printf("ldm-sample: preset %s, %d row%s x %d images, %s %ld steps, guidance %g, seed %llu on %s, precision %s (%s "
           "weights)\n",
           cfg->preset, n_rows, n_rows == 1 ? "" : "s", n, sampler_name(a.sampler), a.steps, a.guidance,
           (unsigned long long)a.seed, device_name(a.device), cli_precision_name(a.precision),
           g.used_ema ? "EMA" : "raw");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int r = 0; r < n_rows && !rc; r++) {
        if (rows[r] < 0) snprintf(names[r], sizeof names[r], "%s", cfg->preset);
        else cfg_class_name(cfg, rows[r], names[r], sizeof names[r]);
        snprintf(upper[r], sizeof upper[r], "%s", names[r]);
        capitals(upper[r]);
        row_labels[r] = upper[r];
        StripCapture sc = {K, strip_steps, strip_f ? strip_f + (size_t)r * (K + 1) * img : NULL};
        if (gen_images(&g, rows[r], n, &so, x, a.strip ? &sc : NULL)) {
            rc = 1;
            break;
        }
        grid_to_u8(x, (size_t)n * img, tiles + (size_t)r * n * img);
        if (strip_f) memcpy(strip_f + ((size_t)r * (K + 1) + K) * img, x, img * sizeof(float)); /* the final image */
        for (int i = 0; a.each && i < n && !rc; i++) {
            char path[1200], what[128];
            snprintf(path, sizeof path, "%s/%s_%03d.png", a.each, names[r], i);
            snprintf(what, sizeof what, "image %d of class %s", i, names[r]);
            Meta m;
            meta_init(&m, &a, &g, what);
            if (ldm_png_write(path, tiles + ((size_t)r * n + i) * img, S, S, C, m.t, m.n)) rc = 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (!rc) {
        char title[256];
        snprintf(title, sizeof title, "%s: %s %ld steps, guidance %g, seed %llu", cfg->preset, sampler_name(a.sampler),
                 a.steps, a.guidance, (unsigned long long)a.seed);
        capitals(title);
        GridSpec gs = {.rows = n_rows, .cols = n, .tile = S, .channels = C, .tiles = tiles, .row_labels = row_labels,
                       .title = title, .zoom = (int)a.zoom};
        int W, H;
        uint8_t *png = grid_render(&gs, &W, &H);
        Meta m;
        meta_init(&m, &a, &g, "grid: one row per class");
        if (!png || ldm_png_write(a.out, png, W, H, C, m.t, m.n)) rc = 1;
        free(png);
        if (!rc)
            printf("ldm-sample: wrote %s (%dx%d); %.2f s per image; batches of %d; activation memory peak %.0f of %.0f MB\n",
                   a.out, W, H, secs / (n_rows * n), g.chunk, g.arena->data_peak / 1048576.0,
                   g.arena->data_cap / 1048576.0);
    }
    if (!rc && a.strip) {
        uint8_t *st = malloc((size_t)n_rows * (K + 1) * img);
        char cap[65][16];
        const char *col_labels[65];
        int *ts = malloc((size_t)a.steps * sizeof(int));
        if (ts && !sampler_timesteps(&g.sched, (int)a.steps, ts))
            for (int i = 0; i < K; i++) snprintf(cap[i], sizeof cap[i], "t=%d", ts[strip_steps[i]]);
        else
            for (int i = 0; i < K; i++) snprintf(cap[i], sizeof cap[i], "step %d", strip_steps[i]);
        free(ts);
        for (int i = 0; i < K; i++) col_labels[i] = cap[i];
        snprintf(cap[K], sizeof cap[K], "final");
        col_labels[K] = cap[K];
        if (!st) rc = (ldm_error("sample", "out of memory"), 1);
        else {
            grid_to_u8(strip_f, (size_t)n_rows * (K + 1) * img, st);
            char title[256];
            snprintf(title, sizeof title, "predicted x0 while denoising (%s %ld steps)", sampler_name(a.sampler), a.steps);
            capitals(title);
            for (int i = 0; i <= K; i++) capitals(cap[i]);
            GridSpec gs = {.rows = n_rows, .cols = K + 1, .tile = S, .channels = C, .tiles = st, .row_labels = row_labels,
                           .col_labels = col_labels, .title = title, .zoom = (int)a.zoom};
            int W, H;
            uint8_t *png = grid_render(&gs, &W, &H);
            Meta m;
            meta_init(&m, &a, &g, "denoising strip: decoded x0 prediction per step, first image of each row");
            if (!png || ldm_png_write(a.strip, png, W, H, C, m.t, m.n)) rc = 1;
            else printf("ldm-sample: wrote %s\n", a.strip);
            free(png);
            free(st);
        }
    }
    if (rc) fprintf(stderr, "ldm-sample: %s\n", ldm_last_error());
    free(x), free(tiles), free(strip_f), free(strip_steps);
    gen_close(&g);
    return rc ? 1 : 0;
}
