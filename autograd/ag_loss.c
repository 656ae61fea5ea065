/* autograd/ag_loss.c — differentiable scalar reductions and losses (kernels/reduce.h),
 * the classifier's softmax cross-entropy (kernels/cross_entropy.h), and the VAE's KL term
 * and reparameterisation (kernels/gaussian.h). Every output but the reparameterised sample
 * is a scalar of shape (1). */
#include "autograd/ops.h"
#include "kernels/cross_entropy.h"
#include "kernels/reduce.h"
#include "kernels/gaussian.h"

/* *out = g filled with the gradient of x, or NULL when x needs none. */
static int grad_if(Tape *t, Tensor *x, Tensor *g, Tensor **out) {
    *out = NULL;
    if (!x->requires_grad) return 0;
    if (tape_grad_of(t, x, g)) return -1;
    *out = g;
    return 0;
}

static Tensor *new_scalar(Tape *t, const Tensor *like) { return tensor_new1(t->arena, like->device, 1); }

// ----------------------------------------------------------------------------
// sum, mean: the backward broadcasts dy * k, k = farg[0] (1 or 1/n)

static int broadcast_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), g, *dx;
    if (grad_if(t, n->in[0], &g, &dx)) return -1;
    return dx ? broadcast_scalar_backward(&dy, n->farg[0], dx) : 0;
}

static Tensor *reduce_op(Tape *t, Tensor *x, const char *op, bool mean) {
    if (!x) return NULL;
    Tensor *y = new_scalar(t, x);
    if (!y || (mean ? mean_forward(x, y) : sum_forward(x, y))) return NULL;
    if (tape_wants_grad(t, 1, &x)) {
        TapeNode *n = tape_record(t, op, broadcast_bw, y, 1, &x);
        if (!n) return NULL;
        n->farg[0] = mean ? (float)(1.0 / (double)x->numel) : 1.0f;
    }
    return y;
}

Tensor *ag_sum(Tape *t, Tensor *x) { return reduce_op(t, x, "sum", false); }
Tensor *ag_mean(Tape *t, Tensor *x) { return reduce_op(t, x, "mean", true); }

// ----------------------------------------------------------------------------
// mse, l1

static int mse_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), ga, gb, *da, *db;
    if (grad_if(t, n->in[0], &ga, &da) || grad_if(t, n->in[1], &gb, &db)) return -1;
    return mse_backward(n->in[0], n->in[1], &dy, da, db);
}

static int l1_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), ga, gb, *da, *db;
    if (grad_if(t, n->in[0], &ga, &da) || grad_if(t, n->in[1], &gb, &db)) return -1;
    return l1_backward(n->in[0], n->in[1], &dy, da, db);
}

Tensor *ag_mse_loss(Tape *t, Tensor *pred, Tensor *target) {
    Tensor *in[2] = {pred, target};
    if (tape_any_null(2, in)) return NULL;
    Tensor *y = new_scalar(t, pred);
    if (!y || mse_forward(pred, target, y)) return NULL;
    if (tape_wants_grad(t, 2, in) && !tape_record(t, "mse_loss", mse_bw, y, 2, in)) return NULL;
    return y;
}

Tensor *ag_l1_loss(Tape *t, Tensor *pred, Tensor *target) {
    Tensor *in[2] = {pred, target};
    if (tape_any_null(2, in)) return NULL;
    Tensor *y = new_scalar(t, pred);
    if (!y || l1_forward(pred, target, y)) return NULL;
    if (tape_wants_grad(t, 2, in) && !tape_record(t, "l1_loss", l1_bw, y, 2, in)) return NULL;
    return y;
}

// ----------------------------------------------------------------------------
// softmax cross-entropy (the labels are data: no gradient)

static int ce_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), g, *dz;
    if (grad_if(t, n->in[0], &g, &dz)) return -1;
    return dz ? cross_entropy_backward(n->in[0], n->in[1], &dy, dz) : 0;
}

Tensor *ag_cross_entropy(Tape *t, Tensor *logits, Tensor *labels) {
    Tensor *in[2] = {logits, labels};
    if (tape_any_null(2, in)) return NULL;
    Tensor *y = new_scalar(t, logits);
    if (!y || cross_entropy_forward(logits, labels, y)) return NULL;
    if (tape_wants_grad(t, 1, in) && !tape_record(t, "cross_entropy", ce_bw, y, 2, in)) return NULL;
    return y;
}

// ----------------------------------------------------------------------------
// VAE: KL(N(mean, e^logvar) || N(0, 1)) and z = mean + e^(logvar/2) * noise

static int kl_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), gm, gl, *dm, *dl;
    if (grad_if(t, n->in[0], &gm, &dm) || grad_if(t, n->in[1], &gl, &dl)) return -1;
    return gaussian_kl_backward(n->in[0], n->in[1], &dy, dm, dl);
}

Tensor *ag_gaussian_kl(Tape *t, Tensor *mean, Tensor *logvar) {
    Tensor *in[2] = {mean, logvar};
    if (tape_any_null(2, in)) return NULL;
    Tensor *y = new_scalar(t, mean);
    if (!y || gaussian_kl_forward(mean, logvar, y)) return NULL;
    if (tape_wants_grad(t, 2, in) && !tape_record(t, "gaussian_kl", kl_bw, y, 2, in)) return NULL;
    return y;
}

/* The noise is data (drawn by the caller): it gets no gradient. */
static int reparam_bw(Tape *t, TapeNode *n) {
    Tensor dz = tensor_grad_view(n->out), gm, gl, *dm, *dl;
    if (grad_if(t, n->in[0], &gm, &dm) || grad_if(t, n->in[1], &gl, &dl)) return -1;
    return reparameterize_backward(n->in[1], n->in[2], &dz, dm, dl);
}

Tensor *ag_reparameterize(Tape *t, Tensor *mean, Tensor *logvar, Tensor *noise) {
    Tensor *in[3] = {mean, logvar, noise};
    if (tape_any_null(3, in)) return NULL;
    Tensor *z = tensor_like(t->arena, mean);
    if (!z || reparameterize_forward(mean, logvar, noise, z)) return NULL;
    if (tape_wants_grad(t, 2, in) && !tape_record(t, "reparameterize", reparam_bw, z, 3, in)) return NULL;
    return z;
}
