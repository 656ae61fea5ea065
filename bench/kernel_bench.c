/* bench/kernel_bench.c — see kernel_bench.h.
 *
 * One case = one shape and one pass. Its tensors are allocated as a "set"; on the GPU the
 * set is repeated until the copies together are 2.5x the L2 size (at most 32 copies), and
 * repetition i uses copy i mod nset, so every timed call reads its inputs from DRAM.
 * Validation (GPU only) runs the pass once on a reduced shape (batch 1, at most 512 rows,
 * at most 1M elements) on both devices from the same Philox draws and compares the output
 * the pass writes (fwd: y; dgrad, bwd: dx; wgrad: dw; adamw: the parameters):
 * err = max |gpu - cpu| / max |cpu|. */
#include "bench/kernel_bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/shapes.h"
#include "bench/timer.h"
#include "core/error.h"
#include "kernels/adamw.h"
#include "kernels/attention.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/group_norm.h"
#include "kernels/layer_norm.h"
#include "kernels/linear.h"
#include "kernels/random.h"
#include "kernels/resample.h"
#include "kernels/silu.h"
#include "kernels/versions.h"

#define NT 10      /* tensors in a set */
#define MAX_SETS 32
#define MAX_VERSION 3

typedef struct {
    Tensor *t[NT];
} TSet;

typedef struct {
    const BenchShape *s;
    BenchPass pass;
    TSet set[MAX_SETS];
    int nset;
} Case;

// ----------------------------------------------------------------------------
// tensors of a case

/* The shapes of the set's tensors and which start at zero (accumulated gradients). */
static int set_layout(const BenchShape *s, int shapes[NT][4], int *ndim, bool *zero) {
    int n = 0;
#define T(z, d, ...)                                                                                                   \
    do {                                                                                                               \
        int sh[4] = {__VA_ARGS__};                                                                                     \
        memcpy(shapes[n], sh, sizeof sh);                                                                              \
        ndim[n] = d;                                                                                                   \
        zero[n++] = z;                                                                                                 \
    } while (0)
    const int C = s->heads * s->d;
    const long long e = s->numel;
    switch (s->kind) {
    case BK_CONV2D: {
        int P = conv2d_out_size(s->h, s->r, s->stride, s->r / 2), Q = conv2d_out_size(s->w, s->r, s->stride, s->r / 2);
        T(0, 4, s->n, s->h, s->w, s->c);  /* x */
        T(0, 4, s->k, s->r, s->r, s->c);  /* w */
        T(0, 1, s->k);                    /* b */
        T(0, 4, s->n, P, Q, s->k);        /* y, and dy for the backward passes */
        T(1, 4, s->n, s->h, s->w, s->c);  /* dx */
        T(1, 4, s->k, s->r, s->r, s->c);  /* dw */
        break;
    }
    case BK_GROUP_NORM:
    case BK_LAYER_NORM: {
        bool g = s->kind == BK_GROUP_NORM;
        int c = g ? s->c : s->in, stats[2] = {g ? s->n : s->rows, g ? s->groups : 1};
        if (g) T(0, 4, s->n, s->h, s->w, c);
        else T(0, 2, s->rows, c);                    /* x */
        T(0, 1, c);                                  /* gamma */
        T(0, 1, c);                                  /* beta */
        memcpy(shapes[n], shapes[0], sizeof shapes[0]), ndim[n] = ndim[0], zero[n++] = 0; /* y */
        T(0, g ? 2 : 1, stats[0], stats[1]);         /* mean */
        T(0, g ? 2 : 1, stats[0], stats[1]);         /* rstd */
        memcpy(shapes[n], shapes[0], sizeof shapes[0]), ndim[n] = ndim[0], zero[n++] = 0; /* dy */
        memcpy(shapes[n], shapes[0], sizeof shapes[0]), ndim[n] = ndim[0], zero[n++] = 1; /* dx */
        T(1, 1, c);                                  /* dgamma */
        T(1, 1, c);                                  /* dbeta */
        break;
    }
    case BK_ATTENTION:
        T(0, 3, s->n, s->lq, C);          /* q */
        T(0, 3, s->n, s->lk, C);          /* k */
        T(0, 3, s->n, s->lk, C);          /* v */
        T(0, 3, s->n, s->lq, C);          /* o */
        T(0, 3, s->n, s->heads, s->lq);   /* lse */
        T(0, 3, s->n, s->lq, C);          /* dout */
        T(1, 3, s->n, s->lq, C);          /* dq */
        T(1, 3, s->n, s->lk, C);          /* dk */
        T(1, 3, s->n, s->lk, C);          /* dv */
        break;
    case BK_LINEAR:
        T(0, 2, s->rows, s->in);          /* x */
        T(0, 2, s->out, s->in);           /* w */
        T(0, 1, s->out);                  /* b */
        T(0, 2, s->rows, s->out);         /* y */
        T(0, 2, s->rows, s->out);         /* dy */
        T(1, 2, s->rows, s->in);          /* dx */
        T(1, 2, s->out, s->in);           /* dw */
        T(1, 1, s->out);                  /* db */
        break;
    case BK_SILU:
    case BK_ADD:
        T(0, 1, (int)e);                  /* x or a */
        T(0, 1, (int)e);                  /* y or b */
        T(0, 1, (int)e);                  /* dy or y */
        T(1, 1, (int)e);                  /* dx */
        break;
    case BK_UPSAMPLE:
        T(0, 4, s->n, s->h, s->w, s->c);          /* x */
        T(0, 4, s->n, 2 * s->h, 2 * s->w, s->c);  /* y, and dy */
        T(1, 4, s->n, s->h, s->w, s->c);          /* dx */
        break;
    case BK_ADAMW:
        T(0, 1, (int)e);                  /* p */
        T(0, 1, (int)e);                  /* grad */
        T(0, 1, (int)e);                  /* m */
        T(0, 1, (int)e);                  /* v */
        break;
    default: return ldm_error("bench", "unknown op kind %d", s->kind);
    }
#undef T
    return n;
}

static const AdamWConfig adamw_cfg = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f};

static int run_pass(const BenchShape *s, BenchPass p, Tensor **t) {
    const float eps = 1e-5f;
    switch (s->kind) {
    case BK_CONV2D:
        if (p == BP_FWD) return conv2d_forward(t[0], t[1], t[2], s->stride, s->r / 2, t[3]);
        return conv2d_backward(t[0], t[1], t[3], s->stride, s->r / 2, p == BP_DGRAD ? t[4] : NULL,
                               p == BP_WGRAD ? t[5] : NULL, NULL);
    case BK_GROUP_NORM:
        if (p == BP_FWD) return group_norm_forward(t[0], t[1], t[2], s->groups, eps, s->silu, t[3], t[4], t[5]);
        return group_norm_backward(t[0], t[1], t[2], t[4], t[5], t[6], s->groups, s->silu, t[7], t[8], t[9]);
    case BK_LAYER_NORM:
        if (p == BP_FWD) return layer_norm_forward(t[0], t[1], t[2], eps, t[3], t[4], t[5]);
        return layer_norm_backward(t[0], t[1], t[4], t[5], t[6], t[7], t[8], t[9]);
    case BK_ATTENTION: {
        float scale = 1.0f / sqrtf((float)s->d);
        if (p == BP_FWD) return attention_forward(t[0], t[1], t[2], s->heads, scale, t[3], t[4]);
        return attention_backward(t[0], t[1], t[2], t[3], t[4], t[5], s->heads, scale, t[6], t[7], t[8]);
    }
    case BK_LINEAR:
        if (p == BP_FWD) return linear_forward(t[0], t[1], t[2], t[3]);
        return linear_backward(t[0], t[1], t[4], t[5], t[6], t[7]);
    case BK_SILU: return p == BP_FWD ? silu_forward(t[0], t[1]) : silu_backward(t[0], t[2], t[3]);
    case BK_ADD: return add_forward(t[0], t[1], t[2]);
    case BK_UPSAMPLE: return p == BP_FWD ? upsample2x_forward(t[0], t[1]) : upsample2x_backward(t[1], t[2]);
    case BK_ADAMW: {
        t[0]->grad = t[1]->data;
        int rc = adamw_step(t[0], t[2], t[3], &adamw_cfg, 10, 1.0f);
        t[0]->grad = NULL;
        return rc;
    }
    default: return ldm_error("bench", "unknown op kind %d", s->kind);
    }
}

/* The tensor pass p writes (index into the set). */
static int result_index(BenchKind k, BenchPass p) {
    switch (k) {
    case BK_CONV2D: return p == BP_FWD ? 3 : p == BP_DGRAD ? 4 : 5;
    case BK_GROUP_NORM:
    case BK_LAYER_NORM: return p == BP_FWD ? 3 : 7;
    case BK_ATTENTION: return p == BP_FWD ? 3 : 6;
    case BK_LINEAR: return p == BP_FWD ? 3 : 5;
    case BK_SILU: return p == BP_FWD ? 1 : 3;
    case BK_ADD: return 2;
    case BK_UPSAMPLE: return p == BP_FWD ? 1 : 2;
    default: return 0;
    }
}

static void free_set(TSet *set) {
    for (int i = 0; i < NT; i++) tensor_free(set->t[i]);
    memset(set, 0, sizeof *set);
}

/* Allocates and fills one set; backward passes get a forward run first (statistics,
 * attention's o and lse). Uniform [0, 1) draws from Philox (seed, tensor index): the
 * same values on every device. */
static int make_set(const BenchShape *s, BenchPass p, Device dev, uint64_t seed, TSet *set) {
    int shapes[NT][4], ndim[NT];
    bool zero[NT];
    memset(set, 0, sizeof *set);
    int n = set_layout(s, shapes, ndim, zero);
    for (int i = 0; i < n; i++) {
        set->t[i] = zero[i] ? tensor_zeros(NULL, dev, ndim[i], shapes[i]) : tensor_new(NULL, dev, ndim[i], shapes[i]);
        if (!set->t[i] || (!zero[i] && rng_uniform(set->t[i], seed + (uint64_t)i, 0))) {
            free_set(set);
            return -1;
        }
    }
    bool needs_fwd = p == BP_BWD && (s->kind == BK_GROUP_NORM || s->kind == BK_LAYER_NORM || s->kind == BK_ATTENTION);
    if (needs_fwd && run_pass(s, BP_FWD, set->t)) {
        free_set(set);
        return -1;
    }
    return 0;
}

static double set_bytes(const TSet *set) {
    double b = 0;
    for (int i = 0; i < NT; i++)
        if (set->t[i]) b += (double)tensor_bytes(set->t[i]);
    return b;
}

static int run_case(void *ctx, int rep) {
    Case *c = ctx;
    return run_pass(c->s, c->pass, c->set[rep % c->nset].t);
}

// ----------------------------------------------------------------------------
// validation against the CPU (GPU runs)

static BenchShape reduced(const BenchShape *s) {
    BenchShape r = *s;
    if (r.n > 1) r.n = 1;
    if (r.rows > 512) r.rows = 512;
    if (r.numel > (1 << 20)) r.numel = 1 << 20;
    return r;
}

static double max_rel_err(const Tensor *dev_t, const Tensor *cpu_t) {
    float *h = malloc(dev_t->numel * sizeof(float));
    if (!h || tensor_to_host(dev_t, h)) {
        free(h);
        return INFINITY;
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < dev_t->numel; i++) {
        double d = fabs((double)h[i] - cpu_t->data[i]), m = fabs((double)cpu_t->data[i]);
        if (!(d <= num)) num = d; /* NaN propagates */
        if (m > den) den = m;
    }
    free(h);
    return den > 0 ? num / den : num;
}

static double validate(const BenchShape *s, BenchPass p, Device dev) {
    BenchShape r = reduced(s);
    TSet a, b;
    double err = INFINITY;
    if (make_set(&r, p, dev, 1000, &a)) return err;
    if (make_set(&r, p, DEV_CPU, 1000, &b)) {
        free_set(&a);
        return err;
    }
    if (!run_pass(&r, p, a.t) && !run_pass(&r, p, b.t) && !dev_synchronize(dev)) {
        int i = result_index(r.kind, p);
        err = max_rel_err(a.t[i], b.t[i]);
    }
    free_set(&a);
    free_set(&b);
    return err;
}

// ----------------------------------------------------------------------------
// the table

typedef struct {
    const BenchShape *s;
    BenchPass pass;
    int version; /* -1: none (the CPU, or an op with one CUDA version) */
    double sec, err;
    int reps;
    bool absent;
} Row;

static bool is_matmul(BenchKind k) { return k == BK_CONV2D || k == BK_LINEAR || k == BK_ATTENTION; }

/* CUDA ops with several versions (kernels/versions.h) and how many. */
static int version_count(BenchKind k) {
    switch (k) {
    case BK_CONV2D: return 2;
    case BK_ATTENTION: return 2;
    case BK_LINEAR: return 2;
    default: return 0;
    }
}

static void row_key(const Row *r, char *buf, size_t n) {
    char shape[96], ver[16] = "";
    if (r->version >= 0) snprintf(ver, sizeof ver, " v%d", r->version);
    snprintf(buf, n, "%s.%s%s %s %s", bench_kind_name(r->s->kind), bench_pass_name(r->pass), ver, r->s->model,
             bench_shape_str(r->s, shape, sizeof shape));
}

static void print_header(FILE *out) {
    fprintf(out, "%-20s %-4s %-36s %5s %10s %9s %9s %7s %7s %9s\n", "op", "model", "shape", "calls", "ms", "GB/s",
            "GFLOP/s", "%bw", "%fma", "err");
}

static void print_row(FILE *out, const Row *r, const Ceilings *c) {
    char op[40], shape[96], err[24] = "-";
    snprintf(op, sizeof op, "%s.%s", bench_kind_name(r->s->kind), bench_pass_name(r->pass));
    if (r->version >= 0) snprintf(op + strlen(op), sizeof op - strlen(op), " v%d", r->version);
    bench_shape_str(r->s, shape, sizeof shape);
    if (r->absent) {
        fprintf(out, "%-20s %-4s %-36s %5d %10s\n", op, r->s->model, shape, r->s->count, "absent");
        return;
    }
    if (r->sec < 0) {
        fprintf(out, "%-20s %-4s %-36s %5d %10s  %s\n", op, r->s->model, shape, r->s->count, "failed", ldm_last_error());
        return;
    }
    double gbs = bench_bytes(r->s, r->pass) / r->sec, fl = bench_flops(r->s, r->pass) / r->sec;
    double tol = is_matmul(r->s->kind) ? 1e-3 : 1e-4;
    if (!isnan(r->err)) snprintf(err, sizeof err, "%.1e%s", r->err, r->err > tol ? " !" : "");
    fprintf(out, "%-20s %-4s %-36s %5d %10.4f %9.2f %9.2f %6.1f%% %6.1f%% %9s\n", op, r->s->model, shape, r->s->count,
            r->sec * 1e3, gbs * 1e-9, fl * 1e-9, 100 * gbs / c->bw_bytes_s, 100 * fl / c->fma_flop_s, err);
    fflush(out);
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
    fputc('"', f);
}

static int write_json(const char *path, const KernelBenchOpts *o, int batch, const Ceilings *c, const Row *rows,
                      int n) {
    FILE *f = fopen(path, "w");
    if (!f) return ldm_error("bench", "%s: cannot write", path);
    fprintf(f, "{\n  \"tool\": \"ldm-bench kernels\",\n  \"device\": \"%s\",\n  \"device_name\": ",
            device_name(o->device));
    json_str(f, c->name);
    fprintf(f, ",\n  \"threads\": %d,\n  \"preset\": ", c->threads);
    json_str(f, o->preset);
    fprintf(f, ",\n  \"batch\": %d,\n  \"commit\": \"%s\",\n  \"date\": \"%s\",\n", batch, bench_commit(),
            bench_date());
    fprintf(f, "  \"ceilings\": {\"bw_bytes_s\": %lld, \"fma_flop_s\": %lld},\n  \"rows\": [", (long long)c->bw_bytes_s,
            (long long)c->fma_flop_s);
    int first = 1;
    for (int i = 0; i < n; i++) {
        const Row *r = &rows[i];
        const BenchShape *s = r->s;
        if (r->absent || r->sec < 0) continue;
        char key[160], shape[96];
        row_key(r, key, sizeof key);
        fprintf(f, "%s\n    {\"key\": ", first ? "" : ",");
        first = 0;
        json_str(f, key);
        fprintf(f, ", \"op\": \"%s\", \"pass\": \"%s\", \"model\": \"%s\", \"version\": %d, \"count\": %d, \"shape\": ",
                bench_kind_name(s->kind), bench_pass_name(r->pass), s->model, r->version, s->count);
        json_str(f, bench_shape_str(s, shape, sizeof shape));
        fprintf(f,
                ",\n     \"dims\": {\"n\": %d, \"h\": %d, \"w\": %d, \"c\": %d, \"k\": %d, \"r\": %d, \"stride\": %d, "
                "\"groups\": %d, \"silu\": %d, \"lq\": %d, \"lk\": %d, \"heads\": %d, \"d\": %d, \"rows\": %d, "
                "\"in\": %d, \"out\": %d, \"numel\": %lld},\n",
                s->n, s->h, s->w, s->c, s->k, s->r, s->stride, s->groups, s->silu, s->lq, s->lk, s->heads, s->d,
                s->rows, s->in, s->out, s->numel);
        fprintf(f, "     \"time_ns\": %lld, \"reps\": %d, \"flop\": %lld, \"bytes\": %lld, \"err_e9\": %lld}",
                (long long)llround(r->sec * 1e9), r->reps, (long long)bench_flops(s, r->pass),
                (long long)bench_bytes(s, r->pass), isnan(r->err) ? -1LL : (long long)fmin(r->err * 1e9, 9e15));
    }
    fprintf(f, "\n  ]\n}\n");
    int bad = ferror(f);
    if (fclose(f) || bad) return ldm_error("bench", "%s: write failed", path);
    return 0;
}

// ----------------------------------------------------------------------------
// the run

int bench_default_batch(const char *preset, Device dev, bool quick) {
    ModelConfig cfg;
    if (cfg_preset(&cfg, preset)) return 8;
    if (cfg.image_size <= 64) return 8;
    return dev == DEV_CPU && quick ? 1 : 4;
}

const char *bench_commit(void) {
    static char buf[48];
    if (buf[0]) return buf;
    snprintf(buf, sizeof buf, "unknown");
    FILE *p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
    if (p) {
        char line[48];
        if (fgets(line, sizeof line, p)) {
            line[strcspn(line, "\n")] = 0;
            if (line[0]) snprintf(buf, sizeof buf, "%s", line);
        }
        pclose(p);
    }
    return buf;
}

const char *bench_date(void) {
    static char buf[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
    return buf;
}

/* Times one case (shape, pass, version) into *r. */
static void time_case(const BenchShape *s, BenchPass p, int version, Device dev, const Ceilings *c, bool quick,
                      Row *r) {
    memset(r, 0, sizeof *r);
    r->s = s, r->pass = p, r->version = version, r->err = NAN, r->sec = -1;
    if (version >= 0) kernel_version_set(bench_kind_name(s->kind), version);
    Case cs = {.s = s, .pass = p, .nset = 1};
    if (make_set(s, p, dev, 1, &cs.set[0])) return;
    if (dev == DEV_CUDA) {
        if (run_pass(s, p, cs.set[0].t) || dev_synchronize(dev)) {
            r->absent = version > 0 && strstr(ldm_last_error(), "version");
            free_set(&cs.set[0]);
            return;
        }
        r->err = validate(s, p, dev);
        double want = 2.5 * (double)c->l2_bytes / set_bytes(&cs.set[0]);
        while (cs.nset < MAX_SETS && cs.nset < want && !make_set(s, p, dev, 1 + 100 * (uint64_t)cs.nset, &cs.set[cs.nset]))
            cs.nset++;
    }
    TimerOpts to = dev == DEV_CUDA ? (TimerOpts){quick ? 0.05 : 0.2, 10, 200, 3}
                                   : (TimerOpts){quick ? 0.05 : 0.2, quick ? 2 : 3, 50, 1};
    r->sec = bench_time(dev, run_case, &cs, &to, &r->reps);
    for (int i = 0; i < cs.nset; i++) free_set(&cs.set[i]);
    if (version >= 0) kernel_version_set(bench_kind_name(s->kind), 0);
}

int kernel_bench_run(const KernelBenchOpts *o, FILE *out) {
    ModelConfig cfg;
    if (cfg_preset(&cfg, o->preset)) return -1;
    int kind = -1;
    if (o->op && (kind = bench_kind_parse(o->op)) < 0) return ldm_error("bench", "unknown op '%s'", o->op);
    if (o->device == DEV_CUDA && !dev_cuda_available())
        return ldm_error("bench", "--device cuda: no CUDA device (or a build without CUDA)");
    int batch = o->batch > 0 ? o->batch : bench_default_batch(o->preset, o->device, o->quick);
    static BenchShape shapes[SHAPES_MAX];
    int ns = shapes_for_preset(&cfg, batch, shapes, SHAPES_MAX);
    if (ns < 0) return -1;
    Ceilings c;
    if (bench_ceilings(o->device, &c)) return -1;
    fprintf(out, "ldm-bench kernels: preset %s, batch %d, %s (%s", o->preset, batch, device_name(o->device), c.name);
    if (c.threads) fprintf(out, ", %d threads", c.threads);
    fprintf(out, "), commit %s, %s\n", bench_commit(), bench_date());
    fprintf(out, "ceilings: bandwidth %.1f GB/s (%s), FMA %.1f GFLOP/s\n\n", c.bw_bytes_s * 1e-9,
            o->device == DEV_CUDA ? "cudaMemcpy D2D" : "memcpy", c.fma_flop_s * 1e-9);
    print_header(out);
    int cap = ns * 3 * (MAX_VERSION + 1), n = 0, failed = 0;
    Row *rows = calloc((size_t)cap, sizeof *rows);
    if (!rows) return ldm_error("bench", "out of memory");
    int used[BK_N_KINDS][5][2] = {{{0}}};
    for (int i = 0; i < ns; i++) {
        const BenchShape *s = &shapes[i];
        if (kind >= 0 && (int)s->kind != kind) continue;
        BenchPass passes[4];
        int np = bench_passes(s->kind, passes);
        for (int j = 0; j < np; j++) {
            int *u = &used[s->kind][passes[j]][strcmp(s->model, "vae") != 0];
            if (o->quick && (*u)++ >= 3) continue;
            int nv = o->device == DEV_CUDA ? version_count(s->kind) : 0;
            int v0 = nv ? 1 : -1, v1 = nv ? nv : -1;
            if (o->version >= 0 && nv) v0 = v1 = o->version;
            for (int v = v0; v <= v1; v++) {
                Row *r = &rows[n++];
                time_case(s, passes[j], v, o->device, &c, o->quick, r);
                if (r->sec < 0 && !r->absent) failed = 1;
                print_row(out, r, &c);
            }
        }
    }
    fprintf(out, "\n(%%bw: GB/s over the copy ceiling; %%fma: GFLOP/s over the FMA ceiling; err: max |dev - cpu| / "
                 "max |cpu| on a reduced shape, '!' above tolerance)\n");
    int rc = failed ? ldm_error("bench", "some cases failed (see the table)") : 0;
    if (o->json && write_json(o->json, o, batch, &c, rows, n)) rc = -1;
    free(rows);
    return rc;
}
