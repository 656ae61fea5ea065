/* bench/kernel_bench.c — see kernel_bench.h.
 *
 * The ops, their passes, argument lists, FLOP and byte counts, tolerances and kernel
 * versions come from the op table (bench/ops/op_table.h); the shapes from the preset
 * (bench/shapes.h). One case = one shape and one pass. Its tensors are allocated as a "set";
 * on the GPU the set is repeated until the copies together are 2.5x the L2 size (at most
 * 32 copies), and repetition i uses copy i mod nset, so every timed call reads its inputs
 * from DRAM. Validation (any device but the CPU) is the op table's parity check on a
 * reduced shape (batch 1, at most 512 rows, at most 1M elements) with its error measure
 * and tolerance (op_run.h); a failed validation fails the run. */
#include "bench/kernel_bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/ops/op_run.h"
#include "bench/shapes.h"
#include "bench/timer.h"
#include "core/error.h"
#include "kernels/versions.h"

#define MAX_SETS 32

typedef struct {
    OpCase c;
    int pass;
    OpSet set[MAX_SETS];
    int nset;
} Case;

static int run_case(void *ctx, int rep) {
    Case *k = ctx;
    return op_set_run(&k->c, k->pass, &k->set[rep % k->nset]);
}

// ----------------------------------------------------------------------------
// validation against the CPU (device runs)

static BenchShape reduced(const BenchShape *s) {
    BenchShape r = *s;
    if (r.n > 1) r.n = 1;
    if (r.rows > 512) r.rows = 512;
    if (r.numel > (1 << 20)) r.numel = 1 << 20;
    return r;
}

/* The op table's parity check of (shape, pass, version) on a reduced shape: its error,
 * and whether it passed (*ok). */
static double validate(const OpDef *op, const BenchShape *s, int pass, int version, Device dev, bool *ok) {
    BenchShape r = reduced(s);
    OpCase c;
    double err = INFINITY;
    *ok = false;
    if (op_case_from_shape(op, &r, &c)) return err;
    OpRun run;
    op_run_init(&run, 1000);
    run.quiet_ok = true;
    run.out = stderr;
    *ok = op_parity(&run, &c, pass, version < 0 ? 0 : version, dev, &err) == 0;
    return err;
}

// ----------------------------------------------------------------------------
// the table

typedef struct {
    const BenchShape *s;
    BenchPass pass;
    const OpDef *op;
    int p;       /* the pass in op's row */
    OpCase c;    /* the full-size case: FLOPs and bytes */
    int version; /* -1: none (the CPU, or an op with one CUDA version) */
    double sec, err;
    int reps;
    bool bad; /* validation over tolerance */
} Row;

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
    if (r->sec < 0) {
        fprintf(out, "%-20s %-4s %-36s %5d %10s  %s\n", op, r->s->model, shape, r->s->count, "failed", ldm_last_error());
        return;
    }
    double gbs = op_bytes(&r->c, r->p) / r->sec, fl = op_flops(&r->c, r->p) / r->sec;
    if (!isnan(r->err)) snprintf(err, sizeof err, "%.1e%s", r->err, r->bad ? " FAIL" : "");
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
        if (r->sec < 0) continue;
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
                (long long)llround(r->sec * 1e9), r->reps, (long long)op_flops(&r->c, r->p),
                (long long)op_bytes(&r->c, r->p), isnan(r->err) ? -1LL : (long long)fmin(r->err * 1e9, 9e15));
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

/* Validates (devices) and times one case (shape, pass, version) into *r. */
static void time_case(const OpDef *op, const BenchShape *s, BenchPass p, int version, Device dev, const Ceilings *c,
                      bool quick, Row *r) {
    memset(r, 0, sizeof *r);
    r->s = s, r->pass = p, r->op = op, r->version = version, r->err = NAN, r->sec = -1;
    r->p = op_pass_index(op, bench_pass_name(p));
    if (r->p < 0) {
        ldm_error("bench", "%s has no pass %s in the op table", op->name, bench_pass_name(p));
        return;
    }
    if (op_case_from_shape(op, s, &r->c)) return;
    if (dev != DEV_CPU) {
        bool ok;
        r->err = validate(op, s, r->p, version, dev, &ok);
        r->bad = !ok;
    }
    if (version >= 0) kernel_version_set(op->name, version);
    static Case cs;
    memset(&cs, 0, sizeof cs);
    cs.c = r->c;
    cs.pass = r->p;
    if (op_set_alloc(&cs.c, cs.pass, dev, 1, &cs.set[0])) goto done;
    cs.nset = 1;
    if (dev == DEV_CUDA) {
        double want = 2.5 * (double)c->l2_bytes / op_set_bytes(&cs.set[0]);
        while (cs.nset < MAX_SETS && cs.nset < want &&
               !op_set_alloc(&cs.c, cs.pass, dev, 1 + 100 * (uint64_t)cs.nset, &cs.set[cs.nset]))
            cs.nset++;
    }
    TimerOpts to = dev == DEV_CUDA ? (TimerOpts){quick ? 0.05 : 0.2, 10, 200, 3}
                                   : (TimerOpts){quick ? 0.05 : 0.2, quick ? 2 : 3, 50, 1};
    r->sec = bench_time(dev, run_case, &cs, &to, &r->reps);
done:
    for (int i = 0; i < cs.nset; i++) op_set_free(&cs.set[i]);
    if (version >= 0) kernel_version_set(op->name, 0);
}

int kernel_bench_run(const KernelBenchOpts *o, FILE *out) {
    ModelConfig cfg;
    if (cfg_preset(&cfg, o->preset)) return -1;
    int kind = -1;
    if (o->op && (kind = bench_kind_parse(o->op)) < 0) return ldm_error("bench", "unknown op '%s'", o->op);
    if (o->device != DEV_CPU && !dev_cuda_available())
        return ldm_error("bench", "--device cuda: no CUDA device (or a build without CUDA)");
    int batch = o->batch > 0 ? o->batch : bench_default_batch(o->preset, o->device, o->quick);
    static BenchShape shapes[SHAPES_MAX];
    int ns = o->n_attn_lens > 0
                 ? shapes_long_attention(batch, o->attn_lens, o->n_attn_lens, 4, 64, 4, shapes, SHAPES_MAX)
                 : shapes_for_preset(&cfg, batch, shapes, SHAPES_MAX);
    if (ns < 0) return -1;
    Ceilings c;
    if (bench_ceilings(o->device, &c)) return -1;
    fprintf(out, "ldm-bench kernels: preset %s, batch %d, %s (%s", o->preset, batch, device_name(o->device), c.name);
    if (c.threads) fprintf(out, ", %d threads", c.threads);
    fprintf(out, "), commit %s, %s\n", bench_commit(), bench_date());
    fprintf(out, "ceilings: bandwidth %.1f GB/s (%s), FMA %.1f GFLOP/s\n\n", c.bw_bytes_s * 1e-9,
            o->device == DEV_CUDA ? "cudaMemcpy D2D" : "memcpy", c.fma_flop_s * 1e-9);
    print_header(out);
    int cap = ns * OP_MAX_PASSES * 4, n = 0, failed = 0;
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
            const OpDef *op = op_find(bench_kind_name(s->kind));
            if (!op) {
                free(rows);
                return ldm_error("bench", "no op table row for %s", bench_kind_name(s->kind));
            }
            int nv = o->device != DEV_CPU ? op->versions : 0;
            int v0 = nv ? 1 : -1, v1 = nv ? nv : -1;
            if (o->version >= 0 && nv) v0 = v1 = o->version;
            for (int v = v0; v <= v1; v++) {
                if (o->no_naive && v > 0 && v == op->naive && o->version < 0) continue;
                Row *r = &rows[n++];
                time_case(op, s, passes[j], v, o->device, &c, o->quick, r);
                if (r->sec < 0 || r->bad) failed = 1;
                print_row(out, r, &c);
            }
        }
    }
    fprintf(out, "\n(%%bw: GB/s over the copy ceiling; %%fma: GFLOP/s over the FMA ceiling; err: max |dev - cpu| / "
                 "max |cpu| on a reduced shape, FAIL above the op table's tolerance)\n");
    int rc = failed ? ldm_error("bench", "some cases failed (see the table)") : 0;
    if (o->json && write_json(o->json, o, batch, &c, rows, n)) rc = -1;
    free(rows);
    return rc;
}
