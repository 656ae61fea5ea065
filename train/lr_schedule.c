/* train/lr_schedule.c — see lr_schedule.h. */
#include "train/lr_schedule.h"

#include <math.h>

double lr_at(const LrSchedule *s, long step) {
    if (step < 0) step = 0;
    if (s->warmup > 0 && step < s->warmup) return s->lr * (double)(step + 1) / (double)s->warmup;
    long span = s->total - s->warmup;
    if (span < 1) span = 1;
    double p = (double)(step - s->warmup) / (double)span;
    if (p > 1) p = 1;
    return s->lr_min + 0.5 * (s->lr - s->lr_min) * (1.0 + cos(M_PI * p));
}
