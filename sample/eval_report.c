/* sample/eval_report.c — see eval_report.h. */
#include "sample/eval_report.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/error.h"

int jw_open(JsonWriter *w, const char *path) {
    memset(w, 0, sizeof *w);
    if (!path) return 0;
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp", path);
    if (!(w->f = fopen(w->tmp, "w"))) return ldm_error("json", "--json %s: cannot write: %s", path, strerror(errno));
    fputc('{', w->f);
    w->depth = 1;
    w->first[1] = true;
    return 0;
}

int jw_close(JsonWriter *w) {
    if (!w->f) return 0;
    fputs("\n}\n", w->f);
    int bad = ferror(w->f);
    bad |= fclose(w->f);
    w->f = NULL;
    if (bad || rename(w->tmp, w->path)) {
        remove(w->tmp);
        return ldm_error("json", "--json %s: write failed: %s", w->path, strerror(errno));
    }
    return 0;
}

static void str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void item(JsonWriter *w, const char *key) {
    if (!w->first[w->depth]) fputc(',', w->f);
    w->first[w->depth] = false;
    fprintf(w->f, "\n%*s", 2 * w->depth, "");
    if (key) str(w->f, key), fputs(": ", w->f);
}

static void open_(JsonWriter *w, const char *key, char c) {
    if (!w->f || w->depth + 1 >= JW_MAX_DEPTH) return;
    item(w, key);
    fputc(c, w->f);
    w->first[++w->depth] = true;
    w->closer[w->depth] = c == '[' ? ']' : '}';
}

void jw_obj(JsonWriter *w, const char *key) { open_(w, key, '{'); }
void jw_arr(JsonWriter *w, const char *key) { open_(w, key, '['); }

void jw_end(JsonWriter *w) {
    if (!w->f || w->depth <= 1) return;
    const char c = w->closer[w->depth--];
    fprintf(w->f, "\n%*s%c", 2 * w->depth, "", c);
}

void jw_num(JsonWriter *w, const char *key, double v) {
    if (!w->f) return;
    item(w, key);
    if (isfinite(v)) fprintf(w->f, "%.6g", v);
    else fputs("null", w->f);
}

void jw_int(JsonWriter *w, const char *key, long long v) {
    if (!w->f) return;
    item(w, key);
    fprintf(w->f, "%lld", v);
}

void jw_str(JsonWriter *w, const char *key, const char *s) {
    if (!w->f) return;
    item(w, key);
    str(w->f, s ? s : "");
}

void jw_bool(JsonWriter *w, const char *key, bool v) {
    if (!w->f) return;
    item(w, key);
    fputs(v ? "true" : "false", w->f);
}
