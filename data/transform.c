/* data/transform.c — square, resize, flip and scale (see transform.h).
 *
 * Resizing is separable: a table of taps per output column, a horizontal pass into a
 * float buffer of (rows, out) and a vertical pass to (out, out).
 *   area (out <= in):  output o covers source [o s, (o+1) s), s = in/out; each source
 *                      pixel weighs its overlap / s (s = 1 is the identity, exactly)
 *   bilinear (out > in): source position (o + 0.5) / out * in - 0.5, clamped to the edge
 * Cost per image: ~(in * out * taps) + (out * out * taps) multiply-adds; for 256 -> 64
 * that is ~0.1 M, small beside the JPEG decode.
 */
#include "data/transform.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

const char *fit_name(DataFit f) {
    return f == FIT_PAD ? "pad" : f == FIT_CROP ? "crop" : f == FIT_STRETCH ? "stretch" : "?";
}

int fit_parse(const char *s, DataFit *out) {
    if (!strcmp(s, "pad")) *out = FIT_PAD;
    else if (!strcmp(s, "crop")) *out = FIT_CROP;
    else if (!strcmp(s, "stretch")) *out = FIT_STRETCH;
    else return ldm_error("transform", "fit '%s' (want pad, crop or stretch)", s);
    return 0;
}

static int square_side(const DataTransform *tf, int w, int h) {
    return tf->fit == FIT_PAD ? (w > h ? w : h) : tf->fit == FIT_CROP ? (w < h ? w : h) : 0;
}

int transform_out_side(const DataTransform *tf, int w, int h) {
    if (!tf) return ldm_error("transform", "no transform");
    if (w < 1 || h < 1) return ldm_error("transform", "image size %dx%d", w, h);
    if (tf->fit != FIT_PAD && tf->fit != FIT_CROP && tf->fit != FIT_STRETCH)
        return ldm_error("transform", "bad fit %d", (int)tf->fit);
    if (tf->size < 0 || tf->size > TRANSFORM_MAX_SIDE)
        return ldm_error("transform", "size %d (want 0..%d)", tf->size, TRANSFORM_MAX_SIDE);
    if (tf->size > 0) return tf->size;
    if (tf->fit == FIT_STRETCH && w != h)
        return ldm_error("transform", "fit=stretch needs a size for a %dx%d image", w, h);
    int s = tf->fit == FIT_STRETCH ? w : square_side(tf, w, h);
    if (s > TRANSFORM_MAX_SIDE) return ldm_error("transform", "side %d above %d; give a size", s, TRANSFORM_MAX_SIDE);
    return s;
}

// ---------------------------------------------------------------------------
// separable resampling

typedef struct {
    int in, out;  /* the sizes the table is for (0 = none yet) */
    int taps;     /* max taps per output */
    int *first;   /* (out) first source index */
    int *count;   /* (out) taps used */
    float *w;     /* (out, taps) weights */
} Taps;

struct TransformWork {
    uint8_t *square;   /* the squared image */
    size_t square_cap;
    uint8_t *plane_in, *plane_out; /* one channel of a colour image, before and after */
    size_t in_cap, out_cap;
    float *tmp;        /* (rows, out) after the horizontal pass */
    size_t tmp_cap;
    Taps tx, ty;
};

static void taps_free(Taps *t) {
    free(t->first);
    free(t->count);
    free(t->w);
    *t = (Taps){0};
}

static int taps_build(Taps *t, int in, int out) {
    if (t->in == in && t->out == out) return 0;
    taps_free(t);
    double s = (double)in / out;
    t->taps = in >= out ? (int)ceil(s) + 2 : 2;
    t->first = malloc(sizeof(int) * (size_t)out);
    t->count = malloc(sizeof(int) * (size_t)out);
    t->w = calloc((size_t)out * (size_t)t->taps, sizeof(float));
    if (!t->first || !t->count || !t->w) {
        taps_free(t);
        return -1;
    }
    for (int o = 0; o < out; o++) {
        float *w = t->w + (size_t)o * t->taps;
        if (in >= out) {
            double lo = o * s, hi = (o + 1) * s;
            int i0 = (int)floor(lo), i1 = (int)ceil(hi);
            if (i1 > in) i1 = in;
            t->first[o] = i0;
            t->count[o] = i1 - i0;
            for (int i = i0; i < i1; i++) {
                double a = lo > i ? lo : i, b = hi < i + 1 ? hi : i + 1;
                w[i - i0] = (float)((b - a) / s);
            }
        } else {
            double p = (o + 0.5) * s - 0.5;
            if (p < 0) p = 0;
            int i0 = (int)floor(p);
            double f = p - i0;
            if (i0 >= in - 1) i0 = in - 1, f = 0;
            t->first[o] = i0;
            t->count[o] = f > 0 ? 2 : 1;
            w[0] = (float)(1 - f);
            w[1] = (float)f;
        }
    }
    t->in = in, t->out = out;
    return 0;
}

TransformWork *transform_work_new(void) {
    TransformWork *ws = calloc(1, sizeof *ws);
    if (!ws) ldm_error("transform", "out of memory");
    return ws;
}

void transform_work_free(TransformWork *ws) {
    if (!ws) return;
    free(ws->square);
    free(ws->plane_in);
    free(ws->plane_out);
    free(ws->tmp);
    taps_free(&ws->tx);
    taps_free(&ws->ty);
    free(ws);
}

static int reserve(void **p, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    void *q = realloc(*p, need);
    if (!q) return -1;
    *p = q, *cap = need;
    return 0;
}

static inline uint8_t to_u8(float v) {
    return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5f);
}

/* (h, w) -> (oh, ow) */
static int resize(TransformWork *ws, const uint8_t *src, int w, int h, uint8_t *dst, int ow, int oh) {
    if (reserve((void **)&ws->tmp, &ws->tmp_cap, sizeof(float) * (size_t)h * ow) || taps_build(&ws->tx, w, ow) ||
        taps_build(&ws->ty, h, oh))
        return ldm_error("transform", "out of memory resizing %dx%d to %dx%d", w, h, ow, oh);
    const Taps *tx = &ws->tx, *ty = &ws->ty;
    float *tmp = ws->tmp;
    for (int y = 0; y < h; y++) {
        const uint8_t *row = src + (size_t)y * w;
        float *trow = tmp + (size_t)y * ow;
        for (int o = 0; o < ow; o++) {
            const float *wt = tx->w + (size_t)o * tx->taps;
            const uint8_t *p = row + tx->first[o];
            float acc = 0;
            for (int k = 0; k < tx->count[o]; k++) acc += wt[k] * p[k];
            trow[o] = acc;
        }
    }
    for (int o = 0; o < oh; o++) {
        const float *wt = ty->w + (size_t)o * ty->taps;
        uint8_t *drow = dst + (size_t)o * ow;
        for (int x = 0; x < ow; x++) {
            float acc = 0;
            for (int k = 0; k < ty->count[o]; k++) acc += wt[k] * tmp[(size_t)(ty->first[o] + k) * ow + x];
            drow[x] = to_u8(acc);
        }
    }
    return 0;
}

// ---------------------------------------------------------------------------
// pipeline

static int geometry(const DataTransform *tf, const uint8_t *src, int w, int h, uint8_t *dst, TransformWork *ws) {
    int side = transform_out_side(tf, w, h);
    if (side < 0) return -1;
    if (tf->fit == FIT_STRETCH) return resize(ws, src, w, h, dst, side, side);
    int sq = square_side(tf, w, h);
    uint8_t *buf = sq == side ? dst : NULL;
    if (!buf) {
        if (reserve((void **)&ws->square, &ws->square_cap, (size_t)sq * sq)) return ldm_error("transform", "out of memory");
        buf = ws->square;
    }
    if (tf->fit == FIT_PAD) {
        memset(buf, tf->background, (size_t)sq * sq);
        int ox = (sq - w) / 2, oy = (sq - h) / 2;
        for (int y = 0; y < h; y++) memcpy(buf + (size_t)(y + oy) * sq + ox, src + (size_t)y * w, (size_t)w);
    } else {
        int ox = (w - sq) / 2, oy = (h - sq) / 2;
        for (int y = 0; y < sq; y++) memcpy(buf + (size_t)y * sq, src + (size_t)(y + oy) * w + ox, (size_t)sq);
    }
    return buf == dst ? 0 : resize(ws, buf, sq, sq, dst, side, side);
}

int transform_channels(const DataTransform *tf) { return tf->channels ? tf->channels : 1; }

/* A colour image one channel plane at a time: gather, geometry, scatter. */
static int geometry_planes(const DataTransform *tf, const uint8_t *src, int w, int h, uint8_t *dst, TransformWork *ws) {
    const int C = transform_channels(tf);
    if (C == 1) return geometry(tf, src, w, h, dst, ws);
    if (C != 3) return ldm_error("transform", "channels %d (want 1 or 3)", C);
    int side = transform_out_side(tf, w, h);
    if (side < 0) return -1;
    size_t n_in = (size_t)w * h, n_out = (size_t)side * side;
    if (reserve((void **)&ws->plane_in, &ws->in_cap, n_in) || reserve((void **)&ws->plane_out, &ws->out_cap, n_out))
        return ldm_error("transform", "out of memory");
    for (int c = 0; c < C; c++) {
        for (size_t i = 0; i < n_in; i++) ws->plane_in[i] = src[i * C + c];
        if (geometry(tf, ws->plane_in, w, h, ws->plane_out, ws)) return -1;
        for (size_t i = 0; i < n_out; i++) dst[i * C + c] = ws->plane_out[i];
    }
    return 0;
}

int transform_geometry(const DataTransform *tf, const uint8_t *src, int w, int h, uint8_t *dst, TransformWork *ws) {
    if (!src || !dst) return ldm_error("transform", "NULL image");
    if (!tf) return ldm_error("transform", "no transform");
    if (ws) return geometry_planes(tf, src, w, h, dst, ws);
    TransformWork *tmp = transform_work_new();
    if (!tmp) return -1;
    int rc = geometry_planes(tf, src, w, h, dst, tmp);
    transform_work_free(tmp);
    return rc;
}

void transform_to_float(const uint8_t *src, int side, bool flip, float *dst) {
    for (int y = 0; y < side; y++) {
        const uint8_t *s = src + (size_t)y * side;
        float *d = dst + (size_t)y * side;
        if (flip)
            for (int x = 0; x < side; x++) d[x] = s[side - 1 - x] * (1.0f / 127.5f) - 1.0f;
        else
            for (int x = 0; x < side; x++) d[x] = s[x] * (1.0f / 127.5f) - 1.0f;
    }
}

void transform_to_float_ch(const uint8_t *src, int side, int channels, bool flip, float *dst) {
    if (channels <= 1) {
        transform_to_float(src, side, flip, dst);
        return;
    }
    const int C = channels;
    for (int y = 0; y < side; y++) {
        const uint8_t *s = src + (size_t)y * side * C;
        float *d = dst + (size_t)y * side * C;
        for (int x = 0; x < side; x++) {
            const uint8_t *p = s + (size_t)(flip ? side - 1 - x : x) * C;
            for (int c = 0; c < C; c++) d[(size_t)x * C + c] = p[c] * (1.0f / 127.5f) - 1.0f;
        }
    }
}

// ---------------------------------------------------------------------------
// text form

int transform_format(const DataTransform *tf, char *buf, size_t n) {
    int k = snprintf(buf, n, "size=%d,fit=%s,background=%d,hflip=%d", tf->size, fit_name(tf->fit),
                     tf->background, tf->hflip ? 1 : 0);
    if (k >= 0 && (size_t)k < n && transform_channels(tf) != 1)
        k += snprintf(buf + k, n - (size_t)k, ",channels=%d", transform_channels(tf));
    return k < 0 || (size_t)k >= n ? ldm_error("transform", "format buffer too small") : 0;
}

static int parse_int(const char *v, int lo, int hi, const char *field, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return ldm_error("transform", "%s=%s (want %d..%d)", field, v, lo, hi);
    *out = (int)x;
    return 0;
}

int transform_parse(const char *s, DataTransform *tf) {
    if (!s || !tf) return ldm_error("transform", "NULL argument");
    DataTransform t = *tf;
    char *copy = strdup(s), *save = NULL;
    if (!copy) return ldm_error("transform", "out of memory");
    int rc = 0, v;
    for (char *f = strtok_r(copy, ",", &save); f && !rc; f = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(f, '=');
        if (!eq) {
            rc = ldm_error("transform", "'%s' is not field=value", f);
            break;
        }
        *eq = '\0';
        const char *val = eq + 1;
        if (!strcmp(f, "size")) {
            if (!(rc = parse_int(val, 0, TRANSFORM_MAX_SIDE, f, &v))) t.size = v;
        } else if (!strcmp(f, "fit")) {
            rc = fit_parse(val, &t.fit);
        } else if (!strcmp(f, "background")) {
            if (!(rc = parse_int(val, 0, 255, f, &v))) t.background = (uint8_t)v;
        } else if (!strcmp(f, "hflip")) {
            if (!(rc = parse_int(val, 0, 1, f, &v))) t.hflip = v;
        } else if (!strcmp(f, "channels")) {
            if (!(rc = parse_int(val, 1, 3, f, &v)) && v == 2) rc = ldm_error("transform", "channels=2 (want 1 or 3)");
            if (!rc) t.channels = v;
        } else {
            rc = ldm_error("transform", "unknown field '%s' (size, fit, background, hflip, channels)", f);
        }
    }
    free(copy);
    if (!rc) *tf = t;
    return rc;
}
