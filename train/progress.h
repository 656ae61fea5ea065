/* train/progress.h — the one-line progress report of long work:
 *   "step 120/2000  loss 0.0831  lr 2.0e-04  34.5 img/s  ETA 03:12"
 * redrawn in place on a terminal, one line per report otherwise (logs). */
#ifndef LDM_TRAIN_PROGRESS_H
#define LDM_TRAIN_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE *out;
    double t_start;     /* seconds (monotonic) */
    long step0, total;  /* first step of this run (after a resume), total steps */
    int tty;
    int pending;        /* a redrawn line is on screen without its newline */
} Progress;

double now_seconds(void);
void progress_init(Progress *p, FILE *out, long step0, long total);
/* Formats the line into buf (for tests) and prints it. */
void progress_report(Progress *p, long step, double loss, double lr, double images_per_s, char *buf, size_t n);
/* Ends a redrawn line with its newline (once; no-op otherwise). Call before printing
 * anything else. */
void progress_done(Progress *p);
/* "1:02:03" or "02:03" for a duration in seconds (negative or non-finite: "--:--"). */
const char *format_duration(double s, char *buf, size_t n);

#endif
