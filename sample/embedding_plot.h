/* sample/embedding_plot.h — the seeds' picture: real and generated images as points in a
 * 2-D view of the classifier's feature space, coloured by class.
 *
 * The view is PCA: the features of all points (real and generated together) are centred,
 * and projected on the two leading eigenvectors of their covariance (frechet.h's Jacobi
 * eigendecomposition, in double). PCA is linear and deterministic, so distances along the
 * two axes mean the same everywhere in the picture (t-SNE's do not); the share of the
 * variance the two axes explain is written on the plot.
 * Real images are filled dots, generated ones hollow squares, one colour per class.
 */
#ifndef LDM_SAMPLE_EMBEDDING_PLOT_H
#define LDM_SAMPLE_EMBEDDING_PLOT_H

#include <stdbool.h>

/* Projects f (n, d) onto its two principal axes: xy (n, 2); *explained = the share of the
 * total variance on those two axes. */
int pca2(const float *f, int n, int d, double *xy, double *explained);

typedef struct {
    int n;
    const double *xy;         /* (n, 2) */
    const int *cls;           /* (n) class index */
    const bool *generated;    /* (n) */
    int n_classes;
    const char *const *class_names;
    const char *title;
    double explained;
} EmbeddingPlot;

/* Draws the plot and writes it as an RGB PNG; -1 naming the file. */
int embedding_plot_write(const char *path, const EmbeddingPlot *p);

#endif
