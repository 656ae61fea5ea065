/* tests/test_silu.c — SiLU forward against a double loop, backward by finite differences. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/silu.h"
#include "tests/util/testutil.h"

Test(silu, forward_matches_double_reference) {
    int shape[4] = {1, 7, 5, 13}; /* odd everything, batch 1 */
    Tensor *x = tu_data(4, shape, 1, -6, 6);
    Tensor *y = tensor_new(NULL, DEV_CPU, 4, shape);
    fill(y, NAN);
    cr_assert_eq(silu_forward(x, y), 0, "%s", ldm_last_error());
    double *ref = malloc(x->numel * sizeof(double));
    for (size_t i = 0; i < x->numel; i++) ref[i] = x->data[i] / (1.0 + exp(-(double)x->data[i]));
    double e = tu_max_rel_err(y->data, ref, x->numel, 1e-6, NULL);
    cr_expect_leq(e, 1e-5, "max rel err %g", e);
    free(ref);
    tensor_free(x);
    tensor_free(y);
}

static Tensor *build_silu(Tape *t, Tensor **in, void *ctx) {
    (void)ctx;
    return ag_silu(t, in[0]);
}

Test(silu, gradient_matches_finite_differences) {
    Tensor *x = tu_param(2, (int[]){3, 11}, 2, -4, 4);
    int bad = tu_gradcheck(build_silu, NULL, &x, 1, NULL);
    cr_expect_eq(bad, 0, "%d gradient elements off", bad);
    tensor_free(x);
}

Test(silu, rejects_mismatched_shapes) {
    Tensor *x = tu_data(2, (int[]){3, 4}, 3, -1, 1);
    Tensor *y = tensor_new(NULL, DEV_CPU, 2, (int[]){4, 3});
    cr_expect_eq(silu_forward(x, y), -1);
    cr_expect(strstr(ldm_last_error(), "silu") && strstr(ldm_last_error(), "(3, 4)") &&
                  strstr(ldm_last_error(), "(4, 3)"),
              "message names op and shapes: %s", ldm_last_error());
    tensor_free(x);
    tensor_free(y);
}
