/* kernels/cpu/resample.c — nearest 2x upsampling and channel concat / slice on the CPU
 * (math in kernels/resample.h). All pure data movement:
 *   upsample2x forward: 4 bytes read + 16 written per input element;
 *     backward: 3 FLOP, 16 bytes read + 8 read/written per input element (4 dy summed in
 *     a fixed order, so the result is deterministic).
 *   concat / slice forward: 8 bytes per output element; backward 1 FLOP, 12 bytes per element.
 * OpenMP over rows (an NHWC row is the C channels of one pixel). */
#include <string.h>

#include "kernels/cpu/cpu_util.h"
#include "kernels/resample.h"


// ----------------------------------------------------------------------------
// upsample2x

int upsample2x_forward_cpu(const Tensor *x, Tensor *y) {
    const int N = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    const float *xp = x->data; /* (N, H, W, C) */
    float *yp = y->data;       /* (N, 2H, 2W, C) */
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * (double)y->numel))
    for (long r = 0; r < (long)N * 2 * H; r++) { /* one output image row (n, i) */
        const long n = r / (2 * H), i = r % (2 * H);
        const float *src = xp + ((n * H + i / 2) * W) * C;
        float *dst = yp + r * 2 * W * C;
        for (int j = 0; j < W; j++) {
            memcpy(dst + (2 * j) * (long)C, src + (long)j * C, (size_t)C * sizeof(float));
            memcpy(dst + (2 * j + 1) * (long)C, src + (long)j * C, (size_t)C * sizeof(float));
        }
    }
    return 0;
}

int upsample2x_backward_cpu(const Tensor *dy, Tensor *dx) {
    const int N = dx->shape[0], H = dx->shape[1], W = dx->shape[2], C = dx->shape[3];
    const long W2C = 2L * W * C;
    const float *g = dy->data; /* (N, 2H, 2W, C) */
    float *d = dx->data;       /* (N, H, W, C) */
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * (double)dy->numel))
    for (long r = 0; r < (long)N * H; r++) {               /* one input image row (n, h) */
        const float *g0 = g + 2 * r * W2C, *g1 = g0 + W2C; /* output rows 2h and 2h + 1 */
        float *dr = d + r * W * (long)C;
        for (int w = 0; w < W; w++)
            for (int c = 0; c < C; c++) {
                const long o = 2L * w * C + c;
                dr[(long)w * C + c] += (g0[o] + g0[o + C]) + (g1[o] + g1[o + C]);
            }
    }
    return 0;
}

// ----------------------------------------------------------------------------
// concat / slice over the last dim (rows = product of the leading dims)

/* dst[r, d0 + k] = src[r, s0 + k] for k < n, every row r */
static void copy_cols(float *dst, int dc, int d0, const float *src, int sc, int s0, int n, long rows) {
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * rows * n))
    for (long r = 0; r < rows; r++) memcpy(dst + r * dc + d0, src + r * sc + s0, (size_t)n * sizeof(float));
}

/* dst[r, d0 + k] += src[r, s0 + k] for k < n, every row r */
static void add_cols(float *dst, int dc, int d0, const float *src, int sc, int s0, int n, long rows) {
#pragma omp parallel for schedule(static) if (cpu_par(12.0 * rows * n))
    for (long r = 0; r < rows; r++)
        for (int k = 0; k < n; k++) dst[r * dc + d0 + k] += src[r * sc + s0 + k];
}

int concat_channels_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y) {
    const int Ca = tensor_cols(a), Cb = tensor_cols(b), C = tensor_cols(y);
    const long rows = (long)tensor_rows(y);
    copy_cols(y->data, C, 0, a->data, Ca, 0, Ca, rows);
    copy_cols(y->data, C, Ca, b->data, Cb, 0, Cb, rows);
    return 0;
}

/* da and db may be the same buffer (concat(x, x)): the two passes run one after the other. */
int concat_channels_backward_cpu(const Tensor *dy, Tensor *da, Tensor *db) {
    const int C = tensor_cols(dy), Ca = da ? tensor_cols(da) : C - tensor_cols(db), Cb = C - Ca;
    const long rows = (long)tensor_rows(dy);
    if (da) add_cols(da->data, Ca, 0, dy->data, C, 0, Ca, rows);
    if (db) add_cols(db->data, Cb, 0, dy->data, C, Ca, Cb, rows);
    return 0;
}

int slice_channels_forward_cpu(const Tensor *x, int c0, int c1, Tensor *y) {
    copy_cols(y->data, c1 - c0, 0, x->data, tensor_cols(x), c0, c1 - c0, (long)tensor_rows(x));
    return 0;
}

int slice_channels_backward_cpu(const Tensor *dy, int c0, int c1, Tensor *dx) {
    add_cols(dx->data, tensor_cols(dx), c0, dy->data, c1 - c0, 0, c1 - c0, (long)tensor_rows(dx));
    return 0;
}
