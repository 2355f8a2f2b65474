/*
 * jinja.h - a Jinja2 interpreter for HuggingFace chat templates.
 *
 * It implements the subset of Jinja2 that chat templates use, with the
 * settings transformers renders them with: trim_blocks and lstrip_blocks on,
 * the loopcontrols extension ({% break %}, {% continue %}), a sandbox that
 * forbids mutating lists and dicts, and Python's semantics for values
 * (str(), repr(), ==, arithmetic, slicing). Unsupported constructs
 * ({% include %}, {% extends %}, recursive loops...) are errors, never
 * approximations.
 *
 * A parsed template is immutable: one sl_jinja_template_t may be rendered by
 * several threads at once. Every render allocates its values in its own
 * arena, freed when the render returns.
 *
 * Errors (syntax or runtime) fill an sl_jinja_error_t with the line and
 * column in the template; the functions here never log, so that hostile or
 * broken templates (the fuzzer, a user's file) cost no log spam; the chat
 * layer logs.
 */
#ifndef SL_TEMPLATE_JINJA_H
#define SL_TEMPLATE_JINJA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_jinja_template sl_jinja_template_t;

/* Where and why parsing or rendering failed. */
typedef struct sl_jinja_error {
    int line;   /* 1-based; 0 when the error has no place in the template */
    int column; /* 1-based, in characters */
    /* The template called raise_exception(): message is the template's own
     * text, exactly what transformers would show. */
    bool raised;
    char message[512];
} sl_jinja_error_t;

/* Bounds that make a hostile template fail with a clear error instead of
 * exhausting memory, stack or time. */
typedef struct sl_jinja_limits {
    size_t max_output;        /* bytes of any rendered text or string value    */
    size_t max_memory;        /* bytes of values held by one render            */
    uint64_t max_steps;       /* expression and statement evaluations         */
    uint64_t max_iterations;  /* for-loop iterations, summed over all loops    */
    unsigned max_depth;       /* nesting of evaluation (macro recursion, ...)  */
} sl_jinja_limits_t;

/* Per-render settings. */
typedef struct sl_jinja_render_opts {
    sl_jinja_limits_t limits;
    /* What strftime_now() formats: 0 means the current local time (what
     * transformers does); anything else is seconds since the epoch, shown
     * in UTC, so tests can pin the date. */
    time_t now;
} sl_jinja_render_opts_t;

/* Limits that no real chat template comes near: 64 MiB of output, 512 MiB
 * of values, 50 million steps, 2 million loop iterations, depth 500. */
void sl_jinja_render_opts_default(sl_jinja_render_opts_t *opts_p);

/* Parses SOURCE (LENGTH bytes, UTF-8, need not be NUL-terminated).
 * On failure returns SL_ERR_FORMAT (bad syntax), SL_ERR_UNSUPPORTED (a
 * construct this interpreter does not implement) or SL_ERR_NO_MEMORY, and
 * fills *ERROR when ERROR is not NULL. The template is freed with
 * sl_jinja_free(). */
sl_status_t sl_jinja_parse(const char *source, size_t length, sl_jinja_error_t *error,
                           sl_jinja_template_t **template_p);

/* Renders TEMPLATE with the variables of VARS (a JSON object, may be NULL:
 * no variables). JSON null is Python's None; a name absent from VARS is
 * undefined. OPTS may be NULL (defaults). On success *TEXT_P is a malloc'd,
 * NUL-terminated string of *LENGTH_P bytes (LENGTH_P may be NULL) that the
 * caller frees. On failure returns SL_ERR_FORMAT (a runtime error in the
 * template, including raise_exception), SL_ERR_OVERFLOW (a limit was hit)
 * or SL_ERR_NO_MEMORY, and fills *ERROR when not NULL. */
sl_status_t sl_jinja_render(const sl_jinja_template_t *tpl, const json_t *vars,
                            const sl_jinja_render_opts_t *opts, sl_jinja_error_t *error,
                            char **text_p, size_t *length_p);

/* NULL is a no-op. */
void sl_jinja_free(sl_jinja_template_t *tpl);

#ifdef __cplusplus
}
#endif

#endif /* SL_TEMPLATE_JINJA_H */
