/* tests/emu/fixtures.h — kernels written wrong on purpose (bad_*.cu) and right (good_*.cu),
 * for tests/test_emu.c: the CUDA emulator must report every bad one with the kernel's
 * name and the offending block and thread, and pass every good one silently. Each
 * launcher runs its kernel on small device buffers it allocates itself and returns the
 * CUDA error of the launch (0 = clean). They are valid CUDA: nvcc would compile them. */
#ifndef LDM_TESTS_EMU_FIXTURES_H
#define LDM_TESTS_EMU_FIXTURES_H

int fx_missing_barrier(void);   /* reverse through shared memory without __syncthreads */
int fx_smem_race(void);         /* two threads write one shared word between barriers */
int fx_edge_tile(void);         /* `i <= n`: the last tile reads one element past the end */
int fx_misaligned_float4(void); /* a float4 load one float past a 16-byte boundary */
int fx_divergent_barrier(void); /* __syncthreads in both branches of a thread-dependent if */
int fx_partial_barrier(void);   /* __syncthreads inside `if (tid < 16)`: the rest exit */
int fx_shfl_absent(void);       /* full-mask shuffle in a warp whose upper lanes returned */
int fx_shfl_missing_lanes(void);/* full-mask shuffle in a 48-thread block (lanes 16..31 of warp 1 do not exist) */
int fx_uninit_smem(void);       /* reads a shared word no thread wrote */
int fx_dyn_smem_oob(void);      /* indexes past the dynamic shared memory it launched with */
int fx_host_pointer(void);      /* a kernel given a host (malloc) pointer */
int fx_block_too_big(void);     /* 2048 threads a block */
int fx_smem_no_optin(void);     /* 64 KB of dynamic shared memory without cudaFuncSetAttribute */
int fx_smem_over_max(void);     /* cudaFuncSetAttribute to 300 KB */

int fx_good_reverse(void);      /* the reverse with its barrier */
int fx_good_reduce(void);       /* tree reduction in shared memory + warp shuffles */
int fx_good_half_warp(void);    /* shuffles with a 16-lane mask, only those lanes calling */
int fx_good_float4(void);       /* float4 copy on aligned pointers, scalar tail */
int fx_good_dyn_smem_optin(void); /* 100 KB of dynamic shared memory after the opt-in */
int fx_good_empty_grid(void);   /* a zero-size grid through LDM_LAUNCH is a no-op */

#endif
