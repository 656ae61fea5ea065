/* kernels/gaussian.c — checks and device dispatch for the Gaussian KL and the
 * reparameterisation (math in gaussian.h). */
#include "kernels/gaussian.h"

int gaussian_kl_forward(const Tensor *mu, const Tensor *logvar, Tensor *y) {
    const char *op = "gaussian_kl";
    if (kcheck_same(op, mu, logvar, "mu", "logvar") || kcheck(op, y, "y") || kcheck_device(op, mu, y)) return -1;
    if (y->numel != 1) return ldm_error(op, "y %s must have one element (mu %s)", tshape(y), tshape(mu));
    return KDISPATCH(op, mu->device, gaussian_kl_forward_cpu(mu, logvar, y), gaussian_kl_forward_cuda(mu, logvar, y));
}

int gaussian_kl_backward(const Tensor *mu, const Tensor *logvar, const Tensor *dy, Tensor *dmu, Tensor *dlogvar) {
    const char *op = "gaussian_kl_backward";
    if (kcheck_same(op, mu, logvar, "mu", "logvar") || kcheck(op, dy, "dy") || kcheck_device(op, mu, dy) ||
        kcheck_opt_same(op, dmu, mu, "dmu", "mu") || kcheck_opt_same(op, dlogvar, mu, "dlogvar", "mu"))
        return -1;
    if (dy->numel != 1) return ldm_error(op, "dy %s must have one element (mu %s)", tshape(dy), tshape(mu));
    return KDISPATCH(op, mu->device, gaussian_kl_backward_cpu(mu, logvar, dy, dmu, dlogvar),
                     gaussian_kl_backward_cuda(mu, logvar, dy, dmu, dlogvar));
}

int reparameterize_forward(const Tensor *mu, const Tensor *logvar, const Tensor *eps, Tensor *z) {
    const char *op = "reparameterize";
    if (kcheck_same(op, mu, logvar, "mu", "logvar") || kcheck_same(op, mu, eps, "mu", "eps") ||
        kcheck_same(op, mu, z, "mu", "z"))
        return -1;
    return KDISPATCH(op, mu->device, reparameterize_forward_cpu(mu, logvar, eps, z),
                     reparameterize_forward_cuda(mu, logvar, eps, z));
}

int reparameterize_backward(const Tensor *logvar, const Tensor *eps, const Tensor *dz, Tensor *dmu, Tensor *dlogvar) {
    const char *op = "reparameterize_backward";
    if (kcheck_same(op, logvar, eps, "logvar", "eps") || kcheck_same(op, logvar, dz, "logvar", "dz") ||
        kcheck_opt_same(op, dmu, logvar, "dmu", "logvar") || kcheck_opt_same(op, dlogvar, logvar, "dlogvar", "logvar"))
        return -1;
    return KDISPATCH(op, logvar->device, reparameterize_backward_cpu(logvar, eps, dz, dmu, dlogvar),
                     reparameterize_backward_cuda(logvar, eps, dz, dmu, dlogvar));
}
