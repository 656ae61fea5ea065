/* kernels/cuda/scratch.cu — see scratch.h. Growth rounds up to a power of two (at least
 * 1 MiB) so that a few differently sized ops settle on one allocation. cudaFree waits
 * for queued kernels that may still read the old buffer. */
extern "C" {
#include "core/cuda_check.h"
}
#include "kernels/cuda/scratch.h"

static void *g_scratch;
static size_t g_scratch_bytes;

float *cuda_scratch(size_t bytes) {
    if (bytes == 0) bytes = 1; /* an empty op still gets a valid pointer (NULL means failure) */
    if (bytes <= g_scratch_bytes) return (float *)g_scratch;
    size_t cap = (size_t)1 << 20;
    while (cap < bytes) cap <<= 1;
    if (g_scratch) {
        cudaError_t e = cudaFree(g_scratch);
        g_scratch = NULL;
        g_scratch_bytes = 0;
        if (e != cudaSuccess) {
            ldm_error("cuda", "cudaFree(scratch) failed: %s", cudaGetErrorString(e));
            return NULL;
        }
    }
    cudaError_t e = cudaMalloc(&g_scratch, cap);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the non-sticky error so the next launch check does not report it */
        g_scratch = NULL;
        ldm_error("cuda", "cudaMalloc(%zu bytes) for kernel scratch failed: %s", cap, cudaGetErrorString(e));
        return NULL;
    }
    g_scratch_bytes = cap;
    return (float *)g_scratch;
}
