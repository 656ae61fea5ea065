/* kernels/group_norm.c — checks and device dispatch for group norm (math in group_norm.h). */
#include <math.h>

#include "kernels/group_norm.h"

// ----------------------------------------------------------------------------
// argument checks shared by forward and backward

/* x (N, ..., C) with C % groups == 0; gamma (C); beta (C) (NULL allowed only when
 * beta_optional); mean and rstd (N, groups). */
static int check_common(const char *op, const Tensor *x, const Tensor *gamma, const Tensor *beta, bool beta_optional,
                        int groups, const Tensor *mean, const Tensor *rstd) {
    if (kcheck_any(op, x, "x")) return -1;
    if (x->ndim < 2) return ldm_error(op, "x %s must have rank >= 2 (N, ..., C)", tshape(x));
    int n = x->shape[0], c = x->shape[x->ndim - 1];
    if (groups < 1) return ldm_error(op, "groups = %d must be >= 1 (x %s)", groups, tshape(x));
    if (c % groups != 0)
        return ldm_error(op, "channels C = %d of x %s are not divisible by groups = %d", c, tshape(x), groups);
    if (kcheck_rank(op, gamma, 1, "gamma") || kcheck_device(op, x, gamma)) return -1;
    if (gamma->shape[0] != c) return ldm_error(op, "gamma %s must be (%d) for x %s", tshape(gamma), c, tshape(x));
    if (beta || !beta_optional) {
        if (kcheck_same(op, beta, gamma, "beta", "gamma")) return -1;
    }
    const Tensor *stats[2] = {mean, rstd};
    const char *names[2] = {"mean", "rstd"};
    for (int i = 0; i < 2; i++) {
        if (kcheck_rank(op, stats[i], 2, names[i]) || kcheck_device(op, x, stats[i])) return -1;
        if (stats[i]->shape[0] != n || stats[i]->shape[1] != groups)
            return ldm_error(op, "%s %s must be (N, groups) = (%d, %d) for x %s", names[i], tshape(stats[i]), n,
                             groups, tshape(x));
    }
    return 0;
}

// ----------------------------------------------------------------------------
// front functions

int group_norm_forward(const Tensor *x, const Tensor *gamma, const Tensor *beta, int groups, float eps, bool silu,
                       Tensor *y, Tensor *mean, Tensor *rstd) {
    const char *op = "group_norm";
    if (check_common(op, x, gamma, beta, false, groups, mean, rstd)) return -1;
    if (!(eps >= 0.0f) || isinf(eps)) return ldm_error(op, "eps = %g must be finite and >= 0 (x %s)", eps, tshape(x));
    if (kcheck_same_any(op, x, y, "x", "y")) return -1;
    if (x->dtype != y->dtype)
        return ldm_error(op, "x %s is %s but y is %s", tshape(x), dtype_name(x->dtype), dtype_name(y->dtype));
    return KDISPATCH(op, x->device, group_norm_forward_cpu(x, gamma, beta, groups, eps, silu, y, mean, rstd),
                     group_norm_forward_cuda(x, gamma, beta, groups, eps, silu, y, mean, rstd));
}

int group_norm_backward(const Tensor *x, const Tensor *gamma, const Tensor *beta, const Tensor *mean,
                        const Tensor *rstd, const Tensor *dy, int groups, bool silu, Tensor *dx, Tensor *dgamma,
                        Tensor *dbeta) {
    const char *op = "group_norm_backward";
    /* beta only enters the backward through the SiLU input z. */
    if (check_common(op, x, gamma, beta, !silu, groups, mean, rstd)) return -1;
    if (kcheck_same_any(op, x, dy, "x", "dy") || kcheck_opt_same_any(op, dx, x, "dx", "x") ||
        kcheck_f32(op, dy, "dy") || kcheck_f32(op, dx, "dx") ||
        kcheck_opt_same(op, dgamma, gamma, "dgamma", "gamma") || kcheck_opt_same(op, dbeta, gamma, "dbeta", "gamma"))
        return -1;
    return KDISPATCH(op, x->device,
                     group_norm_backward_cpu(x, gamma, beta, mean, rstd, dy, groups, silu, dx, dgamma, dbeta),
                     group_norm_backward_cuda(x, gamma, beta, mean, rstd, dy, groups, silu, dx, dgamma, dbeta));
}
