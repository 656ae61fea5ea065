/* autograd/tape.h — tape-based reverse-mode automatic differentiation.
 *
 * Every differentiable op (autograd/ag_*.c) runs its kernel forward, then, when
 * gradients are wanted, records a TapeNode: the op's name, its backward function,
 * its inputs and output, and whatever the backward needs (saved tensors such as
 * group norm's mean/rstd or attention's log-sum-exp, plus a few int/float args).
 * Nodes are appended in execution order, which is a topological order, so walking
 * the list backwards visits each node after every node that consumed its output.
 *
 * tape_backward seeds the output's gradient and walks the tape in reverse. A node
 * runs only if its output received a gradient. Backward functions ACCUMULATE into
 * the inputs' gradients (allocated lazily, zeroed, from the arena for activations;
 * parameters carry their own), so a tensor used twice gets both contributions.
 *
 * Nodes, output tensors and activation gradients all come from the tape's arena: they
 * live until arena_reset. Under no-grad (sampling) nothing is recorded.
 */
#ifndef LDM_AUTOGRAD_TAPE_H
#define LDM_AUTOGRAD_TAPE_H

#include <stdbool.h>

#include "core/arena.h"
#include "core/tensor.h"

#define TAPE_MAX_IN 4
#define TAPE_MAX_SAVED 4

typedef struct Tape Tape;
typedef struct TapeNode TapeNode;

/* Accumulate the gradient of node->out into the gradients of node->in[i] that
 * require one. Returns 0 or -1 with an error. */
typedef int (*BackwardFn)(Tape *tape, TapeNode *node);

struct TapeNode {
    const char *op;
    BackwardFn backward;
    Tensor *out;
    Tensor *in[TAPE_MAX_IN];
    int n_in;
    Tensor *saved[TAPE_MAX_SAVED];
    int iarg[8];
    float farg[4];
    TapeNode *prev;
};

struct Tape {
    Arena *arena;       /* outputs, nodes, activation gradients */
    TapeNode *last;
    int n_nodes;
    bool grad_enabled;
};

void tape_init(Tape *t, Arena *arena);
/* Forget every node (call together with arena_reset). */
void tape_reset(Tape *t);
/* Turn recording on or off; returns the previous setting. */
bool tape_set_grad_enabled(Tape *t, bool enabled);

/* True when recording is on and some input requires a gradient. */
bool tape_wants_grad(const Tape *t, int n_in, Tensor *const *in);

/* Append a node for `out` computed from `in`; marks out->requires_grad. Call only
 * when tape_wants_grad() said yes. NULL + error when the arena is full. */
TapeNode *tape_record(Tape *t, const char *op, BackwardFn fn, Tensor *out, int n_in, Tensor *const *in);

/* Reverse pass from `out`. dout == NULL seeds 1.0 and requires out->numel == 1;
 * otherwise dout has out's shape and is used as the seed gradient. */
int tape_backward(Tape *t, Tensor *out, const Tensor *dout);

/* For backward functions: the gradient of x as a tensor to accumulate into, allocated
 * on first use. Returns 0 and fills *g, or -1. Only call when x->requires_grad. */
int tape_grad_of(Tape *t, Tensor *x, Tensor *g);

/* Helpers for ag_* ops: a NULL among the inputs means an earlier op failed; the
 * new op then returns NULL without replacing that first error message. */
bool tape_any_null(int n, Tensor *const *in);

#endif
