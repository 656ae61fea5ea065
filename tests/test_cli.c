/* tests/test_cli.c — core/cli: the shared flag parsing of the entry points. Each case is a
 * value a user could type; the parse must accept exactly the valid ones, return 2 (the usage
 * exit status) on the rest, and leave the output untouched when it refuses. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <limits.h>
#include <stdint.h>

#include "core/cli.h"

static void quiet(void) { cr_redirect_stderr(); }

Test(cli, long_accepts_exactly_the_range, .init = quiet) {
    long v = -7;
    cr_expect_eq(cli_long("p", "--n", "5", 1, 5, &v), 0);
    cr_expect_eq(v, 5);
    cr_expect_eq(cli_long("p", "--n", "1", 1, 5, &v), 0);
    cr_expect_eq(v, 1);
    const char *bad[] = {"0", "6", "", "3x", "x3", " ", "2.5", "99999999999999999999999", "-99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        v = -7;
        cr_expect_eq(cli_long("p", "--n", bad[i], 1, 5, &v), 2, "'%s' must be refused", bad[i]);
        cr_expect_eq(v, -7, "'%s': output written on a refusal", bad[i]);
    }
    /* overflow past the widest range: only errno tells */
    cr_expect_eq(cli_long("p", "--n", "99999999999999999999999", LONG_MIN, LONG_MAX, &v), 2);
    cr_expect_eq(cli_long("p", "--n", "-3", -5, 5, &v), 0);
    cr_expect_eq(v, -3);
}

Test(cli, int_and_double, .init = quiet) {
    int n = 0;
    cr_expect_eq(cli_int("p", "--k", "64", 1, 64, &n), 0);
    cr_expect_eq(n, 64);
    cr_expect_eq(cli_int("p", "--k", "65", 1, 64, &n), 2);
    double d = 0;
    cr_expect_eq(cli_double("p", "--lr", "1e-3", 0, 1, &d), 0);
    cr_expect_float_eq(d, 1e-3, 1e-18);
    const char *bad[] = {"", "nan", "inf", "-1e-9", "1.0001", "1e999", "0.5.5", "0x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d = 42;
        cr_expect_eq(cli_double("p", "--lr", bad[i], 0, 1, &d), 2, "'%s' must be refused", bad[i]);
        cr_expect_eq(d, 42);
    }
}

Test(cli, u64_refuses_signs_and_overflow, .init = quiet) {
    uint64_t s = 9;
    cr_expect_eq(cli_u64("p", "--seed", "18446744073709551615", &s), 0);
    cr_expect_eq(s, UINT64_MAX);
    cr_expect_eq(cli_u64("p", "--seed", "0", &s), 0);
    cr_expect_eq(s, 0);
    const char *bad[] = {"-1", "+1", "", " 1", "18446744073709551616", "12a"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s = 9;
        cr_expect_eq(cli_u64("p", "--seed", bad[i], &s), 2, "'%s' must be refused", bad[i]);
        cr_expect_eq(s, 9);
    }
}

Test(cli, the_message_names_the_program_and_the_flag, .init = quiet) {
    long v;
    cli_long("ldm-x", "--batch", "0", 1, 4096, &v);
    fflush(stderr);
    cr_expect_stderr_eq_str("ldm-x: --batch 0: want a whole number in 1..4096\nTry 'ldm-x --help'.\n");
}
