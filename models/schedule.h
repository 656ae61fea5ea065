/* models/schedule.h — noise schedules and the forward (noising) process.
 *
 *   q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),   abar_t = prod_{s<=t} (1 - beta_s)
 *   t = 0 .. T-1 (0-based); abar_{-1} = 1 stands for the clean data.
 *
 *   linear         beta_t = b0 + (b1 - b0) t / (T-1)                 (DDPM: 1e-4 -> 0.02)
 *   scaled_linear  beta_t = (sqrt b0 + (sqrt b1 - sqrt b0) t / (T-1))^2 (Stable Diffusion)
 *   cosine         abar(t) = f(t) / f(0), f(t) = cos^2(pi/2 (t/T + s) / (1 + s)), s = 0.008,
 *                  beta clipped to 0.999 (Nichol & Dhariwal)
 * Everything is computed and kept in double; samplers turn it into float coefficients.
 */
#ifndef LDM_MODELS_SCHEDULE_H
#define LDM_MODELS_SCHEDULE_H

#include "autograd/ops.h"
#include "models/config.h"

typedef struct {
    ScheduleKind kind;
    int T;
    double *beta;      /* (T) */
    double *alpha_bar; /* (T) */
} NoiseSchedule;

int schedule_init(NoiseSchedule *s, ScheduleKind kind, int T, double beta_start, double beta_end);
int schedule_from_config(NoiseSchedule *s, const ModelConfig *cfg);
void schedule_free(NoiseSchedule *s);

/* abar_t for t in [-1, T-1]; t = -1 gives 1 (the clean end of a sampler's last step).
 * Any other t is an error: NaN, with the message set (never a silent clamp). */
double schedule_alpha_bar(const NoiseSchedule *s, int t);

/* x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise with one timestep per sample:
 * x0 and noise (N, ...), t[N] host ints in [0, T). Differentiable in x0 and noise. */
Tensor *schedule_q_sample(Tape *tp, const NoiseSchedule *s, Tensor *x0, Tensor *noise, const int *t);

#endif
