/* bench/model_bench.c — see model_bench.h. */
#include "bench/model_bench.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "bench/kernel_bench.h"
#include "core/cli.h"
#include "core/error.h"
#include "core/safetensors.h"
#include "kernels/adamw.h"
#include "kernels/random.h"
#include "models/sampler.h"
#include "models/unet.h"
#include "models/vae.h"

#define MAX_STEPS 1000

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Seconds since *t0 after the device has finished; resets *t0. */
static double lap(Device dev, double *t0) {
    dev_synchronize(dev);
    double now = omp_get_wtime(), d = now - *t0;
    *t0 = now;
    return d;
}

/* Class labels 0, 1, ... (mod num_classes) as floats on dev; NULL for unconditional. */
static Tensor *labels_for(const ModelConfig *cfg, Arena *a, Device dev, int n, int *host) {
    for (int i = 0; i < n; i++) host[i] = cfg->num_classes ? i % cfg->num_classes : 0;
    if (!cfg->num_classes) return NULL;
    Tensor *t = tensor_new1(a, dev, n);
    float *h = malloc((size_t)n * sizeof(float));
    if (!t || !h) {
        free(h);
        return NULL;
    }
    for (int i = 0; i < n; i++) h[i] = (float)host[i];
    int rc = tensor_from_host(t, h);
    free(h);
    return rc ? NULL : t;
}

static size_t arena_size(const ModelBenchOpts *o) {
    if (o->arena_bytes) return o->arena_bytes;
    return o->device == DEV_CUDA ? (size_t)24 << 30 : (size_t)2 << 30;
}

static void json_open(FILE *f, const char *tool, const ModelBenchOpts *o, int batch) {
    fprintf(f, "{\n  \"tool\": \"%s\",\n  \"device\": \"%s\",\n  \"preset\": \"%s\",\n  \"batch\": %d,\n", tool,
            device_name(o->device), o->preset, batch);
    fprintf(f, "  \"commit\": \"%s\",\n  \"date\": \"%s\",\n  \"threads\": %d,\n", bench_commit(), bench_date(),
            omp_get_max_threads());
    /* the preset's config as key=value lines (bench/torch_twin.py builds its twin from it) */
    ModelConfig cfg;
    char text[4096];
    if (cfg_preset(&cfg, o->preset) == 0 && cfg_to_string(&cfg, text, sizeof text) >= 0) {
        fputs("  \"config\": \"", f);
        for (const char *p = text; *p; p++) {
            if (*p == '\n') fputs("\\n", f);
            else if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
            else if ((unsigned char)*p >= 0x20) fputc(*p, f);
        }
        fputs("\",\n", f);
    }
}

// ----------------------------------------------------------------------------
// train

typedef struct {
    double fwd, bwd, opt;
    size_t arena_peak, param_bytes;
    long long params;
} StepTimes;

typedef Tensor *(*LossFn)(void *ctx, Tape *tp, int step);

typedef struct {
    const ModelConfig *cfg;
    Device dev;
    int batch;
    const VAE *vae;
    const UNet *unet;
    NoiseSchedule sched;
    int *labels;
} LossCtx;

static Tensor *vae_step_loss(void *p, Tape *tp, int step) {
    LossCtx *c = p;
    const ModelConfig *g = c->cfg;
    int s = g->image_size, l = cfg_latent_size(g);
    Tensor *x = tensor_new4(tp->arena, c->dev, c->batch, s, s, g->channels);
    Tensor *noise = tensor_new4(tp->arena, c->dev, c->batch, l, l, g->latent_ch);
    if (!x || !noise || rng_normal(x, 11, (uint64_t)step * x->numel) ||
        rng_normal(noise, 12, (uint64_t)step * noise->numel))
        return NULL;
    return vae_loss(c->vae, tp, x, noise, NULL);
}

static Tensor *unet_step_loss(void *p, Tape *tp, int step) {
    LossCtx *c = p;
    const ModelConfig *g = c->cfg;
    int l = cfg_latent_size(g);
    Tensor *z0 = tensor_new4(tp->arena, c->dev, c->batch, l, l, g->latent_ch);
    Tensor *noise = tensor_new4(tp->arena, c->dev, c->batch, l, l, g->latent_ch);
    if (!z0 || !noise || rng_normal(z0, 13, (uint64_t)step * z0->numel) ||
        rng_normal(noise, 14, (uint64_t)step * noise->numel))
        return NULL;
    int t[c->batch];
    for (int i = 0; i < c->batch; i++) t[i] = (int)((i * 997 + step * 131) % g->timesteps);
    Tensor *labels = labels_for(g, tp->arena, c->dev, c->batch, c->labels);
    if (g->num_classes && !labels) return NULL;
    return unet_loss(c->unet, tp, &c->sched, z0, noise, t, labels);
}

/* steps + 1 training steps (the first is a warm-up); medians into *st. */
static int time_training(ParamSet *ps, LossFn loss_fn, void *ctx, Device dev, DType act, int steps, size_t arena_bytes,
                         StepTimes *st) {
    ParamSet m, v;
    if (ps_clone(&m, ps, dev, false, false)) return -1;
    if (ps_clone(&v, ps, dev, false, false)) {
        ps_free(&m);
        return -1;
    }
    Arena *a = arena_create(dev, arena_bytes, (size_t)64 << 20);
    double *t = malloc(3 * (size_t)steps * sizeof(double));
    int rc = a && t ? 0 : -1;
    Tape tp;
    if (a) tape_init(&tp, a);
    tape_set_precision(&tp, act);
    const AdamWConfig cfg = {1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f};
    for (int s = 0; s <= steps && !rc; s++) {
        arena_reset(a);
        tape_reset(&tp);
        double t0 = omp_get_wtime();
        dev_synchronize(dev);
        t0 = omp_get_wtime();
        Tensor *loss = loss_fn(ctx, &tp, s);
        double f = lap(dev, &t0);
        if (!loss || tape_backward(&tp, loss, NULL)) {
            rc = -1;
            break;
        }
        double b = lap(dev, &t0);
        for (int i = 0; i < ps->n && !rc; i++) rc = adamw_step(ps->p[i].t, m.p[i].t, v.p[i].t, &cfg, s + 1, 1.0f);
        if (!rc) rc = ps_zero_grad(ps);
        double o = lap(dev, &t0);
        if (s > 0) t[s - 1] = f, t[steps + s - 1] = b, t[2 * steps + s - 1] = o;
    }
    if (!rc) {
        st->fwd = median(t, steps);
        st->bwd = median(t + steps, steps);
        st->opt = median(t + 2 * steps, steps);
        st->arena_peak = a->data_peak;
        st->params = (long long)ps_count(ps);
        st->param_bytes = (size_t)st->params * 4 * sizeof(float);
    }
    free(t);
    arena_destroy(a);
    ps_free(&m);
    ps_free(&v);
    return rc;
}

static void print_train(FILE *out, const char *model, int batch, const StepTimes *s) {
    double tot = s->fwd + s->bwd + s->opt;
    fprintf(out, "%-5s %10lld %9.2f %9.2f %9.2f %9.2f %9.2f %11.1f %11.1f\n", model, s->params, s->fwd * 1e3,
            s->bwd * 1e3, s->opt * 1e3, tot * 1e3, batch / tot, s->arena_peak / 1048576.0, s->param_bytes / 1048576.0);
}

static void json_train(FILE *f, const char *model, const StepTimes *s, int last) {
    fprintf(f,
            "    \"%s\": {\"params\": %lld, \"fwd_ns\": %lld, \"bwd_ns\": %lld, \"opt_ns\": %lld, "
            "\"arena_peak_bytes\": %lld, \"param_bytes\": %lld}%s\n",
            model, s->params, (long long)llround(s->fwd * 1e9), (long long)llround(s->bwd * 1e9),
            (long long)llround(s->opt * 1e9), (long long)s->arena_peak, (long long)s->param_bytes, last ? "" : ",");
}

int train_bench_run(const ModelBenchOpts *o, FILE *out) {
    ModelConfig cfg;
    if (cfg_preset(&cfg, o->preset)) return -1;
    if (o->device == DEV_CUDA && !dev_cuda_available()) return ldm_error("bench", "--device cuda: no CUDA device");
    if (o->steps < 1 || o->steps > MAX_STEPS) return ldm_error("bench", "--steps %d is outside 1..%d", o->steps, MAX_STEPS);
    int batch = o->batch > 0 ? o->batch : bench_default_batch(o->preset, o->device, false);
    LossCtx c = {.cfg = &cfg, .dev = o->device, .batch = batch};
    int labels[batch];
    c.labels = labels;
    ParamSet pv, pu;
    VAE vae;
    UNet unet;
    ps_init(&pv, o->device, 1, true, true);
    ps_init(&pu, o->device, 2, true, true);
    StepTimes sv = {0}, su = {0};
    int rc = vae_init(&vae, &pv, &cfg) || unet_init(&unet, &pu, &cfg) || schedule_from_config(&c.sched, &cfg);
    c.vae = &vae, c.unet = &unet;
    fprintf(out, "ldm-bench train: preset %s, batch %d, %s, precision %s, %d timed steps (+1 warm-up), commit %s\n",
            o->preset, batch, device_name(o->device), cli_precision_name(o->precision), o->steps, bench_commit());
    if (!rc) rc = time_training(&pv, vae_step_loss, &c, o->device, o->precision, o->steps, arena_size(o), &sv);
    if (!rc) rc = time_training(&pu, unet_step_loss, &c, o->device, o->precision, o->steps, arena_size(o), &su);
    if (!rc) {
        fprintf(out, "%-5s %10s %9s %9s %9s %9s %9s %11s %11s\n", "model", "params", "fwd ms", "bwd ms", "opt ms",
                "step ms", "img/s", "arena MiB", "param MiB");
        print_train(out, "vae", batch, &sv);
        print_train(out, "unet", batch, &su);
        fprintf(out, "(arena: peak activations + their gradients + tape; param: weights, gradients, AdamW m and v)\n");
    }
    if (!rc && o->json) {
        FILE *f = fopen(o->json, "w");
        if (!f) rc = ldm_error("bench", "%s: cannot write", o->json);
        else {
            json_open(f, "ldm-bench train", o, batch);
            fprintf(f, "  \"models\": {\n");
            json_train(f, "vae", &sv, 0);
            json_train(f, "unet", &su, 1);
            fprintf(f, "  }\n}\n");
            if (fclose(f)) rc = ldm_error("bench", "%s: write failed", o->json);
        }
    }
    if (c.sched.beta) schedule_free(&c.sched);
    ps_free(&pv);
    ps_free(&pu);
    return rc ? -1 : 0;
}

// ----------------------------------------------------------------------------
// sample

#define SAMPLE_RUNS 3 /* timed sampling runs (a single run of 10 steps moved by 35% on a quiet machine) */

int sample_bench_run(const ModelBenchOpts *o, FILE *out) {
    ModelConfig cfg;
    if (cfg_preset(&cfg, o->preset)) return -1;
    if (o->device == DEV_CUDA && !dev_cuda_available()) return ldm_error("bench", "--device cuda: no CUDA device");
    if (o->steps < 2 || o->steps > cfg.timesteps)
        return ldm_error("bench", "--steps %d is outside 2..%d", o->steps, cfg.timesteps);
    int batch = o->batch > 0 ? o->batch : bench_default_batch(o->preset, o->device, false);
    int l = cfg_latent_size(&cfg), labels[batch];
    for (int i = 0; i < batch; i++) labels[i] = cfg.num_classes ? i % cfg.num_classes : 0;
    ParamSet pv, pu;
    VAE vae;
    UNet unet;
    NoiseSchedule sched = {0};
    ps_init(&pv, o->device, 1, true, false);
    ps_init(&pu, o->device, 2, true, false);
    Arena *a = arena_create(o->device, arena_size(o), (size_t)64 << 20);
    Tensor *x = tensor_new4(NULL, o->device, batch, l, l, cfg.latent_ch);
    int rc = !a || !x || vae_init(&vae, &pv, &cfg) || unet_init(&unet, &pu, &cfg) ||
             schedule_from_config(&sched, &cfg) || ps_randomize(&pu, 3, 0.02f);
    Tape tp;
    if (a) tape_init(&tp, a);
    tape_set_precision(&tp, o->precision);
    SamplerOpts so = {.kind = SAMPLER_DDIM, .steps = o->steps, .eta = 0.0f, .guidance = cfg.num_classes ? 3.0f : 1.0f,
                      .seed = 7, .null_label = cfg.num_classes};
    double t_sample = 0, t_decode = 0, t0, ts[SAMPLE_RUNS], td[SAMPLE_RUNS];
    size_t peak = 0;
    /* a warm-up call of 2 steps, then SAMPLE_RUNS timed runs from the same noise: medians */
    for (int pass = 0; pass <= SAMPLE_RUNS && !rc; pass++) {
        so.steps = pass ? o->steps : 2;
        rc = sample_init_noise(x, 5);
        dev_synchronize(o->device);
        t0 = omp_get_wtime();
        if (!rc) rc = sample(&sched, unet_eps, &unet, &tp, x, cfg.num_classes ? labels : NULL, &so);
        t_sample = lap(o->device, &t0);
        if (!rc) {
            arena_reset(a);
            tape_reset(&tp);
            tape_set_grad_enabled(&tp, false);
            rc = vae_decode(&vae, &tp, x) ? 0 : -1;
            t_decode = lap(o->device, &t0);
            tape_set_grad_enabled(&tp, true);
        }
        if (pass) ts[pass - 1] = t_sample, td[pass - 1] = t_decode;
    }
    if (!rc) t_sample = median(ts, SAMPLE_RUNS), t_decode = median(td, SAMPLE_RUNS);
    if (!rc) {
        peak = a->data_peak;
        double step = t_sample / o->steps, img = (t_sample + t_decode) / batch;
        fprintf(out, "ldm-bench sample: preset %s, batch %d, %s, precision %s, DDIM %d steps, guidance %.0f, commit %s\n",
                o->preset, batch, device_name(o->device), cli_precision_name(o->precision), o->steps, so.guidance,
                bench_commit());
        fprintf(out, "%12s %12s %12s %12s %12s\n", "step ms", "decode ms", "image ms", "img/s", "arena MiB");
        fprintf(out, "%12.2f %12.2f %12.2f %12.3f %12.1f\n", step * 1e3, t_decode * 1e3, img * 1e3, 1.0 / img,
                peak / 1048576.0);
        fprintf(out, "(step: one U-Net pass over %d latents%s; image: (steps x step + decode) / batch)\n",
                so.guidance != 1.0f ? 2 * batch : batch, so.guidance != 1.0f ? " (guidance doubles the batch)" : "");
        if (o->json) {
            FILE *f = fopen(o->json, "w");
            if (!f) rc = ldm_error("bench", "%s: cannot write", o->json);
            else {
                json_open(f, "ldm-bench sample", o, batch);
                fprintf(f,
                        "  \"steps\": %d,\n  \"guidance_x10\": %d,\n  \"step_ns\": %lld,\n  \"decode_ns\": %lld,\n"
                        "  \"arena_peak_bytes\": %lld\n}\n",
                        o->steps, (int)lround(so.guidance * 10), (long long)llround(step * 1e9),
                        (long long)llround(t_decode * 1e9), (long long)peak);
                if (fclose(f)) rc = ldm_error("bench", "%s: write failed", o->json);
            }
        }
    }
    if (sched.beta) schedule_free(&sched);
    tensor_free(x);
    arena_destroy(a);
    ps_free(&pv);
    ps_free(&pu);
    return rc ? -1 : 0;
}

// ----------------------------------------------------------------------------
// numerics

static int add_params(StWriter *w, const ParamSet *ps) {
    for (int i = 0; i < ps->n; i++)
        if (st_writer_add(w, ps->p[i].name, ps->p[i].t)) return -1;
    return 0;
}

int numerics_write(const char *preset, const char *path, FILE *out) {
    ModelConfig cfg;
    if (cfg_preset(&cfg, preset)) return -1;
    const int n = 2, s = cfg.image_size, l = cfg_latent_size(&cfg);
    ParamSet pv, pu;
    VAE vae;
    UNet unet;
    ps_init(&pv, DEV_CPU, 1, true, false);
    ps_init(&pu, DEV_CPU, 2, true, false);
    Arena *a = arena_create(DEV_CPU, (size_t)2 << 30, (size_t)64 << 20);
    StWriter *w = st_writer_new();
    int rc = !a || !w || vae_init(&vae, &pv, &cfg) || unet_init(&unet, &pu, &cfg) || ps_randomize(&pv, 21, 0.05f) ||
             ps_randomize(&pu, 22, 0.05f);
    Tape tp;
    if (a) tape_init(&tp, a);
    if (a) tape_set_grad_enabled(&tp, false);
    Tensor *x = a ? tensor_new4(a, DEV_CPU, n, s, s, cfg.channels) : NULL;
    Tensor *z = a ? tensor_new4(a, DEV_CPU, n, l, l, cfg.latent_ch) : NULL;
    Tensor *ts = a ? tensor_new1(a, DEV_CPU, n) : NULL;
    Tensor *lab = a ? tensor_new1(a, DEV_CPU, n) : NULL;
    Tensor *mean = NULL, *logvar = NULL, *xh = NULL, *eps = NULL;
    if (!rc) rc = !x || !z || !ts || !lab || rng_normal(x, 31, 0) || rng_normal(z, 32, 0);
    if (!rc) {
        for (int i = 0; i < n; i++) {
            ts->data[i] = (float)(37 + 500 * i);
            lab->data[i] = (float)(cfg.num_classes ? (i + 1) % (cfg.num_classes + 1) : 0);
        }
        rc = vae_encode(&vae, &tp, x, &mean, &logvar);
    }
    if (!rc) rc = !(xh = vae_decode(&vae, &tp, mean));
    if (!rc) rc = !(eps = unet_forward(&unet, &tp, z, ts, cfg.num_classes ? lab : NULL));
    char cfgtext[4096];
    if (!rc) rc = cfg_to_string(&cfg, cfgtext, sizeof cfgtext) < 0;
    if (!rc)
        rc = add_params(w, &pv) || add_params(w, &pu) || st_writer_add(w, "io.vae.x", x) ||
             st_writer_add(w, "io.vae.mean", mean) || st_writer_add(w, "io.vae.logvar", logvar) ||
             st_writer_add(w, "io.vae.x_hat", xh) || st_writer_add(w, "io.unet.x", z) ||
             st_writer_add(w, "io.unet.t", ts) || st_writer_add(w, "io.unet.labels", lab) ||
             st_writer_add(w, "io.unet.eps", eps) || st_writer_meta(w, "config", cfgtext) ||
             st_writer_meta(w, "preset", preset) || st_writer_save(w, path);
    if (!rc)
        fprintf(out, "ldm-bench numerics: %s: preset %s, %lld VAE + %lld U-Net parameters (randomised), batch %d\n",
                path, preset, (long long)ps_count(&pv), (long long)ps_count(&pu), n);
    st_writer_free(w);
    arena_destroy(a);
    ps_free(&pv);
    ps_free(&pu);
    return rc ? -1 : 0;
}
