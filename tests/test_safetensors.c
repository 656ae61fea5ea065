/* tests/test_safetensors.c — core/json and core/safetensors: the JSON subset, round trips,
 * byte-exact agreement with the reference implementation's own test vectors, every
 * malformed-header case, atomic saves that fail at each stage, and random mutations of a
 * valid file (each must load or fail cleanly; run under `make asan` for memory errors). */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/bf16.h"
#include "core/error.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "tests/util/testutil.h"

// ---------------------------------------------------------------------------
// helpers

static char g_dir[64];

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    chmod(p, 0700);
    return remove(p);
}

static void make_dir(void) {
    strcpy(g_dir, "/tmp/ldm_st_XXXXXX");
    cr_assert(mkdtemp(g_dir), "mkdtemp: %s", strerror(errno));
}

static void remove_dir(void) { nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static const char *in_dir(const char *name) {
    static char bufs[4][256];
    static int slot;
    char *b = bufs[slot++ & 3];
    snprintf(b, 256, "%s/%s", g_dir, name);
    return b;
}

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len + 1);
    cr_assert(fread(b, 1, *len, f) == *len);
    fclose(f);
    return b;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* A safetensors image: the header text as given (no padding added) and `data_len`
 * bytes 0, 1, 2, ... */
static uint8_t *make_file(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = malloc(*len);
    for (int k = 0; k < 8; k++) b[k] = (uint8_t)((uint64_t)h >> (8 * k));
    memcpy(b + 8, header, h);
    for (size_t k = 0; k < data_len; k++) b[8 + h + k] = (uint8_t)k;
    return b;
}

static int msg_has(const char *needle) { return strstr(ldm_last_error(), needle) != NULL; }

// ---------------------------------------------------------------------------
// json

Test(json, parses_the_subset) {
    const char *t = " {\"a\" : [1, -2, 0, 9223372036854775807, -9223372036854775808], \"b\":{\"c\":\"x\"}, \"d\":[]} ";
    JsonValue *v = json_parse(t, strlen(t));
    cr_assert(v, "%s", ldm_last_error());
    cr_expect_eq(v->type, JSON_OBJECT);
    cr_expect_eq(v->n, 3);
    const JsonValue *a = json_get(v, "a");
    cr_assert(a && a->type == JSON_ARRAY && a->n == 5);
    cr_expect_eq(a->items[1].i, -2);
    cr_expect_eq(a->items[3].i, INT64_MAX);
    cr_expect_eq(a->items[4].i, INT64_MIN);
    cr_expect_str_eq(json_get(json_get(v, "b"), "c")->s, "x");
    cr_expect_eq(json_get(v, "d")->n, 0);
    cr_expect_null(json_get(v, "zz"));
    json_free(v);
}

Test(json, decodes_escapes_and_utf8) {
    const char *t = "[\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00 \xc3\xa9\"]";
    JsonValue *v = json_parse(t, strlen(t));
    cr_assert(v, "%s", ldm_last_error());
    cr_expect_str_eq(v->items[0].s, "q\" b\\ s/ \b\f\n\r\t \xc3\xa9 \xf0\x9f\x98\x80 \xc3\xa9");
    json_free(v);
}

Test(json, rejects_what_it_must) {
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "end of input"},
        {"{", "expected a string key"},
        {"{\"a\" 1}", "expected ':'"},
        {"{\"a\":1,}", "expected a string key"},
        {"[1 2]", "expected ',' or ']'"},
        {"[1,]", "unexpected character"},
        {"{\"a\":1} x", "after the top-level value"},
        {"[01]", "leading zero"},
        {"[1.5]", "only integers"},
        {"[1e3]", "only integers"},
        {"[-]", "expected a digit"},
        {"[9223372036854775808]", "int64"},
        {"[-9223372036854775809]", "int64"},
        {"[true]", "not supported"},
        {"[null]", "not supported"},
        {"[\"abc]", "unterminated string"},
        {"[\"a\\x\"]", "invalid escape"},
        {"[\"\\u12g4\"]", "bad \\u escape"},
        {"[\"\\u12\"]", "bad \\u escape"},
        {"[\"\\u0000\"]", "\\u0000"},
        {"[\"\\ud800\"]", "low surrogate"},
        {"[\"\\ud800\\u0041\"]", "low surrogate"},
        {"[\"\\udc00\"]", "lone low surrogate"},
        {"[\"a\nb\"]", "control character"},
        {"[\"\xc3\"]", "UTF-8"},
        {"[\"\xc0\xaf\"]", "UTF-8"},         /* overlong '/' */
        {"[\"\xed\xa0\x80\"]", "UTF-8"},     /* encoded surrogate */
        {"[\"\xf4\x90\x80\x80\"]", "UTF-8"}, /* above U+10FFFF */
        {"{\"k\":1,\"j\":2,\"k\":3}", "duplicate key \"k\""},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ldm_clear_error();
        JsonValue *v = json_parse(bad[k].text, strlen(bad[k].text));
        cr_expect_null(v, "accepted: %s", bad[k].text);
        json_free(v);
        cr_expect(msg_has("json") && msg_has(bad[k].why), "case %zu (%s): message '%s' lacks '%s'", k,
                  bad[k].text, ldm_last_error(), bad[k].why);
    }
    /* a NUL byte inside the given length is data, not the end of the text */
    cr_expect_null(json_parse("[1]\0", 4));
}

Test(json, depth_and_size_limits) {
    char deep[2 * JSON_MAX_DEPTH + 8];
    int d = 0;
    for (; d < JSON_MAX_DEPTH + 1; d++) deep[d] = '[';
    for (int k = 0; k < JSON_MAX_DEPTH + 1; k++) deep[d + k] = ']';
    JsonValue *v = json_parse(deep, 2 * (size_t)d);
    cr_expect_null(v);
    cr_expect(msg_has("nesting"), "%s", ldm_last_error());
    v = json_parse(deep + 1, 2 * (size_t)d - 2); /* exactly JSON_MAX_DEPTH levels is fine */
    cr_expect(v, "%s", ldm_last_error());
    json_free(v);
    /* 100000 levels: refused at the limit, not by running out of stack */
    size_t n = 100000;
    char *huge = malloc(n);
    memset(huge, '[', n);
    cr_expect_null(json_parse(huge, n));
    free(huge);
    /* more than JSON_MAX_VALUES values */
    size_t cnt = (size_t)JSON_MAX_VALUES + 1, len = 2 * cnt + 1;
    char *many = malloc(len);
    many[0] = '[';
    for (size_t k = 0; k < cnt; k++) many[1 + 2 * k] = '0', many[2 + 2 * k] = ',';
    many[len - 1] = ']';
    cr_expect_null(json_parse(many, len));
    cr_expect(msg_has("JSON_MAX_VALUES"), "%s", ldm_last_error());
    free(many);
}

// ---------------------------------------------------------------------------
// reference bytes

/* The reference implementation's own test vector (huggingface/safetensors,
 * test_serialization_forced_alignement): "attn0" F32 (1, 1, 2, 3) = 0..5; the header is
 * padded with 7 spaces so the data starts 8-byte aligned. */
static const char REF_ATTN0[] = "H\0\0\0\0\0\0\0"
                                "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       "
                                "\0\0\0\0" "\0\0\x80\x3f" "\0\0\0\x40" "\0\0\x40\x40" "\0\0\x80\x40" "\0\0\xa0\x40";
/* Same source, test_empty: no tensors, metadata {"framework": "pt"}; and no tensors at all. */
static const char REF_META_ONLY[] = "(\0\0\0\0\0\0\0{\"__metadata__\":{\"framework\":\"pt\"}}     ";
static const char REF_EMPTY[] = "\x08\0\0\0\0\0\0\0{}      ";

Test(safetensors, reference_file_parses) {
    SafeTensors st;
    cr_assert_eq(st_load_bytes(REF_ATTN0, sizeof REF_ATTN0 - 1, "attn0.safetensors", &st), 0, "%s", ldm_last_error());
    cr_expect_eq(st.n, 1);
    cr_expect_eq(st.n_meta, 0);
    const StEntry *e = st_find(&st, "attn0");
    cr_assert(e);
    cr_expect_str_eq(e->dtype, "F32");
    cr_expect_eq(e->ndim, 4);
    cr_expect(e->shape[0] == 1 && e->shape[1] == 1 && e->shape[2] == 2 && e->shape[3] == 3);
    cr_expect_eq(st_numel(e), 6);
    Tensor *t = tensor_new4(NULL, DEV_CPU, 1, 1, 2, 3);
    for (int k = 0; k < 6; k++) t->data[k] = NAN;
    cr_assert_eq(st_read_f32(&st, "attn0", t), 0, "%s", ldm_last_error());
    for (int k = 0; k < 6; k++) cr_expect_eq(t->data[k], (float)k);
    tensor_free(t);
    st_free(&st);

    cr_assert_eq(st_load_bytes(REF_META_ONLY, sizeof REF_META_ONLY - 1, "m", &st), 0, "%s", ldm_last_error());
    cr_expect_eq(st.n, 0);
    cr_expect_str_eq(st_meta(&st, "framework"), "pt");
    cr_expect_null(st_meta(&st, "other"));
    st_free(&st);
    cr_assert_eq(st_load_bytes(REF_EMPTY, sizeof REF_EMPTY - 1, "e", &st), 0, "%s", ldm_last_error());
    cr_expect_eq(st.n, 0);
    st_free(&st);
}

/* A hand-made file with every accepted dtype but BF16/I32, a scalar, a zero-size
 * tensor, an unaligned F64 and no padding beyond what 8-byte alignment needs. */
static const char REF_MIXED_HDR[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[32,38]},"
    "\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[38,46]},"
    "\"m\":{\"dtype\":\"U8\",\"shape\":[2,0],\"data_offsets\":[46,46]}}  ";

Test(safetensors, hand_made_mixed_file_parses) {
    static const uint8_t data[46] = {
        1, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* I64 1, -2 */
        0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40,    /* F32 1 2 3 4 */
        0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38,                                     /* F16 1 -2 0.5 */
        0, 0, 0, 0, 0, 0, 0xf8, 0xbf,                                           /* F64 -1.5 */
    };
    size_t hl = sizeof REF_MIXED_HDR - 1, len = 8 + hl + sizeof data;
    cr_assert_eq(hl, 312); /* 310 + 2 spaces */
    uint8_t *b = malloc(len);
    memcpy(b, "\x38\x01\0\0\0\0\0\0", 8);
    memcpy(b + 8, REF_MIXED_HDR, hl);
    memcpy(b + 8 + hl, data, sizeof data);
    SafeTensors st;
    cr_assert_eq(st_load_bytes(b, len, "mixed.safetensors", &st), 0, "%s", ldm_last_error());
    cr_expect_eq(st.n, 5);
    cr_expect_str_eq(st_meta(&st, "format"), "pt");
    /* entries come in buffer order */
    const char *order[5] = {"ids", "w", "h", "s", "m"};
    for (int k = 0; k < 5; k++) cr_expect_str_eq(st.entries[k].name, order[k]);
    const StEntry *s = st_find(&st, "s"), *m = st_find(&st, "m"), *ids = st_find(&st, "ids");
    cr_assert(s && m && ids);
    cr_expect_eq(s->ndim, 0);
    cr_expect_eq(st_numel(s), 1);
    double dv;
    memcpy(&dv, st.data + s->begin, 8);
    cr_expect_eq(dv, -1.5);
    int64_t iv[2];
    memcpy(iv, st.data + ids->begin, 16);
    cr_expect(iv[0] == 1 && iv[1] == -2);
    cr_expect_eq(st_numel(m), 0);
    cr_expect_eq(m->dtype_size, 1);
    Tensor *w = tensor_new2(NULL, DEV_CPU, 2, 2);
    cr_assert_eq(st_read_f32(&st, "w", w), 0, "%s", ldm_last_error());
    for (int k = 0; k < 4; k++) cr_expect_eq(w->data[k], (float)(k + 1));
    Tensor *h = tensor_new1(NULL, DEV_CPU, 3);
    cr_expect_eq(st_read_f32(&st, "h", h), -1);
    cr_expect(msg_has("mixed.safetensors") && msg_has("'h'") && msg_has("F16"), "%s", ldm_last_error());
    tensor_free(w);
    tensor_free(h);
    st_free(&st);
    free(b);
}

/* Our writer produces the reference implementation's bytes exactly. */
Test(safetensors, writer_matches_reference_bytes) {
    make_dir();
    StWriter *w = st_writer_new();
    Tensor *t = tensor_new4(NULL, DEV_CPU, 1, 1, 2, 3);
    for (int k = 0; k < 6; k++) t->data[k] = (float)k;
    cr_assert_eq(st_writer_add(w, "attn0", t), 0, "%s", ldm_last_error());
    cr_assert_eq(st_writer_save(w, in_dir("a.safetensors")), 0, "%s", ldm_last_error());
    size_t len;
    uint8_t *got = read_all(in_dir("a.safetensors"), &len);
    cr_assert(got);
    cr_expect_eq(len, sizeof REF_ATTN0 - 1);
    cr_expect_eq(memcmp(got, REF_ATTN0, len < sizeof REF_ATTN0 - 1 ? len : sizeof REF_ATTN0 - 1), 0);
    free(got);
    st_writer_free(w);

    w = st_writer_new();
    cr_assert_eq(st_writer_meta(w, "framework", "pt"), 0);
    cr_assert_eq(st_writer_save(w, in_dir("m.safetensors")), 0, "%s", ldm_last_error());
    got = read_all(in_dir("m.safetensors"), &len);
    cr_expect(len == sizeof REF_META_ONLY - 1 && !memcmp(got, REF_META_ONLY, len));
    free(got);
    st_writer_free(w);

    w = st_writer_new();
    cr_assert_eq(st_writer_save(w, in_dir("e.safetensors")), 0, "%s", ldm_last_error());
    got = read_all(in_dir("e.safetensors"), &len);
    cr_expect(len == sizeof REF_EMPTY - 1 && !memcmp(got, REF_EMPTY, len));
    free(got);
    st_writer_free(w);
    tensor_free(t);
    remove_dir();
}

// ---------------------------------------------------------------------------
// round trip

Test(safetensors, round_trip_is_bit_exact) {
    make_dir();
    int shapes[4][4] = {{7}, {3, 5}, {2, 3, 5}, {1, 4, 3, 9}};
    const char *names[4] = {"unet.down.0.bias", "unet.mid.attn.q.weight", "vae.enc.\"quoted\"\\name",
                            "opt.m.caf\xc3\xa9\ttab"};
    Tensor *src[4];
    for (int k = 0; k < 4; k++) src[k] = tu_data(k + 1, shapes[k], (uint64_t)k + 10, -3, 3);
    /* values whose bits must survive: -0, a subnormal, infinities, a NaN payload */
    const uint32_t special[5] = {0x80000000u, 0x00000001u, 0x7f800000u, 0xff800000u, 0x7fc01234u};
    memcpy(src[3]->data, special, sizeof special);
    StWriter *w = st_writer_new();
    for (int k = 0; k < 4; k++) cr_assert_eq(st_writer_add(w, names[k], src[k]), 0, "%s", ldm_last_error());
    /* the writer snapshots at add: changing the source afterwards changes nothing */
    Tensor *late = tu_data(1, (int[]){5}, 77, 0, 1);
    float late_vals[5];
    memcpy(late_vals, late->data, sizeof late_vals);
    cr_assert_eq(st_writer_add(w, "late", late), 0);
    late->data[0] = 1234.0f;
    cr_assert_eq(st_writer_meta(w, "config", "{\"preset\": \"demo\", \"ch\": 64}"), 0);
    cr_assert_eq(st_writer_meta(w, "step", "1200"), 0);
    cr_assert_eq(st_writer_meta(w, "note", "line1\nline2 \x01 caf\xc3\xa9"), 0);
    const char *path = in_dir("ckpt.safetensors");
    cr_assert_eq(st_writer_save(w, path), 0, "%s", ldm_last_error());
    cr_expect(!exists(in_dir("ckpt.safetensors.tmp")), "temporary file left behind");

    SafeTensors st;
    cr_assert_eq(st_load(path, &st), 0, "%s", ldm_last_error());
    cr_expect_eq(st.n, 5);
    cr_expect_eq((uintptr_t)(st.data - st.file_) % 8, 0, "data not 8-byte aligned in the file");
    cr_expect_str_eq(st_meta(&st, "config"), "{\"preset\": \"demo\", \"ch\": 64}");
    cr_expect_str_eq(st_meta(&st, "step"), "1200");
    cr_expect_str_eq(st_meta(&st, "note"), "line1\nline2 \x01 caf\xc3\xa9");
    for (int k = 0; k < 4; k++) {
        const StEntry *e = st_find(&st, names[k]);
        cr_assert(e, "missing %s", names[k]);
        cr_expect_eq(e->ndim, k + 1);
        Tensor *dst = tensor_new(NULL, DEV_CPU, k + 1, shapes[k]);
        for (size_t i = 0; i < dst->numel; i++) dst->data[i] = NAN;
        cr_assert_eq(st_read_f32(&st, names[k], dst), 0, "%s", ldm_last_error());
        cr_expect_eq(memcmp(dst->data, src[k]->data, tensor_bytes(dst)), 0, "tensor %s differs", names[k]);
        tensor_free(dst);
    }
    Tensor *l = tensor_new1(NULL, DEV_CPU, 5);
    cr_assert_eq(st_read_f32(&st, "late", l), 0);
    cr_expect_eq(memcmp(l->data, late_vals, sizeof late_vals), 0, "writer did not snapshot at add");
    tensor_free(l);
    st_free(&st);
    for (int k = 0; k < 4; k++) tensor_free(src[k]);
    tensor_free(late);
    st_writer_free(w);
    remove_dir();
}

Test(safetensors, read_f32_names_the_mismatch) {
    SafeTensors st;
    cr_assert_eq(st_load_bytes(REF_ATTN0, sizeof REF_ATTN0 - 1, "attn0.safetensors", &st), 0);
    Tensor *a = tensor_new4(NULL, DEV_CPU, 1, 1, 3, 3);
    cr_expect_eq(st_read_f32(&st, "attn0", a), -1);
    cr_expect(msg_has("attn0.safetensors") && msg_has("'attn0'") && msg_has("(1, 1, 2, 3)") &&
                  msg_has("(1, 1, 3, 3)") && msg_has("dim 2"),
              "%s", ldm_last_error());
    Tensor *b = tensor_new2(NULL, DEV_CPU, 2, 3);
    cr_expect_eq(st_read_f32(&st, "attn0", b), -1);
    cr_expect(msg_has("rank 4 vs 2"), "%s", ldm_last_error());
    cr_expect_eq(st_read_f32(&st, "attn1", b), -1);
    cr_expect(msg_has("no tensor named 'attn1'"), "%s", ldm_last_error());
    cr_expect_eq(st_read_f32(&st, "attn0", NULL), -1);
    cr_expect(msg_has("attn0"), "%s", ldm_last_error());
#ifndef LDM_CUDA
    Tensor on_gpu = *a; /* a CUDA destination in a CPU-only build */
    on_gpu.device = DEV_CUDA;
    on_gpu.shape[2] = 2;
    cr_expect_eq(st_read_f32(&st, "attn0", &on_gpu), -1);
#endif
    tensor_free(a);
    tensor_free(b);
    st_free(&st);
}

Test(safetensors, writer_rejects_bad_arguments) {
    StWriter *w = st_writer_new();
    Tensor *t = tensor_new1(NULL, DEV_CPU, 3);
    cr_expect_eq(st_writer_add(w, "a", t), 0);
    cr_expect_eq(st_writer_add(w, "a", t), -1);
    cr_expect(msg_has("duplicate tensor name 'a'"), "%s", ldm_last_error());
    cr_expect_eq(st_writer_add(w, "__metadata__", t), -1);
    cr_expect_eq(st_writer_add(w, "", t), -1);
    cr_expect_eq(st_writer_add(w, "bad\xff", t), -1);
    cr_expect(msg_has("UTF-8"), "%s", ldm_last_error());
    cr_expect_eq(st_writer_add(w, "b", NULL), -1);
    cr_expect(msg_has("'b'"), "%s", ldm_last_error());
    cr_expect_eq(st_writer_add(w, NULL, t), -1);
    cr_expect_eq(st_writer_meta(w, "k", "v"), 0);
    cr_expect_eq(st_writer_meta(w, "k", "w"), -1);
    cr_expect(msg_has("duplicate metadata key 'k'"), "%s", ldm_last_error());
    cr_expect_eq(st_writer_meta(w, "k2", NULL), -1);
    cr_expect_eq(st_writer_save(w, NULL), -1);
    cr_expect_eq(st_writer_add(NULL, "x", t), -1);
    tensor_free(t);
    st_writer_free(w);
}

// ---------------------------------------------------------------------------
// malformed files

typedef struct {
    const char *header;
    size_t data_len;
    const char *want1, *want2; /* substrings of the message */
} BadCase;

#define T1(name, off) "\"" name "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" off "]}"

static const BadCase BAD[] = {
    {"[1,2]", 0, "does not start with '{'", NULL},
    {" {}", 0, "does not start with '{'", NULL},
    {"{\"a\":", 0, "not valid JSON", NULL},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", 4, "not valid JSON", "after the top-level"},
    {"{\"a\":[1]}", 0, "tensor 'a'", "expected an object"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "tensor 'a'", "missing field 'data_offsets'"},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "missing field 'dtype'"},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "missing field 'shape'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "tensor 'a'", "unknown field 'x'"},
    {"{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "dtype 'F17'"},
    {"{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "dtype 'f32'"},
    {"{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "'dtype' must be a string"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "not an integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":7,\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "'shape' must be an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "not valid JSON", "only integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "tensor 'a'",
     "overflows"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,4]}}", 4, "tensor 'a'",
     "overflows"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "tensor 'a'", "9 dims"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "tensor 'a'", "needs 8 bytes"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 4, "tensor 'a'", "run past"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "tensor 'a'", "begin 4 > end 0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "tensor 'a'", "two integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, "tensor 'a'", "two integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "tensor 'a'", "negative"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", 4, "not valid JSON",
     "int64"},
    {"{" T1("a", "0,4") "," T1("b", "4,8") "," T1("c", "6,10") "}", 10, "'b' and 'c' overlap", NULL},
    {"{" T1("a", "0,4") "," T1("b", "8,12") "}", 12, "hole", "'b'"},
    {"{" T1("b", "4,8") "}", 8, "hole", "[0, 4)"},
    {"{" T1("a", "0,4") "}", 8, "after the last tensor", "[4, 8)"},
    {"{}", 3, "after the last tensor", NULL},
    {"{" T1("a", "0,4") "," T1("a", "4,8") "}", 8, "duplicate key \"a\"", NULL},
    {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__", "'k'"},
    {"{\"__metadata__\":{\"k\":[\"v\"]}}", 0, "__metadata__", "'k'"},
    {"{\"__metadata__\":\"x\"}", 0, "__metadata__", "must be an object"},
    {"{" T1("", "0,4") "}", 4, "empty name", NULL},
    {"{\"a\\u0000b\":{}}", 0, "not valid JSON", "\\u0000"},
    {"{\"a\xff\":{}}", 0, "not valid JSON", "UTF-8"},
    {"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0, "not valid JSON",
     "nesting"},
    {"{\"a\":true}", 0, "not valid JSON", "not supported"},
};

Test(safetensors, rejects_every_malformed_header) {
    for (size_t k = 0; k < sizeof BAD / sizeof BAD[0]; k++) {
        size_t len;
        uint8_t *b = make_file(BAD[k].header, BAD[k].data_len, &len);
        SafeTensors st;
        ldm_clear_error();
        int rc = st_load_bytes(b, len, "bad.safetensors", &st);
        cr_expect_eq(rc, -1, "case %zu accepted: %s", k, BAD[k].header);
        cr_expect(st.n == 0 && st.entries == NULL && st.file_ == NULL, "case %zu: struct not emptied", k);
        cr_expect(msg_has("safetensors: bad.safetensors: ") && msg_has(BAD[k].want1) &&
                      (!BAD[k].want2 || msg_has(BAD[k].want2)),
                  "case %zu: message '%s' lacks '%s' / '%s'", k, ldm_last_error(), BAD[k].want1,
                  BAD[k].want2 ? BAD[k].want2 : "");
        st_free(&st);
        free(b);
    }
}

Test(safetensors, rejects_bad_lengths) {
    SafeTensors st;
    cr_expect_eq(st_load_bytes("\x08\0\0\0\0", 5, "short.st", &st), -1);
    cr_expect(msg_has("short.st") && msg_has("shorter than the 8-byte"), "%s", ldm_last_error());
    cr_expect_eq(st_load_bytes(NULL, 0, "empty.st", &st), -1);
    cr_expect(msg_has("empty.st") && msg_has("shorter"), "%s", ldm_last_error());
    cr_expect_eq(st_load_bytes("\x64\0\0\0\0\0\0\0{}", 10, "past.st", &st), -1);
    cr_expect(msg_has("past.st") && msg_has("runs past the end"), "%s", ldm_last_error());
    cr_expect_eq(st_load_bytes("\0\0\0\0\0\x01\0\0{}", 10, "absurd.st", &st), -1);
    cr_expect(msg_has("absurd.st") && msg_has("absurd"), "%s", ldm_last_error());
    cr_expect_eq(st_load_bytes("\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, "max.st", &st), -1);
    cr_expect(msg_has("absurd"), "%s", ldm_last_error());
    /* 100000001: just over the limit */
    cr_expect_eq(st_load_bytes("\x01\xe1\xf5\x05\0\0\0\0{}", 10, "limit.st", &st), -1);
    cr_expect(msg_has("absurd"), "%s", ldm_last_error());
    cr_expect_eq(st_load_bytes("\0\0\0\0\0\0\0\0", 8, "zero.st", &st), -1);
    cr_expect(msg_has("does not start with '{'"), "%s", ldm_last_error());
    /* padding must be spaces: NUL bytes after the JSON are not whitespace */
    static const char nul_pad[] = "\x08\0\0\0\0\0\0\0{}\0\0\0\0\0\0";
    cr_expect_eq(st_load_bytes(nul_pad, sizeof nul_pad - 1, "nul.st", &st), -1);
    cr_expect(msg_has("not valid JSON") && msg_has("after the top-level"), "%s", ldm_last_error());
    cr_expect_eq(st_load("/nonexistent/dir/x.safetensors", &st), -1);
    cr_expect(msg_has("/nonexistent/dir/x.safetensors") && msg_has("cannot open"), "%s", ldm_last_error());
    cr_expect_eq(st_load("/tmp", &st), -1);
    cr_expect(msg_has("not a regular file"), "%s", ldm_last_error());
}

Test(safetensors, accepts_legal_edge_cases) {
    /* zero-size tensors anywhere (also several at one offset), a scalar, padding spaces,
     * tensors listed out of buffer order */
    const char *h = "{" T1("b", "4,8") ",\"z1\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
                    "\"z2\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[4,4]},"
                    "\"s\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}      ";
    size_t len;
    uint8_t *b = make_file(h, 8, &len);
    SafeTensors st;
    cr_assert_eq(st_load_bytes(b, len, "edge", &st), 0, "%s", ldm_last_error());
    cr_expect_eq(st.n, 4);
    cr_expect_str_eq(st.entries[0].name, "s");
    cr_expect_eq(st_find(&st, "z2")->dtype_size, 2);
    Tensor *one = tensor_new1(NULL, DEV_CPU, 1);
    cr_expect_eq(st_read_f32(&st, "b", one), 0, "%s", ldm_last_error());
    cr_expect_eq(st_read_f32(&st, "s", one), -1); /* I32 */
    st_free(&st);
    st_free(&st); /* twice is harmless */
    tensor_free(one);
    free(b);
}

// ---------------------------------------------------------------------------
// atomic save

static StWriter *writer_of(size_t n, float base) {
    StWriter *w = st_writer_new();
    Tensor *t = tensor_new1(NULL, DEV_CPU, (int)n);
    for (size_t k = 0; k < n; k++) t->data[k] = base + (float)k;
    cr_assert_eq(st_writer_add(w, "t", t), 0);
    tensor_free(t);
    return w;
}

static void expect_file_is_old(const char *path, const uint8_t *old, size_t old_len) {
    size_t len;
    uint8_t *now = read_all(path, &len);
    cr_assert(now, "%s vanished", path);
    cr_expect(len == old_len && !memcmp(now, old, len), "%s was modified", path);
    free(now);
}

Test(safetensors, save_into_missing_directory_fails_cleanly) {
    make_dir();
    StWriter *w = writer_of(4, 0);
    const char *p = in_dir("nope/x.safetensors");
    cr_expect_eq(st_writer_save(w, p), -1);
    cr_expect(msg_has(p) && msg_has("cannot create"), "%s", ldm_last_error());
    cr_expect(!exists(in_dir("nope")));
    st_writer_free(w);
    remove_dir();
}

typedef struct {
    StWriter *w;
    const char *path;
} SaveArgs;
static int save_fails(void *p) {
    SaveArgs *a = p;
    return st_writer_save(a->w, a->path) == -1;
}

/* Each failure stage — creating the temporary, writing it, renaming it — leaves an
 * existing checkpoint byte-for-byte as it was and removes what the save created. */
Test(safetensors, failed_save_leaves_old_file_intact) {
    make_dir();
    const char *p = in_dir("ckpt.safetensors"), *tmp = in_dir("ckpt.safetensors.tmp");
    StWriter *old_w = writer_of(16, 100), *new_w = writer_of(20000, -5);
    cr_assert_eq(st_writer_save(old_w, p), 0, "%s", ldm_last_error());
    size_t old_len;
    uint8_t *old = read_all(p, &old_len);

    /* 1. the temporary cannot be created (a directory is in the way) */
    cr_assert_eq(mkdir(tmp, 0700), 0);
    cr_expect_eq(st_writer_save(new_w, p), -1);
    cr_expect(msg_has(p) && msg_has("cannot create"), "%s", ldm_last_error());
    expect_file_is_old(p, old, old_len);
    cr_expect(exists(tmp), "the save removed a directory it did not create");
    rmdir(tmp);

    /* 2. writing fails half-way (file size limit, as on a full disk) */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim, small;
    getrlimit(RLIMIT_FSIZE, &lim);
    small = (struct rlimit){4096, lim.rlim_max}; /* soft limit only, so it can be raised again */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
    cr_expect_eq(st_writer_save(new_w, p), -1);
    cr_expect(msg_has(p) && msg_has("writing"), "%s", ldm_last_error());
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    expect_file_is_old(p, old, old_len);
    cr_expect(!exists(tmp), "temporary left after a failed write");

    /* 3. the rename fails (the target is a directory): the temporary goes away */
    const char *dirp = in_dir("isdir.safetensors");
    cr_assert_eq(mkdir(dirp, 0700), 0);
    cr_expect_eq(st_writer_save(new_w, dirp), -1);
    cr_expect(msg_has("cannot rename"), "%s", ldm_last_error());
    cr_expect(!exists(in_dir("isdir.safetensors.tmp")), "temporary left after a failed rename");

    /* 4. an unwritable directory (mode 0555; as root, which ignores modes, the save runs
     *    in a child that drops to uid nobody) */
    chmod(g_dir, 0555);
    int rc = tu_run_unprivileged(save_fails, &(SaveArgs){new_w, p});
    chmod(g_dir, 0700);
    cr_expect_eq(rc, 1, "saving into a read-only folder: %d (1: failed as it must)", rc);
    expect_file_is_old(p, old, old_len);
    cr_expect(!exists(tmp), "temporary left in a read-only folder");

    /* and a save that succeeds replaces the file */
    cr_assert_eq(st_writer_save(new_w, p), 0, "%s", ldm_last_error());
    SafeTensors st;
    cr_assert_eq(st_load(p, &st), 0, "%s", ldm_last_error());
    cr_expect_eq(st_numel(st_find(&st, "t")), 20000);
    cr_expect(!exists(tmp));
    st_free(&st);
    free(old);
    st_writer_free(old_w);
    st_writer_free(new_w);
    remove_dir();
}

// ---------------------------------------------------------------------------
// mutations

static uint64_t mix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Loaded entries must describe memory inside the buffer and be readable. */
static void check_loaded(const SafeTensors *st) {
    for (int k = 0; k < st->n; k++) {
        const StEntry *e = &st->entries[k];
        cr_assert(e->begin <= e->end && e->end <= st->data_len, "entry %d out of bounds", k);
        cr_assert(e->ndim >= 0 && e->ndim <= ST_MAX_DIMS);
        cr_assert_eq(st_find(st, e->name), e);
        if (strcmp(e->dtype, "F32") || e->ndim < 1 || e->ndim > TENSOR_MAX_DIMS) continue;
        int shape[TENSOR_MAX_DIMS], ok = 1;
        for (int d = 0; d < e->ndim; d++) {
            ok &= e->shape[d] > 0 && e->shape[d] < 100000;
            shape[d] = (int)e->shape[d];
        }
        if (!ok) continue;
        Tensor *t = tensor_new(NULL, DEV_CPU, e->ndim, shape);
        if (!t) continue;
        cr_assert_eq(st_read_f32(st, e->name, t), 0, "%s", ldm_last_error());
        cr_assert_eq(memcmp(t->data, st->data + e->begin, tensor_bytes(t)), 0);
        tensor_free(t);
    }
}

Test(safetensors, random_mutations_load_or_fail_cleanly) {
    /* a valid file with metadata, four tensors and padding */
    make_dir();
    StWriter *w = st_writer_new();
    for (int k = 0; k < 4; k++) {
        int shape[4] = {2, 3, 1, 2};
        Tensor *t = tu_data(k + 1, shape, (uint64_t)k, -1, 1);
        char name[32];
        snprintf(name, sizeof name, "layer.%d.w", k);
        cr_assert_eq(st_writer_add(w, name, t), 0);
        tensor_free(t);
    }
    st_writer_meta(w, "step", "42");
    st_writer_meta(w, "esc", "a\"b\\c\u00e9");
    cr_assert_eq(st_writer_save(w, in_dir("v.safetensors")), 0, "%s", ldm_last_error());
    st_writer_free(w);
    size_t len;
    uint8_t *valid = read_all(in_dir("v.safetensors"), &len);
    remove_dir();
    uint64_t hlen;
    memcpy(&hlen, valid, 8);

    static const uint8_t interesting[] = {'{', '}', '[', ']', '"', ',', ':', '\\', '-', '0', '1', '9',
                                          ' ', 0, 0x80, 0xc3, 0xff, 'u', 'e', '.'};
    uint64_t s = 12345;
    int loaded = 0, failed = 0;
    uint8_t *m = malloc(len + 16);
    for (int it = 0; it < 4000; it++) {
        memcpy(m, valid, len);
        size_t mlen = len;
        int kind = (int)(mix(&s) % 6);
        if (kind == 0) { /* truncate */
            mlen = mix(&s) % len;
        } else if (kind == 1) { /* shift the tail: delete one byte */
            size_t at = 8 + mix(&s) % (len - 8);
            memmove(m + at, m + at + 1, len - at - 1);
            mlen = len - 1;
        } else if (kind == 2) { /* one byte of the length prefix */
            m[mix(&s) % 8] = (uint8_t)mix(&s);
        } else { /* 1..4 bytes in the header (mostly) or anywhere */
            int nflip = 1 + (int)(mix(&s) % 4);
            for (int f = 0; f < nflip; f++) {
                size_t at = kind == 5 ? mix(&s) % len : 8 + mix(&s) % hlen;
                m[at] = kind == 3 ? (uint8_t)mix(&s) : interesting[mix(&s) % sizeof interesting];
            }
        }
        SafeTensors st;
        ldm_clear_error();
        if (st_load_bytes(m, mlen, "mut", &st) == 0) {
            loaded++;
            check_loaded(&st);
        } else {
            failed++;
            cr_assert(msg_has("safetensors: mut: "), "iteration %d: message '%s'", it, ldm_last_error());
            cr_assert_eq(st.file_, NULL);
        }
        st_free(&st);
    }
    /* both outcomes occur, so the loop exercised the accept path as well as rejections */
    cr_expect_gt(loaded, 50, "%d loaded", loaded);
    cr_expect_gt(failed, 1000, "%d failed", failed);
    free(m);
    free(valid);
}

/* BF16: written as "BF16" with 2 bytes an element (little-endian bits), read back bit-exact
 * into a bf16 tensor, widened exactly into an fp32 one; an F32 entry read into a bf16 tensor
 * rounds to nearest even; st_read_f32 still refuses BF16. */
Test(safetensors, bf16_round_trip) {
    make_dir();
    Tensor *src = tensor_new_dtype(NULL, DEV_CPU, DT_BF16, 2, (int[]){2, 3});
    const uint16_t bits[6] = {0x3f80u, 0xc000u, 0x0001u, 0x7f80u, 0x7fc1u, 0x8000u};
    memcpy(src->data, bits, sizeof bits);
    Tensor *f32 = tu_data(1, (int[]){4}, 5, -3, 3);
    f32->data[0] = ldm_bits_f32(0x3f808000u); /* a tie: 0x3f80 */
    f32->data[1] = ldm_bits_f32(0x3f818000u); /* a tie: 0x3f82 */
    StWriter *w = st_writer_new();
    cr_assert_eq(st_writer_add(w, "h", src), 0, "%s", ldm_last_error());
    cr_assert_eq(st_writer_add(w, "f", f32), 0, "%s", ldm_last_error());
    const char *path = in_dir("bf16.safetensors");
    cr_assert_eq(st_writer_save(w, path), 0, "%s", ldm_last_error());
    size_t len;
    uint8_t *raw = read_all(path, &len);
    cr_assert(raw);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | raw[i];
    cr_expect(memmem(raw + 8, hl, "\"h\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]}", 53) != NULL,
              "header: %.*s", (int)hl, (const char *)raw + 8);
    cr_expect_eq(len, 8 + hl + 12 + 16);
    cr_expect_eq(raw[8 + hl], 0x80, "bf16 bits not little-endian");
    cr_expect_eq(raw[8 + hl + 1], 0x3f);
    free(raw);

    SafeTensors st;
    cr_assert_eq(st_load(path, &st), 0, "%s", ldm_last_error());
    cr_expect_str_eq(st_find(&st, "h")->dtype, "BF16");
    cr_expect_eq(st_find(&st, "h")->dtype_size, 2);
    Tensor *h = tensor_new_dtype(NULL, DEV_CPU, DT_BF16, 2, (int[]){2, 3});
    cr_assert_eq(st_read(&st, "h", h), 0, "%s", ldm_last_error());
    cr_expect_eq(memcmp(h->data, bits, sizeof bits), 0, "bf16 bits differ after the round trip");
    Tensor *hf = tensor_new2(NULL, DEV_CPU, 2, 3);
    cr_assert_eq(st_read(&st, "h", hf), 0, "%s", ldm_last_error());
    for (int i = 0; i < 6; i++)
        if (i != 4) cr_expect_eq(hf->data[i], ldm_bf16_to_f32(bits[i]), "widened element %d", i);
    cr_expect(isnan(hf->data[4]));
    Tensor *fh = tensor_new_dtype(NULL, DEV_CPU, DT_BF16, 1, (int[]){4});
    cr_assert_eq(st_read(&st, "f", fh), 0, "%s", ldm_last_error());
    const uint16_t *g = (const uint16_t *)fh->data;
    cr_expect_eq(g[0], 0x3f80u);
    cr_expect_eq(g[1], 0x3f82u);
    for (int i = 2; i < 4; i++) cr_expect_eq(g[i], ldm_f32_to_bf16(f32->data[i]));
    cr_expect_neq(st_read_f32(&st, "h", hf), 0, "st_read_f32 accepted a BF16 entry");
    cr_expect(msg_has("BF16"), "%s", ldm_last_error());
    Tensor *wrong = tensor_new_dtype(NULL, DEV_CPU, DT_BF16, 2, (int[]){3, 2});
    cr_expect_neq(st_read(&st, "h", wrong), 0, "shape mismatch accepted");
    st_free(&st);
    tensor_free(src), tensor_free(f32), tensor_free(h), tensor_free(hf), tensor_free(fh), tensor_free(wrong);
    st_writer_free(w);
    remove_dir();
}
