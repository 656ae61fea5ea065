/* tests/test_data_cli.c — ldm-data as a user runs it: exit status 0 / 1 / 2, info on an
 * ADNI-shaped folder, preview writing a PNG, --skip-bad counting. Runs the binary built
 * beside this test (<build>/ldm-data); skipped with a message when it is not there. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "data/image.h"
#include "tests/util/data_fixtures.h"
#include "tests/util/testutil.h"

static char *tmp, bindir[4096];

static void setup(void) {
    cr_assert((tmp = fx_tmpdir()));
    tu_build_dir(bindir, sizeof bindir);
}
static void teardown(void) {
    fx_rmtree(tmp);
    free(tmp);
}
TestSuite(cli, .init = setup, .fini = teardown);

/* Runs `ldm-data args`, stdout+stderr into out; returns the exit status. */
static int run(const char *args, char *out, size_t n) { return tu_run_cli(bindir, out, n, "ldm-data", "%s", args); }

static void make_adni(void) {
    const char *dirs[4] = {"AD_NC/train/AD", "AD_NC/train/NC", "AD_NC/test/AD", "AD_NC/test/NC"};
    uint8_t px[24 * 20];
    for (int d = 0; d < 4; d++)
        for (int p = 0; p < 3; p++)
            for (int s = 0; s < 2; s++) {
                char rel[96];
                snprintf(rel, sizeof rel, "%s/%d_%d.jpeg", dirs[d], 100 * d + p, s);
                fx_pattern(px, 24, 20, d + p + s);
                char *f = fx_path(tmp, rel);
                cr_assert_eq(fx_write_jpeg(f, px, 24, 20, 1, 90), 0);
                free(f);
            }
}

Test(cli, usage_errors_exit_2_runtime_errors_exit_1) {
    char out[8192], args[4096];
    cr_expect_eq(run("--help", out, sizeof out), 0);
    cr_expect(strstr(out, "Usage: ldm-data") != NULL);
    cr_expect_eq(run("", out, sizeof out), 2);
    cr_expect_eq(run("frobnicate x", out, sizeof out), 2);
    cr_expect(strstr(out, "frobnicate") != NULL, "%s", out);
    cr_expect_eq(run("info", out, sizeof out), 2);
    cr_expect_eq(run("info --threads 0 x", out, sizeof out), 2);
    cr_expect_eq(run("info --layout imagenet x", out, sizeof out), 2);
    cr_expect_eq(run("info --bogus x", out, sizeof out), 2);
    cr_expect_eq(run("preview x", out, sizeof out), 2, "preview needs --out");
    snprintf(args, sizeof args, "info %s/nowhere", tmp);
    cr_expect_eq(run(args, out, sizeof out), 1);
    cr_expect(strstr(out, "nowhere") != NULL && strstr(out, "No such file") != NULL, "%s", out);
}

Test(cli, info_preview_and_skip_bad) {
    make_adni();
    char out[16384], args[4096];
    snprintf(args, sizeof args, "info %s", tmp);
    cr_expect_eq(run(args, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "layout     adni") != NULL, "%s", out);
    cr_expect(strstr(out, "24x20") != NULL, "%s", out);
    cr_expect(strstr(out, "AD=0 NC=1") != NULL, "%s", out);
    cr_expect(strstr(out, "0 in more than one split") != NULL, "%s", out);
    char *png = fx_path(tmp, "grid.png");
    snprintf(args, sizeof args, "preview %s --out %s --count 8 --size 32", tmp, png);
    cr_expect_eq(run(args, out, sizeof out), 0, "%s", out);
    GrayImage im;
    cr_assert_eq(img_decode_file(png, &im), 0, "%s", ldm_last_error());
    cr_expect_gt(im.w, 2 * 32);
    gray_free(&im);
    char *bad = fx_path(tmp, "AD_NC/train/NC/100_9.jpeg");
    fx_write_buf(bad, "\xff\xd8\xff\xe0 truncated", 14, 0);
    snprintf(args, sizeof args, "info %s", tmp);
    cr_expect_eq(run(args, out, sizeof out), 1);
    cr_expect(strstr(out, "100_9.jpeg") != NULL, "%s", out);
    snprintf(args, sizeof args, "info --skip-bad %s", tmp);
    cr_expect_eq(run(args, out, sizeof out), 0, "%s", out);
    cr_expect(strstr(out, "skipped    1 file") != NULL && strstr(out, "100_9.jpeg") != NULL, "%s", out);
    free(bad);
    free(png);
}
