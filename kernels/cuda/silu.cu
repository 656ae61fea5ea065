/* kernels/cuda/silu.cu — SiLU on the GPU.
 *   forward  y = x * sigmoid(x);  backward dx += dy * s * (1 + x (1 - s))
 * Bytes: forward 8/elem, backward 16/elem (memory-bound; FLOPs negligible).
 * Decomposition: ew_launch (common.cuh): grid-stride loop, 256 threads per block, four
 * elements (one 16-byte access per tensor) per thread and iteration when every pointer is
 * 16-byte aligned, then a scalar tail. (A view or a misaligned tensor runs scalar.) */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/silu.h"
}
#include "kernels/cuda/common.cuh"

__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + __expf(-x)); }

struct SiluOp {
    const float *x;
    float *y;
    template <int V>
    __device__ void run(long i) const {
        float v[V];
        ldv<V>(x + i, v);
        for (int j = 0; j < V; j++) v[j] = silu_f(v[j]);
        stv<V>(y + i, v);
    }
};

/* dx += dy * s * (1 + x (1 - s)) */
struct SiluGradOp {
    const float *x, *dy;
    float *dx;
    template <int V>
    __device__ void run(long i) const {
        float xv[V], g[V], o[V];
        ldv<V>(x + i, xv);
        ldv<V>(dy + i, g);
        ldv<V>(dx + i, o);
        for (int j = 0; j < V; j++) {
            const float s = 1.0f / (1.0f + __expf(-xv[j]));
            o[j] += g[j] * s * (1.0f + xv[j] * (1.0f - s));
        }
        stv<V>(dx + i, o);
    }
};

extern "C" int silu_forward_cuda(const Tensor *x, Tensor *y) {
    return ew_launch("silu_forward", SiluOp{x->data, y->data}, (long)x->numel,
                     aligned16(x->data) && aligned16(y->data));
}

extern "C" int silu_backward_cuda(const Tensor *x, const Tensor *dy, Tensor *dx) {
    return ew_launch("silu_backward", SiluGradOp{x->data, dy->data, dx->data}, (long)x->numel,
                     aligned16(x->data) && aligned16(dy->data) && aligned16(dx->data));
}
