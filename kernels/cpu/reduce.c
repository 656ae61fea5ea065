/* kernels/cpu/reduce.c — reductions and losses on the CPU (math in kernels/reduce.h).
 * Summation: fixed blocks of REDUCE_BLOCK elements, each summed in order in double, then
 * the block sums added pairwise; blocks run in parallel (OpenMP) but the order of every
 * addition depends on n alone, so results are bitwise the same for any thread count.
 *   sum: 1 FLOP, 4 bytes/elem.  sumsq: 2 FLOP, 4 bytes/elem.
 *   mse: 3 FLOP, 8 bytes/elem.  l1: 3 FLOP, 8 bytes/elem.
 *   backward (broadcast, mse, l1): 2-4 FLOP, 8-28 bytes/elem. */
#include <math.h>

#include "kernels/cpu/cpu_util.h"
#include "kernels/reduce.h"


int reduce_blocked_cpu(const char *op, long n, ReduceBlockFn fn, const void *ctx, double *out) {
    const long nb = (n + REDUCE_BLOCK - 1) / REDUCE_BLOCK;
    if (nb <= 1) {
        *out = fn(ctx, 0, n);
        return 0;
    }
    double *p = cpu_scratch(SCRATCH_REDUCE, (size_t)nb * sizeof *p, op); /* (nb) block sums */
    if (!p) return -1;
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * n))
    for (long i = 0; i < nb; i++) {
        long lo = i * REDUCE_BLOCK, hi = lo + REDUCE_BLOCK < n ? lo + REDUCE_BLOCK : n;
        p[i] = fn(ctx, lo, hi);
    }
    for (long w = 1; w < nb; w *= 2)
        for (long i = 0; i + w < nb; i += 2 * w) p[i] += p[i + w];
    *out = p[0];
    return 0;
}

// ----------------------------------------------------------------------------
// block sums

typedef struct {
    const float *a, *b;
} Pair;

static double sum_block(const void *ctx, long lo, long hi) {
    const float *x = ctx;
    double s = 0;
    for (long i = lo; i < hi; i++) s += x[i];
    return s;
}

static double sumsq_block(const void *ctx, long lo, long hi) {
    const float *x = ctx;
    double s = 0;
    for (long i = lo; i < hi; i++) s += (double)x[i] * x[i];
    return s;
}

static double sqdiff_block(const void *ctx, long lo, long hi) {
    const Pair *p = ctx;
    double s = 0;
    for (long i = lo; i < hi; i++) {
        double d = (double)p->a[i] - p->b[i];
        s += d * d;
    }
    return s;
}

static double absdiff_block(const void *ctx, long lo, long hi) {
    const Pair *p = ctx;
    double s = 0;
    for (long i = lo; i < hi; i++) s += fabs((double)p->a[i] - p->b[i]);
    return s;
}

// ----------------------------------------------------------------------------
// forward

int sum_forward_cpu(const Tensor *x, Tensor *y) {
    double s;
    if (reduce_blocked_cpu("sum", (long)x->numel, sum_block, x->data, &s)) return -1;
    y->data[0] = (float)s;
    return 0;
}

int sumsq_cpu(const Tensor *x, double *out) {
    return reduce_blocked_cpu("sumsq", (long)x->numel, sumsq_block, x->data, out);
}

int mse_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y) {
    double s;
    if (reduce_blocked_cpu("mse", (long)a->numel, sqdiff_block, &(Pair){a->data, b->data}, &s)) return -1;
    y->data[0] = (float)(s / (double)a->numel);
    return 0;
}

int l1_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y) {
    double s;
    if (reduce_blocked_cpu("l1", (long)a->numel, absdiff_block, &(Pair){a->data, b->data}, &s)) return -1;
    y->data[0] = (float)(s / (double)a->numel);
    return 0;
}

// ----------------------------------------------------------------------------
// backward (dy is a scalar; da and db may be the same buffer)

int broadcast_scalar_backward_cpu(const Tensor *dy, float k, Tensor *dx) {
    const float g = dy->data[0] * k;
    float *d = dx->data;
    long n = (long)dx->numel;
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * n))
    for (long i = 0; i < n; i++) d[i] += g;
    return 0;
}

int mse_backward_cpu(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    const long n = (long)a->numel;
    const float k = (float)(2.0 * dy->data[0] / (double)n);
    const float *ap = a->data, *bp = b->data;
    float *pa = da ? da->data : NULL, *pb = db ? db->data : NULL;
#pragma omp parallel for schedule(static) if (cpu_par(16.0 * n))
    for (long i = 0; i < n; i++) {
        float g = k * (ap[i] - bp[i]);
        if (pa) pa[i] += g;
        if (pb) pb[i] -= g;
    }
    return 0;
}

int l1_backward_cpu(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    const long n = (long)a->numel;
    const float k = (float)(dy->data[0] / (double)n);
    const float *ap = a->data, *bp = b->data;
    float *pa = da ? da->data : NULL, *pb = db ? db->data : NULL;
#pragma omp parallel for schedule(static) if (cpu_par(16.0 * n))
    for (long i = 0; i < n; i++) {
        float g = ap[i] > bp[i] ? k : ap[i] < bp[i] ? -k : 0.0f;
        if (pa) pa[i] += g;
        if (pb) pb[i] -= g;
    }
    return 0;
}
