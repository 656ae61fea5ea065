/* bench/ops/op_run.c — see op_run.h. */
#include "bench/ops/op_run.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/versions.h"

#define GRAD_SAMPLES 24

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(uint64_t *s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

void op_run_init(OpRun *r, uint64_t seed) {
    memset(r, 0, sizeof *r);
    r->rng = seed;
}

double op_err(const float *got, const float *want, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (got[i] == want[i] || (isnan(got[i]) && isnan(want[i]))) continue;
        if (!isfinite(got[i]) || !isfinite(want[i])) return INFINITY;
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > num) num = d;
    }
    for (size_t i = 0; i < n; i++)
        if (isfinite(want[i]) && fabs((double)want[i]) > den) den = fabs((double)want[i]);
    return num / (den > 0 ? den : 1.0);
}

/* outliers: FILL_LOGVAR's values beyond the clamp (not for gradient checks, where a
 * KL of e^25 would drown every finite difference in the output's rounding) */
static void fill_arg(uint64_t *rng, const OpArg *a, float *x, size_t n, bool outliers) {
    if (a->role == ROLE_OUT) {
        for (size_t i = 0; i < n; i++) x[i] = NAN;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        double u = uniform01(rng);
        x[i] = (float)(a->lo + (a->hi - a->lo) * u);
        if (a->fill == FILL_INT) x[i] = floorf(x[i]);
        if (a->fill == FILL_SIGNED && (splitmix64(rng) & 1)) x[i] = -x[i];
    }
    if (a->fill == FILL_LOGVAR && outliers) /* a few values beyond the clamp range on each side */
        for (size_t i = 0; i < n; i += 37) x[i] = (i / 37) % 2 ? -40.0f : 25.0f;
}

// ---------------------------------------------------------------------------------
// reporting

static void report(OpRun *r, bool ok, const OpCase *c, int pass, int version, double err, const char *tname,
                   const char *fmt, ...) {
    char why[320] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
    }
    if (ok) r->passed++;
    else r->failed++;
    if (ok && r->quiet_ok) return;
    FILE *f = r->out ? r->out : stdout;
    char name[64];
    snprintf(name, sizeof name, "%s.%s", c->op->name, c->op->pass[pass].name);
    fprintf(f, "%-4s %-26s v%d  %9.2e  [%s] %s%s%s\n", ok ? "OK" : "FAIL", name, version, err, tname, c->desc,
            why[0] ? "  -- " : "", why);
    fflush(f);
}

// ---------------------------------------------------------------------------------
// tensors of a case

typedef struct {
    Tensor *h[OP_MAX_ARGS];
} HostSet;

static void host_free(HostSet *s) {
    for (int i = 0; i < OP_MAX_ARGS; i++) tensor_free(s->h[i]);
    memset(s, 0, sizeof *s);
}

/* A CPU tensor of a's shape; an empty one (a dimension of 0) too, which tensor_new
 * refuses: its storage is one float, its numel 0. */
static Tensor *host_tensor(const OpArg *a) {
    bool empty = false;
    const DType dt = a->bf16 ? DT_BF16 : DT_F32;
    for (int d = 0; d < a->ndim; d++) empty |= a->shape[d] == 0;
    if (!empty) return tensor_new_dtype(NULL, DEV_CPU, dt, a->ndim, a->shape);
    Tensor *t = tensor_new_dtype(NULL, DEV_CPU, dt, 1, (int[]){1});
    if (t) {
        t->ndim = a->ndim;
        memcpy(t->shape, a->shape, sizeof t->shape);
        t->numel = 0;
    }
    return t;
}

/* fill_arg into t, through an fp32 buffer and a rounding when t is bf16. */
static int fill_tensor(uint64_t *rng, const OpArg *a, Tensor *t, bool outliers) {
    if (t->dtype == DT_F32) {
        fill_arg(rng, a, t->data, t->numel, outliers);
        return 0;
    }
    float *x = malloc((t->numel ? t->numel : 1) * sizeof(float));
    if (!x) return ldm_error("op_run", "out of host memory");
    fill_arg(rng, a, x, t->numel, outliers);
    int rc = tensor_from_host(t, x);
    free(x);
    return rc;
}

/* Host tensors of every non-NULL argument: inputs filled, outputs poisoned, gradients
 * pre-filled (or zeroed: zero_acc). For a pass after the first, the first (forward) pass
 * runs on them before the written arguments are refilled, so that what a backward pass
 * reads (statistics, o, lse) is the CPU's. */
static int host_alloc(uint64_t *rng, const OpCase *c, int pass, bool zero_acc, HostSet *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < c->nargs; i++) {
        const OpArg *a = &c->a[i];
        if (a->null) continue;
        s->h[i] = host_tensor(a);
        if (!s->h[i] || fill_tensor(rng, a, s->h[i], !zero_acc)) return -1;
    }
    if (pass > 0 && c->op->pass[0].run(s->h, c)) return -1;
    const unsigned w = c->op->pass[pass].writes;
    for (int i = 0; i < c->nargs; i++)
        if (s->h[i] && (w & (1u << i))) {
            if (zero_acc && c->a[i].role == ROLE_ACC) memset(s->h[i]->data, 0, tensor_bytes(s->h[i]));
            else if (fill_tensor(rng, &c->a[i], s->h[i], !zero_acc)) return -1;
        }
    return 0;
}

/* A device tensor like `like`, optionally one float past its allocation's start. */
static Tensor *dev_tensor(const Tensor *like, Device dev, bool misalign, float **base) {
    *base = dev_malloc(dev, (like->numel + 1) * sizeof(float));
    if (!*base) return NULL;
    Tensor *t = calloc(1, sizeof *t);
    if (!t) {
        dev_free(dev, *base);
        return NULL;
    }
    *t = *like;
    t->data = *base + (misalign ? 1 : 0);
    t->grad = NULL;
    t->device = dev;
    t->on_heap = false;
    return t;
}

void op_set_free(OpSet *s) {
    for (int i = 0; i < OP_MAX_ARGS; i++) {
        if (s->t[i]) dev_free(s->t[i]->device, s->base[i]);
        free(s->t[i]);
    }
    memset(s, 0, sizeof *s);
}

static int set_from_host(const HostSet *h, const OpCase *c, Device dev, OpSet *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < c->nargs; i++) {
        if (!h->h[i]) continue;
        s->t[i] = dev_tensor(h->h[i], dev, c->misalign, &s->base[i]);
        if (!s->t[i] || tensor_from_host_raw(s->t[i], h->h[i]->data)) {
            op_set_free(s);
            return -1;
        }
    }
    return 0;
}

int op_set_alloc(const OpCase *c, int pass, Device dev, uint64_t seed, OpSet *s) {
    uint64_t rng = seed;
    HostSet h;
    int rc = host_alloc(&rng, c, 0, false, &h); /* the forward runs on the device below */
    if (!rc) rc = set_from_host(&h, c, dev, s);
    host_free(&h);
    if (!rc && pass > 0 && (c->op->pass[0].run(s->t, c) || dev_synchronize(dev))) {
        op_set_free(s);
        rc = -1;
    }
    return rc;
}

int op_set_run(const OpCase *c, int pass, OpSet *s) { return c->op->pass[pass].run(s->t, c); }

double op_set_bytes(const OpSet *s) {
    double b = 0;
    for (int i = 0; i < OP_MAX_ARGS; i++)
        if (s->t[i]) b += (double)tensor_bytes(s->t[i]);
    return b;
}

// ---------------------------------------------------------------------------------
// device parity

static float *download(const Tensor *t) {
    float *x = malloc((t->numel ? t->numel : 1) * sizeof(float));
    if (x && tensor_to_host(t, x)) {
        free(x);
        return NULL;
    }
    return x;
}

int op_parity(OpRun *r, const OpCase *c, int pass, int version, Device dev, double *err_out) {
    const OpDef *op = c->op;
    const OpPass *ps = &op->pass[pass];
    const double tol = op_tolerance(op, pass, version);
    HostSet h, ref;
    OpSet d1, d2;
    memset(&d1, 0, sizeof d1);
    memset(&d2, 0, sizeof d2);
    memset(&ref, 0, sizeof ref);
    char why[256] = "";
    double worst = 0, worst_ratio = -1;
    const char *worst_name = "-";
    bool ok = false;
    if (err_out) *err_out = INFINITY;
    ldm_clear_error();

    if (host_alloc(&r->rng, c, pass, false, &h) || set_from_host(&h, c, dev, &d1) || set_from_host(&h, c, dev, &d2)) {
        snprintf(why, sizeof why, "setup: %s", ldm_last_error());
        goto done;
    }
    /* the inputs as uploaded, to check what the pass must leave alone */
    for (int i = 0; i < c->nargs; i++) {
        if (!h.h[i]) continue;
        ref.h[i] = host_tensor(&c->a[i]);
        if (!ref.h[i]) {
            snprintf(why, sizeof why, "setup: %s", ldm_last_error());
            goto done;
        }
        memcpy(ref.h[i]->data, h.h[i]->data, tensor_bytes(h.h[i]) ? tensor_bytes(h.h[i]) : sizeof(float));
    }
    if (op->versions && kernel_version_set(op->name, version)) {
        snprintf(why, sizeof why, "kernel_version_set: %s", ldm_last_error());
        goto done;
    }
    if (ps->run(h.h, c)) {
        snprintf(why, sizeof why, "cpu: %s", ldm_last_error());
        goto done;
    }
    if (ps->run(d1.t, c) || dev_synchronize(dev)) {
        /* every version the table lists must exist: an error here is a failure */
        snprintf(why, sizeof why, "%s: %s", device_name(dev), ldm_last_error());
        goto done;
    }
    ok = true;
    for (int i = 0; i < c->nargs && ok; i++) {
        if (!h.h[i]) continue;
        /* as fp32 values whatever the dtype (a bf16 argument widens exactly) */
        float *got = download(d1.t[i]), *want = download(h.h[i]), *orig = download(ref.h[i]);
        if (!got || !want || !orig) {
            snprintf(why, sizeof why, "download: %s", ldm_last_error());
            ok = false;
            free(got), free(want), free(orig);
            break;
        }
        const size_t n = h.h[i]->numel;
        if (ps->writes & (1u << i)) {
            for (size_t j = 0; j < n && ok; j++)
                if (!isfinite(want[j])) {
                    snprintf(why, sizeof why, "cpu %s[%zu] = %g (unwritten or overflow)", c->a[i].name, j, want[j]);
                    ok = false;
                }
            double e = op_err(got, want, n);
            double ratio = tol > 0 ? e / tol : (e > 0 ? INFINITY : 0);
            if (ratio > worst_ratio) {
                worst_ratio = ratio;
                worst = e;
                worst_name = c->a[i].name;
            }
            if (ok && ratio > 1) {
                snprintf(why, sizeof why, "%s: error %.3g over tolerance %.3g", c->a[i].name, e, tol);
                ok = false;
            }
        } else if (memcmp(got, orig, n * sizeof(float)) != 0) {
            snprintf(why, sizeof why, "%s changed, which %s does not write", c->a[i].name, ps->name);
            ok = false;
        }
        free(got), free(want), free(orig);
    }
    /* determinism: the same call on a fresh copy of the inputs gives the same bits */
    if (ok && (ps->run(d2.t, c) || dev_synchronize(dev))) {
        snprintf(why, sizeof why, "%s (second run): %s", device_name(dev), ldm_last_error());
        ok = false;
    }
    for (int i = 0; i < c->nargs && ok; i++) {
        if (!h.h[i] || !(ps->writes & (1u << i))) continue;
        float *a = download(d1.t[i]), *b = download(d2.t[i]);
        if (!a || !b || memcmp(a, b, h.h[i]->numel * sizeof(float)) != 0) {
            snprintf(why, sizeof why, "%s differs between two identical runs (nondeterministic)", c->a[i].name);
            ok = false;
        }
        free(a);
        free(b);
    }
    if (err_out) *err_out = worst;
done:
    if (op->versions) kernel_version_set(op->name, 0);
    report(r, ok, c, pass, version, worst, worst_name, why[0] ? "%s" : NULL, why);
    host_free(&h);
    host_free(&ref);
    op_set_free(&d1);
    op_set_free(&d2);
    return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------
// gradient check (CPU)

bool op_has_grad(const OpCase *c, int pass) {
    if (pass == 0 || c->op->grad_tol <= 0) return false;
    for (int i = 0; i < c->nargs; i++)
        if ((c->op->pass[pass].writes & (1u << i)) && c->a[i].role == ROLE_ACC && c->a[i].grad_of >= 0 &&
            !c->a[i].null)
            return true;
    return false;
}

/* sum over the seeded outputs of <y, dy>, from saved outputs y0 (per argument) */
static double seeded_dot(const OpCase *c, Tensor **t, float **y0) {
    double s = 0;
    for (int i = 0; i < c->nargs; i++) {
        const int o = c->a[i].seeds;
        if (o < 0 || !t[i] || !t[o]) continue;
        const float *y = t[o]->data;
        for (size_t j = 0; j < t[o]->numel; j++) s += ((double)y[j] - (double)y0[o][j]) * t[i]->data[j];
    }
    return s;
}

int op_gradcheck(OpRun *r, const OpCase *c, int pass) {
    const OpDef *op = c->op;
    HostSet h;
    char why[256] = "";
    bool ok = false;
    double worst = 0;
    const char *worst_name = "-";
    float *y0[OP_MAX_ARGS] = {0};
    if (host_alloc(&r->rng, c, pass, true, &h)) {
        snprintf(why, sizeof why, "setup: %s", ldm_last_error());
        goto done;
    }
    if (op->pass[pass].run(h.h, c)) {
        snprintf(why, sizeof why, "backward: %s", ldm_last_error());
        goto done;
    }
    /* the forward's outputs at the unperturbed point: differences are taken against them,
     * so outputs that do not move contribute no rounding */
    for (int i = 0; i < c->nargs; i++) {
        const int o = c->a[i].seeds;
        if (o < 0 || !h.h[o] || y0[o]) continue;
        y0[o] = malloc(tensor_bytes(h.h[o]));
        memcpy(y0[o], h.h[o]->data, tensor_bytes(h.h[o]));
    }
    ok = true;
    const double eps = op->grad_eps;
    for (int k = 0; k < c->nargs && ok; k++) {
        const OpArg *g = &c->a[k];
        if (!(op->pass[pass].writes & (1u << k)) || g->role != ROLE_ACC || g->grad_of < 0 || !h.h[k]) continue;
        Tensor *x = h.h[g->grad_of];
        const size_t n = x->numel, m = n < GRAD_SAMPLES ? n : GRAD_SAMPLES;
        float ana[GRAD_SAMPLES], num[GRAD_SAMPLES];
        for (size_t s = 0; s < m; s++) {
            const size_t j = m == n ? s : (size_t)(((double)s + 0.5) * (double)n / (double)m);
            const float saved = x->data[j];
            x->data[j] = saved + (float)eps;
            const double hp = x->data[j] - saved; /* the step actually taken, after rounding */
            if (op->pass[0].run(h.h, c)) ok = false;
            const double lp = seeded_dot(c, h.h, y0);
            x->data[j] = saved - (float)eps;
            const double hm = saved - x->data[j];
            if (op->pass[0].run(h.h, c)) ok = false;
            const double lm = seeded_dot(c, h.h, y0);
            x->data[j] = saved;
            if (!ok) {
                snprintf(why, sizeof why, "forward: %s", ldm_last_error());
                break;
            }
            num[s] = (float)((lp - lm) / (hp + hm));
            ana[s] = h.h[k]->data[j];
        }
        if (!ok) break;
        const double e = op_err(ana, num, m);
        if (e > worst || worst_name[0] == '-') {
            worst = e;
            worst_name = g->name;
        }
        if (e > op->grad_tol) {
            snprintf(why, sizeof why, "%s: analytic vs finite differences %.3g over tolerance %.3g", g->name, e,
                     op->grad_tol);
            ok = false;
        }
    }
done:
    report(r, ok, c, pass, 0, worst, worst_name, why[0] ? "%s" : NULL, why);
    for (int i = 0; i < OP_MAX_ARGS; i++) free(y0[i]);
    host_free(&h);
    return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------
// the whole table

int op_run_table(OpRun *r, const char *name, OpShapeSet set, Device dev, int versions, bool grad) {
    const int failed0 = r->failed;
    static OpCase cases[OP_MAX_CASES];
    for (int i = 0; i < op_table_len; i++) {
        const OpDef *op = &op_table[i];
        if (name && strcmp(name, op->name)) continue;
        const int nc = op->shapes(set, cases, OP_MAX_CASES);
        if (r->misalign_all)
            for (int k = 0; k < nc; k++) cases[k].misalign = true;
        for (int k = 0; k < nc; k++)
            for (int p = 0; p < op->npasses; p++) {
                if (grad) {
                    if (op_has_grad(&cases[k], p)) op_gradcheck(r, &cases[k], p);
                    continue;
                }
                const int v0 = versions >= 0 ? versions : 0, v1 = versions >= 0 ? versions : op->versions;
                for (int v = v0; v <= v1; v++) op_parity(r, &cases[k], p, v, dev, NULL);
            }
    }
    return r->failed - failed0;
}
