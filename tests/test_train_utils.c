/* tests/test_train_utils.c — learning-rate schedule and progress formatting. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "train/lr_schedule.h"
#include "train/progress.h"

Test(lr_schedule, warmup_then_cosine_to_floor) {
    LrSchedule s = {1e-3, 1e-5, 10, 110};
    cr_expect_float_eq(lr_at(&s, 0), 1e-4, 1e-12);
    cr_expect_float_eq(lr_at(&s, 9), 1e-3, 1e-12);
    cr_expect_float_eq(lr_at(&s, 10), 1e-3, 1e-12);
    cr_expect_float_eq(lr_at(&s, 60), 1e-5 + 0.5 * (1e-3 - 1e-5), 1e-12);
    cr_expect_float_eq(lr_at(&s, 110), 1e-5, 1e-12);
    cr_expect_float_eq(lr_at(&s, 500), 1e-5, 1e-12, "clamped after the end");
    for (long i = 11; i < 110; i++) cr_expect_leq(lr_at(&s, i), lr_at(&s, i - 1), "monotone decay at %ld", i);
}

Test(lr_schedule, no_warmup) {
    LrSchedule s = {2e-4, 0, 0, 100};
    cr_expect_float_eq(lr_at(&s, 0), 2e-4, 1e-12);
}

Test(progress, formats_line_and_duration) {
    char d[32];
    cr_expect_str_eq(format_duration(65, d, sizeof d), "01:05");
    cr_expect_str_eq(format_duration(3725, d, sizeof d), "1:02:05");
    cr_expect_str_eq(format_duration(NAN, d, sizeof d), "--:--");
    Progress p;
    progress_init(&p, NULL, 0, 200);
    char buf[256];
    progress_report(&p, 20, 0.125, 1e-4, 33.3, buf, sizeof buf);
    cr_expect(strstr(buf, "step 20/200"), "%s", buf);
    cr_expect(strstr(buf, "loss 0.125"), "%s", buf);
    cr_expect(strstr(buf, "33.3 img/s"), "%s", buf);
    cr_expect(strstr(buf, "ETA"), "%s", buf);
}

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "train/run_files.h"
#include "tests/util/testutil.h"

static char tmpdir[64];
static void mk_tmp(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/ldm_trainutil_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

Test(run_files, csv_resume_drops_rows_after_the_checkpoint) {
    mk_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/log.csv", tmpdir);
    CsvLog log;
    cr_assert_eq(csv_open(&log, path, -1), 0, "%s", ldm_last_error());
    for (int s = 1; s <= 10; s++) csv_row(&log, s, 1.0 / s, 1e-3, s % 5 == 0 ? 0.5 : NAN, 10, NAN, NAN);
    csv_close(&log);
    cr_assert_eq(csv_open(&log, path, 6), 0);
    csv_row(&log, 7, 0.77, 1e-3, NAN, 10, NAN, NAN);
    csv_close(&log);
    double *st, *l, *vs, *vl;
    int n, nv;
    cr_assert_eq(csv_read_losses(path, &st, &l, &n, &vs, &vl, &nv), 0);
    cr_expect_eq(n, 7);
    cr_expect_float_eq(st[6], 7, 0);
    cr_expect_float_eq(l[6], 0.77, 1e-9);
    cr_expect_eq(nv, 1, "only step 5 had a validation loss before the resume point");
    free(st), free(l), free(vs), free(vl);
    unlink(path);
    rmdir(tmpdir);
}

Test(run_files, csv_eval_columns_read_back) {
    mk_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/log.csv", tmpdir);
    CsvLog log;
    cr_assert_eq(csv_open(&log, path, -1), 0, "%s", ldm_last_error());
    for (int s = 1; s <= 9; s++)
        csv_row(&log, s, 1.0 / s, 1e-3, s == 6 ? 0.25 : NAN, 10, s % 4 == 0 ? 0.1 * s : NAN, s % 4 == 0 ? 100.0 / s : NAN);
    csv_close(&log);
    double *st, *v;
    int n;
    cr_assert_eq(csv_read_column(path, 5, &st, &v, &n), 0, "%s", ldm_last_error());
    cr_assert_eq(n, 2, "accuracy at steps 4 and 8 only, got %d", n);
    cr_expect_float_eq(st[0], 4, 0);
    cr_expect_float_eq(v[1], 0.8, 1e-9);
    free(st), free(v);
    cr_assert_eq(csv_read_column(path, 6, &st, &v, &n), 0);
    cr_assert_eq(n, 2);
    cr_expect_float_eq(st[1], 8, 0);
    cr_expect_float_eq(v[0], 25, 1e-9);
    free(st), free(v);
    cr_assert_eq(csv_read_column(path, 3, &st, &v, &n), 0);
    cr_expect(n == 1 && st[0] == 6 && v[0] == 0.25, "val_loss column: n %d", n);
    free(st), free(v);
    unlink(path);
    rmdir(tmpdir);
}

static int prepare_fails(void *dir) { return outdir_prepare(dir, 0) == -1; }

Test(run_files, outdir_checks) {
    mk_tmp();
    char sub[128];
    snprintf(sub, sizeof sub, "%s/new", tmpdir);
    cr_expect_eq(outdir_prepare(sub, 0), 0, "%s", ldm_last_error());
    char deep[160];
    snprintf(deep, sizeof deep, "%s/a/b/c", tmpdir); /* missing parents are created, as mkdir -p does */
    cr_expect_eq(outdir_prepare(deep, 0), 0, "%s", ldm_last_error());
    struct stat st;
    cr_expect(stat(deep, &st) == 0 && S_ISDIR(st.st_mode), "%s was not created", deep);
    rmdir(deep);
    snprintf(deep, sizeof deep, "%s/a/b", tmpdir), rmdir(deep);
    snprintf(deep, sizeof deep, "%s/a", tmpdir), rmdir(deep);
    cr_expect_eq(outdir_prepare(sub, 1ull << 62), -1, "absurd space requirement");
    cr_expect(strstr(ldm_last_error(), "free"), "%s", ldm_last_error());
    char file[160];
    snprintf(file, sizeof file, "%s/plainfile", tmpdir);
    FILE *f = fopen(file, "w");
    fclose(f);
    cr_expect_eq(outdir_prepare(file, 0), -1);
    cr_expect(strstr(ldm_last_error(), "not a folder"), "%s", ldm_last_error());
    char under[200];
    snprintf(under, sizeof under, "%s/x/y", file); /* a parent that is a file: no folder can be made */
    cr_expect_eq(outdir_prepare(under, 0), -1);
    cr_expect(strstr(ldm_last_error(), under), "%s", ldm_last_error());
    unlink(file);
    /* a read-only folder (as root, which ignores modes, checked by a child as uid nobody) */
    chmod(tmpdir, 0755);
    chmod(sub, 0555);
    int rc = tu_run_unprivileged(prepare_fails, sub);
    chmod(sub, 0700);
    cr_expect_eq(rc, 1, "outdir_prepare on a read-only folder: %d (1: failed as it must)", rc);
    rmdir(sub);
    rmdir(tmpdir);
}
