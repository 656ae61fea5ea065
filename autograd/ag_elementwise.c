/* autograd/ag_elementwise.c — differentiable add, mul, scale, scale_shift, reshape and
 * cast (kernels/elementwise.h, kernels/cast.h). An input passed twice (ag_add(t, x, x))
 * gets both contributions: each backward accumulates into the gradient once per argument
 * slot. The kernels read and write bf16 natively when all activations of a call are bf16;
 * a mix gives an fp32 result computed from widened copies (tape.h, mixed precision). */
#include "autograd/ops.h"
#include "kernels/cast.h"
#include "kernels/elementwise.h"

/* x, or an fp32 copy of it when the call computes in fp32 (dt) and x is bf16. */
static Tensor *as_dtype(Tape *t, Tensor *x, DType dt) { return dt == DT_F32 ? tape_f32(t, x) : x; }

/* *out = g filled with the gradient of x, or NULL when x (absent or constant) needs none. */
static int grad_if(Tape *t, Tensor *x, Tensor *g, Tensor **out) {
    *out = NULL;
    if (!x || !x->requires_grad) return 0;
    if (tape_grad_of(t, x, g)) return -1;
    *out = g;
    return 0;
}

// ----------------------------------------------------------------------------
// add, mul, scale

static int add_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out);
    for (int i = 0; i < 2; i++) {
        Tensor g, *dx;
        if (grad_if(t, n->in[i], &g, &dx) || (dx && axpy(dx, &dy, 1.0f))) return -1;
    }
    return 0;
}

/* y = a op b in the promoted dtype. */
static Tensor *binary(Tape *t, Tensor *a, Tensor *b, int (*fn)(const Tensor *, const Tensor *, Tensor *)) {
    Tensor *in[2] = {a, b};
    if (tape_any_null(2, in)) return NULL;
    const DType dt = tape_promote(2, in);
    Tensor *y = tensor_new_dtype(t->arena, a->device, dt, a->ndim, a->shape);
    if (!y) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *a2 = as_dtype(t, a, dt), *b2 = a2 ? as_dtype(t, b, dt) : NULL;
    return tape_f32_finish(t, m, b2 ? fn(a2, b2, y) : -1, y, y) ? NULL : y;
}

Tensor *ag_add(Tape *t, Tensor *a, Tensor *b) {
    Tensor *in[2] = {a, b};
    Tensor *y = binary(t, a, b, add_forward);
    if (!y) return NULL;
    if (tape_wants_grad(t, 2, in) && !tape_record(t, "add", add_bw, y, 2, in)) return NULL;
    return y;
}

static int mul_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), ga, gb, *da, *db;
    if (grad_if(t, n->in[0], &ga, &da) || grad_if(t, n->in[1], &gb, &db)) return -1;
    ArenaMark m = arena_mark(t->arena);
    const DType dt = tape_promote(2, n->in);
    Tensor *a = as_dtype(t, n->in[0], dt), *b = a ? as_dtype(t, n->in[1], dt) : NULL;
    return tape_f32_finish(t, m, b ? mul_backward(a, b, &dy, da, db) : -1, NULL, NULL);
}

Tensor *ag_mul(Tape *t, Tensor *a, Tensor *b) {
    Tensor *in[2] = {a, b};
    Tensor *y = binary(t, a, b, mul_forward);
    if (!y) return NULL;
    if (tape_wants_grad(t, 2, in) && !tape_record(t, "mul", mul_bw, y, 2, in)) return NULL;
    return y;
}

static int scale_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), g, *dx;
    if (grad_if(t, n->in[0], &g, &dx)) return -1;
    return dx ? axpy(dx, &dy, n->farg[0]) : 0;
}

Tensor *ag_scale(Tape *t, Tensor *x, float s) {
    if (!x) return NULL;
    Tensor *y = tensor_like(t->arena, x);
    if (!y || scale_forward(x, s, y)) return NULL;
    if (tape_wants_grad(t, 1, &x)) {
        TapeNode *n = tape_record(t, "scale", scale_bw, y, 1, &x);
        if (!n) return NULL;
        n->farg[0] = s;
    }
    return y;
}

// ----------------------------------------------------------------------------
// scale_shift: scale and shift are optional, so a NULL there means "absent"

static int scale_shift_bw(Tape *t, TapeNode *n) {
    Tensor *x = n->in[0], *scale = n->in[1];
    Tensor dy = tensor_grad_view(n->out), gx, gs, gb, *dx, *ds, *db;
    if (grad_if(t, x, &gx, &dx) || grad_if(t, scale, &gs, &ds) || grad_if(t, n->in[2], &gb, &db)) return -1;
    ArenaMark m = arena_mark(t->arena);
    const DType dt = tape_promote(2, n->in);
    Tensor *x2 = as_dtype(t, x, dt), *s2 = scale ? as_dtype(t, scale, dt) : NULL;
    int rc = x2 && (s2 || !scale) ? scale_shift_backward(x2, s2, &dy, dx, ds, db) : -1;
    return tape_f32_finish(t, m, rc, NULL, NULL);
}

Tensor *ag_scale_shift(Tape *t, Tensor *x, Tensor *scale, Tensor *shift) {
    if (!x) return NULL;
    Tensor *in[3] = {x, scale, shift};
    const DType dt = tape_promote(3, in);
    Tensor *y = tensor_new_dtype(t->arena, x->device, dt, x->ndim, x->shape);
    if (!y) return NULL;
    ArenaMark mk = arena_mark(t->arena);
    Tensor *x2 = as_dtype(t, x, dt), *s2 = scale ? as_dtype(t, scale, dt) : NULL;
    Tensor *b2 = shift ? as_dtype(t, shift, dt) : NULL;
    int rc = x2 && (s2 || !scale) && (b2 || !shift) ? scale_shift_forward(x2, s2, b2, y) : -1;
    if (tape_f32_finish(t, mk, rc, y, y)) return NULL;
    if (tape_wants_grad(t, 3, in) && !tape_record(t, "scale_shift", scale_shift_bw, y, 3, in)) return NULL;
    return y;
}

// ----------------------------------------------------------------------------
// reshape: a new Tensor over x's data with its own gradient buffer

static int reshape_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), g, *dx;
    if (grad_if(t, n->in[0], &g, &dx)) return -1;
    return dx ? axpy(dx, &dy, 1.0f) : 0;
}

Tensor *ag_reshape(Tape *t, Tensor *x, int ndim, const int *shape) {
    if (!x) return NULL;
    if (!shape || ndim < 1 || ndim > TENSOR_MAX_DIMS) {
        ldm_error("reshape", "cannot reshape %s to %d dims (need 1..%d and a shape)", tshape(x), ndim, TENSOR_MAX_DIMS);
        return NULL;
    }
    Tensor want = {.ndim = ndim}; /* for the message */
    size_t numel = 1;
    bool ok = true;
    for (int i = 0; i < ndim; i++) {
        want.shape[i] = shape[i];
        ok = ok && shape[i] > 0 && (size_t)shape[i] <= x->numel / numel;
        if (ok) numel *= (size_t)shape[i];
    }
    if (!ok || numel != x->numel) {
        ldm_error("reshape", "cannot reshape %s (%zu elements) to %s", tshape(x), x->numel, tshape(&want));
        return NULL;
    }
    Tensor *y = tensor_view(t->arena, x, ndim, shape);
    if (!y) return NULL;
    y->grad = NULL; /* never share x's gradient: the node below moves it across */
    y->requires_grad = false;
    y->name = NULL;
    if (tape_wants_grad(t, 1, &x) && !tape_record(t, "reshape", reshape_bw, y, 1, &x)) return NULL;
    return y;
}

// ----------------------------------------------------------------------------
// cast: the gradient (fp32 on both sides) passes through unchanged

static int cast_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), g, *dx;
    if (grad_if(t, n->in[0], &g, &dx)) return -1;
    return dx ? axpy(dx, &dy, 1.0f) : 0;
}

Tensor *ag_cast(Tape *t, Tensor *x, DType dt) {
    if (!x) return NULL;
    if (x->dtype == dt) return x;
    Tensor *y = tensor_new_dtype(t->arena, x->device, dt, x->ndim, x->shape);
    if (!y || cast_tensor(x, y)) return NULL;
    if (tape_wants_grad(t, 1, &x) && !tape_record(t, "cast", cast_bw, y, 1, &x)) return NULL;
    return y;
}
