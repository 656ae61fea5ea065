/* autograd/ag_norm.c — differentiable group norm (optionally with fused SiLU) and layer
 * norm (kernels/group_norm.h, kernels/layer_norm.h). The forward's statistics (mean,
 * rstd) come from the tape's arena and are saved on the node; the backward recomputes
 * the normalised values from them instead of keeping a copy of the activations. The
 * statistics are fp32 always; a bf16 x gives a bf16 y. */
#include "autograd/ops.h"
#include "kernels/group_norm.h"
#include "kernels/layer_norm.h"

/* *out = x's gradient (viewed through *g) when x requires one, else NULL. */
static int grad_or_null(Tape *t, Tensor *x, Tensor *g, Tensor **out) {
    *out = NULL;
    if (!x || !x->requires_grad) return 0;
    if (tape_grad_of(t, x, g)) return -1;
    *out = g;
    return 0;
}

// ----------------------------------------------------------------------------
// group norm: in = {x, gamma, beta}, saved = {mean, rstd}, iarg = {groups, silu}

static int group_norm_bw(Tape *t, TapeNode *n) {
    Tensor gx, gg, gb, *dx, *dgamma, *dbeta, dy = tensor_grad_view(n->out);
    if (grad_or_null(t, n->in[0], &gx, &dx) || grad_or_null(t, n->in[1], &gg, &dgamma) ||
        grad_or_null(t, n->in[2], &gb, &dbeta))
        return -1;
    return group_norm_backward(n->in[0], n->in[1], n->in[2], n->saved[0], n->saved[1], &dy, n->iarg[0],
                               n->iarg[1] != 0, dx, dgamma, dbeta);
}

Tensor *ag_group_norm(Tape *t, Tensor *x, Tensor *gamma, Tensor *beta, int groups, float eps, bool silu) {
    Tensor *in[3] = {x, gamma, beta};
    if (tape_any_null(3, in)) return NULL;
    if (groups < 1) {
        ldm_error("group_norm", "groups = %d must be >= 1 (x %s)", groups, tshape(x));
        return NULL;
    }
    Tensor *y = tensor_like(t->arena, x);
    Tensor *mean = y ? tensor_new2(t->arena, x->device, x->shape[0], groups) : NULL;
    Tensor *rstd = mean ? tensor_new2(t->arena, x->device, x->shape[0], groups) : NULL;
    if (!rstd || group_norm_forward(x, gamma, beta, groups, eps, silu, y, mean, rstd)) return NULL;
    if (tape_wants_grad(t, 3, in)) {
        TapeNode *n = tape_record(t, silu ? "group_norm_silu" : "group_norm", group_norm_bw, y, 3, in);
        if (!n) return NULL;
        n->saved[0] = mean;
        n->saved[1] = rstd;
        n->iarg[0] = groups;
        n->iarg[1] = silu;
    }
    return y;
}

// ----------------------------------------------------------------------------
// layer norm: in = {x, gamma, beta}, saved = {mean, rstd}

static int layer_norm_bw(Tape *t, TapeNode *n) {
    Tensor gx, gg, gb, *dx, *dgamma, *dbeta, dy = tensor_grad_view(n->out);
    if (grad_or_null(t, n->in[0], &gx, &dx) || grad_or_null(t, n->in[1], &gg, &dgamma) ||
        grad_or_null(t, n->in[2], &gb, &dbeta))
        return -1;
    ArenaMark m = arena_mark(t->arena);
    Tensor *x = tape_f32(t, n->in[0]);
    int rc = x ? layer_norm_backward(x, n->in[1], n->saved[0], n->saved[1], &dy, dx, dgamma, dbeta) : -1;
    return tape_f32_finish(t, m, rc, NULL, NULL);
}

Tensor *ag_layer_norm(Tape *t, Tensor *x, Tensor *gamma, Tensor *beta, float eps) {
    Tensor *in[3] = {x, gamma, beta};
    if (tape_any_null(3, in)) return NULL;
    Tensor *y = tensor_like(t->arena, x);
    Tensor *mean = y ? tensor_new1(t->arena, x->device, (int)tensor_rows(x)) : NULL;
    Tensor *rstd = mean ? tensor_new1(t->arena, x->device, (int)tensor_rows(x)) : NULL;
    if (!rstd) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *xf = tape_f32(t, x), *yf = xf ? tape_f32_out(t, y) : NULL;
    if (tape_f32_finish(t, m, yf ? layer_norm_forward(xf, gamma, beta, eps, yf, mean, rstd) : -1, yf, y))
        return NULL;
    if (tape_wants_grad(t, 3, in)) {
        TapeNode *n = tape_record(t, "layer_norm", layer_norm_bw, y, 3, in);
        if (!n) return NULL;
        n->saved[0] = mean;
        n->saved[1] = rstd;
    }
    return y;
}
