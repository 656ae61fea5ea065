/* sample/knn_metrics.c — see knn_metrics.h. Brute force: O(nq nr d), which for the few
 * thousand images of an evaluation is well under a second. */
#include "sample/knn_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static double dist2(const float *a, const float *b, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) {
        double e = (double)a[i] - (double)b[i];
        s += e * e;
    }
    return s;
}

int knn_distance(const float *q, int nq, const float *ref, int nr, int d, int kth, int skip_self, double *dist) {
    if (kth < 1 || kth > 64) return ldm_error("knn", "k = %d out of range 1..64", kth);
    if (nr - (skip_self ? 1 : 0) < kth)
        return ldm_error("knn", "%d reference points cannot give a %d-th nearest neighbour", nr, kth);
#pragma omp parallel for schedule(dynamic, 8)
    for (int i = 0; i < nq; i++) {
        double best[64]; /* the kth smallest so far, ascending */
        int nb = 0;
        for (int j = 0; j < nr; j++) {
            if (skip_self && i == j) continue;
            double v = dist2(q + (size_t)i * d, ref + (size_t)j * d, d);
            if (nb == kth && v >= best[kth - 1]) continue;
            int p = nb < kth ? nb++ : kth - 1;
            while (p > 0 && best[p - 1] > v) best[p] = best[p - 1], p--;
            best[p] = v;
        }
        dist[i] = sqrt(best[kth - 1]);
    }
    return 0;
}

/* Share of the rows of x (nx, d) within radius[j] of some row j of c (nc, d). */
static double coverage(const float *x, int nx, const float *c, int nc, const double *radius, int d) {
    long inside = 0;
#pragma omp parallel for reduction(+ : inside)
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < nc; j++)
            if (dist2(x + (size_t)i * d, c + (size_t)j * d, d) <= radius[j] * radius[j]) {
                inside++;
                break;
            }
    return (double)inside / nx;
}

int precision_recall(const float *real, int nr, const float *fake, int nf, int d, int k, double *precision,
                     double *recall) {
    if (nr <= k || nf <= k)
        return ldm_error("precision_recall", "%d real and %d generated points: both need more than k = %d", nr, nf, k);
    double *rr = malloc((size_t)nr * sizeof(double)), *rf = malloc((size_t)nf * sizeof(double));
    int rc = rr && rf ? 0 : ldm_error("precision_recall", "out of memory");
    rc = rc || knn_distance(real, nr, real, nr, d, k, 1, rr) || knn_distance(fake, nf, fake, nf, d, k, 1, rf);
    if (!rc) {
        *precision = coverage(fake, nf, real, nr, rr, d);
        *recall = coverage(real, nr, fake, nf, rf, d);
    }
    free(rr), free(rf);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double quantile(const double *v, int n, double q) {
    if (n < 1) return NAN;
    double *s = malloc((size_t)n * sizeof(double));
    if (!s) return NAN;
    memcpy(s, v, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    double f = pos - i, r = i + 1 < n ? s[i] + f * (s[i + 1] - s[i]) : s[i];
    free(s);
    return r;
}

int memorisation_share(const double *gen_d, int ng, const double *held_d, int nh, double *share, double *tau) {
    if (ng < 1 || nh < 1)
        return ldm_error("memorisation", "needs generated (%d) and held-out (%d) images", ng, nh);
    *tau = quantile(held_d, nh, MEMO_QUANTILE);
    int below = 0;
    for (int i = 0; i < ng; i++) below += gen_d[i] < *tau;
    *share = (double)below / ng;
    return 0;
}
