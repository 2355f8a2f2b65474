/*
 * jinja_parse.h - what the two halves of the parser share: the parser state,
 * token helpers (jinja_parser.c) and the expression entry points
 * (jinja_parse_expr.c).
 */
#ifndef SL_TEMPLATE_JINJA_PARSE_H
#define SL_TEMPLATE_JINJA_PARSE_H

#include "template/jinja_internal.h"

/* Parse nesting beyond this is refused; jinja2 itself hits Python's
 * recursion limit somewhat later, and no real template comes close. */
#define SL_JPARSE_MAX_DEPTH 200

typedef struct sl_jparser {
    sl_jinja_template_t *tpl;
    const sl_jtoken_t *tok;
    size_t n, i;
    sl_jinja_error_t *err;
    sl_status_t status;
    unsigned depth;
    unsigned loops; /* enclosing for loops, for break/continue */
} sl_jparser_t;

typedef struct sl_jvec {
    void **items;
    size_t n, cap;
} sl_jvec_t;

/* Token helpers and the parser's errors (jinja_parser.c). */
int sl_jp_fail(sl_jparser_t *p, uint32_t pos, sl_status_t status, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
void *sl_jp_alloc(sl_jparser_t *p, size_t size);
int sl_jvec_push(sl_jparser_t *p, sl_jvec_t *v, void *item);
sl_jnode_list_t sl_jvec_nodes(const sl_jvec_t *v);
sl_jnode_t *sl_jp_node(sl_jparser_t *p, sl_jnode_kind_t kind, uint32_t pos);
const sl_jtoken_t *sl_jp_cur(const sl_jparser_t *p);
const sl_jtoken_t *sl_jp_peek(const sl_jparser_t *p, size_t ahead);
void sl_jp_advance(sl_jparser_t *p);
bool sl_jtok_is_op(const sl_jtoken_t *t, const char *op);
bool sl_jtok_is_name(const sl_jtoken_t *t, const char *name);
bool sl_jp_skip_op(sl_jparser_t *p, const char *op);
bool sl_jp_skip_name(sl_jparser_t *p, const char *name);
const char *sl_jtok_describe(const sl_jtoken_t *t);
int sl_jp_unexpected(sl_jparser_t *p, const char *expected);
int sl_jp_expect_op(sl_jparser_t *p, const char *op);
int sl_jp_expect_kind(sl_jparser_t *p, sl_jtoken_kind_t kind);
const char *sl_jp_expect_name(sl_jparser_t *p);
int sl_jp_enter(sl_jparser_t *p);

/* Expressions (jinja_parse_expr.c). */
sl_jnode_t *sl_jp_expression(sl_jparser_t *p, bool with_condexpr);
sl_jnode_t *sl_jp_tuple(sl_jparser_t *p, bool with_condexpr, const char *end_name,
                        bool explicit_parens);
sl_jnode_t *sl_jp_filters(sl_jparser_t *p, sl_jnode_t *node, bool start_inline);
sl_jnode_t *sl_jp_literal(sl_jparser_t *p, uint32_t pos, sl_jv_t v);

#endif /* SL_TEMPLATE_JINJA_PARSE_H */
