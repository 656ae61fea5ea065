/* train/lr_schedule.h — learning rate: linear warm-up, then cosine decay.
 *   step s (0-based) of S total, warm-up W steps, peak lr, floor lr_min:
 *   s <  W:  lr * (s + 1) / W
 *   s >= W:  lr_min + 0.5 (lr - lr_min) (1 + cos(pi * (s - W) / max(1, S - W))) */
#ifndef LDM_TRAIN_LR_SCHEDULE_H
#define LDM_TRAIN_LR_SCHEDULE_H

typedef struct {
    double lr, lr_min;
    long warmup, total;
} LrSchedule;

double lr_at(const LrSchedule *s, long step);

#endif
