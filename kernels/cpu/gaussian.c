/* kernels/cpu/gaussian.c — Gaussian KL and reparameterisation on the CPU (math in
 * kernels/gaussian.h). lv is clamped to [LOGVAR_MIN, LOGVAR_MAX]; outside that range the
 * gradient with respect to lv is 0 (the clamp's derivative), inside it flows as usual.
 *   kl forward: ~6 FLOP + exp, 8 bytes/elem; summed like reduce.h (fixed blocks in double,
 *     deterministic for any thread count).
 *   kl backward: ~5 FLOP + exp, 8 bytes read + up to 16 read/written per element.
 *   reparameterize forward: 3 FLOP + exp, 16 bytes/elem; backward ~4 FLOP + exp, up to 28. */
#include <math.h>

#include "kernels/cpu/cpu_util.h"
#include "kernels/reduce.h"
#include "kernels/gaussian.h"


static inline float clamp_lv(float lv) { return lv < LOGVAR_MIN ? LOGVAR_MIN : lv > LOGVAR_MAX ? LOGVAR_MAX : lv; }
static inline bool lv_inside(float lv) { return lv >= LOGVAR_MIN && lv <= LOGVAR_MAX; }

typedef struct {
    const float *mu, *lv;
} KlIn;

static double kl_block(const void *ctx, long lo, long hi) {
    const KlIn *p = ctx;
    double s = 0;
    for (long i = lo; i < hi; i++) {
        double m = p->mu[i], lv = clamp_lv(p->lv[i]);
        s += 0.5 * (m * m + exp(lv) - 1.0 - lv);
    }
    return s;
}

int gaussian_kl_forward_cpu(const Tensor *mu, const Tensor *logvar, Tensor *y) {
    double s;
    if (reduce_blocked_cpu("gaussian_kl", (long)mu->numel, kl_block, &(KlIn){mu->data, logvar->data}, &s)) return -1;
    y->data[0] = (float)(s / (double)mu->numel);
    return 0;
}

int gaussian_kl_backward_cpu(const Tensor *mu, const Tensor *logvar, const Tensor *dy, Tensor *dmu, Tensor *dlogvar) {
    const long n = (long)mu->numel;
    const float k = (float)(dy->data[0] / (double)n);
    const float *m = mu->data, *lv = logvar->data;
    float *dm = dmu ? dmu->data : NULL, *dl = dlogvar ? dlogvar->data : NULL;
#pragma omp parallel for schedule(static) if (cpu_par(24.0 * n))
    for (long i = 0; i < n; i++) {
        if (dm) dm[i] += k * m[i];
        if (dl && lv_inside(lv[i])) dl[i] += k * 0.5f * (expf(lv[i]) - 1.0f);
    }
    return 0;
}

int reparameterize_forward_cpu(const Tensor *mu, const Tensor *logvar, const Tensor *eps, Tensor *z) {
    const long n = (long)mu->numel;
    const float *m = mu->data, *lv = logvar->data, *e = eps->data;
    float *zp = z->data;
#pragma omp parallel for schedule(static) if (cpu_par(16.0 * n))
    for (long i = 0; i < n; i++) zp[i] = m[i] + expf(0.5f * clamp_lv(lv[i])) * e[i];
    return 0;
}

int reparameterize_backward_cpu(const Tensor *logvar, const Tensor *eps, const Tensor *dz, Tensor *dmu,
                                Tensor *dlogvar) {
    const long n = (long)logvar->numel;
    const float *lv = logvar->data, *e = eps->data, *g = dz->data;
    float *dm = dmu ? dmu->data : NULL, *dl = dlogvar ? dlogvar->data : NULL;
#pragma omp parallel for schedule(static) if (cpu_par(28.0 * n))
    for (long i = 0; i < n; i++) {
        if (dm) dm[i] += g[i];
        if (dl && lv_inside(lv[i])) dl[i] += g[i] * 0.5f * expf(0.5f * lv[i]) * e[i];
    }
    return 0;
}
