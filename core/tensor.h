/* core/tensor.h — the minimal tensor: a shape, fp32 or bf16 storage on one device, and
 * an optional gradient buffer of the same shape, always fp32 (mixed precision keeps
 * gradients, master weights and optimizer state in fp32; only activations are bf16).
 *
 * Layout is row-major over `shape`; activations are NHWC (N, H, W, C), so the same
 * buffer is also (N, L = H*W, C) tokens. Conv weights are (K, R, S, C), linear weights
 * (out, in). `dtype` is DT_F32 (4 bytes an element) or DT_BF16 (2 bytes: the raw bf16_t bits
 * of core/bf16.h, behind the same `float *data` pointer: cast it to bf16_t * to read them).
 * Kernels take DT_F32 unless they say otherwise (kernel_common.h checks it).
 * tensor_to_host / tensor_from_host always speak fp32 and convert a bf16 tensor (exactly on
 * the way out, rounding to nearest even on the way in); the _raw copies move the bytes.
 *
 * Two owners:
 *   - arena tensors (tensor_new with an Arena): struct and storage in the per-step
 *     arena, gone at arena_reset; their gradient is allocated lazily by the tape.
 *   - heap tensors (tensor_new with arena == NULL): parameters, optimizer state,
 *     anything that outlives a step; freed with tensor_free. tensor_param() also
 *     allocates a zeroed gradient and marks it requires_grad.
 */
#ifndef LDM_CORE_TENSOR_H
#define LDM_CORE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/device.h"

#define TENSOR_MAX_DIMS 4

typedef enum { DT_F32 = 0, DT_BF16 = 1 } DType;

typedef struct Tensor {
    float *data;                 /* numel values of `dtype` on `device` (bf16: bf16_t bits) */
    float *grad;                 /* NULL, or numel fp32 values on `device` */
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    size_t numel;
    Device device;
    DType dtype;
    bool requires_grad;          /* a parameter, or computed from one on the tape */
    bool on_heap;                /* storage (and grad) owned by this tensor */
    const char *name;            /* optional, for messages and checkpoints */
} Tensor;

/* Tensor of `ndim` dims with `shape`; from the arena (device = arena's) or, with
 * arena == NULL, from the heap on `dev`. Storage uninitialised. NULL + error on failure
 * (bad shape, out of memory). */
Tensor *tensor_new(Arena *arena, Device dev, int ndim, const int *shape);
/* The same with an element type (tensor_new is DT_F32). */
Tensor *tensor_new_dtype(Arena *arena, Device dev, DType dt, int ndim, const int *shape);
Tensor *tensor_zeros(Arena *arena, Device dev, int ndim, const int *shape);
/* Shorthands for the common ranks. */
Tensor *tensor_new1(Arena *a, Device dev, int d0);
Tensor *tensor_new2(Arena *a, Device dev, int d0, int d1);
Tensor *tensor_new3(Arena *a, Device dev, int d0, int d1, int d2);
Tensor *tensor_new4(Arena *a, Device dev, int d0, int d1, int d2, int d3);
/* A new tensor with x's shape, dtype and device. */
Tensor *tensor_like(Arena *arena, const Tensor *x);
/* Heap parameter with a zeroed gradient, requires_grad = true. */
Tensor *tensor_param(Device dev, int ndim, const int *shape, const char *name);
/* Frees a heap tensor (storage, grad, struct). No-op for NULL and arena tensors. */
void tensor_free(Tensor *t);

/* A view with a new shape of the same numel: shares data and grad. From the arena's
 * host region (or malloc when arena == NULL; free with free()). */
Tensor *tensor_view(Arena *arena, const Tensor *x, int ndim, const int *shape);
/* A by-value fp32 Tensor whose data is t's gradient: lets kernels take gradients as
 * tensors. t->grad must be non-NULL. */
Tensor tensor_grad_view(const Tensor *t);

int tensor_zero(Tensor *t);
int tensor_zero_grad(Tensor *t);
/* Ensure t->grad exists (allocated from `arena` for arena tensors, zeroed). */
int tensor_ensure_grad(Tensor *t, Arena *arena);

/* Copies between a tensor and a host float array of numel elements (a bf16 tensor is
 * widened exactly / rounded to nearest even). */
int tensor_to_host(const Tensor *t, float *dst);
int tensor_from_host(Tensor *t, const float *src);
/* Copies of the stored bytes (tensor_bytes(t) of them) to / from host memory. */
int tensor_to_host_raw(const Tensor *t, void *dst);
int tensor_from_host_raw(Tensor *t, const void *src);
/* Same numel; any devices; any dtypes (a dtype change converts through the host: for
 * tests and checkpoints, not for the step loop). */
int tensor_copy(Tensor *dst, const Tensor *src);

size_t dtype_bytes(DType dt);       /* 4 or 2 */
const char *dtype_name(DType dt);   /* "f32", "bf16" */
size_t tensor_bytes(const Tensor *t); /* numel * dtype_bytes */
bool tensor_same_shape(const Tensor *a, const Tensor *b);
/* "(2, 8, 8, 64)"; writes into buf and returns it. */
const char *tensor_shape_str(const Tensor *t, char *buf, size_t n);
/* Shape string in a rotating thread-local buffer (8 slots), for messages. */
const char *tshape(const Tensor *t);

/* Product of the dims before the last (rows) and the last dim (cols). */
size_t tensor_rows(const Tensor *t);
int tensor_cols(const Tensor *t);

#endif
