/* train/trainers.h — the two training runs behind `ldm-train vae` and `ldm-train unet`.
 * Each returns 0, or -1 with the error (naming the flag, file or step) for the caller to
 * print. */
#ifndef LDM_TRAIN_TRAINERS_H
#define LDM_TRAIN_TRAINERS_H

#include "train/train_args.h"

int train_vae(const TrainArgs *a);
int train_unet(const TrainArgs *a);

#endif
