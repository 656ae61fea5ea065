/* autograd/ag_silu.c — differentiable SiLU (kernels/silu.h). */
#include "autograd/ops.h"
#include "kernels/silu.h"

static int silu_bw(Tape *t, TapeNode *n) {
    Tensor *x = n->in[0];
    if (!x->requires_grad) return 0;
    Tensor dx, dy = tensor_grad_view(n->out);
    if (tape_grad_of(t, x, &dx)) return -1;
    return silu_backward(x, &dy, &dx);
}

Tensor *ag_silu(Tape *t, Tensor *x) {
    if (!x) return NULL;
    Tensor *y = tensor_like(t->arena, x);
    if (!y || silu_forward(x, y)) return NULL;
    if (tape_wants_grad(t, 1, &x) && !tape_record(t, "silu", silu_bw, y, 1, &x)) return NULL;
    return y;
}
