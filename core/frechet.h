/* core/frechet.h — the Fréchet distance between two sets of feature vectors, each summed up
 * as a Gaussian (mean, covariance), as FID does (Heusel et al. 2017) in the classifier's
 * feature space:
 *
 *   FD = |m1 - m2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))
 *
 * tr((S1 S2)^(1/2)) is computed without ever forming the non-symmetric S1 S2: with
 * R = S1^(1/2) (symmetric PSD), S1 S2 = R (R S2 R) R^-1 is similar to M = R S2 R, which is
 * symmetric PSD, so the eigenvalues of S1 S2 are those of M and
 *   tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(M)).
 * Both square roots come from a symmetric eigendecomposition (cyclic Jacobi rotations, in
 * double): S1 = V diag(mu) V^T -> R = V diag(sqrt(max(mu, 0))) V^T. Jacobi is slow
 * (O(d^3) per sweep, ~10 sweeps) but unconditionally stable and accurate to rounding for
 * symmetric matrices, and singular covariances (fewer samples than dimensions) are fine:
 * rounding-level negative eigenvalues are clamped to 0. scipy's sqrtm on S1 S2 instead
 * can return complex parts and needs a fudge term for singular products.
 * Covariances are unbiased (divide by n - 1). For d = 128 one FD costs ~50 ms.
 */
#ifndef LDM_CORE_FRECHET_H
#define LDM_CORE_FRECHET_H

typedef struct {
    int d, n;     /* dimension; vectors summed up */
    double *mean; /* (d) */
    double *cov;  /* (d, d), row-major, symmetric */
} GaussStats;

/* Mean and unbiased covariance of x (n, d) floats, n >= 2. -1 with an error. */
int gauss_stats(const float *x, int n, int d, GaussStats *out);
void gauss_stats_free(GaussStats *g);

/* Eigen-decomposition of the symmetric a (d, d) (overwritten): eigenvalues into w (d),
 * eigenvectors as the columns of v (d, d) (may be NULL). Cyclic Jacobi; -1 with an error
 * when it has not converged after 100 sweeps. */
int sym_eig(double *a, int d, double *w, double *v);

/* FD between two Gaussians of the same dimension. */
int frechet_distance(const GaussStats *a, const GaussStats *b, double *fd);
/* FD between the sets x (nx, d) and y (ny, d). */
int frechet_distance_sets(const float *x, int nx, const float *y, int ny, int d, double *fd);

#endif
