/* tests/util/testutil.c — see testutil.h. */
#include <criterion/criterion.h>

#include "tests/util/testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grp.h>
#include <libgen.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"

char *tu_read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *s = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1))) {
        if (fread(s, 1, (size_t)n, f) == (size_t)n) {
            s[n] = '\0';
        } else {
            free(s);
            s = NULL;
        }
    }
    fclose(f);
    return s;
}

int tu_run_unprivileged(int (*fn)(void *ctx), void *ctx) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) || setgid(65534) || setuid(65534))) _exit(255);
        _exit(fn(ctx) & 0xff);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) == 255) return -1;
    return WEXITSTATUS(st);
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + 1;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(&s) >> 11) * (1.0 / 9007199254740992.0);
        x[i] = (float)(lo + (hi - lo) * u);
    }
}

Tensor *tu_param(int ndim, const int *shape, uint64_t seed, float lo, float hi) {
    Tensor *t = tensor_param(DEV_CPU, ndim, shape, "test");
    if (t) tu_fill_uniform(t->data, t->numel, seed, lo, hi);
    return t;
}

Tensor *tu_data(int ndim, const int *shape, uint64_t seed, float lo, float hi) {
    Tensor *t = tensor_new(NULL, DEV_CPU, ndim, shape);
    if (t) tu_fill_uniform(t->data, t->numel, seed, lo, hi);
    return t;
}

double tu_max_rel_err(const float *got, const double *want, size_t n, double atol, size_t *worst) {
    double m = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (atol + fabs(want[i]));
        if (isnan(got[i]) || isnan(e)) e = INFINITY;
        if (e > m) {
            m = e;
            wi = i;
        }
    }
    if (worst) *worst = wi;
    return m;
}

static double weighted_sum(const Tensor *out, const float *r) {
    double s = 0;
    for (size_t i = 0; i < out->numel; i++) s += (double)out->data[i] * r[i];
    return s;
}

int tu_gradcheck(TuBuildFn build, void *ctx, Tensor **in, int n_in, const TuGradOpts *o) {
    TuGradOpts d = {1e-2, 3e-3, 3e-3, 0};
    if (o) {
        if (o->eps > 0) d.eps = o->eps;
        if (o->rtol > 0) d.rtol = o->rtol;
        if (o->atol > 0) d.atol = o->atol;
        d.max_per_input = o->max_per_input;
    }
    Arena *a = arena_create(DEV_CPU, (size_t)256 << 20, (size_t)16 << 20);
    if (!a) {
        fprintf(stderr, "gradcheck: %s\n", ldm_last_error());
        return -1;
    }
    Tape t;
    tape_init(&t, a);
    for (int i = 0; i < n_in; i++) tensor_zero_grad(in[i]);
    Tensor *out = build(&t, in, ctx);
    if (!out) {
        fprintf(stderr, "gradcheck: forward failed: %s\n", ldm_last_error());
        arena_destroy(a);
        return -1;
    }
    size_t nout = out->numel;
    float *r = malloc(nout * sizeof(float));
    tu_fill_uniform(r, nout, 777, -1.0f, 1.0f);
    Tensor *seed = tensor_new(a, DEV_CPU, out->ndim, out->shape);
    memcpy(seed->data, r, nout * sizeof(float));
    if (tape_backward(&t, out, seed)) {
        fprintf(stderr, "gradcheck: backward failed: %s\n", ldm_last_error());
        free(r);
        arena_destroy(a);
        return -1;
    }
    /* Copy analytic grads out before the arena is reused. */
    float **ana = calloc((size_t)n_in, sizeof(float *));
    for (int i = 0; i < n_in; i++) {
        if (!in[i]->requires_grad || !in[i]->grad) continue;
        ana[i] = malloc(in[i]->numel * sizeof(float));
        memcpy(ana[i], in[i]->grad, in[i]->numel * sizeof(float));
    }
    int bad = 0, shown = 0;
    tape_set_grad_enabled(&t, false);
    for (int i = 0; i < n_in; i++) {
        if (!in[i]->requires_grad) continue;
        size_t n = in[i]->numel;
        size_t checks = (d.max_per_input > 0 && (size_t)d.max_per_input < n) ? (size_t)d.max_per_input : n;
        double *num = malloc(checks * sizeof(double)), scale = 0;
        for (size_t c = 0; c < checks; c++) {
            size_t j = checks == n ? c : (size_t)(((double)c + 0.5) * (double)n / (double)checks);
            float *p = &in[i]->data[j];
            float saved = *p;
            double lp, lm;
            ArenaMark m = arena_mark(a);
            *p = saved + (float)d.eps;
            Tensor *op = build(&t, in, ctx);
            lp = op ? weighted_sum(op, r) : NAN;
            arena_rewind(a, m);
            *p = saved - (float)d.eps;
            Tensor *om = build(&t, in, ctx);
            lm = om ? weighted_sum(om, r) : NAN;
            arena_rewind(a, m);
            *p = saved;
            num[c] = (lp - lm) / (2 * d.eps);
            scale = fmax(scale, fabs(num[c]));
        }
        for (size_t c = 0; c < checks; c++) {
            size_t j = checks == n ? c : (size_t)(((double)c + 0.5) * (double)n / (double)checks);
            double an = ana[i] ? ana[i][j] : 0.0;
            if (!(fabs(an - num[c]) <= d.atol * scale + d.rtol * fabs(num[c]))) {
                bad++;
                if (shown++ < 5)
                    fprintf(stderr, "gradcheck: input %d element %zu: analytic %.6g numeric %.6g (input scale %.3g)\n",
                            i, j, an, num[c], scale);
            }
        }
        free(num);
    }
    for (int i = 0; i < n_in; i++) free(ana[i]);
    free(ana);
    free(r);
    arena_destroy(a);
    return bad;
}

void tu_build_dir(char *dir, size_t n) {
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(k, 0, "readlink /proc/self/exe");
    self[k] = '\0';
    snprintf(dir, n, "%s/..", dirname(self)); /* <build>/tests/.. */
}

int tu_run_cli(const char *bindir, char *out, size_t n, const char *prog, const char *fmt, ...) {
    char bin[4200], args[8192], cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(bin, sizeof bin, "%s/%s", bindir, prog);
    if (access(bin, X_OK) != 0) TU_SKIP("%s not built; run make first", bin);
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive %s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "popen %s", bin);
    size_t k = fread(out, 1, n - 1, p);
    out[k] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
