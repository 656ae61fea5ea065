/* tests/test_bench.c — bench/shapes and the op table's napkin-math FLOP and byte formulas
 * on preset shapes worked out by hand, and the shapes table against a trace of the real forward passes
 * (every conv2d, norm, attention, linear, SiLU, add and upsample node the tape records,
 * with its shape and how often it runs). No timing is asserted. */
#include <criterion/criterion.h>
#include <string.h>

#include "bench/ops/op_table.h"
#include "bench/shapes.h"
#include "core/error.h"
#include "models/unet.h"
#include "models/vae.h"

// ----------------------------------------------------------------------------
// formulas: the op table's FLOP and byte counts of preset shapes (bench/ops/op_table.h;
// bytes: inputs read once, outputs written once, accumulated gradients read and written)

static double fl(BenchShape s, BenchPass p) {
    const OpDef *op = op_find(bench_kind_name(s.kind));
    OpCase c;
    cr_assert(op && op_case_from_shape(op, &s, &c) == 0, "%s", ldm_last_error());
    const int i = op_pass_index(op, bench_pass_name(p));
    cr_assert_geq(i, 0, "%s has no pass %s", op->name, bench_pass_name(p));
    return op_flops(&c, i);
}
static double by(BenchShape s, BenchPass p) {
    const OpDef *op = op_find(bench_kind_name(s.kind));
    OpCase c;
    cr_assert(op && op_case_from_shape(op, &s, &c) == 0, "%s", ldm_last_error());
    return op_bytes(&c, op_pass_index(op, bench_pass_name(p)));
}

Test(bench, conv_flops_and_bytes) {
    /* 3x3, 128 -> 128, 32x32, batch 8, stride 1: P = Q = 32 */
    BenchShape s = {.kind = BK_CONV2D, .n = 8, .h = 32, .w = 32, .c = 128, .k = 128, .r = 3, .stride = 1};
    double flop = 2.0 * 8 * 32 * 32 * 128 * 128 * 9;
    cr_assert_float_eq(fl(s, BP_FWD), flop, 1);
    cr_assert_float_eq(fl(s, BP_DGRAD), flop, 1);
    cr_assert_float_eq(fl(s, BP_WGRAD), flop, 1);
    double x = 8.0 * 32 * 32 * 128, w = 128.0 * 9 * 128;
    cr_assert_float_eq(by(s, BP_FWD), 4 * (x + w + 128 + x), 1);
    cr_assert_float_eq(by(s, BP_DGRAD), 4 * (x + w + 2 * x), 1);
    cr_assert_float_eq(by(s, BP_WGRAD), 4 * (x + x + 2 * w + 2 * 128), 1); /* dw and db */
    /* stride 2 on 33x33 (odd): P = Q = (33 + 2 - 3) / 2 + 1 = 17 */
    BenchShape d = {.kind = BK_CONV2D, .n = 1, .h = 33, .w = 33, .c = 4, .k = 6, .r = 3, .stride = 2};
    cr_assert_float_eq(fl(d, BP_FWD), 2.0 * 17 * 17 * 6 * 9 * 4, 1e-6);
    /* 1x1 keeps the size */
    BenchShape o = {.kind = BK_CONV2D, .n = 2, .h = 5, .w = 7, .c = 3, .k = 5, .r = 1, .stride = 1};
    cr_assert_float_eq(fl(o, BP_FWD), 2.0 * 2 * 5 * 7 * 5 * 3, 1e-6);
}

Test(bench, attention_linear_norm_formulas) {
    BenchShape a = {.kind = BK_ATTENTION, .n = 2, .lq = 256, .lk = 4, .heads = 4, .d = 32};
    cr_assert_float_eq(fl(a, BP_FWD), 4.0 * 2 * 4 * 256 * 4 * 32, 1e-6);
    cr_assert_float_eq(fl(a, BP_BWD), 10.0 * 2 * 4 * 256 * 4 * 32, 1e-6);
    double C = 128;
    cr_assert_float_eq(by(a, BP_FWD), 4.0 * 2 * (2 * 256 * C + 2 * 4 * C + 4 * 256), 1e-6);
    BenchShape l = {.kind = BK_LINEAR, .rows = 10, .in = 3, .out = 7};
    cr_assert_float_eq(fl(l, BP_FWD), 2.0 * 10 * 3 * 7, 1e-9);
    cr_assert_float_eq(fl(l, BP_BWD), 4.0 * 10 * 3 * 7, 1e-9);
    cr_assert_float_eq(by(l, BP_FWD), 4.0 * (30 + 21 + 7 + 70), 1e-9);
    /* group norm: x, y, dy, dx per element; gamma, beta (C = 8) and mean, rstd (N G = 4) too */
    BenchShape g = {.kind = BK_GROUP_NORM, .n = 2, .h = 4, .w = 4, .c = 8, .groups = 2, .silu = 1};
    cr_assert_float_eq(by(g, BP_FWD), 8.0 * 256 + 4.0 * (8 + 8 + 4 + 4), 1e-9);
    cr_assert_float_eq(by(g, BP_BWD), 16.0 * 256 + 4.0 * (8 + 8 + 4 + 4 + 2 * 8 + 2 * 8), 1e-9);
    cr_assert_float_eq(fl(g, BP_FWD), 12.0 * 256, 1e-9);
    g.silu = 0;
    cr_assert_float_eq(fl(g, BP_FWD), 8.0 * 256, 1e-9);
    /* AdamW: the gradient read; parameters, m and v read and written */
    BenchShape ad = {.kind = BK_ADAMW, .numel = 1000};
    cr_assert_float_eq(by(ad, BP_STEP), 28000, 1e-9);
    BenchShape up = {.kind = BK_UPSAMPLE, .n = 1, .h = 2, .w = 3, .c = 4};
    cr_assert_float_eq(by(up, BP_FWD), 20.0 * 24, 1e-9);
    BenchShape add = {.kind = BK_ADD, .numel = 10};
    cr_assert_float_eq(by(add, BP_FWD), 120, 1e-9);
}

Test(bench, names_and_passes) {
    for (int k = 0; k < BK_N_KINDS; k++) cr_assert_eq(bench_kind_parse(bench_kind_name((BenchKind)k)), k);
    cr_assert_eq(bench_kind_parse("conv3d"), -1);
    BenchPass p[4];
    cr_assert_eq(bench_passes(BK_CONV2D, p), 3);
    cr_assert_eq(p[2], BP_WGRAD);
    cr_assert_eq(bench_passes(BK_ADAMW, p), 1);
    cr_assert_eq(p[0], BP_STEP);
}

Test(bench, bad_arguments) {
    ModelConfig cfg;
    cfg_preset(&cfg, "demo");
    BenchShape s[4];
    cr_assert_eq(shapes_for_preset(&cfg, 0, s, 4), -1);
    cr_assert(strstr(ldm_last_error(), "batch"));
    cr_assert_eq(shapes_for_preset(&cfg, 1, s, 4), -1); /* far more than 4 distinct shapes */
    cr_assert(strstr(ldm_last_error(), "shapes"), "%s", ldm_last_error());
    cr_assert_eq(shapes_for_preset(NULL, 1, s, 4), -1);
}

// ----------------------------------------------------------------------------
// the table against the tape

/* The node's shape in the table's terms; false for nodes the table does not list. */
static bool node_shape(const TapeNode *n, BenchShape *s) {
    memset(s, 0, sizeof *s);
    const Tensor *x = n->in[0];
    if (!strcmp(n->op, "conv2d")) {
        *s = (BenchShape){.kind = BK_CONV2D, .n = x->shape[0], .h = x->shape[1], .w = x->shape[2], .c = x->shape[3],
                          .k = n->in[1]->shape[0], .r = n->in[1]->shape[1], .stride = n->iarg[0]};
        cr_assert_eq(n->iarg[1], s->r / 2, "conv pad %d for a %dx%d kernel", n->iarg[1], s->r, s->r);
    } else if (!strncmp(n->op, "group_norm", 10)) {
        *s = (BenchShape){.kind = BK_GROUP_NORM, .n = x->shape[0], .h = x->shape[1], .w = x->shape[2],
                          .c = x->shape[3], .groups = n->iarg[0], .silu = n->iarg[1]};
    } else if (!strcmp(n->op, "layer_norm")) {
        *s = (BenchShape){.kind = BK_LAYER_NORM, .rows = (int)tensor_rows(x), .in = tensor_cols(x)};
    } else if (!strcmp(n->op, "linear")) {
        *s = (BenchShape){.kind = BK_LINEAR, .rows = (int)tensor_rows(x), .in = tensor_cols(x),
                          .out = n->in[1]->shape[0]};
    } else if (!strcmp(n->op, "attention")) {
        int heads = n->iarg[0], C = tensor_cols(x);
        *s = (BenchShape){.kind = BK_ATTENTION, .n = x->shape[0], .lq = (int)(x->numel / x->shape[0] / C),
                          .lk = (int)(n->in[1]->numel / n->in[1]->shape[0] / C), .heads = heads, .d = C / heads};
    } else if (!strcmp(n->op, "silu")) {
        *s = (BenchShape){.kind = BK_SILU, .numel = (long long)x->numel};
    } else if (!strcmp(n->op, "add")) {
        *s = (BenchShape){.kind = BK_ADD, .numel = (long long)x->numel};
    } else if (!strcmp(n->op, "upsample2x")) {
        *s = (BenchShape){.kind = BK_UPSAMPLE, .n = x->shape[0], .h = x->shape[1], .w = x->shape[2], .c = x->shape[3]};
    } else {
        return false;
    }
    return true;
}

static bool same(const BenchShape *a, const BenchShape *b) {
    BenchShape x = *a, y = *b;
    x.model = y.model = NULL;
    x.count = y.count = 0;
    return !memcmp(&x, &y, sizeof x);
}

/* Every traced node matches a table row of `model`, and the counts agree exactly. */
static void check_trace(const Tape *tp, const BenchShape *tab, int n, const char *model) {
    int seen[SHAPES_MAX] = {0}, nodes = 0;
    for (const TapeNode *nd = tp->last; nd; nd = nd->prev) {
        BenchShape s;
        if (!node_shape(nd, &s)) continue;
        nodes++;
        int i = 0;
        while (i < n && !(strcmp(tab[i].model, model) == 0 && same(&tab[i], &s))) i++;
        char buf[96];
        cr_assert_lt(i, n, "%s: traced %s %s is not in the table", model, bench_kind_name(s.kind),
                     bench_shape_str(&s, buf, sizeof buf));
        seen[i]++;
    }
    cr_assert_gt(nodes, 10);
    for (int i = 0; i < n; i++) {
        if (strcmp(tab[i].model, model) || tab[i].kind == BK_ADAMW) continue;
        char buf[96];
        cr_assert_eq(seen[i], tab[i].count, "%s %s %s: table says %d calls, the forward pass made %d", model,
                     bench_kind_name(tab[i].kind), bench_shape_str(&tab[i], buf, sizeof buf), tab[i].count, seen[i]);
    }
}

static void check_preset(const char *preset, const char *const *overrides, int n_over) {
    ModelConfig cfg;
    cr_assert_eq(cfg_preset(&cfg, preset), 0);
    for (int i = 0; i < n_over; i++) cr_assert_eq(cfg_set_arg(&cfg, overrides[i]), 0, "%s", ldm_last_error());
    const int batch = 2;
    static BenchShape tab[SHAPES_MAX];
    int n = shapes_for_preset(&cfg, batch, tab, SHAPES_MAX);
    cr_assert_gt(n, 0, "%s", ldm_last_error());
    ParamSet pv, pu;
    VAE vae;
    UNet unet;
    ps_init(&pv, DEV_CPU, 1, true, true);
    ps_init(&pu, DEV_CPU, 2, true, true);
    cr_assert_eq(vae_init(&vae, &pv, &cfg), 0, "%s", ldm_last_error());
    cr_assert_eq(unet_init(&unet, &pu, &cfg), 0, "%s", ldm_last_error());
    Arena *a = arena_create(DEV_CPU, (size_t)256 << 20, (size_t)16 << 20);
    Tape tp;
    tape_init(&tp, a);
    int s = cfg.image_size, l = cfg_latent_size(&cfg);
    Tensor *x = tensor_zeros(a, DEV_CPU, 4, (int[]){batch, s, s, cfg.channels});
    Tensor *mean, *logvar;
    cr_assert_eq(vae_encode(&vae, &tp, x, &mean, &logvar), 0, "%s", ldm_last_error());
    cr_assert(vae_decode(&vae, &tp, mean), "%s", ldm_last_error());
    check_trace(&tp, tab, n, "vae");
    arena_reset(a);
    tape_reset(&tp);
    Tensor *z = tensor_zeros(a, DEV_CPU, 4, (int[]){batch, l, l, cfg.latent_ch});
    Tensor *ts = tensor_zeros(a, DEV_CPU, 1, (int[]){batch});
    Tensor *lab = tensor_zeros(a, DEV_CPU, 1, (int[]){batch});
    cr_assert(unet_forward(&unet, &tp, z, ts, lab), "%s", ldm_last_error());
    check_trace(&tp, tab, n, "unet");
    /* AdamW rows: one per model, all its parameters */
    for (int i = 0; i < n; i++)
        if (tab[i].kind == BK_ADAMW)
            cr_assert_eq(tab[i].numel, (long long)(strcmp(tab[i].model, "vae") ? ps_count(&pu) : ps_count(&pv)));
    arena_destroy(a);
    ps_free(&pv);
    ps_free(&pu);
}

Test(bench, demo_table_matches_the_models, .timeout = 120) { check_preset("demo", NULL, 0); }

/* adni's geometry (f8 VAE with 4 levels, U-Net attention at 16 and 8, 4 heads of 64 at the
 * 256-wide levels) at a small width and image size so the trace stays fast. */
Test(bench, adni_geometry_table_matches_the_models, .timeout = 120) {
    const char *kv[] = {"image_size=64", "data_size=64", "vae_ch=8", "vae_groups=4", "unet_ch=16",
                        "unet_groups=4", "head_dim=8",   "attn_res=4,2", "ctx_dim=8"};
    check_preset("adni", kv, 9);
}

Test(bench, adni_table_has_the_reference_shapes) {
    ModelConfig cfg;
    cfg_preset(&cfg, "adni");
    static BenchShape tab[SHAPES_MAX];
    int n = shapes_for_preset(&cfg, 4, tab, SHAPES_MAX);
    cr_assert_gt(n, 0);
    /* VAE: 3x3 64 -> 64 at 256x256; U-Net: 4 heads of 64 over 16x16 = 256 tokens at width
     * 256, cross-attention to 4 class tokens; the time MLP 128 -> 512 */
    BenchShape want[] = {
        {.kind = BK_CONV2D, .model = "vae", .n = 4, .h = 256, .w = 256, .c = 64, .k = 64, .r = 3, .stride = 1},
        {.kind = BK_ATTENTION, .model = "unet", .n = 4, .lq = 256, .lk = 256, .heads = 4, .d = 64},
        {.kind = BK_ATTENTION, .model = "unet", .n = 4, .lq = 256, .lk = 4, .heads = 4, .d = 64},
        {.kind = BK_LINEAR, .model = "unet", .rows = 4, .in = 128, .out = 512},
        {.kind = BK_ATTENTION, .model = "vae", .n = 4, .lq = 1024, .lk = 1024, .heads = 1, .d = 256},
    };
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= !strcmp(tab[i].model, want[w].model) && same(&tab[i], &want[w]);
        char buf[96];
        cr_assert(found, "adni table lacks %s %s %s", want[w].model, bench_kind_name(want[w].kind),
                  bench_shape_str(&want[w], buf, sizeof buf));
    }
}

/* --attn-len: self- and cross-attention per length, 4 heads of 64, batch as given */
Test(bench, long_attention_shapes) {
    BenchShape s[8];
    int lens[] = {1024, 4096};
    cr_assert_eq(shapes_long_attention(3, lens, 2, 4, 64, 4, s, 8), 4);
    for (int i = 0; i < 4; i++) {
        cr_expect_eq(s[i].kind, BK_ATTENTION);
        cr_expect_eq(s[i].n, 3);
        cr_expect_eq(s[i].heads, 4);
        cr_expect_eq(s[i].d, 64);
        cr_expect_eq(s[i].lq, lens[i / 2]);
        cr_expect_eq(s[i].lk, i % 2 ? 4 : lens[i / 2]);
        cr_expect_eq(s[i].count, 1);
        cr_expect_str_eq(s[i].model, "unet");
    }
    cr_expect_eq(shapes_long_attention(3, lens, 2, 4, 64, 4, s, 3), -1); /* table full */
    int bad[] = {0};
    cr_expect_eq(shapes_long_attention(3, bad, 1, 4, 64, 4, s, 8), -1);
    cr_expect_eq(shapes_long_attention(0, lens, 2, 4, 64, 4, s, 8), -1);
}
