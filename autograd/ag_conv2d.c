/* autograd/ag_conv2d.c — differentiable conv2d (kernels/conv2d.h). Inputs x, w, then
 * optionally b and res (slots 2 and 3, NULL when absent); iarg[0] = stride, iarg[1] = pad.
 * res's gradient is dy itself. */
#include "autograd/ops.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"

/* *g = x's gradient when x (may be NULL) wants one, else NULL. */
static int grad_or_null(Tape *t, Tensor *x, Tensor *view, Tensor **g) {
    *g = NULL;
    if (!x || !x->requires_grad) return 0;
    if (tape_grad_of(t, x, view)) return -1;
    *g = view;
    return 0;
}

static int conv2d_bw(Tape *t, TapeNode *n) {
    Tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
    Tensor dy = tensor_grad_view(n->out), dx, dw, db;
    Tensor *pdx, *pdw, *pdb;
    if (grad_or_null(t, x, &dx, &pdx) || grad_or_null(t, w, &dw, &pdw) || grad_or_null(t, b, &db, &pdb)) return -1;
    Tensor *res = n->n_in > 3 ? n->in[3] : NULL, dres, *pdres;
    if (grad_or_null(t, res, &dres, &pdres) || (pdres && axpy(pdres, &dy, 1.0f))) return -1;
    return conv2d_backward(x, w, &dy, n->iarg[0], n->iarg[1], pdx, pdw, pdb);
}

Tensor *ag_conv2d(Tape *t, Tensor *x, Tensor *w, Tensor *b, int stride, int pad) {
    return ag_conv2d_res(t, x, w, b, NULL, stride, pad);
}

Tensor *ag_conv2d_res(Tape *t, Tensor *x, Tensor *w, Tensor *b, Tensor *res, int stride, int pad) {
    if (!x || !w) return NULL;
    if (kcheck_rank("conv2d", x, 4, "x") || kcheck_rank("conv2d", w, 4, "weight")) return NULL;
    int P = conv2d_out_size(x->shape[1], w->shape[1], stride, pad);
    int Q = conv2d_out_size(x->shape[2], w->shape[2], stride, pad);
    if (P < 1 || Q < 1) return NULL;
    Tensor *y = tensor_new4(t->arena, x->device, x->shape[0], P, Q, w->shape[0]);
    if (!y || conv2d_forward_res(x, w, b, res, stride, pad, y)) return NULL;
    Tensor *in[4] = {x, w, b, res};
    int n_in = res ? 4 : b ? 3 : 2;
    if (tape_wants_grad(t, n_in, in)) {
        TapeNode *node = tape_record(t, "conv2d", conv2d_bw, y, n_in, in);
        if (!node) return NULL;
        node->iarg[0] = stride;
        node->iarg[1] = pad;
    }
    return y;
}
