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
