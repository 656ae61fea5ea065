/* kernels/cuda/silu.cu — SiLU on the GPU.
 *   forward  y = x * sigmoid(x);  backward dx += dy * s * (1 + x (1 - s))
 * Bytes: forward 8/elem, backward 16/elem (memory-bound; FLOPs negligible).
 * Decomposition: ew_launch (common.cuh): grid-stride loop, 256 threads per block, four
 * elements (one 16-byte access per tensor) per thread and iteration when every pointer is
 * 16-byte aligned, then a scalar tail. (A view or a misaligned tensor runs scalar.)
 * x and y are float or bf16_t (T): fp32 math, y rounded once; 4 (forward) and 12 (backward)
 * bytes an element in bf16. */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/silu.h"
}
#include "kernels/cuda/common.cuh"

__device__ __forceinline__ float silu_f(float x) { return x / (1.0f + __expf(-x)); }

template <class T>
struct SiluOp {
    const T *x;
    T *y;
    template <int V>
    __device__ void run(long i) const {
        float v[V];
        ldv<V>(x + i, v);
        for (int j = 0; j < V; j++) v[j] = silu_f(v[j]);
        stv<V>(y + i, v);
    }
};

/* dx += dy * s * (1 + x (1 - s)) */
template <class T>
struct SiluGradOp {
    const T *x;
    const float *dy;
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
    const bool v = aligned16(x->data) && aligned16(y->data);
    if (x->dtype == DT_BF16)
        return ew_launch("silu_forward", SiluOp<bf16_t>{(const bf16_t *)x->data, (bf16_t *)y->data}, (long)x->numel, v);
    return ew_launch("silu_forward", SiluOp<float>{x->data, y->data}, (long)x->numel, v);
}

extern "C" int silu_backward_cuda(const Tensor *x, const Tensor *dy, Tensor *dx) {
    const bool v = aligned16(x->data) && aligned16(dy->data) && aligned16(dx->data);
    if (x->dtype == DT_BF16)
        return ew_launch("silu_backward", SiluGradOp<bf16_t>{(const bf16_t *)x->data, dy->data, dx->data},
                         (long)x->numel, v);
    return ew_launch("silu_backward", SiluGradOp<float>{x->data, dy->data, dx->data}, (long)x->numel, v);
}
