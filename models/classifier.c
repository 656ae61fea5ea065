/* models/classifier.c — see classifier.h. */
#include "models/classifier.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

static int width(const ClassifierConfig *cc, int level) {
    int m = 1 << (level + 1);
    return cc->ch * (m < 4 ? m : 4);
}

void classifier_default(ClassifierConfig *cc, int image_size, int num_classes) {
    memset(cc, 0, sizeof *cc);
    cc->image_size = image_size, cc->num_classes = num_classes;
    cc->ch = 16, cc->feat = 128, cc->groups = 8;
    cc->levels = image_size >= 64 ? 3 : 2; /* the last grid 8x8 (demo) or 8x8 (fashion's 32) */
    while (cc->levels > 1 && image_size % (1 << cc->levels)) cc->levels--;
}

int classifier_validate(const ClassifierConfig *cc) {
    const char *op = "classifier";
    if (cc->num_classes < 2 || cc->num_classes > CFG_MAX_CLASSES)
        return ldm_error(op, "num_classes = %d: a classifier needs 2..%d classes", cc->num_classes, CFG_MAX_CLASSES);
    if (cc->levels < 1 || cc->levels > CLS_MAX_LEVELS) return ldm_error(op, "levels = %d: want 1..%d", cc->levels, CLS_MAX_LEVELS);
    if (cc->image_size < 4 || cc->image_size % (1 << cc->levels))
        return ldm_error(op, "image_size = %d is not a multiple of 2^levels = %d", cc->image_size, 1 << cc->levels);
    if (cc->ch < 1 || cc->feat < 1 || cc->groups < 1 || cc->ch % cc->groups)
        return ldm_error(op, "ch = %d, feat = %d, groups = %d: want positive sizes, ch divisible by groups", cc->ch,
                         cc->feat, cc->groups);
    return 0;
}

int classifier_format(const ClassifierConfig *cc, char *buf, size_t n) {
    int k = snprintf(buf, n, "ch=%d,levels=%d,feat=%d,groups=%d", cc->ch, cc->levels, cc->feat, cc->groups);
    return k < 0 || (size_t)k >= n ? ldm_error("classifier", "format: buffer too small") : 0;
}

int classifier_parse(const char *s, ClassifierConfig *cc) {
    ClassifierConfig t = *cc;
    int used = 0;
    if (sscanf(s, "ch=%d,levels=%d,feat=%d,groups=%d%n", &t.ch, &t.levels, &t.feat, &t.groups, &used) != 4 || s[used])
        return ldm_error("classifier", "architecture '%s' is not of the form ch=C,levels=L,feat=F,groups=G", s);
    if (classifier_validate(&t)) return -1;
    *cc = t;
    return 0;
}

int classifier_init(Classifier *m, ParamSet *ps, const ClassifierConfig *cc) {
    memset(m, 0, sizeof *m);
    if (classifier_validate(cc)) return -1;
    m->cc = *cc;
    int rc = conv_layer_init(&m->conv_in, ps, "cls.conv_in", 1, cc->ch, 3, 1, false) ||
             norm_layer_init(&m->norm_in, ps, "cls.norm_in", cc->ch, cc->groups);
    int cin = cc->ch;
    for (int i = 0; i < cc->levels && !rc; i++) {
        char p[64];
        const int w = width(cc, i);
        snprintf(p, sizeof p, "cls.down.%d.conv", i);
        rc = conv_layer_init(&m->down[i], ps, p, cin, w, 3, 2, false);
        snprintf(p, sizeof p, "cls.down.%d.norm", i);
        rc = rc || norm_layer_init(&m->down_norm[i], ps, p, w, cc->groups);
        cin = w;
    }
    const int side = cc->image_size >> cc->levels;
    rc = rc || linear_layer_init(&m->fc, ps, "cls.fc", side * side * cin, cc->feat, true, false) ||
         linear_layer_init(&m->head, ps, "cls.head", cc->feat, cc->num_classes, true, false);
    return rc ? -1 : 0;
}

Tensor *classifier_forward(const Classifier *m, Tape *t, Tensor *x, Tensor **features) {
    if (!x) return NULL;
    const ClassifierConfig *cc = &m->cc;
    if (x->ndim != 4 || x->shape[1] != cc->image_size || x->shape[2] != cc->image_size || x->shape[3] != 1) {
        ldm_error("classifier", "input %s, expected (N, %d, %d, 1)", tshape(x), cc->image_size, cc->image_size);
        return NULL;
    }
    const int N = x->shape[0];
    Tensor *h = norm_layer_forward(&m->norm_in, t, conv_layer_forward(&m->conv_in, t, x), true); /* (N, S, S, ch) */
    for (int i = 0; i < cc->levels; i++) /* (N, S / 2^(i+1), ., w_i) */
        h = norm_layer_forward(&m->down_norm[i], t, conv_layer_forward(&m->down[i], t, h), true);
    if (!h) return NULL;
    Tensor *flat = ag_reshape(t, h, 2, (int[]){N, (int)(h->numel / (size_t)N)}); /* (N, side^2 w) */
    Tensor *f = ag_silu(t, linear_layer_forward(&m->fc, t, flat));                 /* (N, feat) */
    if (features) *features = f;
    return linear_layer_forward(&m->head, t, f); /* (N, K) */
}
