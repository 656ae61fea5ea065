/* tests/test_ops.c — the op table (bench/ops/op_table.h) on the CPU: its own consistency,
 * the gradient check of every backward pass against finite differences of its forward, and
 * the CPU run through the parity machinery (NaN-poisoned outputs all written, arguments a
 * pass does not write left alone, a second run bit for bit the same). The device parity of
 * the same table is tests/test_gpu.c and build/gpu-check. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "bench/ops/op_run.h"
#include "core/error.h"
#include "models/config.h"

static OpCase cases[OP_MAX_CASES];

Test(op_table, every_row_is_complete) {
    cr_assert_gt(op_table_len, 20);
    for (int i = 0; i < op_table_len; i++) {
        const OpDef *op = &op_table[i];
        cr_assert(op_find(op->name) == op, "%s: duplicate name", op->name);
        cr_assert(op->npasses >= 1 && op->npasses <= OP_MAX_PASSES, "%s", op->name);
        /* a row with bf16 outputs may allow one bf16 ulp (2^-7) of its outputs, an fp32 row 1e-3 */
        bool bf16 = false;
        const int nq = op->shapes(SHAPES_QUICK, cases, OP_MAX_CASES);
        for (int k = 0; k < nq; k++)
            for (int a = 0; a < cases[k].nargs; a++) bf16 |= cases[k].a[a].bf16 && cases[k].a[a].role == ROLE_OUT;
        for (int p = 0; p < op->npasses; p++) {
            const OpPass *ps = &op->pass[p];
            cr_assert(ps->run && ps->name && ps->why && ps->why[0], "%s pass %d", op->name, p);
            cr_assert(ps->writes, "%s.%s writes nothing", op->name, ps->name);
            cr_assert(ps->tol >= 0 && ps->tol <= (bf16 ? 1.0 / 128 + 1e-3 : 1e-3), "%s.%s tolerance %g", op->name,
                      ps->name, ps->tol);
        }
        if (op->grad_tol > 0) cr_assert(op->grad_why && op->grad_eps > 0, "%s: gradient tolerance needs a reason", op->name);
        const int tc = op_tc_version(op);
        if (tc) /* a tensor-core bound: for a version that exists, with a reason; the fp32 versions keep theirs */
            for (int p = 0; p < op->npasses; p++)
                cr_assert(tc <= op->versions && op_tolerance(op, p, tc) > op->pass[p].tol &&
                          op_tolerance(op, p, tc) <= 0.05 && op_tolerance_why(op, p, tc)[0] &&
                          op_tolerance(op, p, tc - 1) == op->pass[p].tol, "%s: tensor-core tolerance", op->name);
        for (int set = 0; set < 2; set++) {
            const int n = op->shapes((OpShapeSet)set, cases, OP_MAX_CASES);
            cr_assert_gt(n, 0, "%s: no shapes", op->name);
            cr_assert_lt(n, OP_MAX_CASES, "%s: shape table full", op->name);
            for (int k = 0; k < n; k++) {
                cr_assert(cases[k].op == op && cases[k].nargs <= OP_MAX_ARGS);
                for (int p = 0; p < op->npasses; p++) {
                    cr_assert(op->pass[p].writes < (1u << cases[k].nargs), "%s.%s writes past the arguments", op->name,
                              op->pass[p].name);
                    if (!strstr(cases[k].desc, "empty"))
                        cr_assert_gt(op_bytes(&cases[k], p), 0, "%s.%s %s", op->name, op->pass[p].name, cases[k].desc);
                }
                for (int a = 0; a < cases[k].nargs; a++) {
                    const OpArg *g = &cases[k].a[a];
                    cr_assert(g->grad_of < cases[k].nargs && g->seeds < cases[k].nargs);
                    if (g->grad_of >= 0) cr_assert_eq(g->role, ROLE_ACC, "%s: %s", op->name, g->name);
                    if (g->seeds >= 0) cr_assert_eq(cases[k].a[g->seeds].role, ROLE_OUT, "%s: %s", op->name, g->name);
                }
            }
        }
    }
}

/* Every op with preset shapes gets its cases from bench/shapes.c with the same passes the
 * benchmark times. */
Test(op_table, preset_shapes_become_cases) {
    ModelConfig cfg;
    cr_assert_eq(cfg_preset(&cfg, "demo"), 0);
    static BenchShape sh[SHAPES_MAX];
    const int n = shapes_for_preset(&cfg, 2, sh, SHAPES_MAX);
    cr_assert_gt(n, 10);
    for (int i = 0; i < n; i++) {
        const OpDef *op = op_find(bench_kind_name(sh[i].kind));
        cr_assert(op, "no table row for %s", bench_kind_name(sh[i].kind));
        OpCase c;
        cr_assert_eq(op_case_from_shape(op, &sh[i], &c), 0, "%s", ldm_last_error());
        BenchPass passes[4];
        const int np = bench_passes(sh[i].kind, passes);
        for (int p = 0; p < np; p++)
            cr_assert_geq(op_pass_index(op, bench_pass_name(passes[p])), 0, "%s has no pass %s", op->name,
                          bench_pass_name(passes[p]));
    }
}

Test(op_table, error_measure) {
    const float want[4] = {1, -2, 0, 4}, same[4] = {1, -2, 0, 4}, off[4] = {1, -2, 0.004f, 4};
    const float nan_[4] = {1, NAN, 0, 4}, zero[3] = {0, 0, 0}, small[3] = {1e-3f, 0, 0};
    cr_assert_eq(op_err(same, want, 4), 0);
    cr_assert_float_eq(op_err(off, want, 4), 1e-3, 1e-9); /* relative to max |ref| = 4 */
    cr_assert(isinf(op_err(nan_, want, 4)));
    cr_assert_float_eq(op_err(small, zero, 3), 1e-3, 1e-9); /* all-zero reference: absolute */
}

/* The gradient check over the whole table: every backward pass of every op at its quick
 * shapes, against central differences of the forward. */
Test(op_table, gradients_match_finite_differences, .timeout = 600) {
    OpRun r;
    op_run_init(&r, 20261130);
    r.quiet_ok = true;
    op_run_table(&r, NULL, SHAPES_QUICK, DEV_CPU, 0, true);
    cr_log_info("op gradcheck: %d passed, %d failed", r.passed, r.failed);
    cr_expect_gt(r.passed, 60);
    cr_expect_eq(r.failed, 0, "%d gradient checks failed (FAIL lines above)", r.failed);
}

/* The parity machinery with the CPU as the "device": each pass writes every element of its
 * outputs, touches nothing it does not declare, and repeats bit for bit. */
Test(op_table, cpu_runs_are_complete_and_repeatable, .timeout = 600) {
    OpRun r;
    op_run_init(&r, 7);
    r.quiet_ok = true;
    op_run_table(&r, NULL, SHAPES_QUICK, DEV_CPU, 0, false);
    cr_log_info("op cpu parity: %d passed, %d failed", r.passed, r.failed);
    cr_expect_gt(r.passed, 100);
    cr_expect_eq(r.failed, 0, "%d checks failed (FAIL lines above)", r.failed);
}
