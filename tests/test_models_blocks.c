/* tests/test_models_blocks.c — the model's blocks against plain double-precision loops
 * written from their definitions (models/blocks.h), on random parameters:
 *   ResBlock    x + conv2(SiLU(GN2(conv1(SiLU(GN1(x)))) (1 + scale) + shift)), scale and
 *               shift = the halves of Linear(emb); with a 1x1 skip conv when cin != cout;
 *   AttnBlock   x + proj(MHA(q(n), k(n), v(n))), n = GN(x), scale 1/sqrt(C/heads);
 *   CrossAttn   x + proj(MHA(q(n), k(ctx), v(ctx))), n = LayerNorm(x);
 *   SpatialTransformer  x + proj_out(h3): h0 = proj_in(GN(x)), h1 = h0 + out1(MHA(LN1 h0)),
 *               h2 = h1 + out2(MHA(q(LN2 h1), k(ctx), v(ctx))), h3 = h2 + ff_out(u gelu(g)),
 *               (u, g) = ff_in(LN3 h2), gelu(g) = g sigmoid(1.702 g);
 *   dropout     the kept share, the 1/(1-p) scale, the same mask from the same draws, the
 *               offset advanced, the gradient through the mask, and nothing without gradients;
 *   vae_loss    mean (x_hat - x)^2 + beta mean KL(N(mean, e^logvar) || N(0, 1));
 *   unet_loss   mean (eps(sqrt(abar_t) z0 + sqrt(1 - abar_t) noise, t) - noise)^2.
 * Gradient checks cannot see a wrong forward (the backward follows it); these do: a lost
 * residual, swapped scale and shift, keys from the wrong tensor, a loss with the wrong
 * target or weight. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/philox.h"
#include "models/blocks.h"
#include "models/unet.h"
#include "models/vae.h"
#include "tests/util/testutil.h"

// ----------------------------------------------------------------------------
// references: NHWC in double, N images of L = H*W pixels

static double silu(double v) { return v / (1 + exp(-v)); }

/* group norm over (L, C/groups) per image and group; groups = 0: layer norm per pixel */
static void ref_norm(const double *x, int N, int L, int C, int groups, const Tensor *w, const Tensor *b, bool act,
                     double *y) {
    const int G = groups ? groups : 1, cg = C / G;
    const int units = groups ? N * G : N * L; /* what one mean and variance cover */
    for (int u = 0; u < units; u++) {
        int n = groups ? u / G : u / L, g = groups ? u % G : 0;
        int p0 = groups ? 0 : u % L, p1 = groups ? L : p0 + 1, c0 = groups ? g * cg : 0, c1 = groups ? c0 + cg : C;
        double s = 0, ss = 0, m = (double)(p1 - p0) * (c1 - c0);
        for (int p = p0; p < p1; p++)
            for (int c = c0; c < c1; c++) s += x[((size_t)n * L + p) * C + c];
        double mu = s / m;
        for (int p = p0; p < p1; p++)
            for (int c = c0; c < c1; c++) ss += pow(x[((size_t)n * L + p) * C + c] - mu, 2);
        double r = 1 / sqrt(ss / m + NORM_EPS);
        for (int p = p0; p < p1; p++)
            for (int c = c0; c < c1; c++) {
                size_t i = ((size_t)n * L + p) * C + c;
                double z = (x[i] - mu) * r * w->data[c] + b->data[c];
                y[i] = act ? silu(z) : z;
            }
    }
}

/* stride-1 "same" convolution, w (K, R, R, C) */
static void ref_conv(const double *x, int N, int H, int W, int C, const Conv *cv, double *y) {
    const int K = cv->w->shape[0], R = cv->w->shape[1], pad = R / 2;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                for (int k = 0; k < K; k++) {
                    double s = cv->b->data[k];
                    for (int r = 0; r < R; r++)
                        for (int q = 0; q < R; q++) {
                            int yi = i + r - pad, xj = j + q - pad;
                            if (yi < 0 || yi >= H || xj < 0 || xj >= W) continue;
                            for (int c = 0; c < C; c++)
                                s += cv->w->data[(((size_t)k * R + r) * R + q) * C + c] *
                                     x[(((size_t)n * H + yi) * W + xj) * C + c];
                        }
                    y[(((size_t)n * H + i) * W + j) * K + k] = s;
                }
}

/* rows x (rows, in) -> (rows, out) */
static void ref_linear(const double *x, int rows, const Linear *l, double *y) {
    const int out = l->w->shape[0], in = l->w->shape[1];
    for (int r = 0; r < rows; r++)
        for (int o = 0; o < out; o++) {
            double s = l->b ? l->b->data[o] : 0;
            for (int i = 0; i < in; i++) s += l->w->data[(size_t)o * in + i] * x[(size_t)r * in + i];
            y[(size_t)r * out + o] = s;
        }
}

/* softmax(q k^T / sqrt(d)) v per image and head; q (N, Lq, C), k and v (N, Lk, C) */
static void ref_mha(const double *q, const double *k, const double *v, int N, int Lq, int Lk, int C, int heads,
                    double *o) {
    const int d = C / heads;
    double *s = malloc((size_t)Lk * sizeof(double));
    for (int n = 0; n < N; n++)
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < Lq; i++) {
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < Lk; j++) {
                    double dot = 0;
                    for (int e = 0; e < d; e++)
                        dot += q[((size_t)n * Lq + i) * C + h * d + e] * k[((size_t)n * Lk + j) * C + h * d + e];
                    s[j] = dot / sqrt((double)d);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j < Lk; j++) sum += s[j] = exp(s[j] - mx);
                for (int e = 0; e < d; e++) {
                    double acc = 0;
                    for (int j = 0; j < Lk; j++) acc += s[j] * v[((size_t)n * Lk + j) * C + h * d + e];
                    o[((size_t)n * Lq + i) * C + h * d + e] = acc / sum;
                }
            }
    free(s);
}

// ----------------------------------------------------------------------------
// helpers

static double *to_double(const Tensor *t) {
    double *d = calloc(t->numel, sizeof(double));
    for (size_t i = 0; i < t->numel; i++) d[i] = t->data[i];
    return d;
}

static double *dalloc(size_t n) { return calloc(n, sizeof(double)); }

/* max |got - want| / (1 + |want|) */
static double max_err(const Tensor *got, const double *want) {
    double m = 0;
    for (size_t i = 0; i < got->numel; i++) {
        double e = fabs(got->data[i] - want[i]) / (1 + fabs(want[i]));
        m = isnan(e) ? INFINITY : fmax(m, e);
    }
    return m;
}

static Arena *arena;
static Tape tape;
static void setup(void) {
    arena = arena_create(DEV_CPU, (size_t)32 << 20, (size_t)4 << 20);
    tape_init(&tape, arena);
    tape_set_grad_enabled(&tape, false);
}
static void teardown(void) { arena_destroy(arena); }
TestSuite(models_blocks, .init = setup, .fini = teardown);

/* fp32 kernels against double references over sums of at most a few hundred O(1)
 * terms: measured errors are below 5e-7 */
#define BLOCK_TOL 1e-5

// ----------------------------------------------------------------------------
// tests

static void check_resblock(int cin, int cout) {
    const int N = 2, H = 5, W = 6, L = H * W, E = 12, G = 2;
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 3, true, false);
    ResBlock r;
    cr_assert_eq(resblock_init(&r, &ps, "rb", cin, cout, E, G, false), 0, "%s", ldm_last_error());
    cr_assert_eq(ps_randomize(&ps, 4, 0.4f), 0);
    cr_assert_eq(r.has_skip, cin != cout);
    Tensor *x = tu_data(4, (int[]){N, H, W, cin}, 5, -1, 1), *emb = tu_data(2, (int[]){N, E}, 6, -1, 1);
    Tensor *y = resblock_forward(&r, &tape, x, emb, NULL);
    cr_assert(y, "%s", ldm_last_error());

    const size_t n_in = (size_t)N * L * cin, n_out = (size_t)N * L * cout;
    double *dx = to_double(x), *de = to_double(emb), *a = dalloc(n_in), *h = dalloc(n_out), *h2 = dalloc(n_out),
           *e = dalloc((size_t)N * 2 * cout), *s = dalloc(n_out);
    ref_norm(dx, N, L, cin, G, r.norm1.w, r.norm1.b, true, a);
    ref_conv(a, N, H, W, cin, &r.conv1, h);
    ref_linear(de, N, &r.emb, e); /* (N, 2 cout): scale, then shift */
    ref_norm(h, N, L, cout, G, r.norm2.w, r.norm2.b, false, h2);
    for (int n = 0; n < N; n++)
        for (int p = 0; p < L; p++)
            for (int c = 0; c < cout; c++) {
                size_t i = ((size_t)n * L + p) * cout + c;
                h2[i] = silu(h2[i] * (1 + e[n * 2 * cout + c]) + e[n * 2 * cout + cout + c]);
            }
    ref_conv(h2, N, H, W, cout, &r.conv2, h);
    if (r.has_skip)
        ref_conv(dx, N, H, W, cin, &r.skip, s);
    else
        memcpy(s, dx, x->numel * sizeof(double));
    for (size_t i = 0; i < y->numel; i++) h[i] += s[i];
    double err = max_err(y, h);
    printf("ResBlock %d -> %d: max error vs the double reference %.2e\n", cin, cout, err);
    cr_expect_leq(err, BLOCK_TOL, "ResBlock %d -> %d: %g", cin, cout, err);
    free(dx), free(de), free(a), free(h), free(h2), free(e), free(s);
    tensor_free(x);
    tensor_free(emb);
    ps_free(&ps);
}

Test(models_blocks, resblock_matches_its_definition) {
    check_resblock(4, 4);
    check_resblock(4, 8);
}

Test(models_blocks, self_attention_matches_its_definition) {
    const int N = 2, H = 3, W = 4, L = H * W, C = 8, G = 2;
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 7, true, false);
    AttnBlock a;
    cr_assert_eq(attn_init(&a, &ps, "attn", C, 4, G, false), 0, "%s", ldm_last_error());
    cr_assert_eq(a.heads, 2);
    cr_assert_eq(ps_randomize(&ps, 8, 0.5f), 0);
    Tensor *x = tu_data(4, (int[]){N, H, W, C}, 9, -1, 1);
    Tensor *y = attn_forward(&a, &tape, x);
    cr_assert(y, "%s", ldm_last_error());
    size_t n = x->numel;
    double *dx = to_double(x), *nx = dalloc(n), *q = dalloc(n), *k = dalloc(n), *v = dalloc(n), *o = dalloc(n),
           *p = dalloc(n);
    ref_norm(dx, N, L, C, G, a.norm.w, a.norm.b, false, nx);
    ref_linear(nx, N * L, &a.q, q);
    ref_linear(nx, N * L, &a.k, k);
    ref_linear(nx, N * L, &a.v, v);
    ref_mha(q, k, v, N, L, L, C, a.heads, o);
    ref_linear(o, N * L, &a.proj, p);
    for (size_t i = 0; i < n; i++) p[i] += dx[i];
    double err = max_err(y, p);
    printf("AttnBlock: max error vs the double reference %.2e\n", err);
    cr_expect_leq(err, BLOCK_TOL, "%g", err);
    free(dx), free(nx), free(q), free(k), free(v), free(o), free(p);
    tensor_free(x);
    ps_free(&ps);
}

Test(models_blocks, cross_attention_matches_its_definition) {
    const int N = 2, H = 2, W = 3, L = H * W, C = 8, T = 3, D = 5;
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 10, true, false);
    CrossAttnBlock a;
    cr_assert_eq(xattn_init(&a, &ps, "xattn", C, D, 4, false), 0, "%s", ldm_last_error());
    cr_assert_eq(ps_randomize(&ps, 11, 0.5f), 0);
    Tensor *x = tu_data(4, (int[]){N, H, W, C}, 12, -1, 1), *ctx = tu_data(3, (int[]){N, T, D}, 13, -1, 1);
    Tensor *y = xattn_forward(&a, &tape, x, ctx);
    cr_assert(y, "%s", ldm_last_error());
    size_t n = x->numel;
    double *dx = to_double(x), *dc = to_double(ctx), *nx = dalloc(n), *q = dalloc(n), *k = dalloc((size_t)N * T * C),
           *v = dalloc((size_t)N * T * C), *o = dalloc(n), *p = dalloc(n);
    ref_norm(dx, N, L, C, 0, a.norm.w, a.norm.b, false, nx);
    ref_linear(nx, N * L, &a.q, q);
    ref_linear(dc, N * T, &a.k, k);
    ref_linear(dc, N * T, &a.v, v);
    ref_mha(q, k, v, N, L, T, C, a.heads, o);
    ref_linear(o, N * L, &a.proj, p);
    for (size_t i = 0; i < n; i++) p[i] += dx[i];
    double err = max_err(y, p);
    printf("CrossAttnBlock: max error vs the double reference %.2e\n", err);
    cr_expect_leq(err, BLOCK_TOL, "%g", err);
    free(dx), free(dc), free(nx), free(q), free(k), free(v), free(o), free(p);
    tensor_free(x);
    tensor_free(ctx);
    ps_free(&ps);
}

static void check_transformer(bool cross) {
    const int N = 2, H = 2, W = 3, L = H * W, C = 8, T = 3, D = cross ? 5 : 0, G = 2, I = 4 * C;
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 30, true, false);
    SpatialTransformer a;
    cr_assert_eq(transformer_init(&a, &ps, "tf", C, D, 4, G), 0, "%s", ldm_last_error());
    cr_assert_eq(a.heads, 2);
    cr_assert_eq(ps_randomize(&ps, 31, 0.5f), 0); /* proj_out is zero-initialised: randomise it too */
    Tensor *x = tu_data(4, (int[]){N, H, W, C}, 32, -1, 1), *ctx = cross ? tu_data(3, (int[]){N, T, D}, 33, -1, 1) : NULL;
    Tensor *y = transformer_forward(&a, &tape, x, ctx);
    cr_assert(y, "%s", ldm_last_error());
    const size_t n = x->numel;
    double *dx = to_double(x), *h = dalloc(n), *nx = dalloc(n), *q = dalloc(n), *o = dalloc(n), *r = dalloc(n);
    double *k = dalloc((size_t)N * (L > T ? L : T) * C), *v = dalloc((size_t)N * (L > T ? L : T) * C);
    double *f = dalloc((size_t)N * L * 2 * I), *u = dalloc((size_t)N * L * I);
    ref_norm(dx, N, L, C, G, a.norm.w, a.norm.b, false, nx);
    ref_linear(nx, N * L, &a.proj_in, h);
    ref_norm(h, N, L, C, 0, a.ln1.w, a.ln1.b, false, nx); /* self-attention */
    ref_linear(nx, N * L, &a.q1, q), ref_linear(nx, N * L, &a.k1, k), ref_linear(nx, N * L, &a.v1, v);
    ref_mha(q, k, v, N, L, L, C, a.heads, o);
    ref_linear(o, N * L, &a.out1, r);
    for (size_t i = 0; i < n; i++) h[i] += r[i];
    if (cross) {
        double *dc = to_double(ctx);
        ref_norm(h, N, L, C, 0, a.ln2.w, a.ln2.b, false, nx);
        ref_linear(nx, N * L, &a.q2, q), ref_linear(dc, N * T, &a.k2, k), ref_linear(dc, N * T, &a.v2, v);
        ref_mha(q, k, v, N, L, T, C, a.heads, o);
        ref_linear(o, N * L, &a.out2, r);
        for (size_t i = 0; i < n; i++) h[i] += r[i];
        free(dc);
    }
    ref_norm(h, N, L, C, 0, a.ln3.w, a.ln3.b, false, nx); /* GEGLU feed-forward */
    ref_linear(nx, N * L, &a.ff_in, f);
    for (int p = 0; p < N * L; p++)
        for (int j = 0; j < I; j++) {
            const double g = f[(size_t)p * 2 * I + I + j];
            u[(size_t)p * I + j] = f[(size_t)p * 2 * I + j] * g / (1 + exp(-1.702 * g));
        }
    ref_linear(u, N * L, &a.ff_out, r);
    for (size_t i = 0; i < n; i++) h[i] += r[i];
    ref_linear(h, N * L, &a.proj_out, r);
    for (size_t i = 0; i < n; i++) r[i] += dx[i];
    double err = max_err(y, r);
    printf("SpatialTransformer%s: max error vs the double reference %.2e\n", cross ? " (cross)" : "", err);
    cr_expect_leq(err, BLOCK_TOL, "%g", err);
    free(dx), free(h), free(nx), free(q), free(o), free(r), free(k), free(v), free(f), free(u);
    tensor_free(x);
    tensor_free(ctx);
    ps_free(&ps);
}

Test(models_blocks, spatial_transformer_matches_its_definition) {
    check_transformer(true);
    check_transformer(false);
}

Test(models_blocks, dropout_keeps_scales_and_replays_its_mask) {
    const int n = 150000; /* more than two of dropout_forward's staging chunks */
    const float p = 0.25f;
    Tensor *src = tu_data(1, (int[]){n}, 40, 0.5f, 1.5f), *x = tensor_param(DEV_CPU, 1, (int[]){n}, "x");
    cr_assert(src && x);
    memcpy(x->data, src->data, (size_t)n * sizeof(float));
    tensor_free(src);
    uint64_t off = 1000;
    DropoutRng rng = {77, &off};
    cr_expect_eq(dropout_forward(&tape, x, 0, &rng), x, "p = 0: x itself");
    cr_expect_eq(dropout_forward(&tape, x, p, NULL), x, "no draws: x itself");
    tape_set_grad_enabled(&tape, false);
    cr_expect_eq(dropout_forward(&tape, x, p, &rng), x, "no gradients (evaluation): x itself");
    tape_set_grad_enabled(&tape, true);
    cr_expect_eq(off, 1000, "nothing drawn");
    Tensor *y = dropout_forward(&tape, x, p, &rng);
    cr_assert(y && y != x, "%s", ldm_last_error());
    cr_expect_eq(off, 1000 + (uint64_t)n, "the offset moves past the mask");
    int dropped = 0;
    for (int i = 0; i < n; i++) {
        const bool keep = philox_uniform(77, 1000 + (uint64_t)i) >= p;
        dropped += !keep;
        cr_assert_float_eq(y->data[i], keep ? x->data[i] / (1 - p) : 0.0f, 1e-6f, "element %d", i);
    }
    cr_expect(fabs((double)dropped / n - p) < 0.015, "dropped %d of %d", dropped, n);
    /* d sum(y) / dx = the mask */
    cr_assert_eq(tape_backward(&tape, ag_sum(&tape, y), NULL), 0, "%s", ldm_last_error());
    for (int i = 0; i < n; i++) cr_assert_float_eq(x->grad[i], y->data[i] == 0 ? 0.0f : 1 / (1 - p), 1e-6f, "grad %d", i);
    off = 1000;
    Tensor *y2 = dropout_forward(&tape, x, p, &rng);
    cr_assert(y2);
    cr_expect_eq(memcmp(y->data, y2->data, (size_t)n * sizeof(float)), 0, "the same draws, the same mask");
    tensor_free(x);
}

// ----------------------------------------------------------------------------
// the losses, from their definitions

static void tiny_config(ModelConfig *c) {
    cfg_preset(c, "demo");
    const char *kv[] = {"image_size=16", "data_size=16", "vae_ch=8",   "vae_mult=1,2",  "vae_res=1",
                        "vae_groups=2",  "recon=mse",    "kl_beta=0.5", "unet_ch=8",     "unet_mult=1,2",
                        "unet_res=1",    "attn_res=4",   "head_dim=8", "unet_groups=4", "ctx_tokens=2",
                        "ctx_dim=6"};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        cr_assert_eq(cfg_set_arg(c, kv[i]), 0, "%s", ldm_last_error());
    cr_assert_eq(cfg_validate(c), 0, "%s", ldm_last_error());
}

/* loss = mean (x_hat - x)^2 + beta mean KL, x_hat = decode(mean + e^(logvar/2) noise) */
Test(models_blocks, vae_loss_is_recon_plus_beta_kl) {
    ModelConfig cfg;
    tiny_config(&cfg);
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 14, true, false);
    VAE v;
    cr_assert_eq(vae_init(&v, &ps, &cfg), 0, "%s", ldm_last_error());
    cr_assert_eq(ps_randomize(&ps, 15, 0.3f), 0);
    Tensor *x = tu_data(4, (int[]){2, 16, 16, 1}, 16, -1, 1), *noise = tu_data(4, (int[]){2, 8, 8, 4}, 17, -1, 1);
    VAEOutput o;
    cr_assert(vae_loss(&v, &tape, x, noise, &o), "%s", ldm_last_error());
    Tensor *mean, *logvar;
    cr_assert_eq(vae_encode(&v, &tape, x, &mean, &logvar), 0, "%s", ldm_last_error());
    Tensor *z = tensor_like(arena, mean);
    double kl = 0, recon = 0;
    for (size_t i = 0; i < z->numel; i++) {
        double m = mean->data[i], lv = logvar->data[i];
        cr_assert(lv > -20 && lv < 10, "logvar %g: outside the range this reference assumes unclamped", lv);
        z->data[i] = (float)(m + exp(lv / 2) * noise->data[i]);
        kl += 0.5 * (m * m + exp(lv) - 1 - lv);
    }
    kl /= (double)z->numel;
    Tensor *xh = vae_decode(&v, &tape, z);
    cr_assert(xh, "%s", ldm_last_error());
    for (size_t i = 0; i < x->numel; i++) recon += pow((double)xh->data[i] - x->data[i], 2);
    recon /= (double)x->numel;
    double want = recon + 0.5 * kl;
    printf("VAE loss %.7f = recon %.7f + 0.5 kl %.7f (reference %.7f)\n", (double)o.loss->data[0],
           (double)o.recon->data[0], (double)o.kl->data[0], want);
    cr_expect_leq(fabs(o.recon->data[0] - recon), 1e-5 * (1 + recon), "recon %g vs %g", o.recon->data[0], recon);
    cr_expect_leq(fabs(o.kl->data[0] - kl), 1e-5 * (1 + kl), "kl %g vs %g", o.kl->data[0], kl);
    cr_expect_leq(fabs(o.loss->data[0] - want), 1e-5 * (1 + want), "loss %g vs %g", o.loss->data[0], want);
    cr_expect_gt(kl, 1e-3, "the KL term must matter for this test to mean anything");
    tensor_free(x);
    tensor_free(noise);
    ps_free(&ps);
}

/* loss = mean (eps_theta(sqrt(abar_t) z0 + sqrt(1 - abar_t) noise, t) - noise)^2 */
Test(models_blocks, unet_loss_is_the_noise_mse) {
    ModelConfig cfg;
    tiny_config(&cfg);
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 18, true, false);
    UNet m;
    NoiseSchedule sched;
    cr_assert_eq(unet_init(&m, &ps, &cfg), 0, "%s", ldm_last_error());
    cr_assert_eq(schedule_from_config(&sched, &cfg), 0);
    cr_assert_eq(ps_randomize(&ps, 19, 0.3f), 0);
    Tensor *z0 = tu_data(4, (int[]){2, 8, 8, 4}, 20, -1, 1), *noise = tu_data(4, (int[]){2, 8, 8, 4}, 21, -1, 1);
    Tensor *labels = tu_data(1, (int[]){2}, 22, 0, 1), *ts = tu_data(1, (int[]){2}, 23, 0, 1);
    const int t[2] = {37, 700};
    labels->data[0] = 0, labels->data[1] = 2;
    ts->data[0] = (float)t[0], ts->data[1] = (float)t[1];
    Tensor *loss = unet_loss(&m, &tape, &sched, z0, noise, t, labels);
    cr_assert(loss, "%s", ldm_last_error());
    Tensor *xt = tensor_like(arena, z0);
    const size_t per = z0->numel / 2;
    for (size_t i = 0; i < z0->numel; i++) {
        double ab = sched.alpha_bar[t[i / per]];
        xt->data[i] = (float)(sqrt(ab) * z0->data[i] + sqrt(1 - ab) * noise->data[i]);
    }
    Tensor *eps = unet_forward(&m, &tape, xt, ts, labels);
    cr_assert(eps, "%s", ldm_last_error());
    double want = 0;
    for (size_t i = 0; i < eps->numel; i++) want += pow((double)eps->data[i] - noise->data[i], 2);
    want /= (double)eps->numel;
    printf("U-Net loss %.7f (reference %.7f)\n", (double)loss->data[0], want);
    cr_expect_leq(fabs(loss->data[0] - want), 1e-5 * (1 + want), "loss %g vs %g", loss->data[0], want);
    tensor_free(z0);
    tensor_free(noise);
    tensor_free(labels);
    tensor_free(ts);
    schedule_free(&sched);
    ps_free(&ps);
}
