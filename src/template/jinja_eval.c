/* jinja_eval.c - running a parsed template: scopes, statements, expressions,
 * macro calls, and the render entry point.
 *
 * Scoping follows jinja2: a for loop gives each iteration a fresh scope (a
 * `set` inside the loop is gone at the next iteration and after the loop,
 * which is why templates use namespace()); `if` opens no scope; a macro runs
 * in a scope whose parent is where it was defined, resolved when called. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "template/jinja_internal.h"

enum { SL_JFLOW_BREAK = 1, SL_JFLOW_CONTINUE = 2 };

/* Calls with at most this many arguments keep them on the stack. */
#define SL_JMAX_STACK_ARGS 8

static int sl_jeval(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n, sl_jv_t *out);
static int sl_jexec(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_list_t *body);

/* ---- limits ---------------------------------------------------------------------- */

static int sl_jenter(sl_jctx_t *ctx, const sl_jnode_t *n)
{
    ctx->pos = n->pos;
    if (++ctx->steps > ctx->limits.max_steps)
        return sl_jerr_status(ctx, SL_ERR_OVERFLOW,
                              "the template ran more than the limit of %llu steps",
                              (unsigned long long)ctx->limits.max_steps);
    if (++ctx->depth > ctx->limits.max_depth)
        return sl_jerr_status(ctx, SL_ERR_OVERFLOW,
                              "the template nests calls deeper than the limit of %u",
                              ctx->limits.max_depth);
    return 0;
}

/* ---- scopes ------------------------------------------------------------------------ */

static sl_jframe_t *sl_jframe_new(sl_jctx_t *ctx, sl_jframe_t *parent)
{
    sl_jframe_t *f = sl_jalloc(ctx, sizeof(*f));

    if (f != NULL) {
        memset(f, 0, sizeof(*f));
        f->parent = parent;
    }
    return f;
}

static int sl_jframe_set(sl_jctx_t *ctx, sl_jframe_t *f, const char *name, sl_jv_t val)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->names[i], name) == 0) {
            f->vals[i] = val;
            return 0;
        }
    }
    if (f->n == f->cap) {
        size_t cap = f->cap < 4 ? 8 : f->cap * 2;
        const char **names = sl_jalloc(ctx, cap * sizeof(*names));
        sl_jv_t *vals = names != NULL ? sl_jalloc(ctx, cap * sizeof(*vals)) : NULL;

        if (vals == NULL)
            return -1;
        if (f->n != 0) {
            memcpy(names, f->names, f->n * sizeof(*names));
            memcpy(vals, f->vals, f->n * sizeof(*vals));
        }
        f->names = names;
        f->vals = vals;
        f->cap = cap;
    }
    f->names[f->n] = name;
    f->vals[f->n] = val;
    f->n++;
    return 0;
}

static int sl_jlookup(sl_jctx_t *ctx, sl_jframe_t *f, const char *name, sl_jv_t *out)
{
    for (; f != NULL; f = f->parent)
        for (size_t i = f->n; i-- > 0;)
            if (strcmp(f->names[i], name) == 0) {
                *out = f->vals[i];
                return 0;
            }
    if (sl_jglobal_lookup(name, out))
        return 0;
    return sl_jv_undef_why(ctx, out, "'%s' is undefined", name);
}

/* Binds TARGETS of a for/set to VAL, unpacking it when there are several. */
static int sl_jassign(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n, sl_jv_t val)
{
    sl_jlist_t *items;

    if (!n->tuple_target)
        return sl_jframe_set(ctx, f, n->targets[0], val);
    if (sl_jv_iterate(ctx, val, &items) != 0)
        return -1;
    if (items->len != n->ntargets)
        return sl_jerr(ctx, "cannot unpack %zu values into %zu names", items->len, n->ntargets);
    for (size_t i = 0; i < n->ntargets; i++)
        if (sl_jframe_set(ctx, f, n->targets[i], items->items[i]) != 0)
            return -1;
    return 0;
}

/* ---- calls ----------------------------------------------------------------------------- */

/* Runs BODY with output going to a fresh buffer; *OUT is the text. */
static int sl_jcapture(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_list_t *body, sl_jv_t *out)
{
    sl_jbuf_t buf = {0}, *saved = ctx->out;
    int rc;

    ctx->out = &buf;
    rc = sl_jexec(ctx, f, body);
    ctx->out = saved;
    if (rc < 0)
        return -1;
    return sl_jbuf_value(ctx, &buf, out);
}

static int sl_jcall_macro(sl_jctx_t *ctx, const sl_jmacro_t *m, const sl_jargs_t *args,
                          sl_jv_t *out)
{
    const sl_jnode_t *node = m->node;
    sl_jframe_t *f = sl_jframe_new(ctx, m->closure);
    sl_jv_t varargs, kwargs;
    size_t np = node->ntargets;

    if (f == NULL || sl_jlist_new(ctx, 0, SL_JV_TUPLE, &varargs) != 0 ||
        sl_jdict_new(ctx, SL_JV_DICT, &kwargs) != 0)
        return -1;
    for (size_t i = 0; i < args->npos; i++) {
        int rc = i < np ? sl_jframe_set(ctx, f, node->targets[i], args->pos[i])
                        : sl_jlist_push(ctx, varargs.u.list, args->pos[i]);
        if (rc != 0)
            return -1;
    }
    for (size_t k = 0; k < args->nkw; k++) {
        const char *key = args->kwnames[k];
        bool param = strcmp(key, "caller") == 0;
        sl_jv_t name;

        for (size_t i = 0; i < np && !param; i++) {
            if (strcmp(node->targets[i], key) == 0) {
                if (i < args->npos)
                    return sl_jerr(ctx, "macro '%s' got multiple values for argument '%s'",
                                   m->name, key);
                param = true;
            }
        }
        if (param) {
            if (sl_jframe_set(ctx, f, key, args->kw[k]) != 0)
                return -1;
        } else if (sl_jv_cstr(ctx, key, &name) != 0 ||
                   sl_jdict_set(ctx, kwargs.u.dict, name, args->kw[k]) != 0) {
            return -1;
        }
    }
    /* Defaults are evaluated at call time, in the macro's scope, so they
     * may refer to earlier parameters. */
    for (size_t i = args->npos; i < np; i++) {
        bool given = false;
        sl_jv_t v;

        for (size_t k = 0; k < args->nkw && !given; k++)
            given = strcmp(args->kwnames[k], node->targets[i]) == 0;
        if (given)
            continue;
        if (node->args.items[i] != NULL) {
            if (sl_jeval(ctx, f, node->args.items[i], &v) != 0)
                return -1;
        } else if (sl_jv_undef_why(ctx, &v, "parameter '%s' was not provided",
                                   node->targets[i]) != 0) {
            return -1;
        }
        if (sl_jframe_set(ctx, f, node->targets[i], v) != 0)
            return -1;
    }
    if (sl_jframe_set(ctx, f, "varargs", varargs) != 0 ||
        sl_jframe_set(ctx, f, "kwargs", kwargs) != 0)
        return -1;
    return sl_jcapture(ctx, f, &node->body, out);
}

int sl_jcall(sl_jctx_t *ctx, sl_jv_t callee, const sl_jargs_t *args, sl_jv_t *out)
{
    int rc;

    switch (callee.kind) {
    case SL_JV_FUNC:
        return callee.u.func->fn(ctx, callee.u.func->self, args, out);
    case SL_JV_MACRO:
        if (++ctx->depth > ctx->limits.max_depth)
            return sl_jerr_status(ctx, SL_ERR_OVERFLOW,
                                  "macro calls nested deeper than the limit of %u",
                                  ctx->limits.max_depth);
        rc = sl_jcall_macro(ctx, callee.u.macro, args, out);
        ctx->depth--;
        return rc;
    case SL_JV_UNDEFINED:
        return sl_jv_undef_error(ctx, callee);
    default:
        return sl_jerr(ctx, "'%s' object is not callable", sl_jv_type_name(callee));
    }
}

/* Evaluates the arguments of N (a call, filter or test) into ARGS, using
 * STACK (SL_JMAX_STACK_ARGS values) when they fit. EXTRA more keyword slots
 * are left free at the end for the caller. */
static int sl_jeval_args(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n, sl_jv_t *stack,
                         const char **stack_names, size_t extra, sl_jargs_t *args)
{
    size_t total = n->args.n + n->kwargs.n + extra;
    sl_jv_t *vals = stack;
    const char **names = stack_names;

    if (total > SL_JMAX_STACK_ARGS) {
        vals = sl_jalloc(ctx, total * sizeof(*vals));
        names = sl_jalloc(ctx, (n->kwargs.n + extra) * sizeof(*names) + 1);
        if (vals == NULL || names == NULL)
            return -1;
    }
    for (size_t i = 0; i < n->args.n; i++)
        if (sl_jeval(ctx, f, n->args.items[i], &vals[i]) != 0)
            return -1;
    for (size_t i = 0; i < n->kwargs.n; i++) {
        if (sl_jeval(ctx, f, n->kwargs.items[i], &vals[n->args.n + i]) != 0)
            return -1;
        names[i] = n->kwnames[i];
    }
    *args = (sl_jargs_t){.npos = n->args.n, .pos = vals, .nkw = n->kwargs.n,
                         .kwnames = names, .kw = vals + n->args.n};
    ctx->pos = n->pos;
    return 0;
}

static int sl_jeval_filter(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n, sl_jv_t input,
                           sl_jv_t *out)
{
    sl_jv_t stack[SL_JMAX_STACK_ARGS], value;
    const char *names[SL_JMAX_STACK_ARGS];
    sl_jargs_t args;

    /* In a filter block's or set block's chain the innermost filter takes
     * INPUT (its operand is NULL). */
    if (n->a == NULL) {
        value = input;
    } else if (n->a->kind == SL_JN_FILTER) {
        int rc;
        if (sl_jenter(ctx, n->a) != 0)
            return -1;
        rc = sl_jeval_filter(ctx, f, n->a, input, &value);
        ctx->depth--;
        if (rc != 0)
            return -1;
    } else if (sl_jeval(ctx, f, n->a, &value) != 0) {
        return -1;
    }
    if (sl_jeval_args(ctx, f, n, stack, names, 0, &args) != 0)
        return -1;
    return sl_jfilter_call(ctx, n->fn, value, &args, out);
}

static int sl_jeval_call(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n, sl_jv_t caller,
                         sl_jv_t *out)
{
    sl_jv_t stack[SL_JMAX_STACK_ARGS], callee;
    const char *names[SL_JMAX_STACK_ARGS];
    sl_jargs_t args;
    bool with_caller = caller.kind == SL_JV_MACRO;

    if (sl_jeval(ctx, f, n->a, &callee) != 0 ||
        sl_jeval_args(ctx, f, n, stack, names, with_caller, &args) != 0)
        return -1;
    if (with_caller) {
        /* The caller goes in the keyword slot kept free after the others. */
        ((const char **)args.kwnames)[args.nkw] = "caller";
        ((sl_jv_t *)args.kw)[args.nkw] = caller;
        args.nkw++;
    }
    return sl_jcall(ctx, callee, &args, out);
}

/* ---- expressions ------------------------------------------------------------------------- */

static int sl_jeval_list(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n, sl_jkind_t kind,
                         sl_jv_t *out)
{
    if (sl_jlist_new(ctx, n->args.n, kind, out) != 0)
        return -1;
    for (size_t i = 0; i < n->args.n; i++) {
        if (sl_jeval(ctx, f, n->args.items[i], &out->u.list->items[i]) != 0)
            return -1;
        out->u.list->len++;
    }
    return 0;
}

static int sl_jeval_compare(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n, sl_jv_t *out)
{
    sl_jv_t left, right;

    if (sl_jeval(ctx, f, n->a, &left) != 0)
        return -1;
    for (size_t i = 0; i < n->args.n; i++) {
        bool result;
        if (sl_jeval(ctx, f, n->args.items[i], &right) != 0)
            return -1;
        ctx->pos = n->pos;
        if (sl_jop_compare(ctx, (sl_jop_t)n->ops[i], left, right, &result) != 0)
            return -1;
        if (!result) {
            *out = sl_jv_bool(false);
            return 0;
        }
        left = right;
    }
    *out = sl_jv_bool(true);
    return 0;
}

static int sl_jeval_inner(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n, sl_jv_t *out)
{
    sl_jv_t a, b, c, d;

    switch (n->kind) {
    case SL_JN_LITERAL:
        *out = n->lit;
        return 0;
    case SL_JN_NAME:
        return sl_jlookup(ctx, f, n->name, out);
    case SL_JN_LIST:
        return sl_jeval_list(ctx, f, n, SL_JV_LIST, out);
    case SL_JN_TUPLE:
        return sl_jeval_list(ctx, f, n, SL_JV_TUPLE, out);
    case SL_JN_DICT:
        if (sl_jdict_new(ctx, SL_JV_DICT, out) != 0)
            return -1;
        for (size_t i = 0; i + 1 < n->args.n; i += 2)
            if (sl_jeval(ctx, f, n->args.items[i], &a) != 0 ||
                sl_jeval(ctx, f, n->args.items[i + 1], &b) != 0 ||
                sl_jv_unhashable(ctx, a) != 0 || sl_jdict_set(ctx, out->u.dict, a, b) != 0)
                return -1;
        return 0;
    case SL_JN_ATTR:
        if (sl_jeval(ctx, f, n->a, &a) != 0)
            return -1;
        ctx->pos = n->pos;
        if (a.kind == SL_JV_UNDEFINED)
            return sl_jv_undef_error(ctx, a);
        return sl_jop_getattr(ctx, a, n->name, out);
    case SL_JN_ITEM:
        if (sl_jeval(ctx, f, n->a, &a) != 0 || sl_jeval(ctx, f, n->b, &b) != 0)
            return -1;
        ctx->pos = n->pos;
        if (a.kind == SL_JV_UNDEFINED)
            return sl_jv_undef_error(ctx, a);
        return sl_jop_getitem(ctx, a, b, out);
    case SL_JN_SLICE:
        b = c = d = sl_jv_none();
        if (sl_jeval(ctx, f, n->a, &a) != 0 || (n->b != NULL && sl_jeval(ctx, f, n->b, &b) != 0) ||
            (n->c != NULL && sl_jeval(ctx, f, n->c, &c) != 0) ||
            (n->d != NULL && sl_jeval(ctx, f, n->d, &d) != 0))
            return -1;
        ctx->pos = n->pos;
        if (a.kind == SL_JV_UNDEFINED)
            return sl_jv_undef_error(ctx, a);
        return sl_jop_slice(ctx, a, b, c, d, out);
    case SL_JN_CALL:
        return sl_jeval_call(ctx, f, n, sl_jv_undef(), out);
    case SL_JN_FILTER:
        return sl_jeval_filter(ctx, f, n, sl_jv_undef(), out);
    case SL_JN_TEST: {
        sl_jv_t stack[SL_JMAX_STACK_ARGS];
        const char *names[SL_JMAX_STACK_ARGS];
        sl_jargs_t args;
        bool result;

        if (sl_jeval(ctx, f, n->a, &a) != 0 ||
            sl_jeval_args(ctx, f, n, stack, names, 0, &args) != 0 ||
            ((const sl_jtest_t *)n->fn)->fn(ctx, a, &args, &result) != 0)
            return -1;
        *out = sl_jv_bool(result != (n->op != 0));
        return 0;
    }
    case SL_JN_UNARY:
        if (sl_jeval(ctx, f, n->a, &a) != 0)
            return -1;
        ctx->pos = n->pos;
        if (n->op == SL_JOP_NOT) {
            *out = sl_jv_bool(!sl_jv_truthy(a));
            return 0;
        }
        if (a.kind == SL_JV_FLOAT) {
            *out = sl_jv_float(n->op == SL_JOP_NEG ? -a.u.f : a.u.f);
            return 0;
        }
        return sl_jop_binary(ctx, n->op == SL_JOP_NEG ? SL_JOP_SUB : SL_JOP_ADD, sl_jv_int(0), a,
                             out);
    case SL_JN_BINARY:
        if (sl_jeval(ctx, f, n->a, &a) != 0)
            return -1;
        /* and/or return an operand, like Python. */
        if (n->op == SL_JOP_AND || n->op == SL_JOP_OR) {
            if (sl_jv_truthy(a) == (n->op == SL_JOP_OR)) {
                *out = a;
                return 0;
            }
            return sl_jeval(ctx, f, n->b, out);
        }
        if (sl_jeval(ctx, f, n->b, &b) != 0)
            return -1;
        ctx->pos = n->pos;
        return sl_jop_binary(ctx, (sl_jop_t)n->op, a, b, out);
    case SL_JN_COMPARE:
        return sl_jeval_compare(ctx, f, n, out);
    case SL_JN_COND:
        if (sl_jeval(ctx, f, n->a, &a) != 0)
            return -1;
        if (sl_jv_truthy(a))
            return sl_jeval(ctx, f, n->b, out);
        if (n->c != NULL)
            return sl_jeval(ctx, f, n->c, out);
        return sl_jv_undef_why(ctx, out, "the inline if expression evaluated to false and no "
                                         "else section was defined");
    default:
        return sl_jerr(ctx, "statement used as an expression");
    }
}

static int sl_jeval(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n, sl_jv_t *out)
{
    int rc;

    if (sl_jenter(ctx, n) != 0)
        return -1;
    rc = sl_jeval_inner(ctx, f, n, out);
    ctx->depth--;
    return rc;
}

/* ---- statements ------------------------------------------------------------------------- */

static int sl_jexec_for(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n)
{
    sl_jv_t iterable, loopv;
    sl_jlist_t *items;
    sl_jframe_t *inner;
    sl_jloop_t *loop;

    if (sl_jeval(ctx, f, n->a, &iterable) != 0)
        return -1;
    ctx->pos = n->pos;
    if (sl_jv_iterate(ctx, iterable, &items) != 0)
        return -1;
    inner = sl_jframe_new(ctx, f);
    loop = sl_jalloc(ctx, sizeof(*loop));
    if (inner == NULL || loop == NULL)
        return -1;
    memset(loop, 0, sizeof(*loop));
    if (n->b != NULL) {
        /* `for x in xs if cond`: filter first, so loop.length and
         * loop.last count only the items kept. */
        sl_jv_t kept;
        if (sl_jlist_new(ctx, 0, SL_JV_LIST, &kept) != 0)
            return -1;
        for (size_t i = 0; i < items->len; i++) {
            sl_jv_t cond;
            inner->n = 0;
            if (sl_jassign(ctx, inner, n, items->items[i]) != 0 ||
                sl_jeval(ctx, inner, n->b, &cond) != 0)
                return -1;
            if (sl_jv_truthy(cond) && sl_jlist_push(ctx, kept.u.list, items->items[i]) != 0)
                return -1;
        }
        items = kept.u.list;
    }
    loop->items = items;
    loop->length = items->len;
    loopv = (sl_jv_t){.kind = SL_JV_LOOP, .u.loop = loop};
    for (size_t i = 0; i < items->len; i++) {
        int rc;

        if (++ctx->iterations > ctx->limits.max_iterations) {
            ctx->pos = n->pos;
            return sl_jerr_status(ctx, SL_ERR_OVERFLOW,
                                  "the template ran more than the limit of %llu loop iterations",
                                  (unsigned long long)ctx->limits.max_iterations);
        }
        loop->index0 = i;
        inner->n = 0;
        if (sl_jassign(ctx, inner, n, items->items[i]) != 0 ||
            sl_jframe_set(ctx, inner, "loop", loopv) != 0)
            return -1;
        rc = sl_jexec(ctx, inner, &n->body);
        if (rc < 0)
            return -1;
        if (rc == SL_JFLOW_BREAK)
            break;
    }
    if (items->len == 0)
        return sl_jexec(ctx, f, &n->else_body);
    return 0;
}

static int sl_jexec_set(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n)
{
    sl_jv_t val, ns, key;

    if (n->kind == SL_JN_SETBLOCK) {
        if (sl_jcapture(ctx, f, &n->body, &val) != 0)
            return -1;
        if (n->c != NULL && sl_jeval_filter(ctx, f, n->c, val, &val) != 0)
            return -1;
    } else if (sl_jeval(ctx, f, n->a, &val) != 0) {
        return -1;
    }
    ctx->pos = n->pos;
    if (n->attr == NULL)
        return sl_jassign(ctx, f, n, val);
    if (sl_jlookup(ctx, f, n->name, &ns) != 0)
        return -1;
    if (ns.kind != SL_JV_NAMESPACE)
        return sl_jerr(ctx, "cannot assign attribute on non-namespace object");
    if (sl_jv_cstr(ctx, n->attr, &key) != 0)
        return -1;
    return sl_jdict_set(ctx, ns.u.dict, key, val);
}

static int sl_jexec_node(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_t *n)
{
    sl_jv_t v;
    sl_jmacro_t *m;
    sl_jframe_t *inner;

    switch (n->kind) {
    case SL_JN_TEXT:
        return sl_jbuf_put(ctx, ctx->out, n->lit.u.s->data, n->lit.u.s->len);
    case SL_JN_OUTPUT:
        if (sl_jeval(ctx, f, n->a, &v) != 0)
            return -1;
        ctx->pos = n->pos;
        return sl_jv_write_str(ctx, ctx->out, v);
    case SL_JN_IF:
        if (sl_jeval(ctx, f, n->a, &v) != 0)
            return -1;
        return sl_jexec(ctx, f, sl_jv_truthy(v) ? &n->body : &n->else_body);
    case SL_JN_FOR:
        return sl_jexec_for(ctx, f, n);
    case SL_JN_SET:
    case SL_JN_SETBLOCK:
        return sl_jexec_set(ctx, f, n);
    case SL_JN_MACRO:
    case SL_JN_CALLBLOCK:
        m = sl_jalloc(ctx, sizeof(*m));
        if (m == NULL)
            return -1;
        m->name = n->kind == SL_JN_MACRO ? n->name : "caller";
        m->node = n;
        m->closure = f;
        v = (sl_jv_t){.kind = SL_JV_MACRO, .u.macro = m};
        if (n->kind == SL_JN_MACRO)
            return sl_jframe_set(ctx, f, n->name, v);
        if (sl_jeval_call(ctx, f, n->a, v, &v) != 0)
            return -1;
        return sl_jv_write_str(ctx, ctx->out, v);
    case SL_JN_FILTERBLK:
        if (sl_jcapture(ctx, f, &n->body, &v) != 0 || sl_jeval_filter(ctx, f, n->c, v, &v) != 0)
            return -1;
        return sl_jv_write_str(ctx, ctx->out, v);
    case SL_JN_WITH:
        inner = sl_jframe_new(ctx, f);
        if (inner == NULL)
            return -1;
        for (size_t i = 0; i < n->ntargets; i++)
            if (sl_jeval(ctx, f, n->args.items[i], &v) != 0 ||
                sl_jframe_set(ctx, inner, n->targets[i], v) != 0)
                return -1;
        return sl_jexec(ctx, inner, &n->body);
    case SL_JN_BLOCK:
        /* jinja2 runs it as a call block: its own scope. */
        inner = sl_jframe_new(ctx, f);
        if (inner == NULL)
            return -1;
        return sl_jexec(ctx, inner, &n->body);
    case SL_JN_BREAK:
        return SL_JFLOW_BREAK;
    case SL_JN_CONTINUE:
        return SL_JFLOW_CONTINUE;
    default:
        return sl_jerr(ctx, "expression used as a statement");
    }
}

/* 0 when BODY ran to its end, SL_JFLOW_* when a break or continue left it,
 * -1 on error. */
static int sl_jexec(sl_jctx_t *ctx, sl_jframe_t *f, const sl_jnode_list_t *body)
{
    for (size_t i = 0; i < body->n; i++) {
        int rc;

        if (sl_jenter(ctx, body->items[i]) != 0)
            return -1;
        rc = sl_jexec_node(ctx, f, body->items[i]);
        ctx->depth--;
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- render --------------------------------------------------------------------------- */

void sl_jinja_render_opts_default(sl_jinja_render_opts_t *opts_p)
{
    *opts_p = (sl_jinja_render_opts_t){
        .limits = {.max_output = (size_t)64 << 20,
                   .max_memory = (size_t)512 << 20,
                   .max_steps = 50000000,
                   .max_iterations = 2000000,
                   .max_depth = 500},
        .now = 0,
    };
}

sl_status_t sl_jinja_render(const sl_jinja_template_t *tpl, const json_t *vars,
                            const sl_jinja_render_opts_t *opts, sl_jinja_error_t *error,
                            char **text_p, size_t *length_p)
{
    sl_jinja_render_opts_t defaults;
    sl_jctx_t ctx;
    sl_jbuf_t out = {0};
    const char *key;
    json_t *val;
    char *text;
    locale_t saved_locale;
    int rc;

    if (tpl == NULL || text_p == NULL || (vars != NULL && !json_is_object(vars)))
        return SL_ERR_INVALID_ARG;
    if (opts == NULL) {
        sl_jinja_render_opts_default(&defaults);
        opts = &defaults;
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.tpl = tpl;
    ctx.limits = opts->limits;
    ctx.now = opts->now;
    ctx.err = error;
    ctx.out = &out;
    ctx.pos = UINT32_MAX;
    sl_jarena_init(&ctx.arena, opts->limits.max_memory);
    ctx.root = sl_jframe_new(&ctx, NULL);
    if (ctx.root == NULL)
        goto err_arena;
    if (vars != NULL) {
        json_object_foreach((json_t *)vars, key, val) {
            sl_jv_t v, name;
            if (sl_jv_from_json(&ctx, val, &v) != 0 || sl_jv_cstr(&ctx, key, &name) != 0 ||
                sl_jframe_set(&ctx, ctx.root, name.u.s->data, v) != 0)
                goto err_arena;
        }
    }
    saved_locale = sl_jlocale_enter();
    rc = sl_jexec(&ctx, ctx.root, &tpl->body);
    sl_jlocale_leave(saved_locale);
    if (rc < 0)
        goto err_arena;
    text = malloc(out.len + 1);
    if (text == NULL) {
        ctx.pos = UINT32_MAX;
        sl_jerr_status(&ctx, SL_ERR_NO_MEMORY, "out of memory copying %zu bytes", out.len);
        goto err_arena;
    }
    if (out.len != 0)
        memcpy(text, out.data, out.len);
    text[out.len] = '\0';
    sl_jarena_free(&ctx.arena);
    *text_p = text;
    if (length_p != NULL)
        *length_p = out.len;
    return SL_OK;

err_arena:
    sl_jarena_free(&ctx.arena);
    return ctx.status != SL_OK ? ctx.status : SL_ERR_INTERNAL;
}
