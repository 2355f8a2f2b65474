/* jinja_format.c - values as text: Python's str() and repr(), float repr,
 * json.dumps() as transformers' tojson calls it, and JSON input. */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja_internal.h"

/* Python prints floats with the fewest digits that read back to the same
 * double, in fixed notation for exponents -4..15 and scientific otherwise. */
void sl_jfloat_repr(double f, char out[32])
{
    char sci[40], digits[24];
    int exponent, ndigits = 0, decpt, pos = 0;
    const char *p;

    if (isnan(f)) {
        strcpy(out, "nan");
        return;
    }
    if (isinf(f)) {
        strcpy(out, f < 0 ? "-inf" : "inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof(sci), "%.*e", prec - 1, f);
        if (strtod(sci, NULL) == f)
            break;
    }
    p = sci;
    if (*p == '-')
        out[pos++] = *p++;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[ndigits++] = *p;
    exponent = atoi(p + 1);
    while (ndigits > 1 && digits[ndigits - 1] == '0')
        ndigits--;
    digits[ndigits] = '\0';
    decpt = exponent + 1;
    if (exponent >= -4 && exponent < 16) {
        if (decpt <= 0) {
            pos += sprintf(out + pos, "0.");
            for (int i = 0; i < -decpt; i++)
                out[pos++] = '0';
            pos += sprintf(out + pos, "%s", digits);
        } else if (decpt >= ndigits) {
            pos += sprintf(out + pos, "%s", digits);
            for (int i = ndigits; i < decpt; i++)
                out[pos++] = '0';
            pos += sprintf(out + pos, ".0");
        } else {
            pos += sprintf(out + pos, "%.*s.%s", decpt, digits, digits + decpt);
        }
    } else {
        out[pos++] = digits[0];
        if (ndigits > 1)
            pos += sprintf(out + pos, ".%s", digits + 1);
        pos += sprintf(out + pos, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
    }
    out[pos] = '\0';
}

/* What str.isprintable() says no to, short of Python's full tables:
 * controls, separators other than space, format characters, surrogates and
 * private use. */
static bool sl_jisprintable(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD)
        return false;
    if ((cp >= 0x600 && cp <= 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F ||
        cp == 0x180E || cp == 0x1680)
        return false;
    if ((cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
        (cp >= 0x205F && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF ||
        (cp >= 0xFFF9 && cp <= 0xFFFB))
        return false;
    if ((cp >= 0xD800 && cp <= 0xF8FF) || cp >= 0xF0000 || (cp & 0xFFFE) == 0xFFFE)
        return false;
    return true;
}

static int sl_jwrite_str_repr(sl_jctx_t *ctx, sl_jbuf_t *buf, const sl_jstr_t *s)
{
    char quote = '\'';
    size_t i = 0;

    if (memchr(s->data, '\'', s->len) != NULL && memchr(s->data, '"', s->len) == NULL)
        quote = '"';
    if (sl_jbuf_put(ctx, buf, &quote, 1) != 0)
        return -1;
    while (i < s->len) {
        size_t start = i;
        uint32_t cp = sl_jutf8_next(s->data, s->len, &i);
        char esc[16];
        int rc;

        if (cp == (uint32_t)quote || cp == '\\')
            rc = sl_jbuf_printf(ctx, buf, "\\%c", (char)cp);
        else if (cp == '\t')
            rc = sl_jbuf_puts(ctx, buf, "\\t");
        else if (cp == '\n')
            rc = sl_jbuf_puts(ctx, buf, "\\n");
        else if (cp == '\r')
            rc = sl_jbuf_puts(ctx, buf, "\\r");
        else if (sl_jisprintable(cp))
            rc = sl_jbuf_put(ctx, buf, s->data + start, i - start);
        else {
            if (cp <= 0xFF)
                snprintf(esc, sizeof(esc), "\\x%02x", cp);
            else if (cp <= 0xFFFF)
                snprintf(esc, sizeof(esc), "\\u%04x", cp);
            else
                snprintf(esc, sizeof(esc), "\\U%08x", cp);
            rc = sl_jbuf_puts(ctx, buf, esc);
        }
        if (rc != 0)
            return -1;
    }
    return sl_jbuf_put(ctx, buf, &quote, 1);
}

static int sl_jwrite(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v, bool repr);

static int sl_jwrite_items(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v)
{
    const sl_jlist_t *l = v.u.list;
    bool tuple = v.kind == SL_JV_TUPLE;

    if (sl_jbuf_puts(ctx, buf, tuple ? "(" : "[") != 0)
        return -1;
    for (size_t i = 0; i < l->len; i++) {
        if ((i != 0 && sl_jbuf_puts(ctx, buf, ", ") != 0) ||
            sl_jwrite(ctx, buf, l->items[i], true) != 0)
            return -1;
    }
    if (tuple && l->len == 1 && sl_jbuf_puts(ctx, buf, ",") != 0)
        return -1;
    return sl_jbuf_puts(ctx, buf, tuple ? ")" : "]");
}

static int sl_jwrite_dict(sl_jctx_t *ctx, sl_jbuf_t *buf, const sl_jdict_t *d)
{
    if (sl_jbuf_puts(ctx, buf, "{") != 0)
        return -1;
    for (size_t i = 0; i < d->len; i++) {
        if ((i != 0 && sl_jbuf_puts(ctx, buf, ", ") != 0) ||
            sl_jwrite(ctx, buf, d->keys[i], true) != 0 || sl_jbuf_puts(ctx, buf, ": ") != 0 ||
            sl_jwrite(ctx, buf, d->vals[i], true) != 0)
            return -1;
    }
    return sl_jbuf_puts(ctx, buf, "}");
}

static int sl_jwrite_inner(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v, bool repr)
{
    char num[32];

    switch (v.kind) {
    case SL_JV_UNDEFINED: return repr ? sl_jbuf_puts(ctx, buf, "Undefined") : 0;
    case SL_JV_NONE:      return sl_jbuf_puts(ctx, buf, "None");
    case SL_JV_BOOL:      return sl_jbuf_puts(ctx, buf, v.u.b ? "True" : "False");
    case SL_JV_INT:       return sl_jbuf_printf(ctx, buf, "%" PRId64, v.u.i);
    case SL_JV_FLOAT:
        sl_jfloat_repr(v.u.f, num);
        return sl_jbuf_puts(ctx, buf, num);
    case SL_JV_STR:
        if (repr)
            return sl_jwrite_str_repr(ctx, buf, v.u.s);
        return sl_jbuf_put(ctx, buf, v.u.s->data, v.u.s->len);
    case SL_JV_LIST:
        switch (v.u.list->flavor) {
        case SL_JSEQ_GENERATOR:
        case SL_JSEQ_REVERSED:
            /* Python adds the address, which no one can match. */
            return sl_jbuf_printf(ctx, buf, "<%s object>", sl_jv_type_name(v));
        case SL_JSEQ_RANGE:
            if (v.u.list->range[2] != 1)
                return sl_jbuf_printf(ctx, buf, "range(%" PRId64 ", %" PRId64 ", %" PRId64 ")",
                                      v.u.list->range[0], v.u.list->range[1],
                                      v.u.list->range[2]);
            return sl_jbuf_printf(ctx, buf, "range(%" PRId64 ", %" PRId64 ")",
                                  v.u.list->range[0], v.u.list->range[1]);
        case SL_JSEQ_ITEMS:
        case SL_JSEQ_KEYS:
        case SL_JSEQ_VALUES:
            if (sl_jbuf_printf(ctx, buf, "%s(", sl_jv_type_name(v)) != 0 ||
                sl_jwrite_items(ctx, buf, v) != 0)
                return -1;
            return sl_jbuf_puts(ctx, buf, ")");
        default:
            return sl_jwrite_items(ctx, buf, v);
        }
    case SL_JV_TUPLE:     return sl_jwrite_items(ctx, buf, v);
    case SL_JV_DICT:      return sl_jwrite_dict(ctx, buf, v.u.dict);
    case SL_JV_NAMESPACE:
        if (sl_jbuf_puts(ctx, buf, "<Namespace ") != 0 || sl_jwrite_dict(ctx, buf, v.u.dict) != 0)
            return -1;
        return sl_jbuf_puts(ctx, buf, ">");
    case SL_JV_FUNC:
        return sl_jbuf_printf(ctx, buf, "<built-in method %s>", v.u.func->name);
    case SL_JV_MACRO:
        return sl_jbuf_printf(ctx, buf, "<Macro '%s'>", v.u.macro->name);
    case SL_JV_LOOP:
        return sl_jbuf_printf(ctx, buf, "<LoopContext %zu/%zu>", v.u.loop->index0 + 1,
                              v.u.loop->length);
    }
    return sl_jerr(ctx, "cannot print a value of kind %d", (int)v.kind);
}

static int sl_jwrite(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v, bool repr)
{
    int rc;

    /* A namespace can hold itself; deep nesting would overflow the stack. */
    if (++ctx->depth > ctx->limits.max_depth)
        return sl_jerr_status(ctx, SL_ERR_OVERFLOW, "value nested too deeply to print");
    rc = sl_jwrite_inner(ctx, buf, v, repr);
    ctx->depth--;
    return rc;
}

int sl_jv_write_str(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v)
{
    return sl_jwrite(ctx, buf, v, false);
}

int sl_jv_write_repr(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v)
{
    return sl_jwrite(ctx, buf, v, true);
}

int sl_jv_to_str(sl_jctx_t *ctx, sl_jv_t v, sl_jv_t *out)
{
    sl_jbuf_t buf = {0};

    if (v.kind == SL_JV_STR) {
        *out = v;
        return 0;
    }
    if (sl_jv_write_str(ctx, &buf, v) != 0)
        return -1;
    return sl_jbuf_value(ctx, &buf, out);
}

/* ---- json.dumps ------------------------------------------------------------------ */

static int sl_jjson_string(sl_jctx_t *ctx, sl_jbuf_t *buf, const char *s, size_t len,
                           bool ensure_ascii)
{
    size_t i = 0, run = 0;

    if (sl_jbuf_puts(ctx, buf, "\"") != 0)
        return -1;
    while (i < len) {
        size_t start = i;
        uint32_t cp = sl_jutf8_next(s, len, &i);
        char esc[16];
        const char *e = NULL;

        if (cp == '"')
            e = "\\\"";
        else if (cp == '\\')
            e = "\\\\";
        else if (cp == '\n')
            e = "\\n";
        else if (cp == '\r')
            e = "\\r";
        else if (cp == '\t')
            e = "\\t";
        else if (cp == '\b')
            e = "\\b";
        else if (cp == '\f')
            e = "\\f";
        else if (cp < 0x20 || (ensure_ascii && cp > 0x7E)) {
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(esc, sizeof(esc), "\\u%04x\\u%04x", 0xD800 + (v >> 10),
                         0xDC00 + (v & 0x3FF));
            } else {
                snprintf(esc, sizeof(esc), "\\u%04x", cp);
            }
            e = esc;
        }
        if (e == NULL) {
            run += i - start;
            continue;
        }
        if (sl_jbuf_put(ctx, buf, s + start - run, run) != 0 || sl_jbuf_puts(ctx, buf, e) != 0)
            return -1;
        run = 0;
    }
    if (sl_jbuf_put(ctx, buf, s + len - run, run) != 0)
        return -1;
    return sl_jbuf_puts(ctx, buf, "\"");
}

static int sl_jjson_float(sl_jctx_t *ctx, sl_jbuf_t *buf, double f)
{
    char num[32];

    if (isnan(f))
        return sl_jbuf_puts(ctx, buf, "NaN");
    if (isinf(f))
        return sl_jbuf_puts(ctx, buf, f < 0 ? "-Infinity" : "Infinity");
    sl_jfloat_repr(f, num);
    return sl_jbuf_puts(ctx, buf, num);
}

static int sl_jjson_newline(sl_jctx_t *ctx, sl_jbuf_t *buf, const sl_jjson_opts_t *o,
                            unsigned level)
{
    if (!o->indent_set)
        return 0;
    if (sl_jbuf_puts(ctx, buf, "\n") != 0)
        return -1;
    for (unsigned i = 0; i < level; i++)
        if (sl_jbuf_put(ctx, buf, o->indent, o->indent_len) != 0)
            return -1;
    return 0;
}

/* The text json.dumps gives a dict key, which must be a scalar. */
static int sl_jjson_key(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t k, const sl_jjson_opts_t *o)
{
    char num[32];

    switch (k.kind) {
    case SL_JV_STR:
        return sl_jjson_string(ctx, buf, k.u.s->data, k.u.s->len, o->ensure_ascii);
    case SL_JV_BOOL: return sl_jbuf_puts(ctx, buf, k.u.b ? "\"true\"" : "\"false\"");
    case SL_JV_NONE: return sl_jbuf_puts(ctx, buf, "\"null\"");
    case SL_JV_INT:  return sl_jbuf_printf(ctx, buf, "\"%" PRId64 "\"", k.u.i);
    case SL_JV_FLOAT:
        sl_jfloat_repr(k.u.f, num);
        return sl_jbuf_printf(ctx, buf, "\"%s\"", num);
    default:
        return sl_jerr(ctx, "keys must be str, int, float, bool or None, not %s",
                       sl_jv_type_name(k));
    }
}

static int sl_jjson_key_order(const void *x, const void *y)
{
    const sl_jstr_t *a = ((const sl_jv_t *)x)->u.s, *b = ((const sl_jv_t *)y)->u.s;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->data, b->data, n);

    return c != 0 ? c : (a->len > b->len) - (a->len < b->len);
}

static int sl_jjson(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v, const sl_jjson_opts_t *o,
                    unsigned level);

static int sl_jjson_dict(sl_jctx_t *ctx, sl_jbuf_t *buf, const sl_jdict_t *d,
                         const sl_jjson_opts_t *o, unsigned level)
{
    size_t *order = NULL;

    if (d->len == 0)
        return sl_jbuf_puts(ctx, buf, "{}");
    if (o->sort_keys) {
        /* Sort (key, index) pairs so the values follow their keys. */
        sl_jv_t *keys = sl_jalloc(ctx, d->len * sizeof(sl_jv_t));
        order = sl_jalloc(ctx, d->len * sizeof(size_t));
        if (keys == NULL || order == NULL)
            return -1;
        for (size_t i = 0; i < d->len; i++) {
            if (d->keys[i].kind != SL_JV_STR)
                return sl_jerr(ctx, "tojson(sort_keys=true) needs string keys");
            keys[i] = d->keys[i];
        }
        qsort(keys, d->len, sizeof(sl_jv_t), sl_jjson_key_order);
        for (size_t i = 0; i < d->len; i++)
            for (size_t j = 0; j < d->len; j++)
                if (d->keys[j].u.s == keys[i].u.s)
                    order[i] = j;
    }
    if (sl_jbuf_puts(ctx, buf, "{") != 0 || sl_jjson_newline(ctx, buf, o, level + 1) != 0)
        return -1;
    for (size_t n = 0; n < d->len; n++) {
        size_t i = order != NULL ? order[n] : n;
        if (n != 0 && (sl_jbuf_put(ctx, buf, o->item_sep, o->item_sep_len) != 0 ||
                       sl_jjson_newline(ctx, buf, o, level + 1) != 0))
            return -1;
        if (sl_jjson_key(ctx, buf, d->keys[i], o) != 0 ||
            sl_jbuf_put(ctx, buf, o->key_sep, o->key_sep_len) != 0 ||
            sl_jjson(ctx, buf, d->vals[i], o, level + 1) != 0)
            return -1;
    }
    if (sl_jjson_newline(ctx, buf, o, level) != 0)
        return -1;
    return sl_jbuf_puts(ctx, buf, "}");
}

static int sl_jjson_inner(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v, const sl_jjson_opts_t *o,
                          unsigned level)
{
    switch (v.kind) {
    case SL_JV_NONE:  return sl_jbuf_puts(ctx, buf, "null");
    case SL_JV_BOOL:  return sl_jbuf_puts(ctx, buf, v.u.b ? "true" : "false");
    case SL_JV_INT:   return sl_jbuf_printf(ctx, buf, "%" PRId64, v.u.i);
    case SL_JV_FLOAT: return sl_jjson_float(ctx, buf, v.u.f);
    case SL_JV_STR:
        return sl_jjson_string(ctx, buf, v.u.s->data, v.u.s->len, o->ensure_ascii);
    case SL_JV_LIST:
    case SL_JV_TUPLE:
        if (v.u.list->flavor != SL_JSEQ_LIST)
            break;
        if (v.u.list->len == 0)
            return sl_jbuf_puts(ctx, buf, "[]");
        if (sl_jbuf_puts(ctx, buf, "[") != 0 || sl_jjson_newline(ctx, buf, o, level + 1) != 0)
            return -1;
        for (size_t i = 0; i < v.u.list->len; i++) {
            if (i != 0 && (sl_jbuf_put(ctx, buf, o->item_sep, o->item_sep_len) != 0 ||
                           sl_jjson_newline(ctx, buf, o, level + 1) != 0))
                return -1;
            if (sl_jjson(ctx, buf, v.u.list->items[i], o, level + 1) != 0)
                return -1;
        }
        if (sl_jjson_newline(ctx, buf, o, level) != 0)
            return -1;
        return sl_jbuf_puts(ctx, buf, "]");
    case SL_JV_DICT:
        return sl_jjson_dict(ctx, buf, v.u.dict, o, level);
    default:
        break;
    }
    return sl_jerr(ctx, "Object of type %s is not JSON serializable", sl_jv_type_name(v));
}

static int sl_jjson(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v, const sl_jjson_opts_t *o,
                    unsigned level)
{
    int rc;

    if (++ctx->depth > ctx->limits.max_depth)
        return sl_jerr_status(ctx, SL_ERR_OVERFLOW, "value nested too deeply for tojson");
    rc = sl_jjson_inner(ctx, buf, v, o, level);
    ctx->depth--;
    return rc;
}

int sl_jv_write_json(sl_jctx_t *ctx, sl_jbuf_t *buf, sl_jv_t v, const sl_jjson_opts_t *opts)
{
    return sl_jjson(ctx, buf, v, opts, 0);
}

/* ---- JSON input --------------------------------------------------------------------- */

static int sl_jfrom_json(sl_jctx_t *ctx, const json_t *j, sl_jv_t *out, unsigned depth)
{
    if (depth > ctx->limits.max_depth)
        return sl_jerr_status(ctx, SL_ERR_OVERFLOW, "JSON input nested too deeply");
    switch (json_typeof(j)) {
    case JSON_NULL:    *out = sl_jv_none(); return 0;
    case JSON_TRUE:    *out = sl_jv_bool(true); return 0;
    case JSON_FALSE:   *out = sl_jv_bool(false); return 0;
    case JSON_INTEGER: *out = sl_jv_int((int64_t)json_integer_value(j)); return 0;
    case JSON_REAL:    *out = sl_jv_float(json_real_value(j)); return 0;
    case JSON_STRING:  return sl_jv_str(ctx, json_string_value(j), json_string_length(j), out);
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        if (sl_jlist_new(ctx, n, SL_JV_LIST, out) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (sl_jfrom_json(ctx, json_array_get(j, i), &out->u.list->items[i], depth + 1) != 0)
                return -1;
            out->u.list->len++;
        }
        return 0;
    }
    case JSON_OBJECT: {
        sl_jdict_t *d;
        const char *key;
        json_t *val;
        size_t n = json_object_size(j);

        if (sl_jdict_new(ctx, SL_JV_DICT, out) != 0)
            return -1;
        d = out->u.dict;
        /* jansson keys are unique, so fill the arrays without lookups. */
        d->keys = sl_jalloc(ctx, (n ? n : 1) * sizeof(sl_jv_t));
        d->vals = sl_jalloc(ctx, (n ? n : 1) * sizeof(sl_jv_t));
        if (d->keys == NULL || d->vals == NULL)
            return -1;
        d->cap = n;
        json_object_foreach((json_t *)j, key, val) {
            if (d->len == n)
                break;
            if (sl_jv_cstr(ctx, key, &d->keys[d->len]) != 0 ||
                sl_jfrom_json(ctx, val, &d->vals[d->len], depth + 1) != 0)
                return -1;
            d->len++;
        }
        return 0;
    }
    }
    return sl_jerr(ctx, "unknown JSON value type");
}

int sl_jv_from_json(sl_jctx_t *ctx, const json_t *json, sl_jv_t *out)
{
    return sl_jfrom_json(ctx, json, out, 0);
}
