/* kernels/cuda/layer_norm.cu — layer normalisation over the last dim.
 *
 * Math (kernels/layer_norm.h), per row of C values:
 *   mu = mean(x), var = mean((x - mu)^2), rstd = 1/sqrt(var + eps)
 *   xh = (x - mu) rstd;  y = xh gamma + beta
 * backward: g = dy gamma;  dx += rstd (g - mean(g) - xh mean(g xh))
 *           dgamma += sum_rows dy xh;  dbeta += sum_rows dy
 * Cost per element: forward ~7 FLOP, 8 bytes; backward ~10 FLOP, 16 bytes for dx plus
 * 8 bytes more for the parameter gradients (x and dy read again).
 *
 * Decomposition.
 *   forward and dx: one warp per row (8 rows per 256-thread block); lanes stride over
 *     the row, float4 when C % 4 == 0; the row is read three times (sum, squared
 *     deviations, output), the second and third from L1; warp sums by butterfly.
 *   dgamma, dbeta: a block of 32 x 8 threads owns 32 channels of a chunk of
 *     LN_CHUNK_ROWS rows; each thread sums every 8th row, a fixed tree over the 8
 *     finishes the chunk into a (chunks, C) scratch, and a second kernel adds the chunks
 *     in order. No float atomics: bitwise the same every run. */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/layer_norm.h"
}
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/scratch.h"

#define LN_WARPS 8
#define LN_CHUNK_ROWS 128

// ---------------------------------------------------------------------------------
// kernels

template <int V>
__global__ void __launch_bounds__(LN_WARPS * 32)
    ln_forward_kernel(const float *__restrict__ x, const float *__restrict__ gamma, const float *__restrict__ beta,
                      float *__restrict__ y, float *__restrict__ mean, float *__restrict__ rstd, long rows, int C,
                      float eps) {
    const long row = blockIdx.x * (long)LN_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31, cv = C / V;
    if (row >= rows) return;
    const float *xr = x + row * C;
    float s = 0.f;
    for (int c = lane; c < cv; c += 32) {
        float v[V];
        ldv<V>(xr + c * V, v);
        for (int j = 0; j < V; j++) s += v[j];
    }
    const float mu = warp_sum(s) / (float)C;
    float q = 0.f;
    for (int c = lane; c < cv; c += 32) {
        float v[V];
        ldv<V>(xr + c * V, v);
        for (int j = 0; j < V; j++) {
            float t = v[j] - mu;
            q += t * t;
        }
    }
    const float rs = 1.0f / sqrtf(warp_sum(q) / (float)C + eps);
    if (lane == 0) {
        mean[row] = mu;
        rstd[row] = rs;
    }
    float *yr = y + row * C;
    for (int c = lane; c < cv; c += 32) {
        float v[V], g[V], b[V];
        ldv<V>(xr + c * V, v);
        ldv<V>(gamma + c * V, g);
        ldv<V>(beta + c * V, b);
        for (int j = 0; j < V; j++) v[j] = (v[j] - mu) * rs * g[j] + b[j];
        stv<V>(yr + c * V, v);
    }
}

template <int V>
__global__ void __launch_bounds__(LN_WARPS * 32)
    ln_backward_dx_kernel(const float *__restrict__ x, const float *__restrict__ gamma,
                          const float *__restrict__ mean, const float *__restrict__ rstd,
                          const float *__restrict__ dy, float *__restrict__ dx, long rows, int C) {
    const long row = blockIdx.x * (long)LN_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31, cv = C / V;
    if (row >= rows) return;
    const float *xr = x + row * C, *gr = dy + row * C;
    const float mu = mean[row], rs = rstd[row];
    float a = 0.f, b = 0.f;
    for (int c = lane; c < cv; c += 32) {
        float v[V], d[V], g[V];
        ldv<V>(xr + c * V, v);
        ldv<V>(gr + c * V, d);
        ldv<V>(gamma + c * V, g);
        for (int j = 0; j < V; j++) {
            float gx = d[j] * g[j];
            a += gx;
            b += gx * ((v[j] - mu) * rs);
        }
    }
    const float A = warp_sum(a) / (float)C, B = warp_sum(b) / (float)C;
    float *dr = dx + row * C;
    for (int c = lane; c < cv; c += 32) {
        float v[V], d[V], g[V], o[V];
        ldv<V>(xr + c * V, v);
        ldv<V>(gr + c * V, d);
        ldv<V>(gamma + c * V, g);
        ldv<V>(dr + c * V, o);
        for (int j = 0; j < V; j++) o[j] += rs * (d[j] * g[j] - A - (v[j] - mu) * rs * B);
        stv<V>(dr + c * V, o);
    }
}

/* Block (32, 8): channels blockIdx.y*32 + tx, rows of chunk blockIdx.x. Writes the
 * chunk's sums to pg, pb (chunks, C). */
__global__ void __launch_bounds__(256)
    ln_param_partial_kernel(const float *__restrict__ x, const float *__restrict__ mean,
                            const float *__restrict__ rstd, const float *__restrict__ dy, float *__restrict__ pg,
                            float *__restrict__ pb, long rows, int C) {
    __shared__ float tg[8][33], tb[8][33];
    const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
    const int c = blockIdx.y * 32 + tx;
    const long r0 = blockIdx.x * (long)LN_CHUNK_ROWS, r1 = min(rows, r0 + LN_CHUNK_ROWS);
    float sg = 0.f, sb = 0.f;
    if (c < C)
        for (long r = r0 + ty; r < r1; r += 8) {
            const float d = dy[r * C + c];
            sg += d * ((x[r * C + c] - mean[r]) * rstd[r]);
            sb += d;
        }
    tg[ty][tx] = sg;
    tb[ty][tx] = sb;
    __syncthreads();
    for (int s = 4; s > 0; s >>= 1) {
        if (ty < s) {
            tg[ty][tx] += tg[ty + s][tx];
            tb[ty][tx] += tb[ty + s][tx];
        }
        __syncthreads();
    }
    if (ty == 0 && c < C) {
        pg[(long)blockIdx.x * C + c] = tg[0][tx];
        pb[(long)blockIdx.x * C + c] = tb[0][tx];
    }
}

// ---------------------------------------------------------------------------------
// launchers

static bool ln_vec4(int C, const Tensor *a, const Tensor *b, const Tensor *c, const Tensor *d, const Tensor *e) {
    if (C % 4 != 0) return false;
    const Tensor *ts[5] = {a, b, c, d, e};
    for (int i = 0; i < 5; i++)
        if (ts[i] && !aligned16(ts[i]->data)) return false;
    return true;
}

static int ln_grid(long rows) { return (int)((rows + LN_WARPS - 1) / LN_WARPS); }

extern "C" int layer_norm_forward_cuda(const Tensor *x, const Tensor *gamma, const Tensor *beta, float eps, Tensor *y,
                                       Tensor *mean, Tensor *rstd) {
    const long rows = (long)tensor_rows(x);
    const int C = tensor_cols(x);
    if (ln_vec4(C, x, gamma, beta, y, NULL))
        LDM_LAUNCH(ln_forward_kernel<4>, ln_grid(rows), LN_WARPS * 32)(x->data, gamma->data, beta->data, y->data,
                                                               mean->data, rstd->data, rows, C, eps);
    else
        LDM_LAUNCH(ln_forward_kernel<1>, ln_grid(rows), LN_WARPS * 32)(x->data, gamma->data, beta->data, y->data,
                                                               mean->data, rstd->data, rows, C, eps);
    CUDA_LAUNCH_CHECK("layer_norm_forward");
    return 0;
}

extern "C" int layer_norm_backward_cuda(const Tensor *x, const Tensor *gamma, const Tensor *mean, const Tensor *rstd,
                                        const Tensor *dy, Tensor *dx, Tensor *dgamma, Tensor *dbeta) {
    const long rows = (long)tensor_rows(x);
    const int C = tensor_cols(x);
    if (dx) {
        if (ln_vec4(C, x, gamma, dy, dx, NULL))
            LDM_LAUNCH(ln_backward_dx_kernel<4>, ln_grid(rows), LN_WARPS * 32)(x->data, gamma->data, mean->data,
                                                                       rstd->data, dy->data, dx->data, rows, C);
        else
            LDM_LAUNCH(ln_backward_dx_kernel<1>, ln_grid(rows), LN_WARPS * 32)(x->data, gamma->data, mean->data,
                                                                       rstd->data, dy->data, dx->data, rows, C);
        CUDA_LAUNCH_CHECK("layer_norm_backward_dx");
    }
    if (dgamma || dbeta) {
        const long chunks = (rows + LN_CHUNK_ROWS - 1) / LN_CHUNK_ROWS;
        if ((C + 31) / 32 > 65535)
            return ldm_error("layer_norm_backward", "x %s: too many channels for the CUDA kernel", tshape(x));
        float *pg = cuda_scratch(2 * (size_t)chunks * C * sizeof(float));
        if (!pg) return -1;
        float *pb = pg + (size_t)chunks * C;
        dim3 grid((unsigned)chunks, (C + 31) / 32);
        LDM_LAUNCH(ln_param_partial_kernel, grid, 256)(x->data, mean->data, rstd->data, dy->data, pg, pb, rows, C);
        CUDA_LAUNCH_CHECK("layer_norm_param_partial");
        if (param_grad_finalize("layer_norm_param_grads", pg, pb, (int)chunks, C, dgamma ? dgamma->data : NULL,
                                dbeta ? dbeta->data : NULL))
            return -1;
    }
    return 0;
}
