/* kernels/cuda/resample.cu — nearest 2x upsampling and channel concat / slice (math in
 * kernels/resample.h). All pure data movement, no FLOPs beyond the backward adds:
 *   upsample2x: forward reads 4 bytes and writes 16 per input element; backward reads
 *     16 (dy) + 4 (dx) and writes 4.  concat / slice: 8 bytes per output element
 *     forward, 12 backward (read dy and the gradient, write the gradient).
 * Decomposition: one thread per output vector (upsample forward, concat, slice) or per
 * input vector (upsample backward, which adds its four dy in the fixed order
 * (0,0), (0,1), (1,0), (1,1) and so writes each dx once, without atomics); grid-stride
 * loops, 256 threads a block; vectors of 4 channels when every channel count and offset
 * is a multiple of 4 and the pointers are 16-byte aligned. */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/resample.h"
}
#include "kernels/cuda/common.cuh"

#define RS_GRID_STRIDE_LOOP(i, n) \
    for (long i = blockIdx.x * (long)EW_THREADS + threadIdx.x; i < (n); i += (long)gridDim.x * EW_THREADS)

// ---------------------------------------------------------------------------------
// kernels (counts are in vectors of V floats; cv = channels / V)

template <int V>
__global__ void __launch_bounds__(EW_THREADS)
    upsample2x_forward_kernel(const float *__restrict__ x, float *__restrict__ y, long nvec, int H, int W, int cv) {
    RS_GRID_STRIDE_LOOP(i, nvec) {
        const int c = (int)(i % cv);
        long t = i / cv;
        const int j = (int)(t % (2 * W));
        t /= 2 * W;
        const int r = (int)(t % (2 * H));
        const long n = t / (2 * H);
        float v[V];
        ldv<V>(x + (((n * H + r / 2) * W + j / 2) * cv + c) * V, v);
        stv<V>(y + i * V, v);
    }
}

template <int V>
__global__ void __launch_bounds__(EW_THREADS)
    upsample2x_backward_kernel(const float *__restrict__ dy, float *__restrict__ dx, long nvec, int H, int W,
                               int cv) {
    RS_GRID_STRIDE_LOOP(i, nvec) {
        const int c = (int)(i % cv);
        long t = i / cv;
        const int j = (int)(t % W);
        t /= W;
        const int r = (int)(t % H);
        const long n = t / H;
        const long row0 = (n * 2 * H + 2 * r) * 2 * W, row1 = row0 + 2 * W;
        const long q[4] = {row0 + 2 * j, row0 + 2 * j + 1, row1 + 2 * j, row1 + 2 * j + 1};
        float o[V];
        ldv<V>(dx + i * V, o);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            float d[V];
            ldv<V>(dy + (q[k] * cv + c) * V, d);
            for (int e = 0; e < V; e++) o[e] += d[e];
        }
        stv<V>(dx + i * V, o);
    }
}

/* y (rows, ca + cb) = [a (rows, ca) | b (rows, cb)], or backward (grad = true):
 * a += y[:, :ca], b += y[:, ca:] (a or b may be NULL). */
template <int V>
__global__ void __launch_bounds__(EW_THREADS)
    concat_kernel(float *a, float *b, float *y, long nvec, int ca, int cb, bool grad) {
    const int ct = ca + cb;
    RS_GRID_STRIDE_LOOP(i, nvec) {
        const long row = i / ct;
        const int c = (int)(i % ct);
        float *src = c < ca ? (a ? a + (row * ca + c) * V : NULL) : (b ? b + (row * cb + c - ca) * V : NULL);
        if (!grad) {
            float v[V];
            ldv<V>(src, v);
            stv<V>(y + i * V, v);
        } else if (src) {
            float v[V], d[V];
            ldv<V>(src, v);
            ldv<V>(y + i * V, d);
            for (int e = 0; e < V; e++) v[e] += d[e];
            stv<V>(src, v);
        }
    }
}

/* y (rows, w) = x[:, c0 : c0 + w] of x (rows, C), or backward (grad = true):
 * x[:, c0 : c0 + w] += y. */
template <int V>
__global__ void __launch_bounds__(EW_THREADS)
    slice_kernel(float *x, float *y, long nvec, int C, int c0, int w, bool grad) {
    RS_GRID_STRIDE_LOOP(i, nvec) {
        const long row = i / w;
        const int c = (int)(i % w);
        float *xp = x + (row * C + c0 + c) * V;
        if (!grad) {
            float v[V];
            ldv<V>(xp, v);
            stv<V>(y + i * V, v);
        } else {
            float v[V], d[V];
            ldv<V>(xp, v);
            ldv<V>(y + i * V, d);
            for (int e = 0; e < V; e++) v[e] += d[e];
            stv<V>(xp, v);
        }
    }
}

// ---------------------------------------------------------------------------------
// launchers

static bool al(const Tensor *t) { return !t || aligned16(t->data); }

extern "C" int upsample2x_forward_cuda(const Tensor *x, Tensor *y) {
    const int H = x->shape[1], W = x->shape[2], C = x->shape[3];
    if (C % 4 == 0 && al(x) && al(y)) {
        const long n = (long)y->numel / 4;
        LDM_LAUNCH(upsample2x_forward_kernel<4>, ew_grid(n), EW_THREADS)(x->data, y->data, n, H, W, C / 4);
    } else {
        const long n = (long)y->numel;
        LDM_LAUNCH(upsample2x_forward_kernel<1>, ew_grid(n), EW_THREADS)(x->data, y->data, n, H, W, C);
    }
    CUDA_LAUNCH_CHECK("upsample2x_forward");
    return 0;
}

extern "C" int upsample2x_backward_cuda(const Tensor *dy, Tensor *dx) {
    const int H = dx->shape[1], W = dx->shape[2], C = dx->shape[3];
    if (C % 4 == 0 && al(dy) && al(dx)) {
        const long n = (long)dx->numel / 4;
        LDM_LAUNCH(upsample2x_backward_kernel<4>, ew_grid(n), EW_THREADS)(dy->data, dx->data, n, H, W, C / 4);
    } else {
        const long n = (long)dx->numel;
        LDM_LAUNCH(upsample2x_backward_kernel<1>, ew_grid(n), EW_THREADS)(dy->data, dx->data, n, H, W, C);
    }
    CUDA_LAUNCH_CHECK("upsample2x_backward");
    return 0;
}

static int concat_launch(const char *name, float *a, float *b, float *y, long numel, int ca, int cb, bool v4,
                         bool grad) {
    if (v4 && ca % 4 == 0 && cb % 4 == 0) {
        const long n = numel / 4;
        LDM_LAUNCH(concat_kernel<4>, ew_grid(n), EW_THREADS)(a, b, y, n, ca / 4, cb / 4, grad);
    } else {
        LDM_LAUNCH(concat_kernel<1>, ew_grid(numel), EW_THREADS)(a, b, y, numel, ca, cb, grad);
    }
    CUDA_LAUNCH_CHECK(name);
    return 0;
}

extern "C" int concat_channels_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y) {
    return concat_launch("concat_channels_forward", a->data, b->data, y->data, (long)y->numel,
                         a->shape[a->ndim - 1], b->shape[b->ndim - 1], al(a) && al(b) && al(y), false);
}

extern "C" int concat_channels_backward_cuda(const Tensor *dy, Tensor *da, Tensor *db) {
    if (!da && !db) return 0;
    const int ct = dy->shape[dy->ndim - 1];
    const int ca = da ? da->shape[da->ndim - 1] : ct - db->shape[db->ndim - 1];
    return concat_launch("concat_channels_backward", da ? da->data : NULL, db ? db->data : NULL, dy->data,
                         (long)dy->numel, ca, ct - ca, al(dy) && al(da) && al(db), true);
}

static int slice_launch(const char *name, float *x, float *y, long ynumel, int C, int c0, int c1, bool v4,
                        bool grad) {
    const int w = c1 - c0;
    if (v4 && C % 4 == 0 && c0 % 4 == 0 && w % 4 == 0) {
        const long n = ynumel / 4;
        LDM_LAUNCH(slice_kernel<4>, ew_grid(n), EW_THREADS)(x, y, n, C / 4, c0 / 4, w / 4, grad);
    } else {
        LDM_LAUNCH(slice_kernel<1>, ew_grid(ynumel), EW_THREADS)(x, y, ynumel, C, c0, w, grad);
    }
    CUDA_LAUNCH_CHECK(name);
    return 0;
}

extern "C" int slice_channels_forward_cuda(const Tensor *x, int c0, int c1, Tensor *y) {
    return slice_launch("slice_channels_forward", x->data, y->data, (long)y->numel, x->shape[x->ndim - 1], c0, c1,
                        al(x) && al(y), false);
}

extern "C" int slice_channels_backward_cuda(const Tensor *dy, int c0, int c1, Tensor *dx) {
    return slice_launch("slice_channels_backward", dx->data, dy->data, (long)dy->numel, dx->shape[dx->ndim - 1], c0,
                        c1, al(dy) && al(dx), true);
}
