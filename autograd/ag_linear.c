/* autograd/ag_linear.c — differentiable linear layer (kernels/linear.h). Inputs x, w and
 * optionally b. */
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
    return linear_backward(x, w, &dy, pdx, pdw, pdb);
}

Tensor *ag_linear(Tape *t, Tensor *x, Tensor *w, Tensor *b) {
    if (!x || !w) return NULL;
    if (kcheck("linear", x, "x") || kcheck_rank("linear", w, 2, "weight")) return NULL;
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = w->shape[0];
    Tensor *y = tensor_new(t->arena, x->device, x->ndim, shape);
    if (!y || linear_forward(x, w, b, y)) return NULL;
    Tensor *in[3] = {x, w, b};
    int n_in = b ? 3 : 2;
    if (tape_wants_grad(t, n_in, in) && !tape_record(t, "linear", linear_bw, y, n_in, in)) return NULL;
    return y;
}
