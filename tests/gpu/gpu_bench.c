/* tests/gpu/gpu_bench.c — the short kernel benchmark (see gpu_bench.h).
 *
 * Napkin math, per op (bytes are the fewest a kernel must move: each input read once,
 * each output written once):
 *   copy          cudaMemcpy D2D of 1 GiB: 2 GiB moved — the bandwidth ceiling
 *   silu          64M floats: 8 bytes/elem          -> 512 MiB
 *   add           64M floats: 12 bytes/elem         -> 768 MiB
 *   group_norm    (128, 32, 32, 256), G=32, SiLU: forward 8 bytes/elem (268 MB),
 *                 backward 16 bytes/elem (537 MB)
 *   adamw         64M parameters: 28 bytes/param (p, grad, m, v read; p, m, v written)
 *   conv2d        3x3, 256 -> 256, 32x32, batch 64, pad 1: 2*64*32*32*256*256*9 = 77.3 GFLOP
 *   attention     forward, B 16, L 1024, 8 heads of 64: 4*B*H*L*L*D = 34.4 GFLOP
 * The memory-bound ops are reported in GB/s and as a share of the copy bandwidth
 * measured in the same run; the matrix ops in TFLOP/s (attention also as a ratio to
 * version 1). Each time is the median of repetitions timed with CUDA events after a
 * warm-up. Inputs are random (never zeros). The error column compares with the CPU
 * (the whole tensor for the memory-bound ops; the first sample / batch element for
 * conv2d and attention) with the measure of gpu_parity.h. */
#include "tests/gpu/gpu_bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor.h"
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/group_norm.h"
#include "kernels/random.h"
#include "kernels/silu.h"
#include "kernels/versions.h"

#ifdef LDM_CUDA
#include <cuda_runtime_api.h>

#define MAX_REPS 50
#define MAX_ROWS 32

typedef struct {
    char op[48];
    int version; /* -1: none */
    double err, tol, ms;
    char rate[64];
} Row;

typedef struct {
    Row rows[MAX_ROWS];
    int n, failed;
    double copy_gbs;
} Bench;

typedef int (*BenchFn)(void *ctx);

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median time in ms of `reps` runs after `warm` runs; reps adapts to a ~1.5 s budget
 * (at least 3). -1 when a run fails. */
static double time_ms(BenchFn fn, void *ctx, int warm, int reps) {
    for (int i = 0; i < warm; i++)
        if (fn(ctx)) return -1;
    if (cudaDeviceSynchronize() != cudaSuccess) return -1;
    cudaEvent_t e0[MAX_REPS], e1[MAX_REPS];
    double t[MAX_REPS];
    if (reps > MAX_REPS) reps = MAX_REPS;
    for (int i = 0; i < reps; i++) {
        cudaEventCreate(&e0[i]);
        cudaEventCreate(&e1[i]);
    }
    int n = 0, bad = 0;
    double spent = 0;
    for (; n < reps; n++) {
        cudaEventRecord(e0[n], 0);
        bad = fn(ctx);
        cudaEventRecord(e1[n], 0);
        if (bad || cudaEventSynchronize(e1[n]) != cudaSuccess) {
            bad = 1;
            break;
        }
        float ms = 0;
        cudaEventElapsedTime(&ms, e0[n], e1[n]);
        t[n] = ms;
        spent += ms;
        if (n >= 2 && spent > 1500) {
            n++;
            break;
        }
    }
    for (int i = 0; i < reps; i++) {
        cudaEventDestroy(e0[i]);
        cudaEventDestroy(e1[i]);
    }
    if (bad || n == 0) return -1;
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return t[n / 2];
}

static Row *row(Bench *b, const char *op, int version) {
    Row *r = &b->rows[b->n < MAX_ROWS ? b->n++ : MAX_ROWS - 1];
    memset(r, 0, sizeof *r);
    snprintf(r->op, sizeof r->op, "%s", op);
    r->version = version;
    r->err = NAN;
    r->ms = -1;
    return r;
}

static void row_bw(Bench *b, Row *r, double bytes) {
    double gbs = bytes / (r->ms * 1e-3) / 1e9;
    snprintf(r->rate, sizeof r->rate, "%8.0f GB/s  %5.1f%% of copy", gbs, 100.0 * gbs / b->copy_gbs);
    printf("  %-24s %8.3f ms  %s\n", r->op, r->ms, r->rate);
    fflush(stdout);
}

static void row_fail(Bench *b, Row *r) {
    snprintf(r->rate, sizeof r->rate, "failed: %.50s", ldm_last_error());
    printf("  %-24s v%d failed: %s\n", r->op, r->version, ldm_last_error());
    b->failed = 1;
}

/* CUDA tensor of normal(0, 1) * scale draws from the Philox stream. */
static Tensor *dev_rand(int ndim, const int *shape, uint64_t seed, float scale) {
    Tensor *t = tensor_new(NULL, DEV_CUDA, ndim, shape);
    if (t && (rng_normal(t, seed, 0) || scale_forward(t, scale, t))) {
        tensor_free(t);
        return NULL;
    }
    return t;
}

static Tensor *host_copy(const Tensor *d) {
    Tensor *h = tensor_new(NULL, DEV_CPU, d->ndim, d->shape);
    if (h && tensor_copy(h, d)) {
        tensor_free(h);
        return NULL;
    }
    return h;
}

static double err_vs(const Tensor *gpu, const Tensor *cpu, size_t n) {
    float *g = malloc(gpu->numel * sizeof(float));
    double e = INFINITY;
    if (g && tensor_to_host(gpu, g) == 0) e = gp_max_rel_err(g, cpu->data, n);
    free(g);
    return e;
}

// ---------------------------------------------------------------------------------
// the timed calls

typedef struct {
    void *dst, *src;
    size_t bytes;
} CopyCtx;
static int run_copy(void *p) {
    CopyCtx *c = p;
    return cudaMemcpyAsync(c->dst, c->src, c->bytes, cudaMemcpyDeviceToDevice, 0) == cudaSuccess ? 0 : -1;
}

typedef struct {
    Tensor *a, *b, *y, *mean, *rstd, *gamma, *beta, *dy, *dx, *dgamma, *dbeta, *m, *v, *w, *bias, *lse;
    int groups, step;
    AdamWConfig cfg;
    float scale;
} OpCtx;

static int run_silu(void *p) { OpCtx *o = p; return silu_forward(o->a, o->y); }
static int run_add(void *p) { OpCtx *o = p; return add_forward(o->a, o->b, o->y); }
static int run_gn_f(void *p) {
    OpCtx *o = p;
    return group_norm_forward(o->a, o->gamma, o->beta, o->groups, 1e-5f, true, o->y, o->mean, o->rstd);
}
static int run_gn_b(void *p) {
    OpCtx *o = p;
    return group_norm_backward(o->a, o->gamma, o->beta, o->mean, o->rstd, o->dy, o->groups, true, o->dx, o->dgamma,
                               o->dbeta);
}
static int run_adamw(void *p) {
    OpCtx *o = p;
    return adamw_step(o->a, o->m, o->v, &o->cfg, o->step, 1.0f);
}
static int run_conv(void *p) { OpCtx *o = p; return conv2d_forward(o->a, o->w, o->bias, 1, 1, o->y); }
static int run_attn(void *p) { OpCtx *o = p; return attention_forward(o->a, o->b, o->dy, 8, o->scale, o->y, o->lse); }

// ---------------------------------------------------------------------------------
// the benchmark

static void bench_copy(Bench *b) {
    size_t bytes = (size_t)1 << 30;
    void *src = NULL, *dst = NULL;
    while (bytes >= ((size_t)1 << 26)) {
        if (cudaMalloc(&src, bytes) == cudaSuccess && cudaMalloc(&dst, bytes) == cudaSuccess) break;
        cudaGetLastError();
        if (src) cudaFree(src);
        src = dst = NULL;
        bytes >>= 1;
    }
    Row *r = row(b, "copy (cudaMemcpy D2D)", -1);
    if (!src) {
        row_fail(b, r);
        b->copy_gbs = 1;
        return;
    }
    Tensor view = {0};
    view.data = src;
    view.ndim = 1;
    view.shape[0] = (int)(bytes / 4);
    view.numel = bytes / 4;
    view.device = DEV_CUDA;
    rng_uniform(&view, 1, 0);
    CopyCtx c = {dst, src, bytes};
    r->ms = time_ms(run_copy, &c, 2, 20);
    b->copy_gbs = r->ms > 0 ? 2.0 * (double)bytes / (r->ms * 1e-3) / 1e9 : 1;
    snprintf(r->rate, sizeof r->rate, "%8.0f GB/s  (%zu MiB read + written)", b->copy_gbs, 2 * (bytes >> 20));
    printf("  %-24s %8.3f ms  %s\n", r->op, r->ms, r->rate);
    cudaFree(src);
    cudaFree(dst);
}

static void bench_elementwise(Bench *b) {
    const int n = 64 << 20;
    OpCtx o = {0};
    o.a = dev_rand(1, &n, 11, 2.0f);
    o.b = dev_rand(1, &n, 12, 1.0f);
    o.y = tensor_new(NULL, DEV_CUDA, 1, &n);
    Tensor *ha = o.a ? host_copy(o.a) : NULL, *hb = o.b ? host_copy(o.b) : NULL;
    Tensor *hy = tensor_new(NULL, DEV_CPU, 1, &n);
    Row *r = row(b, "silu_forward (64M)", -1);
    if (!o.y || !ha || !hb || !hy) {
        row_fail(b, r);
    } else {
        r->tol = 1e-5;
        if (silu_forward(o.a, o.y) || silu_forward(ha, hy)) row_fail(b, r);
        else {
            r->err = err_vs(o.y, hy, hy->numel);
            r->ms = time_ms(run_silu, &o, 3, 20);
            if (r->ms < 0) row_fail(b, r);
            else row_bw(b, r, 8.0 * n);
        }
        r = row(b, "add_forward (64M)", -1);
        r->tol = 1e-5;
        if (add_forward(o.a, o.b, o.y) || add_forward(ha, hb, hy)) row_fail(b, r);
        else {
            r->err = err_vs(o.y, hy, hy->numel);
            r->ms = time_ms(run_add, &o, 3, 20);
            if (r->ms < 0) row_fail(b, r);
            else row_bw(b, r, 12.0 * n);
        }
    }
    tensor_free(o.a);
    tensor_free(o.b);
    tensor_free(o.y);
    tensor_free(ha);
    tensor_free(hb);
    tensor_free(hy);
}

static void bench_group_norm(Bench *b) {
    const int shape[4] = {128, 32, 32, 256}, G = 32, C = 256;
    OpCtx o = {0};
    o.groups = G;
    o.a = dev_rand(4, shape, 21, 1.5f);
    o.dy = dev_rand(4, shape, 22, 1.0f);
    o.gamma = dev_rand(1, &C, 23, 0.2f);
    o.beta = dev_rand(1, &C, 24, 0.2f);
    o.y = tensor_new(NULL, DEV_CUDA, 4, shape);
    o.dx = tensor_zeros(NULL, DEV_CUDA, 4, shape);
    o.mean = tensor_new(NULL, DEV_CUDA, 2, (int[]){shape[0], G});
    o.rstd = tensor_new(NULL, DEV_CUDA, 2, (int[]){shape[0], G});
    o.dgamma = tensor_zeros(NULL, DEV_CUDA, 1, &C);
    o.dbeta = tensor_zeros(NULL, DEV_CUDA, 1, &C);
    Tensor *hx = o.a ? host_copy(o.a) : NULL, *hg = o.gamma ? host_copy(o.gamma) : NULL;
    Tensor *hb = o.beta ? host_copy(o.beta) : NULL, *hdy = o.dy ? host_copy(o.dy) : NULL;
    Tensor *hy = tensor_new(NULL, DEV_CPU, 4, shape), *hdx = tensor_zeros(NULL, DEV_CPU, 4, shape);
    Tensor *hm = tensor_new(NULL, DEV_CPU, 2, (int[]){shape[0], G}), *hr = tensor_new(NULL, DEV_CPU, 2, (int[]){shape[0], G});
    Tensor *hdg = tensor_zeros(NULL, DEV_CPU, 1, &C), *hdb = tensor_zeros(NULL, DEV_CPU, 1, &C);
    const double n = (double)shape[0] * shape[1] * shape[2] * shape[3];
    Row *r = row(b, "group_norm+silu fwd", -1);
    r->tol = 1e-5;
    if (!o.y || !o.dx || !o.mean || !o.rstd || !o.dgamma || !o.dbeta || !hx || !hg || !hb || !hdy || !hy || !hdx ||
        !hm || !hr || !hdg || !hdb || run_gn_f(&o) ||
        group_norm_forward(hx, hg, hb, G, 1e-5f, true, hy, hm, hr)) {
        row_fail(b, r);
    } else {
        r->err = err_vs(o.y, hy, hy->numel);
        r->ms = time_ms(run_gn_f, &o, 3, 20);
        if (r->ms < 0) row_fail(b, r);
        else row_bw(b, r, 8.0 * n);
        r = row(b, "group_norm+silu bwd", -1);
        r->tol = 1e-4;
        if (run_gn_b(&o) || group_norm_backward(hx, hg, hb, hm, hr, hdy, G, true, hdx, hdg, hdb)) row_fail(b, r);
        else {
            r->err = err_vs(o.dx, hdx, hdx->numel);
            r->ms = time_ms(run_gn_b, &o, 3, 20);
            if (r->ms < 0) row_fail(b, r);
            else row_bw(b, r, 16.0 * n);
        }
    }
    Tensor *all[] = {o.a, o.dy, o.gamma, o.beta, o.y, o.dx, o.mean, o.rstd, o.dgamma, o.dbeta,
                     hx,  hg,   hb,      hdy,    hy,  hdx,  hm,     hr,     hdg,      hdb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

static void bench_adamw(Bench *b) {
    const int n = 64 << 20;
    OpCtx o = {0};
    o.cfg = (AdamWConfig){1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};
    o.step = 10;
    o.a = dev_rand(1, &n, 31, 1.0f);
    Tensor *g = dev_rand(1, &n, 32, 1.0f);
    o.m = dev_rand(1, &n, 33, 0.01f);
    o.v = tensor_new(NULL, DEV_CUDA, 1, &n);
    Row *r = row(b, "adamw_step (64M)", -1);
    r->tol = 1e-5;
    Tensor *hp = NULL, *hg = NULL, *hm = NULL, *hv = NULL;
    if (!o.a || !g || !o.m || !o.v || rng_uniform(o.v, 34, 0) || scale_forward(o.v, 1e-4f, o.v) ||
        !(hp = host_copy(o.a)) || !(hg = host_copy(g)) || !(hm = host_copy(o.m)) || !(hv = host_copy(o.v))) {
        row_fail(b, r);
    } else {
        o.a->grad = g->data;
        hp->grad = hg->data;
        if (adamw_step(o.a, o.m, o.v, &o.cfg, o.step, 1.0f) || adamw_step(hp, hm, hv, &o.cfg, o.step, 1.0f))
            row_fail(b, r);
        else {
            r->err = err_vs(o.a, hp, hp->numel);
            r->ms = time_ms(run_adamw, &o, 3, 20);
            if (r->ms < 0) row_fail(b, r);
            else row_bw(b, r, 28.0 * n);
        }
        o.a->grad = NULL;
        hp->grad = NULL;
    }
    Tensor *all[] = {o.a, g, o.m, o.v, hp, hg, hm, hv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

static void bench_conv2d(Bench *b) {
    const int N = 64, H = 32, C = 256, K = 256;
    const int xs[4] = {N, H, H, C}, ws[4] = {K, 3, 3, C}, ys[4] = {N, H, H, K};
    OpCtx o = {0};
    o.a = dev_rand(4, xs, 41, 1.0f);
    o.w = dev_rand(4, ws, 42, 0.05f);
    o.bias = dev_rand(1, &K, 43, 0.1f);
    o.y = tensor_new(NULL, DEV_CUDA, 4, ys);
    /* CPU reference for sample 0 */
    Tensor *hx = tensor_new(NULL, DEV_CPU, 4, (int[]){1, H, H, C}), *hw = o.w ? host_copy(o.w) : NULL;
    Tensor *hb = o.bias ? host_copy(o.bias) : NULL, *hy = tensor_new(NULL, DEV_CPU, 4, (int[]){1, H, H, K});
    int ref_ok = o.a && o.y && hx && hw && hb && hy &&
                 dev_memcpy(hx->data, DEV_CPU, o.a->data, DEV_CUDA, hx->numel * sizeof(float)) == 0 &&
                 conv2d_forward(hx, hw, hb, 1, 1, hy) == 0;
    const double flop = 2.0 * N * H * H * K * 9.0 * C;
    for (int v = 0; v <= 3; v++) {
        Row *r = row(b, "conv2d 3x3 256->256 32x32 n64", v);
        r->tol = 1e-4;
        if (!ref_ok) {
            row_fail(b, r);
            break;
        }
        kernel_version_set("conv2d", v);
        if (run_conv(&o) || dev_synchronize(DEV_CUDA)) {
            if (v > 0 && strstr(ldm_last_error(), "version")) {
                snprintf(r->rate, sizeof r->rate, "absent");
                printf("  %-24s v%d absent\n", r->op, v);
            } else {
                row_fail(b, r);
            }
            continue;
        }
        r->err = err_vs(o.y, hy, hy->numel);
        r->ms = time_ms(run_conv, &o, 1, 10);
        if (r->ms < 0) {
            row_fail(b, r);
            continue;
        }
        snprintf(r->rate, sizeof r->rate, "%8.2f TFLOP/s", flop / (r->ms * 1e-3) / 1e12);
        printf("  %-24s v%d %8.3f ms  %s\n", r->op, v, r->ms, r->rate);
    }
    kernel_version_set("conv2d", 0);
    Tensor *all[] = {o.a, o.w, o.bias, o.y, hx, hw, hb, hy};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

static void bench_attention(Bench *b) {
    const int B = 16, L = 1024, Hh = 8, D = 64, C = Hh * D;
    const int s[3] = {B, L, C};
    OpCtx o = {0};
    o.scale = 1.0f / sqrtf((float)D);
    o.a = dev_rand(3, s, 51, 1.0f);
    o.b = dev_rand(3, s, 52, 1.0f);
    o.dy = dev_rand(3, s, 53, 1.0f); /* v */
    o.y = tensor_new(NULL, DEV_CUDA, 3, s);
    o.lse = tensor_new(NULL, DEV_CUDA, 3, (int[]){B, Hh, L});
    const int s1[3] = {1, L, C};
    Tensor *hq = tensor_new(NULL, DEV_CPU, 3, s1), *hk = tensor_new(NULL, DEV_CPU, 3, s1);
    Tensor *hv = tensor_new(NULL, DEV_CPU, 3, s1), *ho = tensor_new(NULL, DEV_CPU, 3, s1);
    Tensor *hl = tensor_new(NULL, DEV_CPU, 3, (int[]){1, Hh, L});
    const size_t bytes = (size_t)L * C * sizeof(float);
    int ref_ok = o.a && o.b && o.dy && o.y && o.lse && hq && hk && hv && ho && hl &&
                 dev_memcpy(hq->data, DEV_CPU, o.a->data, DEV_CUDA, bytes) == 0 &&
                 dev_memcpy(hk->data, DEV_CPU, o.b->data, DEV_CUDA, bytes) == 0 &&
                 dev_memcpy(hv->data, DEV_CPU, o.dy->data, DEV_CUDA, bytes) == 0 &&
                 attention_forward(hq, hk, hv, Hh, o.scale, ho, hl) == 0;
    const double flop = 4.0 * B * Hh * (double)L * L * D;
    double t1 = -1;
    for (int v = 0; v <= 2; v++) {
        Row *r = row(b, "attention fwd L1024 D64 h8 b16", v);
        r->tol = 1e-4;
        if (!ref_ok) {
            row_fail(b, r);
            break;
        }
        kernel_version_set("attention", v);
        if (run_attn(&o) || dev_synchronize(DEV_CUDA)) {
            if (v > 0 && strstr(ldm_last_error(), "version")) {
                snprintf(r->rate, sizeof r->rate, "absent");
                printf("  %-24s v%d absent\n", r->op, v);
            } else {
                row_fail(b, r);
            }
            continue;
        }
        r->err = err_vs(o.y, ho, ho->numel);
        r->ms = time_ms(run_attn, &o, 1, 10);
        if (r->ms < 0) {
            row_fail(b, r);
            continue;
        }
        if (v == 1) t1 = r->ms;
        snprintf(r->rate, sizeof r->rate, "%8.2f TFLOP/s", flop / (r->ms * 1e-3) / 1e12);
        printf("  %-24s v%d %8.3f ms  %s\n", r->op, v, r->ms, r->rate);
    }
    kernel_version_set("attention", 0);
    if (t1 > 0) /* the ratio to the naive version, once all are timed */
        for (int i = 0; i < b->n; i++)
            if (strncmp(b->rows[i].op, "attention", 9) == 0 && b->rows[i].ms > 0) {
                size_t len = strlen(b->rows[i].rate);
                snprintf(b->rows[i].rate + len, sizeof b->rows[i].rate - len, "  x%.2f vs v1", t1 / b->rows[i].ms);
            }
    Tensor *all[] = {o.a, o.b, o.dy, o.y, o.lse, hq, hk, hv, ho, hl};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

static void print_table(const Bench *b, FILE *f) {
    fprintf(f, "%-32s %-4s %-11s %-11s %s\n", "op", "ver", "max_rel_err", "time_ms", "rate");
    for (int i = 0; i < b->n; i++) {
        const Row *r = &b->rows[i];
        char ver[16] = "-", err[24] = "-", ms[24] = "-";
        if (r->version >= 0) snprintf(ver, sizeof ver, "v%d", r->version);
        if (!isnan(r->err)) snprintf(err, sizeof err, "%.2e%s", r->err, r->err > r->tol ? " !" : "");
        if (r->ms > 0) snprintf(ms, sizeof ms, "%.3f", r->ms);
        fprintf(f, "%-32s %-4s %-11s %-11s %s\n", r->op, ver, err, ms, r->rate);
    }
    fprintf(f, "('!': error over the op's tolerance; memory-bound targets: >= 70%% of copy)\n");
}

int gp_bench(GpCtx *c, FILE *table) {
    (void)c;
    static Bench b;
    memset(&b, 0, sizeof b);
    printf("== benchmark on %s\n", dev_cuda_name());
    bench_copy(&b);
    bench_elementwise(&b);
    bench_group_norm(&b);
    bench_adamw(&b);
    bench_conv2d(&b);
    bench_attention(&b);
    printf("\n== table\n");
    print_table(&b, stdout);
    if (table) print_table(&b, table);
    return b.failed;
}

#else

int gp_bench(GpCtx *c, FILE *table) {
    (void)c;
    (void)table;
    printf("SKIPPED: this build has no CUDA support\n");
    return 0;
}

#endif
