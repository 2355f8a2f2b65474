/* jinja_filters.c - jinja2's built-in filters that chat templates use, with
 * jinja2's argument names and defaults, and transformers' own tojson
 * (json.dumps with ensure_ascii=False and no HTML escaping).
 *
 * Filters that return generators in jinja2 (map, select...) return lists
 * here; templates only ever join, iterate or `|list` them. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja_internal.h"

static int sl_jstr_arg(sl_jctx_t *ctx, sl_jv_t v, const sl_jstr_t **out)
{
    sl_jv_t s;

    if (sl_jv_to_str(ctx, v, &s) != 0)
        return -1;
    *out = s.u.s;
    return 0;
}

static int sl_jno_args(sl_jctx_t *ctx, const char *name, const sl_jargs_t *args)
{
    if (args->npos + args->nkw != 0)
        return sl_jerr(ctx, "the %s filter takes no arguments", name);
    return 0;
}

/* ---- strings ------------------------------------------------------------------------------- */

static int sl_jf_case(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out,
                      const char *name, int mode)
{
    const sl_jstr_t *s;

    if (sl_jno_args(ctx, name, args) != 0 || sl_jstr_arg(ctx, v, &s) != 0)
        return -1;
    return sl_jstr_case(ctx, s, mode, out);
}

static int sl_jf_upper(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jf_case(ctx, v, args, out, "upper", SL_JCASE_UPPER);
}

static int sl_jf_lower(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jf_case(ctx, v, args, out, "lower", SL_JCASE_LOWER);
}

static int sl_jf_capitalize(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jf_case(ctx, v, args, out, "capitalize", SL_JCASE_CAPITALIZE);
}

/* jinja2's title: words start after whitespace or one of -({[<. */
static int sl_jf_title(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    const sl_jstr_t *s;
    sl_jbuf_t buf = {0};
    bool start = true;
    size_t i = 0;

    if (sl_jno_args(ctx, "title", args) != 0 || sl_jstr_arg(ctx, v, &s) != 0)
        return -1;
    while (i < s->len) {
        size_t from = i;
        uint32_t cp = sl_jutf8_next(s->data, s->len, &i);
        bool sep = sl_jisspace(cp) || (cp < 0x80 && strchr("-({[<", (int)cp) != NULL && cp);
        sl_jv_t piece;

        if (sep) {
            if (sl_jbuf_put(ctx, &buf, s->data + from, i - from) != 0)
                return -1;
            start = true;
            continue;
        }
        if (sl_jv_str(ctx, s->data + from, i - from, &piece) != 0 ||
            sl_jstr_case(ctx, piece.u.s, start ? SL_JCASE_UPPER : SL_JCASE_LOWER, &piece) != 0 ||
            sl_jbuf_put(ctx, &buf, piece.u.s->data, piece.u.s->len) != 0)
            return -1;
        start = false;
    }
    return sl_jbuf_value(ctx, &buf, out);
}

static int sl_jf_trim(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t chars = sl_jv_none();
    const sl_jstr_t *s;

    if (sl_jbind(ctx, "trim", args, SL_JPARAMS("chars"), &chars) != 0 ||
        sl_jstr_arg(ctx, v, &s) != 0)
        return -1;
    return sl_jstr_strip(ctx, s, chars, true, true, out);
}

static int sl_jf_replace(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[3] = {sl_jv_undef(), sl_jv_undef(), sl_jv_none()};
    const sl_jstr_t *s, *old, *repl;
    int64_t count = -1;

    if (sl_jbind(ctx, "replace", args, SL_JPARAMS("old", "new", "count"), slots) != 0 ||
        sl_jstr_arg(ctx, v, &s) != 0 || sl_jstr_arg(ctx, slots[0], &old) != 0 ||
        sl_jstr_arg(ctx, slots[1], &repl) != 0)
        return -1;
    if (slots[2].kind == SL_JV_INT)
        count = slots[2].u.i;
    return sl_jstr_replace(ctx, s, old, repl, count, out);
}

static int sl_jf_string(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    if (sl_jno_args(ctx, "string", args) != 0)
        return -1;
    return sl_jv_to_str(ctx, v, out);
}

static int sl_jf_safe(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    if (sl_jno_args(ctx, "safe", args) != 0)
        return -1;
    /* Markup(str(v)); autoescape is off in chat templates, so Markup is
     * plain text. */
    return sl_jv_to_str(ctx, v, out);
}

static int sl_jf_escape(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    const sl_jstr_t *s;
    sl_jbuf_t buf = {0};

    if (sl_jno_args(ctx, "escape", args) != 0 || sl_jstr_arg(ctx, v, &s) != 0)
        return -1;
    for (size_t i = 0; i < s->len; i++) {
        const char *rep = NULL;
        switch (s->data[i]) {
        case '&':  rep = "&amp;"; break;
        case '<':  rep = "&lt;"; break;
        case '>':  rep = "&gt;"; break;
        case '"':  rep = "&#34;"; break;
        case '\'': rep = "&#39;"; break;
        }
        if (rep != NULL ? sl_jbuf_puts(ctx, &buf, rep) != 0
                        : sl_jbuf_put(ctx, &buf, s->data + i, 1) != 0)
            return -1;
    }
    return sl_jbuf_value(ctx, &buf, out);
}

static int sl_jf_indent(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[3] = {sl_jv_int(4), sl_jv_bool(false), sl_jv_bool(false)}, lines;
    sl_jbuf_t ind = {0}, buf = {0};
    const sl_jstr_t *s;
    bool first, blank;

    if (sl_jbind(ctx, "indent", args, SL_JPARAMS("width", "first", "blank"), slots) != 0)
        return -1;
    /* jinja2 appends "\n" to the value itself: only strings work. */
    if (v.kind != SL_JV_STR)
        return v.kind == SL_JV_UNDEFINED ? sl_jv_undef_error(ctx, v)
                                         : sl_jerr(ctx, "unsupported operand type(s) for +=: "
                                                        "'%s' and 'str'", sl_jv_type_name(v));
    s = v.u.s;
    first = sl_jv_truthy(slots[1]);
    blank = sl_jv_truthy(slots[2]);
    if (slots[0].kind == SL_JV_STR) {
        if (sl_jbuf_put(ctx, &ind, slots[0].u.s->data, slots[0].u.s->len) != 0)
            return -1;
    } else if (slots[0].kind == SL_JV_INT || slots[0].kind == SL_JV_BOOL) {
        int64_t w = slots[0].kind == SL_JV_BOOL ? slots[0].u.b : slots[0].u.i;
        for (int64_t i = 0; i < w; i++)
            if (sl_jbuf_put(ctx, &ind, " ", 1) != 0)
                return -1;
    } else {
        return sl_jerr(ctx, "indent width must be an int or a string");
    }
    /* jinja2 appends a newline so splitlines() keeps a trailing empty line. */
    {
        sl_jbuf_t tmp = {0};
        sl_jv_t t;
        if (sl_jbuf_put(ctx, &tmp, s->data, s->len) != 0 || sl_jbuf_put(ctx, &tmp, "\n", 1) != 0 ||
            sl_jbuf_value(ctx, &tmp, &t) != 0 || sl_jstr_splitlines(ctx, t.u.s, &lines) != 0)
            return -1;
    }
    for (size_t i = 0; i < lines.u.list->len; i++) {
        const sl_jstr_t *line = lines.u.list->items[i].u.s;
        bool pad = (i == 0 && first) || (i != 0 && (blank || line->len != 0));
        if ((i != 0 && sl_jbuf_put(ctx, &buf, "\n", 1) != 0) ||
            (pad && sl_jbuf_put(ctx, &buf, ind.data, ind.len) != 0) ||
            sl_jbuf_put(ctx, &buf, line->data, line->len) != 0)
            return -1;
    }
    return sl_jbuf_value(ctx, &buf, out);
}

static int sl_jf_center(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t width = sl_jv_int(80);
    const sl_jstr_t *s;
    sl_jbuf_t buf = {0};
    int64_t len, marg, left;

    if (sl_jbind(ctx, "center", args, SL_JPARAMS("width"), &width) != 0 ||
        sl_jstr_arg(ctx, v, &s) != 0)
        return -1;
    if (width.kind != SL_JV_INT)
        return sl_jerr(ctx, "center width must be an int");
    len = (int64_t)sl_jutf8_count(s->data, s->len);
    marg = width.u.i - len;
    if (marg <= 0) {
        *out = (sl_jv_t){.kind = SL_JV_STR, .u.s = s};
        return 0;
    }
    /* CPython's str.center split of the margin. */
    left = marg / 2 + (marg & width.u.i & 1);
    for (int64_t i = 0; i < marg; i++) {
        if (i == left && sl_jbuf_put(ctx, &buf, s->data, s->len) != 0)
            return -1;
        if (sl_jbuf_put(ctx, &buf, " ", 1) != 0)
            return -1;
    }
    if (left == marg && sl_jbuf_put(ctx, &buf, s->data, s->len) != 0)
        return -1;
    return sl_jbuf_value(ctx, &buf, out);
}

static int sl_jf_wordcount(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    const sl_jstr_t *s;
    int64_t n = 0;
    bool in_word = false;
    size_t i = 0;

    if (sl_jno_args(ctx, "wordcount", args) != 0 || sl_jstr_arg(ctx, v, &s) != 0)
        return -1;
    while (i < s->len) {
        uint32_t cp = sl_jutf8_next(s->data, s->len, &i);
        bool word = sl_jis_alpha(cp) || (cp >= '0' && cp <= '9') || cp == '_';
        n += word && !in_word;
        in_word = word;
    }
    *out = sl_jv_int(n);
    return 0;
}

static int sl_jf_format(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    const sl_jstr_t *s;
    sl_jv_t fmt_args;

    if (sl_jstr_arg(ctx, v, &s) != 0)
        return -1;
    if (args->nkw != 0) {
        if (args->npos != 0)
            return sl_jerr(ctx, "can't handle positional and keyword arguments at the same time");
        if (sl_jdict_new(ctx, SL_JV_DICT, &fmt_args) != 0)
            return -1;
        for (size_t k = 0; k < args->nkw; k++) {
            sl_jv_t key;
            if (sl_jv_cstr(ctx, args->kwnames[k], &key) != 0 ||
                sl_jdict_set(ctx, fmt_args.u.dict, key, args->kw[k]) != 0)
                return -1;
        }
    } else {
        if (sl_jlist_new(ctx, args->npos, SL_JV_TUPLE, &fmt_args) != 0)
            return -1;
        for (size_t i = 0; i < args->npos; i++)
            fmt_args.u.list->items[fmt_args.u.list->len++] = args->pos[i];
    }
    return sl_jstr_percent(ctx, s, fmt_args, out);
}

/* ---- numbers --------------------------------------------------------------------------------- */

static bool sl_jascii_space(char c)
{
    return c == ' ' || (c >= 9 && c <= 13);
}

/* Python's int(text, base) and float(text): whitespace around, underscores
 * between digits. */
static bool sl_jparse_number(const sl_jstr_t *s, bool as_int, int base, sl_jv_t *out)
{
    char buf[128], *end;
    size_t n = 0, i = 0, len = s->len;

    while (i < len && sl_jascii_space(s->data[i]))
        i++;
    while (len > i && sl_jascii_space(s->data[len - 1]))
        len--;
    if (i == len || len - i >= sizeof(buf))
        return false;
    for (; i < len; i++) {
        char c = s->data[i];
        if (c == '_' && n > 0 && i + 1 < len && buf[n - 1] != '_')
            continue;
        buf[n++] = c;
    }
    buf[n] = '\0';
    if (as_int) {
        long long v;
        if (strchr(buf, '.') != NULL || strchr(buf, ' ') != NULL)
            return false;
        v = strtoll(buf, &end, base);
        if (*end != '\0')
            return false;
        *out = sl_jv_int(v);
        return true;
    }
    *out = sl_jv_float(strtod(buf, &end));
    return *end == '\0';
}

static int sl_jf_int(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[2] = {sl_jv_int(0), sl_jv_int(10)}, f;

    if (sl_jbind(ctx, "int", args, SL_JPARAMS("default", "base"), slots) != 0)
        return -1;
    switch (v.kind) {
    case SL_JV_INT:  *out = v; return 0;
    case SL_JV_BOOL: *out = sl_jv_int(v.u.b); return 0;
    case SL_JV_FLOAT:
        if (isfinite(v.u.f) && fabs(v.u.f) < 9.2e18) {
            *out = sl_jv_int((int64_t)v.u.f);
            return 0;
        }
        if (isfinite(v.u.f))
            return sl_jerr_status(ctx, SL_ERR_UNSUPPORTED, "int(%g) does not fit 64 bits", v.u.f);
        break;
    case SL_JV_STR:
        if (sl_jparse_number(v.u.s, true, slots[1].kind == SL_JV_INT ? (int)slots[1].u.i : 10, out))
            return 0;
        if (sl_jparse_number(v.u.s, false, 10, &f) && isfinite(f.u.f) && fabs(f.u.f) < 9.2e18) {
            *out = sl_jv_int((int64_t)f.u.f);
            return 0;
        }
        break;
    case SL_JV_UNDEFINED:
        return sl_jv_undef_error(ctx, v);
    default:
        break;
    }
    *out = slots[0];
    return 0;
}

static int sl_jf_float(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t def = sl_jv_float(0.0);

    if (sl_jbind(ctx, "float", args, SL_JPARAMS("default"), &def) != 0)
        return -1;
    if (sl_jv_is_num(v)) {
        *out = sl_jv_float(sl_jv_num(v));
        return 0;
    }
    if (v.kind == SL_JV_UNDEFINED)
        return sl_jv_undef_error(ctx, v);
    if (v.kind == SL_JV_STR && sl_jparse_number(v.u.s, false, 10, out))
        return 0;
    *out = def;
    return 0;
}

static int sl_jf_round(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[2] = {sl_jv_int(0), sl_jv_undef()};
    const char *method = "common";
    int64_t prec;
    double x, scale;

    if (sl_jbind(ctx, "round", args, SL_JPARAMS("precision", "method"), slots) != 0)
        return -1;
    if (slots[1].kind == SL_JV_STR)
        method = slots[1].u.s->data;
    if (strcmp(method, "common") != 0 && strcmp(method, "ceil") != 0 &&
        strcmp(method, "floor") != 0)
        return sl_jerr(ctx, "method must be common, ceil or floor");
    if (!sl_jv_is_num(v))
        return v.kind == SL_JV_UNDEFINED ? sl_jv_undef_error(ctx, v)
                                         : sl_jerr(ctx, "round needs a number");
    if (slots[0].kind != SL_JV_INT && slots[0].kind != SL_JV_BOOL)
        return sl_jerr(ctx, "round precision must be an int");
    prec = slots[0].kind == SL_JV_BOOL ? slots[0].u.b : slots[0].u.i;
    x = sl_jv_num(v);
    if (prec > 300)
        prec = 300;
    if (prec < -300)
        prec = -300;
    scale = pow(10.0, (double)prec);
    if (strcmp(method, "common") != 0) {
        x = method[0] == 'c' ? ceil(x * scale) : floor(x * scale);
        *out = sl_jv_float(x / scale);
        return 0;
    }
    if (v.kind != SL_JV_FLOAT && prec >= 0) {
        /* round(int, n) stays an int in Python. */
        *out = sl_jv_int(v.kind == SL_JV_BOOL ? v.u.b : v.u.i);
        return 0;
    }
    if (prec == 0) {
        *out = sl_jv_float(nearbyint(x));
    } else if (prec > 0) {
        /* printf rounds the exact binary value half-to-even, as Python's
         * round() does. */
        char buf[400];
        snprintf(buf, sizeof(buf), "%.*f", (int)prec, x);
        *out = sl_jv_float(strtod(buf, NULL));
    } else {
        *out = sl_jv_float(nearbyint(x / (1.0 / scale)) * (1.0 / scale));
    }
    if (v.kind != SL_JV_FLOAT)
        *out = sl_jv_int((int64_t)out->u.f);
    return 0;
}

static int sl_jf_abs(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    if (sl_jno_args(ctx, "abs", args) != 0)
        return -1;
    if (v.kind == SL_JV_FLOAT) {
        *out = sl_jv_float(fabs(v.u.f));
        return 0;
    }
    if (v.kind == SL_JV_INT || v.kind == SL_JV_BOOL) {
        int64_t i = v.kind == SL_JV_BOOL ? v.u.b : v.u.i;
        if (i == INT64_MIN)
            return sl_jerr(ctx, "integer overflow in abs");
        *out = sl_jv_int(i < 0 ? -i : i);
        return 0;
    }
    return sl_jerr(ctx, "bad operand type for abs(): '%s'", sl_jv_type_name(v));
}

/* ---- sequences ------------------------------------------------------------------------------- */

static int sl_jf_length(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    size_t n;

    if (sl_jno_args(ctx, "length", args) != 0 || sl_jv_len(ctx, v, &n) != 0)
        return -1;
    *out = sl_jv_int((int64_t)n);
    return 0;
}

static int sl_jf_list(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jlist_t *items;

    if (sl_jno_args(ctx, "list", args) != 0 || sl_jv_iterate(ctx, v, &items) != 0 ||
        sl_jlist_new(ctx, items->len, SL_JV_LIST, out) != 0)
        return -1;
    if (items->len != 0)
        memcpy(out->u.list->items, items->items, items->len * sizeof(sl_jv_t));
    out->u.list->len = items->len;
    return 0;
}

static int sl_jf_first_last(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out,
                            bool last)
{
    sl_jlist_t *items;

    if (sl_jno_args(ctx, last ? "last" : "first", args) != 0)
        return -1;
    /* last is next(reversed(seq)), which iterators refuse. */
    if (last && sl_jv_is_iter(v) &&
        (v.u.list->flavor == SL_JSEQ_GENERATOR || v.u.list->flavor == SL_JSEQ_REVERSED))
        return sl_jerr(ctx, "'%s' object is not reversible", sl_jv_type_name(v));
    if (sl_jv_iterate(ctx, v, &items) != 0)
        return -1;
    if (items->len == 0)
        return sl_jv_undef_why(ctx, out, "No %s item, sequence was empty.",
                               last ? "last" : "first");
    *out = items->items[last ? items->len - 1 : 0];
    return 0;
}

static int sl_jf_first(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jf_first_last(ctx, v, args, out, false);
}

static int sl_jf_last(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jf_first_last(ctx, v, args, out, true);
}

static int sl_jf_reverse(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jlist_t *items;

    if (sl_jno_args(ctx, "reverse", args) != 0)
        return -1;
    if (v.kind == SL_JV_STR)
        return sl_jop_slice(ctx, v, sl_jv_none(), sl_jv_none(), sl_jv_int(-1), out);
    if (sl_jv_iterate(ctx, v, &items) != 0 || sl_jlist_new(ctx, items->len, SL_JV_LIST, out) != 0)
        return -1;
    for (size_t i = 0; i < items->len; i++)
        out->u.list->items[i] = items->items[items->len - 1 - i];
    out->u.list->len = items->len;
    /* jinja2 returns reversed(value), an iterator, for what supports it,
     * and a reversed list for iterators (generators) and strings. */
    if (v.kind != SL_JV_STR && !(sl_jv_is_iter(v) && (v.u.list->flavor == SL_JSEQ_GENERATOR ||
                                                      v.u.list->flavor == SL_JSEQ_REVERSED)))
        out->u.list->flavor = SL_JSEQ_REVERSED;
    return 0;
}

int sl_jf_items(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    if (sl_jno_args(ctx, "items", args) != 0)
        return -1;
    if (v.kind == SL_JV_UNDEFINED)
        return sl_jlist_new(ctx, 0, SL_JV_LIST, out);
    if (v.kind != SL_JV_DICT)
        return sl_jerr(ctx, "Can only get item pairs from a mapping.");
    if (sl_jlist_new(ctx, v.u.dict->len, SL_JV_LIST, out) != 0)
        return -1;
    for (size_t i = 0; i < v.u.dict->len; i++) {
        sl_jv_t pair;
        if (sl_jlist_new(ctx, 2, SL_JV_TUPLE, &pair) != 0)
            return -1;
        pair.u.list->items[0] = v.u.dict->keys[i];
        pair.u.list->items[1] = v.u.dict->vals[i];
        pair.u.list->len = 2;
        out->u.list->items[out->u.list->len++] = pair;
    }
    return 0;
}

static int sl_jf_join(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[2] = {sl_jv_undef(), sl_jv_none()};
    sl_jlist_t *items;
    sl_jbuf_t buf = {0};
    const sl_jstr_t *sep;

    if (sl_jbind(ctx, "join", args, SL_JPARAMS("d", "attribute"), slots) != 0 ||
        sl_jv_iterate(ctx, v, &items) != 0)
        return -1;
    if (slots[0].kind == SL_JV_UNDEFINED && sl_jv_str(ctx, "", 0, &slots[0]) != 0)
        return -1;
    if (sl_jstr_arg(ctx, slots[0], &sep) != 0)
        return -1;
    for (size_t i = 0; i < items->len; i++) {
        sl_jv_t item = items->items[i];
        if (slots[1].kind != SL_JV_NONE && sl_jop_getpath(ctx, item, slots[1], &item) != 0)
            return -1;
        if ((i != 0 && sl_jbuf_put(ctx, &buf, sep->data, sep->len) != 0) ||
            sl_jv_write_str(ctx, &buf, item) != 0)
            return -1;
    }
    return sl_jbuf_value(ctx, &buf, out);
}

static int sl_jf_default(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[2] = {sl_jv_undef(), sl_jv_bool(false)};

    if (sl_jbind(ctx, "default", args, SL_JPARAMS("default_value", "boolean"), slots) != 0)
        return -1;
    if (slots[0].kind == SL_JV_UNDEFINED && sl_jv_str(ctx, "", 0, &slots[0]) != 0)
        return -1;
    if (v.kind == SL_JV_UNDEFINED || (sl_jv_truthy(slots[1]) && !sl_jv_truthy(v)))
        *out = slots[0];
    else
        *out = v;
    return 0;
}

static int sl_jf_attr(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t name = sl_jv_undef();
    bool found;

    if (sl_jbind(ctx, "attr", args, SL_JPARAMS("name"), &name) != 0)
        return -1;
    if (name.kind != SL_JV_STR)
        return sl_jerr(ctx, "attribute name must be a string");
    if (v.kind == SL_JV_NAMESPACE || v.kind == SL_JV_LOOP)
        return sl_jop_getattr(ctx, v, name.u.s->data, out);
    if (sl_jmethod_lookup(ctx, v, name.u.s->data, &found, out) != 0)
        return -1;
    if (!found)
        return sl_jv_undef_why(ctx, out, "'%s object' has no attribute '%s'", sl_jv_type_name(v),
                               name.u.s->data);
    return 0;
}

/* ---- tojson ---------------------------------------------------------------------------------- */

static int sl_jf_tojson(sl_jctx_t *ctx, sl_jv_t v, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[4] = {sl_jv_bool(false), sl_jv_none(), sl_jv_none(), sl_jv_bool(false)};
    sl_jjson_opts_t o = {.item_sep = ", ", .key_sep = ": ", .item_sep_len = 2, .key_sep_len = 2};
    sl_jbuf_t ind = {0}, buf = {0};

    if (sl_jbind(ctx, "tojson", args,
                 SL_JPARAMS("ensure_ascii", "indent", "separators", "sort_keys"), slots) != 0)
        return -1;
    o.ensure_ascii = sl_jv_truthy(slots[0]);
    o.sort_keys = sl_jv_truthy(slots[3]);
    if (slots[1].kind == SL_JV_STR) {
        o.indent_set = true;
        o.indent = slots[1].u.s->data;
        o.indent_len = slots[1].u.s->len;
    } else if (slots[1].kind == SL_JV_INT || slots[1].kind == SL_JV_BOOL) {
        int64_t w = slots[1].kind == SL_JV_BOOL ? slots[1].u.b : slots[1].u.i;
        for (int64_t i = 0; i < w && i < 1000; i++)
            if (sl_jbuf_put(ctx, &ind, " ", 1) != 0)
                return -1;
        o.indent_set = true;
        o.indent = ind.len ? ind.data : "";
        o.indent_len = ind.len;
    } else if (slots[1].kind != SL_JV_NONE) {
        return sl_jerr(ctx, "tojson indent must be an int or a string");
    }
    if (o.indent_set) {
        o.item_sep = ",";
        o.item_sep_len = 1;
    }
    if (slots[2].kind != SL_JV_NONE) {
        sl_jv_t sep = slots[2];
        if (!sl_jv_is_seq(sep) || sep.u.list->len != 2 || sep.u.list->items[0].kind != SL_JV_STR ||
            sep.u.list->items[1].kind != SL_JV_STR)
            return sl_jerr(ctx, "tojson separators must be two strings");
        o.item_sep = sep.u.list->items[0].u.s->data;
        o.item_sep_len = sep.u.list->items[0].u.s->len;
        o.key_sep = sep.u.list->items[1].u.s->data;
        o.key_sep_len = sep.u.list->items[1].u.s->len;
    }
    if (sl_jv_write_json(ctx, &buf, v, &o) != 0)
        return -1;
    return sl_jbuf_value(ctx, &buf, out);
}

static const sl_jfilter_t sl_jfilters[] = {
    {"abs", sl_jf_abs, false},
    {"attr", sl_jf_attr, false},
    {"capitalize", sl_jf_capitalize, false},
    {"center", sl_jf_center, false},
    {"count", sl_jf_length, false},
    {"d", sl_jf_default, false},
    {"default", sl_jf_default, false},
    {"e", sl_jf_escape, false},
    {"escape", sl_jf_escape, false},
    {"first", sl_jf_first, false},
    {"float", sl_jf_float, false},
    {"format", sl_jf_format, false},
    {"indent", sl_jf_indent, false},
    {"int", sl_jf_int, false},
    {"items", sl_jf_items, true},
    {"join", sl_jf_join, false},
    {"last", sl_jf_last, false},
    {"length", sl_jf_length, false},
    {"list", sl_jf_list, false},
    {"lower", sl_jf_lower, false},
    {"replace", sl_jf_replace, false},
    {"reverse", sl_jf_reverse, false},
    {"round", sl_jf_round, false},
    {"safe", sl_jf_safe, false},
    {"string", sl_jf_string, false},
    {"title", sl_jf_title, false},
    {"tojson", sl_jf_tojson, false},
    {"trim", sl_jf_trim, false},
    {"upper", sl_jf_upper, false},
    {"wordcount", sl_jf_wordcount, false},
};


/* jinja2 built-ins that no chat template needs; naming them gives a clear
 * "not supported" instead of "no filter named". */
static const char *const sl_jfilters_unsupported[] = {
    "filesizeformat", "forceescape", "pprint", "random", "striptags", "truncate",
    "urlencode", "urlize", "wordwrap", "xmlattr", NULL,
};

bool sl_jfilter_unsupported(const char *name)
{
    for (size_t i = 0; sl_jfilters_unsupported[i] != NULL; i++)
        if (strcmp(sl_jfilters_unsupported[i], name) == 0)
            return true;
    return false;
}

int sl_jfilter_call(sl_jctx_t *ctx, const sl_jfilter_t *filter, sl_jv_t value,
                    const sl_jargs_t *args, sl_jv_t *out)
{
    if (filter->fn(ctx, value, args, out) != 0)
        return -1;
    if (filter->generator && out->kind == SL_JV_LIST)
        out->u.list->flavor = SL_JSEQ_GENERATOR;
    return 0;
}

const sl_jfilter_t *sl_jfilter_find(const char *name)
{
    for (size_t i = 0; i < sizeof(sl_jfilters) / sizeof(sl_jfilters[0]); i++)
        if (strcmp(sl_jfilters[i].name, name) == 0)
            return &sl_jfilters[i];
    for (size_t i = 0; i < sl_jfilters_seq_count; i++)
        if (strcmp(sl_jfilters_seq[i].name, name) == 0)
            return &sl_jfilters_seq[i];
    return NULL;
}
