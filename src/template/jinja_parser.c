/* jinja_parser.c - tokens to a syntax tree, by recursive descent following
 * jinja2's own parser (same precedence, same tuple and test-argument rules),
 * so that what parses, and how, matches Python. Filters and tests are
 * resolved here: an unknown one is a syntax error, as in jinja2. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja_parse.h"

int sl_jp_fail(sl_jparser_t *p, uint32_t pos, sl_status_t status, const char *format, ...)
{
    va_list ap;

    if (p->status != SL_OK)
        return -1;
    va_start(ap, format);
    sl_jerror_fill(p->err, p->tpl->source, p->tpl->length, pos, format, ap);
    va_end(ap);
    p->status = status;
    return -1;
}

void *sl_jp_alloc(sl_jparser_t *p, size_t size)
{
    void *mem = sl_jarena_alloc(&p->tpl->arena, size);

    if (mem == NULL)
        sl_jp_fail(p, UINT32_MAX, SL_ERR_NO_MEMORY, "out of memory parsing the template");
    else
        memset(mem, 0, size);
    return mem;
}

int sl_jvec_push(sl_jparser_t *p, sl_jvec_t *v, void *item)
{
    if (v->n == v->cap) {
        size_t cap = v->cap < 4 ? 8 : v->cap * 2;
        void **items = sl_jp_alloc(p, cap * sizeof(void *));
        if (items == NULL)
            return -1;
        if (v->n != 0)
            memcpy(items, v->items, v->n * sizeof(void *));
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = item;
    return 0;
}

sl_jnode_list_t sl_jvec_nodes(const sl_jvec_t *v)
{
    return (sl_jnode_list_t){.items = (sl_jnode_t **)v->items, .n = v->n};
}

sl_jnode_t *sl_jp_node(sl_jparser_t *p, sl_jnode_kind_t kind, uint32_t pos)
{
    sl_jnode_t *node = sl_jp_alloc(p, sizeof(*node));

    if (node != NULL) {
        node->kind = kind;
        node->pos = pos;
    }
    return node;
}

/* ---- token helpers --------------------------------------------------------------- */

const sl_jtoken_t *sl_jp_cur(const sl_jparser_t *p)
{
    return &p->tok[p->i < p->n ? p->i : p->n - 1];
}

const sl_jtoken_t *sl_jp_peek(const sl_jparser_t *p, size_t ahead)
{
    size_t i = p->i + ahead;
    return &p->tok[i < p->n ? i : p->n - 1];
}

void sl_jp_advance(sl_jparser_t *p)
{
    if (p->i + 1 < p->n)
        p->i++;
}

bool sl_jtok_is_op(const sl_jtoken_t *t, const char *op)
{
    return t->kind == SL_JT_OP && strcmp(t->text, op) == 0;
}

bool sl_jtok_is_name(const sl_jtoken_t *t, const char *name)
{
    return t->kind == SL_JT_NAME && strcmp(t->text, name) == 0;
}

bool sl_jp_skip_op(sl_jparser_t *p, const char *op)
{
    if (!sl_jtok_is_op(sl_jp_cur(p), op))
        return false;
    sl_jp_advance(p);
    return true;
}

bool sl_jp_skip_name(sl_jparser_t *p, const char *name)
{
    if (!sl_jtok_is_name(sl_jp_cur(p), name))
        return false;
    sl_jp_advance(p);
    return true;
}

const char *sl_jtok_describe(const sl_jtoken_t *t)
{
    switch (t->kind) {
    case SL_JT_EOF:         return "end of template";
    case SL_JT_DATA:        return "template data";
    case SL_JT_VAR_BEGIN:   return "'{{'";
    case SL_JT_VAR_END:     return "end of print statement";
    case SL_JT_BLOCK_BEGIN: return "'{%'";
    case SL_JT_BLOCK_END:   return "end of statement block";
    case SL_JT_STRING:      return "string";
    case SL_JT_INT:         return "integer";
    case SL_JT_FLOAT:       return "float";
    default:                return t->text;
    }
}

int sl_jp_unexpected(sl_jparser_t *p, const char *expected)
{
    const sl_jtoken_t *t = sl_jp_cur(p);

    if (t->kind == SL_JT_NAME || t->kind == SL_JT_OP)
        return sl_jp_fail(p, t->pos, SL_ERR_FORMAT, "unexpected '%s', expected %s", t->text,
                          expected);
    return sl_jp_fail(p, t->pos, SL_ERR_FORMAT, "unexpected %s, expected %s",
                      sl_jtok_describe(t), expected);
}

int sl_jp_expect_op(sl_jparser_t *p, const char *op)
{
    char what[16];

    if (sl_jp_skip_op(p, op))
        return 0;
    snprintf(what, sizeof(what), "'%s'", op);
    return sl_jp_unexpected(p, what);
}

int sl_jp_expect_kind(sl_jparser_t *p, sl_jtoken_kind_t kind)
{
    if (sl_jp_cur(p)->kind == kind) {
        sl_jp_advance(p);
        return 0;
    }
    return sl_jp_unexpected(p, kind == SL_JT_BLOCK_END ? "end of statement block"
                               : kind == SL_JT_VAR_END ? "end of print statement"
                                                       : "another token");
}

const char *sl_jp_expect_name(sl_jparser_t *p)
{
    const sl_jtoken_t *t = sl_jp_cur(p);

    if (t->kind != SL_JT_NAME) {
        sl_jp_unexpected(p, "a name");
        return NULL;
    }
    sl_jp_advance(p);
    return t->text;
}

int sl_jp_enter(sl_jparser_t *p)
{
    if (++p->depth > SL_JPARSE_MAX_DEPTH)
        return sl_jp_fail(p, sl_jp_cur(p)->pos, SL_ERR_OVERFLOW,
                          "template nested more than %d levels deep", SL_JPARSE_MAX_DEPTH);
    return 0;
}

/* ---- statements ------------------------------------------------------------------------- */

static int sl_jp_body(sl_jparser_t *p, const char *const *ends, sl_jnode_list_t *body);

/* Names assigned by for/set/with: "x" or "a, b" or "(a, b)". */
static int sl_jp_targets(sl_jparser_t *p, sl_jnode_t *node, const char *end_name)
{
    sl_jvec_t names = {0};
    bool parens = sl_jp_skip_op(p, "(");

    for (;;) {
        const char *name = sl_jp_expect_name(p);
        if (name == NULL || sl_jvec_push(p, &names, (void *)name) != 0)
            return -1;
        if (!sl_jtok_is_op(sl_jp_cur(p), ","))
            break;
        sl_jp_advance(p);
        node->tuple_target = true;
        if ((parens && sl_jtok_is_op(sl_jp_cur(p), ")")) ||
            (end_name != NULL && sl_jtok_is_name(sl_jp_cur(p), end_name)))
            break;
    }
    if (parens) {
        node->tuple_target = true;
        if (sl_jp_expect_op(p, ")") != 0)
            return -1;
    }
    node->targets = (const char **)names.items;
    node->ntargets = names.n;
    return 0;
}

/* Parameters of a macro or of a call block's caller: "(a, b=1)". */
static int sl_jp_params(sl_jparser_t *p, sl_jnode_t *node)
{
    sl_jvec_t names = {0}, defaults = {0};

    if (sl_jp_expect_op(p, "(") != 0)
        return -1;
    while (!sl_jtok_is_op(sl_jp_cur(p), ")")) {
        const char *name;
        sl_jnode_t *def = NULL;

        if (names.n != 0 && sl_jp_expect_op(p, ",") != 0)
            return -1;
        if (names.n != 0 && sl_jtok_is_op(sl_jp_cur(p), ")"))
            break;
        name = sl_jp_expect_name(p);
        if (name == NULL)
            return -1;
        if (sl_jp_skip_op(p, "=")) {
            def = sl_jp_expression(p, true);
            if (def == NULL)
                return -1;
        } else if (defaults.n != 0 && defaults.items[defaults.n - 1] != NULL) {
            return sl_jp_fail(p, sl_jp_cur(p)->pos, SL_ERR_FORMAT,
                              "non-default argument follows default argument");
        }
        if (sl_jvec_push(p, &names, (void *)name) != 0 || sl_jvec_push(p, &defaults, def) != 0)
            return -1;
    }
    sl_jp_advance(p);
    node->targets = (const char **)names.items;
    node->ntargets = names.n;
    node->args = sl_jvec_nodes(&defaults);
    return 0;
}

/* The body up to {% END %}, which is consumed with its block end. */
static int sl_jp_block_body(sl_jparser_t *p, const char *end, sl_jnode_list_t *body)
{
    const char *ends[] = {end, NULL};

    if (sl_jp_expect_kind(p, SL_JT_BLOCK_END) != 0 || sl_jp_body(p, ends, body) != 0)
        return -1;
    sl_jp_advance(p);
    return sl_jp_expect_kind(p, SL_JT_BLOCK_END);
}

static sl_jnode_t *sl_jp_if(sl_jparser_t *p, uint32_t pos)
{
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    sl_jnode_t *top = sl_jp_node(p, SL_JN_IF, pos), *node = top;

    while (node != NULL) {
        const sl_jtoken_t *t;

        node->a = sl_jp_tuple(p, false, NULL, false);
        if (node->a == NULL || sl_jp_expect_kind(p, SL_JT_BLOCK_END) != 0 ||
            sl_jp_body(p, ends, &node->body) != 0)
            return NULL;
        t = sl_jp_cur(p);
        sl_jp_advance(p);
        if (strcmp(t->text, "elif") == 0) {
            sl_jnode_t *next = sl_jp_node(p, SL_JN_IF, t->pos);
            sl_jnode_t **items = sl_jp_alloc(p, sizeof(*items));
            if (next == NULL || items == NULL)
                return NULL;
            items[0] = next;
            node->else_body = (sl_jnode_list_t){.items = items, .n = 1};
            node = next;
            continue;
        }
        if (strcmp(t->text, "else") == 0 && sl_jp_block_body(p, "endif", &node->else_body) != 0)
            return NULL;
        if (strcmp(t->text, "endif") == 0 && sl_jp_expect_kind(p, SL_JT_BLOCK_END) != 0)
            return NULL;
        return top;
    }
    return NULL;
}

static sl_jnode_t *sl_jp_for(sl_jparser_t *p, uint32_t pos)
{
    static const char *const ends[] = {"endfor", "else", NULL};
    sl_jnode_t *node = sl_jp_node(p, SL_JN_FOR, pos);
    const sl_jtoken_t *t;

    if (node == NULL || sl_jp_targets(p, node, "in") != 0)
        return NULL;
    if (!sl_jp_skip_name(p, "in")) {
        sl_jp_unexpected(p, "'in'");
        return NULL;
    }
    node->a = sl_jp_tuple(p, false, "recursive", false);
    if (node->a == NULL)
        return NULL;
    if (sl_jp_skip_name(p, "if") && (node->b = sl_jp_expression(p, true)) == NULL)
        return NULL;
    if (sl_jtok_is_name(sl_jp_cur(p), "recursive")) {
        sl_jp_fail(p, sl_jp_cur(p)->pos, SL_ERR_UNSUPPORTED, "recursive loops are not supported");
        return NULL;
    }
    if (sl_jp_expect_kind(p, SL_JT_BLOCK_END) != 0)
        return NULL;
    p->loops++;
    if (sl_jp_body(p, ends, &node->body) != 0)
        return NULL;
    p->loops--;
    t = sl_jp_cur(p);
    sl_jp_advance(p);
    if (strcmp(t->text, "else") == 0)
        return sl_jp_block_body(p, "endfor", &node->else_body) == 0 ? node : NULL;
    return sl_jp_expect_kind(p, SL_JT_BLOCK_END) == 0 ? node : NULL;
}

static sl_jnode_t *sl_jp_set(sl_jparser_t *p, uint32_t pos)
{
    sl_jnode_t *node = sl_jp_node(p, SL_JN_SET, pos);

    if (node == NULL)
        return NULL;
    if (sl_jp_cur(p)->kind == SL_JT_NAME && sl_jtok_is_op(sl_jp_peek(p, 1), ".")) {
        node->name = sl_jp_cur(p)->text;
        sl_jp_advance(p);
        sl_jp_advance(p);
        if ((node->attr = sl_jp_expect_name(p)) == NULL)
            return NULL;
    } else if (sl_jp_targets(p, node, NULL) != 0) {
        return NULL;
    }
    if (sl_jp_skip_op(p, "=")) {
        node->a = sl_jp_tuple(p, true, NULL, false);
        if (node->a == NULL || sl_jp_expect_kind(p, SL_JT_BLOCK_END) != 0)
            return NULL;
        return node;
    }
    if (node->attr != NULL || node->tuple_target) {
        sl_jp_unexpected(p, "'='");
        return NULL;
    }
    node->kind = SL_JN_SETBLOCK;
    if (sl_jtok_is_op(sl_jp_cur(p), "|") && (node->c = sl_jp_filters(p, NULL, false)) == NULL)
        return NULL;
    return sl_jp_block_body(p, "endset", &node->body) == 0 ? node : NULL;
}

/* The body of a macro or call block: a new function, so enclosing loops
 * do not make break/continue legal inside it. */
static sl_jnode_t *sl_jp_scope_body(sl_jparser_t *p, const char *end, sl_jnode_t *node)
{
    unsigned loops = p->loops;

    p->loops = 0;
    if (sl_jp_block_body(p, end, &node->body) != 0)
        return NULL;
    p->loops = loops;
    return node;
}

static sl_jnode_t *sl_jp_macro(sl_jparser_t *p, uint32_t pos)
{
    sl_jnode_t *node = sl_jp_node(p, SL_JN_MACRO, pos);

    if (node == NULL || (node->name = sl_jp_expect_name(p)) == NULL || sl_jp_params(p, node) != 0)
        return NULL;
    return sl_jp_scope_body(p, "endmacro", node);
}

static sl_jnode_t *sl_jp_callblock(sl_jparser_t *p, uint32_t pos)
{
    sl_jnode_t *node = sl_jp_node(p, SL_JN_CALLBLOCK, pos);

    if (node == NULL)
        return NULL;
    if (sl_jtok_is_op(sl_jp_cur(p), "(") && sl_jp_params(p, node) != 0)
        return NULL;
    node->a = sl_jp_expression(p, true);
    if (node->a == NULL)
        return NULL;
    if (node->a->kind != SL_JN_CALL) {
        sl_jp_fail(p, node->a->pos, SL_ERR_FORMAT, "expected call");
        return NULL;
    }
    return sl_jp_scope_body(p, "endcall", node);
}

static sl_jnode_t *sl_jp_with(sl_jparser_t *p, uint32_t pos)
{
    sl_jnode_t *node = sl_jp_node(p, SL_JN_WITH, pos);
    sl_jvec_t names = {0}, values = {0};

    if (node == NULL)
        return NULL;
    while (sl_jp_cur(p)->kind != SL_JT_BLOCK_END) {
        const char *name;
        sl_jnode_t *value;

        if (names.n != 0 && sl_jp_expect_op(p, ",") != 0)
            return NULL;
        if ((name = sl_jp_expect_name(p)) == NULL || sl_jp_expect_op(p, "=") != 0 ||
            (value = sl_jp_expression(p, true)) == NULL ||
            sl_jvec_push(p, &names, (void *)name) != 0 || sl_jvec_push(p, &values, value) != 0)
            return NULL;
    }
    node->targets = (const char **)names.items;
    node->ntargets = names.n;
    node->args = sl_jvec_nodes(&values);
    return sl_jp_block_body(p, "endwith", &node->body) == 0 ? node : NULL;
}

/* After "{%": one statement, through its end tag. */
static sl_jnode_t *sl_jp_statement(sl_jparser_t *p)
{
    const sl_jtoken_t *t = sl_jp_cur(p);
    sl_jnode_t *node = NULL;
    static const char *const unsupported[] = {"extends", "block", "include", "import", "from",
                                              "autoescape", NULL};

    if (t->kind != SL_JT_NAME) {
        sl_jp_unexpected(p, "a tag name");
        return NULL;
    }
    if (sl_jp_enter(p) != 0)
        return NULL;
    sl_jp_advance(p);
    if (strcmp(t->text, "if") == 0) {
        node = sl_jp_if(p, t->pos);
    } else if (strcmp(t->text, "for") == 0) {
        node = sl_jp_for(p, t->pos);
    } else if (strcmp(t->text, "set") == 0) {
        node = sl_jp_set(p, t->pos);
    } else if (strcmp(t->text, "macro") == 0) {
        node = sl_jp_macro(p, t->pos);
    } else if (strcmp(t->text, "call") == 0) {
        node = sl_jp_callblock(p, t->pos);
    } else if (strcmp(t->text, "with") == 0) {
        node = sl_jp_with(p, t->pos);
    } else if (strcmp(t->text, "filter") == 0) {
        node = sl_jp_node(p, SL_JN_FILTERBLK, t->pos);
        if (node != NULL && ((node->c = sl_jp_filters(p, NULL, true)) == NULL ||
                             sl_jp_block_body(p, "endfilter", &node->body) != 0))
            node = NULL;
    } else if (strcmp(t->text, "generation") == 0) {
        /* transformers' AssistantTracker tag: marks assistant text, renders
         * its body unchanged. */
        node = sl_jp_node(p, SL_JN_BLOCK, t->pos);
        if (node != NULL && sl_jp_block_body(p, "endgeneration", &node->body) != 0)
            node = NULL;
    } else if (strcmp(t->text, "break") == 0 || strcmp(t->text, "continue") == 0) {
        if (p->loops == 0) {
            sl_jp_fail(p, t->pos, SL_ERR_FORMAT, "'%s' outside of a loop", t->text);
            return NULL;
        }
        node = sl_jp_node(p, t->text[0] == 'b' ? SL_JN_BREAK : SL_JN_CONTINUE, t->pos);
        if (node != NULL && sl_jp_expect_kind(p, SL_JT_BLOCK_END) != 0)
            node = NULL;
    } else {
        for (size_t k = 0; unsupported[k] != NULL; k++)
            if (strcmp(t->text, unsupported[k]) == 0) {
                sl_jp_fail(p, t->pos, SL_ERR_UNSUPPORTED,
                           "the '%s' tag is not supported in chat templates", t->text);
                return NULL;
            }
        sl_jp_fail(p, t->pos, SL_ERR_FORMAT, "encountered unknown tag '%s'", t->text);
        return NULL;
    }
    p->depth--;
    return node;
}

/* Statements until one of ENDS (NULL: end of template). Stops with the end
 * tag's name as the current token. */
static int sl_jp_body(sl_jparser_t *p, const char *const *ends, sl_jnode_list_t *body)
{
    sl_jvec_t nodes = {0};

    for (;;) {
        const sl_jtoken_t *t = sl_jp_cur(p);
        sl_jnode_t *node = NULL;

        if (t->kind == SL_JT_EOF) {
            char want[128] = "";
            if (ends == NULL)
                break;
            for (size_t k = 0; ends[k] != NULL; k++)
                snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s'%s'",
                         k == 0 ? "" : " or ", ends[k]);
            return sl_jp_fail(p, t->pos, SL_ERR_FORMAT, "unexpected end of template, expected %s",
                              want);
        }
        if (t->kind == SL_JT_DATA) {
            node = sl_jp_literal(p, t->pos, (sl_jv_t){.kind = SL_JV_STR, .u.s = t->str});
            if (node != NULL)
                node->kind = SL_JN_TEXT;
            sl_jp_advance(p);
        } else if (t->kind == SL_JT_VAR_BEGIN) {
            sl_jp_advance(p);
            node = sl_jp_node(p, SL_JN_OUTPUT, t->pos);
            if (node == NULL || (node->a = sl_jp_tuple(p, true, NULL, false)) == NULL ||
                sl_jp_expect_kind(p, SL_JT_VAR_END) != 0)
                return -1;
        } else if (t->kind == SL_JT_BLOCK_BEGIN) {
            const sl_jtoken_t *name = sl_jp_peek(p, 1);
            sl_jp_advance(p);
            for (size_t k = 0; ends != NULL && ends[k] != NULL; k++)
                if (sl_jtok_is_name(name, ends[k])) {
                    *body = sl_jvec_nodes(&nodes);
                    return 0;
                }
            node = sl_jp_statement(p);
        } else {
            return sl_jp_unexpected(p, "template data or a tag");
        }
        if (node == NULL || sl_jvec_push(p, &nodes, node) != 0)
            return -1;
    }
    *body = sl_jvec_nodes(&nodes);
    return 0;
}

sl_status_t sl_jparse_tokens(sl_jinja_template_t *tpl, const sl_jtokens_t *tokens,
                             sl_jinja_error_t *err)
{
    sl_jparser_t p = {.tpl = tpl, .tok = tokens->items, .n = tokens->n, .err = err,
                      .status = SL_OK};

    if (sl_jp_body(&p, NULL, &tpl->body) != 0 && p.status == SL_OK)
        sl_jp_fail(&p, UINT32_MAX, SL_ERR_INTERNAL, "parse failed without an error");
    return p.status;
}

/* ---- public entry ------------------------------------------------------------------------- */

static bool sl_jutf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned char c = u[i];
        size_t extra;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
            min = 0x80;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            min = 0x800;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            min = 0x10000;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= extra)
            return false;
        for (size_t k = 1; k <= extra; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += extra + 1;
    }
    return true;
}

sl_status_t sl_jinja_parse(const char *source, size_t length, sl_jinja_error_t *error,
                           sl_jinja_template_t **template_p)
{
    sl_jinja_template_t *tpl;
    sl_jtokens_t tokens = {0};
    sl_status_t status;
    locale_t saved_locale;
    size_t n = 0;

    if (source == NULL && length != 0)
        return SL_ERR_INVALID_ARG;
    if (length >= UINT32_MAX) {
        if (error != NULL) {
            memset(error, 0, sizeof(*error));
            snprintf(error->message, sizeof(error->message), "template larger than 4 GiB");
        }
        return SL_ERR_OVERFLOW;
    }
    if (!sl_jutf8_valid(source, length)) {
        if (error != NULL) {
            memset(error, 0, sizeof(*error));
            snprintf(error->message, sizeof(error->message), "template is not valid UTF-8");
        }
        return SL_ERR_FORMAT;
    }
    tpl = calloc(1, sizeof(*tpl));
    if (tpl == NULL)
        return SL_ERR_NO_MEMORY;
    sl_jarena_init(&tpl->arena, 0);
    tpl->source = malloc(length + 1);
    if (tpl->source == NULL) {
        status = SL_ERR_NO_MEMORY;
        goto err_tpl;
    }
    /* jinja2 turns \r\n and \r into \n, and (keep_trailing_newline off)
     * drops one newline at the very end. */
    for (size_t i = 0; i < length; i++) {
        if (source[i] == '\r') {
            tpl->source[n++] = '\n';
            if (i + 1 < length && source[i + 1] == '\n')
                i++;
        } else {
            tpl->source[n++] = source[i];
        }
    }
    if (n > 0 && tpl->source[n - 1] == '\n')
        n--;
    tpl->source[n] = '\0';
    tpl->length = n;
    saved_locale = sl_jlocale_enter(); /* strtod of float literals */
    status = sl_jlex(&tpl->arena, tpl->source, n, error, &tokens);
    sl_jlocale_leave(saved_locale);
    if (status != SL_OK)
        goto err_tpl;
    status = sl_jparse_tokens(tpl, &tokens, error);
    if (status != SL_OK)
        goto err_tpl;
    *template_p = tpl;
    return SL_OK;

err_tpl:
    sl_jinja_free(tpl);
    return status;
}

void sl_jinja_free(sl_jinja_template_t *tpl)
{
    if (tpl == NULL)
        return;
    sl_jarena_free(&tpl->arena);
    free(tpl->source);
    free(tpl);
}
