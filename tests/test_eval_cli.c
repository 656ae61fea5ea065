/* tests/test_eval_cli.c — ldm-eval as a user runs it, on a tiny configuration (16x16 images,
 * the models of tests/test_train_cli.c), so every run takes about a second:
 *   - classifier trains, reports per-class held-out accuracy, writes a "classifier"
 *     checkpoint and JSON;
 *   - samples judges a folder of images and a U-Net + VAE; given copies of the data set's
 *     own images it finds them memorised and correctly classified;
 *   - vae reports PSNR / SSIM / MS-SSIM;
 *   - bad input: a checkpoint of the wrong kind, a classifier for other sizes or classes,
 *     an empty folder, a misnamed or wrong-size image, a missing file: exit 1 and the
 *     file named; bad flags: exit 2.
 * The binaries are the ones built beside this test (<build>/ldm-eval, ldm-train). */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "models/checkpoint.h"
#include "sample/eval_data.h"
#include "tests/util/data_fixtures.h"
#include "tests/util/testutil.h"

static char *tmp, bindir[4096], out[65536];

#define TINY                                                                                                  \
    "--preset demo --set image_size=16 --set data_size=16 --set vae_ch=8 --set vae_groups=4 --set unet_ch=16 " \
    "--set unet_groups=4 --set head_dim=16 --set ctx_dim=16 --set attn_res=2 --set unet_mult=1,2 --device cpu "   \
    "--batch 4 --quiet"
/* The classifier's config is the models' (it travels in its checkpoint and must be valid). */
#define CLS16                                                                                                 \
    "--preset demo --set image_size=16 --set data_size=16 --set vae_ch=8 --set vae_groups=4 --set unet_ch=16 " \
    "--set unet_groups=4 --set head_dim=16 --set ctx_dim=16 --set attn_res=2 --set unet_mult=1,2 --device cpu "   \
    "--quiet"

static const char *cls_names[3] = {"inferior", "middle", "superior"};

/* 16x16 blob of class c (its centre moves with the class), patient p, slice s */
static void blob(uint8_t *px, int c, int p, int s) {
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            int dx = x - 3 - 4 * c - s % 2, dy = y - 5 - p;
            int v = 230 - 12 * (dx * dx + dy * dy);
            px[y * 16 + x] = (uint8_t)(v < 0 ? 0 : v);
        }
}

/* data/<class>/p<k>_<slice>.png (3 classes x 4 patients x 3 slices) and the same images as
 * copies/<class>_<p><s>.png, the names ldm-sample --each writes */
static void make_fixture(void) {
    uint8_t px[256];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 4; p++)
            for (int s = 0; s < 3; s++) {
                blob(px, c, p, s);
                char rel[128];
                snprintf(rel, sizeof rel, "data/%s/p%d_%d.png", cls_names[c], p, s);
                char *path = fx_path(tmp, rel);
                cr_assert_eq(fx_write_png(path, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
                free(path);
                snprintf(rel, sizeof rel, "copies/%s_%d%d.png", cls_names[c], p, s);
                path = fx_path(tmp, rel);
                cr_assert_eq(fx_write_png(path, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
                free(path);
            }
    /* two classes only: a data set that does not fit a 3-class classifier */
    for (int c = 0; c < 2; c++)
        for (int p = 0; p < 3; p++) {
            blob(px, c, p, 0);
            char rel[128];
            snprintf(rel, sizeof rel, "two/%s/p%d_0.png", cls_names[c], p);
            char *path = fx_path(tmp, rel);
            cr_assert_eq(fx_write_png(path, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
            free(path);
        }
    char *empty = fx_path(tmp, "empty/x");
    *strrchr(empty, '/') = '\0';
    mkdir(empty, 0777);
    free(empty);
}

static void setup(void) {
    cr_assert((tmp = fx_tmpdir()));
    tu_build_dir(bindir, sizeof bindir);
    make_fixture();
}
static void teardown(void) {
    fx_rmtree(tmp);
    free(tmp);
}
TestSuite(eval_cli, .init = setup, .fini = teardown, .timeout = 120);

/* "<build>/<prog> <args>" (printf-formatted), stdout + stderr into `out`; the exit status. */
#define run(prog, ...) tu_run_cli(bindir, out, sizeof out, prog, __VA_ARGS__)

/* The JSON report as text (core/json.h parses integers only: the report has real numbers,
 * so the tests read values by key with strtod). */
static char *load_json(const char *name) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "no %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    cr_assert(n > 2 && buf[0] == '{' && buf[n - 2] == '}', "%s is not a JSON object:\n%s", path, buf);
    return buf;
}

/* The number after the first "key": at or after `from`. */
static double num(const char *from, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(from, pat);
    cr_assert_not_null(p, "no '%s' in the report", key);
    char *end;
    double v = strtod(p + strlen(pat), &end);
    cr_assert(end != p + strlen(pat), "'%s' is not a number", key);
    return v;
}

static int count(const char *s, const char *pat) {
    int n = 0;
    for (const char *p = strstr(s, pat); p; p = strstr(p + 1, pat)) n++;
    return n;
}

static void train_classifier(const char *name, const char *extra) {
    int rc = run("ldm-eval", "classifier --data %s/data --group-by prefix --out %s/%s " CLS16 " --steps 60 --batch 8 --lr 3e-3 %s", tmp,
                 tmp, name, extra);
    cr_assert_eq(rc, 0, "ldm-eval classifier failed (%d):\n%s", rc, out);
}

static void train_pair(void) {
    int rc = run("ldm-train", "vae " TINY " --data %s/data --group-by prefix --out %s/m --steps 2", tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    rc = run("ldm-train", "unet " TINY " --data %s/data --group-by prefix --vae %s/m/vae.safetensors --out %s/m --steps 2", tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
}

// ----------------------------------------------------------------------------
// the commands

Test(eval_cli, classifier_reports_held_out_accuracy_and_writes_its_checkpoint) {
    int rc = run("ldm-eval", "classifier --data %s/data --group-by prefix --out %s/c.safetensors " CLS16
                 " --steps 60 --batch 8 --lr 3e-3 --json %s/c.json", tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "middle") && strstr(out, "overall"), "%s", out);
    const char *j = load_json("c.json");
    cr_expect_eq(num(j, "heldout_images"), 9); /* the folder layout's validation split: 3 patients x 3 slices */
    cr_expect_geq(num(j, "accuracy"), 0.7, "blobs of three positions are easy to tell apart");
    cr_expect_eq(count(j, "\"name\""), 3);
    char p[4400];
    snprintf(p, sizeof p, "%s/c.safetensors", tmp);
    Checkpoint ck;
    cr_assert_eq(checkpoint_open(&ck, p, "classifier", NULL), 0, "%s", ldm_last_error());
    cr_expect_eq(ck.cfg.image_size, 16);
    cr_expect_eq(ck.cfg.num_classes, 3);
    cr_expect_not_null(checkpoint_meta(&ck, "classifier"));
    checkpoint_close(&ck);
}

/* The judge takes the data's class names, as ldm-train does, even when the preset has as
 * many classes under other names (Fashion-MNIST's "T-shirt/top" vs the preset's "tshirt"):
 * otherwise no model trained on the data would match it. */
Test(eval_cli, classifier_takes_the_data_class_names) {
    static const char *other[3] = {"lower", "mid", "upper"};
    uint8_t px[256];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 3; p++) {
            blob(px, c, p, 0);
            char rel[128];
            snprintf(rel, sizeof rel, "named/%s/p%d_0.png", other[c], p);
            char *path = fx_path(tmp, rel);
            cr_assert_eq(fx_write_png(path, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
            free(path);
        }
    int rc = run("ldm-eval", "classifier --data %s/named --group-by prefix --out %s/n.safetensors " CLS16 " --steps 2",
                 tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    char p[4400];
    snprintf(p, sizeof p, "%s/n.safetensors", tmp);
    Checkpoint ck;
    cr_assert_eq(checkpoint_open(&ck, p, "classifier", NULL), 0, "%s", ldm_last_error());
    cr_expect_str_eq(ck.cfg.class_names, "lower,mid,upper");
    checkpoint_close(&ck);
}

Test(eval_cli, copies_of_the_data_are_recognised_and_found_memorised) {
    train_classifier("c.safetensors", "");
    int rc = run("ldm-eval", "samples --classifier %s/c.safetensors --data %s/data --group-by prefix --images %s/copies --device cpu "
                 "--json %s/s.json --plot %s/emb.png", tmp, tmp, tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    const char *j = load_json("s.json");
    const char *all = strstr(j, "\"overall\": {");
    cr_assert_not_null(all, "%s", j);
    cr_expect_eq(num(all, "generated"), 36);
    /* 27 of the 36 copies are training images (distance 0 to the training set), below any
     * threshold; the 9 held-out ones sit at the held-out distances themselves, of which at
     * most the lowest 5% fall below the threshold */
    cr_expect_geq(num(all, "memorisation_share"), 27.0 / 36 - 1e-9, "%s", out);
    cr_expect_leq(num(all, "memorisation_share"), 28.0 / 36 + 1e-9, "%s", out);
    cr_expect_geq(num(all, "accuracy"), 0.7, "%s", out);
    cr_expect_geq(num(all, "precision"), 0.99, "the real images lie on the real manifold");
    cr_expect_eq(count(j, "\"class\""), 4, "three classes and the overall row");
    struct stat st;
    char p[4400];
    snprintf(p, sizeof p, "%s/emb.png", tmp);
    cr_expect(stat(p, &st) == 0 && st.st_size > 1000, "no plot");
}

Test(eval_cli, samples_from_a_unet_and_vae_reconstructions) {
    train_classifier("c.safetensors", "");
    train_pair();
    int rc = run("ldm-eval", "samples --classifier %s/c.safetensors --data %s/data --group-by prefix --unet %s/m/unet.safetensors "
                 "--vae %s/m/vae.safetensors --n 5 --steps 3 --device cpu --json %s/g.json", tmp, tmp, tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "FD floor") && strstr(out, "memorised"), "%s", out);
    const char *j = load_json("g.json");
    const char *all = strstr(j, "\"overall\": {");
    cr_assert_not_null(all, "%s", j);
    cr_expect_eq(num(all, "generated"), 15);
    cr_expect_geq(num(all, "fd"), 0);
    rc = run("ldm-eval", "vae --vae %s/m/vae.safetensors --data %s/data --group-by prefix --classifier %s/c.safetensors --device cpu "
             "--json %s/v.json", tmp, tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    j = load_json("v.json");
    cr_expect_eq(num(j, "images"), 9);
    cr_expect(num(j, "psnr") > 0 && num(j, "psnr") < 100);
    cr_expect(num(j, "ssim") > -1 && num(j, "ssim") <= 1);
    cr_expect_eq(num(j, "ms_ssim_scales"), 1, "16x16 allows one 11x11 scale");
    cr_expect(strstr(out, "MS-SSIM  -"), "%s", out);
}

/* The last CSV row's text (the file's last line). */
static void last_csv_row(const char *path, char *row, size_t n) {
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no %s", path);
    char line[512];
    row[0] = '\0';
    while (fgets(line, sizeof line, f)) snprintf(row, n, "%s", line);
    fclose(f);
}

/* Column c (0 = step) of a CSV row as a number; NAN when empty. */
static double csv_col(const char *row, int c) {
    const char *p = row;
    for (int i = 0; i < c; i++) {
        p = strchr(p, ',');
        cr_assert_not_null(p, "row has no column %d: %s", c, row);
        p++;
    }
    char *end;
    double v = strtod(p, &end);
    return end == p ? NAN : v;
}

/* --eval-every logs what ldm-eval samples measures on the same EMA weights, and leaves the
 * training itself untouched (the weights swapped in for sampling are swapped back). */
Test(eval_cli, unet_eval_every_logs_what_ldm_eval_measures) {
    train_classifier("c.safetensors", "");
    train_pair();
    int rc = run("ldm-train", "unet " TINY " --data %s/data --group-by prefix --vae %s/m/vae.safetensors --out %s/e --steps 4 "
                 "--eval-every 2 --classifier %s/c.safetensors --eval-n 3 --eval-steps 2", tmp, tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    char path[4400], row[512], plain[512];
    snprintf(path, sizeof path, "%s/e/unet.csv", tmp);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char line[512];
    int evals = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "step", 4)) {
            cr_expect(strstr(line, "gen_accuracy,gen_fd"), "header: %s", line);
            continue;
        }
        const int step = (int)csv_col(line, 0);
        const double acc = csv_col(line, 5), fd = csv_col(line, 6);
        cr_expect_eq(!isnan(acc), step % 2 == 0, "step %d: accuracy only at steps 2 and 4 (%s)", step, line);
        if (!isnan(acc)) {
            evals++;
            cr_expect(acc >= 0 && acc <= 1 && fd >= 0, "%s", line);
        }
    }
    fclose(f);
    cr_expect_eq(evals, 2);
    last_csv_row(path, row, sizeof row);
    /* ldm-eval samples on the checkpoint: the same seed, sampler, steps, guidance and EMA weights */
    rc = run("ldm-eval", "samples --classifier %s/c.safetensors --data %s/data --group-by prefix --unet %s/e/unet.safetensors "
             "--vae %s/m/vae.safetensors --n 3 --steps 2 --sampler ddim --guidance 3 --seed 1234 --device cpu --quiet "
             "--json %s/ge.json", tmp, tmp, tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    const char *all = strstr(load_json("ge.json"), "\"overall\": {");
    cr_assert_not_null(all);
    cr_expect_float_eq(csv_col(row, 5), num(all, "accuracy"), 1e-5, "%s", row);
    cr_expect_float_eq(csv_col(row, 6), num(all, "fd"), 1e-5 * num(all, "fd") + 1e-9, "csv %s vs ldm-eval fd %g", row,
                       num(all, "fd"));
    /* the same run without the evaluations: the same losses, step for step */
    rc = run("ldm-train", "unet " TINY " --data %s/data --group-by prefix --vae %s/m/vae.safetensors --out %s/p --steps 4", tmp,
             tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    snprintf(path, sizeof path, "%s/p/unet.csv", tmp);
    last_csv_row(path, plain, sizeof plain);
    cr_expect_eq(csv_col(plain, 1), csv_col(row, 1), "loss at step 4 with evaluations %s vs without %s", row, plain);
    /* and the plot has the evaluation row under the loss */
    snprintf(path, sizeof path, "%s/e/unet_loss.png", tmp);
    FILE *png = fopen(path, "rb");
    cr_assert_not_null(png);
    unsigned char hdr[24];
    cr_assert_eq(fread(hdr, 1, 24, png), 24);
    fclose(png);
    const int h = hdr[20] << 24 | hdr[21] << 16 | hdr[22] << 8 | hdr[23];
    cr_expect_eq(h, 620, "loss plot height %d: 400 + the 220 of the evaluation charts", h);
}

static int usage_rc(const char *flags) {
    return run("ldm-train", "unet " TINY " --data %s/data --vae v --out %s/u %s", tmp, tmp, flags);
}

Test(eval_cli, unet_eval_flags_go_together) {
    cr_expect_eq(usage_rc("--eval-every 2"), 2, "%s", out);
    cr_expect(strstr(out, "--classifier"), "%s", out);
    cr_expect_eq(usage_rc("--classifier c.safetensors"), 2, "%s", out);
    cr_expect_eq(usage_rc("--eval-every 2 --classifier c --eval-n 1"), 2, "%s", out);
    train_classifier("c.safetensors", "");
    train_pair();
    int rc = run("ldm-train", "unet " TINY " --data %s/data --group-by prefix --vae %s/m/vae.safetensors --out %s/e --steps 2 "
                 "--eval-every 2 --classifier %s/m/vae.safetensors", tmp, tmp, tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "--classifier") && strstr(out, "m/vae.safetensors"), "%s", out);
}

/* One volume has no held-out split: every 5th kept slice is held out, never trained on. */
Test(eval_cli, a_single_volume_holds_out_every_fifth_slice) {
    FxNifti h = {.dim = {16, 16, 30, 1}, .datatype = 4};
    double v[16 * 16 * 30];
    for (int z = 0; z < 30; z++)
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) /* a ball-ish blob over slices 3..26 */
                v[(z * 16 + y) * 16 + x] = (z >= 3 && z < 27 && abs(x - 8) + abs(y - 8) < 6) ? 100 + z : 0;
    size_t n;
    uint8_t *b = fx_nifti_bytes(&h, v, &n);
    char *p = fx_path(tmp, "vol.nii");
    cr_assert_eq(fx_write_buf(p, b, n, 0), 0);
    EvalData e;
    cr_assert_eq(eval_data_open(&e, p, LAYOUT_AUTO, NULL, 3), 0, "%s", ldm_last_error());
    const int total = e.ds->n_items;
    cr_expect(e.held_from_train);
    cr_expect_eq(e.n_held, total / EVAL_HOLDOUT_EVERY, "%d of %d", e.n_held, total);
    cr_expect_eq(e.n_train + e.n_held, total);
    for (int i = 0; i < e.n_held; i++) {
        cr_expect_eq(e.held[i], EVAL_HOLDOUT_EVERY * i + EVAL_HOLDOUT_EVERY - 1, "held item %d", i);
        for (int j = 0; j < e.n_train; j++) cr_assert_neq(e.train[j], e.held[i], "item %d both trained and held out", e.held[i]);
    }
    eval_data_close(&e);
    cr_expect_neq(eval_data_open(&e, p, LAYOUT_AUTO, NULL, 2), 0, "a 3-class volume for a 2-class model");
    cr_expect(strstr(ldm_last_error(), "vol.nii") && strstr(ldm_last_error(), "3 classes"), "%s", ldm_last_error());
    free(p), free(b);
}

// ----------------------------------------------------------------------------
// bad input

Test(eval_cli, wrong_checkpoints_and_mismatched_models_are_refused_naming_the_file) {
    train_classifier("c.safetensors", "");
    train_pair();
    /* a U-Net where the classifier belongs */
    int rc = run("ldm-eval", "samples --classifier %s/m/unet.safetensors --data %s/data --group-by prefix --images %s/copies --device cpu",
                 tmp, tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "m/unet.safetensors") && strstr(out, "classifier"), "%s", out);
    /* a classifier where the VAE belongs */
    rc = run("ldm-eval", "vae --vae %s/c.safetensors --data %s/data --group-by prefix --device cpu", tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "c.safetensors") && strstr(out, "expected a vae"), "%s", out);
    /* a classifier for 32x32 images against the 16x16 models */
    rc = run("ldm-eval", "classifier --data %s/data --group-by prefix --out %s/c32.safetensors --preset demo --set image_size=32 "
             "--set data_size=32 --set attn_res=4 --device cpu --quiet --steps 1", tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    rc = run("ldm-eval", "samples --classifier %s/c32.safetensors --data %s/data --group-by prefix --unet %s/m/unet.safetensors "
             "--vae %s/m/vae.safetensors --n 2 --steps 2 --device cpu", tmp, tmp, tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "c32.safetensors") && strstr(out, "32x32") && strstr(out, "16x16"), "%s", out);
    /* a data set with other classes than the classifier */
    rc = run("ldm-eval", "samples --classifier %s/c.safetensors --data %s/two --images %s/copies --device cpu", tmp, tmp,
             tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "/two") && strstr(out, "2 classes"), "%s", out);
    /* a missing file */
    rc = run("ldm-eval", "samples --classifier %s/nope.safetensors --data %s/data --group-by prefix --images %s/copies", tmp, tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "nope.safetensors"), "%s", out);
}

Test(eval_cli, bad_image_folders_are_refused_naming_the_file) {
    train_classifier("c.safetensors", "");
    int rc = run("ldm-eval", "samples --classifier %s/c.safetensors --data %s/data --group-by prefix --images %s/empty", tmp, tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "empty") && strstr(out, "no <class>_<i>.png"), "%s", out);
    uint8_t px[400] = {0};
    char *p = fx_path(tmp, "bad1/middle_0.png");
    cr_assert_eq(fx_write_png(p, px, 20, 20, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
    free(p);
    rc = run("ldm-eval", "samples --classifier %s/c.safetensors --data %s/data --group-by prefix --images %s/bad1", tmp, tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "middle_0.png") && strstr(out, "20x20"), "%s", out);
    p = fx_path(tmp, "bad2/lateral_0.png");
    cr_assert_eq(fx_write_png(p, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
    free(p);
    rc = run("ldm-eval", "samples --classifier %s/c.safetensors --data %s/data --group-by prefix --images %s/bad2", tmp, tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "lateral_0.png"), "%s", out);
}

Test(eval_cli, usage_errors_exit_2) {
    cr_expect_eq(run("ldm-eval", "%s", ""), 2, "%s", out);
    cr_expect_eq(run("ldm-eval", "judge --data x"), 2, "%s", out);
    cr_expect_eq(run("ldm-eval", "samples --data x --images y"), 2, "%s", out);
    cr_expect(strstr(out, "--classifier"), "%s", out);
    cr_expect_eq(run("ldm-eval", "samples --data x --classifier c --images y --unet u --vae v"), 2, "%s", out);
    cr_expect_eq(run("ldm-eval", "samples --data x --classifier c --unet u"), 2, "%s", out);
    cr_expect_eq(run("ldm-eval", "classifier --data x"), 2, "%s", out);
    cr_expect_eq(run("ldm-eval", "classifier --data x --out y --steps -1"), 2, "%s", out);
    cr_expect_eq(run("ldm-eval", "vae --data x --vae v --set a=b"), 2, "%s", out);
    cr_expect_eq(run("ldm-eval", "classifier --data %s/data --group-by prefix --out %s/z.safetensors --preset nosuch", tmp, tmp), 2, "%s",
                 out);
    cr_expect_eq(run("ldm-eval", "--help"), 0);
    cr_expect(strstr(out, "precision") && strstr(out, "memorised"), "%s", out);
}
