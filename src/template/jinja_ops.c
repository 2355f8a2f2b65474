/* jinja_ops.c - operators with Python's semantics (int overflow is an error
 * instead of a big integer), and jinja2's lenient item/attribute access: a
 * missing key, index or attribute gives undefined, not an error. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja_internal.h"

static const char *const sl_jop_names[] = {
    [SL_JOP_ADD] = "+",  [SL_JOP_SUB] = "-",  [SL_JOP_MUL] = "*",      [SL_JOP_DIV] = "/",
    [SL_JOP_FLOORDIV] = "//", [SL_JOP_MOD] = "%", [SL_JOP_POW] = "**", [SL_JOP_CONCAT] = "~",
    [SL_JOP_AND] = "and", [SL_JOP_OR] = "or",  [SL_JOP_EQ] = "==",     [SL_JOP_NE] = "!=",
    [SL_JOP_LT] = "<",   [SL_JOP_LE] = "<=",  [SL_JOP_GT] = ">",       [SL_JOP_GE] = ">=",
    [SL_JOP_IN] = "in",  [SL_JOP_NOTIN] = "not in", [SL_JOP_NOT] = "not", [SL_JOP_NEG] = "-",
    [SL_JOP_POS] = "+",
};

static int sl_jop_unsupported(sl_jctx_t *ctx, sl_jop_t op, sl_jv_t a, sl_jv_t b)
{
    if (a.kind == SL_JV_UNDEFINED)
        return sl_jv_undef_error(ctx, a);
    if (b.kind == SL_JV_UNDEFINED)
        return sl_jv_undef_error(ctx, b);
    return sl_jerr(ctx, "unsupported operand type(s) for %s: '%s' and '%s'", sl_jop_names[op],
                   sl_jv_type_name(a), sl_jv_type_name(b));
}

static bool sl_jv_is_intlike(sl_jv_t v)
{
    return v.kind == SL_JV_INT || v.kind == SL_JV_BOOL;
}

static int64_t sl_jv_as_int(sl_jv_t v)
{
    return v.kind == SL_JV_BOOL ? (int64_t)v.u.b : v.u.i;
}

/* s * n and list * n. */
static int sl_jop_repeat(sl_jctx_t *ctx, sl_jv_t seq, int64_t times, sl_jv_t *out)
{
    const size_t len = seq.kind == SL_JV_STR ? seq.u.s->len : seq.u.list->len;

    /* An empty sequence repeated is empty however often: no loop of 2 ** 44
     * empty copies (found by the fuzzer). */
    if (times < 0 || len == 0)
        times = 0;
    if (seq.kind == SL_JV_STR) {
        sl_jbuf_t buf = {0};
        if (times != 0 && seq.u.s->len > ctx->limits.max_output / (uint64_t)times)
            return sl_jerr_status(ctx, SL_ERR_OVERFLOW,
                                  "a string is longer than the limit of %zu bytes",
                                  ctx->limits.max_output);
        for (int64_t i = 0; i < times; i++)
            if (sl_jbuf_put(ctx, &buf, seq.u.s->data, seq.u.s->len) != 0)
                return -1;
        return sl_jbuf_value(ctx, &buf, out);
    }
    if (times != 0 && seq.u.list->len > ctx->limits.max_output / 16 / (uint64_t)times)
        return sl_jerr_status(ctx, SL_ERR_OVERFLOW, "repeated list too long");
    if (sl_jlist_new(ctx, seq.u.list->len * (size_t)times, seq.kind, out) != 0)
        return -1;
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < seq.u.list->len; k++)
            out->u.list->items[out->u.list->len++] = seq.u.list->items[k];
    return 0;
}

static int sl_jop_concat_seq(sl_jctx_t *ctx, sl_jv_t a, sl_jv_t b, sl_jv_t *out)
{
    if (sl_jlist_new(ctx, a.u.list->len + b.u.list->len, a.kind, out) != 0)
        return -1;
    /* An empty list has no items array. */
    if (a.u.list->len != 0)
        memcpy(out->u.list->items, a.u.list->items, a.u.list->len * sizeof(sl_jv_t));
    if (b.u.list->len != 0)
        memcpy(out->u.list->items + a.u.list->len, b.u.list->items,
               b.u.list->len * sizeof(sl_jv_t));
    out->u.list->len = a.u.list->len + b.u.list->len;
    return 0;
}

static int sl_jop_int(sl_jctx_t *ctx, sl_jop_t op, int64_t x, int64_t y, sl_jv_t *out)
{
    int64_t r;

    switch (op) {
    case SL_JOP_ADD:
        if (__builtin_add_overflow(x, y, &r))
            break;
        *out = sl_jv_int(r);
        return 0;
    case SL_JOP_SUB:
        if (__builtin_sub_overflow(x, y, &r))
            break;
        *out = sl_jv_int(r);
        return 0;
    case SL_JOP_MUL:
        if (__builtin_mul_overflow(x, y, &r))
            break;
        *out = sl_jv_int(r);
        return 0;
    case SL_JOP_DIV:
        if (y == 0)
            return sl_jerr(ctx, "division by zero");
        *out = sl_jv_float((double)x / (double)y);
        return 0;
    case SL_JOP_FLOORDIV:
    case SL_JOP_MOD:
        if (y == 0)
            return sl_jerr(ctx, "integer division or modulo by zero");
        if (x == INT64_MIN && y == -1)
            break;
        r = x / y;
        /* Python rounds toward minus infinity and gives the remainder the
         * divisor's sign. */
        if ((x % y != 0) && ((x < 0) != (y < 0)))
            r--;
        *out = sl_jv_int(op == SL_JOP_FLOORDIV ? r : x - r * y);
        return 0;
    case SL_JOP_POW:
        if (y < 0) {
            if (x == 0)
                return sl_jerr(ctx, "0.0 cannot be raised to a negative power");
            *out = sl_jv_float(pow((double)x, (double)y));
            return 0;
        }
        r = 1;
        for (int64_t base = x; y > 0; y >>= 1) {
            if ((y & 1) && __builtin_mul_overflow(r, base, &r))
                goto overflow;
            if (y > 1 && __builtin_mul_overflow(base, base, &base))
                goto overflow;
        }
        *out = sl_jv_int(r);
        return 0;
    default:
        return sl_jerr(ctx, "bad integer operator");
    }
overflow:
    return sl_jerr_status(ctx, SL_ERR_UNSUPPORTED,
                          "integer result of %s does not fit 64 bits", sl_jop_names[op]);
}

static int sl_jop_float(sl_jctx_t *ctx, sl_jop_t op, double x, double y, sl_jv_t *out)
{
    double r;

    switch (op) {
    case SL_JOP_ADD: r = x + y; break;
    case SL_JOP_SUB: r = x - y; break;
    case SL_JOP_MUL: r = x * y; break;
    case SL_JOP_DIV:
        if (y == 0)
            return sl_jerr(ctx, "float division by zero");
        r = x / y;
        break;
    case SL_JOP_FLOORDIV:
    case SL_JOP_MOD: {
        /* CPython's float divmod. */
        double m, div;
        if (y == 0)
            return sl_jerr(ctx, "float division by zero");
        m = fmod(x, y);
        div = (x - m) / y;
        if (m != 0) {
            if ((y < 0) != (m < 0)) {
                m += y;
                div -= 1.0;
            }
        } else {
            m = copysign(0.0, y);
        }
        if (div != 0) {
            double fl = floor(div);
            div = div - fl > 0.5 ? fl + 1.0 : fl;
        } else {
            div = copysign(0.0, x / y);
        }
        r = op == SL_JOP_MOD ? m : div;
        break;
    }
    case SL_JOP_POW:
        if (x == 0 && y < 0)
            return sl_jerr(ctx, "0.0 cannot be raised to a negative power");
        r = pow(x, y);
        break;
    default:
        return sl_jerr(ctx, "bad float operator");
    }
    *out = sl_jv_float(r);
    return 0;
}

int sl_jop_binary(sl_jctx_t *ctx, sl_jop_t op, sl_jv_t a, sl_jv_t b, sl_jv_t *out)
{
    if (op == SL_JOP_CONCAT) {
        sl_jbuf_t buf = {0};
        if (sl_jv_write_str(ctx, &buf, a) != 0 || sl_jv_write_str(ctx, &buf, b) != 0)
            return -1;
        return sl_jbuf_value(ctx, &buf, out);
    }
    if (sl_jv_is_num(a) && sl_jv_is_num(b)) {
        if (sl_jv_is_intlike(a) && sl_jv_is_intlike(b))
            return sl_jop_int(ctx, op, sl_jv_as_int(a), sl_jv_as_int(b), out);
        return sl_jop_float(ctx, op, sl_jv_num(a), sl_jv_num(b), out);
    }
    switch (op) {
    case SL_JOP_ADD:
        if (a.kind == SL_JV_STR && b.kind == SL_JV_STR) {
            sl_jbuf_t buf = {0};
            if (sl_jbuf_put(ctx, &buf, a.u.s->data, a.u.s->len) != 0 ||
                sl_jbuf_put(ctx, &buf, b.u.s->data, b.u.s->len) != 0)
                return -1;
            return sl_jbuf_value(ctx, &buf, out);
        }
        if (sl_jv_is_list(a) && sl_jv_is_list(b) && a.kind == b.kind)
            return sl_jop_concat_seq(ctx, a, b, out);
        break;
    case SL_JOP_MUL:
        if ((a.kind == SL_JV_STR || sl_jv_is_list(a)) && sl_jv_is_intlike(b))
            return sl_jop_repeat(ctx, a, sl_jv_as_int(b), out);
        if ((b.kind == SL_JV_STR || sl_jv_is_list(b)) && sl_jv_is_intlike(a))
            return sl_jop_repeat(ctx, b, sl_jv_as_int(a), out);
        break;
    case SL_JOP_MOD:
        if (a.kind == SL_JV_STR)
            return sl_jstr_percent(ctx, a.u.s, b, out);
        break;
    default:
        break;
    }
    return sl_jop_unsupported(ctx, op, a, b);
}

static int sl_jop_contains(sl_jctx_t *ctx, sl_jv_t container, sl_jv_t item, bool *out)
{
    switch (container.kind) {
    case SL_JV_STR:
        if (item.kind != SL_JV_STR)
            return sl_jerr(ctx, "'in <string>' requires string as left operand, not %s",
                           sl_jv_type_name(item));
        *out = item.u.s->len == 0 ||
               memmem(container.u.s->data, container.u.s->len, item.u.s->data, item.u.s->len) !=
                   NULL;
        return 0;
    case SL_JV_LIST:
    case SL_JV_TUPLE:
        *out = false;
        for (size_t i = 0; i < container.u.list->len && !*out; i++)
            *out = sl_jv_eq(container.u.list->items[i], item);
        return 0;
    case SL_JV_DICT: {
        sl_jv_t ignored;
        if (sl_jv_unhashable(ctx, item) != 0)
            return -1;
        *out = sl_jdict_get(container.u.dict, item, &ignored);
        return 0;
    }
    case SL_JV_UNDEFINED:
        *out = false;
        return 0;
    default:
        return sl_jerr(ctx, "argument of type '%s' is not iterable",
                       sl_jv_type_name(container));
    }
}

int sl_jop_compare(sl_jctx_t *ctx, sl_jop_t op, sl_jv_t a, sl_jv_t b, bool *out)
{
    int c;

    switch (op) {
    case SL_JOP_EQ: *out = sl_jv_eq(a, b); return 0;
    case SL_JOP_NE: *out = !sl_jv_eq(a, b); return 0;
    case SL_JOP_IN:
        return sl_jop_contains(ctx, b, a, out);
    case SL_JOP_NOTIN:
        if (sl_jop_contains(ctx, b, a, out) != 0)
            return -1;
        *out = !*out;
        return 0;
    default:
        break;
    }
    if (sl_jv_cmp(ctx, a, b, &c) != 0)
        return -1;
    switch (op) {
    case SL_JOP_LT: *out = c < 0; return 0;
    case SL_JOP_LE: *out = c <= 0; return 0;
    case SL_JOP_GT: *out = c > 0; return 0;
    case SL_JOP_GE: *out = c >= 0; return 0;
    default:        return sl_jerr(ctx, "bad comparison operator");
    }
}

/* ---- slicing ------------------------------------------------------------------------------- */

static int sl_jslice_index(sl_jctx_t *ctx, sl_jv_t v, bool *given, int64_t *out)
{
    *given = v.kind != SL_JV_NONE;
    if (!*given)
        return 0;
    if (!sl_jv_is_intlike(v))
        return sl_jerr(ctx, "slice indices must be integers or None");
    *out = sl_jv_as_int(v);
    return 0;
}

/* Python's PySlice_AdjustIndices: clamps START and STOP into 0..LEN. */
static size_t sl_jslice_adjust(int64_t len, int64_t *start, int64_t *stop, int64_t step)
{
    if (*start < 0) {
        *start += len;
        if (*start < 0)
            *start = step < 0 ? -1 : 0;
    } else if (*start >= len) {
        *start = step < 0 ? len - 1 : len;
    }
    if (*stop < 0) {
        *stop += len;
        if (*stop < 0)
            *stop = step < 0 ? -1 : 0;
    } else if (*stop >= len) {
        *stop = step < 0 ? len - 1 : len;
    }
    if (step < 0)
        return *stop < *start ? (size_t)((*start - *stop - 1) / (-step) + 1) : 0;
    return *start < *stop ? (size_t)((*stop - *start - 1) / step + 1) : 0;
}

int sl_jop_slice(sl_jctx_t *ctx, sl_jv_t obj, sl_jv_t start_v, sl_jv_t stop_v, sl_jv_t step_v,
                 sl_jv_t *out)
{
    int64_t start = 0, stop = 0, step = 1, len;
    bool has_start, has_stop, has_step;
    size_t count;

    if (sl_jslice_index(ctx, start_v, &has_start, &start) != 0 ||
        sl_jslice_index(ctx, stop_v, &has_stop, &stop) != 0 ||
        sl_jslice_index(ctx, step_v, &has_step, &step) != 0)
        return -1;
    if (has_step && step == 0)
        return sl_jerr(ctx, "slice step cannot be zero");
    if (obj.kind == SL_JV_STR)
        len = (int64_t)sl_jutf8_count(obj.u.s->data, obj.u.s->len);
    else if (sl_jv_is_seq(obj))
        len = (int64_t)obj.u.list->len;
    else
        return sl_jv_undef_why(ctx, out, "'%s object' has no slices", sl_jv_type_name(obj));
    if (!has_start)
        start = step < 0 ? len - 1 : 0;
    if (!has_stop)
        stop = step < 0 ? -len - 1 : len;
    count = sl_jslice_adjust(len, &start, &stop, step);
    if (sl_jv_is_seq(obj)) {
        if (sl_jlist_new(ctx, count, obj.kind, out) != 0)
            return -1;
        for (size_t i = 0; i < count; i++)
            out->u.list->items[i] = obj.u.list->items[start + (int64_t)i * step];
        out->u.list->len = count;
        return 0;
    }
    if (step == 1) {
        size_t from = sl_jutf8_offset(obj.u.s->data, obj.u.s->len, (size_t)start);
        size_t to = sl_jutf8_offset(obj.u.s->data, obj.u.s->len, (size_t)start + count);
        return sl_jv_str(ctx, obj.u.s->data + from, to - from, out);
    }
    {
        /* Any other step: index the code points once. */
        size_t *offs = sl_jalloc(ctx, ((size_t)len + 1) * sizeof(size_t)), k = 0, i = 0;
        sl_jbuf_t buf = {0};

        if (offs == NULL)
            return -1;
        while (i < obj.u.s->len) {
            offs[k++] = i;
            sl_jutf8_next(obj.u.s->data, obj.u.s->len, &i);
        }
        offs[k] = i;
        for (size_t n = 0; n < count; n++) {
            int64_t cp = start + (int64_t)n * step;
            if (sl_jbuf_put(ctx, &buf, obj.u.s->data + offs[cp], offs[cp + 1] - offs[cp]) != 0)
                return -1;
        }
        return sl_jbuf_value(ctx, &buf, out);
    }
}

/* ---- item and attribute access ------------------------------------------------------------- */

static int sl_jop_no_attr(sl_jctx_t *ctx, sl_jv_t obj, const char *name, sl_jv_t *out)
{
    if (obj.kind == SL_JV_NONE)
        return sl_jv_undef_why(ctx, out, "'None' has no attribute '%s'", name);
    return sl_jv_undef_why(ctx, out, "'%s object' has no attribute '%s'", sl_jv_type_name(obj),
                           name);
}

static int sl_jloop_attr(sl_jctx_t *ctx, const sl_jloop_t *loop, const char *name, bool *found,
                         sl_jv_t *out)
{
    size_t i = loop->index0, n = loop->length;

    *found = true;
    if (strcmp(name, "index0") == 0)
        *out = sl_jv_int((int64_t)i);
    else if (strcmp(name, "index") == 0)
        *out = sl_jv_int((int64_t)i + 1);
    else if (strcmp(name, "revindex") == 0)
        *out = sl_jv_int((int64_t)(n - i));
    else if (strcmp(name, "revindex0") == 0)
        *out = sl_jv_int((int64_t)(n - i - 1));
    else if (strcmp(name, "first") == 0)
        *out = sl_jv_bool(i == 0);
    else if (strcmp(name, "last") == 0)
        *out = sl_jv_bool(i + 1 == n);
    else if (strcmp(name, "length") == 0)
        *out = sl_jv_int((int64_t)n);
    else if (strcmp(name, "depth") == 0)
        *out = sl_jv_int(1);
    else if (strcmp(name, "depth0") == 0)
        *out = sl_jv_int(0);
    else if (strcmp(name, "previtem") == 0) {
        if (i == 0)
            return sl_jv_undef_why(ctx, out, "there is no previous item");
        *out = loop->items->items[i - 1];
    } else if (strcmp(name, "nextitem") == 0) {
        if (i + 1 >= n)
            return sl_jv_undef_why(ctx, out, "there is no next item");
        *out = loop->items->items[i + 1];
    } else {
        *found = false;
    }
    return 0;
}

int sl_jop_getattr(sl_jctx_t *ctx, sl_jv_t obj, const char *name, sl_jv_t *out)
{
    bool found = false;

    switch (obj.kind) {
    case SL_JV_NAMESPACE:
        if (sl_jdict_get_cstr(obj.u.dict, name, out))
            return 0;
        return sl_jop_no_attr(ctx, obj, name, out);
    case SL_JV_LOOP:
        if (sl_jloop_attr(ctx, obj.u.loop, name, &found, out) != 0)
            return -1;
        if (!found && sl_jmethod_lookup(ctx, obj, name, &found, out) != 0)
            return -1;
        break;
    case SL_JV_DICT:
        /* A dict's methods (items, get...) win over its keys, as getattr()
         * comes first in jinja2. */
        if (sl_jmethod_lookup(ctx, obj, name, &found, out) != 0)
            return -1;
        if (!found && sl_jdict_get_cstr(obj.u.dict, name, out))
            return 0;
        break;
    default:
        if (sl_jmethod_lookup(ctx, obj, name, &found, out) != 0)
            return -1;
        break;
    }
    if (found)
        return 0;
    return sl_jop_no_attr(ctx, obj, name, out);
}

int sl_jop_getitem(sl_jctx_t *ctx, sl_jv_t obj, sl_jv_t key, sl_jv_t *out)
{
    switch (obj.kind) {
    case SL_JV_DICT:
        if (sl_jdict_get(obj.u.dict, key, out))
            return 0;
        break;
    case SL_JV_LIST:
    case SL_JV_TUPLE:
    case SL_JV_STR:
        if (obj.kind != SL_JV_STR && !sl_jv_is_seq(obj))
            break; /* generators and views are not subscriptable */
        if (sl_jv_is_intlike(key)) {
            int64_t i = sl_jv_as_int(key);
            int64_t len = obj.kind == SL_JV_STR
                              ? (int64_t)sl_jutf8_count(obj.u.s->data, obj.u.s->len)
                              : (int64_t)obj.u.list->len;
            if (i < 0)
                i += len;
            if (i < 0 || i >= len)
                return sl_jv_undef_why(ctx, out, "'%s object' has no element %lld",
                                       sl_jv_type_name(obj), (long long)sl_jv_as_int(key));
            if (obj.kind != SL_JV_STR) {
                *out = obj.u.list->items[i];
                return 0;
            }
            size_t from = sl_jutf8_offset(obj.u.s->data, obj.u.s->len, (size_t)i), to = from;
            sl_jutf8_next(obj.u.s->data, obj.u.s->len, &to);
            return sl_jv_str(ctx, obj.u.s->data + from, to - from, out);
        }
        break;
    default:
        break;
    }
    /* jinja2 falls back to the attribute of that name. */
    if (key.kind == SL_JV_STR)
        return sl_jop_getattr(ctx, obj, key.u.s->data, out);
    if (key.kind == SL_JV_INT)
        return sl_jv_undef_why(ctx, out, "'%s object' has no element %lld", sl_jv_type_name(obj),
                               (long long)key.u.i);
    return sl_jv_undef_why(ctx, out, "'%s object' has no such element", sl_jv_type_name(obj));
}

int sl_jop_getpath(sl_jctx_t *ctx, sl_jv_t obj, sl_jv_t path, sl_jv_t *out)
{
    const char *p;

    if (path.kind != SL_JV_STR)
        return sl_jop_getitem(ctx, obj, path, out);
    p = path.u.s->data;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot != NULL ? (size_t)(dot - p) : strlen(p);
        bool digits = n > 0;
        sl_jv_t key;

        for (size_t i = 0; i < n; i++)
            digits = digits && p[i] >= '0' && p[i] <= '9';
        if (digits && n < 19) {
            key = sl_jv_int(strtoll(p, NULL, 10));
        } else if (sl_jv_str(ctx, p, n, &key) != 0) {
            return -1;
        }
        if (sl_jop_getitem(ctx, obj, key, &obj) != 0)
            return -1;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    *out = obj;
    return 0;
}
