/* kernels/cuda/reduce.cu — reductions and losses to a scalar (math in kernels/reduce.h).
 *   sum: 1 FLOP, 4 bytes per element.  mse, l1: 3 FLOP, 8 bytes.  sumsq: 2 FLOP, 4 bytes.
 *   backward (broadcast_scalar, mse, l1): 2-4 FLOP, 8-24 bytes per element.
 * Decomposition. Forward: red_launch (common.cuh), a fixed tree in double: red_blocks(n)
 * blocks of 256 threads (a function of n alone), each thread adding a strided set of
 * terms in order, a block sum, then one block adding the partials in order. No atomics:
 * the same bits every run, on any GPU. The result is scaled (1/n for the means) and
 * written to y[0]; sumsq copies it to the host (synchronous). Backward: elementwise
 * (ew_launch), reading the scalar dy[0] on the device. */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/reduce.h"
}
#include "kernels/cuda/common.cuh"

// ---------------------------------------------------------------------------------
// terms of the sums

struct SumTerm {
    const float *x;
    __device__ double operator()(long i) const { return (double)x[i]; }
};

struct SqTerm {
    const float *x;
    __device__ double operator()(long i) const { return (double)x[i] * (double)x[i]; }
};

struct SqDiffTerm {
    const float *a, *b;
    __device__ double operator()(long i) const {
        const double d = (double)a[i] - (double)b[i];
        return d * d;
    }
};

struct AbsDiffTerm {
    const float *a, *b;
    __device__ double operator()(long i) const { return fabs((double)a[i] - (double)b[i]); }
};

// ---------------------------------------------------------------------------------
// backward ops

/* dx += dy[0] * k */
struct BroadcastOp {
    const float *dy;
    float *dx;
    float k;
    template <int V>
    __device__ void run(long i) const {
        const float g = dy[0] * k;
        float v[V];
        ldv<V>(dx + i, v);
        for (int j = 0; j < V; j++) v[j] += g;
        stv<V>(dx + i, v);
    }
};

/* da += s f(a - b), db -= s f(a - b) with s = dy[0] * k; f(d) = 2d (mse) or sign(d) (l1) */
template <bool L1>
struct LossGradOp {
    const float *a, *b, *dy;
    float *da, *db;
    float k;
    template <int V>
    __device__ void run(long i) const {
        const float s = dy[0] * k;
        float av[V], bv[V], g[V];
        ldv<V>(a + i, av);
        ldv<V>(b + i, bv);
        for (int j = 0; j < V; j++) {
            const float d = av[j] - bv[j];
            g[j] = L1 ? s * (float)((d > 0.f) - (d < 0.f)) : s * 2.0f * d;
        }
        if (da) {
            float o[V];
            ldv<V>(da + i, o);
            for (int j = 0; j < V; j++) o[j] += g[j];
            stv<V>(da + i, o);
        }
        if (db) {
            float o[V];
            ldv<V>(db + i, o);
            for (int j = 0; j < V; j++) o[j] -= g[j];
            stv<V>(db + i, o);
        }
    }
};

// ---------------------------------------------------------------------------------
// launchers

static bool al(const Tensor *t) { return !t || aligned16(t->data); }

extern "C" int sum_forward_cuda(const Tensor *x, Tensor *y) {
    return red_launch("sum_forward", SumTerm{x->data}, (long)x->numel, 1.0, y->data);
}

extern "C" int broadcast_scalar_backward_cuda(const Tensor *dy, float k, Tensor *dx) {
    return ew_launch("broadcast_scalar_backward", BroadcastOp{dy->data, dx->data, k}, (long)dx->numel, al(dx));
}

extern "C" int mse_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y) {
    const long n = (long)a->numel;
    return red_launch("mse_forward", SqDiffTerm{a->data, b->data}, n, 1.0 / (double)n, y->data);
}

extern "C" int mse_backward_cuda(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    if (!da && !db) return 0;
    const long n = (long)a->numel;
    LossGradOp<false> op{a->data, b->data, dy->data, da ? da->data : NULL, db ? db->data : NULL, 1.0f / (float)n};
    return ew_launch("mse_backward", op, n, al(a) && al(b) && al(da) && al(db));
}

extern "C" int l1_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y) {
    const long n = (long)a->numel;
    return red_launch("l1_forward", AbsDiffTerm{a->data, b->data}, n, 1.0 / (double)n, y->data);
}

extern "C" int l1_backward_cuda(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    if (!da && !db) return 0;
    const long n = (long)a->numel;
    LossGradOp<true> op{a->data, b->data, dy->data, da ? da->data : NULL, db ? db->data : NULL, 1.0f / (float)n};
    return ew_launch("l1_backward", op, n, al(a) && al(b) && al(da) && al(db));
}

extern "C" int sumsq_cuda(const Tensor *x, double *out) {
    if (red_launch("sumsq", SqTerm{x->data}, (long)x->numel, 1.0, NULL)) return -1;
    return red_fetch(out);
}
