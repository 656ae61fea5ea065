/* autograd/ag_attention.c — differentiable multi-head attention (kernels/attention.h)
 * with scale = 1/sqrt(C/heads). The node saves only the log-sum-exp (B, heads, Lq);
 * the backward recomputes the probabilities from it and reads o (the node's output). */
#include <math.h>

#include "autograd/ops.h"
#include "kernels/attention.h"

/* in = {q, k, v}, saved = {lse}, iarg = {heads}, farg = {scale} */
static int attention_bw(Tape *t, TapeNode *n) {
    Tensor g[3], *d[3], dout = tensor_grad_view(n->out);
    for (int i = 0; i < 3; i++) {
        d[i] = NULL;
        if (!n->in[i]->requires_grad) continue;
        if (tape_grad_of(t, n->in[i], &g[i])) return -1;
        d[i] = &g[i];
    }
    return attention_backward(n->in[0], n->in[1], n->in[2], n->out, n->saved[0], &dout, n->iarg[0], n->farg[0],
                              d[0], d[1], d[2]);
}

Tensor *ag_attention(Tape *t, Tensor *q, Tensor *k, Tensor *v, int heads) {
    Tensor *in[3] = {q, k, v};
    if (tape_any_null(3, in)) return NULL;
    if (q->ndim < 3 || heads < 1) {
        ldm_error("attention", "q %s must have rank >= 3 (B, L..., C) and heads = %d must be >= 1", tshape(q), heads);
        return NULL;
    }
    const int b = q->shape[0], c = q->shape[q->ndim - 1];
    const float scale = (float)(1.0 / sqrt((double)c / heads));
    Tensor *o = tensor_like(t->arena, q);
    Tensor *lse = o ? tensor_new3(t->arena, q->device, b, heads, (int)(q->numel / ((size_t)b * c))) : NULL;
    if (!lse || attention_forward(q, k, v, heads, scale, o, lse)) return NULL;
    if (tape_wants_grad(t, 3, in)) {
        TapeNode *n = tape_record(t, "attention", attention_bw, o, 3, in);
        if (!n) return NULL;
        n->saved[0] = lse;
        n->iarg[0] = heads;
        n->farg[0] = scale;
    }
    return o;
}
