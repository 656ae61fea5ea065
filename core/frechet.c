/* core/frechet.c — see frechet.h for the math. */
#include "core/frechet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int gauss_stats(const float *x, int n, int d, GaussStats *g) {
    memset(g, 0, sizeof *g);
    if (n < 2 || d < 1) return ldm_error("frechet", "need at least 2 vectors of dimension >= 1 (got %d of %d)", n, d);
    g->d = d, g->n = n;
    g->mean = calloc((size_t)d, sizeof(double));
    g->cov = calloc((size_t)d * d, sizeof(double));
    double *c = malloc((size_t)d * sizeof(double));
    if (!g->mean || !g->cov || !c) {
        free(c);
        gauss_stats_free(g);
        return ldm_error("frechet", "out of memory (d = %d)", d);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) g->mean[j] += x[(size_t)i * d + j];
    for (int j = 0; j < d; j++) g->mean[j] /= n;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) c[j] = x[(size_t)i * d + j] - g->mean[j];
        for (int a = 0; a < d; a++)
            for (int b = a; b < d; b++) g->cov[(size_t)a * d + b] += c[a] * c[b];
    }
    for (int a = 0; a < d; a++)
        for (int b = a; b < d; b++) g->cov[(size_t)b * d + a] = g->cov[(size_t)a * d + b] /= (n - 1);
    free(c);
    return 0;
}

void gauss_stats_free(GaussStats *g) {
    free(g->mean);
    free(g->cov);
    g->mean = g->cov = NULL;
}

// ----------------------------------------------------------------------------
// symmetric eigendecomposition: cyclic Jacobi (Golub & Van Loan, Matrix Computations 8.5)

int sym_eig(double *a, int d, double *w, double *v) {
    if (v)
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) v[(size_t)i * d + j] = i == j;
    double scale = 0;
    for (size_t i = 0; i < (size_t)d * d; i++) scale += a[i] * a[i];
    int rc = -1;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) off += a[(size_t)p * d + q] * a[(size_t)p * d + q];
        if (off <= 1e-30 * scale || off == 0) {
            rc = 0;
            break;
        }
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) {
                double apq = a[(size_t)p * d + q];
                if (apq == 0) continue;
                /* the rotation (c, s) that zeroes a_pq: t = tan(theta), the smaller root of
                 * t^2 + 2 tau t - 1 = 0, tau = (a_qq - a_pp) / (2 a_pq) */
                double tau = (a[(size_t)q * d + q] - a[(size_t)p * d + p]) / (2 * apq);
                double t = (tau >= 0 ? 1.0 : -1.0) / (fabs(tau) + sqrt(1 + tau * tau));
                double c = 1 / sqrt(1 + t * t), s = t * c;
                for (int k = 0; k < d; k++) { /* A <- A J (columns p, q) */
                    double akp = a[(size_t)k * d + p], akq = a[(size_t)k * d + q];
                    a[(size_t)k * d + p] = c * akp - s * akq;
                    a[(size_t)k * d + q] = s * akp + c * akq;
                }
                for (int k = 0; k < d; k++) { /* A <- J^T A (rows p, q) */
                    double apk = a[(size_t)p * d + k], aqk = a[(size_t)q * d + k];
                    a[(size_t)p * d + k] = c * apk - s * aqk;
                    a[(size_t)q * d + k] = s * apk + c * aqk;
                }
                if (v)
                    for (int k = 0; k < d; k++) {
                        double vkp = v[(size_t)k * d + p], vkq = v[(size_t)k * d + q];
                        v[(size_t)k * d + p] = c * vkp - s * vkq;
                        v[(size_t)k * d + q] = s * vkp + c * vkq;
                    }
            }
    }
    for (int i = 0; i < d; i++) w[i] = a[(size_t)i * d + i];
    return rc ? ldm_error("frechet", "Jacobi eigendecomposition of a %dx%d matrix did not converge", d, d) : 0;
}

// ----------------------------------------------------------------------------
// FD

int frechet_distance(const GaussStats *a, const GaussStats *b, double *fd) {
    if (a->d != b->d) return ldm_error("frechet", "dimensions differ: %d vs %d", a->d, b->d);
    const int d = a->d;
    const size_t dd = (size_t)d * d;
    double *w = malloc(dd * sizeof(double)), *v = malloc(dd * sizeof(double)), *r = malloc(dd * sizeof(double));
    double *t = malloc(dd * sizeof(double)), *ev = malloc((size_t)d * sizeof(double));
    int rc = w && v && r && t && ev ? 0 : ldm_error("frechet", "out of memory (d = %d)", d);
    /* R = S1^(1/2) = V diag(sqrt(mu)) V^T */
    if (!rc) memcpy(w, a->cov, dd * sizeof(double)), rc = sym_eig(w, d, ev, v);
    if (!rc) {
        for (int k = 0; k < d; k++) ev[k] = sqrt(fmax(ev[k], 0.0));
        for (int i = 0; i < d; i++)
            for (int j = i; j < d; j++) {
                double s = 0;
                for (int k = 0; k < d; k++) s += v[(size_t)i * d + k] * ev[k] * v[(size_t)j * d + k];
                r[(size_t)i * d + j] = r[(size_t)j * d + i] = s;
            }
        /* M = R S2 R, symmetrised against rounding */
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                double s = 0;
                for (int k = 0; k < d; k++) s += r[(size_t)i * d + k] * b->cov[(size_t)k * d + j];
                t[(size_t)i * d + j] = s;
            }
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++) {
                double s = 0;
                for (int k = 0; k < d; k++) s += t[(size_t)i * d + k] * r[(size_t)k * d + j];
                w[(size_t)i * d + j] = s;
            }
        for (int i = 0; i < d; i++)
            for (int j = i + 1; j < d; j++)
                w[(size_t)i * d + j] = w[(size_t)j * d + i] = 0.5 * (w[(size_t)i * d + j] + w[(size_t)j * d + i]);
        rc = sym_eig(w, d, ev, NULL);
    }
    if (!rc) {
        double dm = 0, tr = 0, trs = 0;
        for (int i = 0; i < d; i++) {
            double e = a->mean[i] - b->mean[i];
            dm += e * e;
            tr += a->cov[(size_t)i * d + i] + b->cov[(size_t)i * d + i];
            trs += sqrt(fmax(ev[i], 0.0));
        }
        *fd = dm + tr - 2 * trs; /* identical sets: 0 up to rounding, of either sign */
    }
    free(w), free(v), free(r), free(t), free(ev);
    return rc;
}

int frechet_distance_sets(const float *x, int nx, const float *y, int ny, int d, double *fd) {
    GaussStats a, b;
    if (gauss_stats(x, nx, d, &a)) return -1;
    if (gauss_stats(y, ny, d, &b)) {
        gauss_stats_free(&a);
        return -1;
    }
    int rc = frechet_distance(&a, &b, fd);
    gauss_stats_free(&a);
    gauss_stats_free(&b);
    return rc;
}
