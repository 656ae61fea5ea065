/* kernels/resample.c — checks and device dispatch for upsample2x, concat_channels and
 * slice_channels (math in resample.h). */
#include "kernels/resample.h"

// ----------------------------------------------------------------------------
// upsample2x: small (N, H, W, C), big (N, 2H, 2W, C)

static int check_up(const char *op, const Tensor *small, const Tensor *big, const char *ws, const char *wb) {
    if (kcheck_rank(op, small, 4, ws) || kcheck_rank(op, big, 4, wb) || kcheck_device(op, small, big)) return -1;
    const int *s = small->shape, *b = big->shape;
    if (b[0] != s[0] || b[1] != 2L * s[1] || b[2] != 2L * s[2] || b[3] != s[3])
        return ldm_error(op, "%s %s must be (N, 2H, 2W, C) = (%d, %ld, %ld, %d) for %s %s", wb, tshape(big), s[0],
                         2L * s[1], 2L * s[2], s[3], ws, tshape(small));
    return 0;
}

int upsample2x_forward(const Tensor *x, Tensor *y) {
    if (check_up("upsample2x", x, y, "x", "y")) return -1;
    return KDISPATCH("upsample2x", x->device, upsample2x_forward_cpu(x, y), upsample2x_forward_cuda(x, y));
}

int upsample2x_backward(const Tensor *dy, Tensor *dx) {
    if (check_up("upsample2x_backward", dx, dy, "dx", "dy")) return -1;
    return KDISPATCH("upsample2x_backward", dy->device, upsample2x_backward_cpu(dy, dx),
                     upsample2x_backward_cuda(dy, dx));
}

// ----------------------------------------------------------------------------
// concat / slice over the last dim

/* t has ref's rank and leading dims (all but the last), and ref's device. */
static int check_lead(const char *op, const Tensor *t, const Tensor *ref, const char *wt, const char *wr) {
    if (kcheck(op, t, wt) || kcheck_device(op, ref, t)) return -1;
    bool ok = t->ndim == ref->ndim;
    for (int i = 0; ok && i < t->ndim - 1; i++) ok = t->shape[i] == ref->shape[i];
    if (!ok)
        return ldm_error(op, "%s %s and %s %s must agree in all dims but the last", wt, tshape(t), wr, tshape(ref));
    return 0;
}

int concat_channels_forward(const Tensor *a, const Tensor *b, Tensor *y) {
    const char *op = "concat_channels";
    if (kcheck(op, a, "a") || check_lead(op, b, a, "b", "a") || check_lead(op, y, a, "y", "a")) return -1;
    const long C = (long)tensor_cols(a) + tensor_cols(b);
    if (tensor_cols(y) != C)
        return ldm_error(op, "y %s must have %ld channels for a %s and b %s", tshape(y), C, tshape(a), tshape(b));
    return KDISPATCH(op, a->device, concat_channels_forward_cpu(a, b, y), concat_channels_forward_cuda(a, b, y));
}

int concat_channels_backward(const Tensor *dy, Tensor *da, Tensor *db) {
    const char *op = "concat_channels_backward";
    if (kcheck(op, dy, "dy") || (da && check_lead(op, da, dy, "da", "dy")) ||
        (db && check_lead(op, db, dy, "db", "dy")))
        return -1;
    int C = tensor_cols(dy);
    if ((da && tensor_cols(da) >= C) || (db && tensor_cols(db) >= C) ||
        (da && db && tensor_cols(da) + tensor_cols(db) != C))
        return ldm_error(op, "da %s and db %s do not split the %d channels of dy %s", tshape(da), tshape(db), C,
                         tshape(dy));
    if (!da && !db) return 0;
    return KDISPATCH(op, dy->device, concat_channels_backward_cpu(dy, da, db),
                     concat_channels_backward_cuda(dy, da, db));
}

/* full (..., C), part (..., c1 - c0) with 0 <= c0 < c1 <= C */
static int check_slice(const char *op, const Tensor *full, int c0, int c1, const Tensor *part, const char *wf,
                       const char *wp) {
    if (kcheck(op, full, wf) || check_lead(op, part, full, wp, wf)) return -1;
    if (c0 < 0 || c1 > tensor_cols(full) || c0 >= c1)
        return ldm_error(op, "channel range [%d, %d) is empty or outside the %d channels of %s %s", c0, c1,
                         tensor_cols(full), wf, tshape(full));
    if (tensor_cols(part) != c1 - c0)
        return ldm_error(op, "%s %s must have %d channels for the range [%d, %d) of %s %s", wp, tshape(part), c1 - c0,
                         c0, c1, wf, tshape(full));
    return 0;
}

int slice_channels_forward(const Tensor *x, int c0, int c1, Tensor *y) {
    if (check_slice("slice_channels", x, c0, c1, y, "x", "y")) return -1;
    return KDISPATCH("slice_channels", x->device, slice_channels_forward_cpu(x, c0, c1, y),
                     slice_channels_forward_cuda(x, c0, c1, y));
}

int slice_channels_backward(const Tensor *dy, int c0, int c1, Tensor *dx) {
    if (check_slice("slice_channels_backward", dx, c0, c1, dy, "dx", "dy")) return -1;
    return KDISPATCH("slice_channels_backward", dy->device, slice_channels_backward_cpu(dy, c0, c1, dx),
                     slice_channels_backward_cuda(dy, c0, c1, dx));
}
