/* bench/shapes.h — the op shapes a preset's models actually run, in one table (their FLOP
 * and byte counts are the op table's, bench/ops/op_table.h).
 *
 * shapes_for_preset walks the same construction as models/vae.c and models/unet.c (the
 * VAE: encode + decode of one batch of images; the U-Net: one forward on the latents)
 * and records every conv2d, group norm, layer norm, attention, linear, SiLU, add and
 * 2x upsampling with its shape; equal shapes are merged and counted. AdamW gets one row
 * per model: all its parameters as one flat vector. tests/test_bench.c checks the table
 * against a trace of the real forward pass (the tape's nodes).
 */
#ifndef LDM_BENCH_SHAPES_H
#define LDM_BENCH_SHAPES_H

#include "models/config.h"

typedef enum {
    BK_CONV2D,
    BK_GROUP_NORM,
    BK_LAYER_NORM,
    BK_ATTENTION,
    BK_LINEAR,
    BK_SILU,
    BK_ADD,
    BK_UPSAMPLE,
    BK_ADAMW,
    BK_N_KINDS
} BenchKind;

/* Passes: what one timed call does. */
typedef enum { BP_FWD, BP_BWD, BP_DGRAD, BP_WGRAD, BP_STEP } BenchPass;

typedef struct {
    BenchKind kind;
    const char *model;    /* "vae" | "unet" */
    int n, h, w, c;       /* conv2d, group_norm, upsample: the input (N, H, W, C) */
    int k, r, stride;     /* conv2d: out channels, kernel side (pad r/2), stride */
    int groups, silu;     /* group_norm (silu: fused SiLU) */
    int lq, lk, heads, d; /* attention: q (n, lq, heads*d), k and v (n, lk, heads*d) */
    int rows, in, out;    /* linear (x (rows, in)); layer_norm (rows, c = in) */
    long long numel;      /* silu, add, adamw: elements */
    int count;            /* calls of this shape in one forward pass (adamw: 1) */
} BenchShape;

#define SHAPES_MAX 256

/* The distinct shapes of cfg's VAE and U-Net at batch n into out[max], in order of first
 * use (VAE first). Returns how many, or -1 with an error (bad config, table full). */
int shapes_for_preset(const ModelConfig *cfg, int batch, BenchShape *out, int max);

/* Attention alone at long sequence lengths (the tensor-core issue's rows): for each of the nl
 * lengths L in lens, self-attention (batch, L, L, heads, head_dim) and cross-attention to
 * `tokens` context tokens (batch, L, tokens, heads, head_dim), model "unet". Returns how many,
 * or -1 with an error (a length < 1, the table full). */
int shapes_long_attention(int batch, const int *lens, int nl, int heads, int head_dim, int tokens, BenchShape *out,
                          int max);

const char *bench_kind_name(BenchKind k);   /* "conv2d", "group_norm", ... */
int bench_kind_parse(const char *s);          /* -1 when unknown */
const char *bench_pass_name(BenchPass p);   /* "fwd", "bwd", "dgrad", "wgrad", "step" */
/* The passes timed for kind k into p[4]; returns how many. */
int bench_passes(BenchKind k, BenchPass *p);

/* FLOPs and bytes of a call: the op table's (bench/ops/op_table.h: op_case_from_shape, then
 * op_flops and op_bytes), one formula per op and pass for every check and benchmark. */

/* A one-line description of the shape ("8x64x64x16 -> 16 3x3 s1"). */
const char *bench_shape_str(const BenchShape *s, char *buf, size_t n);

#endif
