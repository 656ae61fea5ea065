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
    DType act_dtype;    /* what conv2d, linear and attention produce (see "mixed precision") */
};

/* A tape with act_dtype = DT_F32. */
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

// ----------------------------------------------------------------------------
// mixed precision (the one place that decides an activation's dtype)
//
// act_dtype = DT_BF16 is PyTorch's autocast: conv2d, linear and attention take their
// operands rounded to bf16 (the weights too; accumulation and softmax stay fp32) and
// produce bf16; every other op produces the dtype of its inputs (bf16 only when all of
// its tensor inputs are bf16, so fp32 wins as in type promotion); losses and reductions
// produce fp32. Gradients are always fp32. Models never name a dtype; the entry points
// set act_dtype from --precision.
//
// Ops whose kernel reads and writes bf16 natively call it directly. The others run their
// fp32 kernel on fp32 temporaries from the arena (between arena_mark and arena_rewind):
// tape_f32 widens a bf16 input (exactly), tape_bf16_operand rounds a matmul operand to
// bf16 values held in fp32, tape_f32_out gives an fp32 buffer for a bf16 output and
// tape_f32_finish rounds it into the output. On the CPU this is the bf16 reference:
// inputs rounded to bf16, fp32 arithmetic, outputs rounded once.

/* Sets act_dtype (DT_F32 or DT_BF16: --precision) and, with it, the kernels' default
 * versions: bf16 makes conv2d, linear and attention default to their tensor-core versions
 * on CUDA (kernels/versions.h), fp32 restores the fp32 ones. Process-wide for the kernels:
 * the entry points run one precision at a time. */
void tape_set_precision(Tape *t, DType act_dtype);

/* DT_F32 unless every non-NULL tensor in `in` is bf16 (NULLs are skipped; none: DT_F32). */
DType tape_promote(int n, Tensor *const *in);
/* x itself when NULL or fp32, else an fp32 copy from the arena (NULL + error when full). */
Tensor *tape_f32(Tape *t, Tensor *x);
/* An fp32 tensor holding x's values rounded to bf16 (x may be either dtype); NULL in, NULL out. */
Tensor *tape_bf16_operand(Tape *t, Tensor *x);
/* y itself when fp32, else an uninitialised fp32 tensor of y's shape from the arena. */
Tensor *tape_f32_out(Tape *t, Tensor *y);
/* Rounds tmp into y when they differ (tmp came from tape_f32_out(t, y)); then rewinds the
 * arena to `m`. rc: the kernel's result; returns -1 when rc or the rounding failed. */
int tape_f32_finish(Tape *t, ArenaMark m, int rc, Tensor *tmp, Tensor *y);

#endif
