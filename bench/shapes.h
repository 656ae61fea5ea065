/* bench/shapes.h — the op shapes a preset's models actually run, in one table, and the
 * napkin-math FLOP and byte counts ldm-bench divides its times by.
 *
 * shapes_for_preset walks the same construction as models/vae.c and models/unet.c (the
 * VAE: encode + decode of one batch of images; the U-Net: one forward on the latents)
 * and records every conv2d, group norm, layer norm, attention, linear, SiLU, add and
 * 2x upsampling with its shape; equal shapes are merged and counted. AdamW gets one row
 * per model: all its parameters as one flat vector. tests/test_bench.c checks the table
 * against a trace of the real forward pass (the tape's nodes).
 *
 * Bytes are the fewest a kernel must move in fp32: each input read once, each output
 * written once, an accumulated (+=) gradient read and written. FLOPs count a multiply-add
 * as 2; for the memory-bound ops they are rough per-element counts, stated below.
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

const char *bench_kind_name(BenchKind k);   /* "conv2d", "group_norm", ... */
int bench_kind_parse(const char *s);          /* -1 when unknown */
const char *bench_pass_name(BenchPass p);   /* "fwd", "bwd", "dgrad", "wgrad", "step" */
/* The passes timed for kind k into p[4]; returns how many. */
int bench_passes(BenchKind k, BenchPass *p);

/* FLOPs and bytes of one call of pass p on shape s:
 *   conv2d      every pass 2 N P Q K R R C (dgrad, wgrad: the same GEMM, transposed)
 *               fwd 4 (NHWC + KRRC + K + NPQK); dgrad 4 (NPQK + KRRC + 2 NHWC);
 *               wgrad 4 (NHWC + NPQK + 2 KRRC)
 *   attention   fwd 4 N H Lq Lk D (S = QK^T, O = PV), bwd 10 N H Lq Lk D (S recomputed,
 *               dP, dV, dQ, dK); fwd 4 (2 Lq C + 2 Lk C + H Lq) N,
 *               bwd 4 (Lq C (o, do, q, 2 dq) + Lk C (k, v, 2 dk, 2 dv) + H Lq) N
 *   linear      fwd 2 R I O, 4 (R I + O I + O + R O); bwd (dx, dw, db) 4 R I O,
 *               4 (R O + R I + O I + 2 R I + 2 O I + 2 O)
 *   group_norm  fwd 8 flop/elem (+4 with SiLU), 8 bytes/elem; bwd 14 (+6), 16 bytes/elem
 *   layer_norm  the same as group_norm without SiLU
 *   silu        fwd 4 flop, 8 bytes/elem; bwd 8 flop, 16 bytes/elem
 *   add         1 flop, 12 bytes/elem
 *   upsample    per input element: fwd 0 flop, 20 bytes; bwd 4 flop, 24 bytes
 *   adamw       14 flop, 32 bytes/param (kernels/adamw.h: 5 reads + 3 writes of 4 bytes)
 * (gamma/beta and statistics are omitted from the norms' bytes: O(C) next to O(NHWC).) */
double bench_flops(const BenchShape *s, BenchPass p);
double bench_bytes(const BenchShape *s, BenchPass p);

/* A one-line description of the shape ("8x64x64x16 -> 16 3x3 s1"). */
const char *bench_shape_str(const BenchShape *s, char *buf, size_t n);

#endif
