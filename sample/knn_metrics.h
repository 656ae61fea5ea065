/* sample/knn_metrics.h — nearest-neighbour judgements of a generated set against real data,
 * in a feature space (Euclidean distance).
 *
 * Precision and recall (Kynkäänniemi et al., "Improved Precision and Recall Metric for
 * Assessing Generative Models", NeurIPS 2019). Each set approximates its manifold by the
 * union of balls around its points, the radius of the ball around x being the distance
 * from x to its k-th nearest neighbour in the same set (x itself not counted):
 *   precision = share of generated points inside the real manifold   (quality)
 *   recall    = share of real points inside the generated manifold   (diversity)
 * k = 3 as in the paper. Both sets need more than k points.
 *
 * Memorisation share (ldm.c's definition). For a point q, let d(q) be the distance from q
 * to its nearest training image. Real held-out images were never trained on, so their
 * d values show how close an unseen image of the distribution comes to the training set.
 * With tau = the 5th percentile of d over the held-out images (linear interpolation between
 * order statistics), the memorisation share is
 *   share = |{ g generated : d(g) < tau }| / |generated|.
 * A model that draws new images from the data distribution scores about 5%; one that
 * copies its training images scores near 100% (a copy has d = 0). ldm-eval measures d in
 * pixel space (the [-1, 1] images, Euclidean): a copy is a copy in pixels, while a
 * classifier's features are trained to bring distinct images of one class together.
 */
#ifndef LDM_SAMPLE_KNN_METRICS_H
#define LDM_SAMPLE_KNN_METRICS_H

#define PR_K 3
#define MEMO_QUANTILE 0.05

/* For each of the nq rows of q (nq, d): the distance to its nearest row of ref (nr, d)
 * into dist (nq). skip_self: q and ref are the same set and row i does not count as its
 * own neighbour; then kth (>= 1) picks the kth nearest instead of the nearest. */
int knn_distance(const float *q, int nq, const float *ref, int nr, int d, int kth, int skip_self, double *dist);

/* Precision and recall of fake (nf, d) against real (nr, d) with k-NN balls. */
int precision_recall(const float *real, int nr, const float *fake, int nf, int d, int k, double *precision,
                     double *recall);

/* The q-quantile of v (n values; v is not modified), linear between order statistics. */
double quantile(const double *v, int n, double q);

/* The memorisation share from the nearest-training distances of the generated images
 * (gen_d, ng) and of held-out real images (held_d, nh); *tau gets the threshold. */
int memorisation_share(const double *gen_d, int ng, const double *held_d, int nh, double *share, double *tau);

#endif
