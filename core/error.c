/* core/error.c — thread-local error message (see error.h). */
#include "core/error.h"

#include <stdio.h>
#include <stdlib.h>

static _Thread_local char g_msg[1024];

int ldm_verror(const char *op, const char *fmt, va_list ap) {
    int n = snprintf(g_msg, sizeof g_msg, "%s: ", op ? op : "ldm");
    if (n < 0 || (size_t)n >= sizeof g_msg) return -1;
    vsnprintf(g_msg + n, sizeof g_msg - (size_t)n, fmt, ap);
    return -1;
}

int ldm_error(const char *op, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ldm_verror(op, fmt, ap);
    va_end(ap);
    return -1;
}

const char *ldm_last_error(void) { return g_msg; }

void ldm_clear_error(void) { g_msg[0] = '\0'; }

void ldm_die(void) {
    fprintf(stderr, "ldm: %s\n", g_msg[0] ? g_msg : "unknown error");
    exit(1);
}
