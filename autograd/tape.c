/* autograd/tape.c — see tape.h. */
#include "autograd/tape.h"

#include <stdio.h>

#include "core/error.h"
#include "kernels/cast.h"
#include "kernels/elementwise.h"
#include "kernels/versions.h"

void tape_init(Tape *t, Arena *arena) {
    t->arena = arena;
    t->last = NULL;
    t->n_nodes = 0;
    t->grad_enabled = true;
    t->act_dtype = DT_F32;
}

void tape_set_precision(Tape *t, DType act_dtype) {
    t->act_dtype = act_dtype;
    kernel_prefer_tensor_cores(act_dtype == DT_BF16);
}

void tape_reset(Tape *t) {
    t->last = NULL;
    t->n_nodes = 0;
}

bool tape_set_grad_enabled(Tape *t, bool enabled) {
    bool old = t->grad_enabled;
    t->grad_enabled = enabled;
    return old;
}

bool tape_wants_grad(const Tape *t, int n_in, Tensor *const *in) {
    if (!t->grad_enabled) return false;
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->requires_grad) return true;
    return false;
}

TapeNode *tape_record(Tape *t, const char *op, BackwardFn fn, Tensor *out, int n_in, Tensor *const *in) {
    if (n_in > TAPE_MAX_IN) {
        ldm_error("tape", "op %s has %d inputs, at most %d are supported", op, n_in, TAPE_MAX_IN);
        return NULL;
    }
    TapeNode *n = arena_alloc_host(t->arena, sizeof *n);
    if (!n) return NULL;
    n->op = op;
    n->backward = fn;
    n->out = out;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    n->prev = t->last;
    t->last = n;
    t->n_nodes++;
    out->requires_grad = true;
    return n;
}

int tape_grad_of(Tape *t, Tensor *x, Tensor *g) {
    if (tensor_ensure_grad(x, t->arena)) return -1;
    *g = tensor_grad_view(x);
    return 0;
}

bool tape_any_null(int n, Tensor *const *in) {
    for (int i = 0; i < n; i++)
        if (!in[i]) return true;
    return false;
}

int tape_backward(Tape *t, Tensor *out, const Tensor *dout) {
    if (!out) return ldm_error("backward", "output is NULL (an earlier op failed?)");
    if (!out->requires_grad)
        return ldm_error("backward", "output %s does not depend on anything that requires a gradient", tshape(out));
    if (tensor_ensure_grad(out, t->arena)) return -1;
    Tensor g = tensor_grad_view(out);
    if (dout) {
        if (!tensor_same_shape(dout, out))
            return ldm_error("backward", "seed gradient %s does not match output %s", tshape(dout), tshape(out));
        if (axpy(&g, dout, 1.0f)) return -1;
    } else {
        if (out->numel != 1)
            return ldm_error("backward", "output %s is not a scalar; pass a seed gradient", tshape(out));
        if (fill(&g, 1.0f)) return -1;
    }
    for (TapeNode *n = t->last; n; n = n->prev) {
        if (!n->out->grad) continue; /* nothing downstream used this output */
        if (n->backward(t, n)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", ldm_last_error());
            return ldm_error("backward", "in %s: %s", n->op, msg);
        }
    }
    return 0;
}

// ----------------------------------------------------------------------------
// mixed precision

DType tape_promote(int n, Tensor *const *in) {
    bool any = false;
    for (int i = 0; i < n; i++) {
        if (!in[i]) continue;
        if (in[i]->dtype != DT_BF16) return DT_F32;
        any = true;
    }
    return any ? DT_BF16 : DT_F32;
}

Tensor *tape_f32(Tape *t, Tensor *x) {
    if (!x || x->dtype == DT_F32) return x;
    Tensor *y = tensor_new_dtype(t->arena, x->device, DT_F32, x->ndim, x->shape);
    return y && !cast_tensor(x, y) ? y : NULL;
}

Tensor *tape_bf16_operand(Tape *t, Tensor *x) {
    if (!x) return NULL;
    if (x->dtype == DT_BF16) return tape_f32(t, x);
    Tensor *h = tensor_new_dtype(t->arena, x->device, DT_BF16, x->ndim, x->shape);
    if (!h || cast_tensor(x, h)) return NULL;
    return tape_f32(t, h);
}

Tensor *tape_f32_out(Tape *t, Tensor *y) {
    if (!y || y->dtype == DT_F32) return y;
    return tensor_new_dtype(t->arena, y->device, DT_F32, y->ndim, y->shape);
}

int tape_f32_finish(Tape *t, ArenaMark m, int rc, Tensor *tmp, Tensor *y) {
    if (!rc && tmp != y) rc = tmp ? cast_tensor(tmp, y) : -1;
    arena_rewind(t->arena, m);
    return rc ? -1 : 0;
}
