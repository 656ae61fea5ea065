/* autograd/ag_loss.c — differentiable scalar reductions and losses (kernels/reduce.h),
 * the classifier's softmax cross-entropy (kernels/cross_entropy.h), and the VAE's KL term
 * and reparameterisation (kernels/gaussian.h). Every output but the reparameterised sample
 * is a scalar of shape (1). Every kernel here is fp32: bf16 inputs are widened into arena
 * temporaries (tape.h, mixed precision), so losses are computed and returned in fp32. */
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
    return dx ? broadcast_scalar_backward(&dy, n->farg[0], dx) : 0; /* reads no activation */
}

static Tensor *reduce_op(Tape *t, Tensor *x, const char *op, bool mean) {
    if (!x) return NULL;
    Tensor *y = new_scalar(t, x);
    if (!y) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *xf = tape_f32(t, x);
    if (tape_f32_finish(t, m, !xf ? -1 : mean ? mean_forward(xf, y) : sum_forward(xf, y), y, y)) return NULL;
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

typedef int (*PairBackward)(const Tensor *a, const Tensor *b, const Tensor *dy, Tensor *da, Tensor *db);

/* The backward of a loss of two activations, run on fp32 copies of them. */
static int pair_bw(Tape *t, TapeNode *n, PairBackward fn) {
    Tensor dy = tensor_grad_view(n->out), ga, gb, *da, *db;
    if (grad_if(t, n->in[0], &ga, &da) || grad_if(t, n->in[1], &gb, &db)) return -1;
    ArenaMark m = arena_mark(t->arena);
    Tensor *a = tape_f32(t, n->in[0]), *b = a ? tape_f32(t, n->in[1]) : NULL;
    return tape_f32_finish(t, m, b ? fn(a, b, &dy, da, db) : -1, NULL, NULL);
}

static int mse_bw(Tape *t, TapeNode *n) { return pair_bw(t, n, mse_backward); }
static int l1_bw(Tape *t, TapeNode *n) { return pair_bw(t, n, l1_backward); }
static int kl_bw(Tape *t, TapeNode *n) { return pair_bw(t, n, gaussian_kl_backward); }

typedef int (*PairForward)(const Tensor *a, const Tensor *b, Tensor *y);

/* y (1) = fn(a, b) on fp32 copies of a and b. */
static Tensor *pair_loss(Tape *t, Tensor *a, Tensor *b, PairForward fn, const char *op, BackwardFn bw) {
    Tensor *in[2] = {a, b};
    if (tape_any_null(2, in)) return NULL;
    Tensor *y = new_scalar(t, a);
    if (!y) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *af = tape_f32(t, a), *bf = af ? tape_f32(t, b) : NULL;
    if (tape_f32_finish(t, m, bf ? fn(af, bf, y) : -1, y, y)) return NULL;
    if (tape_wants_grad(t, 2, in) && !tape_record(t, op, bw, y, 2, in)) return NULL;
    return y;
}

Tensor *ag_mse_loss(Tape *t, Tensor *pred, Tensor *target) {
    return pair_loss(t, pred, target, mse_forward, "mse_loss", mse_bw);
}

Tensor *ag_l1_loss(Tape *t, Tensor *pred, Tensor *target) {
    return pair_loss(t, pred, target, l1_forward, "l1_loss", l1_bw);
}

// ----------------------------------------------------------------------------
// softmax cross-entropy (the labels are data: no gradient)

static int ce_bw(Tape *t, TapeNode *n) {
    Tensor dy = tensor_grad_view(n->out), g, *dz;
    if (grad_if(t, n->in[0], &g, &dz)) return -1;
    if (!dz) return 0;
    ArenaMark m = arena_mark(t->arena);
    Tensor *z = tape_f32(t, n->in[0]);
    return tape_f32_finish(t, m, z ? cross_entropy_backward(z, n->in[1], &dy, dz) : -1, NULL, NULL);
}

Tensor *ag_cross_entropy(Tape *t, Tensor *logits, Tensor *labels) {
    Tensor *in[2] = {logits, labels};
    if (tape_any_null(2, in)) return NULL;
    Tensor *y = new_scalar(t, logits);
    if (!y) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *z = tape_f32(t, logits);
    if (tape_f32_finish(t, m, z ? cross_entropy_forward(z, labels, y) : -1, y, y)) return NULL;
    if (tape_wants_grad(t, 1, in) && !tape_record(t, "cross_entropy", ce_bw, y, 2, in)) return NULL;
    return y;
}

// ----------------------------------------------------------------------------
// VAE: KL(N(mean, e^logvar) || N(0, 1)) and z = mean + e^(logvar/2) * noise

Tensor *ag_gaussian_kl(Tape *t, Tensor *mean, Tensor *logvar) {
    return pair_loss(t, mean, logvar, gaussian_kl_forward, "gaussian_kl", kl_bw);
}

/* The noise is data (drawn by the caller): it gets no gradient. */
static int reparam_bw(Tape *t, TapeNode *n) {
    Tensor dz = tensor_grad_view(n->out), gm, gl, *dm, *dl;
    if (grad_if(t, n->in[0], &gm, &dm) || grad_if(t, n->in[1], &gl, &dl)) return -1;
    ArenaMark m = arena_mark(t->arena);
    Tensor *lv = tape_f32(t, n->in[1]), *e = lv ? tape_f32(t, n->in[2]) : NULL;
    return tape_f32_finish(t, m, e ? reparameterize_backward(lv, e, &dz, dm, dl) : -1, NULL, NULL);
}

Tensor *ag_reparameterize(Tape *t, Tensor *mean, Tensor *logvar, Tensor *noise) {
    Tensor *in[3] = {mean, logvar, noise};
    if (tape_any_null(3, in)) return NULL;
    Tensor *z = tensor_new_dtype(t->arena, mean->device, tape_promote(3, in), mean->ndim, mean->shape);
    if (!z) return NULL;
    ArenaMark m = arena_mark(t->arena);
    Tensor *mu = tape_f32(t, mean), *lv = mu ? tape_f32(t, logvar) : NULL, *e = lv ? tape_f32(t, noise) : NULL;
    Tensor *zf = e ? tape_f32_out(t, z) : NULL;
    if (tape_f32_finish(t, m, zf ? reparameterize_forward(mu, lv, e, zf) : -1, zf, z)) return NULL;
    if (tape_wants_grad(t, 2, in) && !tape_record(t, "reparameterize", reparam_bw, z, 3, in)) return NULL;
    return z;
}
