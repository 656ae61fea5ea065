/* core/device.c — host memory, and dispatch to the CUDA half (see device.h). */
#include "core/device.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const char *device_name(Device d) { return d == DEV_CUDA ? "cuda" : "cpu"; }

int device_parse(const char *s, Device *out) {
    if (s && strcmp(s, "cpu") == 0) { *out = DEV_CPU; return 0; }
    if (s && strcmp(s, "cuda") == 0) { *out = DEV_CUDA; return 0; }
    return ldm_error("device", "unknown device '%s' (expected cpu or cuda)", s ? s : "(null)");
}

#ifdef LDM_CUDA_EMU
int dev_cuda_emulated(void) { return 1; }
#else
int dev_cuda_emulated(void) { return 0; }
#endif

#ifdef LDM_CUDA
int dev_cuda_available(void) { return cuda_available(); }
int dev_cuda_probe(void) { return cuda_probe(); }
const char *dev_cuda_name(void) { return cuda_available() ? cuda_device_name() : ""; }
#define NO_CUDA(op) ((void)0)
#else
int dev_cuda_available(void) { return 0; }
int dev_cuda_probe(void) { return 0; }
const char *dev_cuda_name(void) { return ""; }
#define NO_CUDA(op) return ldm_error(op, "this build has no CUDA support (rebuild with nvcc, CUDA=1)")
#endif

void *dev_malloc(Device d, size_t bytes) {
    if (bytes == 0) bytes = 1;
    if (d == DEV_CUDA) {
#ifdef LDM_CUDA
        return cuda_malloc(bytes);
#else
        ldm_error("dev_malloc", "this build has no CUDA support (rebuild with nvcc, CUDA=1)");
        return NULL;
#endif
    }
    size_t rounded = (bytes + 255) / 256 * 256;
    void *p = aligned_alloc(256, rounded);
    if (!p) ldm_error("dev_malloc", "out of host memory allocating %zu bytes", bytes);
    return p;
}

void dev_free(Device d, void *p) {
    if (!p) return;
    if (d == DEV_CUDA) {
#ifdef LDM_CUDA
        cuda_free(p);
#endif
        return;
    }
    free(p);
}

int dev_memset0(Device d, void *p, size_t bytes) {
    if (d == DEV_CUDA) {
        NO_CUDA("dev_memset0");
#ifdef LDM_CUDA
        return cuda_memset0(p, bytes);
#endif
    }
    if (bytes) memset(p, 0, bytes);
    return 0;
}

int dev_memcpy(void *dst, Device dst_dev, const void *src, Device src_dev, size_t bytes) {
    if (bytes == 0) return 0;
    if (dst_dev == DEV_CPU && src_dev == DEV_CPU) {
        memmove(dst, src, bytes);
        return 0;
    }
    NO_CUDA("dev_memcpy");
#ifdef LDM_CUDA
    return cuda_memcpy(dst, dst_dev == DEV_CUDA, src, src_dev == DEV_CUDA, bytes);
#endif
}

int dev_synchronize(Device d) {
    if (d == DEV_CPU) return 0;
    NO_CUDA("dev_synchronize");
#ifdef LDM_CUDA
    return cuda_synchronize();
#endif
}
