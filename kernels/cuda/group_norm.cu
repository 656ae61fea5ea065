/* kernels/cuda/group_norm.cu — group normalisation over NHWC with an optional fused SiLU.
 *
 * Math (kernels/group_norm.h): group g of sample n holds the cpg = C/G channels
 * [g*cpg, (g+1)*cpg) at all HW positions, M = HW*cpg elements.
 *   mu = mean(x), var = mean((x - mu)^2), rstd = 1/sqrt(var + eps)
 *   xh = (x - mu) rstd;  z = xh gamma[c] + beta[c];  y = silu ? z sigmoid(z) : z
 * backward (dz = dy, or dy s (1 + z (1 - s)) with s = sigmoid(z) under SiLU):
 *   gx = dz gamma;  dx += rstd (gx - mean(gx) - xh mean(gx xh))
 *   dgamma[c] += sum_{n,p} dz xh;  dbeta[c] += sum_{n,p} dz
 * Cost per element: forward ~8 FLOP (+ exp with SiLU), 8 bytes (x read once, y written
 * once); backward ~16 FLOP, 16 bytes (x, dy, dx read, dx written).
 *
 * Decomposition. A block owns one (n, g) group. Its threads form a 2-D layout over the
 * group: cv = cpg/V channel vectors (V = 4 floats when cpg % 4 == 0 and the pointers are
 * 16-byte aligned, else 1) by rows = blockDim/cv positions; thread (r, c) visits
 * positions r, r + rows, ... of channel vector c, so its gamma/beta are fixed and its
 * per-channel partial sums are its own.
 *   cached path (group fits in GN_SMEM_MAX of shared memory): forward reads x once into
 *     thread-private shared slots, takes mu and then var by two block sums over the
 *     cached values (exact two-pass), writes y once and saves mean/rstd. Backward caches
 *     x and dy, replaces them by xh and gx, takes mean(gx) and mean(gx xh) by two block
 *     sums, writes dx once, and reduces its per-channel dgamma/dbeta partials over the
 *     rows by a fixed tree into a (N, C) scratch; a second kernel adds those over n in
 *     order (no float atomics: bitwise the same every run).
 *   fallback (bigger groups): each group is cut into S chunks of PC positions, one block
 *     per chunk writes partial sums (double moments forward; mean(gx), mean(gx xh) and
 *     per-channel partials backward), a per-group kernel combines the chunks in order,
 *     and an elementwise kernel applies the result: x is read twice forward (12
 *     bytes/element), x and dy twice backward (24 bytes/element).
 * Limits: cpg/V <= 1024 channel vectors per group (an error otherwise).
 * x and y are float or bf16_t (template T): bf16 is widened on load (the shared-memory
 * cache holds fp32), statistics and math are fp32 (double for the fallback's moments), y
 * is rounded once; dy, dx, gamma, beta, mean, rstd are fp32. In bf16 the forward moves 4
 * bytes an element, the backward 14. */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/group_norm.h"
}
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/scratch.h"

#define GN_SMEM_MAX (96 * 1024) /* bytes of shared memory a cached kernel may use for its group */
#define GN_CHUNK_ELEMS 16384    /* fallback: elements of a group handled by one block */

struct GnDims {
    int HW, C, G, cpg, cv; /* cv = cpg / V channel vectors per position */
    int S, PC;             /* chunks per group, positions per chunk (S = 1, PC = HW when cached) */
    float m;               /* elements per group, HW * cpg */
};

/* This thread's place in a block's (rows, cv) layout. */
struct GnThread {
    int rows, r, c;
    __device__ explicit GnThread(int cv) : rows(blockDim.x / cv), r(threadIdx.x / cv), c(threadIdx.x % cv) {}
    __device__ bool active() const { return r < rows; }
};

__device__ __forceinline__ float gn_silu(float z) { return z / (1.0f + expf(-z)); }

__device__ __forceinline__ float gn_silu_grad(float z, float dy) {
    float s = 1.0f / (1.0f + expf(-z));
    return dy * s * (1.0f + z * (1.0f - s));
}

/* gamma/beta of channel vector c of group g (NULL gamma = 1, NULL beta = 0). */
template <int V>
__device__ __forceinline__ void gn_affine(const float *gamma, const float *beta, int ch, float *gm, float *bt) {
    if (gamma) ldv<V>(gamma + ch, gm);
    else
        for (int j = 0; j < V; j++) gm[j] = 1.0f;
    if (beta) ldv<V>(beta + ch, bt);
    else
        for (int j = 0; j < V; j++) bt[j] = 0.0f;
}

/* dz and gx = dz * gamma for one element, given xh. */
__device__ __forceinline__ float gn_dz(float xh, float dy, float gm, float bt, int silu) {
    return silu ? gn_silu_grad(xh * gm + bt, dy) : dy;
}

/* Reduces each thread's 2V per-channel partials (dg, db) over the rows of the layout by
 * a fixed tree in `tree` (blockDim * 2V floats of shared memory) and lets row 0 write
 * them to pg[c*V + j], pb[c*V + j]. Called by every thread of the block. */
template <int V>
__device__ void gn_channel_partials(float *tree, const GnThread &th, int cv, const float *dg, const float *db,
                                    float *pg, float *pb) {
    float *mine = tree + threadIdx.x * 2 * V;
    if (th.active())
        for (int j = 0; j < V; j++) {
            mine[j] = dg[j];
            mine[V + j] = db[j];
        }
    __syncthreads();
    int P = 1;
    while (P < th.rows) P <<= 1;
    for (int s = P >> 1; s > 0; s >>= 1) {
        if (th.active() && th.r < s && th.r + s < th.rows) {
            const float *other = tree + (threadIdx.x + s * cv) * 2 * V;
            for (int j = 0; j < 2 * V; j++) mine[j] += other[j];
        }
        __syncthreads();
    }
    if (th.r == 0)
        for (int j = 0; j < V; j++) {
            pg[th.c * V + j] = mine[j];
            pb[th.c * V + j] = mine[V + j];
        }
}

// ---------------------------------------------------------------------------------
// cached path: one block per (n, g), the whole group in shared memory

template <int V, class T>
__global__ void __launch_bounds__(1024)
    gn_forward_cached(const T *__restrict__ x, const float *__restrict__ gamma, const float *__restrict__ beta,
                      T *__restrict__ y, float *__restrict__ mean, float *__restrict__ rstd, GnDims d, float eps,
                      int silu) {
    LDM_DYNAMIC_SHARED(float4, gn_smem4);
    float *cache = reinterpret_cast<float *>(gn_smem4); /* HW*cv vectors; slot k*V belongs to one thread */
    __shared__ float red[32];
    const int ng = blockIdx.x, n = ng / d.G, g = ng % d.G;
    const GnThread th(d.cv);
    const int step = th.rows * d.cv; /* slot distance between a thread's consecutive positions */
    const long base = (long)n * d.HW * d.C + (long)g * d.cpg + th.c * V;

    float s = 0.f;
    if (th.active()) {
#pragma unroll 4
        for (int p = th.r, k = threadIdx.x; p < d.HW; p += th.rows, k += step) {
            float v[V];
            ldv<V>(x + base + (long)p * d.C, v);
            stv<V>(cache + (long)k * V, v);
            for (int j = 0; j < V; j++) s += v[j];
        }
    }
    const float mu = block_sum(s, red) / d.m;
    float q = 0.f;
    if (th.active()) {
        for (int p = th.r, k = threadIdx.x; p < d.HW; p += th.rows, k += step) {
            float v[V];
            ldv<V>(cache + (long)k * V, v);
            for (int j = 0; j < V; j++) {
                float t = v[j] - mu;
                q += t * t;
            }
        }
    }
    const float var = block_sum(q, red) / d.m;
    const float rs = 1.0f / sqrtf(var + eps);
    if (threadIdx.x == 0) {
        mean[ng] = mu;
        rstd[ng] = rs;
    }
    if (!th.active()) return;
    float gm[V], bt[V];
    gn_affine<V>(gamma, beta, g * d.cpg + th.c * V, gm, bt);
#pragma unroll 4
    for (int p = th.r, k = threadIdx.x; p < d.HW; p += th.rows, k += step) {
        float v[V];
        ldv<V>(cache + (long)k * V, v);
        for (int j = 0; j < V; j++) {
            float z = (v[j] - mu) * rs * gm[j] + bt[j];
            v[j] = silu ? gn_silu(z) : z;
        }
        stv<V>(y + base + (long)p * d.C, v);
    }
}

/* pg, pb: (N, C) partials of dgamma, dbeta, or NULL when neither is wanted. */
template <int V, class T>
__global__ void __launch_bounds__(1024)
    gn_backward_cached(const T *__restrict__ x, const float *__restrict__ gamma, const float *__restrict__ beta,
                       const float *__restrict__ mean, const float *__restrict__ rstd, const float *__restrict__ dy,
                       float *__restrict__ dx, float *__restrict__ pg, float *__restrict__ pb, GnDims d, int silu) {
    LDM_DYNAMIC_SHARED(float4, gn_smem4);
    float *cxh = reinterpret_cast<float *>(gn_smem4); /* xh, HW*cv thread-private vector slots */
    float *cgx = cxh + (long)d.HW * d.cpg;            /* gx, same slots */
    float *tree = cgx + (long)d.HW * d.cpg;           /* blockDim * 2V per-channel partials */
    __shared__ float red[32];
    const int ng = blockIdx.x, n = ng / d.G, g = ng % d.G;
    const GnThread th(d.cv);
    const int step = th.rows * d.cv;
    const long base = (long)n * d.HW * d.C + (long)g * d.cpg + th.c * V;
    const float mu = mean[ng], rs = rstd[ng];
    float gm[V], bt[V];
    gn_affine<V>(gamma, beta, g * d.cpg + th.c * V, gm, bt);

    float a = 0.f, b = 0.f, dg[V], db[V];
    for (int j = 0; j < V; j++) dg[j] = db[j] = 0.f;
    if (th.active()) {
#pragma unroll 4
        for (int p = th.r, k = threadIdx.x; p < d.HW; p += th.rows, k += step) {
            float xv[V], gv[V];
            ldv<V>(x + base + (long)p * d.C, xv);
            ldv<V>(dy + base + (long)p * d.C, gv);
            for (int j = 0; j < V; j++) {
                float xh = (xv[j] - mu) * rs;
                float dz = gn_dz(xh, gv[j], gm[j], bt[j], silu);
                float gx = dz * gm[j];
                a += gx;
                b += gx * xh;
                dg[j] += dz * xh;
                db[j] += dz;
                xv[j] = xh;
                gv[j] = gx;
            }
            stv<V>(cxh + (long)k * V, xv);
            stv<V>(cgx + (long)k * V, gv);
        }
    }
    const float A = block_sum(a, red) / d.m;
    const float B = block_sum(b, red) / d.m;
    if (dx && th.active()) {
#pragma unroll 4
        for (int p = th.r, k = threadIdx.x; p < d.HW; p += th.rows, k += step) {
            float xh[V], gx[V], o[V];
            ldv<V>(cxh + (long)k * V, xh);
            ldv<V>(cgx + (long)k * V, gx);
            ldv<V>(dx + base + (long)p * d.C, o);
            for (int j = 0; j < V; j++) o[j] += rs * (gx[j] - A - xh[j] * B);
            stv<V>(dx + base + (long)p * d.C, o);
        }
    }
    if (pg) {
        const long row = (long)n * d.C + (long)g * d.cpg;
        gn_channel_partials<V>(tree, th, d.cv, dg, db, pg + row, pb + row);
    }
}

// ---------------------------------------------------------------------------------
// fallback path: S chunk blocks per group, combine in order, then apply elementwise

template <int V, class T>
__global__ void __launch_bounds__(1024) gn_stats_partial(const T *__restrict__ x, GnDims d, double *part) {
    __shared__ double red[32];
    const int blk = blockIdx.x, ng = blk / d.S, s = blk % d.S, n = ng / d.G, g = ng % d.G;
    const GnThread th(d.cv);
    const int p0 = s * d.PC, p1 = min(d.HW, p0 + d.PC);
    const long base = (long)n * d.HW * d.C + (long)g * d.cpg + th.c * V;
    double s1 = 0.0, s2 = 0.0;
    if (th.active()) {
#pragma unroll 4
        for (int p = p0 + th.r; p < p1; p += th.rows) {
            float v[V];
            ldv<V>(x + base + (long)p * d.C, v);
            for (int j = 0; j < V; j++) {
                s1 += v[j];
                s2 += (double)v[j] * v[j];
            }
        }
    }
    s1 = block_sum(s1, red);
    s2 = block_sum(s2, red);
    if (threadIdx.x == 0) {
        part[2L * blk] = s1;
        part[2L * blk + 1] = s2;
    }
}

__global__ void gn_stats_finalize(const double *__restrict__ part, int NG, GnDims d, float eps,
                                  float *__restrict__ mean, float *__restrict__ rstd) {
    const int ng = blockIdx.x * blockDim.x + threadIdx.x;
    if (ng >= NG) return;
    double s1 = 0.0, s2 = 0.0;
    for (int s = 0; s < d.S; s++) {
        s1 += part[2L * (ng * (long)d.S + s)];
        s2 += part[2L * (ng * (long)d.S + s) + 1];
    }
    const double m = (double)d.HW * d.cpg, mu = s1 / m;
    double var = s2 / m - mu * mu;
    if (var < 0.0) var = 0.0;
    mean[ng] = (float)mu;
    rstd[ng] = (float)(1.0 / sqrt(var + (double)eps));
}

/* Elementwise over all N*HW*C elements, V at a time (V channels of one group). */
template <int V, class T>
__global__ void __launch_bounds__(EW_THREADS)
    gn_apply(const T *__restrict__ x, const float *__restrict__ gamma, const float *__restrict__ beta,
             const float *__restrict__ mean, const float *__restrict__ rstd, T *__restrict__ y, long total,
             GnDims d, int silu) {
    const long stride = (long)gridDim.x * EW_THREADS * V;
    for (long e = (blockIdx.x * (long)EW_THREADS + threadIdx.x) * V; e < total; e += stride) {
        const int c = (int)(e % d.C);
        const long ng = e / ((long)d.HW * d.C) * d.G + c / d.cpg;
        const float mu = mean[ng], rs = rstd[ng];
        float v[V], gm[V], bt[V];
        gn_affine<V>(gamma, beta, c, gm, bt);
        ldv<V>(x + e, v);
        for (int j = 0; j < V; j++) {
            float z = (v[j] - mu) * rs * gm[j] + bt[j];
            v[j] = silu ? gn_silu(z) : z;
        }
        stv<V>(y + e, v);
    }
}

/* Per chunk: ab[blk] = (sum gx, sum gx xh); per-channel partials into row (n*S + s) of
 * pg, pb (N*S, C) when pg is given. */
template <int V, class T>
__global__ void __launch_bounds__(1024)
    gn_backward_partial(const T *__restrict__ x, const float *__restrict__ gamma, const float *__restrict__ beta,
                        const float *__restrict__ mean, const float *__restrict__ rstd, const float *__restrict__ dy,
                        float *__restrict__ ab, float *__restrict__ pg, float *__restrict__ pb, GnDims d, int silu) {
    LDM_DYNAMIC_SHARED(float4, gn_smem4);
    float *tree = reinterpret_cast<float *>(gn_smem4);
    __shared__ float red[32];
    const int blk = blockIdx.x, ng = blk / d.S, s = blk % d.S, n = ng / d.G, g = ng % d.G;
    const GnThread th(d.cv);
    const int p0 = s * d.PC, p1 = min(d.HW, p0 + d.PC);
    const long base = (long)n * d.HW * d.C + (long)g * d.cpg + th.c * V;
    const float mu = mean[ng], rs = rstd[ng];
    float gm[V], bt[V];
    gn_affine<V>(gamma, beta, g * d.cpg + th.c * V, gm, bt);
    float a = 0.f, b = 0.f, dg[V], db[V];
    for (int j = 0; j < V; j++) dg[j] = db[j] = 0.f;
    if (th.active()) {
#pragma unroll 4
        for (int p = p0 + th.r; p < p1; p += th.rows) {
            float xv[V], gv[V];
            ldv<V>(x + base + (long)p * d.C, xv);
            ldv<V>(dy + base + (long)p * d.C, gv);
            for (int j = 0; j < V; j++) {
                float xh = (xv[j] - mu) * rs;
                float dz = gn_dz(xh, gv[j], gm[j], bt[j], silu);
                float gx = dz * gm[j];
                a += gx;
                b += gx * xh;
                dg[j] += dz * xh;
                db[j] += dz;
            }
        }
    }
    a = block_sum(a, red);
    b = block_sum(b, red);
    if (threadIdx.x == 0) {
        ab[2L * blk] = a;
        ab[2L * blk + 1] = b;
    }
    if (pg) {
        const long row = ((long)n * d.S + s) * d.C + (long)g * d.cpg;
        gn_channel_partials<V>(tree, th, d.cv, dg, db, pg + row, pb + row);
    }
}

/* AB[ng] = (mean(gx), mean(gx xh)) from the chunk partials, in chunk order. */
__global__ void gn_backward_finalize(const float *__restrict__ ab, int NG, GnDims d, float *__restrict__ AB) {
    const int ng = blockIdx.x * blockDim.x + threadIdx.x;
    if (ng >= NG) return;
    float a = 0.f, b = 0.f;
    for (int s = 0; s < d.S; s++) {
        a += ab[2L * (ng * (long)d.S + s)];
        b += ab[2L * (ng * (long)d.S + s) + 1];
    }
    AB[2L * ng] = a / d.m;
    AB[2L * ng + 1] = b / d.m;
}

template <int V, class T>
__global__ void __launch_bounds__(EW_THREADS)
    gn_backward_apply(const T *__restrict__ x, const float *__restrict__ gamma, const float *__restrict__ beta,
                      const float *__restrict__ mean, const float *__restrict__ rstd, const float *__restrict__ dy,
                      const float *__restrict__ AB, float *__restrict__ dx, long total, GnDims d, int silu) {
    const long stride = (long)gridDim.x * EW_THREADS * V;
    for (long e = (blockIdx.x * (long)EW_THREADS + threadIdx.x) * V; e < total; e += stride) {
        const int c = (int)(e % d.C);
        const long ng = e / ((long)d.HW * d.C) * d.G + c / d.cpg;
        const float mu = mean[ng], rs = rstd[ng], A = AB[2 * ng], B = AB[2 * ng + 1];
        float xv[V], gv[V], o[V], gm[V], bt[V];
        gn_affine<V>(gamma, beta, c, gm, bt);
        ldv<V>(x + e, xv);
        ldv<V>(dy + e, gv);
        ldv<V>(dx + e, o);
        for (int j = 0; j < V; j++) {
            float xh = (xv[j] - mu) * rs;
            float gx = gn_dz(xh, gv[j], gm[j], bt[j], silu) * gm[j];
            o[j] += rs * (gx - A - xh * B);
        }
        stv<V>(dx + e, o);
    }
}

// ---------------------------------------------------------------------------------
// launchers

/* Threads per block: a power of two >= cv (so every channel vector has a column), more
 * for big groups so that enough loads are in flight. */
static int gn_threads(int cv, long vecs) {
    int t = 256;
    while (t < cv) t <<= 1;
    while (t < 1024 && vecs > (long)t * 8) t <<= 1;
    return t;
}

static int gn_setup(const char *op, const Tensor *x, int groups, int vec4, GnDims *d, int *N) {
    *N = x->shape[0];
    d->C = x->shape[x->ndim - 1];
    d->HW = (int)(x->numel / ((size_t)*N * d->C));
    d->G = groups;
    d->cpg = d->C / groups;
    const int V = vec4 ? 4 : 1;
    d->cv = d->cpg / V;
    if (d->cv > 1024)
        return ldm_error(op, "x %s with %d groups: the CUDA kernel takes at most %d channels per group", tshape(x),
                         groups, 1024 * V);
    d->m = (float)((double)d->HW * d->cpg);
    d->S = 1;
    d->PC = d->HW;
    return 0;
}

static void gn_chunk(GnDims *d) {
    d->PC = GN_CHUNK_ELEMS / d->cpg;
    if (d->PC < 1) d->PC = 1;
    d->S = (d->HW + d->PC - 1) / d->PC;
}

template <class K>
static int gn_smem_limit(K kernel, size_t bytes) {
    if (bytes > 48 * 1024) CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return 0;
}

template <int V, class T>
static int gn_forward_v(const Tensor *x, const float *gamma, const float *beta, int groups, float eps, bool silu,
                        Tensor *y, Tensor *mean, Tensor *rstd) {
    GnDims d;
    int N;
    if (gn_setup("group_norm", x, groups, V == 4, &d, &N)) return -1;
    const int NG = N * groups;
    const size_t cache = (size_t)d.HW * d.cpg * sizeof(float);
    if (cache <= GN_SMEM_MAX) {
        const int threads = gn_threads(d.cv, (long)d.HW * d.cv);
        constexpr auto kern = gn_forward_cached<V, T>;
        if (gn_smem_limit(kern, cache)) return -1;
        LDM_LAUNCH(kern, NG, threads, cache)(
            (const T *)x->data, gamma, beta, (T *)y->data, mean->data, rstd->data, d, eps, silu);
        CUDA_LAUNCH_CHECK("group_norm_forward_cached");
        return 0;
    }
    gn_chunk(&d);
    double *part = (double *)cuda_scratch((size_t)NG * d.S * 2 * sizeof(double));
    if (!part) return -1;
    const int threads = gn_threads(d.cv, (long)d.PC * d.cv);
    constexpr auto stats = gn_stats_partial<V, T>;
    LDM_LAUNCH(stats, NG * d.S, threads)((const T *)x->data, d, part);
    CUDA_LAUNCH_CHECK("group_norm_stats_partial");
    LDM_LAUNCH(gn_stats_finalize, (NG + 255) / 256, 256)(part, NG, d, eps, mean->data, rstd->data);
    CUDA_LAUNCH_CHECK("group_norm_stats_finalize");
    const long total = (long)x->numel;
    constexpr auto apply = gn_apply<V, T>;
    LDM_LAUNCH(apply, ew_grid(total / V), EW_THREADS)(
        (const T *)x->data, gamma, beta, mean->data, rstd->data, (T *)y->data, total, d, silu);
    CUDA_LAUNCH_CHECK("group_norm_apply");
    return 0;
}

template <int V, class T>
static int gn_backward_v(const Tensor *x, const float *gamma, const float *beta, const Tensor *mean,
                         const Tensor *rstd, const Tensor *dy, int groups, bool silu, Tensor *dx, Tensor *dgamma,
                         Tensor *dbeta) {
    GnDims d;
    int N;
    if (gn_setup("group_norm_backward", x, groups, V == 4, &d, &N)) return -1;
    const int NG = N * groups, C = d.C;
    const bool params = dgamma || dbeta;
    float *dxp = dx ? dx->data : NULL;
    const size_t cache = 2 * (size_t)d.HW * d.cpg * sizeof(float);
    if (cache <= GN_SMEM_MAX) {
        float *pg = NULL, *pb = NULL;
        if (params) {
            if (!(pg = cuda_scratch(2 * (size_t)N * C * sizeof(float)))) return -1;
            pb = pg + (size_t)N * C;
        }
        const int threads = gn_threads(d.cv, (long)d.HW * d.cv);
        const size_t smem = cache + (size_t)threads * 2 * V * sizeof(float);
        constexpr auto kern = gn_backward_cached<V, T>;
        if (gn_smem_limit(kern, smem)) return -1;
        LDM_LAUNCH(kern, NG, threads, smem)(
            (const T *)x->data, gamma, beta, mean->data, rstd->data, dy->data, dxp, pg, pb, d, silu);
        CUDA_LAUNCH_CHECK("group_norm_backward_cached");
        if (params &&
            param_grad_finalize("group_norm_param_grads", pg, pb, N, C, dgamma ? dgamma->data : NULL,
                                dbeta ? dbeta->data : NULL))
            return -1;
        return 0;
    }
    gn_chunk(&d);
    const size_t nab = 2 * (size_t)NG * d.S, nAB = 2 * (size_t)NG, np = (size_t)N * d.S * C;
    float *ab = cuda_scratch((nab + nAB + 2 * np) * sizeof(float));
    if (!ab) return -1;
    float *AB = ab + nab, *pg = params ? AB + nAB : NULL, *pb = params ? pg + np : NULL;
    const int threads = gn_threads(d.cv, (long)d.PC * d.cv);
    const size_t smem = (size_t)threads * 2 * V * sizeof(float);
    constexpr auto partial = gn_backward_partial<V, T>;
    LDM_LAUNCH(partial, NG * d.S, threads, smem)(
        (const T *)x->data, gamma, beta, mean->data, rstd->data, dy->data, ab, pg, pb, d, silu);
    CUDA_LAUNCH_CHECK("group_norm_backward_partial");
    if (dx) {
        LDM_LAUNCH(gn_backward_finalize, (NG + 255) / 256, 256)(ab, NG, d, AB);
        CUDA_LAUNCH_CHECK("group_norm_backward_finalize");
        const long total = (long)x->numel;
        constexpr auto apply = gn_backward_apply<V, T>;
        LDM_LAUNCH(apply, ew_grid(total / V), EW_THREADS)(
            (const T *)x->data, gamma, beta, mean->data, rstd->data, dy->data, AB, dxp, total, d, silu);
        CUDA_LAUNCH_CHECK("group_norm_backward_apply");
    }
    if (params &&
        param_grad_finalize("group_norm_param_grads", pg, pb, N * d.S, C, dgamma ? dgamma->data : NULL,
                            dbeta ? dbeta->data : NULL))
        return -1;
    return 0;
}

static bool gn_vec4(int C, int groups, const Tensor *a, const Tensor *b, const Tensor *c, const Tensor *e,
                    const Tensor *f) {
    if ((C / groups) % 4 != 0) return false;
    const Tensor *ts[5] = {a, b, c, e, f};
    for (int i = 0; i < 5; i++)
        if (ts[i] && !aligned16(ts[i]->data)) return false;
    return true;
}

extern "C" int group_norm_forward_cuda(const Tensor *x, const Tensor *gamma, const Tensor *beta, int groups, float eps,
                                       bool silu, Tensor *y, Tensor *mean, Tensor *rstd) {
    if (x->numel == 0) return 0; /* empty: a no-op (and the layout would divide by zero) */
    const float *g = gamma ? gamma->data : NULL, *b = beta ? beta->data : NULL;
    const bool v4 = gn_vec4(x->shape[x->ndim - 1], groups, x, gamma, beta, y, NULL);
    if (x->dtype == DT_BF16)
        return v4 ? gn_forward_v<4, bf16_t>(x, g, b, groups, eps, silu, y, mean, rstd)
                  : gn_forward_v<1, bf16_t>(x, g, b, groups, eps, silu, y, mean, rstd);
    return v4 ? gn_forward_v<4, float>(x, g, b, groups, eps, silu, y, mean, rstd)
              : gn_forward_v<1, float>(x, g, b, groups, eps, silu, y, mean, rstd);
}

extern "C" int group_norm_backward_cuda(const Tensor *x, const Tensor *gamma, const Tensor *beta, const Tensor *mean,
                                        const Tensor *rstd, const Tensor *dy, int groups, bool silu, Tensor *dx,
                                        Tensor *dgamma, Tensor *dbeta) {
    if (x->numel == 0) return 0;
    const float *g = gamma ? gamma->data : NULL, *b = beta ? beta->data : NULL;
    const bool v4 = gn_vec4(x->shape[x->ndim - 1], groups, x, gamma, beta, dy, dx);
    if (x->dtype == DT_BF16)
        return v4 ? gn_backward_v<4, bf16_t>(x, g, b, mean, rstd, dy, groups, silu, dx, dgamma, dbeta)
                  : gn_backward_v<1, bf16_t>(x, g, b, mean, rstd, dy, groups, silu, dx, dgamma, dbeta);
    return v4 ? gn_backward_v<4, float>(x, g, b, mean, rstd, dy, groups, silu, dx, dgamma, dbeta)
              : gn_backward_v<1, float>(x, g, b, mean, rstd, dy, groups, silu, dx, dgamma, dbeta);
}
