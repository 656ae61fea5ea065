/* tests/test_mutants_list.c — every entry of tests/mutants/mutants.txt still names code
 * that exists: its original text occurs exactly once in its file. `make mutants` runs the
 * list (slowly, not in `make test`); an entry whose text the code has lost is no check at
 * all, and nine of them had gone stale that way before this test. Run from the repository
 * root, as `make test` does. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/util/testutil.h"

#define LIST "tests/mutants/mutants.txt"

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++) n++;
    return n;
}

/* "\n" in the list stands for a line break */
static void unescape(char *s) {
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] == 'n') *w++ = '\n', r++;
        else *w++ = *r;
    }
    *w = '\0';
}

Test(mutants_list, every_original_is_found_once_in_its_file) {
    char *list = tu_read_text(LIST);
    cr_assert(list, "cannot read %s (run from the repository root)", LIST);
    char file[512] = "", name[256] = "";
    int entries = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "# mutant:", 9)) {
            snprintf(name, sizeof name, "%s", line + 10);
        } else if (!strncmp(line, "@ ", 2)) {
            size_t n = strcspn(line + 2, " |");
            snprintf(file, sizeof file, "%.*s", (int)n, line + 2);
        } else if (!strncmp(line, "- ", 2)) {
            char *src = tu_read_text(file), *orig = strdup(line + 2);
            cr_assert(src, "mutant '%s': cannot read %s", name, file);
            unescape(orig);
            int c = count(src, orig);
            cr_expect_eq(c, 1, "mutant '%s': its original text occurs %d times in %s (want once): %s", name, c, file,
                         line + 2);
            entries++;
            free(src);
            free(orig);
        }
    }
    cr_expect_gt(entries, 50, "only %d entries parsed from %s", entries, LIST);
    free(list);
}
