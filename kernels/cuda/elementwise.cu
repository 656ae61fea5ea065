/* kernels/cuda/elementwise.cu — elementwise and broadcast ops on the GPU (math in
 * kernels/elementwise.h).
 *   fill: 4 bytes/elem.  axpy: 2 FLOP, 12 bytes.  add: 1 FLOP, 12 bytes.
 *   mul: 1 FLOP, 12 bytes; backward 4 FLOP, up to 24 bytes.  scale: 1 FLOP, 8 bytes.
 *   scale_shift: 2 FLOP, 8 bytes (+ the (N, C) vectors); backward 2 FLOP, 12 bytes for
 *   dx and 8 bytes for dscale/dshift.
 *
 * Decomposition. Pure elementwise ops use ew_launch (common.cuh): a grid-stride loop,
 * 256 threads a block, four elements (one 16-byte access per tensor) per thread and
 * iteration when the pointers are 16-byte aligned, then a scalar tail. scale_shift
 * vectorises when C % 4 == 0 (four channels of one sample).
 * scale_shift's dscale[n,c] = sum_p dy x and dshift[n,c] = sum_p dy: a block of 32 x 8
 * threads owns 32 channels of sample n; thread (c, r) sums positions r, r+8, ... in
 * order, a fixed tree over r finishes. No atomics: bitwise the same every run.
 * add, mul, scale and scale_shift are templated on the activations' storage type T (float
 * or bf16_t: fp32 math, bf16 stores rounded once, half the bytes per activation); the
 * gradients are float. */
extern "C" {
#include "core/cuda_check.h"
#include "kernels/elementwise.h"
}
#include "kernels/cuda/common.cuh"

// ---------------------------------------------------------------------------------
// ops (run<V>(i) handles elements [i, i+V))

struct FillOp {
    float *y;
    float value;
    template <int V>
    __device__ void run(long i) const {
        float v[V];
        for (int j = 0; j < V; j++) v[j] = value;
        stv<V>(y + i, v);
    }
};

struct AxpyOp {
    float *y;
    const float *x;
    float alpha;
    template <int V>
    __device__ void run(long i) const {
        float a[V], b[V];
        ldv<V>(y + i, a);
        ldv<V>(x + i, b);
        for (int j = 0; j < V; j++) a[j] += alpha * b[j];
        stv<V>(y + i, a);
    }
};

template <class T>
struct AddOp {
    const T *a, *b;
    T *y;
    template <int V>
    __device__ void run(long i) const {
        float u[V], v[V];
        ldv<V>(a + i, u);
        ldv<V>(b + i, v);
        for (int j = 0; j < V; j++) u[j] += v[j];
        stv<V>(y + i, u);
    }
};

template <class T>
struct MulOp {
    const T *a, *b;
    T *y;
    template <int V>
    __device__ void run(long i) const {
        float u[V], v[V];
        ldv<V>(a + i, u);
        ldv<V>(b + i, v);
        for (int j = 0; j < V; j++) u[j] *= v[j];
        stv<V>(y + i, u);
    }
};

/* d += g * o  (one side of mul's backward) */
template <class T>
struct MulGradOp {
    const float *g;
    const T *o;
    float *d;
    template <int V>
    __device__ void run(long i) const {
        float gv[V], ov[V], dv[V];
        ldv<V>(g + i, gv);
        ldv<V>(o + i, ov);
        ldv<V>(d + i, dv);
        for (int j = 0; j < V; j++) dv[j] += gv[j] * ov[j];
        stv<V>(d + i, dv);
    }
};

/* both sides at once: da += dy b, db += dy a */
template <class T>
struct MulGrad2Op {
    const T *a, *b;
    const float *g;
    float *da, *db;
    template <int V>
    __device__ void run(long i) const {
        float av[V], bv[V], gv[V], dav[V], dbv[V];
        ldv<V>(a + i, av);
        ldv<V>(b + i, bv);
        ldv<V>(g + i, gv);
        ldv<V>(da + i, dav);
        ldv<V>(db + i, dbv);
        for (int j = 0; j < V; j++) {
            dav[j] += gv[j] * bv[j];
            dbv[j] += gv[j] * av[j];
        }
        stv<V>(da + i, dav);
        stv<V>(db + i, dbv);
    }
};

template <class T>
struct ScaleOp {
    const T *x;
    T *y;
    float s;
    template <int V>
    __device__ void run(long i) const {
        float v[V];
        ldv<V>(x + i, v);
        for (int j = 0; j < V; j++) v[j] *= s;
        stv<V>(y + i, v);
    }
};

/* y = x (1 + scale[n,c]) + shift[n,c]; or, as the dx of the backward (accum = true),
 * dx += dy (1 + scale[n,c]) with x = dy and shift = NULL. per_n = P*C elements per sample.
 * TX: x's (or dy's) type, TS: scale's and shift's, TY: y's (or dx's). */
template <class TX, class TS, class TY>
struct ScaleShiftOp {
    const TX *x;
    const TS *scale, *shift;
    TY *y;
    long per_n;
    int C;
    bool accum;
    template <int V>
    __device__ void run(long i) const {
        const int c = (int)(i % C);
        const long nc = i / per_n * C + c;
        float v[V], sc[V], sh[V], o[V];
        ldv<V>(x + i, v);
        if (scale) ldv<V>(scale + nc, sc);
        else
            for (int j = 0; j < V; j++) sc[j] = 0.f;
        if (shift) ldv<V>(shift + nc, sh);
        else
            for (int j = 0; j < V; j++) sh[j] = 0.f;
        if (accum) ldv<V>(y + i, o);
        for (int j = 0; j < V; j++) {
            float r = v[j] * (1.0f + sc[j]) + sh[j];
            o[j] = accum ? o[j] + r : r;
        }
        stv<V>(y + i, o);
    }
};

/* Block (32, 8) per (sample n = blockIdx.x, channels blockIdx.y*32 + tx). */
template <class T>
__global__ void __launch_bounds__(256)
    scale_shift_param_grad_kernel(const T *__restrict__ x, const float *__restrict__ dy,
                                  float *__restrict__ dscale, float *__restrict__ dshift, int P, int C) {
    __shared__ float ts[8][33], tb[8][33];
    const int tx = threadIdx.x & 31, ty = threadIdx.x >> 5;
    const int c = blockIdx.y * 32 + tx;
    const long base = (long)blockIdx.x * P * C + c;
    float ss = 0.f, sb = 0.f;
    if (c < C)
        for (int p = ty; p < P; p += 8) {
            const float d = dy[base + (long)p * C];
            if (dscale) ss += d * ld1(x + base + (long)p * C);
            sb += d;
        }
    ts[ty][tx] = ss;
    tb[ty][tx] = sb;
    __syncthreads();
    for (int s = 4; s > 0; s >>= 1) {
        if (ty < s) {
            ts[ty][tx] += ts[ty + s][tx];
            tb[ty][tx] += tb[ty + s][tx];
        }
        __syncthreads();
    }
    if (ty == 0 && c < C) {
        const long nc = (long)blockIdx.x * C + c;
        if (dscale) dscale[nc] += ts[0][tx];
        if (dshift) dshift[nc] += tb[0][tx];
    }
}

// ---------------------------------------------------------------------------------
// launchers

static bool al(const Tensor *t) { return !t || aligned16(t->data); }
static float *dp(Tensor *t) { return t ? t->data : NULL; }
/* t's storage as T (the front checked that t's dtype is T's); NULL for no tensor. */
template <class T>
static T *st(const Tensor *t) { return t ? reinterpret_cast<T *>(t->data) : NULL; }

extern "C" int fill_cuda(Tensor *y, float value) {
    return ew_launch("fill", FillOp{y->data, value}, (long)y->numel, al(y));
}

extern "C" int axpy_cuda(Tensor *y, const Tensor *x, float alpha) {
    return ew_launch("axpy", AxpyOp{y->data, x->data, alpha}, (long)y->numel, al(y) && al(x));
}

template <class T>
static int add_t(const Tensor *a, const Tensor *b, Tensor *y) {
    return ew_launch("add_forward", AddOp<T>{st<T>(a), st<T>(b), st<T>(y)}, (long)y->numel, al(a) && al(b) && al(y));
}

extern "C" int add_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y) {
    return a->dtype == DT_BF16 ? add_t<bf16_t>(a, b, y) : add_t<float>(a, b, y);
}

template <class T>
static int mul_t(const Tensor *a, const Tensor *b, Tensor *y) {
    return ew_launch("mul_forward", MulOp<T>{st<T>(a), st<T>(b), st<T>(y)}, (long)y->numel, al(a) && al(b) && al(y));
}

extern "C" int mul_forward_cuda(const Tensor *a, const Tensor *b, Tensor *y) {
    return a->dtype == DT_BF16 ? mul_t<bf16_t>(a, b, y) : mul_t<float>(a, b, y);
}

template <class T>
static int mul_backward_t(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    const long n = (long)dy->numel;
    const bool v = al(a) && al(b) && al(dy) && al(da) && al(db);
    if (da && db)
        return ew_launch("mul_backward", MulGrad2Op<T>{st<T>(a), st<T>(b), dy->data, da->data, db->data}, n, v);
    if (da) return ew_launch("mul_backward", MulGradOp<T>{dy->data, st<T>(b), da->data}, n, v);
    if (db) return ew_launch("mul_backward", MulGradOp<T>{dy->data, st<T>(a), db->data}, n, v);
    return 0;
}

extern "C" int mul_backward_cuda(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db) {
    return a->dtype == DT_BF16 ? mul_backward_t<bf16_t>(a, b, dy, da, db) : mul_backward_t<float>(a, b, dy, da, db);
}

template <class T>
static int scale_t(const Tensor *x, float s, Tensor *y) {
    return ew_launch("scale_forward", ScaleOp<T>{st<T>(x), st<T>(y), s}, (long)y->numel, al(x) && al(y));
}

extern "C" int scale_forward_cuda(const Tensor *x, float s, Tensor *y) {
    return x->dtype == DT_BF16 ? scale_t<bf16_t>(x, s, y) : scale_t<float>(x, s, y);
}

template <class T>
static int scale_shift_forward_t(const Tensor *x, const Tensor *scale, const Tensor *shift, Tensor *y) {
    const int C = x->shape[x->ndim - 1];
    const long per_n = (long)(x->numel / (size_t)x->shape[0]);
    const bool v = C % 4 == 0 && al(x) && al(scale) && al(shift) && al(y);
    return ew_launch("scale_shift_forward",
                     ScaleShiftOp<T, T, T>{st<T>(x), st<T>(scale), st<T>(shift), st<T>(y), per_n, C, false},
                     (long)x->numel, v);
}

extern "C" int scale_shift_forward_cuda(const Tensor *x, const Tensor *scale, const Tensor *shift, Tensor *y) {
    if (x->numel == 0) return 0; /* empty: a no-op (and per_n would divide by zero) */
    return x->dtype == DT_BF16 ? scale_shift_forward_t<bf16_t>(x, scale, shift, y)
                               : scale_shift_forward_t<float>(x, scale, shift, y);
}

template <class T>
static int scale_shift_backward_t(const Tensor *x, const Tensor *scale, const Tensor *dy, Tensor *dx,
                                  Tensor *dscale, Tensor *dshift) {
    const int N = x->shape[0], C = x->shape[x->ndim - 1];
    const long per_n = (long)(x->numel / (size_t)N);
    if (dx) {
        const bool v = C % 4 == 0 && al(dy) && al(scale) && al(dx);
        if (ew_launch("scale_shift_backward",
                      ScaleShiftOp<float, T, float>{dy->data, st<T>(scale), NULL, dx->data, per_n, C, true},
                      (long)x->numel, v))
            return -1;
    }
    if (dscale || dshift) {
        if ((C + 31) / 32 > 65535)
            return ldm_error("scale_shift_backward", "x %s: too many channels for the CUDA kernel", tshape(x));
        dim3 grid((unsigned)N, (C + 31) / 32);
        LDM_LAUNCH(scale_shift_param_grad_kernel<T>, grid, 256)(
            st<T>(x), dy->data, dp(dscale), dp(dshift), (int)(per_n / C), C);
        CUDA_LAUNCH_CHECK("scale_shift_param_grads");
    }
    return 0;
}

extern "C" int scale_shift_backward_cuda(const Tensor *x, const Tensor *scale, const Tensor *dy, Tensor *dx,
                                         Tensor *dscale, Tensor *dshift) {
    if (x->numel == 0) return 0;
    return x->dtype == DT_BF16 ? scale_shift_backward_t<bf16_t>(x, scale, dy, dx, dscale, dshift)
                               : scale_shift_backward_t<float>(x, scale, dy, dx, dscale, dshift);
}
