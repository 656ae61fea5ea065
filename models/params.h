/* models/params.h — a model's named parameters, in the order the model registers them.
 *
 * Names follow the module tree ("unet.down.1.res.0.conv1.weight") and are the tensor
 * names in checkpoints. A model's *_init function registers each parameter with its
 * shape and initialiser and keeps the returned Tensor pointer; the forward pass uses
 * those pointers. The Tensor structs never move (ps_to_device swaps their storage),
 * so a model stays valid across device transfers.
 *
 * A ParamSet created with alloc == false ("dry") records names and shapes only: it
 * counts parameters and lists what a checkpoint must contain without allocating.
 *
 * Initial values are drawn on the host from Philox stream (seed, name): each tensor's
 * values depend only on the seed and its name, and are identical whatever the device.
 */
#ifndef LDM_MODELS_PARAMS_H
#define LDM_MODELS_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define PS_NAME_MAX 96

typedef enum {
    PI_ZERO,   /* 0 (biases, zero-initialised output layers) */
    PI_ONE,    /* 1 (norm gains) */
    PI_FAN_IN, /* N(0, 1/fan_in), fan_in = numel / shape[0] (conv KRSC, linear (out, in)) */
    PI_NORMAL, /* N(0, 1) (embedding tables) */
} ParamInit;

typedef struct {
    char name[PS_NAME_MAX];
    Tensor *t; /* NULL in a dry set */
    int ndim, shape[TENSOR_MAX_DIMS];
    size_t numel;
    ParamInit init;
} Param;

typedef struct {
    Param *p;
    int n, cap;
    Device device;
    bool alloc;     /* false: dry, shapes only */
    bool with_grad; /* parameters carry a gradient buffer (tensor_param) */
    uint64_t seed;
    size_t numel;   /* total elements */
} ParamSet;

/* An empty set. alloc == false: dry. with_grad: tensors get zeroed gradients (training);
 * without, plain heap tensors (sampling, EMA, optimizer state). */
void ps_init(ParamSet *ps, Device dev, uint64_t seed, bool alloc, bool with_grad);
void ps_free(ParamSet *ps);

/* Registers `name` ("%s"-formatted from fmt) with `shape` and initialises it. Returns the
 * tensor (a placeholder with data == NULL in a dry set), or NULL + error (duplicate
 * name, bad shape, out of memory). */
Tensor *ps_add(ParamSet *ps, ParamInit init, int ndim, const int *shape, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Lookups: NULL when absent. */
Tensor *ps_find(const ParamSet *ps, const char *name);
const Param *ps_find_param(const ParamSet *ps, const char *name);

size_t ps_count(const ParamSet *ps); /* total number of scalars */

/* Whether weight decay applies to p: the weights of linear and conv layers (ndim >= 2),
 * not biases or norm gains and shifts (1-D) nor embedding tables (PI_NORMAL). Decaying a
 * norm's gain or a bias toward 0 only fights the normalisation; an embedding row is
 * updated only when its class is drawn, so decay would shrink rare classes (the usual
 * split in minGPT, timm and LDM's successors). */
bool ps_decays(const Param *p);
int ps_zero_grad(ParamSet *ps);

/* A set with src's names and shapes on `dev`: values copied (copy_values) or zero. */
int ps_clone(ParamSet *dst, const ParamSet *src, Device dev, bool with_grad, bool copy_values);
/* dst's values = src's values; same names and shapes, in the same order. */
int ps_copy_values(ParamSet *dst, const ParamSet *src);
/* Exchanges the storage of a's and b's tensors (same names, shapes, device and dtype, in
 * the same order): models holding a's tensors then compute with b's values, and a second
 * call restores them. O(number of tensors), no copy (evaluating the EMA weights mid-run). */
int ps_swap_values(ParamSet *a, ParamSet *b);
/* Moves every tensor (and gradient) to `dev`; pointers held by models stay valid. */
int ps_to_device(ParamSet *ps, Device dev);

/* ema = decay * ema + (1 - decay) * ps, tensor by tensor (same layout). */
int ps_ema_update(ParamSet *ema, const ParamSet *ps, float decay);
/* sum over all parameters of sum(grad^2), in double (gradient clipping). */
int ps_grad_sumsq(const ParamSet *ps, double *out);

/* Re-draws every parameter from N(0, std^2) whatever its initialiser (tests: exercise
 * paths that zero-initialised layers would hide). */
int ps_randomize(ParamSet *ps, uint64_t seed, float std);

#endif
