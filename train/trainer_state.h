/* train/trainer_state.h — everything besides the tensors that a run needs to continue
 * exactly where a checkpoint left it, stored as __metadata__ strings in the checkpoint.
 *
 *   step          optimizer steps done; the data loader resumes at stream batch `step`
 *                 (one batch per step), the learning rate at lr_at(step), AdamW at t = step + 1
 *   rng_offset    the next unused draw of the run's Philox stream (seed ^ TRAIN_STREAM):
 *                 every draw site (VAE posterior noise; U-Net latent sample, noise,
 *                 timesteps, label drops) takes the next range and advances it
 *   the rest      the hyperparameters the run was started with, so a resume continues
 *                 with the same schedule, batch and seed
 */
#ifndef LDM_TRAIN_TRAINER_STATE_H
#define LDM_TRAIN_TRAINER_STATE_H

#include <stdint.h>

#include "models/checkpoint.h"
#include "train/train_args.h"

#define TRAIN_STREAM 0x5452414e4c444d00ull /* "TRAINLDM": the training noise key is seed ^ this */
#define TS_META_MAX 20

typedef struct {
    long step, total;
    uint64_t seed, rng_offset;
    int batch;
    double lr, lr_min, clip, weight_decay, ema, cond_drop;
    long warmup;
    double disc_weight;        /* vae: the patch discriminator's weight (0: none) */
    long disc_start;           /* vae: its first step (0-based) */
    double val_loss, val_psnr; /* the last validation (NAN when none yet) */
    char vae_file[512];        /* unet: the VAE checkpoint it was trained with */
    char data[512];            /* the data set path */
} TrainState;

/* The state of a new run from its arguments; total from steps or epochs * per_epoch. */
void train_state_new(TrainState *s, const TrainArgs *a, long per_epoch);

/* Fills keys/vals (up to TS_META_MAX pairs; vals point into buf) for checkpoint_save. */
int train_state_meta(const TrainState *s, const char **keys, const char **vals, char *buf, size_t n);

/* Reads the state back from a checkpoint; -1 naming the missing or bad key. */
int train_state_from_ckpt(TrainState *s, const Checkpoint *ck);

/* On --resume: flags the user gave that contradict the checkpoint are an error (the
 * message names the flag and both values); --steps/--epochs may extend the run (the
 * cosine then stretches to the new total). per_epoch converts --epochs. */
int train_state_apply_args(TrainState *s, const TrainArgs *a, long per_epoch);

#endif
