/* autograd/ag_linear.c — differentiable linear layer (kernels/linear.h). Inputs x, w and
 * optionally b; iarg[0] = 1 when the operands were rounded to bf16 (tape.h, mixed
 * precision: the backward rounds them the same way). */
#include "autograd/ops.h"
#include "kernels/linear.h"

/* *g = x's gradient when x (may be NULL) wants one, else NULL. */
static int grad_or_null(Tape *t, Tensor *x, Tensor *view, Tensor **g) {
    *g = NULL;
    if (!x || !x->requires_grad) return 0;
    if (tape_grad_of(t, x, view)) return -1;
    *g = view;
    return 0;
}

static int linear_bw(Tape *t, TapeNode *n) {
    Tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    Tensor dy = tensor_grad_view(n->out), dx, dw, db;
    Tensor *pdx, *pdw, *pdb;
    if (grad_or_null(t, x, &dx, &pdx) || grad_or_null(t, w, &dw, &pdw) || grad_or_null(t, b, &db, &pdb)) return -1;
    if (!n->iarg[0]) return linear_backward(x, w, &dy, pdx, pdw, pdb);
    ArenaMark m = arena_mark(t->arena);
    Tensor *xb = tape_bf16_operand(t, x), *wb = xb ? tape_bf16_operand(t, w) : NULL;
    int rc = wb ? linear_backward(xb, wb, &dy, pdx, pdw, pdb) : -1;
    arena_rewind(t->arena, m);
    return rc;
}

Tensor *ag_linear(Tape *t, Tensor *x, Tensor *w, Tensor *b) {
    if (!x || !w) return NULL;
    if (kcheck_any("linear", x, "x") || kcheck_rank_any("linear", w, 2, "weight")) return NULL;
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = w->shape[0];
    const bool lp = t->act_dtype == DT_BF16 || x->dtype == DT_BF16;
    Tensor *y = tensor_new_dtype(t->arena, x->device, lp ? DT_BF16 : DT_F32, x->ndim, shape);
    if (!y) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *xb = lp ? tape_bf16_operand(t, x) : x, *wb = lp && xb ? tape_bf16_operand(t, w) : w;
    Tensor *yf = wb ? tape_f32_out(t, y) : NULL;
    if (tape_f32_finish(t, m, yf ? linear_forward(xb, wb, b, yf) : -1, yf, y)) return NULL;
    Tensor *in[3] = {x, w, b};
    int n_in = b ? 3 : 2;
    if (tape_wants_grad(t, n_in, in)) {
        TapeNode *node = tape_record(t, "linear", linear_bw, y, n_in, in);
        if (!node) return NULL;
        node->iarg[0] = lp;
    }
    return y;
}
