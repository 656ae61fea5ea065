/* autograd/ag_attention.c — differentiable multi-head attention (kernels/attention.h)
 * with scale = 1/sqrt(C/heads). The node saves only the log-sum-exp (B, heads, Lq);
 * the backward recomputes the probabilities from it and reads o (the node's output). */
#include <math.h>

#include "autograd/ops.h"
#include "kernels/attention.h"

/* in = {q, k, v}, saved = {lse}, iarg = {heads, bf16 operands}, farg = {scale}. In mixed
 * precision (tape.h) q, k, v are rounded to bf16 and o is stored in bf16; the softmax and
 * the log-sum-exp stay fp32. */
static int attention_bw(Tape *t, TapeNode *n) {
    Tensor g[3], *d[3], dout = tensor_grad_view(n->out);
    for (int i = 0; i < 3; i++) {
        d[i] = NULL;
        if (!n->in[i]->requires_grad) continue;
        if (tape_grad_of(t, n->in[i], &g[i])) return -1;
        d[i] = &g[i];
    }
    if (!n->iarg[1])
        return attention_backward(n->in[0], n->in[1], n->in[2], n->out, n->saved[0], &dout, n->iarg[0], n->farg[0],
                                  d[0], d[1], d[2]);
    ArenaMark m = arena_mark(t->arena);
    Tensor *q = tape_bf16_operand(t, n->in[0]), *k = q ? tape_bf16_operand(t, n->in[1]) : NULL;
    Tensor *v = k ? tape_bf16_operand(t, n->in[2]) : NULL, *o = v ? tape_f32(t, n->out) : NULL;
    int rc = o ? attention_backward(q, k, v, o, n->saved[0], &dout, n->iarg[0], n->farg[0], d[0], d[1], d[2]) : -1;
    arena_rewind(t->arena, m);
    return rc;
}

Tensor *ag_attention(Tape *t, Tensor *q, Tensor *k, Tensor *v, int heads) {
    Tensor *in[3] = {q, k, v};
    if (tape_any_null(3, in)) return NULL;
    if (q->ndim < 3 || heads < 1) {
        ldm_error("attention", "q %s must have rank >= 3 (B, L..., C) and heads = %d must be >= 1", tshape(q), heads);
        return NULL;
    }
    int lq = 1; /* the middle dims (L...) multiplied: an empty batch has no numel to divide */
    for (int i = 1; i < q->ndim - 1; i++) lq *= q->shape[i];
    const int b = q->shape[0], c = q->shape[q->ndim - 1];
    const float scale = (float)(1.0 / sqrt((double)c / heads));
    const bool lp = t->act_dtype == DT_BF16 || q->dtype == DT_BF16;
    Tensor *o = tensor_new_dtype(t->arena, q->device, lp ? DT_BF16 : DT_F32, q->ndim, q->shape);
    Tensor *lse = o ? tensor_new3(t->arena, q->device, b, heads, lq) : NULL;
    if (!lse) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *qb = lp ? tape_bf16_operand(t, q) : q, *kb = lp && qb ? tape_bf16_operand(t, k) : k;
    Tensor *vb = lp && kb ? tape_bf16_operand(t, v) : v, *of = vb ? tape_f32_out(t, o) : NULL;
    if (tape_f32_finish(t, m, of ? attention_forward(qb, kb, vb, heads, scale, of, lse) : -1, of, o)) return NULL;
    if (tape_wants_grad(t, 3, in)) {
        TapeNode *n = tape_record(t, "attention", attention_bw, o, 3, in);
        if (!n) return NULL;
        n->saved[0] = lse;
        n->iarg[0] = heads;
        n->iarg[1] = lp;
        n->farg[0] = scale;
    }
    return o;
}
