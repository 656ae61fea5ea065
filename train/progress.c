/* train/progress.c — see progress.h. */
#include "train/progress.h"

#include <math.h>
#include <time.h>
#include <unistd.h>

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_init(Progress *p, FILE *out, long step0, long total) {
    p->out = out;
    p->t_start = now_seconds();
    p->step0 = step0;
    p->total = total;
    p->tty = out && isatty(fileno(out));
    p->pending = 0;
}

const char *format_duration(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0) {
        snprintf(buf, n, "--:--");
        return buf;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
    return buf;
}

void progress_report(Progress *p, long step, double loss, double lr, double images_per_s, char *buf, size_t n) {
    double el = now_seconds() - p->t_start;
    long done = step - p->step0;
    double eta = done > 0 ? el / (double)done * (double)(p->total - step) : NAN;
    char d[32];
    snprintf(buf, n, "step %ld/%ld  loss %.4g  lr %.2e  %.1f img/s  ETA %s", step, p->total, loss, lr, images_per_s,
             format_duration(eta, d, sizeof d));
    if (!p->out) return;
    p->pending = p->tty;
    if (p->tty) fprintf(p->out, "\r%s\033[K", buf);
    else fprintf(p->out, "%s\n", buf);
    fflush(p->out);
}

void progress_done(Progress *p) {
    if (p->out && p->tty && p->pending) fputc('\n', p->out);
    p->pending = 0;
}
