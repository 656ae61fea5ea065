/* tests/test_models_checkpoint.c — checkpoints round-trip bit for bit (parameters, EMA,
 * AdamW moments, metadata), and every kind of bad file is refused with a message that
 * names the file and what is wrong: truncated, missing tensor, wrong shape, extra tensor,
 * another preset, another config, another kind, another format version. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "models/checkpoint.h"
#include "models/unet.h"
#include "models/vae.h"
#include "tests/util/testutil.h"

static char dir[64];
static ModelConfig cfg;

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/ldm_ckpt_XXXXXX");
    cr_assert(mkdtemp(dir));
    cfg_preset(&cfg, "fashion");
    const char *kv[] = {"unet_ch=16", "unet_groups=4", "head_dim=16", "unet_res=1", "vae_ch=8", "vae_groups=4"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) cr_assert_eq(cfg_set_arg(&cfg, kv[i]), 0);
}
static void teardown(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
TestSuite(models_checkpoint, .init = setup, .fini = teardown);

static const char *path_of(const char *name) {
    static char p[4][128];
    static int slot;
    char *b = p[slot++ & 3];
    snprintf(b, 128, "%s/%s", dir, name);
    return b;
}

/* A U-Net with random (not zero-initialised) parameters. */
static void make_unet(UNet *m, ParamSet *ps, const ModelConfig *c, uint64_t seed) {
    ps_init(ps, DEV_CPU, seed, true, false);
    cr_assert_eq(unet_init(m, ps, c), 0, "%s", ldm_last_error());
    cr_assert_eq(ps_randomize(ps, seed, 0.2f), 0);
}

/* The U-Net's prediction for a fixed input, as a heap copy. */
static float *unet_output(const UNet *m) {
    Arena *a = arena_create(DEV_CPU, (size_t)32 << 20, (size_t)2 << 20);
    Tape tp;
    tape_init(&tp, a);
    tape_set_grad_enabled(&tp, false);
    Tensor *x = tu_data(4, (int[]){2, 8, 8, 4}, 7, -1, 1), *t = tu_data(1, (int[]){2}, 8, 0, 999),
           *l = tu_data(1, (int[]){2}, 9, 0, 1);
    l->data[0] = 3, l->data[1] = 10;
    Tensor *y = unet_forward(m, &tp, x, t, l);
    cr_assert(y, "%s", ldm_last_error());
    float *out = malloc(tensor_bytes(y));
    memcpy(out, y->data, tensor_bytes(y));
    tensor_free(x);
    tensor_free(t);
    tensor_free(l);
    arena_destroy(a);
    return out;
}

static size_t out_bytes(void) { return 2 * 8 * 8 * 4 * sizeof(float); }

static int save_unet(const char *path, const ParamSet *ps, const ModelConfig *c) {
    CheckpointSave s = {.kind = "unet", .cfg = c, .latent_scale = 1.0, .step = 1, .params = ps};
    return checkpoint_save(path, &s);
}

static bool same_values(const ParamSet *a, const ParamSet *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++)
        if (memcmp(a->p[i].t->data, b->p[i].t->data, tensor_bytes(a->p[i].t))) return false;
    return true;
}

// ----------------------------------------------------------------------------
// round trips

Test(models_checkpoint, unet_round_trip_is_bit_exact_with_ema_and_adam) {
    UNet m, m2;
    ParamSet ps, ema, am, av, ps2, ema2, am2, av2;
    make_unet(&m, &ps, &cfg, 1);
    cr_assert_eq(ps_clone(&ema, &ps, DEV_CPU, false, true), 0);
    cr_assert_eq(ps_randomize(&ema, 2, 0.1f), 0);
    cr_assert_eq(ps_clone(&am, &ps, DEV_CPU, false, false), 0);
    cr_assert_eq(ps_randomize(&am, 3, 0.01f), 0);
    cr_assert_eq(ps_clone(&av, &ps, DEV_CPU, false, false), 0);
    cr_assert_eq(ps_randomize(&av, 4, 0.001f), 0);
    const char *keys[] = {"data_offset", "rng_offset"}, *vals[] = {"1234", "98765432109"};
    CheckpointSave s = {.kind = "unet", .cfg = &cfg, .latent_scale = 0.18215, .step = 4242, .params = &ps,
                        .ema = &ema, .adam_m = &am, .adam_v = &av, .n_extra = 2, .extra_keys = keys, .extra_vals = vals};
    const char *path = path_of("unet.safetensors");
    cr_assert_eq(checkpoint_save(path, &s), 0, "%s", ldm_last_error());
    float *before = unet_output(&m);

    Checkpoint ck;
    cr_assert_eq(checkpoint_open(&ck, path, "unet", &cfg), 0, "%s", ldm_last_error());
    cr_expect_str_eq(ck.kind, "unet");
    cr_expect_eq(ck.step, 4242);
    cr_expect_eq(ck.latent_scale, 0.18215);
    cr_expect_str_eq(checkpoint_meta(&ck, "rng_offset"), "98765432109");
    char diff[256];
    cr_expect_eq(cfg_diff(&ck.cfg, &cfg, CFG_SCOPE_ALL, diff, sizeof diff), 0, "%s", diff);
    /* a model built from the checkpoint's own config, with other initial values */
    make_unet(&m2, &ps2, &ck.cfg, 77);
    cr_assert_eq(checkpoint_read(&ck, "", &ps2), 0, "%s", ldm_last_error());
    cr_expect(checkpoint_has_group(&ck, "ema.") && checkpoint_has_group(&ck, "adam.m."));
    cr_assert_eq(ps_clone(&ema2, &ps2, DEV_CPU, false, false), 0);
    cr_assert_eq(ps_clone(&am2, &ps2, DEV_CPU, false, false), 0);
    cr_assert_eq(ps_clone(&av2, &ps2, DEV_CPU, false, false), 0);
    cr_assert_eq(checkpoint_read(&ck, "ema.", &ema2), 0, "%s", ldm_last_error());
    cr_assert_eq(checkpoint_read(&ck, "adam.m.", &am2), 0, "%s", ldm_last_error());
    cr_assert_eq(checkpoint_read(&ck, "adam.v.", &av2), 0, "%s", ldm_last_error());
    checkpoint_close(&ck);
    cr_expect(same_values(&ps, &ps2) && same_values(&ema, &ema2) && same_values(&am, &am2) && same_values(&av, &av2));
    float *after = unet_output(&m2);
    cr_expect_eq(memcmp(before, after, out_bytes()), 0, "the loaded U-Net predicts bit for bit the same");
    free(before);
    free(after);
    ParamSet *sets[] = {&ps, &ema, &am, &av, &ps2, &ema2, &am2, &av2};
    for (int i = 0; i < 8; i++) ps_free(sets[i]);
}

Test(models_checkpoint, vae_round_trip_and_overwrite) {
    ParamSet ps, ps2;
    VAE v, v2;
    ps_init(&ps, DEV_CPU, 5, true, false);
    cr_assert_eq(vae_init(&v, &ps, &cfg), 0, "%s", ldm_last_error());
    const char *path = path_of("vae.safetensors");
    CheckpointSave s = {.kind = "vae", .cfg = &cfg, .latent_scale = 1.0, .step = 10, .params = &ps};
    cr_assert_eq(checkpoint_save(path, &s), 0, "%s", ldm_last_error());
    cr_assert_eq(ps_randomize(&ps, 6, 0.1f), 0);
    s.step = 20;
    s.latent_scale = 0.75;
    cr_assert_eq(checkpoint_save(path, &s), 0, "%s", ldm_last_error()); /* replaces the first */
    cr_expect_neq(access(path_of("vae.safetensors.tmp"), F_OK), 0, "no temporary file is left behind");
    Checkpoint ck;
    ModelConfig other_unet = cfg;
    cfg_set(&other_unet, "unet_ch", "32"); /* U-Net fields do not concern a VAE checkpoint */
    cr_assert_eq(checkpoint_open(&ck, path, "vae", &other_unet), 0, "%s", ldm_last_error());
    cr_expect_eq(ck.step, 20);
    cr_expect_eq(ck.latent_scale, 0.75);
    ps_init(&ps2, DEV_CPU, 9, true, false);
    cr_assert_eq(vae_init(&v2, &ps2, &ck.cfg), 0);
    cr_assert_eq(checkpoint_read(&ck, "", &ps2), 0, "%s", ldm_last_error());
    cr_expect_not(checkpoint_has_group(&ck, "ema."));
    checkpoint_close(&ck);
    cr_expect(same_values(&ps, &ps2));
    ps_free(&ps);
    ps_free(&ps2);
}

// ----------------------------------------------------------------------------
// bad files

static void expect_open_error(const char *path, const char *kind, const ModelConfig *c, const char *needle) {
    Checkpoint ck;
    cr_expect_eq(checkpoint_open(&ck, path, kind, c), -1, "%s opened", path);
    cr_expect(strstr(ldm_last_error(), needle), "want '%s' in '%s'", needle, ldm_last_error());
    cr_expect(strstr(ldm_last_error(), path), "the message names the file: '%s'", ldm_last_error());
}

static void expect_read_error(const char *path, ParamSet *ps, const char *needle) {
    Checkpoint ck;
    cr_assert_eq(checkpoint_open(&ck, path, "unet", NULL), 0, "%s", ldm_last_error());
    cr_expect_eq(checkpoint_read(&ck, "", ps), -1);
    cr_expect(strstr(ldm_last_error(), needle), "want '%s' in '%s'", needle, ldm_last_error());
    cr_expect(strstr(ldm_last_error(), path), "the message names the file: '%s'", ldm_last_error());
    checkpoint_close(&ck);
}

Test(models_checkpoint, truncated_file) {
    UNet m;
    ParamSet ps;
    make_unet(&m, &ps, &cfg, 1);
    const char *path = path_of("cut.safetensors");
    cr_assert_eq(save_unet(path, &ps, &cfg), 0, "%s", ldm_last_error());
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(truncate(path, st.st_size / 2), 0);
    expect_open_error(path, "unet", &cfg, "safetensors");
    cr_assert_eq(truncate(path, 5), 0);
    expect_open_error(path, "unet", &cfg, "safetensors");
    expect_open_error(path_of("absent.safetensors"), "unet", &cfg, "absent.safetensors");
    ps_free(&ps);
}

/* A copy of ps with parameter `skip` left out, or with `reshape` given another shape, or
 * with an extra parameter. */
static void altered_copy(ParamSet *dst, const ParamSet *src, const char *skip, const char *reshape, bool extra) {
    ps_init(dst, DEV_CPU, 3, true, false);
    for (int i = 0; i < src->n; i++) {
        const Param *p = &src->p[i];
        if (skip && !strcmp(p->name, skip)) continue;
        int shape[4];
        memcpy(shape, p->shape, sizeof shape);
        if (reshape && !strcmp(p->name, reshape)) shape[0] += 1;
        cr_assert(ps_add(dst, PI_ONE, p->ndim, shape, "%s", p->name));
    }
    if (extra) cr_assert(ps_add(dst, PI_ONE, 1, (int[]){3}, "unet.extra.weight"));
}

Test(models_checkpoint, missing_wrong_shape_and_extra_tensors) {
    UNet m;
    ParamSet ps, bad;
    make_unet(&m, &ps, &cfg, 1);
    altered_copy(&bad, &ps, "unet.down.1.attn.0.v.weight", NULL, false);
    cr_assert_eq(save_unet(path_of("missing.safetensors"), &bad, &cfg), 0, "%s", ldm_last_error());
    ps_free(&bad);
    expect_read_error(path_of("missing.safetensors"), &ps, "tensor unet.down.1.attn.0.v.weight is missing");

    altered_copy(&bad, &ps, NULL, "unet.mid.res.1.conv2.weight", false);
    cr_assert_eq(save_unet(path_of("shape.safetensors"), &bad, &cfg), 0, "%s", ldm_last_error());
    ps_free(&bad);
    expect_read_error(path_of("shape.safetensors"), &ps,
                      "tensor unet.mid.res.1.conv2.weight has shape (33, 3, 3, 32), expected (32, 3, 3, 32)");

    altered_copy(&bad, &ps, NULL, NULL, true);
    cr_assert_eq(save_unet(path_of("extra.safetensors"), &bad, &cfg), 0, "%s", ldm_last_error());
    ps_free(&bad);
    expect_read_error(path_of("extra.safetensors"), &ps, "unet.extra.weight is not part of");
    ps_free(&ps);
}

Test(models_checkpoint, another_preset_config_kind_or_version) {
    UNet m;
    ParamSet ps;
    make_unet(&m, &ps, &cfg, 1);
    const char *path = path_of("fashion.safetensors");
    cr_assert_eq(save_unet(path, &ps, &cfg), 0, "%s", ldm_last_error());
    ModelConfig demo;
    cfg_preset(&demo, "demo");
    expect_open_error(path, "unet", &demo, "trained with preset 'fashion', expected preset 'demo'");
    ModelConfig wider = cfg;
    cfg_set(&wider, "unet_ch", "32");
    expect_open_error(path, "unet", &wider, "unet_ch: '16' vs '32'");
    expect_open_error(path, "vae", &cfg, "is a unet checkpoint, expected a vae checkpoint");

    /* a file from another format version */
    StWriter *w = st_writer_new();
    char text[4096];
    cfg_to_string(&cfg, text, sizeof text);
    cr_assert_eq(st_writer_meta(w, "format", "ldm.c-0") || st_writer_meta(w, "kind", "unet") ||
                     st_writer_meta(w, "config", text) || st_writer_add(w, "unet.conv_in.weight", ps.p[0].t),
                 0);
    const char *old = path_of("old.safetensors");
    cr_assert_eq(st_writer_save(w, old), 0, "%s", ldm_last_error());
    st_writer_free(w);
    expect_open_error(old, NULL, NULL, "format 'ldm.c-0', but this build reads 'ldm.c-1'");

    /* a safetensors file that is not an ldm.c checkpoint */
    w = st_writer_new();
    cr_assert_eq(st_writer_add(w, "weight", ps.p[0].t), 0);
    const char *foreign = path_of("foreign.safetensors");
    cr_assert_eq(st_writer_save(w, foreign), 0);
    st_writer_free(w);
    expect_open_error(foreign, NULL, NULL, "no 'format'");
    ps_free(&ps);
}

Test(models_checkpoint, save_refuses_bad_arguments) {
    UNet m;
    ParamSet ps, dry;
    make_unet(&m, &ps, &cfg, 1);
    CheckpointSave s = {.kind = "gan", .cfg = &cfg, .latent_scale = 1, .params = &ps};
    cr_expect_eq(checkpoint_save(path_of("x.safetensors"), &s), -1);
    cr_expect(strstr(ldm_last_error(), "gan"), "%s", ldm_last_error());
    const char *k[] = {"step"}, *v[] = {"3"};
    s = (CheckpointSave){.kind = "unet", .cfg = &cfg, .latent_scale = 1, .params = &ps, .n_extra = 1,
                         .extra_keys = k, .extra_vals = v};
    cr_expect_eq(checkpoint_save(path_of("x.safetensors"), &s), -1);
    cr_expect(strstr(ldm_last_error(), "reserved"), "%s", ldm_last_error());
    ps_init(&dry, DEV_CPU, 0, false, false);
    UNet md;
    cr_assert_eq(unet_init(&md, &dry, &cfg), 0);
    s = (CheckpointSave){.kind = "unet", .cfg = &cfg, .latent_scale = 1, .params = &dry};
    cr_expect_eq(checkpoint_save(path_of("x.safetensors"), &s), -1);
    cr_expect_neq(access(path_of("x.safetensors"), F_OK), 0, "nothing written");
    ps_free(&dry);
    ps_free(&ps);
}
