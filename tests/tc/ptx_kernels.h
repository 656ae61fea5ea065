/* tests/tc/ptx_kernels.h — single-warp kernels exercising each PTX instruction function of
 * kernels/cuda/mma.cuh, for tests/test_tc.c (built with CUDA=emu; valid CUDA, nvcc compiles
 * them too). Host arrays in and out; each returns the CUDA error of its launch (0 = clean). */
#ifndef LDM_TESTS_TC_PTX_KERNELS_H
#define LDM_TESTS_TC_PTX_KERNELS_H

#include <stdint.h>

/* D = A B + C with one mma: A (16, 16) row-major bf16 bits, B (16, 8) row-major [k][n] bf16
 * bits, C and D (16, 8) row-major fp32. The kernel loads the fragments from global memory by
 * the ISA's formulas. partial: only lanes 0..15 take part (a fault). */
int tc_mma_once(const uint16_t *A, const uint16_t *B, const float *C, float *D, int partial);

/* ldmatrix.x4 (trans = 0/1) from a shared array of 32 rows of 8 bf16 (the host's `rows`, 256
 * values); lane l supplies the address of row perm[l]. out: (32 lanes, 4 registers). */
int tc_ldmatrix(const uint16_t *rows, const int *perm, int trans, uint32_t *out);

/* 64 threads copy n = 256 floats into shared memory with cp.async (16 bytes a thread),
 * shared memory prefilled with `fill` when prefill != 0; wait = 0: no wait (the bug), 1:
 * wait_group 0. After a barrier, thread t writes shared chunk 63 - t to out. */
int tc_cp_async(const float *src, float *out, int prefill, float fill, int wait);

/* Two groups: chunk A (group 0) then chunk B (group 1) from src[0..255] and src[256..511],
 * shared memory prefilled with `fill`; wait_group 1 then out = (shared A, shared B). */
int tc_cp_async_two_groups(const float *src, float *out, float fill);

/* Edge: 16 threads copy with src_bytes = 16 - t (zero fill); out (16 x 4 floats). */
int tc_cp_async_zfill(const float *src, float *out);

#endif
