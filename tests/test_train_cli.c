/* tests/test_train_cli.c — ldm-train and ldm-sample as a user runs them, on a tiny
 * image-folder fixture (3 classes, 16x16 PNGs, several patients) with a tiny `demo`
 * configuration (--set), so every run takes a fraction of a second:
 *   - a few-step VAE run and U-Net run write the checkpoint, the CSV and the loss PNG;
 *   - stopping and resuming gives the losses and final tensors of an uninterrupted run,
 *     bit for bit (VAE and U-Net: data order, RNG offsets, AdamW moments, EMA);
 *   - ldm-sample writes PNGs of the expected size with the parameters in a tEXt chunk,
 *     the same pixels for the same seed;
 *   - bad flags, missing files, a checkpoint of the wrong kind or preset, a diverging
 *     loss: a clear message and a non-zero exit status;
 *   - kill -9 during training leaves a complete checkpoint that resumes.
 * The binaries are the ones built beside this test (<build>/ldm-train, <build>/ldm-sample);
 * the tests are skipped with a message when they are not built. */
#include <criterion/criterion.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/safetensors.h"
#include "models/checkpoint.h"
#include "tests/util/data_fixtures.h"
#include "tests/util/testutil.h"

extern char **environ;

static char *tmp, bindir[4096], out[65536];

/* The tiny model: a 16x16 `demo` (VAE f4 -> 4x4x4 latent, U-Net 16 wide, 2 levels). */
#define TINY                                                                                                  \
    "--preset demo --set image_size=16 --set data_size=16 --set vae_ch=8 --set vae_groups=4 --set unet_ch=16 " \
    "--set unet_groups=4 --set head_dim=16 --set ctx_dim=16 --set attn_res=2 --set unet_mult=1,2 --device cpu "   \
    "--batch 4 --quiet"

/* 3 classes x 4 patients x 3 slices of smooth 16x16 blobs: class/p<k>_<slice>.png */
static void make_fixture(void) {
    static const char *cls[3] = {"inferior", "middle", "superior"};
    uint8_t px[16 * 16];
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < 4; p++)
            for (int s = 0; s < 3; s++) {
                for (int y = 0; y < 16; y++)
                    for (int x = 0; x < 16; x++) {
                        int dx = x - 5 - 2 * c - s, dy = y - 6 - p;
                        int v = 230 - 12 * (dx * dx + dy * dy);
                        px[y * 16 + x] = (uint8_t)(v < 0 ? 0 : v);
                    }
                char rel[128];
                snprintf(rel, sizeof rel, "data/%s/p%d_%d.png", cls[c], p, s);
                char *path = fx_path(tmp, rel);
                cr_assert_eq(fx_write_png(path, px, 16, 16, PNG_COLOR_TYPE_GRAY, 8, NULL, 0, 0), 0);
                free(path);
            }
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
TestSuite(train_cli, .init = setup, .fini = teardown, .timeout = 120);

/* Runs "<build>/<prog> <args>" (args printf-formatted; "%T" is not special: use the tmp
 * variable), stdout + stderr into `out`; returns the exit status. */
/* "<build>/<prog> <args>" (printf-formatted), stdout + stderr into `out`; the exit status. */
#define run(prog, ...) tu_run_cli(bindir, out, sizeof out, prog, __VA_ARGS__)

static int file_exists(const char *dir, const char *name) {
    char p[4400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

/* A CSV without its timing column (images_per_s, found by name in the header): every
 * other column (step, loss, lr, val_loss, ...) is deterministic. */
static char *csv_deterministic(const char *path) {
    char *s = tu_read_text(path);
    cr_assert_not_null(s, "no %s", path);
    char *o = malloc(strlen(s) + 2), *w = o;
    int drop = -1;
    for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
        int col = 0;
        for (char *f = line, *end;; f = end + 1, col++) {
            end = strchr(f, ',');
            size_t len = end ? (size_t)(end - f) : strlen(f);
            if (drop < 0 && !strncmp(f, "images_per_s", len) && len == strlen("images_per_s")) drop = col;
            if (col != drop) {
                memcpy(w, f, len);
                w += len;
                *w++ = ',';
            }
            if (!end) break;
        }
        w[-1] = '\n';
    }
    *w = '\0';
    cr_assert_geq(drop, 0, "%s has no images_per_s column", path);
    free(s);
    return o;
}

/* Every tensor of two safetensors files, byte for byte. */
static void expect_same_tensors(const char *a, const char *b) {
    SafeTensors x, y;
    cr_assert_eq(st_load(a, &x), 0, "%s", ldm_last_error());
    cr_assert_eq(st_load(b, &y), 0, "%s", ldm_last_error());
    cr_assert_eq(x.n, y.n);
    for (int i = 0; i < x.n; i++) {
        const StEntry *e = &x.entries[i], *f = st_find(&y, e->name);
        cr_assert_not_null(f, "%s missing in %s", e->name, b);
        cr_assert_eq(e->end - e->begin, f->end - f->begin);
        cr_expect(!memcmp(x.data + e->begin, y.data + f->begin, e->end - e->begin), "tensor %s differs", e->name);
    }
    const char *keys[] = {"step", "train.rng_offset", "latent_scale"};
    for (int i = 0; i < 3; i++) cr_expect_str_eq(st_meta(&x, keys[i]), st_meta(&y, keys[i]), "%s", keys[i]);
    st_free(&x);
    st_free(&y);
}

static void train_vae(const char *dir, int steps) {
    int rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/%s --steps %d", tmp, tmp, dir, steps);
    cr_assert_eq(rc, 0, "ldm-train vae failed (%d):\n%s", rc, out);
}

// ----------------------------------------------------------------------------
// runs write their files

Test(train_cli, vae_run_writes_checkpoint_csv_and_plot) {
    train_vae("v", 4);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/v", tmp);
    cr_expect(file_exists(dir, "vae.safetensors"));
    cr_expect(file_exists(dir, "vae_loss.png"));
    char csv[4300];
    snprintf(csv, sizeof csv, "%s/vae.csv", dir);
    char *c = tu_read_text(csv);
    cr_assert_not_null(c);
    cr_expect(!strncmp(c, "step,loss,lr,val_loss,images_per_s,gen_accuracy,gen_fd\n", 55), "%s", c);
    int rows = 0;
    for (char *p = c; *p; p++) rows += *p == '\n';
    cr_expect_eq(rows, 5, "header + 4 steps:\n%s", c);
    free(c);
    Checkpoint ck;
    char path[4300];
    snprintf(path, sizeof path, "%s/vae.safetensors", dir);
    cr_assert_eq(checkpoint_open(&ck, path, "vae", NULL), 0, "%s", ldm_last_error());
    cr_expect_eq(ck.step, 4);
    cr_expect(ck.latent_scale > 0 && ck.latent_scale != 1.0, "latent scale %g was measured", ck.latent_scale);
    cr_expect(checkpoint_has_group(&ck, "adam.m.") && checkpoint_has_group(&ck, "adam.v."));
    cr_expect_not_null(checkpoint_meta(&ck, "train.rng_offset"));
    cr_expect_str_eq(ck.cfg.preset, "demo");
    cr_expect_eq(ck.cfg.image_size, 16);
    checkpoint_close(&ck);
}

Test(train_cli, unet_run_writes_checkpoint_with_ema) {
    train_vae("v", 2);
    int rc = run("ldm-train", "unet " TINY " --data %s/data --vae %s/v/vae.safetensors --out %s/u --steps 3", tmp,
                 tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/u", tmp);
    cr_expect(file_exists(dir, "unet.safetensors") && file_exists(dir, "unet.csv") && file_exists(dir, "unet_loss.png"));
    Checkpoint ck;
    char path[4300];
    snprintf(path, sizeof path, "%s/unet.safetensors", dir);
    cr_assert_eq(checkpoint_open(&ck, path, "unet", NULL), 0, "%s", ldm_last_error());
    cr_expect_eq(ck.step, 3);
    cr_expect(checkpoint_has_group(&ck, "ema."));
    checkpoint_close(&ck);
}

// ----------------------------------------------------------------------------
// resume == uninterrupted, bit for bit

Test(train_cli, vae_resume_equals_uninterrupted_run) {
    train_vae("full", 6);
    int rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/part --steps 6 --stop-after 2", tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/part --steps 6 --stop-after 4 --resume %s/part/vae.safetensors",
             tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/part --resume %s/part/vae.safetensors", tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/full/vae.csv", tmp);
    snprintf(b, sizeof b, "%s/part/vae.csv", tmp);
    char *la = csv_deterministic(a), *lb = csv_deterministic(b);
    cr_expect_str_eq(la, lb, "CSVs differ:\nuninterrupted:\n%s\nresumed:\n%s", la, lb);
    free(la), free(lb);
    snprintf(a, sizeof a, "%s/full/vae.safetensors", tmp);
    snprintf(b, sizeof b, "%s/part/vae.safetensors", tmp);
    expect_same_tensors(a, b);
}

/* 7 steps in one go (into full/) and as 3 + 4 (part/), with `extra` flags: the same CSV
 * and checkpoint. */
static void unet_resume_check(const char *extra) {
    train_vae("v", 2);
    int rc = run("ldm-train", "unet " TINY " --data %s/data --vae %s/v/vae.safetensors --out %s/full --steps 7 %s", tmp,
                 tmp, tmp, extra);
    cr_assert_eq(rc, 0, "%s", out);
    rc = run("ldm-train", "unet " TINY " --data %s/data --vae %s/v/vae.safetensors --out %s/part --steps 7 --stop-after 3 %s",
             tmp, tmp, tmp, extra);
    cr_assert_eq(rc, 0, "%s", out);
    rc = run("ldm-train", "unet " TINY " --data %s/data --vae %s/v/vae.safetensors --out %s/part --resume %s/part/unet.safetensors",
             tmp, tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/full/unet.csv", tmp);
    snprintf(b, sizeof b, "%s/part/unet.csv", tmp);
    char *la = csv_deterministic(a), *lb = csv_deterministic(b);
    cr_expect_str_eq(la, lb, "CSVs differ:\nuninterrupted:\n%s\nresumed:\n%s", la, lb);
    free(la), free(lb);
    snprintf(a, sizeof a, "%s/full/unet.safetensors", tmp);
    snprintf(b, sizeof b, "%s/part/unet.safetensors", tmp);
    expect_same_tensors(a, b);
}

Test(train_cli, unet_resume_equals_uninterrupted_run) { unet_resume_check(""); }

/* Dropout draws its masks from the run's stream at the saved offset: a resumed run drops
 * what the uninterrupted one dropped. And it does drop: the losses differ from a run
 * without dropout (from step 2: conv2, after the dropout, starts at zero). */
Test(train_cli, unet_with_dropout_and_transformer_resumes_exactly) {
    unet_resume_check("--set unet_dropout=0.3 --set unet_attn=transformer");
    int rc = run("ldm-train", "unet " TINY " --data %s/data --vae %s/v/vae.safetensors --out %s/nodrop --steps 7 "
                 "--set unet_attn=transformer", tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/full/unet.csv", tmp);
    snprintf(b, sizeof b, "%s/nodrop/unet.csv", tmp);
    char *la = csv_deterministic(a), *lb = csv_deterministic(b);
    cr_expect_str_neq(la, lb, "dropout 0.3 changed nothing:\n%s", la);
    free(la), free(lb);
}

/* The U-Net's EMA after step k (0-based) is e = d e + (1 - d) p, d = min(ema, (1 + k) /
 * (10 + k)) (train/train_unet.c): from the checkpoints of a 1-step and a 2-step run,
 * e2 = (2/11) e1 + (9/11) p2 for every tensor. A large lr moves the weights far enough
 * that a decay off by a step (3/12) is seen: relative error 24 against 1.4e-5. */
Test(train_cli, unet_ema_follows_its_warmup_decay) {
    train_vae("v", 2);
    for (int k = 1; k <= 2; k++) {
        int rc = run("ldm-train", "unet " TINY " --data %s/data --vae %s/v/vae.safetensors --out %s/e%d --steps %d "
                     "--lr 0.01 --warmup 0", tmp, tmp, tmp, k, k);
        cr_assert_eq(rc, 0, "%s", out);
    }
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/e1/unet.safetensors", tmp);
    snprintf(b, sizeof b, "%s/e2/unet.safetensors", tmp);
    SafeTensors one, two;
    cr_assert_eq(st_load(a, &one), 0, "%s", ldm_last_error());
    cr_assert_eq(st_load(b, &two), 0, "%s", ldm_last_error());
    const double d = 2.0 / 11.0;
    int tensors = 0;
    double worst = 0, moved = 0;
    for (int i = 0; i < two.n; i++) {
        const StEntry *e2 = &two.entries[i];
        if (strncmp(e2->name, "ema.", 4)) continue;
        const StEntry *e1 = st_find(&one, e2->name), *p2 = st_find(&two, e2->name + 4);
        cr_assert(e1 && p2, "%s or %s missing", e2->name, e2->name + 4);
        const float *x1 = (const float *)(one.data + e1->begin), *x2 = (const float *)(two.data + e2->begin),
                    *w2 = (const float *)(two.data + p2->begin);
        for (uint64_t j = 0; j < st_numel(e2); j++) {
            double want = d * x1[j] + (1 - d) * w2[j];
            worst = fmax(worst, fabs(x2[j] - want) / (1e-6 + fabs(want)));
            moved = fmax(moved, fabs(x1[j] - w2[j]));
        }
        tensors++;
    }
    printf("EMA warm-up: %d tensors, max relative error %.2e, weights moved up to %.2e\n", tensors, worst, moved);
    cr_expect_gt(tensors, 10);
    cr_expect_gt(moved, 1e-3, "the weights must move for this test to mean anything");
    cr_expect_leq(worst, 1e-4, "e2 = (2/11) e1 + (9/11) p2 is off by %g", worst);
    st_free(&one);
    st_free(&two);
}

// ----------------------------------------------------------------------------
// sampling

/* Width, height and the tEXt chunks ("key=value\n"...) of a PNG. */
static void png_meta(const char *path, int *w, int *h, char *text, size_t n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "no %s", path);
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    cr_assert(p && info);
    if (setjmp(png_jmpbuf(p))) cr_assert_fail("%s is not a valid PNG", path);
    png_init_io(p, f);
    png_read_info(p, info);
    *w = (int)png_get_image_width(p, info);
    *h = (int)png_get_image_height(p, info);
    png_textp t;
    int nt = 0;
    png_get_text(p, info, &t, &nt);
    size_t o = 0;
    text[0] = '\0';
    for (int i = 0; i < nt && o < n; i++) o += (size_t)snprintf(text + o, n - o, "%s=%s\n", t[i].key, t[i].text);
    png_destroy_read_struct(&p, &info, NULL);
    fclose(f);
}

static void train_pair(void) {
    train_vae("m", 2);
    int rc = run("ldm-train", "unet " TINY " --data %s/data --vae %s/m/vae.safetensors --out %s/m --steps 2", tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
}

Test(train_cli, sample_writes_labelled_grid_each_and_strip_with_metadata) {
    train_pair();
    int rc = run("ldm-sample", "--unet %s/m/unet.safetensors --vae %s/m/vae.safetensors --label all --n 3 --steps 4 "
                 "--sampler ddim --guidance 2 --seed 5 --device cpu --zoom 1 --out %s/g1.png --strip %s/s.png --each %s/each",
                 tmp, tmp, tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    int w, h;
    char text[4096], p[4300];
    snprintf(p, sizeof p, "%s/g1.png", tmp);
    png_meta(p, &w, &h, text, sizeof text);
    /* 3 rows x 3 tiles of 16 pixels with 2-pixel gaps, plus labels and margins */
    cr_expect_geq(w, 3 * 16 + 2 * 2);
    cr_expect_geq(h, 3 * 16 + 2 * 2);
    cr_expect(strstr(text, "seed=5") && strstr(text, "sampler=ddim") && strstr(text, "steps=4") &&
              strstr(text, "guidance=2"), "%s", text);
    cr_expect(strstr(text, "UNet=unet.safetensors") && strstr(text, "VAE=vae.safetensors"), "%s", text);
    snprintf(p, sizeof p, "%s/each/middle_002.png", tmp);
    png_meta(p, &w, &h, text, sizeof text);
    cr_expect(w == 16 && h == 16, "a single image is 16x16, got %dx%d", w, h);
    cr_expect(strstr(text, "class middle"), "%s", text);
    snprintf(p, sizeof p, "%s/s.png", tmp);
    png_meta(p, &w, &h, text, sizeof text);
    cr_expect(strstr(text, "denoising strip"), "%s", text);
    /* same seed, same device: the same pixels (and bytes); the middle row alone matches
     * the middle row of the grid */
    rc = run("ldm-sample", "--unet %s/m/unet.safetensors --vae %s/m/vae.safetensors --label all --n 3 --steps 4 "
             "--sampler ddim --guidance 2 --seed 5 --device cpu --zoom 1 --out %s/g2.png", tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%s/g1.png", tmp);
    snprintf(b, sizeof b, "%s/g2.png", tmp);
    char *x = tu_read_text(a), *y = tu_read_text(b);
    cr_assert(x && y, "%s or %s missing", a, b);
    struct stat sa, sb;
    stat(a, &sa), stat(b, &sb);
    cr_expect(sa.st_size == sb.st_size && !memcmp(x, y, (size_t)sa.st_size), "same seed gave a different PNG");
    free(x), free(y);
    rc = run("ldm-sample", "--unet %s/m/unet.safetensors --vae %s/m/vae.safetensors --label middle --n 3 --steps 4 "
             "--guidance 2 --seed 5 --device cpu --each %s/one --out %s/g3.png", tmp, tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    snprintf(a, sizeof a, "%s/each/middle_001.png", tmp);
    snprintf(b, sizeof b, "%s/one/middle_001.png", tmp);
    /* the Parameters chunk names --label, so compare the decoded pixels */
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    png_image ia = {.version = PNG_IMAGE_VERSION}, ib = {.version = PNG_IMAGE_VERSION};
    cr_assert(png_image_begin_read_from_stdio(&ia, fa) && png_image_begin_read_from_stdio(&ib, fb));
    ia.format = ib.format = PNG_FORMAT_GRAY;
    uint8_t pa[256], pb[256];
    cr_assert(png_image_finish_read(&ia, NULL, pa, 0, NULL) && png_image_finish_read(&ib, NULL, pb, 0, NULL));
    cr_expect(!memcmp(pa, pb, 256), "a class's images do not depend on the other rows asked for");
    fclose(fa), fclose(fb);
}

/* More images than fit the activation memory go in batches, and (DDIM eta 0) give the
 * pixels of one big batch: x_T is drawn for all n images at once. */
Test(train_cli, sample_in_batches_equals_one_batch) {
    train_pair();
    const char *common = "--label middle --n 24 --steps 3 --guidance 2 --seed 7 --device cpu";
    int rc = run("ldm-sample", "--unet %s/m/unet.safetensors --vae %s/m/vae.safetensors %s --out %s/b1.png --each %s/b1",
                 tmp, tmp, common, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "batches of 24"), "%s", out);
    rc = run("ldm-sample", "--unet %s/m/unet.safetensors --vae %s/m/vae.safetensors %s --arena-mb 1 --out %s/b2.png "
             "--each %s/b2", tmp, tmp, common, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    const char *b = strstr(out, "batches of ");
    cr_assert_not_null(b, "%s", out);
    cr_expect_lt(atoi(b + 11), 24, "1 MB should not hold 24 images at once: %s", out);
    for (int i = 0; i < 24; i += 5) {
        char a[4300], c[4300];
        snprintf(a, sizeof a, "%s/b1/middle_%03d.png", tmp, i);
        snprintf(c, sizeof c, "%s/b2/middle_%03d.png", tmp, i);
        char *x = tu_read_text(a), *y = tu_read_text(c);
        cr_assert(x && y, "%s or %s missing", a, c);
        struct stat sa, sc;
        stat(a, &sa), stat(c, &sc);
        cr_expect(sa.st_size == sc.st_size && !memcmp(x, y, (size_t)sa.st_size), "image %d differs when batched", i);
        free(x), free(y);
    }
}

// ----------------------------------------------------------------------------
// bad input: clear messages, non-zero exits

/* --precision bf16 on the CPU (its default is fp32): the runs say so, train, sample, and
 * write fp32 checkpoints (master weights stay fp32 whatever the activations). */
Test(train_cli, bf16_precision_trains_and_samples) {
    const char *loud = "--preset demo --set image_size=16 --set data_size=16 --set vae_ch=8 --set vae_groups=4 "
                       "--set unet_ch=16 --set unet_groups=4 --set head_dim=16 --set ctx_dim=16 --set attn_res=2 "
                       "--set unet_mult=1,2 --device cpu --batch 4 --precision bf16";
    int rc = run("ldm-train", "vae %s --data %s/data --out %s/b --steps 2", loud, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "on cpu, precision bf16"), "%s", out);
    rc = run("ldm-train", "unet %s --data %s/data --vae %s/b/vae.safetensors --out %s/b --steps 2", loud, tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "on cpu, precision bf16"), "%s", out);
    SafeTensors st;
    char path[4300];
    snprintf(path, sizeof path, "%s/b/unet.safetensors", tmp);
    cr_assert_eq(st_load(path, &st), 0, "%s", ldm_last_error());
    for (int i = 0; i < st.n; i++) cr_expect_str_eq(st.entries[i].dtype, "F32", "%s", st.entries[i].name);
    st_free(&st);
    rc = run("ldm-sample", "--unet %s/b/unet.safetensors --vae %s/b/vae.safetensors --n 2 --steps 2 --device cpu "
             "--precision bf16 --out %s/b/g.png", tmp, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "precision bf16"), "%s", out);
    rc = run("ldm-train", "vae %s --data %s/data --out %s/f --steps 1 --precision fp32", loud, tmp, tmp);
    cr_assert_eq(rc, 0, "%s", out);
    cr_expect(strstr(out, "on cpu, precision fp32"), "the last --precision wins:\n%s", out);
}

Test(train_cli, usage_errors_exit_2_naming_the_flag) {
    cr_expect_eq(run("ldm-train", "vae " TINY " --data %s/data --out %s/x --bogus", tmp, tmp), 2);
    cr_expect(strstr(out, "--bogus"), "%s", out);
    cr_expect_eq(run("ldm-train", "vae --preset demo --data %s/data --out %s/x --steps -3", tmp, tmp), 2);
    cr_expect(strstr(out, "--steps"), "%s", out);
    cr_expect_eq(run("ldm-train", "vae --preset nosuch --data %s/data --out %s/x", tmp, tmp), 2);
    cr_expect(strstr(out, "nosuch") && strstr(out, "demo"), "%s", out);
    cr_expect_eq(run("ldm-train", "vae --preset demo --set vae_ch=x --data %s/data --out %s/x", tmp, tmp), 2);
    cr_expect(strstr(out, "vae_ch"), "%s", out);
    cr_expect_eq(run("ldm-train", "unet --preset demo --data %s/data --out %s/x", tmp, tmp), 2);
    cr_expect(strstr(out, "--vae"), "%s", out);
    cr_expect_eq(run("ldm-train", "gan --preset demo"), 2);
    cr_expect_eq(run("ldm-train", "--help"), 0);
    cr_expect(strstr(out, "demo") && strstr(out, "params"), "help lists the presets with their sizes:\n%s", out);
    cr_expect_eq(run("ldm-sample", "--vae a --out b"), 2);
    cr_expect(strstr(out, "--unet"), "%s", out);
    cr_expect_eq(run("ldm-sample", "--unet a --vae b --out c --sampler euler"), 2);
    cr_expect(strstr(out, "euler"), "%s", out);
    cr_expect_eq(run("ldm-train", "vae " TINY " --data %s/data --out %s/x --precision fp16", tmp, tmp), 2);
    cr_expect(strstr(out, "--precision fp16") && strstr(out, "bf16 or fp32"), "%s", out);
    cr_expect_eq(run("ldm-sample", "--unet a --vae b --out c --precision half"), 2);
    cr_expect(strstr(out, "--precision half"), "%s", out);
}

Test(train_cli, missing_files_exit_1_naming_them) {
    cr_expect_eq(run("ldm-train", "vae " TINY " --data %s/nope --out %s/x --steps 1", tmp, tmp), 1);
    cr_expect(strstr(out, "nope"), "%s", out);
    cr_expect_eq(run("ldm-train", "unet " TINY " --data %s/data --vae %s/missing.safetensors --out %s/x --steps 1", tmp,
                     tmp, tmp), 1);
    cr_expect(strstr(out, "missing.safetensors"), "%s", out);
    cr_expect_eq(run("ldm-sample", "--unet %s/missing.safetensors --vae %s/v.safetensors --out %s/g.png --device cpu",
                     tmp, tmp, tmp), 1);
    cr_expect(strstr(out, "missing.safetensors"), "%s", out);
    /* an output "folder" that is a file is refused before any training */
    char f[4300];
    snprintf(f, sizeof f, "%s/afile", tmp);
    FILE *fp = fopen(f, "w");
    fclose(fp);
    cr_expect_eq(run("ldm-train", "vae " TINY " --data %s/data --out %s/afile --steps 1", tmp, tmp), 1);
    cr_expect(strstr(out, "afile") && strstr(out, "not a folder"), "%s", out);
}

Test(train_cli, wrong_kind_or_preset_checkpoints_are_refused) {
    train_pair();
    /* a U-Net checkpoint where a VAE is expected, and the other way round */
    cr_expect_eq(run("ldm-train", "unet " TINY " --data %s/data --vae %s/m/unet.safetensors --out %s/x --steps 1", tmp,
                     tmp, tmp), 1);
    cr_expect(strstr(out, "unet checkpoint") && strstr(out, "expected a vae"), "%s", out);
    cr_expect_eq(run("ldm-sample", "--unet %s/m/vae.safetensors --vae %s/m/vae.safetensors --out %s/g.png --device cpu",
                     tmp, tmp, tmp), 1);
    cr_expect(strstr(out, "expected a unet"), "%s", out);
    cr_expect_eq(run("ldm-train", "vae " TINY " --data %s/data --out %s/x --resume %s/m/unet.safetensors", tmp, tmp, tmp), 1);
    cr_expect(strstr(out, "expected a vae"), "%s", out);
    /* a VAE of another preset, or of the same preset with other fields */
    cr_expect_eq(run("ldm-train", "unet --preset fashion --device cpu --data %s/data --vae %s/m/vae.safetensors --out %s/x",
                     tmp, tmp, tmp), 1);
    cr_expect(strstr(out, "preset 'demo'") && strstr(out, "fashion"), "%s", out);
    cr_expect_eq(run("ldm-train", "unet " TINY " --set vae_ch=16 --data %s/data --vae %s/m/vae.safetensors --out %s/x",
                     tmp, tmp, tmp), 1);
    cr_expect(strstr(out, "vae_ch"), "%s", out);
    /* resuming with a contradicting flag or config */
    cr_expect_eq(run("ldm-train", "vae " TINY " --batch 2 --data %s/data --out %s/m --resume %s/m/vae.safetensors "
                     "--steps 9", tmp, tmp, tmp), 1);
    cr_expect(strstr(out, "--batch"), "%s", out);
}

Test(train_cli, diverging_run_stops_and_keeps_the_last_checkpoint) {
    train_vae("nan", 2);
    char path[4300];
    snprintf(path, sizeof path, "%s/nan/vae.safetensors", tmp);
    char *before = tu_read_text(path);
    cr_assert_not_null(before, "no %s", path);
    struct stat s0;
    cr_assert_eq(stat(path, &s0), 0);
    /* a fresh run into the same folder whose first update blows the weights up */
    int rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/nan --steps 50 --warmup 0 --clip 0 --lr 1e30 "
                 "--ckpt-every 1", tmp, tmp);
    cr_expect_eq(rc, 1, "%s", out);
    cr_expect(strstr(out, "diverged") || strstr(out, "loss is"), "%s", out);
    cr_expect(strstr(out, "left as it was"), "%s", out);
    struct stat s1;
    cr_assert_eq(stat(path, &s1), 0);
    char *after = tu_read_text(path);
    cr_assert_not_null(after, "no %s after the diverged run", path);
    cr_expect(s0.st_size == s1.st_size && !memcmp(before, after, (size_t)s0.st_size),
              "the existing checkpoint was not touched");
    free(before), free(after);
}

// ----------------------------------------------------------------------------
// kill -9

Test(train_cli, kill_9_leaves_a_complete_resumable_checkpoint) {
    char bin[4200], outdir[4300], data[4300], ckpt[4400], part[4500];
    snprintf(bin, sizeof bin, "%s/ldm-train", bindir);
    if (access(bin, X_OK) != 0) TU_SKIP("%s not built; run make first", bin);
    snprintf(outdir, sizeof outdir, "%s/k", tmp);
    snprintf(data, sizeof data, "%s/data", tmp);
    snprintf(ckpt, sizeof ckpt, "%s/vae.safetensors", outdir);
    snprintf(part, sizeof part, "%s.tmp", ckpt); /* core/safetensors.c writes here, then renames */
    /* checkpoints every step, so that a write is in progress most of the time */
    char *argv[64];
    int k = 0;
    char tiny[] = TINY;
    argv[k++] = bin;
    argv[k++] = "vae";
    for (char *t = strtok(tiny, " "); t; t = strtok(NULL, " ")) argv[k++] = t;
    char *more[] = {"--data", data, "--out", outdir, "--steps", "100000", "--ckpt-every", "1", NULL};
    for (int i = 0; more[i]; i++) argv[k++] = more[i];
    argv[k] = NULL;
    int mid_write = 0;
    const int rounds = 5;
    for (int round = 0; round < rounds; round++) {
        pid_t pid;
        cr_assert_eq(posix_spawn(&pid, bin, NULL, NULL, argv, environ), 0);
        /* a first complete checkpoint, then the next write's temporary file: kill -9 then */
        struct stat st;
        for (int i = 0; i < 3000 && stat(ckpt, &st) != 0; i++) usleep(10000);
        cr_assert_eq(stat(ckpt, &st), 0, "round %d: no checkpoint after 30 s", round);
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int seen = 0;
        do {
            seen = stat(part, &st) == 0;
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while (!seen && now.tv_sec - t0.tv_sec < 30);
        cr_assert(seen, "round %d: %s never appeared in 30 s", round, part);
        cr_assert_eq(kill(pid, SIGKILL), 0);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: ldm-train ended with status %#x, not by SIGKILL (it must still be training)", round, status);
        mid_write += stat(part, &st) == 0; /* the write the kill interrupted is still there */
        Checkpoint ck;
        cr_assert_eq(checkpoint_open(&ck, ckpt, "vae", NULL), 0, "round %d: %s", round, ldm_last_error());
        cr_expect_geq(ck.step, 1);
        checkpoint_close(&ck);
        unlink(part);
        if (round < rounds - 1) unlink(ckpt);
    }
    printf("kill -9: %d of %d kills landed inside a checkpoint write\n", mid_write, rounds);
    cr_expect_geq(mid_write, 1, "no kill landed inside a checkpoint write");
    /* the survivor resumes, and its final checkpoint is that of an uninterrupted run */
    Checkpoint ck;
    cr_assert_eq(checkpoint_open(&ck, ckpt, "vae", NULL), 0);
    long step = (long)ck.step;
    checkpoint_close(&ck);
    int rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/k --resume %s --steps 100000 --stop-after %ld",
                 tmp, tmp, ckpt, step + 2);
    cr_assert_eq(rc, 0, "resuming the killed run's checkpoint:\n%s", out);
    rc = run("ldm-train", "vae " TINY " --data %s/data --out %s/ref --steps 100000 --stop-after %ld", tmp, tmp, step + 2);
    cr_assert_eq(rc, 0, "the uninterrupted run:\n%s", out);
    char ref[4400];
    snprintf(ref, sizeof ref, "%s/ref/vae.safetensors", tmp);
    cr_assert_eq(checkpoint_open(&ck, ckpt, "vae", NULL), 0);
    cr_expect_eq((long)ck.step, step + 2);
    checkpoint_close(&ck);
    expect_same_tensors(ref, ckpt);
}
