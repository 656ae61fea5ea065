/* tests/test_train_state.c — what a resume depends on: the TrainState survives a
 * checkpoint round trip exactly; contradicting flags are refused by name; the optimizer
 * reports the gradient norm and refuses a non-finite gradient without touching weights. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "train/optimizer.h"
#include "train/trainer_state.h"

static TrainArgs args(void) {
    TrainArgs a;
    memset(&a, 0, sizeof a);
    a.kind = TRAIN_UNET, a.steps = 1000, a.batch = 8, a.lr = 3e-4, a.lr_min_frac = 0.1, a.clip = 0.5;
    a.ema = 0.99, a.cond_drop = 0.2, a.seed = 12345678901234ull, a.warmup = -1, a.data = "d", a.vae = "v.st";
    return a;
}

Test(train_state, checkpoint_round_trip_is_exact) {
    TrainArgs a = args();
    TrainState s;
    train_state_new(&s, &a, 10);
    cr_expect_eq(s.total, 1000);
    cr_expect_eq(s.warmup, 50, "default warm-up is 5%% of the steps");
    s.rng_offset = 0xFFFFFFFFFFFull;
    s.val_loss = 0.1234567890123;
    const char *keys[TS_META_MAX], *vals[TS_META_MAX];
    char buf[4096];
    int n = train_state_meta(&s, keys, vals, buf, sizeof buf);
    cr_assert_gt(n, 0, "%s", ldm_last_error());

    ModelConfig cfg;
    cfg_preset(&cfg, "demo");
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 1, true, false);
    cr_assert_not_null(ps_add(&ps, PI_NORMAL, 1, (int[]){3}, "w"));
    char path[] = "/tmp/ldm_state_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    CheckpointSave c = {.kind = "unet", .cfg = &cfg, .latent_scale = 1, .step = 77, .params = &ps, .n_extra = n,
                        .extra_keys = keys, .extra_vals = vals};
    cr_assert_eq(checkpoint_save(path, &c), 0, "%s", ldm_last_error());
    Checkpoint ck;
    cr_assert_eq(checkpoint_open(&ck, path, "unet", NULL), 0, "%s", ldm_last_error());
    TrainState r;
    cr_assert_eq(train_state_from_ckpt(&r, &ck), 0, "%s", ldm_last_error());
    cr_expect_eq(r.step, 77);
    cr_expect_eq(r.total, s.total);
    cr_expect_eq(r.seed, s.seed);
    cr_expect_eq(r.rng_offset, s.rng_offset);
    cr_expect_eq(r.batch, s.batch);
    cr_expect_eq(r.warmup, s.warmup);
    cr_expect(r.lr == s.lr && r.lr_min == s.lr_min && r.clip == s.clip && r.ema == s.ema &&
              r.cond_drop == s.cond_drop && r.val_loss == s.val_loss, "doubles read back exactly");
    cr_expect(isnan(r.val_psnr));
    cr_expect_str_eq(r.vae_file, "v.st");

    /* flags on resume: equal ones are fine, different ones are named, --steps extends */
    TrainArgs b = args();
    b.given_batch = b.given_lr = true;
    cr_expect_eq(train_state_apply_args(&r, &b, 10), 0, "%s", ldm_last_error());
    b.batch = 16;
    cr_expect_eq(train_state_apply_args(&r, &b, 10), -1);
    cr_expect(strstr(ldm_last_error(), "--batch") && strstr(ldm_last_error(), "16"), "%s", ldm_last_error());
    b = args();
    b.given_seed = true, b.seed = 1;
    cr_expect_eq(train_state_apply_args(&r, &b, 10), -1);
    cr_expect(strstr(ldm_last_error(), "--seed"), "%s", ldm_last_error());
    b = args();
    b.given_steps = true, b.steps = 0, b.epochs = 300;
    cr_expect_eq(train_state_apply_args(&r, &b, 10), 0);
    cr_expect_eq(r.total, 3000);
    b.epochs = 1;
    cr_expect_eq(train_state_apply_args(&r, &b, 10), -1, "fewer steps than already done");
    checkpoint_close(&ck);

    /* a checkpoint without the training keys is not resumable */
    c.n_extra = 0;
    cr_assert_eq(checkpoint_save(path, &c), 0);
    cr_assert_eq(checkpoint_open(&ck, path, "unet", NULL), 0);
    cr_expect_eq(train_state_from_ckpt(&r, &ck), -1);
    cr_expect(strstr(ldm_last_error(), "train.total_steps"), "%s", ldm_last_error());
    checkpoint_close(&ck);
    unlink(path);
    ps_free(&ps);
}

Test(optimizer, reports_norm_and_refuses_non_finite_gradients) {
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 1, true, true);
    Tensor *w = ps_add(&ps, PI_ZERO, 1, (int[]){2}, "w");
    Tensor *b = ps_add(&ps, PI_ZERO, 1, (int[]){1}, "b");
    cr_assert(w && b);
    Optimizer o;
    cr_assert_eq(optim_init(&o, &ps, 0), 0);
    w->grad[0] = 3, w->grad[1] = 0, b->grad[0] = 4;
    double norm;
    cr_assert_eq(optim_step(&o, &ps, 1, 0.1, 1.0, &norm), 0, "%s", ldm_last_error());
    cr_expect_float_eq(norm, 5.0, 1e-12);
    /* first AdamW step: p -= lr * g / (|g| + eps) whatever the clip scale */
    cr_expect_float_eq(w->data[0], -0.1f, 1e-6);
    cr_expect_float_eq(w->data[1], 0.0f, 1e-9);
    cr_expect_float_eq(b->data[0], -0.1f, 1e-6);
    /* the moments saw the clipped gradient: m = (1 - b1) g / 5 */
    cr_expect_float_eq(o.m.p[0].t->data[0], 0.1f * 3 / 5, 1e-6);
    float before = w->data[0];
    w->grad[0] = NAN;
    cr_expect_eq(optim_step(&o, &ps, 2, 0.1, 1.0, &norm), -1);
    cr_expect(strstr(ldm_last_error(), "gradient norm"), "%s", ldm_last_error());
    cr_expect_eq(w->data[0], before, "weights untouched");
    optim_free(&o);
    ps_free(&ps);
}

/* Weight decay shrinks linear and conv weights only: zero gradients, so an AdamW step is
 * p -= lr * wd * p exactly where the parameter decays. */
Test(optimizer, weight_decay_spares_biases_norms_and_embeddings) {
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 1, true, true);
    Tensor *lin = ps_add(&ps, PI_FAN_IN, 2, (int[]){3, 4}, "m.lin.weight");
    Tensor *conv = ps_add(&ps, PI_ZERO, 4, (int[]){2, 3, 3, 2}, "m.conv.weight");
    Tensor *bias = ps_add(&ps, PI_ZERO, 1, (int[]){3}, "m.lin.bias");
    Tensor *gain = ps_add(&ps, PI_ONE, 1, (int[]){4}, "m.norm.weight");
    Tensor *emb = ps_add(&ps, PI_NORMAL, 2, (int[]){5, 4}, "m.class_emb.weight");
    cr_assert(lin && conv && bias && gain && emb);
    cr_assert_eq(ps_randomize(&ps, 7, 1.0f), 0);
    ParamSet before;
    cr_assert_eq(ps_clone(&before, &ps, DEV_CPU, false, true), 0);
    Optimizer o;
    cr_assert_eq(optim_init(&o, &ps, 0.5), 0);
    double norm;
    cr_assert_eq(optim_step(&o, &ps, 1, 0.1, 0, &norm), 0, "%s", ldm_last_error());
    for (int i = 0; i < ps.n; i++) {
        const bool decays = i < 2; /* the linear and the conv weight */
        cr_expect_eq(ps_decays(&ps.p[i]), decays, "%s", ps.p[i].name);
        for (size_t k = 0; k < ps.p[i].numel; k++) {
            const float b = before.p[i].t->data[k], want = decays ? b * (1 - 0.1f * 0.5f) : b;
            cr_expect_float_eq(ps.p[i].t->data[k], want, 1e-6f * (1 + fabsf(b)), "%s[%zu]: %g, want %g", ps.p[i].name, k,
                               ps.p[i].t->data[k], want);
        }
    }
    optim_free(&o);
    ps_free(&before);
    ps_free(&ps);
}
