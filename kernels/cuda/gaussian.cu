/* kernels/cuda/gaussian.cu — the VAE's Gaussian KL term and reparameterisation (math in
 * kernels/gaussian.h). lv is clamped to [LOGVAR_MIN, LOGVAR_MAX] first; outside that
 * range its gradient is 0.
 *   kl forward: y = mean 0.5 (mu^2 + e^lv - 1 - lv); ~6 FLOP + exp, 8 bytes per element.
 *   kl backward: dmu += dy mu / n, dlv += dy 0.5 (e^lv - 1) / n; 16-24 bytes.
 *   reparameterize: z = mu + e^(lv/2) eps; 12 + 4 bytes.  backward: dmu += dz,
 *     dlv += dz 0.5 e^(lv/2) eps; up to 28 bytes.
 * Decomposition: the KL sum is red_launch (common.cuh: fixed tree in double, no
 * atomics); everything else is elementwise (ew_launch, float4 when aligned). */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/gaussian.h"
}
#include "kernels/cuda/common.cuh"

__device__ __forceinline__ float lv_clamp(float lv) { return fminf(fmaxf(lv, LOGVAR_MIN), LOGVAR_MAX); }
__device__ __forceinline__ bool lv_inside(float lv) { return lv >= LOGVAR_MIN && lv <= LOGVAR_MAX; }

// ---------------------------------------------------------------------------------
// ops

struct KlTerm {
    const float *mu, *lv;
    __device__ double operator()(long i) const {
        const float m = mu[i], l = lv_clamp(lv[i]);
        return 0.5 * ((double)m * m + (double)expf(l) - 1.0 - (double)l);
    }
};

struct KlGradOp {
    const float *mu, *lv, *dy;
    float *dmu, *dlv;
    float inv_n;
    template <int V>
    __device__ void run(long i) const {
        const float g = dy[0] * inv_n;
        if (dmu) {
            float m[V], o[V];
            ldv<V>(mu + i, m);
            ldv<V>(dmu + i, o);
            for (int j = 0; j < V; j++) o[j] += g * m[j];
            stv<V>(dmu + i, o);
        }
        if (dlv) {
            float l[V], o[V];
            ldv<V>(lv + i, l);
            ldv<V>(dlv + i, o);
            for (int j = 0; j < V; j++)
                if (lv_inside(l[j])) o[j] += g * 0.5f * (expf(l[j]) - 1.0f);
            stv<V>(dlv + i, o);
        }
    }
};

struct ReparamOp {
    const float *mu, *lv, *eps;
    float *z;
    template <int V>
    __device__ void run(long i) const {
        float m[V], l[V], e[V];
        ldv<V>(mu + i, m);
        ldv<V>(lv + i, l);
        ldv<V>(eps + i, e);
        for (int j = 0; j < V; j++) m[j] += expf(0.5f * lv_clamp(l[j])) * e[j];
        stv<V>(z + i, m);
    }
};

struct ReparamGradOp {
    const float *lv, *eps, *dz;
    float *dmu, *dlv;
    template <int V>
    __device__ void run(long i) const {
        float g[V];
        ldv<V>(dz + i, g);
        if (dmu) {
            float o[V];
            ldv<V>(dmu + i, o);
            for (int j = 0; j < V; j++) o[j] += g[j];
            stv<V>(dmu + i, o);
        }
        if (dlv) {
            float l[V], e[V], o[V];
            ldv<V>(lv + i, l);
            ldv<V>(eps + i, e);
            ldv<V>(dlv + i, o);
            for (int j = 0; j < V; j++)
                if (lv_inside(l[j])) o[j] += g[j] * 0.5f * expf(0.5f * l[j]) * e[j];
            stv<V>(dlv + i, o);
        }
    }
};

// ---------------------------------------------------------------------------------
// launchers

static bool al(const Tensor *t) { return !t || aligned16(t->data); }
static float *dp(Tensor *t) { return t ? t->data : NULL; }

extern "C" int gaussian_kl_forward_cuda(const Tensor *mu, const Tensor *logvar, Tensor *y) {
    const long n = (long)mu->numel;
    return red_launch("gaussian_kl_forward", KlTerm{mu->data, logvar->data}, n, 1.0 / (double)n, y->data);
}

extern "C" int gaussian_kl_backward_cuda(const Tensor *mu, const Tensor *logvar, const Tensor *dy, Tensor *dmu,
                                         Tensor *dlogvar) {
    if (!dmu && !dlogvar) return 0;
    const long n = (long)mu->numel;
    KlGradOp op{mu->data, logvar->data, dy->data, dp(dmu), dp(dlogvar), 1.0f / (float)n};
    return ew_launch("gaussian_kl_backward", op, n, al(mu) && al(logvar) && al(dmu) && al(dlogvar));
}

extern "C" int reparameterize_forward_cuda(const Tensor *mu, const Tensor *logvar, const Tensor *eps, Tensor *z) {
    return ew_launch("reparameterize_forward", ReparamOp{mu->data, logvar->data, eps->data, z->data}, (long)z->numel,
                     al(mu) && al(logvar) && al(eps) && al(z));
}

extern "C" int reparameterize_backward_cuda(const Tensor *logvar, const Tensor *eps, const Tensor *dz, Tensor *dmu,
                                            Tensor *dlogvar) {
    if (!dmu && !dlogvar) return 0;
    ReparamGradOp op{logvar->data, eps->data, dz->data, dp(dmu), dp(dlogvar)};
    return ew_launch("reparameterize_backward", op, (long)dz->numel,
                     al(logvar) && al(eps) && al(dz) && al(dmu) && al(dlogvar));
}
