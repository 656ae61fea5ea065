/* kernels/cpu/gemm.h — the CPU SGEMM behind the linear layers,
 * and the `vf` vector type its micro-kernel and conv2d.c's are written in.
 *
 *   sgemm:   C = alpha * op(A) op(B) + beta * C, row-major, op(X) = X or X^T,
 *            op(A) is (M, K), op(B) is (K, N), C is (M, N).
 *   gemm_ex: the same blocked driver with its operands described by pack callbacks, so an
 *            operand can be gathered from anywhere while it is packed and the rows of C
 *            written anywhere.
 *
 * beta == 0 never reads C (it may hold NaN). Cost 2*M*N*K FLOP. Blocking, packing and the
 * threading are described in gemm.c.
 */
#ifndef LDM_KERNELS_CPU_GEMM_H
#define LDM_KERNELS_CPU_GEMM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct GemmOperand GemmOperand;

/* Packs one panel of an operand: `width` lanes starting at lane i0 (lanes are rows of
 * op(A), or columns of op(B)), of which the first ni are real, by the depth range
 * k0 .. k0+nk-1 (the K of the GEMM), as dst[k * width + i]; lanes ni .. width-1 are zero. */
typedef void (*GemmPackFn)(const GemmOperand *x, int i0, int ni, int k0, int nk, int width, float *dst);

struct GemmOperand {
    GemmPackFn pack;
    const float *p;  /* the matrix, for the two strided packers below */
    int ld;
    const void *ctx; /* whatever a custom packer needs */
};

/* Strided row-major matrix p with leading dimension ld. */
/* Lane i, depth k at p[i*ld + k]: A without transpose, B transposed. */
void gemm_pack_lane_rows(const GemmOperand *x, int i0, int ni, int k0, int nk, int width, float *dst);
/* Lane i, depth k at p[k*ld + i]: A transposed, B without transpose. */
void gemm_pack_depth_rows(const GemmOperand *x, int i0, int ni, int k0, int nk, int width, float *dst);

/* The output: row m of C starts at row(c, m), or at p + m*ld when row is NULL; the N
 * columns of a row are contiguous. Distinct m must give non-overlapping rows. */
typedef struct GemmOut GemmOut;
struct GemmOut {
    float *p;
    int ld;
    float *(*row)(const GemmOut *c, int m);
    const void *ctx;
};

/* 0, or -1 with an error ("gemm: ...") when scratch memory cannot be allocated. */
int gemm_ex(int M, int N, int K, float alpha, const GemmOperand *a, const GemmOperand *b, float beta,
            const GemmOut *c);

/* lda >= K (lda >= M when trans_a), ldb >= N (ldb >= K when trans_b), ldc >= N.
 * 0, or -1 with an error naming the bad argument. */
int sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
          int ldb, float beta, float *C, int ldc);

/* y (M, OUT) = x (M, IN) w^T + b, w (OUT, IN), b (OUT) or NULL, all row-major and dense:
 * a product with a short depth (gemm_thin_fits), where packing x would cost as much as the
 * FMAs (the linear layers' thin forwards, the 1x1 convolutions). -1 when its scratch cannot
 * be allocated. */
#define GEMM_THIN_K 128
#define GEMM_THIN_W_FLOATS 32768 /* 128 KB: w^T stays in L2 */
static inline bool gemm_thin_fits(int IN, int OUT) { return IN <= GEMM_THIN_K && (long)IN * OUT <= GEMM_THIN_W_FLOATS; }
int gemm_thin(const float *x, const float *w, const float *b, float *y, int M, int IN, int OUT);

/* Bias helpers for the ops built on the GEMM; y and dy are (rows, n) row-major. */
/* y[r][j] = b[j] for every row (then a GEMM with beta = 1 adds the product). */
void gemm_fill_rows(float *y, long rows, int n, const float *b);
/* db[j] += sum_r dy[r][j], summed in a fixed order (see gemm.c), whatever the thread count;
 * -1 when its scratch cannot be allocated. */
int gemm_sum_rows(const float *dy, long rows, int n, float *db);

// ----------------------------------------------------------------------------
// vectors: the micro-kernels here and in conv2d.c are written once over `vf`, VW floats

#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vf;
#define VW 16
static inline vf vf_load(const float *p) { return _mm512_load_ps(p); }
static inline vf vf_loadu(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_storeu(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline float vf_sum(vf a) { return _mm512_reduce_add_ps(a); }
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 vf;
#define VW 8
static inline vf vf_load(const float *p) { return _mm256_load_ps(p); }
static inline vf vf_loadu(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_storeu(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline float vf_sum(vf a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
#else
typedef float vf;
#define VW 1
static inline vf vf_load(const float *p) { return *p; }
static inline vf vf_loadu(const float *p) { return *p; }
static inline void vf_storeu(float *p, vf v) { *p = v; }
static inline vf vf_set1(float x) { return x; }
static inline vf vf_fma(vf a, vf b, vf c) { return a * b + c; }
static inline vf vf_mul(vf a, vf b) { return a * b; }
static inline vf vf_add(vf a, vf b) { return a + b; }
static inline float vf_sum(vf a) { return a; }
#endif

#endif
