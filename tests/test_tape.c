/* tests/test_tape.c — the tape: accumulation for a tensor used twice, chains, no-grad,
 * NULL propagation, seeds. */
#include <criterion/criterion.h>
#include <math.h>

#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "tests/util/testutil.h"

static Arena *arena;
static Tape tape;
static void setup(void) {
    arena = arena_create(DEV_CPU, 1 << 20, 1 << 16);
    tape_init(&tape, arena);
}
static void teardown(void) { arena_destroy(arena); }
TestSuite(tape, .init = setup, .fini = teardown);

static double dsilu(double x) {
    double s = 1 / (1 + exp(-x));
    return s * (1 + x * (1 - s));
}

Test(tape, tensor_used_twice_gets_both_contributions) {
    /* y = silu(x); z = silu(y); backward through both, and also use x directly in a second branch */
    Tensor *x = tu_param(1, (int[]){5}, 1, -2, 2);
    Tensor *y = ag_silu(&tape, x);
    Tensor *z1 = ag_silu(&tape, y);
    Tensor *z2 = ag_silu(&tape, x); /* x consumed twice */
    cr_assert(z1 && z2);
    Tensor *seed = tensor_new(arena, DEV_CPU, 1, (int[]){5});
    fill(seed, 1.0f);
    /* Seed z1 and z2 separately: backward from z1 first, then from z2 on a fresh walk would
     * double-count, so instead seed the sum by running backward on z1 with z2's grad preset. */
    cr_assert_eq(tensor_ensure_grad(z2, arena), 0);
    fill(&(Tensor){.data = z2->grad, .numel = 5, .ndim = 1, .shape = {5}, .dtype = DT_F32}, 1.0f);
    cr_assert_eq(tape_backward(&tape, z1, seed), 0, "%s", ldm_last_error());
    for (int i = 0; i < 5; i++) {
        double xv = x->data[i], yv = xv / (1 + exp(-xv));
        double want = dsilu(yv) * dsilu(xv) + dsilu(xv);
        cr_expect(fabs(x->grad[i] - want) < 1e-5, "x.grad[%d] = %g, want %g", i, x->grad[i], want);
    }
    tensor_free(x);
}

Test(tape, no_grad_records_nothing) {
    Tensor *x = tu_param(1, (int[]){4}, 2, -1, 1);
    bool old = tape_set_grad_enabled(&tape, false);
    Tensor *y = ag_silu(&tape, x);
    cr_assert(y);
    cr_expect_eq(tape.n_nodes, 0);
    cr_expect(!y->requires_grad);
    tape_set_grad_enabled(&tape, old);
    Tensor *z = ag_silu(&tape, x);
    cr_expect_eq(tape.n_nodes, 1);
    cr_expect(z->requires_grad);
    tensor_free(x);
}

Test(tape, inputs_without_grad_record_nothing) {
    Tensor *x = tu_data(1, (int[]){4}, 3, -1, 1);
    Tensor *y = ag_silu(&tape, x);
    cr_assert(y);
    cr_expect_eq(tape.n_nodes, 0);
    cr_expect_eq(tape_backward(&tape, y, NULL), -1, "backward from a constant is an error");
    tensor_free(x);
}

Test(tape, null_propagates_and_keeps_first_error) {
    ldm_error("conv2d", "the first failure");
    Tensor *y = ag_silu(&tape, NULL);
    cr_expect_null(y);
    cr_expect_str_eq(ldm_last_error(), "conv2d: the first failure");
}

Test(tape, scalar_seed_and_shape_checks) {
    Tensor *x = tu_param(1, (int[]){3}, 4, -1, 1);
    Tensor *y = ag_silu(&tape, x);
    cr_expect_eq(tape_backward(&tape, y, NULL), -1, "non-scalar needs a seed");
    Tensor *bad = tensor_new(arena, DEV_CPU, 1, (int[]){4});
    cr_expect_eq(tape_backward(&tape, y, bad), -1, "seed of the wrong shape");
    tensor_free(x);
}

Test(tape, arena_full_is_an_error_not_a_crash) {
    Arena *small = arena_create(DEV_CPU, 1024, 4096);
    Tape t2;
    tape_init(&t2, small);
    Tensor *x = tu_param(1, (int[]){1000}, 5, -1, 1);
    Tensor *y = ag_silu(&t2, x);
    cr_expect_null(y);
    cr_expect(strstr(ldm_last_error(), "arena"), "%s", ldm_last_error());
    tensor_free(x);
    arena_destroy(small);
}
