/* kernels/layer_norm.c — checks and device dispatch for layer norm (math in layer_norm.h). */
#include <math.h>

#include "kernels/layer_norm.h"

/* x (..., C); gamma (C); mean and rstd (rows). */
static int check_common(const char *op, const Tensor *x, const Tensor *gamma, const Tensor *mean,
                        const Tensor *rstd) {
    if (kcheck(op, x, "x")) return -1;
    int c = tensor_cols(x);
    size_t rows = tensor_rows(x);
    if (kcheck_rank(op, gamma, 1, "gamma") || kcheck_device(op, x, gamma)) return -1;
    if (gamma->shape[0] != c) return ldm_error(op, "gamma %s must be (%d) for x %s", tshape(gamma), c, tshape(x));
    const Tensor *stats[2] = {mean, rstd};
    const char *names[2] = {"mean", "rstd"};
    for (int i = 0; i < 2; i++) {
        if (kcheck_rank(op, stats[i], 1, names[i]) || kcheck_device(op, x, stats[i])) return -1;
        if ((size_t)stats[i]->shape[0] != rows)
            return ldm_error(op, "%s %s must be (rows) = (%zu) for x %s", names[i], tshape(stats[i]), rows,
                             tshape(x));
    }
    return 0;
}

int layer_norm_forward(const Tensor *x, const Tensor *gamma, const Tensor *beta, float eps, Tensor *y, Tensor *mean,
                       Tensor *rstd) {
    const char *op = "layer_norm";
    if (check_common(op, x, gamma, mean, rstd) || kcheck_same(op, beta, gamma, "beta", "gamma") ||
        kcheck_same(op, x, y, "x", "y"))
        return -1;
    if (!(eps >= 0.0f) || isinf(eps)) return ldm_error(op, "eps = %g must be finite and >= 0 (x %s)", eps, tshape(x));
    return KDISPATCH(op, x->device, layer_norm_forward_cpu(x, gamma, beta, eps, y, mean, rstd),
                     layer_norm_forward_cuda(x, gamma, beta, eps, y, mean, rstd));
}

int layer_norm_backward(const Tensor *x, const Tensor *gamma, const Tensor *mean, const Tensor *rstd,
                        const Tensor *dy, Tensor *dx, Tensor *dgamma, Tensor *dbeta) {
    const char *op = "layer_norm_backward";
    if (check_common(op, x, gamma, mean, rstd) || kcheck_same(op, x, dy, "x", "dy") ||
        kcheck_opt_same(op, dx, x, "dx", "x") || kcheck_opt_same(op, dgamma, gamma, "dgamma", "gamma") ||
        kcheck_opt_same(op, dbeta, gamma, "dbeta", "gamma"))
        return -1;
    return KDISPATCH(op, x->device, layer_norm_backward_cpu(x, gamma, mean, rstd, dy, dx, dgamma, dbeta),
                     layer_norm_backward_cuda(x, gamma, mean, rstd, dy, dx, dgamma, dbeta));
}
