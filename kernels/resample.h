/* kernels/resample.h — nearest-neighbour 2x upsampling, and channel concat / slice.
 *   upsample2x: x (N, H, W, C) -> y (N, 2H, 2W, C), y[n,i,j,c] = x[n,i/2,j/2,c]
 *     backward: dx[n,i,j,c] += sum of the 4 dy it was copied to
 *   concat_channels: a (N,H,W,Ca), b (N,H,W,Cb) -> y (N,H,W,Ca+Cb)  (any rank, last dim)
 *     backward: da += dy[..., :Ca], db += dy[..., Ca:]
 *   slice_channels: x (..., C) -> y (..., c1 - c0) = x[..., c0:c1]
 *     backward: dx[..., c0:c1] += dy */
#ifndef LDM_KERNELS_RESAMPLE_H
#define LDM_KERNELS_RESAMPLE_H

#include "kernels/kernel_common.h"

int upsample2x_forward(const Tensor *x, Tensor *y);
int upsample2x_backward(const Tensor *dy, Tensor *dx);
int concat_channels_forward(const Tensor *a, const Tensor *b, Tensor *y);
int concat_channels_backward(const Tensor *dy, Tensor *da, Tensor *db);
int slice_channels_forward(const Tensor *x, int c0, int c1, Tensor *y);
int slice_channels_backward(const Tensor *dy, int c0, int c1, Tensor *dx);

int upsample2x_forward_cpu(const Tensor *x, Tensor *y);
int upsample2x_backward_cpu(const Tensor *dy, Tensor *dx);
int concat_channels_forward_cpu(const Tensor *a, const Tensor *b, Tensor *y);
int concat_channels_backward_cpu(const Tensor *dy, Tensor *da, Tensor *db);
int slice_channels_forward_cpu(const Tensor *x, int c0, int c1, Tensor *y);
int slice_channels_backward_cpu(const Tensor *dy, int c0, int c1, Tensor *dx);
#ifdef LDM_CUDA
int upsample2x_forward_cuda(const Tensor *x, Tensor *y);
int upsample2x_backward_cuda(const Tensor *dy, Tensor *dx);
int concat_channels_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y);
int concat_channels_backward_cuda(const Tensor *dy, Tensor *da, Tensor *db);
int slice_channels_forward_cuda(const Tensor *x, int c0, int c1, Tensor *y);
int slice_channels_backward_cuda(const Tensor *dy, int c0, int c1, Tensor *dx);
#endif

#endif
