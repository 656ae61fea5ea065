/* tests/test_eval_classifier.c — ldm-eval's judge: the softmax cross-entropy op (a value
 * worked out by hand, finite-difference gradients, bad labels) and the small CNN, which
 * must learn a separable toy set (bright left half vs bright right half, with noise) to
 * at least 95% held-out accuracy in 80 steps, and give features of the declared width. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/cross_entropy.h"
#include "models/classifier.h"
#include "models/classifier_run.h"
#include "tests/util/testutil.h"

Test(cross_entropy, value_by_hand) {
    /* row 0: logits (0, ln 3), label 1: softmax (1/4, 3/4), loss -ln(3/4) = ln(4/3)
     * row 1: logits (2, 2, 2) padded as (2, 2) here: label 0: ln 2
     * mean: (ln(4/3) + ln 2) / 2 = ln(8/3) / 2 */
    Tensor *z = tensor_new2(NULL, DEV_CPU, 2, 2), *l = tensor_new1(NULL, DEV_CPU, 2), *y = tensor_new1(NULL, DEV_CPU, 1);
    float zv[4] = {0, logf(3), 2, 2}, lv[2] = {1, 0};
    tensor_from_host(z, zv), tensor_from_host(l, lv);
    cr_assert_eq(cross_entropy_forward(z, l, y), 0, "%s", ldm_last_error());
    cr_expect(fabs(y->data[0] - log(8.0 / 3) / 2) < 1e-6, "loss %.9g", y->data[0]);
    /* backward: dz = dy / N (softmax - onehot) = 0.5 * ((1/4, -1/4), (-1/2, 1/2)), added to 1 */
    Tensor *dy = tensor_new1(NULL, DEV_CPU, 1), *dz = tensor_new2(NULL, DEV_CPU, 2, 2);
    dy->data[0] = 1;
    for (int i = 0; i < 4; i++) dz->data[i] = 1;
    cr_assert_eq(cross_entropy_backward(z, l, dy, dz), 0);
    float want[4] = {1.125f, 0.875f, 0.75f, 1.25f};
    for (int i = 0; i < 4; i++) cr_expect(fabsf(dz->data[i] - want[i]) < 1e-6, "dz[%d] = %g", i, dz->data[i]);
    /* a label outside [0, K) names its row */
    l->data[1] = 2;
    cr_expect_neq(cross_entropy_forward(z, l, y), 0);
    cr_expect(strstr(ldm_last_error(), "labels[1]"), "%s", ldm_last_error());
    tensor_free(z), tensor_free(l), tensor_free(y), tensor_free(dy), tensor_free(dz);
}

static Tensor *build_ce(Tape *t, Tensor **in, void *ctx) { return ag_cross_entropy(t, in[0], ctx); }

Test(cross_entropy, gradient_matches_finite_differences) {
    Tensor *z = tu_param(2, (int[]){5, 7}, 3, -2, 2), *l = tu_data(1, (int[]){5}, 4, 0, 7);
    for (int i = 0; i < 5; i++) l->data[i] = floorf(l->data[i]);
    TuGradOpts o = {.eps = 1e-2, .rtol = 2e-2, .atol = 1e-5};
    cr_expect_eq(tu_gradcheck(build_ce, l, &z, 1, &o), 0, "%s", ldm_last_error());
    tensor_free(z), tensor_free(l);
}

/* n images of 16x16: class 0 bright on the left half, class 1 on the right, noise 0..79 */
static void toy(uint8_t *x, int *labels, int n, uint64_t seed) {
    float *u = malloc((size_t)n * 256 * sizeof(float));
    tu_fill_uniform(u, (size_t)n * 256, seed, 0, 80);
    for (int i = 0; i < n; i++) {
        labels[i] = i % 2;
        for (int p = 0; p < 256; p++) {
            int left = (p % 16) < 8;
            x[i * 256 + p] = (uint8_t)(u[i * 256 + p] + ((left == (labels[i] == 0)) ? 120 : 0));
        }
    }
    free(u);
}

Test(classifier, learns_a_separable_toy_set) {
    ClassifierConfig cc = {.image_size = 16, .num_classes = 2, .ch = 8, .levels = 2, .feat = 16, .groups = 4};
    Classifier m;
    ParamSet ps;
    ps_init(&ps, DEV_CPU, 1, true, true);
    cr_assert_eq(classifier_init(&m, &ps, &cc), 0, "%s", ldm_last_error());
    cr_expect_not_null(ps_find(&ps, "cls.down.1.conv.weight"));
    cr_expect_not_null(ps_find(&ps, "cls.head.bias"));
    enum { NT = 128, NH = 64 };
    uint8_t xt[NT * 256], xh[NH * 256];
    int lt[NT], lh[NH], pred[NH], correct[2], total[2];
    toy(xt, lt, NT, 1);
    toy(xh, lh, NH, 2);
    ClsTrainOpts o = {.steps = 80, .batch = 16, .lr = 3e-3, .seed = 0, .device = DEV_CPU, .quiet = true};
    cr_assert_eq(cls_train(&m, &ps, xt, lt, NT, &o), 0, "%s", ldm_last_error());
    float *fx = malloc(NH * 256 * sizeof(float)), *feat = malloc(NH * 16 * sizeof(float));
    for (int i = 0; i < NH * 256; i++) fx[i] = xh[i] / 127.5f - 1;
    cr_assert_eq(cls_predict(&m, DEV_CPU, fx, NH, pred, feat), 0, "%s", ldm_last_error());
    cls_tally(lh, pred, NH, 2, correct, total);
    cr_expect_eq(total[0] + total[1], NH);
    double acc = (double)(correct[0] + correct[1]) / NH;
    cr_expect_geq(acc, 0.95, "held-out accuracy %.3f (class 0 %d/%d, class 1 %d/%d)", acc, correct[0], total[0],
                  correct[1], total[1]);
    /* the features are SiLU outputs: >= -0.2785 (SiLU's minimum) and not all equal */
    float lo = feat[0], hi = feat[0];
    for (int i = 0; i < NH * 16; i++) lo = fminf(lo, feat[i]), hi = fmaxf(hi, feat[i]);
    cr_expect(lo >= -0.2785f && hi > lo, "features in [%g, %g]", lo, hi);
    free(fx), free(feat);
    ps_free(&ps);
}

Test(classifier, config_checks_and_text_form) {
    ClassifierConfig cc;
    classifier_default(&cc, 64, 3);
    cr_expect_eq(classifier_validate(&cc), 0);
    char buf[128];
    cr_assert_eq(classifier_format(&cc, buf, sizeof buf), 0);
    ClassifierConfig back = {.image_size = 64, .num_classes = 3};
    cr_assert_eq(classifier_parse(buf, &back), 0, "%s", ldm_last_error());
    cr_expect(!memcmp(&back, &cc, sizeof cc), "%s", buf);
    cr_expect_neq(classifier_parse("ch=16,levels=9,feat=1,groups=8", &back), 0);
    cr_expect_neq(classifier_parse("ch=16", &back), 0);
    cc.num_classes = 1;
    cr_expect_neq(classifier_validate(&cc), 0, "one class is nothing to tell apart");
    classifier_default(&cc, 28, 10);
    cr_expect_eq(classifier_validate(&cc), 0, "28 = 4 * 7: two levels");
}
