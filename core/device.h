/* core/device.h — where memory lives: the host (CPU) or one CUDA device.
 *
 * The CPU half is plain malloc/memset/memcpy. The CUDA half lives in
 * core/device_cuda.cu and is compiled only when the build has nvcc (LDM_CUDA);
 * without it every CUDA request fails with a clear error instead of crashing.
 */
#ifndef LDM_CORE_DEVICE_H
#define LDM_CORE_DEVICE_H

#include <stddef.h>

typedef enum { DEV_CPU = 0, DEV_CUDA = 1 } Device;

const char *device_name(Device d);               /* "cpu" / "cuda" */
int device_parse(const char *s, Device *out);    /* "cpu"|"cuda" -> 0, else -1 with error */

/* 1 when the build has CUDA and a device is present, else 0. Only "no device" (or no
 * driver installed) is silent: when CUDA is present but fails (an old driver, ...) it
 * prints the CUDA error once to stderr and returns 0. */
int dev_cuda_available(void);
/* 1: a device; 0: none (or no CUDA in the build); -1: CUDA present but broken, with an ldm
 * error naming the CUDA error. What a check that must not pass on a broken machine asks. */
int dev_cuda_probe(void);
/* 1 when the CUDA backend is the emulator of core/emu (make CUDA=emu): kernels run on the CPU. */
int dev_cuda_emulated(void);
/* Name of CUDA device 0 ("" when none). */
const char *dev_cuda_name(void);

/* Allocate bytes on device d, 256-byte aligned; NULL with an error when it fails. */
void *dev_malloc(Device d, size_t bytes);
void dev_free(Device d, void *p);
int dev_memset0(Device d, void *p, size_t bytes);
/* Copy between any two places; each side names its device. */
int dev_memcpy(void *dst, Device dst_dev, const void *src, Device src_dev, size_t bytes);
/* Wait for all queued device work (no-op on the CPU). */
int dev_synchronize(Device d);

#ifdef LDM_CUDA
/* Implemented in core/device_cuda.cu. */
int cuda_available(void);
int cuda_probe(void);
const char *cuda_device_name(void);
void *cuda_malloc(size_t bytes);
void cuda_free(void *p);
int cuda_memset0(void *p, size_t bytes);
int cuda_memcpy(void *dst, int dst_on_dev, const void *src, int src_on_dev, size_t bytes);
int cuda_synchronize(void);
#endif

#endif
