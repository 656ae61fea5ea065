/* data/ldm_data.c — ldm-data: look at a data set the way the trainer will see it.
 *
 *   ldm-data info PATH                   layout, counts per split and class, the split
 *                                        rule and why, patients, image size, colour and
 *                                        depth, what was skipped or ignored and why
 *   ldm-data preview PATH --out grid.png labelled grid of preprocessed images
 *   ldm-data bench [PATH]                loader throughput (see data/data_bench.h)
 *
 * Exit status: 0 success, 1 runtime error (bad data, I/O), 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/error.h"
#include "data/data_bench.h"
#include "data/dataset.h"
#include "data/preview.h"

#define PROG "ldm-data"

static const char *usage_text =
    "Usage: ldm-data COMMAND [PATH] [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  info PATH              layout detected, images per split and class, the split rule\n"
    "                         and why, patients, image size, colour and bit depth and how\n"
    "                         they are read, files skipped or ignored and why\n"
    "  preview PATH --out F   write a labelled grid of preprocessed images to the PNG F\n"
    "  bench [PATH]           loader throughput; without PATH on synthetic ADNI-sized JPEGs\n"
    "\n"
    "PATH is an ADNI AD_NC folder, an OASIS keras_png_slices folder, a folder with one\n"
    "subfolder per class, a NIfTI volume (.nii, .nii.gz) or folder of them, or IDX files.\n"
    "\n"
    "Data options:\n"
    "  --layout L          auto (default), adni, oasis, folder, nifti, idx\n"
    "  --skip-bad          leave out corrupt, non-image or wrong-size files and count them\n"
    "  --seed N            seed of the validation split (default 0)\n"
    "  --val-patients N    groups (patients, or images) in the validation split (default:\n"
    "                      the layout's rule; ADNI: training images / 100, taken from\n"
    "                      test; others: a tenth of the training groups; 0: none)\n"
    "  --group-by G        what the split keeps together: image (the default for class\n"
    "                      folders), prefix (the patient before _<slice> in a file name:\n"
    "                      the default for ADNI and OASIS), or a regular expression on\n"
    "                      file names whose first (group) or whole match names the group\n"
    "  --axis A            NIfTI slicing axis: axial (default), coronal, sagittal\n"
    "  --min-fill F        NIfTI: keep slices with at least this fraction of tissue (0.05)\n"
    "  --threads N         decode threads (default 2)\n"
    "  --no-verify         do not decode every image at open (faster; errors come later)\n"
    "Preview options:\n"
    "  --out FILE          PNG to write (required)\n"
    "  --split S           train (default), val, test\n"
    "  --count N           images in the grid (default 32)\n"
    "  --cols N            tiles per row (default: about square)\n"
    "  --size N            output side in pixels (default 64; 0 keeps the squared size)\n"
    "  --fit F             pad (default), crop, stretch: how a non-square image is squared\n"
    "  --background N      pad value 0..255 (default 0)\n"
    "  --channels N        1: gray, as a channels=1 model sees it (default); 3: RGB\n"
    "Bench options:\n"
    "  --images N          synthetic JPEGs to write (default 2000)\n"
    "  --batch N           batch size (default 32)\n"
    "  --epochs N          epochs timed (default 2)\n"
    "  (and --threads, --size)\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 success, 1 runtime error, 2 usage error.\n";

// ---------------------------------------------------------------------------
// info

static void print_info(const Dataset *ds) {
    int total = ds->n_items, colour, alpha, deep;
    dataset_count_sources(ds, &colour, &alpha, &deep);
    const char *unit = ds->grouping == GROUP_PREFIX ? "patients" : "groups";
    printf("layout     %s\n", layout_name(ds->layout));
    printf("root       %s\n", ds->root);
    int unread = 0; /* files not decoded at open (--no-verify): their format is unknown */
    for (int i = 0; i < total; i++) unread += !ds->items[i].pixels && !ds->items[i].src_depth;
    if (unread) printf("images     %d, %dx%d (width x height); colour and depth not read (--no-verify)\n", total, ds->w, ds->h);
    else if (!colour && !deep) printf("images     %d, %dx%d (width x height), 8-bit gray\n", total, ds->w, ds->h);
    else printf("images     %d, %dx%d (width x height): %d gray, %d colour; %d 8-bit, %d 16-bit\n", total, ds->w,
                ds->h, total - colour, colour, total - deep, deep);
    if (colour)
        printf("colour     a gray model (channels=1) reads colour as BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B;\n"
               "           --set channels=3 keeps RGB (gray images then repeat in R, G and B)\n");
    if (alpha) printf("alpha      %d image%s with alpha: dropped (the colour under it is kept)\n", alpha, alpha == 1 ? "" : "s");
    if (deep)
        printf("16-bit     windowed to 8 bits per image as NIfTI volumes are: the image's minimum to the 99.5th\n"
               "           percentile of the samples above it\n");
    if (ds->n_classes) {
        printf("classes    %d:", ds->n_classes);
        for (int c = 0; c < ds->n_classes; c++) printf(" %s=%d", ds->classes[c], c);
        printf("\n");
    } else {
        printf("classes    none (unconditional)\n");
    }
    const char *rule = ds->split_rule ? ds->split_rule : "?", *nl = strchr(rule, '\n');
    printf("split      %.*s\n", nl ? (int)(nl - rule) : (int)strlen(rule), rule);
    if (nl) printf("           %s\n", nl + 1);
    printf("\n%-8s %9s %9s", "split", "images", unit);
    for (int c = 0; c < ds->n_classes; c++) printf(" %12.12s", ds->classes[c]);
    printf("\n");
    for (int s = 0; s < SPLIT_COUNT; s++) {
        int n = dataset_count(ds, (DataSplit)s, -1), p = dataset_count_patients(ds, (DataSplit)s);
        printf("%-8s %9d %9d", split_name((DataSplit)s), n, p);
        for (int c = 0; c < ds->n_classes; c++) printf(" %12d", dataset_count(ds, (DataSplit)s, c));
        printf("\n");
    }
    /* patients present in more than one split (should be 0) */
    int *where = calloc((size_t)ds->n_patients + 1, sizeof(int)), shared = 0, used = 0;
    if (where) {
        for (int i = 0; i < ds->n_items; i++) where[ds->items[i].patient] |= 1 << ds->items[i].split;
        for (int p = 0; p < ds->n_patients; p++) {
            used += where[p] != 0;
            shared += where[p] && (where[p] & (where[p] - 1));
        }
        free(where);
    }
    printf("\n%-10s %d in all; %d in more than one split%s\n", unit, used, shared, shared ? " (the splits leak!)" : "");
    printf("skipped    %d file%s\n", ds->n_skipped, ds->n_skipped == 1 ? "" : "s");
    for (int i = 0; i < ds->n_skipped; i++) printf("  %s: %s\n", ds->skipped[i].path, ds->skipped[i].why);
    if (ds->n_notes) printf("notes\n");
    for (int i = 0; i < ds->n_notes; i++) printf("  %s: %s\n", ds->notes[i].path, ds->notes[i].why);
}

// ---------------------------------------------------------------------------
// main

enum { OPT_LAYOUT = 256, OPT_GROUP, OPT_SKIP_BAD, OPT_SEED, OPT_VAL, OPT_AXIS, OPT_MIN_FILL, OPT_THREADS, OPT_NO_VERIFY,
       OPT_CHANNELS, OPT_OUT, OPT_SPLIT, OPT_COUNT, OPT_COLS, OPT_SIZE, OPT_FIT, OPT_BG, OPT_IMAGES, OPT_BATCH, OPT_EPOCHS };

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"layout", required_argument, 0, OPT_LAYOUT}, {"skip-bad", no_argument, 0, OPT_SKIP_BAD},
        {"group-by", required_argument, 0, OPT_GROUP},
        {"seed", required_argument, 0, OPT_SEED},     {"val-patients", required_argument, 0, OPT_VAL},
        {"axis", required_argument, 0, OPT_AXIS},     {"min-fill", required_argument, 0, OPT_MIN_FILL},
        {"threads", required_argument, 0, OPT_THREADS}, {"no-verify", no_argument, 0, OPT_NO_VERIFY},
        {"out", required_argument, 0, OPT_OUT},       {"split", required_argument, 0, OPT_SPLIT},
        {"count", required_argument, 0, OPT_COUNT},   {"cols", required_argument, 0, OPT_COLS},
        {"size", required_argument, 0, OPT_SIZE},     {"fit", required_argument, 0, OPT_FIT},
        {"background", required_argument, 0, OPT_BG}, {"images", required_argument, 0, OPT_IMAGES},
        {"channels", required_argument, 0, OPT_CHANNELS},
        {"batch", required_argument, 0, OPT_BATCH},   {"epochs", required_argument, 0, OPT_EPOCHS},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    DataOptions dopt;
    data_options_default(&dopt);
    PreviewOptions popt = {.split = SPLIT_TRAIN, .count = 32, .cols = 0, .tf = {.size = 64, .fit = FIT_PAD}};
    DataBenchOptions bopt = {0};
    const char *out = NULL;
    int c;
    long v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': fputs(usage_text, stdout); return 0;
        case OPT_LAYOUT:
            if (layout_parse(optarg, &dopt.layout)) return cli_usage_error(PROG, "%s", ldm_last_error());
            break;
        case OPT_GROUP:
            if (group_by_parse(optarg, &dopt)) return cli_usage_error(PROG, "%s", ldm_last_error());
            break;
        case OPT_SKIP_BAD: dopt.skip_bad = true; break;
        case OPT_NO_VERIFY: dopt.verify = false; break;
        case OPT_SEED: {
            uint64_t seed;
            if (cli_u64(PROG, "--seed", optarg, &seed)) return 2;
            dopt.seed = seed;
            break;
        }
        case OPT_VAL:
            if (cli_long(PROG, "--val-patients", optarg, 0, 1000000, &v)) return 2;
            dopt.val_patients = (int)v;
            break;
        case OPT_AXIS:
            if (axis_parse(optarg, &dopt.axis)) return cli_usage_error(PROG, "%s", ldm_last_error());
            break;
        case OPT_MIN_FILL: {
            double f;
            if (cli_double(PROG, "--min-fill", optarg, 0, 1, &f)) return 2;
            dopt.min_fill = (float)f;
            break;
        }
        case OPT_THREADS:
            if (cli_long(PROG, "--threads", optarg, 1, 64, &v)) return 2;
            dopt.threads = bopt.threads = (int)v;
            break;
        case OPT_OUT: out = optarg; break;
        case OPT_SPLIT:
            if (!strcmp(optarg, "train")) popt.split = SPLIT_TRAIN;
            else if (!strcmp(optarg, "val")) popt.split = SPLIT_VAL;
            else if (!strcmp(optarg, "test")) popt.split = SPLIT_TEST;
            else return cli_usage_error(PROG, "--split %s: want train, val or test", optarg);
            break;
        case OPT_COUNT:
            if (cli_long(PROG, "--count", optarg, 1, 1024, &v)) return 2;
            popt.count = (int)v;
            break;
        case OPT_COLS:
            if (cli_long(PROG, "--cols", optarg, 1, 1024, &v)) return 2;
            popt.cols = (int)v;
            break;
        case OPT_SIZE:
            if (cli_long(PROG, "--size", optarg, 0, TRANSFORM_MAX_SIDE, &v)) return 2;
            popt.tf.size = bopt.size = (int)v;
            break;
        case OPT_FIT:
            if (fit_parse(optarg, &popt.tf.fit)) return cli_usage_error(PROG, "%s", ldm_last_error());
            break;
        case OPT_BG:
            if (cli_long(PROG, "--background", optarg, 0, 255, &v)) return 2;
            popt.tf.background = (uint8_t)v;
            break;
        case OPT_CHANNELS:
            if (cli_long(PROG, "--channels", optarg, 1, 3, &v) || v == 2)
                return v == 2 ? cli_usage_error(PROG, "--channels %s: want 1 or 3", optarg) : 2;
            popt.tf.channels = (int)v;
            break;
        case OPT_IMAGES:
            if (cli_long(PROG, "--images", optarg, 1, 1000000, &v)) return 2;
            bopt.images = (int)v;
            break;
        case OPT_BATCH:
            if (cli_long(PROG, "--batch", optarg, 1, 4096, &v)) return 2;
            bopt.batch = (int)v;
            break;
        case OPT_EPOCHS:
            if (cli_long(PROG, "--epochs", optarg, 1, 1000, &v)) return 2;
            bopt.epochs = (int)v;
            break;
        default:
            return cli_usage_error(PROG, "unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    int npos = argc - optind;
    if (npos < 1) return cli_usage_error(PROG, "%s", "no command (info, preview or bench)");
    const char *cmd = argv[optind], *path = npos > 1 ? argv[optind + 1] : NULL;
    if (npos > 2) return cli_usage_error(PROG, "unexpected argument '%s'", argv[optind + 2]);
    if (!strcmp(cmd, "bench")) {
        bopt.path = path;
        DataBenchResult r;
        if (data_bench(&bopt, &r, stdout)) ldm_die();
        return 0;
    }
    if (strcmp(cmd, "info") && strcmp(cmd, "preview")) return cli_usage_error(PROG, "unknown command '%s' (info, preview or bench)", cmd);
    if (!path) return cli_usage_error(PROG, "%s needs a PATH", cmd);
    if (!strcmp(cmd, "preview") && !out) return cli_usage_error(PROG, "%s", "preview needs --out FILE.png");
    Dataset *ds = dataset_open(path, &dopt);
    if (!ds) ldm_die();
    int rc = 0;
    if (!strcmp(cmd, "info")) {
        print_info(ds);
    } else {
        rc = data_preview(ds, &popt, out);
        if (!rc) printf("wrote %s (%s split)\n", out, split_name(popt.split));
    }
    if (ds->n_skipped && !strcmp(cmd, "preview")) fprintf(stderr, "ldm-data: skipped %d bad file%s (see ldm-data info)\n",
                                                        ds->n_skipped, ds->n_skipped == 1 ? "" : "s");
    dataset_free(ds);
    if (rc) ldm_die();
    return 0;
}
