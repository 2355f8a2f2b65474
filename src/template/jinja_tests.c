/* jinja_tests.c - jinja2's built-in tests ("x is defined", "x is string"),
 * with Python's type rules: a bool is a number, a string is a sequence, an
 * undefined value is iterable and a sequence (jinja2's Undefined defines
 * __iter__, __len__ and __getitem__). */
#include "config.h"

#include <string.h>

#include "template/jinja_internal.h"

static int sl_jt_noarg(sl_jctx_t *ctx, const char *name, const sl_jargs_t *args)
{
    if (args->npos + args->nkw != 0)
        return sl_jerr(ctx, "the '%s' test takes no arguments", name);
    return 0;
}

/* The one argument of a test like `divisibleby 3` or `equalto(x)`. */
static int sl_jt_arg(sl_jctx_t *ctx, const char *name, const sl_jargs_t *args, sl_jv_t *out)
{
    if (args->npos == 1 && args->nkw == 0) {
        *out = args->pos[0];
        return 0;
    }
    if (args->npos == 0 && args->nkw == 1) {
        *out = args->kw[0];
        return 0;
    }
    return sl_jerr(ctx, "the '%s' test takes one argument", name);
}

#define SL_JTEST_KIND(fn, label, expr)                                                   \
    static int fn(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)          \
    {                                                                                    \
        if (sl_jt_noarg(ctx, label, args) != 0)                                          \
            return -1;                                                                   \
        *out = (expr);                                                                   \
        return 0;                                                                        \
    }

SL_JTEST_KIND(sl_jt_defined, "defined", v.kind != SL_JV_UNDEFINED)
SL_JTEST_KIND(sl_jt_undefined, "undefined", v.kind == SL_JV_UNDEFINED)
SL_JTEST_KIND(sl_jt_none, "none", v.kind == SL_JV_NONE)
SL_JTEST_KIND(sl_jt_boolean, "boolean", v.kind == SL_JV_BOOL)
SL_JTEST_KIND(sl_jt_true, "true", v.kind == SL_JV_BOOL && v.u.b)
SL_JTEST_KIND(sl_jt_false, "false", v.kind == SL_JV_BOOL && !v.u.b)
SL_JTEST_KIND(sl_jt_integer, "integer", v.kind == SL_JV_INT)
SL_JTEST_KIND(sl_jt_float, "float", v.kind == SL_JV_FLOAT)
SL_JTEST_KIND(sl_jt_number, "number", sl_jv_is_num(v))
SL_JTEST_KIND(sl_jt_string, "string", v.kind == SL_JV_STR)
SL_JTEST_KIND(sl_jt_mapping, "mapping", v.kind == SL_JV_DICT)
/* jinja2's Undefined defines __call__ (to fail), so it is callable. */
SL_JTEST_KIND(sl_jt_callable, "callable",
              v.kind == SL_JV_FUNC || v.kind == SL_JV_MACRO || v.kind == SL_JV_UNDEFINED)
SL_JTEST_KIND(sl_jt_escaped, "escaped", false)
SL_JTEST_KIND(sl_jt_iterable, "iterable",
              v.kind == SL_JV_STR || sl_jv_is_iter(v) || v.kind == SL_JV_DICT ||
                  v.kind == SL_JV_UNDEFINED || v.kind == SL_JV_LOOP)
SL_JTEST_KIND(sl_jt_sequence, "sequence",
              v.kind == SL_JV_STR || sl_jv_is_seq(v) || v.kind == SL_JV_DICT ||
                  v.kind == SL_JV_UNDEFINED)

static int sl_jt_parity(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out, bool odd)
{
    sl_jv_t r;

    if (sl_jt_noarg(ctx, odd ? "odd" : "even", args) != 0 ||
        sl_jop_binary(ctx, SL_JOP_MOD, v, sl_jv_int(2), &r) != 0)
        return -1;
    *out = sl_jv_eq(r, sl_jv_int(odd ? 1 : 0));
    return 0;
}

static int sl_jt_odd(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)
{
    return sl_jt_parity(ctx, v, args, out, true);
}

static int sl_jt_even(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)
{
    return sl_jt_parity(ctx, v, args, out, false);
}

static int sl_jt_divisibleby(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)
{
    sl_jv_t n, r;

    if (sl_jt_arg(ctx, "divisibleby", args, &n) != 0 ||
        sl_jop_binary(ctx, SL_JOP_MOD, v, n, &r) != 0)
        return -1;
    *out = sl_jv_eq(r, sl_jv_int(0));
    return 0;
}

static int sl_jt_case(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out, bool upper)
{
    sl_jv_t s;
    bool cased = false;
    size_t i = 0;

    if (sl_jt_noarg(ctx, upper ? "upper" : "lower", args) != 0 || sl_jv_to_str(ctx, v, &s) != 0)
        return -1;
    *out = true;
    while (i < s.u.s->len) {
        uint32_t cp = sl_jutf8_next(s.u.s->data, s.u.s->len, &i);
        if (upper ? sl_jis_lower(cp) : sl_jis_upper(cp))
            *out = false;
        cased = cased || (upper ? sl_jis_upper(cp) : sl_jis_lower(cp));
    }
    *out = *out && cased;
    return 0;
}

static int sl_jt_upper(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)
{
    return sl_jt_case(ctx, v, args, out, true);
}

static int sl_jt_lower(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)
{
    return sl_jt_case(ctx, v, args, out, false);
}

static int sl_jt_compare(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out,
                         const char *name, sl_jop_t op)
{
    sl_jv_t other;

    if (sl_jt_arg(ctx, name, args, &other) != 0)
        return -1;
    return sl_jop_compare(ctx, op, v, other, out);
}

#define SL_JTEST_CMP(fn, label, op)                                                      \
    static int fn(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)          \
    {                                                                                    \
        return sl_jt_compare(ctx, v, args, out, label, op);                              \
    }

SL_JTEST_CMP(sl_jt_eq, "eq", SL_JOP_EQ)
SL_JTEST_CMP(sl_jt_ne, "ne", SL_JOP_NE)
SL_JTEST_CMP(sl_jt_lt, "lt", SL_JOP_LT)
SL_JTEST_CMP(sl_jt_le, "le", SL_JOP_LE)
SL_JTEST_CMP(sl_jt_gt, "gt", SL_JOP_GT)
SL_JTEST_CMP(sl_jt_ge, "ge", SL_JOP_GE)
SL_JTEST_CMP(sl_jt_in, "in", SL_JOP_IN)

/* Python's `is`: singletons and numbers by value, containers by identity. */
static int sl_jt_sameas(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)
{
    sl_jv_t other;

    if (sl_jt_arg(ctx, "sameas", args, &other) != 0)
        return -1;
    if (v.kind != other.kind)
        *out = false;
    else if (sl_jv_is_iter(v) || sl_jv_is_map(v))
        *out = v.u.list == other.u.list;
    else if (v.kind == SL_JV_STR)
        *out = v.u.s == other.u.s;
    else
        *out = sl_jv_eq(v, other);
    return 0;
}

static int sl_jt_filter(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)
{
    if (sl_jt_noarg(ctx, "filter", args) != 0)
        return -1;
    *out = v.kind == SL_JV_STR && sl_jfilter_find(v.u.s->data) != NULL;
    return 0;
}

static int sl_jt_test(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, bool *out)
{
    if (sl_jt_noarg(ctx, "test", args) != 0)
        return -1;
    *out = v.kind == SL_JV_STR && sl_jtest_find(v.u.s->data) != NULL;
    return 0;
}

static const sl_jtest_t sl_jtests[] = {
    {"boolean", sl_jt_boolean},   {"callable", sl_jt_callable}, {"defined", sl_jt_defined},
    {"divisibleby", sl_jt_divisibleby}, {"eq", sl_jt_eq},      {"equalto", sl_jt_eq},
    {"==", sl_jt_eq},             {"escaped", sl_jt_escaped},   {"even", sl_jt_even},
    {"false", sl_jt_false},       {"filter", sl_jt_filter},     {"float", sl_jt_float},
    {"ge", sl_jt_ge},             {">=", sl_jt_ge},             {"gt", sl_jt_gt},
    {"greaterthan", sl_jt_gt},    {">", sl_jt_gt},              {"in", sl_jt_in},
    {"integer", sl_jt_integer},   {"iterable", sl_jt_iterable}, {"le", sl_jt_le},
    {"<=", sl_jt_le},             {"lower", sl_jt_lower},       {"lt", sl_jt_lt},
    {"lessthan", sl_jt_lt},       {"<", sl_jt_lt},              {"mapping", sl_jt_mapping},
    {"ne", sl_jt_ne},             {"!=", sl_jt_ne},             {"none", sl_jt_none},
    {"number", sl_jt_number},     {"odd", sl_jt_odd},           {"sameas", sl_jt_sameas},
    {"sequence", sl_jt_sequence}, {"string", sl_jt_string},     {"test", sl_jt_test},
    {"true", sl_jt_true},         {"undefined", sl_jt_undefined}, {"upper", sl_jt_upper},
};

const sl_jtest_t *sl_jtest_find(const char *name)
{
    for (size_t i = 0; i < sizeof(sl_jtests) / sizeof(sl_jtests[0]); i++)
        if (strcmp(sl_jtests[i].name, name) == 0)
            return &sl_jtests[i];
    return NULL;
}
