/* core/emu/cuda_runtime.h — stands in for the toolkit's cuda_runtime.h under `make CUDA=emu`
 * (core/emu is first on the include path there). C++ translation units get the execution
 * model of core/emu/cuda_emu.h (force-included before anything else, so this is a no-op
 * for them); C gets the runtime API. */
#ifndef LDM_CORE_EMU_CUDA_RUNTIME_H
#define LDM_CORE_EMU_CUDA_RUNTIME_H
#ifdef __cplusplus
#include "core/emu/cuda_emu.h"
#else
#include "core/emu/cuda_runtime_api.h"
#endif
#endif
