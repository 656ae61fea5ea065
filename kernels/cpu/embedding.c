/* kernels/cpu/embedding.c — embedding lookup and sinusoidal timestep embedding on the CPU
 * (math in kernels/embedding.h).
 *   embedding forward: copies N rows of D floats, 8 bytes per output element.
 *   embedding backward: 1 FLOP, 12 bytes per dy element; rows are added in order of n, so
 *     repeated ids accumulate deterministically. Parallel over columns (a thread owns a
 *     range of d for every n): no two threads touch the same dtable element.
 *   timestep embedding: per output element one exp, one multiply and one cos or sin, in
 *     double (t * f reaches 1e3 for T = 1000; float arguments would cost ~1e-4 in the result).
 * Ids are checked (an integer in [0, V)) before anything is written. */
#include <math.h>

#include "kernels/cpu/cpu_util.h"
#include "kernels/embedding.h"


/* 0, or -1 naming the first id that is not an integer in [0, V). */
static int check_ids(const char *op, const Tensor *table, const Tensor *ids) {
    const int V = table->shape[0];
    for (int n = 0; n < ids->shape[0]; n++) {
        float id = ids->data[n];
        if (!(id >= 0.0f && id < (float)V) || id != floorf(id))
            return ldm_error(op, "ids[%d] = %g is not an integer in [0, %d) (table %s, ids %s)", n, id, V,
                             tshape(table), tshape(ids));
    }
    return 0;
}

int embedding_forward_cpu(const Tensor *table, const Tensor *ids, Tensor *y) {
    if (check_ids("embedding", table, ids)) return -1;
    const int N = ids->shape[0], D = table->shape[1];
    const float *tp = table->data; /* (V, D) */
    float *yp = y->data;           /* (N, D) */
#pragma omp parallel for schedule(static) if (cpu_par(8.0 * (double)y->numel))
    for (int n = 0; n < N; n++) {
        const float *row = tp + (long)ids->data[n] * D;
        for (int d = 0; d < D; d++) yp[(long)n * D + d] = row[d];
    }
    return 0;
}

int embedding_backward_cpu(const Tensor *ids, const Tensor *dy, Tensor *dtable) {
    if (check_ids("embedding_backward", dtable, ids)) return -1;
    const int N = ids->shape[0], D = dtable->shape[1];
    const float *g = dy->data; /* (N, D) */
    float *dt = dtable->data;  /* (V, D) */
#pragma omp parallel for schedule(static) if (cpu_par(12.0 * (double)dy->numel))
    for (int d = 0; d < D; d++)
        for (int n = 0; n < N; n++) dt[(long)ids->data[n] * D + d] += g[(long)n * D + d];
    return 0;
}

int timestep_embedding_forward_cpu(const Tensor *t, float max_period, Tensor *y) {
    const int N = t->shape[0], half = y->shape[1] / 2;
    const double k = -log((double)max_period) / half;
    float *yp = y->data; /* (N, 2 * half): cos then sin */
    for (int n = 0; n < N; n++)
        for (int i = 0; i < half; i++) {
            double a = (double)t->data[n] * exp(k * i);
            yp[(long)n * 2 * half + i] = (float)cos(a);
            yp[(long)n * 2 * half + half + i] = (float)sin(a);
        }
    return 0;
}
