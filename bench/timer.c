/* bench/timer.c — see timer.h. The CPU half; the CUDA half is bench/cuda_timer.cu. */
#include "bench/timer.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

#include "core/error.h"

#define TIMER_MAX_REPS 1000

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

double bench_time(Device dev, BenchFn fn, void *ctx, const TimerOpts *o, int *reps) {
    TimerOpts opt = *o;
    if (opt.max_reps > TIMER_MAX_REPS || opt.max_reps < 1) opt.max_reps = TIMER_MAX_REPS;
    if (opt.min_reps < 1) opt.min_reps = 1;
    double *t = malloc(TIMER_MAX_REPS * sizeof(double));
    if (!t) return ldm_error("bench", "out of memory"), -1;
    int n = 0;
    if (dev == DEV_CUDA) {
#ifdef LDM_CUDA
        n = bench_cuda_time(fn, ctx, &opt, t);
        for (int i = 0; i < n; i++) t[i] *= 1e-3;
#else
        n = ldm_error("bench", "this build has no CUDA support");
#endif
    } else {
        int rep = 0;
        for (; rep < opt.warmup; rep++)
            if (fn(ctx, rep)) n = -1;
        double spent = 0;
        while (n >= 0 && n < opt.max_reps && (n < opt.min_reps || spent < opt.budget_s)) {
            double s = omp_get_wtime();
            if (fn(ctx, rep++)) {
                n = -1;
                break;
            }
            t[n] = omp_get_wtime() - s;
            spent += t[n++];
        }
    }
    double m = n > 0 ? median(t, n) : -1;
    free(t);
    if (reps) *reps = n > 0 ? n : 0;
    return m;
}

// ----------------------------------------------------------------------------
// CPU ceilings

/* Seconds for one memcpy of `bytes` split evenly across the threads. */
static double copy_once(char *dst, const char *src, size_t bytes) {
    double s = omp_get_wtime();
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        size_t chunk = (bytes / (size_t)nt + 63) & ~(size_t)63;
        size_t lo = chunk * (size_t)id, hi = lo + chunk < bytes ? lo + chunk : bytes;
        if (lo < hi) memcpy(dst + lo, src + lo, hi - lo);
    }
    return omp_get_wtime() - s;
}

static double cpu_copy_bw(void) {
    const size_t bytes = (size_t)256 << 20;
    char *a = malloc(bytes), *b = malloc(bytes);
    if (!a || !b) {
        free(a);
        free(b);
        return ldm_error("bench", "out of memory for the copy ceiling"), -1;
    }
    memset(a, 1, bytes);
    memset(b, 2, bytes);
    double best = 1e30;
    for (int i = 0; i < 9; i++) {
        double t = copy_once(b, a, bytes);
        if (t < best) best = t;
    }
    free(a);
    free(b);
    return 2.0 * (double)bytes / best;
}

/* fma_loop: 8 independent chains of SIMD FMAs per thread, in 8 named registers (an
 * array would go through memory), FMA_LANES floats wide: 16 with AVX-512, 8 with AVX2
 * + FMA, 1 (scalar fmaf) otherwise. FLOP per call = 2 * 8 * FMA_LANES * FMA_ITERS. */
#define FMA_ITERS 2000000
#if defined(__AVX512F__)
#define FMA_LANES 16
typedef __m512 FmaVec;
#define FMA_SET(x) _mm512_set1_ps(x)
#define FMA_OP(a, b, c) _mm512_fmadd_ps(a, b, c)
#define FMA_SUM(v) _mm512_reduce_add_ps(v)
#elif defined(__FMA__)
#define FMA_LANES 8
typedef __m256 FmaVec;
#define FMA_SET(x) _mm256_set1_ps(x)
#define FMA_OP(a, b, c) _mm256_fmadd_ps(a, b, c)
static float fma_sum(__m256 v) {
    float s[8], t = 0;
    _mm256_storeu_ps(s, v);
    for (int l = 0; l < 8; l++) t += s[l];
    return t;
}
#define FMA_SUM(v) fma_sum(v)
#else
#include <math.h>
#define FMA_LANES 1
typedef float FmaVec;
#define FMA_SET(x) (x)
#define FMA_OP(a, b, c) fmaf(a, b, c)
#define FMA_SUM(v) (v)
#endif

static float fma_loop(float seed) {
    FmaVec b = FMA_SET(0.9999f), c = FMA_SET(1e-4f);
    FmaVec a0 = FMA_SET(seed), a1 = FMA_SET(seed + 1), a2 = FMA_SET(seed + 2), a3 = FMA_SET(seed + 3);
    FmaVec a4 = FMA_SET(seed + 4), a5 = FMA_SET(seed + 5), a6 = FMA_SET(seed + 6), a7 = FMA_SET(seed + 7);
    for (int i = 0; i < FMA_ITERS; i++) {
        a0 = FMA_OP(a0, b, c), a1 = FMA_OP(a1, b, c), a2 = FMA_OP(a2, b, c), a3 = FMA_OP(a3, b, c);
        a4 = FMA_OP(a4, b, c), a5 = FMA_OP(a5, b, c), a6 = FMA_OP(a6, b, c), a7 = FMA_OP(a7, b, c);
    }
    return FMA_SUM(a0) + FMA_SUM(a1) + FMA_SUM(a2) + FMA_SUM(a3) + FMA_SUM(a4) + FMA_SUM(a5) + FMA_SUM(a6) +
           FMA_SUM(a7);
}

static double cpu_fma_flops(void) {
    double best = 1e30;
    volatile float sink = 0;
    int threads = omp_get_max_threads();
    for (int i = 0; i < 9; i++) {
        double s = omp_get_wtime();
        float acc = 0;
#pragma omp parallel reduction(+ : acc)
        acc += fma_loop((float)omp_get_thread_num());
        double t = omp_get_wtime() - s;
        if (t < best) best = t;
        sink += acc;
    }
    (void)sink;
    return 2.0 * 8 * FMA_LANES * (double)FMA_ITERS * threads / best;
}

static void cpu_name(char *buf, size_t n) {
    snprintf(buf, n, "cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[256];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = 0;
                snprintf(buf, n, "%s", v);
            }
            break;
        }
    fclose(f);
}

int bench_ceilings(Device dev, Ceilings *c) {
    memset(c, 0, sizeof *c);
    if (dev == DEV_CUDA) {
#ifdef LDM_CUDA
        snprintf(c->name, sizeof c->name, "%s", dev_cuda_name());
        if (dev_cuda_emulated()) { /* kernels run on this CPU: its ceilings (the timings only check the path) */
            c->bw_bytes_s = cpu_copy_bw();
            c->fma_flop_s = cpu_fma_flops();
            return c->bw_bytes_s > 0 ? 0 : -1;
        }
        c->l2_bytes = bench_cuda_l2_bytes();
        c->bw_bytes_s = bench_cuda_copy_bw();
        c->fma_flop_s = bench_cuda_fma_flops();
        return c->bw_bytes_s > 0 && c->fma_flop_s > 0 ? 0 : -1;
#else
        return ldm_error("bench", "this build has no CUDA support");
#endif
    }
    cpu_name(c->name, sizeof c->name);
    c->threads = omp_get_max_threads();
    c->bw_bytes_s = cpu_copy_bw();
    c->fma_flop_s = cpu_fma_flops();
    return c->bw_bytes_s > 0 ? 0 : -1;
}
