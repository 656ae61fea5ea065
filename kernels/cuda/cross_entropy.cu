/* kernels/cuda/cross_entropy.cu — softmax cross-entropy (math in kernels/cross_entropy.h).
 * Decomposition: forward, a thread owns a row (its max, sum of exponentials and loss
 * term), summed into y by red_launch (common.cuh: a fixed tree in double, no atomics);
 * backward, a thread owns an element and recomputes its row's max and sum (K <= 64
 * classes, so N K^2 FLOP is negligible beside the network). A label outside [0, K)
 * contributes nothing (the host cannot see GPU labels without a copy). */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/cross_entropy.h"
}
#include "kernels/cuda/common.cuh"

__device__ __forceinline__ void ce_row(const float *z, int K, float *m, float *s) {
    float mx = z[0], sum = 0.f;
    for (int k = 1; k < K; k++) mx = fmaxf(mx, z[k]);
    for (int k = 0; k < K; k++) sum += expf(z[k] - mx);
    *m = mx, *s = sum;
}

struct CeTerm {
    const float *z, *labels;
    int K;
    __device__ double operator()(long i) const {
        const int l = (int)labels[i];
        if (l < 0 || l >= K) return 0.0;
        float m, s;
        ce_row(z + i * K, K, &m, &s);
        return (double)m + log((double)s) - (double)z[i * K + l];
    }
};

struct CeGradOp {
    const float *z, *labels, *dy;
    float *dz;
    int K;
    float inv_n;
    template <int V>
    __device__ void run(long e) const {
        for (int j = 0; j < V; j++) {
            const long i = (e + j) / K;
            const int k = (int)((e + j) % K), l = (int)labels[i];
            if (l < 0 || l >= K) continue;
            float m, s;
            ce_row(z + i * K, K, &m, &s);
            dz[e + j] += dy[0] * inv_n * (expf(z[e + j] - m) / s - (k == l ? 1.f : 0.f));
        }
    }
};

extern "C" int cross_entropy_forward_cuda(const Tensor *z, const Tensor *labels, Tensor *y) {
    const long N = z->shape[0];
    return red_launch("cross_entropy_forward", CeTerm{z->data, labels->data, z->shape[1]}, N, 1.0 / (double)N, y->data);
}

extern "C" int cross_entropy_backward_cuda(const Tensor *z, const Tensor *labels, const Tensor *dy, Tensor *dz) {
    CeGradOp op{z->data, labels->data, dy->data, dz->data, z->shape[1], 1.0f / (float)z->shape[0]};
    return ew_launch("cross_entropy_backward", op, (long)z->numel, false);
}
