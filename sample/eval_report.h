/* sample/eval_report.h — ldm-eval's machine-readable output: a small streaming JSON writer
 * (objects, arrays, numbers, strings; NaN and infinities become null, as JSON has none).
 * Written to "<path>.tmp", then renamed, so a crash leaves no half-written report. */
#ifndef LDM_SAMPLE_EVAL_REPORT_H
#define LDM_SAMPLE_EVAL_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#define JW_MAX_DEPTH 16

typedef struct {
    FILE *f;
    char path[1024], tmp[1100];
    int depth;
    bool first[JW_MAX_DEPTH]; /* nothing written yet at this level */
    char closer[JW_MAX_DEPTH]; /* '}' or ']' */
} JsonWriter;

/* path NULL: a writer that writes nothing (every call is a no-op). */
int jw_open(JsonWriter *w, const char *path);
/* Closes the top-level object and renames the file into place; -1 naming the file. */
int jw_close(JsonWriter *w);

/* key NULL inside arrays. */
void jw_obj(JsonWriter *w, const char *key);
void jw_arr(JsonWriter *w, const char *key);
void jw_end(JsonWriter *w); /* closes the innermost object or array */
void jw_num(JsonWriter *w, const char *key, double v);
void jw_int(JsonWriter *w, const char *key, long long v);
void jw_str(JsonWriter *w, const char *key, const char *s);
void jw_bool(JsonWriter *w, const char *key, bool v);

#endif
