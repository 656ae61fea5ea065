/* kernels/cuda/elementwise.cu — elementwise ops on the GPU (math in kernels/elementwise.h).
 *   fill: 4 bytes/elem.  axpy: 2 FLOP, 12 bytes/elem.
 * Decomposition: grid-stride loops, 256 threads per block, one element per thread per
 * iteration; memory-bound. */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/elementwise.h"
}

static int ew_grid(long n) {
    long g = (n + 255) / 256;
    if (g > 65535L * 8) g = 65535L * 8;
    return (int)(g < 1 ? 1 : g);
}

__global__ void fill_kernel(float *__restrict__ y, float v, long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) y[i] = v;
}

__global__ void axpy_kernel(float *__restrict__ y, const float *__restrict__ x, float a, long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
        y[i] += a * x[i];
}

extern "C" int fill_cuda(Tensor *y, float value) {
    long n = (long)y->numel;
    fill_kernel<<<ew_grid(n), 256>>>(y->data, value, n);
    CUDA_LAUNCH_CHECK("fill");
    return 0;
}

extern "C" int axpy_cuda(Tensor *y, const Tensor *x, float alpha) {
    long n = (long)y->numel;
    axpy_kernel<<<ew_grid(n), 256>>>(y->data, x->data, alpha, n);
    CUDA_LAUNCH_CHECK("axpy");
    return 0;
}
