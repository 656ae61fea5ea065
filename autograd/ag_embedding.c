/* autograd/ag_embedding.c — differentiable embedding lookup, and the timestep embedding
 * (kernels/embedding.h). Ids and timesteps are data: they never receive a gradient. */
#include "autograd/ops.h"
#include "kernels/embedding.h"

#define TIMESTEP_MAX_PERIOD 10000.0f

static int embedding_bw(Tape *t, TapeNode *n) {
    Tensor *table = n->in[0];
    if (!table->requires_grad) return 0;
    Tensor dtable, dy = tensor_grad_view(n->out);
    if (tape_grad_of(t, table, &dtable)) return -1;
    return embedding_backward(n->in[1], &dy, &dtable);
}

Tensor *ag_embedding(Tape *t, Tensor *table, Tensor *ids) {
    Tensor *in[2] = {table, ids};
    if (tape_any_null(2, in)) return NULL;
    if (kcheck_rank("embedding", table, 2, "table") || kcheck_rank("embedding", ids, 1, "ids")) return NULL;
    Tensor *y = tensor_new2(t->arena, table->device, ids->shape[0], table->shape[1]);
    if (!y || embedding_forward(table, ids, y)) return NULL;
    if (tape_wants_grad(t, 1, &table) && !tape_record(t, "embedding", embedding_bw, y, 2, in)) return NULL;
    return y;
}

Tensor *ag_timestep_embedding(Tape *t, Tensor *timesteps, int dim) {
    if (!timesteps) return NULL;
    if (kcheck_rank("timestep_embedding", timesteps, 1, "t")) return NULL;
    if (dim < 2 || dim % 2) {
        ldm_error("timestep_embedding", "dim %d must be even and >= 2 (t %s)", dim, tshape(timesteps));
        return NULL;
    }
    Tensor *y = tensor_new2(t->arena, timesteps->device, timesteps->shape[0], dim);
    if (!y || timestep_embedding_forward(timesteps, TIMESTEP_MAX_PERIOD, y)) return NULL;
    return y;
}
