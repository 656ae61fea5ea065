/* core/error.h — error reporting for ldm.c.
 *
 * Errors are values. A function that can fail returns -1 (int) or NULL (pointer)
 * and leaves a message in a thread-local buffer, formatted "op: what went wrong".
 * Autograd ops propagate a NULL input to a NULL output without overwriting the
 * message, so a model's forward can be written as a chain of calls and checked once
 * at the end: the first failure's message is the one the user sees.
 */
#ifndef LDM_CORE_ERROR_H
#define LDM_CORE_ERROR_H

#include <stdarg.h>

#if defined(__GNUC__)
#define LDM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LDM_PRINTF(a, b)
#endif

/* Set the current error to "op: <formatted message>". Always returns -1 so a caller
 * can write `return ldm_error("conv2d", "...")`. */
int ldm_error(const char *op, const char *fmt, ...) LDM_PRINTF(2, 3);
int ldm_verror(const char *op, const char *fmt, va_list ap);

/* The message of the most recent error on this thread ("" when none). */
const char *ldm_last_error(void);

/* Forget the current error. */
void ldm_clear_error(void);

/* Print "ldm: <message>" to stderr and exit(1). For entry points, never for library code. */
void ldm_die(void) __attribute__((noreturn));

#endif
