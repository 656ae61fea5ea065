/* kernels/embedding.c — checks and device dispatch for the embedding lookup and the
 * sinusoidal timestep embedding (math in embedding.h). The id values live on the
 * tensors' device, so each backend checks them (an id outside [0, V) is an error). */
#include <math.h>

#include "kernels/embedding.h"

/* table (V, D), ids (N), rows (N, D) */
static int check_lookup(const char *op, const Tensor *table, const Tensor *ids, const Tensor *rows, const char *what) {
    if (kcheck_rank(op, table, 2, "table") || kcheck_rank(op, ids, 1, "ids") || kcheck_rank(op, rows, 2, what) ||
        kcheck_device(op, table, ids) || kcheck_device(op, table, rows))
        return -1;
    if (rows->shape[0] != ids->shape[0] || rows->shape[1] != table->shape[1])
        return ldm_error(op, "%s %s must be (N, D) = (%d, %d) for table %s and ids %s", what, tshape(rows),
                         ids->shape[0], table->shape[1], tshape(table), tshape(ids));
    return 0;
}

int embedding_forward(const Tensor *table, const Tensor *ids, Tensor *y) {
    if (check_lookup("embedding", table, ids, y, "y")) return -1;
    return KDISPATCH("embedding", table->device, embedding_forward_cpu(table, ids, y),
                     embedding_forward_cuda(table, ids, y));
}

int embedding_backward(const Tensor *ids, const Tensor *dy, Tensor *dtable) {
    if (check_lookup("embedding_backward", dtable, ids, dy, "dy")) return -1;
    return KDISPATCH("embedding_backward", dy->device, embedding_backward_cpu(ids, dy, dtable),
                     embedding_backward_cuda(ids, dy, dtable));
}

int timestep_embedding_forward(const Tensor *t, float max_period, Tensor *y) {
    const char *op = "timestep_embedding";
    if (kcheck_rank(op, t, 1, "t") || kcheck_rank(op, y, 2, "y") || kcheck_device(op, t, y)) return -1;
    if (y->shape[0] != t->shape[0] || y->shape[1] % 2 != 0)
        return ldm_error(op, "y %s must be (N, dim) with dim even for t %s", tshape(y), tshape(t));
    if (!(max_period > 0.0f) || !isfinite(max_period))
        return ldm_error(op, "max_period %g must be positive and finite (t %s)", max_period, tshape(t));
    return KDISPATCH(op, t->device, timestep_embedding_forward_cpu(t, max_period, y),
                     timestep_embedding_forward_cuda(t, max_period, y));
}
