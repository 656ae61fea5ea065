/* kernels/kernel_common.h — what every op's front file (kernels/<op>.c) shares:
 * argument checks that name the op and the shapes, and the one place where an op
 * is dispatched on the device of its tensors.
 *
 * Conventions for every op in kernels/:
 *   - <op>_forward writes its outputs (=). <op>_backward ACCUMULATES (+=) into every
 *     non-NULL gradient it is given, so a tensor used twice receives both
 *     contributions and the tape never needs a temporary.
 *   - Gradients are passed as Tensors (tensor_grad_view) with the shape of the
 *     tensor they belong to.
 *   - All tensors of one call live on one device and are DT_F32, except where an op's
 *     header says which of them may be DT_BF16 (then its math is still fp32: bf16 values
 *     are widened on load and results rounded to nearest even on store). Gradients are
 *     always fp32.
 *   - Each returns 0, or -1 with ldm_last_error() naming the op and the shapes.
 */
#ifndef LDM_KERNELS_KERNEL_COMMON_H
#define LDM_KERNELS_KERNEL_COMMON_H

#include <stdbool.h>

#include "core/error.h"
#include "core/tensor.h"

/* t is non-NULL and fp32. `what` names the argument in the message ("x", "weight"). */
int kcheck(const char *op, const Tensor *t, const char *what);
/* Same as kcheck, plus an exact rank. */
int kcheck_rank(const char *op, const Tensor *t, int ndim, const char *what);
/* b is on a's device. */
int kcheck_device(const char *op, const Tensor *a, const Tensor *b);
/* a and b have the same shape (and device). */
int kcheck_same(const char *op, const Tensor *a, const Tensor *b, const char *what_a, const char *what_b);
/* Optional argument (NULL allowed): when present, same shape as `ref` and same device. */
int kcheck_opt_same(const char *op, const Tensor *t, const Tensor *ref, const char *what_t, const char *what_ref);
/* The same four checks for arguments that may be fp32 or bf16. */
int kcheck_any(const char *op, const Tensor *t, const char *what);
int kcheck_rank_any(const char *op, const Tensor *t, int ndim, const char *what);
int kcheck_same_any(const char *op, const Tensor *a, const Tensor *b, const char *what_a, const char *what_b);
int kcheck_opt_same_any(const char *op, const Tensor *t, const Tensor *ref, const char *what_t, const char *what_ref);
/* t (may be NULL) is fp32: for the gradients and statistics of an op that takes bf16. */
int kcheck_f32(const char *op, const Tensor *t, const char *what);

/* Dispatch on the device: evaluates exactly one of the two calls. Without CUDA in the
 * build the CUDA call is not even compiled, and a CUDA tensor is a clear error. */
#ifdef LDM_CUDA
#define KDISPATCH(op, dev, cpu_call, cuda_call) ((dev) == DEV_CUDA ? (cuda_call) : (cpu_call))
#else
#define KDISPATCH(op, dev, cpu_call, cuda_call) \
    ((dev) == DEV_CUDA ? ldm_error((op), "tensor on cuda but this build has no CUDA support") : (cpu_call))
#endif

#endif
