/* bench/ops/op_table.h — one table of every op and pass, driving every check.
 *
 * In the manner of ggml's test-backend-ops: each row of the table is one op (conv2d,
 * group_norm, ...) with its passes (fwd, dgrad, wgrad, bwd, step, ...). A row gives
 *   - the argument list of the op, every tensor with its role (input; output, which the
 *     checks poison with NaN; accumulated gradient, which the checks pre-fill so that +=
 *     is proven), its value range, and for gradients which input they differentiate;
 *   - per pass: the call, which arguments it reads and writes, the tolerance of the
 *     device-vs-CPU comparison and the reason for it, and the FLOP formula (bytes follow
 *     from the roles: every argument read once, every output written once, every
 *     accumulated gradient read and written: 4 bytes each in fp32, 2 for a bf16 argument);
 *   - shape generators: kernel-breaking shapes (odd sizes, edge tiles, batch 1, empty
 *     tensors, misaligned pointers), in a quick and a full set, and the shapes a preset's
 *     models really run (bench/shapes.c) for the ops that have them;
 *   - the CUDA kernel versions that exist (kernels/versions.h, LDM_KERNELS) and which one
 *     is the naive port (left out of timings at large shapes).
 * bench/ops/op_run.h runs the table in every mode: CPU gradient check, device parity per
 * version, timing. Adding an op: its header, CPU and CUDA files, its ag_ file, and a row
 * in op_table.c.
 *
 * Why here: `ldm-bench kernels` (bench/) and the test suites (tests/) both use the table,
 * bench/ may not include tests/, and the preset shapes come from bench/shapes.c; the
 * table itself needs only core/ and kernels/ (plus shapes.c's BenchShape).
 */
#ifndef LDM_BENCH_OPS_OP_TABLE_H
#define LDM_BENCH_OPS_OP_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/shapes.h"
#include "core/tensor.h"

#define OP_MAX_ARGS 12
#define OP_MAX_PASSES 4
#define OP_MAX_CASES 64

typedef enum { ROLE_IN, ROLE_OUT, ROLE_ACC } OpRole;
/* How an input is filled: uniform in [lo, hi); integers floor(uniform) (ids); uniform
 * with every 37th value far outside the clamp of a log-variance; uniform magnitude in
 * [lo, hi) with a random sign (keeps |a - b| away from l1's kink). */
typedef enum { FILL_UNIFORM, FILL_INT, FILL_LOGVAR, FILL_SIGNED } OpFill;

typedef struct {
    const char *name;
    OpRole role;
    OpFill fill;
    float lo, hi;
    int ndim, shape[4];
    bool null;   /* passed as NULL (an optional argument left out) */
    int grad_of; /* ROLE_ACC: index of the input it is the gradient of; -1 none */
    int seeds;   /* ROLE_IN: index of the output whose upstream gradient it is; -1 none */
    bool bf16;   /* stored as bf16 (filled by rounding the fp32 draw; compared as exact fp32 widenings) */
} OpArg;

struct OpDef;

typedef struct OpCase {
    const struct OpDef *op;
    char desc[112];
    int nargs;
    OpArg a[OP_MAX_ARGS];
    int ip[6];        /* integer parameters, per op (stride, pad, groups, heads, ...) */
    float fp[2];      /* float parameters (eps, alpha, scale, ...) */
    uint64_t up[2];   /* RNG seed and offset */
    bool misalign;    /* device tensors start one float past an allocation (256-aligned) */
    const char *model; /* preset shapes: "vae" | "unet"; NULL for the generated shapes */
    int count;        /* preset shapes: calls of this shape per forward */
} OpCase;

typedef int (*OpRunFn)(Tensor **t, const OpCase *c);

typedef struct {
    const char *name; /* "fwd", "bwd", "dgrad", "wgrad", "step" */
    OpRunFn run;
    unsigned reads, writes; /* bit i: argument i */
    double tol;
    const char *why;                  /* the reason for tol */
    double (*flops)(const OpCase *c); /* NULL: none counted */
} OpPass;

typedef enum { SHAPES_QUICK, SHAPES_FULL } OpShapeSet;

typedef struct OpDef {
    const char *name;   /* the op; also its kernel_version_set name */
    int versions;       /* CUDA versions 1..versions besides 0 (the default); 0: a single kernel */
    int naive;          /* the naive version (1), 0: none */
    bool shared_memory; /* a kernel of the op uses shared memory (compute-sanitizer's racecheck) */
    int npasses;
    OpPass pass[OP_MAX_PASSES];
    /* Kernel-breaking cases into out[max]; returns how many. */
    int (*shapes)(OpShapeSet set, OpCase *out, int max);
    int bench_kind;                   /* BenchKind of the preset shapes; -1: none */
    double grad_tol;                  /* gradient check (0: the op has no gradient pass) */
    const char *grad_why;
    float grad_eps;                   /* finite-difference step */
} OpDef;

/* Tensor-core versions (bf16 operands, fp32 accumulation) state their own bound for every
 * output of every pass (op_table.c's tc_bounds). The first such version of op, or 0. */
int op_tc_version(const OpDef *op);
/* The device-vs-CPU tolerance of pass p of op at kernel version v, and its reason. */
double op_tolerance(const OpDef *op, int p, int version);
const char *op_tolerance_why(const OpDef *op, int p, int version);

extern const OpDef op_table[];
extern const int op_table_len;

const OpDef *op_find(const char *name);
/* The pass named `pass` of op, or -1. */
int op_pass_index(const OpDef *op, const char *pass);

/* The op's case for a preset shape (bench/shapes.h); -1 with an error when the op has no
 * preset shapes or the kind does not match. */
int op_case_from_shape(const OpDef *op, const BenchShape *s, OpCase *out);

/* Elements and bytes of argument i; the napkin bytes of pass p (fp32: inputs read once,
 * outputs written once, accumulated gradients read and written). */
size_t op_arg_numel(const OpCase *c, int i);
double op_bytes(const OpCase *c, int p);
double op_flops(const OpCase *c, int p);

#endif
