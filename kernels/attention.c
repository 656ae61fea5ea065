/* kernels/attention.c — checks and device dispatch for multi-head attention (math in attention.h). */
#include <math.h>

#include "kernels/attention.h"

// ----------------------------------------------------------------------------
// argument checks shared by forward and backward

/* q (B, Lq, C), k and v (B, Lk, C) (rank >= 3, middle dims flattened), heads | C,
 * o like q, lse (B, heads, Lq). */
static int check_common(const char *op, const Tensor *q, const Tensor *k, const Tensor *v, int heads, float scale,
                        const Tensor *o, const Tensor *lse) {
    if (kcheck(op, q, "q") || kcheck(op, k, "k")) return -1;
    if (q->ndim < 3 || k->ndim < 3)
        return ldm_error(op, "q %s and k %s must have rank >= 3 (B, L..., C)", tshape(q), tshape(k));
    if (kcheck_same(op, v, k, "v", "k") || kcheck_device(op, q, k)) return -1;
    const int b = q->shape[0], c = q->shape[q->ndim - 1];
    if (k->shape[0] != b || k->shape[k->ndim - 1] != c)
        return ldm_error(op, "q %s and k %s must agree in batch (first dim) and channels (last dim)", tshape(q),
                         tshape(k));
    if (heads < 1 || c % heads != 0)
        return ldm_error(op, "heads = %d must be >= 1 and divide the channels C = %d of q %s", heads, c, tshape(q));
    if (!isfinite(scale)) return ldm_error(op, "scale = %g is not finite (q %s)", scale, tshape(q));
    if (kcheck_same(op, o, q, "o", "q")) return -1;
    int lq = 1; /* the product of the middle dims (not numel / (B C): B may be 0) */
    for (int i = 1; i < q->ndim - 1; i++) lq *= q->shape[i];
    if (kcheck_rank(op, lse, 3, "lse") || kcheck_device(op, q, lse)) return -1;
    if (lse->shape[0] != b || lse->shape[1] != heads || lse->shape[2] != lq)
        return ldm_error(op, "lse %s must be (B, heads, Lq) = (%d, %d, %d) for q %s", tshape(lse), b, heads, lq,
                         tshape(q));
    return 0;
}

// ----------------------------------------------------------------------------
// front functions

int attention_forward(const Tensor *q, const Tensor *k, const Tensor *v, int heads, float scale, Tensor *o,
                      Tensor *lse) {
    const char *op = "attention";
    if (check_common(op, q, k, v, heads, scale, o, lse)) return -1;
    return KDISPATCH(op, q->device, attention_forward_cpu(q, k, v, heads, scale, o, lse),
                     attention_forward_cuda(q, k, v, heads, scale, o, lse));
}

int attention_backward(const Tensor *q, const Tensor *k, const Tensor *v, const Tensor *o, const Tensor *lse,
                       const Tensor *dout, int heads, float scale, Tensor *dq, Tensor *dk, Tensor *dv) {
    const char *op = "attention_backward";
    if (check_common(op, q, k, v, heads, scale, o, lse) || kcheck_same(op, dout, q, "dout", "q") ||
        kcheck_opt_same(op, dq, q, "dq", "q") || kcheck_opt_same(op, dk, k, "dk", "k") ||
        kcheck_opt_same(op, dv, v, "dv", "v"))
        return -1;
    return KDISPATCH(op, q->device, attention_backward_cpu(q, k, v, o, lse, dout, heads, scale, dq, dk, dv),
                     attention_backward_cuda(q, k, v, o, lse, dout, heads, scale, dq, dk, dv));
}
