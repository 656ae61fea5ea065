/* kernels/cuda/linear.cu — fully connected layer on the GPU (math in kernels/linear.h).
 *   x (M, IN) (all leading dims flattened), w (OUT, IN), b (OUT), y (M, OUT)
 *   y = x w^T + b;  dx += dy w;  dw += dy^T x;  db += sum_rows dy
 * FLOP: 2*M*IN*OUT for each of y, dx, dw. Bytes (minimum): 4*(M*IN + OUT*IN + M*OUT) each.
 *
 * Versions (kernel_version("linear"); 0 = 2, or 3 in bf16 precision: kernel_prefer_tensor_cores):
 *   1  naive: one thread per output element (y, dx, dw, db), plain dot-product loops.
 *   2  the tiled SGEMM main loop of gemm.cuh (block 128x128 of the output, 8x8 per thread,
 *      k-tiles of 8, double-buffered shared memory), row-major operands read in place
 *      with the transposes folded into the loaders:
 *        y  = x w^T : A = x (k-contiguous), B(k, n) = w[n, k] (k-contiguous), bias in the
 *                     epilogue;
 *        dx += dy w : A = dy (k-contiguous), B(k, n) = w[k, n] (n-contiguous);
 *        dw += dy^T x : A(o, m) = dy[m, o] (o-contiguous), B(m, i) = x[m, i] (i-contiguous),
 *                     reduction over the M rows split-K through the scratch buffer and a
 *                     fixed-order second pass (deterministic, no atomics);
 *        db += colsum(dy): two fixed-order passes (gemm.cu).
 *      float4 global loads where the leading dimension is a multiple of 4.
 *   3  forward, dx and dw on the bf16 tensor cores (mma.sync, ldmatrix, cp.async pipeline;
 *      linear_tc.cu), inputs rounded to bf16, fp32 accumulation; db as version 2.
 * Accuracy: fp32 FMA; differs from the CPU only by summation order (version 3: bf16 inputs,
 * see linear_tc.cu).
 */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/linear.h"
#include "kernels/versions.h"
}
#include "kernels/cuda/gemm.cuh"

static int lin_grid(long n) {
    long g = (n + 255) / 256;
    return (int)(g < 1 ? 1 : g);
}

// ---------------------------------------------------------------------------------------
// Version 1: naive kernels

__global__ void linear_fwd_naive(const float *__restrict__ x, const float *__restrict__ w,
                                 const float *__restrict__ b, float *__restrict__ y, long m, int in, int out) {
    const long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= m * out) return;
    const long r = idx / out;
    const int o = (int)(idx - r * out);
    float acc = b ? b[o] : 0.0f;
    for (int i = 0; i < in; i++) acc = fmaf(x[r * in + i], w[(long)o * in + i], acc);
    y[idx] = acc;
}

__global__ void linear_dx_naive(const float *__restrict__ dy, const float *__restrict__ w, float *__restrict__ dx,
                                long m, int in, int out) {
    const long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= m * in) return;
    const long r = idx / in;
    const int i = (int)(idx - r * in);
    float acc = 0.0f;
    for (int o = 0; o < out; o++) acc = fmaf(dy[r * out + o], w[(long)o * in + i], acc);
    dx[idx] += acc;
}

__global__ void linear_dw_naive(const float *__restrict__ dy, const float *__restrict__ x, float *__restrict__ dw,
                                long m, int in, int out) {
    const long idx = blockIdx.x * (long)blockDim.x + threadIdx.x;
    if (idx >= (long)out * in) return;
    const int o = (int)(idx / in), i = (int)(idx - (long)o * in);
    float acc = 0.0f;
    for (long r = 0; r < m; r++) acc = fmaf(dy[r * out + o], x[r * in + i], acc);
    dw[idx] += acc;
}

__global__ void linear_db_naive(const float *__restrict__ dy, float *__restrict__ db, long m, int out) {
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= out) return;
    float acc = 0.0f;
    for (long r = 0; r < m; r++) acc += dy[r * out + o];
    db[o] += acc;
}

// ---------------------------------------------------------------------------------------
// Launchers

static int linear_version(void) {
    const int v = kernel_version("linear");
    if (v == 0) return kernel_prefers_tensor_cores() ? 3 : 2;
    if (v >= 1 && v <= 3) return v;
    return ldm_error("linear", "no CUDA version %d of linear (have 1 = naive, 2 = tiled SGEMM, 3 = bf16 mma)", v);
}

extern "C" int linear_forward_cuda(const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y) {
    const int v = linear_version();
    if (v < 0) return -1;
    const long m = (long)tensor_rows(x);
    const int in = tensor_cols(x), out = w->shape[0];
    const float *bias = b ? b->data : nullptr;
    if (m == 0) return 0;
    if (v == 3) return linear_forward_tc_cuda(x, w, b, y);
    if (v == 1) {
        LDM_LAUNCH(linear_fwd_naive, lin_grid(m * out), 256)(x->data, w->data, bias, y->data, m, in, out);
        CUDA_LAUNCH_CHECK("linear_forward_naive");
        return 0;
    }
    const bool vec = in % 4 == 0 && gemm_aligned16(x->data) && gemm_aligned16(w->data);
    const MatK la = {x->data, in, (int)m, in, vec};
    const MatK lb = {w->data, in, out, in, vec};
    const EpiRowMajor epi = {y->data, bias, nullptr, 0, out, false, nullptr};
    const int ktiles = (in + GEMM_BK - 1) / GEMM_BK;
    return gemm_launch("linear_forward_sgemm", (int)m, out, ktiles, 1, ktiles, la, lb, epi);
}

extern "C" int linear_backward_cuda(const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx, Tensor *dw,
                                    Tensor *db) {
    const int v = linear_version();
    if (v < 0) return -1;
    const long m = (long)tensor_rows(x);
    const int in = tensor_cols(x), out = w->shape[0];
    if (m == 0) return 0;
    if (v == 1) {
        if (dx) {
            LDM_LAUNCH(linear_dx_naive, lin_grid(m * in), 256)(dy->data, w->data, dx->data, m, in, out);
            CUDA_LAUNCH_CHECK("linear_dx_naive");
        }
        if (dw) {
            LDM_LAUNCH(linear_dw_naive, lin_grid((long)out * in), 256)(dy->data, x->data, dw->data, m, in, out);
            CUDA_LAUNCH_CHECK("linear_dw_naive");
        }
        if (db) {
            LDM_LAUNCH(linear_db_naive, lin_grid(out), 256)(dy->data, db->data, m, out);
            CUDA_LAUNCH_CHECK("linear_db_naive");
        }
        return 0;
    }
    const bool vec_in = in % 4 == 0, vec_out = out % 4 == 0;
    if (dx && v == 3) {
        if (linear_dx_tc_cuda(w, dy, dx)) return -1;
    } else if (dx) {
        const MatK la = {dy->data, out, (int)m, out, vec_out && gemm_aligned16(dy->data)};
        const MatMN lb = {w->data, in, in, out, vec_in && gemm_aligned16(w->data)};
        const EpiRowMajor epi = {dx->data, nullptr, nullptr, 0, in, true, nullptr};
        const int ktiles = (out + GEMM_BK - 1) / GEMM_BK;
        if (gemm_launch("linear_dx_sgemm", (int)m, in, ktiles, 1, ktiles, la, lb, epi)) return -1;
    }
    if (dw && v == 3) {
        if (linear_dw_tc_cuda(x, dy, dw)) return -1;
    } else if (dw) {
        const MatMN la = {dy->data, out, out, (int)m, vec_out && gemm_aligned16(dy->data)};
        const MatMN lb = {x->data, in, in, (int)m, vec_in && gemm_aligned16(x->data)};
        if (gemm_accumulate_splitk("linear_dw_sgemm", out, in, (int)((m + GEMM_BK - 1) / GEMM_BK), la, lb,
                                   dw->data))
            return -1;
    }
    if (db && ldm_colsum_accumulate(dy->data, m, out, db->data)) return -1;
    return 0;
}
