/* core/device_cuda.cu — the CUDA half of core/device.h: allocation, copies, sync.
 * Plain cudaMalloc (never managed memory); every call checked with file and line. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <dlfcn.h>

extern "C" {
#include "core/cuda_check.h"
#include "core/device.h"
}

/* 1: a device; 0: no device (cudaErrorNoDevice, or no driver installed at all: a machine
 * with the toolkit but without a GPU); -1: CUDA is there but broken (an old driver, a
 * failed initialisation, ...), with an ldm error naming the CUDA error. */
extern "C" int cuda_probe(void) {
    static int cached = -2;
    static char why[512];
    if (cached == -2) {
        int n = 0;
        cudaError_t err = cudaGetDeviceCount(&n);
        cudaGetLastError(); /* the probe's error is answered here, not by the next launch check */
        if (err == cudaSuccess) {
            cached = n > 0 ? 1 : 0;
        } else if (err == cudaErrorNoDevice) {
            cached = 0;
        } else if (err == cudaErrorInsufficientDriver && !dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
            cached = 0; /* no driver library at all: no GPU here */
        } else {
            cached = -1;
            snprintf(why, sizeof why, "cudaGetDeviceCount failed: %s (%s)", cudaGetErrorName(err),
                     cudaGetErrorString(err));
        }
    }
    if (cached < 0) ldm_error("cuda", "CUDA is installed but unusable: %s", why);
    return cached;
}

extern "C" int cuda_available(void) {
    static int warned = 0;
    const int p = cuda_probe();
    if (p < 0 && !warned) {
        warned = 1;
        fprintf(stderr, "ldm.c: %s\n", ldm_last_error());
    }
    return p == 1;
}

extern "C" const char *cuda_device_name(void) {
    static char name[256];
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "";
    snprintf(name, sizeof name, "%s", p.name);
    return name;
}

extern "C" void *cuda_malloc(size_t bytes) {
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
        cudaGetLastError(); /* out of memory is not sticky: don't let the next launch check report it */
        ldm_error("cuda", "cudaMalloc(%zu bytes) failed: %s", bytes, cudaGetErrorString(err));
        return NULL;
    }
    return p;
}

extern "C" void cuda_free(void *p) { cudaFree(p); }

extern "C" int cuda_memset0(void *p, size_t bytes) {
    CUDA_TRY(cudaMemset(p, 0, bytes));
    return 0;
}

extern "C" int cuda_memcpy(void *dst, int dst_on_dev, const void *src, int src_on_dev, size_t bytes) {
    cudaMemcpyKind kind = dst_on_dev ? (src_on_dev ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                     : (src_on_dev ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
    CUDA_TRY(cudaMemcpy(dst, src, bytes, kind));
    return 0;
}

extern "C" int cuda_synchronize(void) {
    CUDA_TRY(cudaDeviceSynchronize());
    return 0;
}

extern "C" int cuda_check_launch(const char *kernel, const char *file, int line) {
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess) {
        static int sync_mode = -1;
        if (sync_mode < 0) {
            const char *e = getenv("LDM_CUDA_SYNC");
            sync_mode = (e && e[0] == '1') ? 1 : 0;
        }
        if (sync_mode) err = cudaDeviceSynchronize();
    }
    if (err != cudaSuccess)
        return ldm_error("cuda", "kernel %s at %s:%d: %s", kernel, file, line, cudaGetErrorString(err));
    return 0;
}
