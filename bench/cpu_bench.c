/* bench/cpu_bench.c — CPU micro-benchmarks: each op is run once to warm up, then repeated
 * until 0.3 s or 3 calls have passed, whichever is later; the best call is reported (the
 * machine may be shared, and the best call is the one least disturbed).
 *   GFLOP/s = 2*M*N*K / best time, with M*N*K the GEMM the op is (conv2d: M = N*P*Q, N = K,
 *   K = R*S*C for forward, dgrad and wgrad alike; stride-2 dgrad does the same count).
 */
#include "bench/cpu_bench.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/cpu_util.h"
#include "kernels/cpu/gemm.h"
#include "kernels/elementwise.h"
#include "kernels/silu.h"

typedef int (*BenchFn)(void *ctx);

/* Uniform values in [lo, hi) from a 64-bit LCG: inputs only need to be ordinary numbers. */
static void fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = lo + (hi - lo) * (float)((seed >> 40) * (1.0 / 16777216.0));
    }
}

/* Heap CPU tensor filled uniformly (NULL when allocation fails). */
static Tensor *rand_tensor(int ndim, const int *shape, uint64_t seed, float lo, float hi) {
    Tensor *t = tensor_new(NULL, DEV_CPU, ndim, shape);
    if (t) fill_uniform(t->data, t->numel, seed, lo, hi);
    return t;
}

/* Best seconds per call of fn(ctx); -1 when a call fails. */
static double best_time(BenchFn fn, void *ctx) {
    if (fn(ctx)) return -1;
    double best = 1e30, start = omp_get_wtime();
    for (int reps = 0; reps < 3 || omp_get_wtime() - start < 0.3; reps++) {
        double t = omp_get_wtime();
        if (fn(ctx)) return -1;
        t = omp_get_wtime() - t;
        if (t < best) best = t;
    }
    return best;
}

static void row(FILE *out, const char *op, const char *shape, double flop, double sec) {
    fprintf(out, "%-14s %-44s %7d %9.3f %9.1f\n", op, shape, omp_get_max_threads(), sec * 1e3, flop / sec * 1e-9);
}

static void header(FILE *out) {
    fprintf(out, "%-14s %-44s %7s %9s %9s\n", "op", "shape", "threads", "ms/call", "GFLOP/s");
}

// ----------------------------------------------------------------------------
// sgemm

typedef struct {
    int n;
    bool ta, tb;
    float *A, *B, *C;
} GemmBench;

static int run_gemm(void *ctx) {
    GemmBench *g = ctx;
    return sgemm(g->ta, g->tb, g->n, g->n, g->n, 1.0f, g->A, g->n, g->B, g->n, 0.0f, g->C, g->n);
}

int cpu_bench_gemm(FILE *out, int n) {
    size_t nn = (size_t)n * n;
    GemmBench g = {n, false, false, malloc(nn * sizeof(float)), malloc(nn * sizeof(float)), malloc(nn * sizeof(float))};
    int rc = 0;
    if (!g.A || !g.B || !g.C) rc = ldm_error("bench", "out of memory for a %d x %d GEMM", n, n);
    if (!rc) {
        fill_uniform(g.A, nn, 1, -1, 1);
        fill_uniform(g.B, nn, 2, -1, 1);
    }
    const char *names[3] = {"NN", "NT", "TN"};
    for (int v = 0; v < 3 && !rc; v++) {
        g.ta = v == 2, g.tb = v == 1;
        double s = best_time(run_gemm, &g);
        if (s < 0) {
            rc = -1;
            break;
        }
        char shape[64];
        snprintf(shape, sizeof shape, "%d x %d x %d (%s)", n, n, n, names[v]);
        row(out, "sgemm", shape, 2.0 * n * nn, s);
    }
    free(g.A);
    free(g.B);
    free(g.C);
    return rc;
}

// ----------------------------------------------------------------------------
// conv2d

typedef struct {
    int N, H, W, C, K, R, stride, pad;
} ConvShape;

typedef struct {
    const ConvShape *s;
    Tensor *x, *w, *b, *y, *dx, *dw;
    int pass; /* 0 forward, 1 dgrad, 2 wgrad */
} ConvBench;

static int run_conv(void *ctx) {
    ConvBench *c = ctx;
    if (c->pass == 0) return conv2d_forward(c->x, c->w, c->b, c->s->stride, c->s->pad, c->y);
    return conv2d_backward(c->x, c->w, c->y, c->s->stride, c->s->pad, c->pass == 1 ? c->dx : NULL,
                           c->pass == 2 ? c->dw : NULL, NULL);
}

static int bench_conv_shape(FILE *out, const ConvShape *s) {
    int P = conv2d_out_size(s->H, s->R, s->stride, s->pad), Q = conv2d_out_size(s->W, s->R, s->stride, s->pad);
    if (P < 1 || Q < 1) return -1;
    ConvBench c = {s,
                   rand_tensor(4, (int[]){s->N, s->H, s->W, s->C}, 1, -1, 1),
                   rand_tensor(4, (int[]){s->K, s->R, s->R, s->C}, 2, -0.1f, 0.1f),
                   rand_tensor(1, (int[]){s->K}, 3, -1, 1),
                   rand_tensor(4, (int[]){s->N, P, Q, s->K}, 4, -1, 1),
                   tensor_zeros(NULL, DEV_CPU, 4, (int[]){s->N, s->H, s->W, s->C}),
                   tensor_zeros(NULL, DEV_CPU, 4, (int[]){s->K, s->R, s->R, s->C}),
                   0};
    Tensor *all[] = {c.x, c.w, c.b, c.y, c.dx, c.dw};
    int rc = 0;
    for (int i = 0; i < 6; i++)
        if (!all[i]) rc = -1;
    const char *names[3] = {"conv2d fwd", "conv2d dgrad", "conv2d wgrad"};
    double flop = 2.0 * s->N * P * Q * s->K * s->R * s->R * s->C;
    for (int pass = 0; pass < 3 && !rc; pass++) {
        c.pass = pass;
        double sec = best_time(run_conv, &c);
        if (sec < 0) {
            rc = -1;
            break;
        }
        char shape[96];
        snprintf(shape, sizeof shape, "%dx%dx%dx%d -> %d, %dx%d s%d p%d", s->N, s->H, s->W, s->C, s->K, s->R, s->R,
                 s->stride, s->pad);
        row(out, names[pass], shape, flop, sec);
    }
    for (int i = 0; i < 6; i++) tensor_free(all[i]);
    return rc;
}

int cpu_bench_conv2d(FILE *out) {
    static const ConvShape shapes[] = {
        {8, 32, 32, 128, 128, 3, 1, 1}, /* the speed goal */
        {8, 32, 32, 128, 128, 3, 2, 1}, /* downsampling */
        {8, 32, 32, 128, 128, 1, 1, 0}, /* 1x1 shortcut */
        {8, 64, 64, 64, 64, 3, 1, 1},   /* wider, fewer channels */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (bench_conv_shape(out, &shapes[i])) return -1;
    return 0;
}

// ----------------------------------------------------------------------------
// the one-thread threshold (kernels/cpu/cpu_util.h): where a second thread starts to pay

int cpu_bench_threads(FILE *out) {
    const int nt = omp_get_max_threads(), max_n = 1 << 20;
    Tensor *a = rand_tensor(1, (int[]){max_n}, 1, -4, 4), *b = rand_tensor(1, (int[]){max_n}, 2, -4, 4),
           *y = tensor_new(NULL, DEV_CPU, 1, (int[]){max_n});
    int rc = a && b && y ? 0 : ldm_error("bench", "out of memory for the threshold benchmark");
    const double saved = cpu_par_min();
    fprintf(out, "one thread vs %d (cpu_par forced off / on), best of 300 interleaved calls; threshold now %.0f "
                 "bytes\n%-8s %9s %10s %10s %12s\n",
            nt, saved, "op", "elements", "bytes", "1 thr us", "threaded us");
    for (int op = 0; op < 2 && !rc; op++)
        for (int n = 1 << 10; n <= max_n && !rc; n *= 2) {
            Tensor va = *a, vb = *b, vy = *y;
            va.numel = vb.numel = vy.numel = (size_t)n;
            va.shape[0] = vb.shape[0] = vy.shape[0] = n;
            double best[2] = {1e30, 1e30};
            for (int rep = 0; rep < 300 && !rc; rep++)
                for (int par = 0; par < 2 && !rc; par++) {
                    cpu_set_par_min(par ? 0 : INFINITY);
                    double t = omp_get_wtime();
                    rc = op == 0 ? add_forward(&va, &vb, &vy) : silu_forward(&va, &vy);
                    t = omp_get_wtime() - t;
                    if (t < best[par]) best[par] = t;
                }
            fprintf(out, "%-8s %9d %10d %10.2f %12.2f%s\n", op == 0 ? "add" : "silu", n, (op == 0 ? 12 : 8) * n,
                    best[0] * 1e6, best[1] * 1e6, best[1] < best[0] ? "  threads win" : "");
        }
    cpu_set_par_min(saved);
    tensor_free(a);
    tensor_free(b);
    tensor_free(y);
    return rc;
}

int cpu_bench_run(FILE *out, const char *op) {
    if (!strcmp(op, "threads")) return cpu_bench_threads(out);
    bool gemm = !strcmp(op, "gemm") || !strcmp(op, "all"), conv = !strcmp(op, "conv2d") || !strcmp(op, "all");
    if (!gemm && !conv) return ldm_error("bench", "unknown op '%s' (gemm, conv2d, threads or all)", op);
    header(out);
    if (gemm && cpu_bench_gemm(out, 1024)) return -1;
    if (conv && cpu_bench_conv2d(out)) return -1;
    return 0;
}
