/* core/emu/ptx_emu.h — the tensor-core PTX instructions of kernels/cuda/mma.cuh, executed on
 * the emulator exactly as the PTX ISA defines them (ISA 8.x, "Warp-level matrix instructions"
 * and "Data movement: cp.async"). Included by mma.cuh when the .cu file is compiled by g++
 * against cuda_emu.h; nvcc never sees this file.
 *
 *   - mma_m16n8k16_bf16: the warp's 32 fragments are gathered with __shfl_sync (full mask:
 *     a lane that does not take part is the emulator's absent-lane fault, as on hardware where
 *     .sync.aligned requires the whole warp), then each lane computes its 4 outputs.
 *     Products of two bf16 are exact in fp32; the 16 products are summed in double and added
 *     to c, rounded once to fp32. (The ISA does not specify the order or the intermediate
 *     precision of the hardware's sum; the parity tolerances cover the difference.)
 *   - ldmatrix_x4 (.trans): each lane supplies a row address; the lanes that receive that
 *     row's elements fetch the address with __shfl_sync and read shared memory themselves, so
 *     the emulator's shared-memory checks (bounds, races, never-written words) apply to the
 *     rows actually read. A row address not 16-byte aligned is a fault.
 *   - cp.async.cg 16 bytes: the source is read at issue (global bounds checked); the bytes
 *     land in shared memory only when a cp.async.wait_group covers their group (stores by the
 *     issuing thread, checked like any store). Copies not yet waited for when the block ends
 *     are dropped. So a missing wait leaves shared memory unwritten (the emulator reports the
 *     read of a never-written word) or stale (the test sees wrong data).
 */
#ifndef LDM_CORE_EMU_PTX_EMU_H
#define LDM_CORE_EMU_PTX_EMU_H

#include <stdint.h>
#include <string.h>

extern "C" {
unsigned ldm_emu_block_gen(void);     /* changes at every block run (cuda_emu.cpp) */
void ldm_emu_fault(const char *what); /* reports a fault in the running thread; does not return */
}

namespace ldm_emu {
namespace ptx {

inline int lane_id() { return ldm_emu_tid() & 31; }

inline float bf16_lo(uint32_t r) { uint32_t u = r << 16; float f; memcpy(&f, &u, 4); return f; }
inline float bf16_hi(uint32_t r) { uint32_t u = r & 0xffff0000u; float f; memcpy(&f, &u, 4); return f; }

/* D (16x8, f32) = A (16x16 bf16, row) * B (16x8 bf16, col) + C. Fragment layout: mma.cuh. */
inline void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    const unsigned full = 0xffffffffu;
    const int lane = lane_id(), g = lane >> 2, t = lane & 3;
    const unsigned long long a01 = a[0] | (unsigned long long)a[1] << 32;
    const unsigned long long a23 = a[2] | (unsigned long long)a[3] << 32;
    const unsigned long long b01 = b[0] | (unsigned long long)b[1] << 32;
    /* rows g and g+8 of A: lanes 4g..4g+3 hold them (a0: row g, cols 2j,2j+1; a1: row g+8;
     * a2: row g, cols 2j+8, 2j+9; a3: row g+8, cols 2j+8, 2j+9 for lane 4g+j) */
    float A[2][16], B[2][16];
    for (int j = 0; j < 4; j++) {
        const unsigned long long x = __shfl_sync(full, a01, 4 * g + j), y = __shfl_sync(full, a23, 4 * g + j);
        const uint32_t r0 = (uint32_t)x, r1 = (uint32_t)(x >> 32), r2 = (uint32_t)y, r3 = (uint32_t)(y >> 32);
        A[0][2 * j] = bf16_lo(r0), A[0][2 * j + 1] = bf16_hi(r0);
        A[1][2 * j] = bf16_lo(r1), A[1][2 * j + 1] = bf16_hi(r1);
        A[0][2 * j + 8] = bf16_lo(r2), A[0][2 * j + 9] = bf16_hi(r2);
        A[1][2 * j + 8] = bf16_lo(r3), A[1][2 * j + 9] = bf16_hi(r3);
    }
    /* columns 2t and 2t+1 of B: column n is held by lanes 4n..4n+3 (b0: rows 2j, 2j+1;
     * b1: rows 2j+8, 2j+9 for lane 4n+j) */
    for (int cc = 0; cc < 2; cc++)
        for (int j = 0; j < 4; j++) {
            const unsigned long long x = __shfl_sync(full, b01, 4 * (2 * t + cc) + j);
            const uint32_t r0 = (uint32_t)x, r1 = (uint32_t)(x >> 32);
            B[cc][2 * j] = bf16_lo(r0), B[cc][2 * j + 1] = bf16_hi(r0);
            B[cc][2 * j + 8] = bf16_lo(r1), B[cc][2 * j + 9] = bf16_hi(r1);
        }
    /* d0, d1: row g, cols 2t, 2t+1; d2, d3: row g+8 */
    for (int i = 0; i < 4; i++) {
        double s = 0;
        for (int k = 0; k < 16; k++) s += (double)A[i >> 1][k] * (double)B[i & 1][k];
        d[i] = (float)(s + (double)c[i]);
    }
}

inline void check_row(const void *row) {
    if ((uintptr_t)row & 15u) ldm_emu_fault("ldmatrix: row address not 16-byte aligned");
}

/* ldmatrix.sync.aligned.m8n8.x4.shared.b16: lane 8i+r supplies row r of matrix i; lane l
 * receives, in r[i], elements (row l/4, cols 2(l%4), 2(l%4)+1) of matrix i. */
inline void ldmatrix_x4(uint32_t r[4], const void *row) {
    check_row(row);
    const int lane = lane_id();
    const unsigned long long mine = (uintptr_t)row;
    for (int i = 0; i < 4; i++) {
        const uintptr_t p = (uintptr_t)__shfl_sync(0xffffffffu, mine, 8 * i + (lane >> 2));
        r[i] = *(const uint32_t *)(p + 4 * (lane & 3));
    }
}

/* .trans: lane l receives elements (rows 2(l%4), 2(l%4)+1, col l/4) of matrix i: the fragment
 * of the transposed matrix. */
inline void ldmatrix_x4_trans(uint32_t r[4], const void *row) {
    check_row(row);
    const int lane = lane_id();
    const unsigned long long mine = (uintptr_t)row;
    for (int i = 0; i < 4; i++) {
        const uintptr_t p0 = (uintptr_t)__shfl_sync(0xffffffffu, mine, 8 * i + 2 * (lane & 3));
        const uintptr_t p1 = (uintptr_t)__shfl_sync(0xffffffffu, mine, 8 * i + 2 * (lane & 3) + 1);
        const uint32_t lo = *(const uint16_t *)(p0 + 2 * (lane >> 2));
        const uint32_t hi = *(const uint16_t *)(p1 + 2 * (lane >> 2));
        r[i] = lo | hi << 16;
    }
}

// cp.async: per-thread pending copies, tagged with the block run that issued them

enum { CP_MAX = 64 };
struct CpCopy {
    uint32_t *dst;
    alignas(16) uint32_t data[4]; /* 16-byte copies of it are aligned (the emulator checks) */
    int group;
};
struct CpState {
    unsigned gen;
    int n, next_group; /* next_group: the open (uncommitted) group */
    CpCopy copy[CP_MAX];
};

inline CpState &cp_state() {
    /* not thread_local: the emulator takes thread_local storage for __shared__ variables.
     * A plain global is where __device__ variables live (checked, never a race report). */
    static CpState st[1024];
    CpState &s = st[ldm_emu_tid() & 1023];
    if (s.gen != ldm_emu_block_gen()) { /* a new block: copies of an earlier one are gone */
        s.gen = ldm_emu_block_gen();
        s.n = 0;
        s.next_group = 0;
    }
    return s;
}

/* cp.async.cg.shared.global [dst], [src], 16, src_bytes: src_bytes (0..16) read, the rest
 * of the 16 bytes zero-filled. */
inline void cp_async_cg16(void *dst, const void *src, int src_bytes) {
    if (((uintptr_t)dst | (uintptr_t)src) & 15u) ldm_emu_fault("cp.async: address not 16-byte aligned");
    if (src_bytes < 0 || src_bytes > 16) ldm_emu_fault("cp.async: src-size outside 0..16");
    CpState &s = cp_state();
    if (s.n == CP_MAX) ldm_emu_fault("cp.async: more than 64 copies in flight in one thread (missing wait?)");
    CpCopy &c = s.copy[s.n++];
    c.dst = (uint32_t *)dst;
    c.group = s.next_group;
    uint8_t bytes[16] = {0};
    const uint8_t *p = (const uint8_t *)src;
    if (src_bytes == 16) {
        const uint32_t *q = (const uint32_t *)src; /* checked loads */
        for (int k = 0; k < 4; k++) c.data[k] = q[k];
        return;
    }
    for (int k = 0; k < src_bytes; k++) bytes[k] = p[k];
    for (int w = 0; w < 4; w++)
        c.data[w] = bytes[4 * w] | (uint32_t)bytes[4 * w + 1] << 8 | (uint32_t)bytes[4 * w + 2] << 16 |
                    (uint32_t)bytes[4 * w + 3] << 24;
}

inline void cp_async_commit() { cp_state().next_group++; }

/* cp.async.wait_group n: every committed group but the newest n is complete. */
inline void cp_async_wait(int n) {
    CpState &s = cp_state();
    const int upto = s.next_group - n; /* groups < upto complete */
    int keep = 0;
    for (int k = 0; k < s.n; k++) {
        CpCopy &c = s.copy[k];
        if (c.group < upto) {
            for (int w = 0; w < 4; w++) c.dst[w] = c.data[w]; /* checked stores */
        } else {
            s.copy[keep++] = c;
        }
    }
    s.n = keep;
}

} // namespace ptx
} // namespace ldm_emu

#endif
