/* core/json.h — a small strict JSON reader, enough for safetensors headers.
 *
 * Accepts RFC 8259 JSON restricted to objects, arrays, strings and integers; true,
 * false, null and numbers with a fraction or exponent are rejected (a safetensors
 * header never has them). The input is untrusted and need not be NUL-terminated:
 *   - nesting deeper than JSON_MAX_DEPTH and more than JSON_MAX_VALUES values in one
 *     document are errors, so neither the stack nor the heap can be blown up;
 *   - strings must be valid UTF-8 (escapes decoded, surrogate pairs joined; \u0000 is
 *     refused so every string is a C string); raw control characters are refused;
 *   - integers must fit in int64 and have no leading zeros;
 *   - duplicate keys in one object are an error;
 *   - only whitespace may follow the top-level value.
 * Errors: NULL with ldm_error("json", "byte N: what").
 */
#ifndef LDM_CORE_JSON_H
#define LDM_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32
#define JSON_MAX_VALUES (1 << 20) /* 24 MB of JsonValue at most */

typedef enum { JSON_INT, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct JsonValue {
    JsonType type;
    int n; /* ARRAY: items; OBJECT: members */
    union {
        int64_t i; /* INT */
        char *s;   /* STRING: NUL-terminated UTF-8 */
        struct {
            struct JsonValue *items; /* ARRAY, OBJECT: n values, in document order */
            char **keys;             /* OBJECT: n keys, parallel to items (NULL for ARRAY) */
        };
    };
} JsonValue;

/* Parses text[0 .. len). The result is freed with json_free. */
JsonValue *json_parse(const char *text, size_t len);
void json_free(JsonValue *v);

/* The member `key` of an object, or NULL (also when obj is not an object). */
const JsonValue *json_get(const JsonValue *obj, const char *key);
/* 1 when s[0 .. len) is valid UTF-8 (no overlong forms, surrogates or code points
 * above U+10FFFF), else 0. */
int json_utf8_valid(const char *s, size_t len);
/* "integer", "string", "array", "object". */
const char *json_type_name(JsonType t);

#endif
