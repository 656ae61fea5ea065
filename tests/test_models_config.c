/* tests/test_models_config.c — presets, overrides by name, the text form, comparisons,
 * class names, parameter registration and counts, noise schedules. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/config.h"
#include "models/describe.h"
#include "models/params.h"
#include "models/schedule.h"
#include "models/unet.h"
#include "models/vae.h"
#include "tests/util/testutil.h"

static const char *const all_presets[] = {"adni", "oasis", "demo", "fashion"};

// ----------------------------------------------------------------------------
// presets

Test(models_config, every_preset_is_valid_and_has_its_geometry) {
    ModelConfig c;
    struct {
        int image, latent, classes;
    } want[] = {{256, 32, 2}, {256, 32, 0}, {64, 16, 3}, {32, 8, 10}};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(cfg_preset(&c, all_presets[i]), 0, "%s", ldm_last_error());
        cr_expect_eq(cfg_validate(&c), 0, "%s: %s", all_presets[i], ldm_last_error());
        cr_expect_str_eq(c.preset, all_presets[i]);
        cr_expect_eq(c.image_size, want[i].image, "%s", all_presets[i]);
        cr_expect_eq(cfg_latent_size(&c), want[i].latent, "%s", all_presets[i]);
        cr_expect_eq(c.num_classes, want[i].classes, "%s", all_presets[i]);
        cr_expect_eq(c.latent_ch, 4);
        cr_expect_eq(c.timesteps, 1000);
    }
}

Test(models_config, adni_matches_the_issue) {
    ModelConfig c;
    cfg_preset(&c, "adni");
    cr_expect_eq(cfg_vae_factor(&c), 8);
    cr_expect_eq(c.unet_ch, 128);
    cr_expect_eq(c.unet_levels, 3);
    cr_expect(c.unet_mult[0] == 1 && c.unet_mult[1] == 2 && c.unet_mult[2] == 2);
    cr_expect_eq(c.unet_res, 2);
    cr_expect(cfg_has_attn(&c, 16) && cfg_has_attn(&c, 8) && !cfg_has_attn(&c, 32));
    cr_expect_eq(c.head_dim, 64);
    cr_expect_eq(cfg_class_index(&c, "AD"), 0);
    cr_expect_eq(cfg_class_index(&c, "NC"), 1);
    cr_expect_eq(cfg_class_index(&c, "1"), 1);
    cr_expect_eq(cfg_class_index(&c, "MCI"), -1);
    cr_expect(strstr(ldm_last_error(), "AD,NC"), "%s", ldm_last_error());
    ModelConfig f;
    cfg_preset(&f, "fashion");
    cr_expect_eq(cfg_vae_factor(&f), 4);
    cr_expect_eq(f.data_size, 28);
}

Test(models_config, unknown_preset_names_the_known_ones) {
    ModelConfig c;
    cr_expect_eq(cfg_preset(&c, "mnist"), -1);
    cr_expect(strstr(ldm_last_error(), "mnist") && strstr(ldm_last_error(), "adni oasis demo fashion"), "%s",
              ldm_last_error());
}

// ----------------------------------------------------------------------------
// overrides

Test(models_config, overrides_by_name) {
    ModelConfig c;
    cfg_preset(&c, "demo");
    cr_assert_eq(cfg_set_arg(&c, "unet_ch=64"), 0, "%s", ldm_last_error());
    cr_assert_eq(cfg_set(&c, "attn_res", "8,4"), 0, "%s", ldm_last_error());
    cr_assert_eq(cfg_set(&c, "vae_mult", "1,2,4,4"), 0, "%s", ldm_last_error());
    cr_assert_eq(cfg_set(&c, "schedule", "cosine"), 0, "%s", ldm_last_error());
    cr_assert_eq(cfg_set(&c, "kl_beta", "2.5e-6"), 0, "%s", ldm_last_error());
    cr_expect_eq(c.unet_ch, 64);
    cr_expect_eq(c.n_attn_res, 2);
    cr_expect_eq(c.attn_res[1], 4);
    cr_expect_eq(c.vae_levels, 4);
    cr_expect_eq(cfg_latent_size(&c), 8);
    cr_expect_eq(c.schedule, SCHED_COSINE);
    cr_expect_float_eq(c.kl_beta, 2.5e-6f, 1e-12);
    cr_assert_eq(cfg_set(&c, "attn_res", "none"), 0);
    cr_expect_eq(c.n_attn_res, 0);
}

Test(models_config, bad_overrides_name_the_field_and_change_nothing) {
    ModelConfig c, before;
    cfg_preset(&c, "demo");
    before = c;
    struct {
        const char *kv, *needle;
    } bad[] = {
        {"unet_width=3", "unknown field 'unet_width'"},
        {"unet_ch=abc", "unet_ch: 'abc' is not an integer"},
        {"kl_beta=nan", "kl_beta"},
        {"recon=l2", "recon: 'l2' is not one of l1 | mse"},
        {"vae_mult=1,2,2,2,2", "more than 4 entries"},
        {"vae_mult=", "at least 1"},
        {"novalue", "not key=value"},
        {"preset=a=b", "preset"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(cfg_set_arg(&c, bad[i].kv), -1, "%s accepted", bad[i].kv);
        cr_expect(strstr(ldm_last_error(), bad[i].needle), "%s: got '%s'", bad[i].kv, ldm_last_error());
        cr_expect_eq(memcmp(&c, &before, sizeof c), 0, "%s changed the config", bad[i].kv);
    }
}

Test(models_config, validation_names_the_inconsistency) {
    struct {
        const char *kv, *needle;
    } bad[] = {
        {"unet_groups=7", "GroupNorm groups"},
        {"attn_res=12", "attn_res 12 is not one of the U-Net's resolutions"},
        {"head_dim=48", "head_dim 48"},
        {"image_size=66", "image_size 66 is not divisible"},
        {"num_classes=4", "class_names"},
        {"beta_end=0.00001", "beta_start"},
        {"data_size=65", "data_size = 65 is outside 1..64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ModelConfig c;
        cfg_preset(&c, "demo");
        cr_assert_eq(cfg_set_arg(&c, bad[i].kv), 0, "%s: %s", bad[i].kv, ldm_last_error());
        cr_expect_eq(cfg_validate(&c), -1, "%s validated", bad[i].kv);
        cr_expect(strstr(ldm_last_error(), bad[i].needle), "%s: got '%s'", bad[i].kv, ldm_last_error());
    }
}

// ----------------------------------------------------------------------------
// text form and comparison

Test(models_config, text_form_round_trips_every_preset) {
    for (int i = 0; i < 4; i++) {
        ModelConfig a, b;
        char text[4096], again[4096];
        cfg_preset(&a, all_presets[i]);
        cfg_set(&a, "kl_beta", "0.000123456789");
        cr_assert_gt(cfg_to_string(&a, text, sizeof text), 0, "%s", ldm_last_error());
        cr_assert_eq(cfg_from_string(&b, text), 0, "%s: %s", all_presets[i], ldm_last_error());
        char diff[256];
        cr_expect_eq(cfg_diff(&a, &b, CFG_SCOPE_ALL, diff, sizeof diff), 0, "%s: %s", all_presets[i], diff);
        cfg_to_string(&b, again, sizeof again);
        cr_expect_str_eq(text, again);
    }
}

Test(models_config, text_form_rejects_missing_and_unknown_fields) {
    ModelConfig a, b;
    char text[4096];
    cfg_preset(&a, "fashion");
    cfg_to_string(&a, text, sizeof text);
    char *line = strstr(text, "unet_ch=");
    char cut[8192];
    snprintf(cut, sizeof cut, "%.*s%s", (int)(line - text), text, strchr(line, '\n') + 1);
    cr_expect_eq(cfg_from_string(&b, cut), -1);
    cr_expect(strstr(ldm_last_error(), "'unet_ch' is missing"), "%s", ldm_last_error());
    snprintf(cut, sizeof cut, "%swidth=3\n", text);
    cr_expect_eq(cfg_from_string(&b, cut), -1);
    cr_expect(strstr(ldm_last_error(), "unknown field 'width'"), "%s", ldm_last_error());
    cr_expect_eq(cfg_to_string(&a, text, 100), -1, "a short buffer is an error");
}

Test(models_config, diff_is_scoped) {
    ModelConfig a, b;
    char msg[256];
    cfg_preset(&a, "demo");
    b = a;
    cfg_set(&b, "unet_ch", "64");
    cr_expect_eq(cfg_diff(&a, &b, CFG_SCOPE_VAE, msg, sizeof msg), 0, "U-Net fields do not concern the VAE");
    cr_expect_eq(cfg_diff(&a, &b, CFG_SCOPE_ALL, msg, sizeof msg), 1);
    cr_expect_str_eq(msg, "unet_ch: '32' vs '64'");
    b = a;
    cfg_set(&b, "latent_ch", "8");
    cr_expect_eq(cfg_diff(&a, &b, CFG_SCOPE_VAE, msg, sizeof msg), 1);
    cr_expect(strstr(msg, "latent_ch"), "%s", msg);
}

Test(models_config, class_names) {
    ModelConfig c;
    char buf[32];
    cfg_preset(&c, "demo");
    cr_expect_str_eq(cfg_class_name(&c, 2, buf, sizeof buf), "superior");
    cr_expect_eq(cfg_class_index(&c, "middle"), 1);
    cfg_preset(&c, "oasis");
    cr_expect_eq(cfg_class_index(&c, "0"), -1);
    cr_expect(strstr(ldm_last_error(), "unconditional"), "%s", ldm_last_error());
}

// ----------------------------------------------------------------------------
// parameters

Test(models_params, counts_per_preset) {
    for (int i = 0; i < 4; i++) {
        ModelConfig c;
        cfg_preset(&c, all_presets[i]);
        size_t nv = vae_param_count(&c), nu = unet_param_count(&c);
        cr_expect_gt(nv, 0, "%s: %s", all_presets[i], ldm_last_error());
        cr_expect_gt(nu, 0, "%s: %s", all_presets[i], ldm_last_error());
        printf("params %-8s VAE %10zu  U-Net %10zu\n", all_presets[i], nv, nu);
    }
    ModelConfig a, o;
    cfg_preset(&a, "adni");
    cfg_preset(&o, "oasis");
    cr_expect_gt(unet_param_count(&a), unet_param_count(&o), "the conditional U-Net has cross-attention");
    cr_expect_eq(vae_param_count(&a), vae_param_count(&o));
}

Test(models_params, names_follow_the_module_tree) {
    ModelConfig c;
    cfg_preset(&c, "adni");
    ParamSet ps;
    UNet m;
    ps_init(&ps, DEV_CPU, 0, false, false);
    cr_assert_eq(unet_init(&m, &ps, &c), 0, "%s", ldm_last_error());
    const char *want[] = {"unet.down.1.res.0.conv1.weight", "unet.down.1.attn.0.q.weight",
                          "unet.down.2.xattn.1.k.weight",   "unet.mid.attn.0.proj.bias",
                          "unet.up.0.res.2.skip.weight",    "unet.class_emb.weight",
                          "unet.time.lin2.bias",            "unet.conv_out.weight"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(ps_find(&ps, want[i]), "no %s", want[i]);
    cr_expect_null(ps_find(&ps, "unet.down.0.attn.0.q.weight"), "no attention at 32x32");
    const Param *p = ps_find_param(&ps, "unet.class_emb.weight");
    cr_expect(p->shape[0] == 3 && p->shape[1] == 4 * 128, "class table (classes + null, tokens * dim)");
    p = ps_find_param(&ps, "unet.down.1.res.0.conv1.weight");
    cr_expect(p->shape[0] == 256 && p->shape[1] == 3 && p->shape[2] == 3 && p->shape[3] == 128, "KRSC");
    ps_free(&ps);
}

Test(models_params, init_is_deterministic_and_follows_the_initialiser) {
    ModelConfig c;
    cfg_preset(&c, "fashion");
    ParamSet a, b;
    UNet ma, mb;
    ps_init(&a, DEV_CPU, 7, true, true);
    ps_init(&b, DEV_CPU, 7, true, false);
    cr_assert_eq(unet_init(&ma, &a, &c), 0, "%s", ldm_last_error());
    cr_assert_eq(unet_init(&mb, &b, &c), 0, "%s", ldm_last_error());
    cr_expect_eq(ps_count(&a), unet_param_count(&c));
    for (int i = 0; i < a.n; i++) {
        cr_expect_eq(memcmp(a.p[i].t->data, b.p[i].t->data, a.p[i].numel * 4), 0, "%s", a.p[i].name);
        cr_expect_str_eq(a.p[i].t->name, a.p[i].name, "tensor names survive the registry growing");
    }
    Tensor *w = ps_find(&a, "unet.down.0.res.0.conv1.weight"), *z = ps_find(&a, "unet.conv_out.weight");
    Tensor *g = ps_find(&a, "unet.norm_out.weight");
    double s2 = 0;
    for (size_t i = 0; i < w->numel; i++) s2 += (double)w->data[i] * w->data[i];
    double fan_in = (double)(w->numel / (size_t)w->shape[0]);
    cr_expect(fabs(s2 / w->numel * fan_in - 1) < 0.1, "variance %g, want 1/fan_in", s2 / w->numel);
    for (size_t i = 0; i < z->numel; i++) cr_expect_eq(z->data[i], 0.0f, "output conv starts at zero");
    for (size_t i = 0; i < g->numel; i++) cr_expect_eq(g->data[i], 1.0f);
    cr_expect_null(b.p[0].t->grad, "no gradient without with_grad");
    cr_expect(a.p[0].t->grad && a.p[0].t->requires_grad);
    ps_free(&a);
    ps_free(&b);
}

Test(models_params, duplicates_and_long_names_are_errors) {
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 1, true, true);
    cr_expect(ps_add(&ps, PI_ONE, 1, (int[]){3}, "a.weight"));
    cr_expect_null(ps_add(&ps, PI_ONE, 1, (int[]){3}, "a.weight"));
    cr_expect(strstr(ldm_last_error(), "registered twice"), "%s", ldm_last_error());
    char longname[200];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    cr_expect_null(ps_add(&ps, PI_ONE, 1, (int[]){3}, "%s", longname));
    cr_expect_null(ps_add(&ps, PI_ONE, 1, (int[]){0}, "zero"));
    cr_expect_eq(ps.n, 1);
    ps_free(&ps);
}

Test(models_params, clone_copy_and_device_round_trip) {
    ParamSet a, b;
    ps_init(&a, DEV_CPU, 3, true, true);
    Tensor *w = ps_add(&a, PI_FAN_IN, 2, (int[]){4, 5}, "l.weight");
    cr_assert(w);
    cr_assert_eq(ps_clone(&b, &a, DEV_CPU, false, false), 0);
    cr_expect_eq(b.p[0].t->data[3], 0.0f, "zeros when not copying");
    cr_assert_eq(ps_copy_values(&b, &a), 0);
    cr_expect_eq(memcmp(b.p[0].t->data, w->data, 80), 0);
    /* EMA: b = 0.9 b + 0.1 a, with a = 2 b before */
    for (int i = 0; i < 20; i++) w->data[i] = 2 * b.p[0].t->data[i];
    float b0 = b.p[0].t->data[7];
    cr_assert_eq(ps_ema_update(&b, &a, 0.9f), 0, "%s", ldm_last_error());
    cr_expect_float_eq(b.p[0].t->data[7], 1.1f * b0, 1e-6f * (1 + fabsf(b0)));
    cr_expect_eq(ps_ema_update(&b, &a, 1.5f), -1);
    for (int i = 0; i < 20; i++) w->grad[i] = (float)i;
    double ss;
    cr_assert_eq(ps_grad_sumsq(&a, &ss), 0);
    cr_expect_float_eq(ss, 2470.0, 1e-9, "sum of i^2 for i < 20");
    cr_expect_eq(ps_grad_sumsq(&b, &ss), -1, "no gradients in b");
    cr_expect_eq(ps_to_device(&a, DEV_CPU), 0, "same device is a no-op");
    if (dev_cuda_available()) {
        float before[20];
        memcpy(before, w->data, sizeof before);
        cr_assert_eq(ps_to_device(&a, DEV_CUDA), 0, "%s", ldm_last_error());
        cr_assert_eq(ps_to_device(&a, DEV_CPU), 0, "%s", ldm_last_error());
        cr_expect_eq(memcmp(before, w->data, sizeof before), 0);
    } else {
        TU_SKIPPED_PART("models_params::clone_copy_and_device_round_trip: the CPU -> CUDA -> CPU round trip needs a CUDA device");
    }
    ps_free(&a);
    ps_free(&b);
}

// ----------------------------------------------------------------------------
// schedules

Test(models_schedule, linear_matches_the_ddpm_values) {
    NoiseSchedule s;
    cr_assert_eq(schedule_init(&s, SCHED_LINEAR, 1000, 1e-4, 0.02), 0);
    cr_expect_float_eq(s.beta[0], 1e-4, 1e-15);
    cr_expect_float_eq(s.beta[999], 0.02, 1e-15);
    double ab = 1;
    for (int t = 0; t < 1000; t++) ab *= 1 - (1e-4 + (0.02 - 1e-4) * t / 999.0);
    cr_expect_float_eq(s.alpha_bar[999], ab, 1e-15);
    cr_expect(s.alpha_bar[999] < 1e-4 && s.alpha_bar[999] > 1e-5, "abar_T = %g", s.alpha_bar[999]);
    cr_expect_eq(schedule_alpha_bar(&s, -1), 1.0);
    cr_expect_eq(schedule_alpha_bar(&s, 999), s.alpha_bar[999]);
    cr_expect(isnan(schedule_alpha_bar(&s, 1000)), "t = T must be an error, not clamped to T-1");
    cr_expect(isnan(schedule_alpha_bar(&s, -2)), "t = -2 must be an error");
    schedule_free(&s);
}

Test(models_schedule, scaled_linear_and_cosine_are_monotone) {
    NoiseSchedule s;
    cr_assert_eq(schedule_init(&s, SCHED_SCALED_LINEAR, 1000, 0.00085, 0.012), 0);
    cr_expect_float_eq(s.beta[999], 0.012, 1e-12);
    cr_expect_float_eq(s.beta[500], pow(sqrt(0.00085) + (sqrt(0.012) - sqrt(0.00085)) * 500 / 999.0, 2), 1e-15);
    for (int t = 1; t < 1000; t++) cr_assert(s.alpha_bar[t] < s.alpha_bar[t - 1]);
    schedule_free(&s);
    cr_assert_eq(schedule_init(&s, SCHED_COSINE, 1000, 0, 0), 0);
    for (int t = 1; t < 1000; t++) cr_assert(s.alpha_bar[t] < s.alpha_bar[t - 1] && s.beta[t] <= 0.999);
    cr_expect(fabs(s.alpha_bar[499] - 0.5) < 0.05, "cosine abar at T/2 = %g", s.alpha_bar[499]);
    schedule_free(&s);
    cr_expect_eq(schedule_init(&s, SCHED_LINEAR, 1000, 0.02, 1e-4), -1, "decreasing betas are refused");
    cr_expect_eq(schedule_init(&s, SCHED_LINEAR, 1, 1e-4, 0.02), -1);
}

Test(models_config, describe_lists_presets_and_fields) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    describe_presets(f);
    ModelConfig c;
    cfg_preset(&c, "adni");
    describe_config(&c, f);
    fclose(f);
    cr_expect(strstr(buf, "adni      256x256x1 -> latent 4x32x32 (f8), 2 classes (AD,NC); VAE 20.94M, U-Net 31.24M"),
              "%s", buf);
    cr_expect(strstr(buf, "fashion   32x32x1 -> latent 4x8x8 (f4), 10 classes"), "%s", buf);
    cr_expect(strstr(buf, "oasis") && strstr(buf, "unconditional"), "%s", buf);
    cr_expect(strstr(buf, "U-Net levels: 32x32:128 16x16:256+attn 8x8:256+attn, middle 8x8+attn"), "%s", buf);
    cr_expect(strstr(buf, "head_dim     = 64"), "%s", buf);
    printf("%s", buf);
    free(buf);
}

/* LDM sums the reconstruction over pixels and the KL over latent elements; ours are means,
 * so LDM's kl_weight = kl_beta * pixels / latent elements. */
Test(models_config, kl_weight_in_ldm_convention) {
    ModelConfig c;
    cr_assert_eq(cfg_preset(&c, "demo"), 0);   /* 64x64x1 -> 16x16x4: 4096 / 1024 */
    cr_expect_float_eq(cfg_kl_weight_ldm(&c), 4 * (double)c.kl_beta, 1e-12);
    cr_assert_eq(cfg_preset(&c, "adni"), 0);   /* 256x256x1 -> 32x32x4: 65536 / 4096 */
    cr_expect_float_eq(cfg_kl_weight_ldm(&c), 16 * (double)c.kl_beta, 1e-12);
    cr_assert_eq(cfg_set(&c, "channels", "3"), 0);
    cr_assert_eq(cfg_set(&c, "latent_ch", "8"), 0);
    cr_expect_float_eq(cfg_kl_weight_ldm(&c), 24 * (double)c.kl_beta, 1e-12);
}

/* A config stored before unet_attn and unet_dropout existed still loads, as the model it
 * was: basic attention, no dropout. Other fields stay required. */
Test(models_config, older_configs_load_without_the_optional_fields) {
    ModelConfig c, back;
    cr_assert_eq(cfg_preset(&c, "demo"), 0);
    cr_assert_eq(cfg_set(&c, "unet_attn", "transformer"), 0, "%s", ldm_last_error());
    cr_assert_eq(cfg_set(&c, "unet_dropout", "0.1"), 0);
    char text[4096], old[4096] = "";
    cr_assert_gt(cfg_to_string(&c, text, sizeof text), 0);
    cr_assert_eq(cfg_from_string(&back, text), 0, "%s", ldm_last_error());
    cr_expect_eq(back.unet_attn, ATTN_TRANSFORMER);
    cr_expect_float_eq(back.unet_dropout, 0.1f, 1e-9);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (strncmp(line, "unet_attn=", 10) && strncmp(line, "unet_dropout=", 13)) strcat(old, line), strcat(old, "\n");
    cr_assert_eq(cfg_from_string(&back, old), 0, "%s", ldm_last_error());
    cr_expect_eq(back.unet_attn, ATTN_BASIC);
    cr_expect_eq(back.unet_dropout, 0.0f);
    char *p = strstr(old, "ctx_dim=");
    cr_assert_not_null(p);
    memcpy(p, "xxx_dim", 7);
    cr_expect_neq(cfg_from_string(&back, old), 0, "a required field is still required");
    cr_assert_eq(cfg_set(&c, "unet_dropout", "1"), 0);
    cr_expect_neq(cfg_validate(&c), 0, "a dropout rate of 1 drops everything");
    cr_expect(strstr(ldm_last_error(), "unet_dropout"), "%s", ldm_last_error());
}
