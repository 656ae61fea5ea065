/* kernels/versions.h — run-time selection among several versions of a kernel.
 *
 * A CUDA op may keep several implementations side by side (1 = naive port of the CPU
 * loop, 2 = tiled, 3 = tensor cores, ...). Version 0 means "the default (best)". The
 * benchmark and the GPU parity tests set a version per op name; the environment
 * variable LDM_KERNELS="conv2d=1,attention=2" does the same for any program.
 * The CPU backend has one version per op and ignores this.
 */
#ifndef LDM_KERNELS_VERSIONS_H
#define LDM_KERNELS_VERSIONS_H

#include <stdbool.h>

#define KERNEL_MAX_OPS 64

/* The selected version of `op` (0 = default). Reads LDM_KERNELS on first use. */
int kernel_version(const char *op);
/* Select version v of `op` (0 restores the default). -1 with an error on a bad name. */
int kernel_version_set(const char *op, int v);

/* Mixed precision (autograd/tape.h, tape_set_precision): while on, the default (version 0)
 * of the matmul ops whose operands are then bf16 values, conv2d, linear and attention, is
 * their tensor-core version 3 on CUDA (bf16 operands, fp32 accumulation: exactly the
 * arithmetic bf16 precision asks for). Off: the fp32 defaults, which keep fp32 precision
 * fp32. A version chosen by name (LDM_KERNELS, kernel_version_set) still wins. */
void kernel_prefer_tensor_cores(bool on);
bool kernel_prefers_tensor_cores(void);

#endif
