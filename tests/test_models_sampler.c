/* tests/test_models_sampler.c — samplers against oracles whose answer is known:
 *   - DDIM with an eps model that returns the true noise recovers x0 (within 1e-4);
 *   - DDPM, DDIM (eta > 0) and DPM++(2M) with the posterior-mean oracle
 *     eps(x_t) = (x_t - a_t x0) / b_t recover x0;
 *   - on Gaussian data (exact eps and exact ODE solution in closed form) DPM++(2M) beats
 *     DDIM and converges at second order;
 *   - each sampler's one-step update at every (t, t') of a 10-step run against the update
 *     written from the papers (DDPM's posterior, DDIM's x0/eps/sigma form, DPM++(2M) in
 *     lambda), with the noise z redrawn from the documented Philox range;
 *   - on Gaussian data, DDPM's and DDIM(eta > 0)'s samples have the mean and variance of
 *     the target up to the sampler's own discretisation bias (closed form), within 5
 *     standard errors of a sample of 2^14..2^18 elements;
 *   - classifier-free guidance: scale 1 is the conditional prediction; the halves are
 *     in the right order; a real tiny U-Net gives the same guided eps as two passes;
 *   - timesteps, callbacks, determinism and bad arguments. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/random.h"
#include "models/sampler.h"
#include "models/unet.h"
#include "tests/util/testutil.h"

static Arena *arena;
static Tape tape;
static NoiseSchedule sched;
static void setup(void) {
    arena = arena_create(DEV_CPU, (size_t)64 << 20, (size_t)4 << 20);
    tape_init(&tape, arena);
    cr_assert_eq(schedule_init(&sched, SCHED_LINEAR, 1000, 1e-4, 0.02), 0);
}
static void teardown(void) {
    schedule_free(&sched);
    arena_destroy(arena);
}
TestSuite(models_sampler, .init = setup, .fini = teardown);

static double max_abs_diff(const Tensor *a, const Tensor *b) {
    double m = 0;
    for (size_t i = 0; i < a->numel; i++) m = fmax(m, fabs((double)a->data[i] - b->data[i]));
    return m;
}

static Tensor *copy_to_arena(Tape *tp, const Tensor *src) {
    Tensor *y = tensor_like(tp->arena, src);
    if (y && tensor_copy(y, src)) return NULL;
    return y;
}

// ----------------------------------------------------------------------------
// oracles

typedef struct {
    Tensor *x0, *eps;
} Oracle;

/* The true noise, whatever x and t. */
static Tensor *true_noise(void *ctx, Tape *tp, Tensor *x, Tensor *ts, Tensor *labels) {
    (void)x, (void)ts, (void)labels;
    return copy_to_arena(tp, ((Oracle *)ctx)->eps);
}

/* The noise that makes x0's prediction exact: (x_t - a_t x0) / b_t. */
static Tensor *posterior_noise(void *ctx, Tape *tp, Tensor *x, Tensor *ts, Tensor *labels) {
    (void)labels;
    const Oracle *o = ctx;
    double ab = schedule_alpha_bar(&sched, (int)ts->data[0]);
    Tensor *y = tensor_like(tp->arena, x);
    for (size_t i = 0; i < x->numel; i++)
        y->data[i] = (float)(((double)x->data[i] - sqrt(ab) * o->x0->data[i]) / sqrt(1 - ab));
    return y;
}

/* x0 ~ N(mu, s^2) per element: E[eps | x_t] = b (x_t - a mu) / (a^2 s^2 + b^2). */
#define GAUSS_MU 0.7
#define GAUSS_S 0.5
static Tensor *gaussian_noise(void *ctx, Tape *tp, Tensor *x, Tensor *ts, Tensor *labels) {
    (void)ctx, (void)labels;
    double ab = schedule_alpha_bar(&sched, (int)ts->data[0]), a = sqrt(ab), b = sqrt(1 - ab);
    Tensor *y = tensor_like(tp->arena, x);
    for (size_t i = 0; i < x->numel; i++)
        y->data[i] = (float)(b * (x->data[i] - a * GAUSS_MU) / (ab * GAUSS_S * GAUSS_S + b * b));
    return y;
}

/* eps = the label, broadcast: shows which half of a guided batch got which labels. */
static Tensor *label_noise(void *ctx, Tape *tp, Tensor *x, Tensor *ts, Tensor *labels) {
    (void)ctx, (void)ts;
    Tensor *y = tensor_like(tp->arena, x);
    size_t per = x->numel / (size_t)x->shape[0];
    for (size_t i = 0; i < x->numel; i++) y->data[i] = labels->data[i / per];
    return y;
}

/* x_T = a x0 + b eps at the sampler's first timestep. */
static Tensor *noised(const Oracle *o) {
    double ab = schedule_alpha_bar(&sched, sched.T - 1);
    Tensor *x = tensor_like(NULL, o->x0);
    for (size_t i = 0; i < x->numel; i++)
        x->data[i] = (float)(sqrt(ab) * o->x0->data[i] + sqrt(1 - ab) * o->eps->data[i]);
    return x;
}

static Oracle make_oracle(void) {
    Oracle o = {tu_data(4, (int[]){2, 4, 4, 4}, 1, -1, 1), tensor_new4(NULL, DEV_CPU, 2, 4, 4, 4)};
    cr_assert_eq(rng_normal(o.eps, 2, 0), 0);
    return o;
}

// ----------------------------------------------------------------------------
// tests

Test(models_sampler, timesteps_span_the_schedule_and_descend) {
    int ts[1000];
    cr_assert_eq(sampler_timesteps(&sched, 50, ts), 0);
    cr_expect_eq(ts[0], 999);
    cr_expect_eq(ts[1], 979);
    cr_expect_eq(ts[49], 0);
    cr_assert_eq(sampler_timesteps(&sched, 1, ts), 0);
    cr_expect_eq(ts[0], 999);
    cr_assert_eq(sampler_timesteps(&sched, 1000, ts), 0);
    for (int i = 0; i < 1000; i++) cr_expect_eq(ts[i], 999 - i);
    cr_assert_eq(sampler_timesteps(&sched, 7, ts), 0);
    for (int i = 1; i < 7; i++) cr_expect_lt(ts[i], ts[i - 1]);
    cr_expect_eq(sampler_timesteps(&sched, 0, ts), -1);
    cr_expect_eq(sampler_timesteps(&sched, 1001, ts), -1);
    cr_expect(strstr(ldm_last_error(), "1001"), "%s", ldm_last_error());
}

Test(models_sampler, ddim_with_the_true_noise_recovers_x0) {
    Oracle o = make_oracle();
    /* Each step rounds x_t to float; an error d in x_t moves x0 by d / sqrt(abar_t), and
     * sqrt(abar_999) = 0.0064 on this schedule: 1000 steps accumulate ~1e-4. */
    const int steps[] = {1, 10, 50, 200, 1000};
    const double tol[] = {1e-4, 1e-4, 1e-4, 1e-4, 4e-4};
    for (int k = 0; k < 5; k++) {
        Tensor *x = noised(&o);
        SamplerOpts opt = {.kind = SAMPLER_DDIM, .steps = steps[k], .eta = 0, .guidance = 1};
        cr_assert_eq(sample(&sched, true_noise, &o, &tape, x, NULL, &opt), 0, "%s", ldm_last_error());
        double e = max_abs_diff(x, o.x0);
        printf("DDIM, true noise, %4d steps: max |x - x0| = %.2e\n", steps[k], e);
        cr_expect_leq(e, tol[k], "%d steps: max |x - x0| = %g", steps[k], e);
        tensor_free(x);
    }
    tensor_free(o.x0);
    tensor_free(o.eps);
}

Test(models_sampler, every_sampler_with_the_posterior_oracle_recovers_x0) {
    Oracle o = make_oracle();
    const SamplerOpts opts[] = {{.kind = SAMPLER_DDPM, .steps = 50, .guidance = 1, .seed = 9},
                                {.kind = SAMPLER_DDPM, .steps = 1000, .guidance = 1, .seed = 9},
                                {.kind = SAMPLER_DDIM, .steps = 30, .eta = 0.5f, .guidance = 1, .seed = 9},
                                {.kind = SAMPLER_DPMPP_2M, .steps = 20, .guidance = 1},
                                {.kind = SAMPLER_DPMPP_2M, .steps = 1, .guidance = 1}};
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        Tensor *x = noised(&o);
        cr_assert_eq(sample(&sched, posterior_noise, &o, &tape, x, NULL, &opts[k]), 0, "%s", ldm_last_error());
        double e = max_abs_diff(x, o.x0);
        cr_expect_leq(e, 1e-4, "%s, %d steps: max |x - x0| = %g", sampler_name(opts[k].kind), opts[k].steps, e);
        tensor_free(x);
    }
    tensor_free(o.x0);
    tensor_free(o.eps);
}

static Tensor *solve(SamplerKind kind, int steps, const Tensor *xT) {
    Tensor *x = tensor_like(NULL, xT);
    tensor_copy(x, xT);
    SamplerOpts opt = {.kind = kind, .steps = steps, .guidance = 1};
    cr_assert_eq(sample(&sched, gaussian_noise, NULL, &tape, x, NULL, &opt), 0, "%s", ldm_last_error());
    return x;
}

/* For Gaussian data the probability-flow ODE keeps each element's standardised value
 * u = (x_t - a_t mu) / sqrt(a_t^2 s^2 + b_t^2), so the exact x0 for x_T is mu + s u. */
static double gaussian_error(const Tensor *x, const Tensor *xT) {
    double ab = schedule_alpha_bar(&sched, sched.T - 1), e = 0;
    for (size_t i = 0; i < x->numel; i++) {
        double u = (xT->data[i] - sqrt(ab) * GAUSS_MU) / sqrt(ab * GAUSS_S * GAUSS_S + 1 - ab);
        e = fmax(e, fabs(x->data[i] - (GAUSS_MU + GAUSS_S * u)));
    }
    return e;
}

Test(models_sampler, dpmpp_2m_converges_at_second_order_on_gaussian_data) {
    Tensor *xT = tensor_new4(NULL, DEV_CPU, 4, 4, 4, 4);
    cr_assert_eq(sample_init_noise(xT, 3), 0);
    const int steps[] = {10, 20, 40};
    double e_ddim[3], e_dpm[3];
    for (int k = 0; k < 3; k++) {
        Tensor *dd = solve(SAMPLER_DDIM, steps[k], xT), *dp = solve(SAMPLER_DPMPP_2M, steps[k], xT);
        e_ddim[k] = gaussian_error(dd, xT);
        e_dpm[k] = gaussian_error(dp, xT);
        printf("Gaussian data, %2d steps: max error DDIM %.2e, DPM++(2M) %.2e\n", steps[k], e_ddim[k], e_dpm[k]);
        tensor_free(dd);
        tensor_free(dp);
    }
    for (int k = 1; k < 3; k++) cr_expect_lt(e_dpm[k], 0.5 * e_ddim[k], "%d steps", steps[k]);
    /* halving the step size: DDIM (first order) gains ~2x, DPM++(2M) ~4x */
    cr_expect_gt(e_dpm[1] / e_dpm[2], 3.0, "DPM++(2M) %g -> %g", e_dpm[1], e_dpm[2]);
    cr_expect_lt(e_ddim[1] / e_ddim[2], 2.5, "DDIM %g -> %g", e_ddim[1], e_ddim[2]);
    Tensor *ref = solve(SAMPLER_DDIM, 1000, xT);
    cr_expect_lt(gaussian_error(ref, xT), 0.5 * e_ddim[2], "1000 DDIM steps converge too");
    tensor_free(ref);
    tensor_free(xT);
}

// ----------------------------------------------------------------------------
// one step at a time, against the papers' formulas

typedef struct {
    int n;
    int ts[16];
    Tensor *x[16]; /* x_t seen at each step (heap copies) */
} StepLog;

static int record_cb(void *ctx, int step, int steps, int t, const Tensor *xt, const Tensor *x0) {
    (void)steps, (void)x0;
    StepLog *l = ctx;
    cr_assert_lt(l->n, 16);
    cr_assert_eq(step, l->n);
    l->ts[l->n] = t;
    l->x[l->n] = tensor_like(NULL, xt);
    cr_assert_eq(tensor_copy(l->x[l->n], xt), 0);
    l->n++;
    return 0;
}

/* The exact eps of Gaussian data, in double (the oracle's float output differs by one
 * rounding). */
static double gauss_eps(double x, int t) {
    double ab = schedule_alpha_bar(&sched, t), b = sqrt(1 - ab);
    return b * (x - sqrt(ab) * GAUSS_MU) / (ab * GAUSS_S * GAUSS_S + b * b);
}

/* x_{t'} from x_t (double), written from the papers rather than from sampler.c's
 * rearranged form. z: the step's N(0, 1) draw; x0_prev: DPM++'s previous x0 (or NAN). */
static double closed_form_step(const SamplerOpts *o, int i, int t, int tn, double x, double z, double x0_prev,
                               double h_prev, double *x0_out, double *h_out) {
    const double ab = schedule_alpha_bar(&sched, t), abn = schedule_alpha_bar(&sched, tn);
    const double a = sqrt(ab), b = sqrt(1 - ab), an = sqrt(abn), bn = sqrt(1 - abn);
    const double eps = gauss_eps(x, t), x0 = (x - b * eps) / a;
    *x0_out = x0;
    if (o->kind == SAMPLER_DDPM) { /* Ho et al. (7): q(x_t' | x_t, x0), beta = 1 - abar/abar' */
        double beta = 1 - ab / abn;
        double mean = an * beta / (1 - ab) * x0 + sqrt(ab / abn) * (1 - abn) / (1 - ab) * x;
        double var = beta * (1 - abn) / (1 - ab);
        return mean + sqrt(var) * z;
    }
    if (o->kind == SAMPLER_DDIM) { /* Song et al. (12), (16) */
        double sigma = tn < 0 ? 0 : o->eta * sqrt((1 - abn) / (1 - ab)) * sqrt(1 - ab / abn);
        return an * x0 + sqrt(1 - abn - sigma * sigma) * eps + sigma * z;
    }
    /* DPM-Solver++(2M), Lu et al. Algorithm 2, first order on the first and the last two steps */
    if (tn < 0) return x0;
    double lam = log(a / b), lamn = log(an / bn), h = lamn - lam;
    *h_out = h;
    double D = x0;
    if (i > 0 && tn > 0) {
        double r = h_prev / h;
        D = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * x0_prev;
    }
    return bn / b * x - an * (exp(-h) - 1) * D;
}

Test(models_sampler, each_step_matches_the_closed_form) {
    const SamplerOpts kinds[] = {{.kind = SAMPLER_DDPM, .steps = 10, .guidance = 1, .seed = 4},
                                 {.kind = SAMPLER_DDIM, .steps = 10, .eta = 0, .guidance = 1, .seed = 4},
                                 {.kind = SAMPLER_DDIM, .steps = 10, .eta = 0.6f, .guidance = 1, .seed = 4},
                                 {.kind = SAMPLER_DDIM, .steps = 7, .eta = 1, .guidance = 1, .seed = 5},
                                 {.kind = SAMPLER_DPMPP_2M, .steps = 10, .guidance = 1},
                                 {.kind = SAMPLER_DPMPP_2M, .steps = 3, .guidance = 1}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        SamplerOpts o = kinds[k];
        StepLog log = {0};
        o.callback = record_cb;
        o.callback_ctx = &log;
        Tensor *x = tensor_new4(NULL, DEV_CPU, 2, 4, 4, 8);
        cr_assert_eq(sample_init_noise(x, 11), 0);
        cr_assert_eq(sample(&sched, gaussian_noise, NULL, &tape, x, NULL, &o), 0, "%s", ldm_last_error());
        cr_assert_eq(log.n, o.steps);
        Tensor *z = tensor_like(NULL, x);
        double *x0_prev = calloc(x->numel, sizeof(double)), h_prev = 0, worst_run = 0;
        for (int i = 0; i < o.steps; i++) {
            const int t = log.ts[i], tn = i + 1 < o.steps ? log.ts[i + 1] : -1;
            const Tensor *xi = log.x[i], *xn = i + 1 < o.steps ? log.x[i + 1] : x;
            cr_assert_eq(rng_normal(z, o.seed, (uint64_t)(i + 1) * x->numel), 0);
            /* |x_t'| is O(1); float rounding of the few ops of a step, amplified by b/a
             * (up to 150 at t = 999) through x0, stays below 1e-5. */
            double worst = 0, h = 0;
            for (size_t j = 0; j < x->numel; j++) {
                double x0;
                double want = closed_form_step(&o, i, t, tn, xi->data[j], z->data[j], x0_prev[j], h_prev, &x0, &h);
                x0_prev[j] = x0;
                worst = fmax(worst, fabs(xn->data[j] - want) / (1 + fabs(want)));
            }
            h_prev = h;
            worst_run = fmax(worst_run, worst);
            cr_expect_leq(worst, 1e-5, "%s eta %g, step %d (t %d -> %d): max error %g", sampler_name(o.kind),
                          (double)o.eta, i, t, tn, worst);
        }
        printf("%s eta %.1f, %2d steps: max step error vs the closed form %.1e\n", sampler_name(o.kind),
               (double)o.eta, o.steps, worst_run);
        for (int i = 0; i < log.n; i++) tensor_free(log.x[i]);
        free(x0_prev);
        tensor_free(z);
        tensor_free(x);
    }
}

// ----------------------------------------------------------------------------
// the distribution of the samples on Gaussian data

/* Each step is linear in x_t plus independent Gaussian noise: x' = A x + c + sigma z
 * (eps(x) = k (x - a mu) folded in). So the sample's exact mean and variance follow in
 * closed form from x_T's: the target N(mu, s^2) up to the sampler's own discretisation
 * bias, which this returns through *m, *v. x_T is drawn from the exact marginal
 * N(a mu, a^2 s^2 + b^2) so that no start-up error enters. */
static void sampler_moments(const SamplerOpts *o, double *m, double *v) {
    int ts[1000];
    sampler_timesteps(&sched, o->steps, ts);
    double ab = schedule_alpha_bar(&sched, ts[0]);
    *m = sqrt(ab) * GAUSS_MU;
    *v = ab * GAUSS_S * GAUSS_S + 1 - ab;
    for (int i = 0; i < o->steps; i++) {
        const int t = ts[i], tn = i + 1 < o->steps ? ts[i + 1] : -1;
        const double at = schedule_alpha_bar(&sched, t), abn = schedule_alpha_bar(&sched, tn);
        const double a = sqrt(at), b = sqrt(1 - at), an = sqrt(abn);
        const double k = b / (at * GAUSS_S * GAUSS_S + b * b);
        double A, c, sig2;
        if (o->kind == SAMPLER_DDPM) {
            double beta = 1 - at / abn, cx0 = an * beta / (1 - at), cx = sqrt(at / abn) * (1 - abn) / (1 - at);
            /* x0 = (x - b k (x - a mu)) / a */
            A = cx + cx0 * (1 - b * k) / a;
            c = cx0 * b * k * GAUSS_MU;
            sig2 = beta * (1 - abn) / (1 - at);
        } else {
            double sigma = tn < 0 ? 0 : o->eta * sqrt((1 - abn) / (1 - at)) * sqrt(1 - at / abn);
            double ce = sqrt(1 - abn - sigma * sigma);
            A = an * (1 - b * k) / a + ce * k;
            c = an * b * k * GAUSS_MU - ce * k * a * GAUSS_MU;
            sig2 = sigma * sigma;
        }
        *m = A * *m + c;
        *v = A * A * *v + sig2;
    }
}

Test(models_sampler, ddpm_and_ddim_eta_sample_the_gaussian_target, .timeout = 60) {
    const SamplerOpts opts[] = {{.kind = SAMPLER_DDPM, .steps = 1000, .guidance = 1, .seed = 21},
                                {.kind = SAMPLER_DDPM, .steps = 100, .guidance = 1, .seed = 22},
                                {.kind = SAMPLER_DDIM, .steps = 20, .eta = 0.7f, .guidance = 1, .seed = 23},
                                {.kind = SAMPLER_DDIM, .steps = 50, .eta = 1, .guidance = 1, .seed = 24}};
    Arena *big = arena_create(DEV_CPU, (size_t)16 << 20, (size_t)4 << 20);
    Tape tp;
    tape_init(&tp, big);
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        const SamplerOpts *o = &opts[k];
        /* 2^16 elements (2^14 for the 1000-step run, 2^18 for the 20-step one): a variance's
         * standard error of 0.55% (1.1%, 0.28%). The per-step Philox draws dominate the cost.
         * At 20 steps and eta 0.7, eta^2 in place of eta moves the variance by 11 of them. */
        const int n_el = o->steps == 1000 ? 1 << 14 : o->steps == 20 ? 1 << 18 : 1 << 16;
        Tensor *x = tensor_new4(NULL, DEV_CPU, n_el / (16 * 16 * 16), 16, 16, 16);
        cr_assert_eq(sample_init_noise(x, 100 + k), 0);
        double ab = schedule_alpha_bar(&sched, sched.T - 1);
        for (size_t i = 0; i < x->numel; i++)
            x->data[i] = (float)(sqrt(ab) * GAUSS_MU + sqrt(ab * GAUSS_S * GAUSS_S + 1 - ab) * x->data[i]);
        cr_assert_eq(sample(&sched, gaussian_noise, NULL, &tp, x, NULL, o), 0, "%s", ldm_last_error());
        double sum = 0, sq = 0;
        for (size_t i = 0; i < x->numel; i++) sum += x->data[i];
        double mean = sum / n_el;
        for (size_t i = 0; i < x->numel; i++) sq += (x->data[i] - mean) * (x->data[i] - mean);
        double var = sq / (n_el - 1), m_exp, v_exp;
        sampler_moments(o, &m_exp, &v_exp);
        /* standard errors of a sample mean and variance of n Gaussian draws */
        double se_m = sqrt(v_exp / n_el), se_v = v_exp * sqrt(2.0 / (n_el - 1));
        printf("%s eta %.1f, %4d steps: mean %.5f (expected %.5f, target %.2f, se %.1e), variance %.5f "
               "(expected %.5f, target %.4f, se %.1e)\n",
               sampler_name(o->kind), (double)o->eta, o->steps, mean, m_exp, GAUSS_MU, se_m, var, v_exp,
               GAUSS_S * GAUSS_S, se_v);
        cr_expect_leq(fabs(mean - m_exp), 5 * se_m, "%s %d steps: mean %g, expected %g", sampler_name(o->kind),
                      o->steps, mean, m_exp);
        cr_expect_leq(fabs(var - v_exp), 5 * se_v, "%s %d steps: variance %g, expected %g", sampler_name(o->kind),
                      o->steps, var, v_exp);
        /* the expectation itself is the target up to discretisation: exact mean, and a
         * variance bias that shrinks with the step count (1.6% at 1000 DDPM steps) */
        cr_expect_leq(fabs(m_exp - GAUSS_MU), 1e-9);
        if (o->steps == 1000) cr_expect_leq(fabs(v_exp / (GAUSS_S * GAUSS_S) - 1), 0.02, "%g", v_exp);
        tensor_free(x);
    }
    arena_destroy(big);
}

Test(models_sampler, guidance_halves_and_scale) {
    Tensor *x = tensor_zeros(NULL, DEV_CPU, 4, (int[]){2, 2, 2, 3});
    const int labels[2] = {1, 2}, null_label = 5;
    Tensor *e1 = guided_eps(label_noise, NULL, &tape, x, 10, labels, null_label, 1.0f);
    cr_assert(e1, "%s", ldm_last_error());
    cr_expect(tensor_same_shape(e1, x));
    for (size_t i = 0; i < e1->numel; i++) cr_expect_eq(e1->data[i], (float)labels[i / 12], "scale 1 = conditional");
    Tensor *e3 = guided_eps(label_noise, NULL, &tape, x, 10, labels, null_label, 3.0f);
    for (size_t i = 0; i < e3->numel; i++) {
        float want = null_label + 3.0f * (labels[i / 12] - null_label);
        cr_expect_eq(e3->data[i], want, "element %zu: %g, want %g", i, e3->data[i], want);
    }
    cr_expect_null(guided_eps(label_noise, NULL, &tape, x, 10, NULL, null_label, 2.0f));
    cr_expect(strstr(ldm_last_error(), "labels"), "%s", ldm_last_error());
    tensor_free(x);
}

Test(models_sampler, guidance_on_a_unet_matches_two_passes) {
    ModelConfig cfg;
    cfg_preset(&cfg, "fashion");
    cr_assert_eq(cfg_set_arg(&cfg, "unet_ch=16") || cfg_set_arg(&cfg, "unet_groups=4") ||
                     cfg_set_arg(&cfg, "head_dim=16") || cfg_set_arg(&cfg, "unet_res=1"),
                 0);
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 1, true, false);
    UNet m;
    cr_assert_eq(unet_init(&m, &ps, &cfg), 0, "%s", ldm_last_error());
    cr_assert_eq(ps_randomize(&ps, 2, 0.2f), 0);
    tape_set_grad_enabled(&tape, false);
    Tensor *x = tu_data(4, (int[]){2, 8, 8, 4}, 3, -1, 1);
    const int labels[2] = {3, 7};
    Tensor *ts = tu_data(1, (int[]){2}, 4, 0, 1), *lc = tu_data(1, (int[]){2}, 5, 0, 1),
           *lu = tu_data(1, (int[]){2}, 6, 0, 1);
    for (int i = 0; i < 2; i++) ts->data[i] = 420, lc->data[i] = (float)labels[i], lu->data[i] = 10;
    Tensor *ec = unet_forward(&m, &tape, x, ts, lc), *eu = unet_forward(&m, &tape, x, ts, lu);
    Tensor *g1 = guided_eps(unet_eps, &m, &tape, x, 420, labels, 10, 1.0f);
    Tensor *g4 = guided_eps(unet_eps, &m, &tape, x, 420, labels, 10, 4.0f);
    cr_assert(ec && eu && g1 && g4, "%s", ldm_last_error());
    double d1 = 0, d4 = 0, du = 0;
    for (size_t i = 0; i < x->numel; i++) {
        d1 = fmax(d1, fabs(g1->data[i] - ec->data[i]));
        d4 = fmax(d4, fabs(g4->data[i] - (eu->data[i] + 4.0 * (ec->data[i] - eu->data[i]))));
        du = fmax(du, fabs(ec->data[i] - eu->data[i]));
    }
    cr_expect_leq(d1, 1e-5, "scale 1 vs the conditional pass: %g", d1);
    cr_expect_leq(d4, 4e-5, "scale 4 vs two passes: %g", d4);
    cr_expect_gt(du, 1e-4, "the class must matter for this test to mean anything");
    tensor_free(x);
    tensor_free(ts);
    tensor_free(lc);
    tensor_free(lu);
    ps_free(&ps);
}

typedef struct {
    int calls, last_step, stop_at;
    int ts[64];
} CbLog;

static int log_cb(void *ctx, int step, int steps, int t, const Tensor *xt, const Tensor *x0) {
    CbLog *l = ctx;
    cr_expect_eq(step, l->calls);
    cr_expect(steps > 0 && xt && x0 && tensor_same_shape(xt, x0));
    l->ts[l->calls++] = t;
    l->last_step = step;
    return step == l->stop_at ? 7 : 0;
}

Test(models_sampler, callback_sees_every_step_and_can_stop) {
    Oracle o = make_oracle();
    Tensor *x = noised(&o);
    CbLog log = {.stop_at = -1};
    SamplerOpts opt = {.kind = SAMPLER_DPMPP_2M, .steps = 8, .guidance = 1, .callback = log_cb, .callback_ctx = &log};
    cr_assert_eq(sample(&sched, true_noise, &o, &tape, x, NULL, &opt), 0);
    cr_expect_eq(log.calls, 8);
    int want[8];
    sampler_timesteps(&sched, 8, want);
    for (int i = 0; i < 8; i++) cr_expect_eq(log.ts[i], want[i]);
    log = (CbLog){.stop_at = 2};
    cr_expect_eq(sample(&sched, true_noise, &o, &tape, x, NULL, &opt), 7, "the callback's value stops sampling");
    cr_expect_eq(log.calls, 3);
    tensor_free(x);
    tensor_free(o.x0);
    tensor_free(o.eps);
}

Test(models_sampler, same_seed_same_sample) {
    Oracle o = make_oracle();
    Tensor *runs[3];
    const uint64_t seeds[3] = {5, 5, 6};
    for (int k = 0; k < 3; k++) {
        runs[k] = tensor_like(NULL, o.x0);
        cr_assert_eq(sample_init_noise(runs[k], seeds[k]), 0);
        SamplerOpts opt = {.kind = SAMPLER_DDPM, .steps = 20, .guidance = 1, .seed = seeds[k]};
        cr_assert_eq(sample(&sched, gaussian_noise, NULL, &tape, runs[k], NULL, &opt), 0);
    }
    cr_expect_eq(memcmp(runs[0]->data, runs[1]->data, tensor_bytes(runs[0])), 0, "bitwise equal");
    cr_expect_neq(memcmp(runs[0]->data, runs[2]->data, tensor_bytes(runs[0])), 0);
    for (int k = 0; k < 3; k++) tensor_free(runs[k]);
    tensor_free(o.x0);
    tensor_free(o.eps);
}

Test(models_sampler, bad_arguments) {
    SamplerKind k;
    cr_expect_eq(sampler_parse("dpmpp2m", &k), 0);
    cr_expect_eq(k, SAMPLER_DPMPP_2M);
    cr_expect_eq(sampler_parse("euler", &k), -1);
    cr_expect(strstr(ldm_last_error(), "euler") && strstr(ldm_last_error(), "ddim"), "%s", ldm_last_error());
    Oracle o = make_oracle();
    Tensor *in_arena = tensor_like(arena, o.x0);
    SamplerOpts opt = {.kind = SAMPLER_DDIM, .steps = 10, .guidance = 1};
    cr_expect_eq(sample(&sched, true_noise, &o, &tape, in_arena, NULL, &opt), -1);
    cr_expect(strstr(ldm_last_error(), "heap"), "%s", ldm_last_error());
    Tensor *x = noised(&o);
    opt.eta = 1.5f;
    cr_expect_eq(sample(&sched, true_noise, &o, &tape, x, NULL, &opt), -1);
    cr_expect(strstr(ldm_last_error(), "eta"), "%s", ldm_last_error());
    opt.eta = 0;
    opt.steps = 0;
    cr_expect_eq(sample(&sched, true_noise, &o, &tape, x, NULL, &opt), -1);
    tensor_free(x);
    tensor_free(o.x0);
    tensor_free(o.eps);
}
