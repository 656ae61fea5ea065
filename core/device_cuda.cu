/* core/device_cuda.cu — the CUDA half of core/device.h: allocation, copies, sync.
 * Plain cudaMalloc (never managed memory); every call checked with file and line. */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

extern "C" {
#include "core/cuda_check.h"
#include "core/device.h"
}

extern "C" int cuda_available(void) {
    static int cached = -1;
    if (cached < 0) {
        int n = 0;
        cached = (cudaGetDeviceCount(&n) == cudaSuccess && n > 0) ? 1 : 0;
        if (!cached) cudaGetLastError(); /* clear the sticky "no device" error */
    }
    return cached;
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
