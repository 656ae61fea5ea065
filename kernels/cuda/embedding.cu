/* kernels/cuda/embedding.cu — table lookup and the sinusoidal timestep embedding (math in
 * kernels/embedding.h).
 *   embedding forward: y[n, :] = table[ids[n], :]; 8 bytes per output element.
 *   embedding backward: dtable[v, d] += dy[n, d] for every n with ids[n] == v, in order
 *     of n; reads dy once per table row block, ids from shared memory.
 *   timestep embedding: y[n, i] = cos(t_n f_i), y[n, half + i] = sin(t_n f_i),
 *     f_i = exp(-ln(max_period) i / half); ~40 FLOP (double exp, cos, sin), 8 bytes
 *     written per pair.
 * Decomposition.
 *   ids are floats holding integers; a validation kernel first flags the lowest n whose
 *     id is not an integer in [0, V) (an integer atomicMin, order-independent), and the
 *     host reads the flag back (one small synchronous copy per call) so a bad id is an
 *     error before anything is written.
 *   forward: one thread per output element, grid-stride.
 *   backward: block (row v = blockIdx.x, 256 columns d from blockIdx.y); ids staged
 *     through shared memory 256 at a time; thread (v, d) adds the matching dy rows into
 *     a register in order of n, then writes dtable once. No atomics, so the sum is
 *     bitwise the CPU's sequential order.
 *   timestep: one thread per (n, i < half), computed in double (the float CPU result
 *     carries up to ~1e-4 absolute rounding for t near 1000 from its float argument). */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/embedding.h"
}
#include <limits.h>

#include "kernels/cuda/common.cuh"

__device__ int emb_first_bad;

/* The row index of id value f, or -1 when f is not an integer in [0, V). */
__device__ __forceinline__ int emb_row(float f, int V) {
    return (f >= 0.0f && f < (float)V && f == floorf(f)) ? (int)f : -1;
}

// ---------------------------------------------------------------------------------
// kernels

__global__ void emb_validate_kernel(const float *__restrict__ ids, int N, int V) {
    for (int n = blockIdx.x * blockDim.x + threadIdx.x; n < N; n += gridDim.x * blockDim.x)
        if (emb_row(ids[n], V) < 0) atomicMin(&emb_first_bad, n);
}

__global__ void __launch_bounds__(EW_THREADS)
    emb_forward_kernel(const float *__restrict__ table, const float *__restrict__ ids, float *__restrict__ y,
                       long total, int D, int V) {
    for (long i = blockIdx.x * (long)EW_THREADS + threadIdx.x; i < total; i += (long)gridDim.x * EW_THREADS) {
        const long n = i / D;
        const int d = (int)(i % D);
        y[i] = table[(long)emb_row(ids[n], V) * D + d];
    }
}

__global__ void __launch_bounds__(256)
    emb_backward_kernel(const float *__restrict__ ids, const float *__restrict__ dy, float *__restrict__ dtable, int N,
                        int D, int V) {
    __shared__ int rows[256];
    const int v = blockIdx.x, d = blockIdx.y * 256 + threadIdx.x;
    float acc = d < D ? dtable[(long)v * D + d] : 0.f;
    for (int n0 = 0; n0 < N; n0 += 256) {
        __syncthreads();
        if (n0 + (int)threadIdx.x < N) rows[threadIdx.x] = emb_row(ids[n0 + threadIdx.x], V);
        __syncthreads();
        const int m = min(256, N - n0);
        if (d < D)
            for (int k = 0; k < m; k++)
                if (rows[k] == v) acc += dy[(long)(n0 + k) * D + d];
    }
    if (d < D) dtable[(long)v * D + d] = acc;
}

__global__ void __launch_bounds__(EW_THREADS)
    timestep_embedding_kernel(const float *__restrict__ t, float *__restrict__ y, long total, int half,
                              double log_max_period) {
    for (long i = blockIdx.x * (long)EW_THREADS + threadIdx.x; i < total; i += (long)gridDim.x * EW_THREADS) {
        const long n = i / half;
        const int k = (int)(i % half);
        const double f = exp(-log_max_period * k / half), a = (double)t[n] * f;
        double s, c;
        sincos(a, &s, &c);
        y[n * 2 * half + k] = (float)c;
        y[n * 2 * half + half + k] = (float)s;
    }
}

// ---------------------------------------------------------------------------------
// launchers

static int emb_validate(const char *op, const Tensor *ids, int V) {
    const int N = (int)ids->numel;
    const int none = INT_MAX;
    CUDA_TRY(cudaMemcpyToSymbol(emb_first_bad, &none, sizeof(int)));
    LDM_LAUNCH(emb_validate_kernel, ew_grid(N), EW_THREADS)(ids->data, N, V);
    CUDA_LAUNCH_CHECK(op);
    int bad;
    CUDA_TRY(cudaMemcpyFromSymbol(&bad, emb_first_bad, sizeof(int)));
    if (bad == none) return 0;
    float val;
    CUDA_TRY(cudaMemcpy(&val, ids->data + bad, sizeof(float), cudaMemcpyDeviceToHost));
    return ldm_error(op, "ids %s: ids[%d] = %g is not an integer in [0, %d)", tshape(ids), bad, val, V);
}

extern "C" int embedding_forward_cuda(const Tensor *table, const Tensor *ids, Tensor *y) {
    const int V = table->shape[0], D = table->shape[1];
    if (emb_validate("embedding", ids, V)) return -1;
    const long total = (long)y->numel;
    LDM_LAUNCH(emb_forward_kernel, ew_grid(total), EW_THREADS)(table->data, ids->data, y->data, total, D, V);
    CUDA_LAUNCH_CHECK("embedding_forward");
    return 0;
}

extern "C" int embedding_backward_cuda(const Tensor *ids, const Tensor *dy, Tensor *dtable) {
    const int V = dtable->shape[0], D = dtable->shape[1], N = (int)ids->numel;
    if (emb_validate("embedding_backward", ids, V)) return -1;
    if ((D + 255) / 256 > 65535)
        return ldm_error("embedding_backward", "dtable %s: rows too wide for the CUDA kernel", tshape(dtable));
    dim3 grid((unsigned)V, (D + 255) / 256);
    LDM_LAUNCH(emb_backward_kernel, grid, 256)(ids->data, dy->data, dtable->data, N, D, V);
    CUDA_LAUNCH_CHECK("embedding_backward");
    return 0;
}

extern "C" int timestep_embedding_forward_cuda(const Tensor *t, float max_period, Tensor *y) {
    const int half = y->shape[y->ndim - 1] / 2;
    const long total = (long)t->numel * half;
    LDM_LAUNCH(timestep_embedding_kernel, ew_grid(total), EW_THREADS)(t->data, y->data, total, half,
                                                              log((double)max_period));
    CUDA_LAUNCH_CHECK("timestep_embedding_forward");
    return 0;
}
