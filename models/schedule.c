/* models/schedule.c — see schedule.h. */
#include "models/schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int schedule_init(NoiseSchedule *s, ScheduleKind kind, int T, double b0, double b1) {
    memset(s, 0, sizeof *s);
    if (T < 2 || T > 100000) return ldm_error("schedule", "T = %d is outside 2..100000", T);
    if (kind != SCHED_COSINE && !(b0 > 0 && b0 < b1 && b1 < 1))
        return ldm_error("schedule", "need 0 < beta_start (%g) < beta_end (%g) < 1", b0, b1);
    s->beta = malloc((size_t)T * sizeof(double));
    s->alpha_bar = malloc((size_t)T * sizeof(double));
    if (!s->beta || !s->alpha_bar) {
        schedule_free(s);
        return ldm_error("schedule", "out of host memory");
    }
    s->kind = kind;
    s->T = T;
    const double cs = 0.008, pi = 3.14159265358979323846;
    double ab = 1.0;
    for (int t = 0; t < T; t++) {
        double u = (double)t / (T - 1), b;
        switch (kind) {
        case SCHED_LINEAR: b = b0 + (b1 - b0) * u; break;
        case SCHED_SCALED_LINEAR: {
            double r = sqrt(b0) + (sqrt(b1) - sqrt(b0)) * u;
            b = r * r;
            break;
        }
        default: {
            double f0 = cos(((double)t / T + cs) / (1 + cs) * pi / 2), f1 = cos(((double)(t + 1) / T + cs) / (1 + cs) * pi / 2);
            b = fmin(1 - (f1 * f1) / (f0 * f0), 0.999);
            break;
        }
        }
        s->beta[t] = b;
        ab *= 1 - b;
        s->alpha_bar[t] = ab;
    }
    return 0;
}

int schedule_from_config(NoiseSchedule *s, const ModelConfig *cfg) {
    return schedule_init(s, cfg->schedule, cfg->timesteps, cfg->beta_start, cfg->beta_end);
}

void schedule_free(NoiseSchedule *s) {
    free(s->beta);
    free(s->alpha_bar);
    s->beta = s->alpha_bar = NULL;
    s->T = 0;
}

double schedule_alpha_bar(const NoiseSchedule *s, int t) {
    if (t == -1) return 1.0;
    if (t < -1 || t >= s->T) {
        ldm_error("schedule", "timestep %d is outside -1..%d", t, s->T - 1);
        return NAN;
    }
    return s->alpha_bar[t];
}

Tensor *schedule_q_sample(Tape *tp, const NoiseSchedule *s, Tensor *x0, Tensor *noise, const int *t) {
    if (!x0 || !noise) return NULL;
    if (!s || !t) {
        ldm_error("q_sample", "NULL schedule or timesteps for x0 %s", tshape(x0));
        return NULL;
    }
    if (!tensor_same_shape(x0, noise)) {
        ldm_error("q_sample", "x0 %s and noise %s differ in shape", tshape(x0), tshape(noise));
        return NULL;
    }
    const int N = x0->shape[0], C = x0->shape[x0->ndim - 1];
    if (x0->ndim < 2) {
        ldm_error("q_sample", "x0 %s needs a batch and a channel dim", tshape(x0));
        return NULL;
    }
    /* per-sample factors as scale_shift's (N, C) scales: x * (1 + (a - 1)) */
    Tensor *sa = tensor_new2(tp->arena, x0->device, N, C), *sb = tensor_new2(tp->arena, x0->device, N, C);
    float *host = arena_alloc_host(tp->arena, 2 * (size_t)N * (size_t)C * sizeof(float)); /* no malloc */
    if (!sa || !sb || !host) return NULL;
    for (int n = 0; n < N; n++) {
        if (t[n] < 0 || t[n] >= s->T) {
            ldm_error("q_sample", "timestep %d of sample %d is outside 0..%d", t[n], n, s->T - 1);
            return NULL;
        }
        double ab = s->alpha_bar[t[n]];
        for (int c = 0; c < C; c++) {
            host[(size_t)n * C + c] = (float)(sqrt(ab) - 1.0);
            host[(size_t)(N + n) * C + c] = (float)(sqrt(1.0 - ab) - 1.0);
        }
    }
    if (tensor_from_host(sa, host) || tensor_from_host(sb, host + (size_t)N * C)) return NULL;
    return ag_add(tp, ag_scale_shift(tp, x0, sa, NULL), ag_scale_shift(tp, noise, sb, NULL));
}
