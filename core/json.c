/* core/json.c — see json.h. A recursive-descent parser whose recursion is bounded by
 * JSON_MAX_DEPTH; every read is checked against the end of the input. */
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    const unsigned char *p, *start, *end;
    long values; /* values created so far, for JSON_MAX_VALUES */
} Parser;

static int fail(const Parser *ps, const char *what) {
    return ldm_error("json", "byte %zu: %s", (size_t)(ps->p - ps->start), what);
}

static void skip_ws(Parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

/* Appends a value slot to an array or object, growing geometrically. */
static JsonValue *push(Parser *ps, JsonValue *v, int *cap) {
    if (v->n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        JsonValue *ni = realloc(v->items, (size_t)nc * sizeof *ni);
        if (!ni) return fail(ps, "out of memory"), NULL;
        v->items = ni;
        if (v->type == JSON_OBJECT) {
            char **nk = realloc(v->keys, (size_t)nc * sizeof *nk);
            if (!nk) return fail(ps, "out of memory"), NULL;
            v->keys = nk;
        }
        *cap = nc;
    }
    JsonValue *slot = &v->items[v->n];
    memset(slot, 0, sizeof *slot);
    return slot;
}

// ---------------------------------------------------------------------------
// strings

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned c = p[k], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000)
        return o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 0x3F)),
               o[2] = (char)(0x80 | (cp & 0x3F)), 3;
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0: no overlong
 * forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if ((p[k] & 0xC0) != 0x80) return 0;
    return n;
}

/* At the opening quote. The decoded string is never longer than the raw one, so the
 * raw extent (up to the closing quote) bounds the allocation. */
static char *parse_string(Parser *ps) {
    const unsigned char *q = ps->p + 1;
    while (q < ps->end && *q != '"') q += (*q == '\\' && q + 1 < ps->end) ? 2 : 1;
    if (q >= ps->end) return fail(ps, "unterminated string"), NULL;
    char *out = malloc((size_t)(q - ps->p));
    if (!out) return fail(ps, "out of memory"), NULL;
    size_t o = 0;
    ps->p++;
    while (*ps->p != '"') {
        unsigned c = *ps->p;
        if (c < 0x20) {
            fail(ps, "raw control character in string");
            goto bad;
        }
        if (c >= 0x80) {
            size_t n = utf8_len(ps->p, ps->end);
            if (!n) {
                fail(ps, "invalid UTF-8 in string");
                goto bad;
            }
            memcpy(out + o, ps->p, n);
            o += n, ps->p += n;
            continue;
        }
        if (c != '\\') {
            out[o++] = (char)c;
            ps->p++;
            continue;
        }
        unsigned e = ps->p[1]; /* inside the raw extent: the scan above skipped it */
        const char *simple = strchr("\"\\/bfnrt", (int)e);
        if (e && simple) {
            out[o++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            ps->p += 2;
            continue;
        }
        if (e != 'u') {
            fail(ps, "invalid escape in string");
            goto bad;
        }
        unsigned cp, lo;
        if (q - ps->p < 6 || hex4(ps->p + 2, &cp)) {
            fail(ps, "bad \\u escape");
            goto bad;
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail(ps, "lone low surrogate in \\u escape");
            goto bad;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (q - ps->p < 12 || ps->p[6] != '\\' || ps->p[7] != 'u' || hex4(ps->p + 8, &lo) || lo < 0xDC00 ||
                lo > 0xDFFF) {
                fail(ps, "high surrogate not followed by a low surrogate");
                goto bad;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            ps->p += 6;
        }
        if (cp == 0) {
            fail(ps, "\\u0000 is not allowed in strings");
            goto bad;
        }
        o += put_utf8(out + o, cp);
        ps->p += 6;
    }
    ps->p++; /* closing quote */
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

// ---------------------------------------------------------------------------
// values

static int parse_int(Parser *ps, JsonValue *v) {
    int neg = *ps->p == '-';
    if (neg) ps->p++;
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') return fail(ps, "expected a digit");
    if (*ps->p == '0' && ps->p + 1 < ps->end && ps->p[1] >= '0' && ps->p[1] <= '9')
        return fail(ps, "leading zero in integer");
    uint64_t m = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
        unsigned d = *ps->p - '0';
        if (m > (lim - d) / 10) return fail(ps, "integer out of the int64 range");
        m = m * 10 + d;
        ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E'))
        return fail(ps, "only integers are supported (no fraction or exponent)");
    v->type = JSON_INT;
    v->i = neg ? (int64_t)(0 - m) : (int64_t)m;
    return 0;
}

static int cmp_key(const void *a, const void *b, void *keys) {
    char **k = keys;
    return strcmp(k[*(const int *)a], k[*(const int *)b]);
}

/* Sorting an index of the keys finds duplicates in n log n (objects may be large). */
static int check_duplicates(Parser *ps, const JsonValue *v) {
    if (v->n < 2) return 0;
    int *idx = malloc((size_t)v->n * sizeof *idx);
    if (!idx) return fail(ps, "out of memory");
    for (int k = 0; k < v->n; k++) idx[k] = k;
    qsort_r(idx, (size_t)v->n, sizeof *idx, cmp_key, v->keys);
    int rc = 0;
    for (int k = 1; k < v->n && !rc; k++)
        if (!strcmp(v->keys[idx[k - 1]], v->keys[idx[k]]))
            rc = ldm_error("json", "duplicate key \"%.200s\" in an object", v->keys[idx[k]]);
    free(idx);
    return rc;
}

static int parse_value(Parser *ps, JsonValue *v, int depth);

/* At '[' or '{'. */
static int parse_container(Parser *ps, JsonValue *v, int depth) {
    int is_obj = *ps->p == '{';
    char close = is_obj ? '}' : ']';
    v->type = is_obj ? JSON_OBJECT : JSON_ARRAY;
    if (depth >= JSON_MAX_DEPTH) return fail(ps, "nesting deeper than JSON_MAX_DEPTH");
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    int cap = 0;
    for (;;) {
        skip_ws(ps);
        char *key = NULL;
        if (is_obj) {
            if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a string key");
            if (!(key = parse_string(ps))) return -1;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                return fail(ps, "expected ':' after a key");
            }
            ps->p++;
        }
        JsonValue *slot = push(ps, v, &cap);
        if (!slot) {
            free(key);
            return -1;
        }
        if (is_obj) v->keys[v->n] = key;
        v->n++; /* counted before parsing so json_free releases a half-built member */
        if (parse_value(ps, slot, depth + 1)) return -1;
        skip_ws(ps);
        if (ps->p >= ps->end) return fail(ps, is_obj ? "unterminated object" : "unterminated array");
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            return is_obj ? check_duplicates(ps, v) : 0;
        }
        return fail(ps, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(Parser *ps, JsonValue *v, int depth) {
    v->type = JSON_INT; /* an empty slot frees as nothing */
    if (++ps->values > JSON_MAX_VALUES) return fail(ps, "more than JSON_MAX_VALUES values");
    skip_ws(ps);
    if (ps->p >= ps->end) return fail(ps, "unexpected end of input");
    unsigned c = *ps->p;
    if (c == '{' || c == '[') return parse_container(ps, v, depth);
    if (c == '"') {
        v->type = JSON_STRING;
        return (v->s = parse_string(ps)) ? 0 : -1;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_int(ps, v);
    if (c == 't' || c == 'f' || c == 'n') return fail(ps, "true, false and null are not supported");
    return fail(ps, "unexpected character");
}

// ---------------------------------------------------------------------------
// public

static void free_members(JsonValue *v) {
    if (v->type == JSON_STRING) free(v->s);
    if (v->type != JSON_ARRAY && v->type != JSON_OBJECT) return;
    /* recursion depth is bounded by JSON_MAX_DEPTH, as in the parser */
    for (int k = 0; k < v->n; k++) {
        free_members(&v->items[k]);
        if (v->keys) free(v->keys[k]);
    }
    free(v->items);
    free(v->keys);
}

void json_free(JsonValue *v) {
    if (!v) return;
    free_members(v);
    free(v);
}

JsonValue *json_parse(const char *text, size_t len) {
    if (!text) return ldm_error("json", "no input (NULL)"), NULL;
    Parser ps = {(const unsigned char *)text, (const unsigned char *)text, (const unsigned char *)text + len, 0};
    JsonValue *v = calloc(1, sizeof *v);
    if (!v) return ldm_error("json", "out of memory"), NULL;
    if (parse_value(&ps, v, 0)) {
        json_free(v);
        return NULL;
    }
    skip_ws(&ps);
    if (ps.p != ps.end) {
        fail(&ps, "unexpected data after the top-level value");
        json_free(v);
        return NULL;
    }
    return v;
}

const JsonValue *json_get(const JsonValue *obj, const char *key) {
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (int k = 0; k < obj->n; k++)
        if (!strcmp(obj->keys[k], key)) return &obj->items[k];
    return NULL;
}

int json_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t n = *p < 0x80 ? 1 : utf8_len(p, end);
        if (!n) return 0;
        p += n;
    }
    return 1;
}

const char *json_type_name(JsonType t) {
    switch (t) {
    case JSON_INT: return "integer";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    default: return "object";
    }
}
