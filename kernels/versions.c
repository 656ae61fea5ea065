/* kernels/versions.c — see versions.h. A small fixed table; not thread-safe to set
 * while kernels run (it is set before work starts). */
#include "kernels/versions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static struct {
    char op[32];
    int version;
} g_table[KERNEL_MAX_OPS];
static int g_n, g_env_read;
static bool g_prefer_tc;

void kernel_prefer_tensor_cores(bool on) { g_prefer_tc = on; }
bool kernel_prefers_tensor_cores(void) { return g_prefer_tc; }

static int set_raw(const char *op, size_t len, int v) {
    if (len == 0 || len >= sizeof g_table[0].op) return ldm_error("kernels", "bad kernel name '%.*s'", (int)len, op);
    for (int i = 0; i < g_n; i++)
        if (strlen(g_table[i].op) == len && memcmp(g_table[i].op, op, len) == 0) {
            g_table[i].version = v;
            return 0;
        }
    if (g_n == KERNEL_MAX_OPS) return ldm_error("kernels", "too many kernel version settings");
    memcpy(g_table[g_n].op, op, len);
    g_table[g_n].op[len] = '\0';
    g_table[g_n++].version = v;
    return 0;
}

static void read_env(void) {
    g_env_read = 1;
    const char *e = getenv("LDM_KERNELS");
    while (e && *e) {
        const char *eq = strchr(e, '=');
        const char *end = strchr(e, ',');
        if (!end) end = e + strlen(e);
        if (eq && eq < end) {
            int v = atoi(eq + 1);
            if (v < 0 || set_raw(e, (size_t)(eq - e), v))
                fprintf(stderr, "ldm: ignoring LDM_KERNELS entry '%.*s'\n", (int)(end - e), e);
        } else if (end > e) {
            fprintf(stderr, "ldm: ignoring LDM_KERNELS entry '%.*s' (expected op=version)\n", (int)(end - e), e);
        }
        e = *end ? end + 1 : end;
    }
}

int kernel_version(const char *op) {
    if (!g_env_read) read_env();
    for (int i = 0; i < g_n; i++)
        if (strcmp(g_table[i].op, op) == 0) return g_table[i].version;
    return 0;
}

int kernel_version_set(const char *op, int v) {
    if (!g_env_read) read_env();
    if (v < 0) return ldm_error("kernels", "version %d of %s: versions are >= 0", v, op ? op : "(null)");
    if (!op) return ldm_error("kernels", "kernel name is NULL");
    return set_raw(op, strlen(op), v);
}
