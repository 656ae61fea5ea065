/* train/train_run.h — the bookkeeping every training run shares: the configuration
 * (from the preset and --set, or from the checkpoint being resumed), the output folder
 * and its files, the CSV log, the progress line, checkpoints and the loss plot.
 *
 *   DIR/<kind>.safetensors   model + optimizer moments (+ EMA) + TrainState metadata;
 *                            rewritten atomically every --ckpt-every steps and at the end
 *   DIR/<kind>.csv           one row per step (run_files.h has the columns)
 *   DIR/<kind>_loss.png      the loss curve, redrawn at every checkpoint
 *   DIR/vae_recon.png        (VAE) images and their reconstructions, likewise
 */
#ifndef LDM_TRAIN_TRAIN_RUN_H
#define LDM_TRAIN_TRAIN_RUN_H

#include <stdbool.h>

#include "autograd/tape.h"
#include "models/checkpoint.h"
#include "train/optimizer.h"
#include "train/progress.h"
#include "train/run_files.h"
#include "train/train_args.h"
#include "train/trainer_state.h"

typedef struct {
    const TrainArgs *a;
    const char *kind; /* "vae" | "unet" */
    ModelConfig cfg;
    TrainState st;
    bool resumed;
    Checkpoint ck;    /* the checkpoint being resumed (open until run_end) */
    char ckpt_path[1100], csv_path[1100], png_path[1100];
    CsvLog log;
    Progress prog;
    double t_last;    /* time of the last step's end, for images/s */
    long val_every;   /* validation period in steps */
    double gen_acc, gen_fd; /* the step's sample evaluation (unet --eval-every), for run_log; NAN: none */
    const ParamSet *disc, *disc_m, *disc_v; /* vae: the discriminator and its moments, saved by run_save */
} TrainRun;

/* The configuration: the preset + --set, or the resumed checkpoint's config (which --set
 * may not change: the message names the field). Opens --resume (kind checked). */
int run_begin(TrainRun *r, const TrainArgs *a, const char *kind);

/* After the data set is known (per_epoch batches per epoch): the TrainState (new, or
 * from the checkpoint with the flags checked against it), the output folder checked
 * for writability and for space for two checkpoints of ckpt_bytes, and the CSV opened
 * (cut back to the resumed step). Returns 1 (after saying so) when a resumed run is
 * already complete: nothing to do. */
int run_prepare(TrainRun *r, long per_epoch, unsigned long long ckpt_bytes);

/* The tail every training step shares, after the model's loss:
 *   loss read back; a NaN or Inf stops the run (the last checkpoint stays as it was)
 *   grads = 0; backward (from root when given: a surrogate whose gradient is the loss's, as the
 *   VAE's adversarial step builds; else from loss); global-norm clip and AdamW at the scheduled
 *   lr (warm-up, cosine)
 *   ema = d ema + (1 - d) params with d = min(st.ema, (1 + step) / (10 + step)), when ema
 *   step += 1
 * *loss_out and *lr_out receive the step's loss and learning rate, for run_log. */
int run_optimize(TrainRun *r, Tape *tp, Tensor *loss, Tensor *root, ParamSet *params, Optimizer *opt, ParamSet *ema,
                 float *loss_out, double *lr_out);

/* Before a checkpoint: every parameter finite, or -1 saying the run diverged at this
 * step (the previous checkpoint stays as it was). */
int run_check_finite(const TrainRun *r, const ParamSet *params);

/* Atomically writes the checkpoint (and redraws the loss plot). */
int run_save(TrainRun *r, const ParamSet *params, const ParamSet *ema, const ParamSet *m, const ParamSet *v,
             double latent_scale);

/* One CSV row for the step just done (with gen_acc and gen_fd when set, then reset), and
 * the progress line every --log-every steps. */
int run_log(TrainRun *r, double loss, double lr, double val_loss, int images);

/* Whether the run validates after the step it has just completed: every val_every
 * steps (--val-every, else whole epochs, at most 20 times a run) and at the end. */
bool run_should_validate(const TrainRun *r);
/* Whether the run checkpoints after the step it has just completed (st.step). */
bool run_should_save(const TrainRun *r);
/* The last step this invocation runs: total, or --stop-after when earlier. */
long run_last_step(const TrainRun *r);

void run_end(TrainRun *r);

#endif
