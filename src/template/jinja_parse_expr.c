/* jinja_parse_expr.c - expressions, by recursive descent with jinja2's
 * precedence: conditional, or, and, not, comparisons (chained, in, not in),
 * + -, ~, * / // %, **, unary - +, then postfix (.attr, [item], [a:b:c],
 * calls) and filters and tests. */
#include "config.h"

#include <string.h>

#include "template/jinja_parse.h"

sl_jnode_t *sl_jp_expression(sl_jparser_t *p, bool with_condexpr);
static sl_jnode_t *sl_jp_unary(sl_jparser_t *p, bool with_filter);
static sl_jnode_t *sl_jp_postfix(sl_jparser_t *p, sl_jnode_t *node);

/* Call arguments "(a, b, k=v)" into NODE's args and kwargs. */
static int sl_jp_call_args(sl_jparser_t *p, sl_jnode_t *node)
{
    sl_jvec_t args = {0}, kwargs = {0}, kwnames = {0};

    if (sl_jp_expect_op(p, "(") != 0)
        return -1;
    while (!sl_jtok_is_op(sl_jp_cur(p), ")")) {
        const sl_jtoken_t *t = sl_jp_cur(p);
        sl_jnode_t *arg;

        if (args.n + kwargs.n != 0) {
            if (sl_jp_expect_op(p, ",") != 0)
                return -1;
            if (sl_jtok_is_op(sl_jp_cur(p), ")"))
                break;
            t = sl_jp_cur(p);
        }
        if (sl_jtok_is_op(t, "*") || sl_jtok_is_op(t, "**"))
            return sl_jp_fail(p, t->pos, SL_ERR_UNSUPPORTED,
                              "*args and **kwargs in calls are not supported");
        if (t->kind == SL_JT_NAME && sl_jtok_is_op(sl_jp_peek(p, 1), "=")) {
            const char *key = t->text;
            sl_jp_advance(p);
            sl_jp_advance(p);
            arg = sl_jp_expression(p, true);
            if (arg == NULL || sl_jvec_push(p, &kwargs, arg) != 0 ||
                sl_jvec_push(p, &kwnames, (void *)key) != 0)
                return -1;
            continue;
        }
        if (kwargs.n != 0)
            return sl_jp_fail(p, t->pos, SL_ERR_FORMAT,
                              "invalid syntax for function call expression");
        arg = sl_jp_expression(p, true);
        if (arg == NULL || sl_jvec_push(p, &args, arg) != 0)
            return -1;
    }
    if (sl_jp_expect_op(p, ")") != 0)
        return -1;
    node->args = sl_jvec_nodes(&args);
    node->kwargs = sl_jvec_nodes(&kwargs);
    node->kwnames = (const char **)kwnames.items;
    return 0;
}

/* CALLEE(args): placed at the callee, which is what an error names. */
static sl_jnode_t *sl_jp_call(sl_jparser_t *p, sl_jnode_t *callee)
{
    sl_jnode_t *call = sl_jp_node(p, SL_JN_CALL, callee->pos);

    if (call == NULL)
        return NULL;
    call->a = callee;
    return sl_jp_call_args(p, call) == 0 ? call : NULL;
}

/* A possibly dotted name, as filters and tests are called. */
static const char *sl_jp_dotted_name(sl_jparser_t *p)
{
    const char *name = sl_jp_expect_name(p);

    if (name != NULL && sl_jtok_is_op(sl_jp_cur(p), "."))
        sl_jp_fail(p, sl_jp_cur(p)->pos, SL_ERR_UNSUPPORTED,
                   "dotted filter and test names are not supported");
    return p->status == SL_OK ? name : NULL;
}

/* One or more "|name(args)" applied to NODE (NULL in a filter block). */
sl_jnode_t *sl_jp_filters(sl_jparser_t *p, sl_jnode_t *node, bool start_inline)
{
    while (start_inline || sl_jtok_is_op(sl_jp_cur(p), "|")) {
        uint32_t pos;
        sl_jnode_t *f;
        const char *name;

        if (!start_inline)
            sl_jp_advance(p);
        start_inline = false;
        pos = sl_jp_cur(p)->pos;
        name = sl_jp_dotted_name(p);
        if (name == NULL)
            return NULL;
        f = sl_jp_node(p, SL_JN_FILTER, pos);
        if (f == NULL)
            return NULL;
        f->name = name;
        f->a = node;
        f->fn = sl_jfilter_find(name);
        if (f->fn == NULL) {
            if (sl_jfilter_unsupported(name))
                sl_jp_fail(p, pos, SL_ERR_UNSUPPORTED, "the '%s' filter is not supported", name);
            else
                sl_jp_fail(p, pos, SL_ERR_FORMAT, "no filter named '%s'", name);
            return NULL;
        }
        if (sl_jtok_is_op(sl_jp_cur(p), "(") && sl_jp_call_args(p, f) != 0)
            return NULL;
        node = f;
    }
    return node;
}

static sl_jnode_t *sl_jp_test(sl_jparser_t *p, sl_jnode_t *node)
{
    uint32_t pos = sl_jp_cur(p)->pos;
    const sl_jtoken_t *t;
    sl_jnode_t *test = sl_jp_node(p, SL_JN_TEST, pos);
    const char *name;

    if (test == NULL)
        return NULL;
    sl_jp_advance(p); /* is */
    test->op = sl_jp_skip_name(p, "not");
    name = sl_jp_dotted_name(p);
    if (name == NULL)
        return NULL;
    test->name = name;
    test->a = node;
    test->fn = sl_jtest_find(name);
    if (test->fn == NULL) {
        sl_jp_fail(p, pos, SL_ERR_FORMAT, "no test named '%s'", name);
        return NULL;
    }
    t = sl_jp_cur(p);
    if (sl_jtok_is_op(t, "(")) {
        if (sl_jp_call_args(p, test) != 0)
            return NULL;
    } else if ((t->kind == SL_JT_NAME || t->kind == SL_JT_STRING || t->kind == SL_JT_INT ||
                t->kind == SL_JT_FLOAT || sl_jtok_is_op(t, "[") || sl_jtok_is_op(t, "{")) &&
               !sl_jtok_is_name(t, "else") && !sl_jtok_is_name(t, "or") &&
               !sl_jtok_is_name(t, "and")) {
        /* "x is divisibleby 3": one argument without parentheses. */
        sl_jnode_t *arg;
        sl_jvec_t args = {0};

        if (sl_jtok_is_name(t, "is")) {
            sl_jp_fail(p, t->pos, SL_ERR_FORMAT, "you cannot chain multiple tests with is");
            return NULL;
        }
        arg = sl_jp_unary(p, false);
        if (arg == NULL || sl_jvec_push(p, &args, arg) != 0)
            return NULL;
        test->args = sl_jvec_nodes(&args);
    }
    return test;
}

static sl_jnode_t *sl_jp_filter_expr(sl_jparser_t *p, sl_jnode_t *node)
{
    while (node != NULL) {
        const sl_jtoken_t *t = sl_jp_cur(p);

        if (sl_jtok_is_op(t, "|")) {
            node = sl_jp_filters(p, node, false);
        } else if (sl_jtok_is_name(t, "is")) {
            node = sl_jp_test(p, node);
        } else if (sl_jtok_is_op(t, "(")) {
            node = sl_jp_call(p, node);
        } else {
            break;
        }
    }
    return node;
}

/* Comma-separated expressions: one alone, or a tuple. END_NAME (may be
 * NULL) is a keyword that ends the list ("in" of a for loop). */
sl_jnode_t *sl_jp_tuple(sl_jparser_t *p, bool with_condexpr, const char *end_name,
                               bool explicit_parens)
{
    uint32_t pos = sl_jp_cur(p)->pos;
    sl_jvec_t items = {0};
    bool is_tuple = false;
    sl_jnode_t *node;

    for (;;) {
        const sl_jtoken_t *t;
        sl_jnode_t *item;

        if (items.n != 0 && sl_jp_expect_op(p, ",") != 0)
            return NULL;
        t = sl_jp_cur(p);
        if (t->kind == SL_JT_VAR_END || t->kind == SL_JT_BLOCK_END || sl_jtok_is_op(t, ")") ||
            (end_name != NULL && sl_jtok_is_name(t, end_name)))
            break;
        item = sl_jp_expression(p, with_condexpr);
        if (item == NULL || sl_jvec_push(p, &items, item) != 0)
            return NULL;
        if (!sl_jtok_is_op(sl_jp_cur(p), ","))
            break;
        is_tuple = true;
    }
    if (!is_tuple) {
        if (items.n != 0)
            return items.items[0];
        if (!explicit_parens) {
            sl_jp_unexpected(p, "an expression");
            return NULL;
        }
    }
    node = sl_jp_node(p, SL_JN_TUPLE, pos);
    if (node != NULL)
        node->args = sl_jvec_nodes(&items);
    return node;
}

sl_jnode_t *sl_jp_literal(sl_jparser_t *p, uint32_t pos, sl_jv_t v)
{
    sl_jnode_t *node = sl_jp_node(p, SL_JN_LITERAL, pos);

    if (node != NULL)
        node->lit = v;
    return node;
}

static sl_jnode_t *sl_jp_seq(sl_jparser_t *p, bool dict)
{
    const sl_jtoken_t *open = sl_jp_cur(p);
    sl_jnode_t *node = sl_jp_node(p, dict ? SL_JN_DICT : SL_JN_LIST, open->pos);
    sl_jvec_t items = {0};
    const char *close = dict ? "}" : "]";

    if (node == NULL)
        return NULL;
    sl_jp_advance(p);
    while (!sl_jtok_is_op(sl_jp_cur(p), close)) {
        sl_jnode_t *item;

        if (items.n != 0) {
            if (sl_jp_expect_op(p, ",") != 0)
                return NULL;
            if (sl_jtok_is_op(sl_jp_cur(p), close))
                break;
        }
        item = sl_jp_expression(p, true);
        if (item == NULL || sl_jvec_push(p, &items, item) != 0)
            return NULL;
        if (dict) {
            if (sl_jp_expect_op(p, ":") != 0)
                return NULL;
            item = sl_jp_expression(p, true);
            if (item == NULL || sl_jvec_push(p, &items, item) != 0)
                return NULL;
        }
    }
    if (sl_jp_expect_op(p, close) != 0)
        return NULL;
    node->args = sl_jvec_nodes(&items);
    return node;
}

static sl_jnode_t *sl_jp_primary(sl_jparser_t *p)
{
    const sl_jtoken_t *t = sl_jp_cur(p);
    sl_jnode_t *node;

    switch (t->kind) {
    case SL_JT_NAME:
        sl_jp_advance(p);
        if (strcmp(t->text, "true") == 0 || strcmp(t->text, "True") == 0)
            return sl_jp_literal(p, t->pos, sl_jv_bool(true));
        if (strcmp(t->text, "false") == 0 || strcmp(t->text, "False") == 0)
            return sl_jp_literal(p, t->pos, sl_jv_bool(false));
        if (strcmp(t->text, "none") == 0 || strcmp(t->text, "None") == 0)
            return sl_jp_literal(p, t->pos, sl_jv_none());
        node = sl_jp_node(p, SL_JN_NAME, t->pos);
        if (node != NULL)
            node->name = t->text;
        return node;
    case SL_JT_STRING: {
        /* Adjacent literals concatenate: "a" "b". */
        const sl_jtoken_t *first = t;
        size_t len = 0, k = 0;
        sl_jstr_t *s;

        while (sl_jp_peek(p, k)->kind == SL_JT_STRING)
            len += sl_jp_peek(p, k++)->str->len;
        s = sl_jp_alloc(p, sizeof(*s) + len + 1);
        if (s == NULL)
            return NULL;
        s->len = 0;
        while (sl_jp_cur(p)->kind == SL_JT_STRING) {
            const sl_jstr_t *part = sl_jp_cur(p)->str;
            memcpy(s->data + s->len, part->data, part->len);
            s->len += part->len;
            sl_jp_advance(p);
        }
        s->data[s->len] = '\0';
        return sl_jp_literal(p, first->pos, (sl_jv_t){.kind = SL_JV_STR, .u.s = s});
    }
    case SL_JT_INT:
        sl_jp_advance(p);
        return sl_jp_literal(p, t->pos, sl_jv_int(t->i));
    case SL_JT_FLOAT:
        sl_jp_advance(p);
        return sl_jp_literal(p, t->pos, sl_jv_float(t->f));
    case SL_JT_OP:
        if (sl_jtok_is_op(t, "(")) {
            sl_jp_advance(p);
            node = sl_jp_tuple(p, true, NULL, true);
            if (node == NULL || sl_jp_expect_op(p, ")") != 0)
                return NULL;
            return node;
        }
        if (sl_jtok_is_op(t, "["))
            return sl_jp_seq(p, false);
        if (sl_jtok_is_op(t, "{"))
            return sl_jp_seq(p, true);
        break;
    default:
        break;
    }
    sl_jp_unexpected(p, "an expression");
    return NULL;
}

/* The inside of [...]: an index, or a slice start:stop:step. */
static sl_jnode_t *sl_jp_subscript(sl_jparser_t *p, sl_jnode_t *obj, uint32_t pos)
{
    sl_jnode_t *parts[3] = {NULL, NULL, NULL}, *node;
    int k = 0;

    if (!sl_jtok_is_op(sl_jp_cur(p), ":")) {
        parts[0] = sl_jp_expression(p, true);
        if (parts[0] == NULL)
            return NULL;
        if (!sl_jtok_is_op(sl_jp_cur(p), ":")) {
            node = sl_jp_node(p, SL_JN_ITEM, pos);
            if (node != NULL) {
                node->a = obj;
                node->b = parts[0];
            }
            return node;
        }
    }
    while (k < 2 && sl_jp_skip_op(p, ":")) {
        k++;
        if (!sl_jtok_is_op(sl_jp_cur(p), "]") && !sl_jtok_is_op(sl_jp_cur(p), ",") &&
            !sl_jtok_is_op(sl_jp_cur(p), ":")) {
            parts[k] = sl_jp_expression(p, true);
            if (parts[k] == NULL)
                return NULL;
        }
    }
    node = sl_jp_node(p, SL_JN_SLICE, pos);
    if (node != NULL) {
        node->a = obj;
        node->b = parts[0];
        node->c = parts[1];
        node->d = parts[2];
    }
    return node;
}

static sl_jnode_t *sl_jp_postfix(sl_jparser_t *p, sl_jnode_t *node)
{
    while (node != NULL) {
        const sl_jtoken_t *t = sl_jp_cur(p);

        if (sl_jtok_is_op(t, ".")) {
            const sl_jtoken_t *attr;
            sl_jp_advance(p);
            attr = sl_jp_cur(p);
            if (attr->kind == SL_JT_NAME) {
                sl_jnode_t *get = sl_jp_node(p, SL_JN_ATTR, t->pos);
                if (get == NULL)
                    return NULL;
                get->a = node;
                get->name = attr->text;
                node = get;
            } else if (attr->kind == SL_JT_INT) {
                sl_jnode_t *get = sl_jp_node(p, SL_JN_ITEM, t->pos);
                if (get == NULL)
                    return NULL;
                get->b = sl_jp_literal(p, attr->pos, sl_jv_int(attr->i));
                if (get->b == NULL)
                    return NULL;
                get->a = node;
                node = get;
            } else {
                sl_jp_unexpected(p, "a name or number after '.'");
                return NULL;
            }
            sl_jp_advance(p);
        } else if (sl_jtok_is_op(t, "[")) {
            sl_jp_advance(p);
            node = sl_jp_subscript(p, node, t->pos);
            if (node == NULL || sl_jp_expect_op(p, "]") != 0)
                return NULL;
        } else if (sl_jtok_is_op(t, "(")) {
            node = sl_jp_call(p, node);
        } else {
            break;
        }
    }
    return node;
}

static sl_jnode_t *sl_jp_unary(sl_jparser_t *p, bool with_filter)
{
    const sl_jtoken_t *t = sl_jp_cur(p);
    sl_jnode_t *node;

    if (sl_jp_enter(p) != 0)
        return NULL;
    if (sl_jtok_is_op(t, "-") || sl_jtok_is_op(t, "+")) {
        node = sl_jp_node(p, SL_JN_UNARY, t->pos);
        if (node == NULL)
            return NULL;
        node->op = sl_jtok_is_op(t, "-") ? SL_JOP_NEG : SL_JOP_POS;
        sl_jp_advance(p);
        node->a = sl_jp_unary(p, false);
        if (node->a == NULL)
            return NULL;
    } else {
        node = sl_jp_primary(p);
    }
    node = sl_jp_postfix(p, node);
    if (with_filter)
        node = sl_jp_filter_expr(p, node);
    p->depth--;
    return node;
}

static sl_jnode_t *sl_jp_binary(sl_jparser_t *p, sl_jop_t op, uint32_t pos, sl_jnode_t *a,
                                sl_jnode_t *b)
{
    sl_jnode_t *node;

    if (a == NULL || b == NULL)
        return NULL;
    node = sl_jp_node(p, SL_JN_BINARY, pos);
    if (node != NULL) {
        node->op = op;
        node->a = a;
        node->b = b;
    }
    return node;
}

typedef sl_jnode_t *(*sl_jp_level_fn)(sl_jparser_t *p);

typedef struct sl_jp_binop {
    const char *tok;
    bool keyword; /* "and", "or" are names, the rest operators */
    sl_jop_t op;
} sl_jp_binop_t;

/* OPERAND (OP OPERAND)*, left-associative as in jinja2 (even **), for the
 * N operators of one precedence level. */
static sl_jnode_t *sl_jp_left_assoc(sl_jparser_t *p, sl_jp_level_fn operand,
                                    const sl_jp_binop_t *ops, size_t n)
{
    sl_jnode_t *node = operand(p);

    for (;;) {
        const sl_jtoken_t *t = sl_jp_cur(p);
        size_t k;

        for (k = 0; k < n; k++)
            if (ops[k].keyword ? sl_jtok_is_name(t, ops[k].tok) : sl_jtok_is_op(t, ops[k].tok))
                break;
        if (node == NULL || k == n)
            return node;
        sl_jp_advance(p);
        node = sl_jp_binary(p, ops[k].op, t->pos, node, operand(p));
    }
}

static sl_jnode_t *sl_jp_unary_filtered(sl_jparser_t *p)
{
    return sl_jp_unary(p, true);
}

static sl_jnode_t *sl_jp_pow(sl_jparser_t *p)
{
    static const sl_jp_binop_t ops[] = {{"**", false, SL_JOP_POW}};
    return sl_jp_left_assoc(p, sl_jp_unary_filtered, ops, 1);
}

static sl_jnode_t *sl_jp_math2(sl_jparser_t *p)
{
    static const sl_jp_binop_t ops[] = {
        {"*", false, SL_JOP_MUL}, {"/", false, SL_JOP_DIV},
        {"//", false, SL_JOP_FLOORDIV}, {"%", false, SL_JOP_MOD},
    };
    return sl_jp_left_assoc(p, sl_jp_pow, ops, 4);
}

static sl_jnode_t *sl_jp_concat(sl_jparser_t *p)
{
    static const sl_jp_binop_t ops[] = {{"~", false, SL_JOP_CONCAT}};
    return sl_jp_left_assoc(p, sl_jp_math2, ops, 1);
}

static sl_jnode_t *sl_jp_math1(sl_jparser_t *p)
{
    static const sl_jp_binop_t ops[] = {{"+", false, SL_JOP_ADD}, {"-", false, SL_JOP_SUB}};
    return sl_jp_left_assoc(p, sl_jp_concat, ops, 2);
}

static sl_jnode_t *sl_jp_compare(sl_jparser_t *p)
{
    static const struct { const char *tok; sl_jop_t op; } ops[] = {
        {"==", SL_JOP_EQ}, {"!=", SL_JOP_NE}, {"<", SL_JOP_LT},
        {"<=", SL_JOP_LE}, {">", SL_JOP_GT},  {">=", SL_JOP_GE},
    };
    uint32_t pos = sl_jp_cur(p)->pos;
    sl_jnode_t *first = sl_jp_math1(p), *node;
    sl_jvec_t operands = {0};
    int opbuf[64];
    size_t nops = 0;

    if (first == NULL)
        return NULL;
    for (;;) {
        const sl_jtoken_t *t = sl_jp_cur(p);
        int op = -1;
        sl_jnode_t *rhs;

        for (size_t k = 0; k < 6; k++)
            if (sl_jtok_is_op(t, ops[k].tok))
                op = (int)ops[k].op;
        if (op >= 0) {
            sl_jp_advance(p);
        } else if (sl_jtok_is_name(t, "in")) {
            op = SL_JOP_IN;
            sl_jp_advance(p);
        } else if (sl_jtok_is_name(t, "not") && sl_jtok_is_name(sl_jp_peek(p, 1), "in")) {
            op = SL_JOP_NOTIN;
            sl_jp_advance(p);
            sl_jp_advance(p);
        } else {
            break;
        }
        if (nops == sizeof(opbuf) / sizeof(opbuf[0])) {
            sl_jp_fail(p, t->pos, SL_ERR_OVERFLOW, "too many chained comparisons");
            return NULL;
        }
        rhs = sl_jp_math1(p);
        if (rhs == NULL || sl_jvec_push(p, &operands, rhs) != 0)
            return NULL;
        opbuf[nops++] = op;
    }
    if (nops == 0)
        return first;
    node = sl_jp_node(p, SL_JN_COMPARE, pos);
    if (node == NULL || (node->ops = sl_jp_alloc(p, nops * sizeof(int))) == NULL)
        return NULL;
    memcpy(node->ops, opbuf, nops * sizeof(int));
    node->a = first;
    node->args = sl_jvec_nodes(&operands);
    return node;
}

static sl_jnode_t *sl_jp_not(sl_jparser_t *p)
{
    const sl_jtoken_t *t = sl_jp_cur(p);
    sl_jnode_t *node;

    if (!sl_jtok_is_name(t, "not"))
        return sl_jp_compare(p);
    if (sl_jp_enter(p) != 0)
        return NULL;
    sl_jp_advance(p);
    node = sl_jp_node(p, SL_JN_UNARY, t->pos);
    if (node == NULL || (node->a = sl_jp_not(p)) == NULL)
        return NULL;
    node->op = SL_JOP_NOT;
    p->depth--;
    return node;
}

static sl_jnode_t *sl_jp_and(sl_jparser_t *p)
{
    static const sl_jp_binop_t ops[] = {{"and", true, SL_JOP_AND}};
    return sl_jp_left_assoc(p, sl_jp_not, ops, 1);
}

static sl_jnode_t *sl_jp_or(sl_jparser_t *p)
{
    static const sl_jp_binop_t ops[] = {{"or", true, SL_JOP_OR}};
    return sl_jp_left_assoc(p, sl_jp_and, ops, 1);
}

static sl_jnode_t *sl_jp_condexpr(sl_jparser_t *p)
{
    sl_jnode_t *node = sl_jp_or(p);

    while (node != NULL && sl_jtok_is_name(sl_jp_cur(p), "if")) {
        sl_jnode_t *cond = sl_jp_node(p, SL_JN_COND, sl_jp_cur(p)->pos);
        if (cond == NULL)
            return NULL;
        sl_jp_advance(p);
        cond->b = node;
        cond->a = sl_jp_or(p);
        if (cond->a == NULL)
            return NULL;
        if (sl_jp_skip_name(p, "else") && (cond->c = sl_jp_condexpr(p)) == NULL)
            return NULL;
        node = cond;
    }
    return node;
}

sl_jnode_t *sl_jp_expression(sl_jparser_t *p, bool with_condexpr)
{
    sl_jnode_t *node;

    if (sl_jp_enter(p) != 0)
        return NULL;
    node = with_condexpr ? sl_jp_condexpr(p) : sl_jp_or(p);
    p->depth--;
    return node;
}
