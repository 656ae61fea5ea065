/* kernels/cuda/mma.cuh — the tensor-core PTX instructions, one small device function each.
 * Under nvcc each is one inline-asm instruction; under the emulator (g++ against
 * core/emu/cuda_emu.h) each runs core/emu/ptx_emu.h's model of the instruction, which
 * follows the PTX ISA's definition (fragment-to-lane mapping, ldmatrix's lane addresses,
 * cp.async data landing only at the matching wait).
 *
 * Notation (PTX ISA, "Matrix fragments for mma.m16n8k16 with floating point type"):
 *   lane = %laneid, groupID g = lane >> 2, threadID_in_group t = lane % 4.
 *   A bf16 pair in a .b32 register holds the element with the lower column (or row, for
 *   B) index in its low 16 bits.
 *
 * Requirements every caller meets: all 32 lanes of the warp execute each call (the .sync
 * .aligned forms), with the same arguments where the ISA requires uniformity. */
#ifndef LDM_KERNELS_CUDA_MMA_CUH
#define LDM_KERNELS_CUDA_MMA_CUH

#include <stdint.h>

#include "core/bf16.h"

#if !defined(__CUDACC__)
#include "core/emu/ptx_emu.h"
#endif

namespace {

/* Two floats rounded to bf16 (RNE) and packed: lo in bits 0..15, hi in bits 16..31. */
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    return (uint32_t)ldm_f32_to_bf16(lo) | (uint32_t)ldm_f32_to_bf16(hi) << 16;
}

// ---------------------------------------------------------------------------------
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32  d, a, b, c
//   D (16x8) = A (16x16, row-major) * B (16x8, column-major) + C, fp32 accumulation.
//   A: a[0..3], .b32 each holding two bf16 (elements a0..a7, low to high):
//        a[0] = A[g  ][2t, 2t+1]     a[1] = A[g+8][2t, 2t+1]
//        a[2] = A[g  ][2t+8, 2t+9]   a[3] = A[g+8][2t+8, 2t+9]
//      (row = g for a_i, i in {0,1,4,5}, else g+8; col = 2t + (i & 1), +8 for i >= 4)
//   B: b[0..1]:  b[0] = B[2t, 2t+1][g]   b[1] = B[2t+8, 2t+9][g]
//      (row = 2t + (i & 1), +8 for i >= 2; col = g)
//   C, D: c[0..3], d[0..3] fp32:  [0] = (g, 2t)  [1] = (g, 2t+1)  [2] = (g+8, 2t)  [3] = (g+8, 2t+1)

__device__ __forceinline__ void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2],
                                                  const float c[4]) {
#if defined(__CUDACC__)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%10, %11, %12, %13};\n"
                 : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]),
                   "f"(c[2]), "f"(c[3]));
#else
    ldm_emu::ptx::mma_m16n8k16_bf16(d, a, b, c);
#endif
}

// ---------------------------------------------------------------------------------
// ldmatrix.sync.aligned.m8n8.x4.shared.b16  {r0, r1, r2, r3}, [row]
//   Loads four 8x8 matrices of 16-bit elements from shared memory. Each row is 16 contiguous
//   bytes at a 16-byte aligned address: lane 8i + j supplies the address of row j of matrix i
//   (lanes 0-7: matrix 0, 8-15: matrix 1, 16-23: matrix 2, 24-31: matrix 3).
//   Lane l receives r[i] = matrix i's (row l/4, cols 2(l%4), 2(l%4)+1): the same layout as
//   an mma A or C fragment quarter, so for a 16x16 A tile at rows r0.., cols k0.. the lane
//   supplies row r0 + (l % 16), col k0 + 8 (l / 16) and gets a[0..3] in mma order.
// .trans: lane l receives r[i] = matrix i's (rows 2(l%4), 2(l%4)+1, col l/4), i.e. the
//   fragment of the transposed matrix (a row-major K x N tile read as an mma B operand).

__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void *smem_row) {
#if defined(__CUDACC__)
    const unsigned addr = (unsigned)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
#else
    ldm_emu::ptx::ldmatrix_x4(r, smem_row);
#endif
}

__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void *smem_row) {
#if defined(__CUDACC__)
    const unsigned addr = (unsigned)__cvta_generic_to_shared(smem_row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr)
                 : "memory");
#else
    ldm_emu::ptx::ldmatrix_x4_trans(r, smem_row);
#endif
}

// ---------------------------------------------------------------------------------
// cp.async.cg.shared.global [dst], [src], 16, src_bytes
//   An asynchronous 16-byte copy global -> shared (both 16-byte aligned), bypassing L1 (.cg).
//   Only src_bytes (0..16) are read; the rest of the 16 bytes is zero-filled (edge tiles).
//   The copy belongs to the thread's open group; cp.async.commit_group closes the group;
//   cp.async.wait_group N waits until at most N of the thread's committed groups are still
//   in flight. Until then the destination must not be read. Other threads see the data only
//   after the wait AND a barrier (__syncthreads) that orders them.

__device__ __forceinline__ void cp_async_cg16(void *smem_dst, const void *gmem_src, int src_bytes = 16) {
#if defined(__CUDACC__)
    const unsigned addr = (unsigned)__cvta_generic_to_shared(smem_dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(gmem_src), "r"(src_bytes)
                 : "memory");
#else
    ldm_emu::ptx::cp_async_cg16(smem_dst, gmem_src, src_bytes);
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDACC__)
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#else
    ldm_emu::ptx::cp_async_commit();
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDACC__)
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#else
    ldm_emu::ptx::cp_async_wait(N);
#endif
}

} // namespace

#endif
