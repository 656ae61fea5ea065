/* bench/model_bench.h — end-to-end numbers for a preset's models.
 *
 *   train     one training step of the VAE (on images) and of the U-Net (on latents),
 *             split into forward (loss), backward (tape) and optimizer (AdamW over every
 *             parameter + zeroing the gradients); the median over --steps after one
 *             warm-up step; images/s; the arena's peak (activations, their gradients and
 *             the tape) and the parameter memory (weights, gradients, two moments).
 *   sample    DDIM (eta 0) for --steps steps at the batch, with classifier-free guidance
 *             3 on conditional presets (each step is one U-Net pass over 2 x batch), then
 *             the VAE decode; time per denoising step and per image.
 *   numerics  writes a safetensors file with randomised VAE and U-Net weights (the zero-
 *             initialised layers would hide errors), inputs, and ldm.c's outputs, for
 *             bench/torch_twin.py --numerics to run through PyTorch and compare.
 * Inputs are Philox N(0, 1) draws; timings sync the device around each part. */
#ifndef LDM_BENCH_MODEL_BENCH_H
#define LDM_BENCH_MODEL_BENCH_H

#include <stdio.h>

#include "core/device.h"
#include "core/tensor.h"

typedef struct {
    const char *preset;
    Device device;
    int batch;          /* 0: bench_default_batch */
    int steps;          /* timed training steps / denoising steps */
    size_t arena_bytes; /* 0: 2 GiB on the CPU, 24 GiB on CUDA */
    const char *json;   /* NULL or a path (integers only, as kernels --json) */
    DType precision;    /* the tape's act_dtype (--precision; autograd/tape.h, mixed precision) */
} ModelBenchOpts;

int train_bench_run(const ModelBenchOpts *o, FILE *out);
int sample_bench_run(const ModelBenchOpts *o, FILE *out);
/* Batch 2 through both models on the CPU; writes `path`. */
int numerics_write(const char *preset, const char *path, FILE *out);

#endif
