/* train/train_run.c — see train_run.h. */
#include "train/train_run.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "kernels/reduce.h"
#include "train/loss_plot.h"
#include "train/lr_schedule.h"
#include "train/train_data.h"

int run_begin(TrainRun *r, const TrainArgs *a, const char *kind) {
    memset(r, 0, sizeof *r);
    r->gen_acc = r->gen_fd = NAN;
    r->a = a;
    r->kind = kind;
    if (!a->resume) return train_config(a, NULL, &r->cfg);
    if (checkpoint_open(&r->ck, a->resume, kind, NULL)) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        return ldm_error("resume", "--resume %s: %s", a->resume, msg);
    }
    r->resumed = true;
    if (train_config(a, &r->ck.cfg, &r->cfg)) return -1;
    char diff[640];
    if (cfg_diff(&r->ck.cfg, &r->cfg, CFG_SCOPE_ALL, diff, sizeof diff))
        return ldm_error("resume", "--set changes the resumed model (checkpoint vs now: %s); a resumed run keeps its "
                         "configuration", diff);
    return 0;
}

int run_prepare(TrainRun *r, long per_epoch, unsigned long long ckpt_bytes) {
    const TrainArgs *a = r->a;
    if (r->resumed) {
        if (train_state_from_ckpt(&r->st, &r->ck) || train_state_apply_args(&r->st, a, per_epoch)) return -1;
        if (r->st.data[0] && strcmp(r->st.data, a->data))
            fprintf(stderr, "ldm-train: warning: --data %s, but the run being resumed was trained on %s; the data "
                    "order continues only if it is the same data set\n", a->data, r->st.data);
        if (r->st.step >= r->st.total) {
            if (!a->quiet)
                printf("%s: --resume %s is already at step %ld of %ld: nothing to do (raise --steps to train on)\n",
                       r->kind, a->resume, r->st.step, r->st.total);
            return 1;
        }
    } else {
        train_state_new(&r->st, a, per_epoch);
    }
    if (r->st.total < 1) return ldm_error("train", "the run has no steps (--epochs %ld x %ld batches)", a->epochs, per_epoch);
    if (outdir_prepare(a->out, 2 * ckpt_bytes + (1u << 20))) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ldm_last_error());
        return ldm_error("train", "--out %s: %s", a->out, msg);
    }
    snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/%s.safetensors", a->out, r->kind);
    snprintf(r->csv_path, sizeof r->csv_path, "%s/%s.csv", a->out, r->kind);
    snprintf(r->png_path, sizeof r->png_path, "%s/%s_loss.png", a->out, r->kind);
    if (csv_open(&r->log, r->csv_path, r->resumed ? r->st.step : -1)) return -1;
    if (a->val_every > 0) r->val_every = a->val_every;
    else {
        long epochs = (r->st.total + per_epoch - 1) / per_epoch, k = (epochs + 19) / 20;
        r->val_every = per_epoch * (k > 1 ? k : 1);
    }
    progress_init(&r->prog, a->quiet ? NULL : stdout, r->st.step, run_last_step(r));
    r->t_last = now_seconds();
    return 0;
}

long run_last_step(const TrainRun *r) {
    return r->a->stop_after > 0 && r->a->stop_after < r->st.total ? r->a->stop_after : r->st.total;
}

bool run_should_validate(const TrainRun *r) {
    return r->st.step % r->val_every == 0 || r->st.step == r->st.total;
}

bool run_should_save(const TrainRun *r) {
    long s = r->st.step;
    return s == run_last_step(r) || (r->a->ckpt_every > 0 && s % r->a->ckpt_every == 0);
}

int run_optimize(TrainRun *r, Tape *tp, Tensor *loss, Tensor *root, ParamSet *params, Optimizer *opt, ParamSet *ema,
                 float *loss_out, double *lr_out) {
    float l;
    if (!loss || tensor_to_host(loss, &l)) return -1;
    if (!isfinite(l))
        return ldm_error(r->kind, "the loss is %g at step %ld: training stopped. %s was left as it was (its last "
                         "good state); try a lower --lr or a smaller --clip", l, r->st.step + 1, r->ckpt_path);
    const LrSchedule sched = {r->st.lr, r->st.lr_min, r->st.warmup, r->st.total};
    double lr = lr_at(&sched, r->st.step), gnorm;
    if (ps_zero_grad(params) || tape_backward(tp, root ? root : loss, NULL) ||
        optim_step(opt, params, r->st.step + 1, lr, r->st.clip, &gnorm))
        return -1;
    if (ema) {
        /* the EMA warm-up: early weights are forgotten fast, so a short run's EMA is not its init */
        double d = (1.0 + r->st.step) / (10.0 + r->st.step);
        if (ps_ema_update(ema, params, (float)(d < r->st.ema ? d : r->st.ema))) return -1;
    }
    r->st.step++;
    *loss_out = l;
    *lr_out = lr;
    return 0;
}

int run_check_finite(const TrainRun *r, const ParamSet *params) {
    for (int i = 0; i < params->n; i++) {
        double ss;
        if (sumsq(params->p[i].t, &ss)) return -1;
        if (!isfinite(ss))
            return ldm_error(r->kind, "parameter %s is not finite after step %ld: training diverged and stopped. %s was "
                             "left as it was (its last good state); try a lower --lr or a smaller --clip",
                             params->p[i].name, r->st.step, r->ckpt_path);
    }
    return 0;
}

int run_save(TrainRun *r, const ParamSet *params, const ParamSet *ema, const ParamSet *m, const ParamSet *v,
             double latent_scale) {
    const char *keys[TS_META_MAX], *vals[TS_META_MAX];
    char buf[4096];
    int n = train_state_meta(&r->st, keys, vals, buf, sizeof buf);
    if (n < 0) return -1;
    CheckpointSave c = {.kind = r->kind, .cfg = &r->cfg, .latent_scale = latent_scale, .step = r->st.step,
                        .params = params, .ema = ema, .adam_m = m, .adam_v = v, .disc = r->disc,
                        .disc_m = r->disc_m, .disc_v = r->disc_v, .n_extra = n,
                        .extra_keys = keys, .extra_vals = vals};
    if (checkpoint_save(r->ckpt_path, &c)) return -1;
    char title[128];
    snprintf(title, sizeof title, "%s %s loss", r->cfg.preset, r->kind);
    if (loss_plot_write(r->csv_path, r->png_path, title)) return -1;
    return 0;
}

int run_log(TrainRun *r, double loss, double lr, double val_loss, int images) {
    double t = now_seconds();
    double ips = t > r->t_last ? images / (t - r->t_last) : 0;
    r->t_last = t;
    if (csv_row(&r->log, r->st.step, loss, lr, val_loss, ips, r->gen_acc, r->gen_fd)) return -1;
    r->gen_acc = r->gen_fd = NAN;
    long s = r->st.step;
    if (s % r->a->log_every == 0 || s == run_last_step(r)) {
        char line[256];
        /* images/s over the whole invocation is steadier than one step's */
        double el = t - r->prog.t_start, done = (double)(s - r->prog.step0) * r->st.batch;
        progress_report(&r->prog, s, loss, lr, el > 0 ? done / el : 0, line, sizeof line);
    }
    return 0;
}

void run_end(TrainRun *r) {
    progress_done(&r->prog);
    csv_close(&r->log);
    if (r->resumed) checkpoint_close(&r->ck);
}
