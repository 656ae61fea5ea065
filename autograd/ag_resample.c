/* autograd/ag_resample.c — differentiable upsample2x, concat_channels and slice_channels
 * (kernels/resample.h). Output shapes are checked here before they are allocated; the
 * kernels check everything again. The backwards read only gradients (fp32); a bf16 forward
 * runs the fp32 kernel on widened copies and rounds its output, which is exact here since
 * every output value is one of the input values (tape.h, mixed precision). */
#include <limits.h>

#include "autograd/ops.h"
#include "kernels/resample.h"

static int upsample_bw(Tape *t, TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->requires_grad) return 0;
    Tensor dx, dy = tensor_grad_view(n->out);
    if (tape_grad_of(t, x, &dx)) return -1;
    return upsample2x_backward(&dy, &dx);
}

Tensor *ag_upsample2x(Tape *t, Tensor *x) {
    if (!x) return NULL;
    if (kcheck_rank_any("upsample2x", x, 4, "x")) return NULL;
    if (x->shape[1] > INT_MAX / 2 || x->shape[2] > INT_MAX / 2) {
        ldm_error("upsample2x", "x %s is too large to upsample", tshape(x));
        return NULL;
    }
    Tensor *y = tensor_new_dtype(t->arena, x->device, x->dtype, 4,
                                 (int[]){x->shape[0], 2 * x->shape[1], 2 * x->shape[2], x->shape[3]});
    if (!y) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *xf = tape_f32(t, x), *yf = xf ? tape_f32_out(t, y) : NULL;
    if (tape_f32_finish(t, m, yf ? upsample2x_forward(xf, yf) : -1, yf, y)) return NULL;
    if (tape_wants_grad(t, 1, &x) && !tape_record(t, "upsample2x", upsample_bw, y, 1, &x)) return NULL;
    return y;
}

static int concat_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), ga, gb;
    Tensor *a = n->in[0], *b = n->in[1];
    if ((a->requires_grad && tape_grad_of(t, a, &ga)) || (b->requires_grad && tape_grad_of(t, b, &gb))) return -1;
    return concat_channels_backward(&dy, a->requires_grad ? &ga : NULL, b->requires_grad ? &gb : NULL);
}

Tensor *ag_concat_channels(Tape *t, Tensor *a, Tensor *b) {
    Tensor *in[2] = {a, b};
    if (tape_any_null(2, in)) return NULL;
    if (kcheck_any("concat_channels", a, "a") || kcheck_any("concat_channels", b, "b")) return NULL;
    if (tensor_cols(a) > INT_MAX - tensor_cols(b)) {
        ldm_error("concat_channels", "a %s and b %s have too many channels together", tshape(a), tshape(b));
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    shape[a->ndim - 1] = tensor_cols(a) + tensor_cols(b);
    Tensor *y = tensor_new_dtype(t->arena, a->device, tape_promote(2, in), a->ndim, shape);
    if (!y) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *af = tape_f32(t, a), *bf = af ? tape_f32(t, b) : NULL, *yf = bf ? tape_f32_out(t, y) : NULL;
    if (tape_f32_finish(t, m, yf ? concat_channels_forward(af, bf, yf) : -1, yf, y)) return NULL;
    if (tape_wants_grad(t, 2, in) && !tape_record(t, "concat_channels", concat_bw, y, 2, in)) return NULL;
    return y;
}

static int slice_bw(Tape *t, TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->requires_grad) return 0;
    Tensor dx, dy = tensor_grad_view(n->out);
    if (tape_grad_of(t, x, &dx)) return -1;
    return slice_channels_backward(&dy, n->iarg[0], n->iarg[1], &dx);
}

Tensor *ag_slice_channels(Tape *t, Tensor *x, int c0, int c1) {
    if (!x) return NULL;
    if (kcheck_any("slice_channels", x, "x")) return NULL;
    if (c0 < 0 || c1 > tensor_cols(x) || c0 >= c1) {
        ldm_error("slice_channels", "channel range [%d, %d) is empty or outside the %d channels of x %s", c0, c1,
                  tensor_cols(x), tshape(x));
        return NULL;
    }
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = c1 - c0;
    Tensor *y = tensor_new_dtype(t->arena, x->device, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *xf = tape_f32(t, x), *yf = xf ? tape_f32_out(t, y) : NULL;
    if (tape_f32_finish(t, m, yf ? slice_channels_forward(xf, c0, c1, yf) : -1, yf, y)) return NULL;
    if (tape_wants_grad(t, 1, &x)) {
        TapeNode *n = tape_record(t, "slice_channels", slice_bw, y, 1, &x);
        if (!n) return NULL;
        n->iarg[0] = c0;
        n->iarg[1] = c1;
    }
    return y;
}
