/* models/sampler.h — from noise back to a latent: DDPM, DDIM and DPM-Solver++(2M), with
 * classifier-free guidance.
 *
 * The sampler walks S timesteps t_0 = T-1 > t_1 > ... > t_{S-1} = 0 spaced evenly
 * (t_i = round((T-1)(S-1-i)/(S-1)); S = 1 is just T-1), then to t = -1 (clean, abar = 1):
 * it starts from pure noise and its last jump, from t = 0, is tiny. With a = sqrt(abar_t),
 * b = sqrt(1 - abar_t) and the primed values at the next timestep, every step first predicts
 *   eps = eps_u + s (eps_c - eps_u)   (guidance; eps_c alone when there are no labels)
 *   x0  = (x_t - b eps) / a
 * and then moves:
 *   DDIM (eta)  sigma = eta sqrt((1 - abar') / (1 - abar)) sqrt(1 - abar / abar')
 *               x' = a' x0 + sqrt(1 - abar' - sigma^2) eps + sigma z,  z ~ N(0, I)
 *               (applied as x' = x_t + [(a'/a - 1) x_t + (sqrt(1-abar'-sigma^2) - a' b / a) eps]
 *               + sigma z: no cancellation through x0, and one rounding of x_t per step)
 *   DDPM        ancestral sampling from the posterior q(x' | x_t, x0): mean
 *               (a' beta / (1-abar)) x0 + (sqrt(abar/abar') (1-abar') / (1-abar)) x_t with
 *               beta = 1 - abar/abar', variance beta (1-abar')/(1-abar): algebraically DDIM
 *               with eta = 1, and computed as such.
 *   DPM++(2M)   in lambda = log(a/b), h = lambda' - lambda, data prediction x0:
 *               D = (1 + 1/2r) x0 - (1/2r) x0_prev, r = h_prev / h, but D = x0 (first order)
 *               on the first step and on the step into t = 0, whose h is several times the
 *               previous one (lambda grows fastest near t = 0), which makes the extrapolation
 *               unstable ("lower order final");
 *               x' = (b'/b) x_t - a' (e^-h - 1) D;  the last step (to abar = 1) returns x0.
 * Classifier-free guidance runs the conditional and the unconditional (null class) halves
 * as one batch of 2N through the eps model.
 *
 * Memory: everything a step computes lives in the tape's arena, which the sampler resets
 * at the start of every step and runs under no-grad; the state that crosses steps (x_t,
 * the previous x0 for DPM++) is in heap tensors.
 * Randomness: the caller fills x_T (sample_init_noise uses Philox offset 0); step i draws
 * its noise z from (seed, offset (i + 1) * numel).
 */
#ifndef LDM_MODELS_SAMPLER_H
#define LDM_MODELS_SAMPLER_H

#include <stdint.h>

#include "autograd/tape.h"
#include "models/schedule.h"

typedef enum { SAMPLER_DDPM = 0, SAMPLER_DDIM = 1, SAMPLER_DPMPP_2M = 2 } SamplerKind;

int sampler_parse(const char *name, SamplerKind *out); /* "ddpm" | "ddim" | "dpmpp2m" */
const char *sampler_name(SamplerKind k);

/* The noise prediction for x (B, ...) at timesteps (B) (floats) with labels (B) (floats,
 * or NULL): an arena tensor of x's shape, or NULL + error. */
typedef Tensor *(*EpsFn)(void *ctx, Tape *tp, Tensor *x, Tensor *timesteps, Tensor *labels);

/* Called once per step after x0 is predicted: step in [0, steps), t the current timestep,
 * x_t the current state and x0 the prediction (arena tensor, valid until the callback
 * returns; the callback may allocate from the arena but must not reset it). A non-zero
 * return stops sampling with that value. */
typedef int (*SampleCallback)(void *ctx, int step, int steps, int t, const Tensor *x_t, const Tensor *x0);

typedef struct {
    SamplerKind kind;
    int steps;             /* 1 .. T */
    float eta;             /* DDIM: 0 deterministic, 1 = DDPM's variance */
    float guidance;        /* s; 1 = conditional only (one pass) */
    uint64_t seed;         /* Philox stream for the per-step noise */
    int null_label;        /* the unconditional class id (num_classes) */
    SampleCallback callback;
    void *callback_ctx;
} SamplerOpts;

/* The S timesteps, descending, into ts[steps]. */
int sampler_timesteps(const NoiseSchedule *s, int steps, int *ts);

/* x_T ~ N(0, I) from (seed, offset 0). */
int sample_init_noise(Tensor *x, uint64_t seed);

/* eps_u + s (eps_c - eps_u) for x (N, ...) at timestep t, computed as one batch of 2N
 * (labels, then N null labels). labels[N] host ints. An arena tensor of x's shape. */
Tensor *guided_eps(EpsFn fn, void *ctx, Tape *tp, Tensor *x, int t, const int *labels, int null_label, float s);

/* Runs the sampler in place: x (heap tensor, N, ...) holds x_T on entry and the sample on
 * return. labels[N] host ints, or NULL for an unconditional model. tp's arena is reset at
 * every step (so the caller keeps nothing in it across this call). 0 or -1 + error. */
int sample(const NoiseSchedule *s, EpsFn fn, void *ctx, Tape *tp, Tensor *x, const int *labels,
           const SamplerOpts *o);

#endif
