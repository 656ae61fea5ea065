/* core/emu/cuda_runtime_api.h — the CUDA runtime API as the emulator provides it (C and C++).
 *
 * `make CUDA=emu` puts core/emu first on the include path, so `#include <cuda_runtime.h>` and
 * `<cuda_runtime_api.h>` find these files instead of the toolkit's. The functions are the
 * subset ldm.c calls, implemented on the CPU by core/emu/cuda_emu.cpp; types and enum values
 * are those of CUDA 12/13, and the one device answers as an H100 (sm_90) would. See
 * core/emu/cuda_emu.h for the execution model (kernels, threads, shared memory, checks). */
#ifndef LDM_CORE_EMU_CUDA_RUNTIME_API_H
#define LDM_CORE_EMU_CUDA_RUNTIME_API_H

#include <stddef.h>

#ifndef LDM_CUDA_EMU
#define LDM_CUDA_EMU 1
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidSymbol = 13,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInsufficientDriver = 35,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorMisalignedAddress = 716,
    cudaErrorLaunchFailure = 719,
    cudaErrorUnknown = 999
} cudaError_t;

typedef enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
} cudaMemcpyKind;

typedef enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrL2CacheSize = 38,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
} cudaDeviceAttr;

typedef enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9
} cudaFuncAttribute;

typedef struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem, sharedMemPerBlock, sharedMemPerBlockOptin, sharedMemPerMultiprocessor;
    int regsPerBlock, warpSize, maxThreadsPerBlock, maxThreadsDim[3], maxGridSize[3];
    int major, minor, multiProcessorCount, l2CacheSize, maxThreadsPerMultiProcessor;
} cudaDeviceProp;

typedef struct LdmEmuStream *cudaStream_t;
typedef struct LdmEmuEvent *cudaEvent_t;

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaDeviceReset(void);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t err);
const char *cudaGetErrorName(cudaError_t err);

cudaError_t cudaMalloc(void **ptr, size_t bytes);
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMemset(void *ptr, int value, size_t bytes);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);

cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

/* Symbols (__device__ variables) are ordinary host variables under the emulator. */
cudaError_t ldm_emu_memcpy_symbol(void *dst, const void *src, size_t bytes, size_t symbol_bytes, size_t offset,
                                  int to_symbol);
/* cudaFuncSetAttribute(kernel, attr, value) for a kernel's address. */
cudaError_t ldm_emu_func_set_attribute(const void *kernel, cudaFuncAttribute attr, int value);

/* The emulator's own interface (tests/test_emu.c, the entry points' first line). */
const char *ldm_emu_last_report(void); /* the last fault report ("" when none) */
void ldm_emu_clear_report(void);
int ldm_emu_reports(void);             /* faults reported since the start */
void ldm_emu_set_seed(unsigned long long seed); /* order of blocks and threads (LDM_EMU_SEED) */
unsigned long long ldm_emu_seed(void);
int ldm_emu_checks_on(void);           /* LDM_EMU_CHECK */
int ldm_emu_tid(void);                 /* for gdb: the running thread's linear id, block's */
int ldm_emu_bid(void);

#ifdef __cplusplus
}
#endif

#endif
