/* kernels/cpu/cross_entropy.c — softmax cross-entropy on the CPU (math in
 * kernels/cross_entropy.h). One pass per row; the loss is summed in double, in row order. */
#include <math.h>

#include "kernels/cross_entropy.h"

static int label_of(const char *op, const Tensor *labels, int i, int K) {
    float l = labels->data[i];
    if (!(l >= 0 && l < K) || l != (float)(int)l)
        return ldm_error(op, "labels[%d] = %g is not a class id in [0, %d)", i, l, K);
    return (int)l;
}

/* m = max_k z_k and s = sum_k exp(z_k - m) of one row */
static void row_stats(const float *z, int K, double *m, double *s) {
    double mx = z[0], sum = 0;
    for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
    for (int k = 0; k < K; k++) sum += exp(z[k] - mx);
    *m = mx, *s = sum;
}

int cross_entropy_forward_cpu(const Tensor *z, const Tensor *labels, Tensor *y) {
    const int N = z->shape[0], K = z->shape[1];
    double loss = 0;
    for (int i = 0; i < N; i++) {
        int l = label_of("cross_entropy", labels, i, K);
        if (l < 0) return -1;
        double m, s;
        row_stats(z->data + (size_t)i * K, K, &m, &s);
        loss += m + log(s) - z->data[(size_t)i * K + l];
    }
    y->data[0] = (float)(loss / N);
    return 0;
}

int cross_entropy_backward_cpu(const Tensor *z, const Tensor *labels, const Tensor *dy, Tensor *dz) {
    const int N = z->shape[0], K = z->shape[1];
    const double g = dy->data[0] / (double)N;
    for (int i = 0; i < N; i++) {
        int l = label_of("cross_entropy_backward", labels, i, K);
        if (l < 0) return -1;
        const float *zi = z->data + (size_t)i * K;
        double m, s;
        row_stats(zi, K, &m, &s);
        for (int k = 0; k < K; k++) dz->data[(size_t)i * K + k] += (float)(g * (exp(zi[k] - m) / s - (k == l)));
    }
    return 0;
}
