/* core/cuda_check.h — checking macros for CUDA runtime calls and kernel launches.
 * Include only from .cu files. Each failure becomes an ldm error naming the call,
 * the file and the line, and the enclosing function returns -1 (or NULL). */
#ifndef LDM_CORE_CUDA_CHECK_H
#define LDM_CORE_CUDA_CHECK_H

#include <cuda_runtime.h>

#include "core/error.h"

/* The two spellings nvcc and the emulator's host compiler (make CUDA=emu, core/emu/) do not
 * share; under the emulator core/emu/cuda_emu.h defines them.
 *   LDM_LAUNCH(kernel, grid, block[, smem[, stream]])(args...)
 *       kernel<<<grid, block, smem, stream>>>(args...), except that a grid with a zero
 *       dimension launches nothing (CUDA calls it an invalid configuration): an op on an
 *       empty tensor is a no-op. `kernel` names one function: a template kernel spells out
 *       its arguments (ew_kernel<Op>); one whose template arguments contain commas goes
 *       through a constexpr pointer first. Safe under if/else without braces.
 *   LDM_DYNAMIC_SHARED(type, name);
 *       extern __shared__ type name[];  inside a kernel: the launch's dynamic shared memory. */
static inline bool ldm_grid_empty(dim3 g) { return g.x == 0 || g.y == 0 || g.z == 0; }
#ifndef LDM_CUDA_EMU
#define LDM_LAUNCH(kernel, grid, ...) \
    if (ldm_grid_empty(grid)) {       \
    } else                            \
        kernel<<<grid, __VA_ARGS__>>>
#define LDM_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#define CUDA_TRY(call)                                                                   \
    do {                                                                                 \
        cudaError_t err_ = (call);                                                       \
        if (err_ != cudaSuccess)                                                         \
            return ldm_error("cuda", "%s failed at %s:%d: %s", #call, __FILE__, __LINE__, \
                             cudaGetErrorString(err_));                                  \
    } while (0)

/* After a <<<...>>> launch: catches bad launch configurations at once. Set
 * LDM_CUDA_SYNC=1 in the environment to also synchronise and catch faults at the
 * launch that caused them (debugging, compute-sanitizer). */
int cuda_check_launch(const char *kernel, const char *file, int line);
#define CUDA_LAUNCH_CHECK(name)                                             \
    do {                                                                    \
        if (cuda_check_launch((name), __FILE__, __LINE__) != 0) return -1;  \
    } while (0)

#endif
