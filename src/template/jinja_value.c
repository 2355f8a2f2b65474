/* jinja_value.c - the render arena, errors, text buffers, UTF-8 and the
 * Python semantics of values: truth, ==, ordering, len() and iteration. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja_internal.h"

/* ---- arena ------------------------------------------------------------------ */

struct sl_jarena_chunk {
    sl_jarena_chunk_t *next;
    size_t size;
    _Alignas(16) char data[];
};

#define SL_JARENA_CHUNK (64 * 1024)

void sl_jarena_init(sl_jarena_t *arena, size_t limit)
{
    memset(arena, 0, sizeof(*arena));
    arena->limit = limit;
}

static sl_jarena_chunk_t *sl_jarena_chunk(sl_jarena_t *arena, size_t size)
{
    sl_jarena_chunk_t *chunk;

    if (size > SIZE_MAX - sizeof(*chunk) - 64)
        return NULL;
    if (arena->limit != 0 && (arena->used > arena->limit || size > arena->limit - arena->used))
        return NULL;
    chunk = malloc(sizeof(*chunk) + size);
    if (chunk == NULL)
        return NULL;
    chunk->size = size;
    arena->used += size;
    return chunk;
}

void *sl_jarena_alloc(sl_jarena_t *arena, size_t size)
{
    sl_jarena_chunk_t *chunk;
    void *p;

    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    if (arena->cur != NULL && (size_t)(arena->end - arena->cur) >= size) {
        p = arena->cur;
        arena->cur += size;
        return p;
    }
    /* Big requests get a chunk of their own, so the current chunk's free
     * space is not thrown away. */
    if (size > SL_JARENA_CHUNK / 4) {
        chunk = sl_jarena_chunk(arena, size);
        if (chunk == NULL)
            return NULL;
        if (arena->chunks != NULL) {
            chunk->next = arena->chunks->next;
            arena->chunks->next = chunk;
        } else {
            chunk->next = NULL;
            arena->chunks = chunk;
        }
        return chunk->data;
    }
    chunk = sl_jarena_chunk(arena, SL_JARENA_CHUNK);
    if (chunk == NULL)
        return NULL;
    chunk->next = arena->chunks;
    arena->chunks = chunk;
    arena->cur = chunk->data + size;
    arena->end = chunk->data + chunk->size;
    return chunk->data;
}

void sl_jarena_free(sl_jarena_t *arena)
{
    sl_jarena_chunk_t *chunk = arena->chunks;

    while (chunk != NULL) {
        sl_jarena_chunk_t *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    memset(arena, 0, sizeof(*arena));
}

/* ---- errors ------------------------------------------------------------------ */

void sl_jerror_fill(sl_jinja_error_t *err, const char *source, size_t length, uint32_t pos,
                    const char *format, va_list ap)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof(*err));
    vsnprintf(err->message, sizeof(err->message), format, ap);
    if (pos == UINT32_MAX || source == NULL)
        return;
    err->line = 1;
    err->column = 1;
    for (size_t i = 0; i < pos && i < length; i++) {
        unsigned char c = (unsigned char)source[i];
        if (c == '\n') {
            err->line++;
            err->column = 1;
        } else if ((c & 0xC0) != 0x80) {
            err->column++;
        }
    }
}

static int sl_jerr_v(sl_jctx_t *ctx, sl_status_t status, const char *format, va_list ap)
{
    if (ctx->status != SL_OK)
        return -1;
    ctx->status = status;
    sl_jerror_fill(ctx->err, ctx->tpl->source, ctx->tpl->length, ctx->pos, format, ap);
    return -1;
}

int sl_jerr(sl_jctx_t *ctx, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    sl_jerr_v(ctx, SL_ERR_FORMAT, format, ap);
    va_end(ap);
    return -1;
}

int sl_jerr_status(sl_jctx_t *ctx, sl_status_t status, const char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    sl_jerr_v(ctx, status, format, ap);
    va_end(ap);
    return -1;
}

/* ---- allocation and buffers ---------------------------------------------------- */

void *sl_jalloc(sl_jctx_t *ctx, size_t size)
{
    void *p = sl_jarena_alloc(&ctx->arena, size);

    if (p != NULL)
        return p;
    if (ctx->arena.limit != 0 && size <= SIZE_MAX / 2 &&
        ctx->arena.used + size + SL_JARENA_CHUNK > ctx->arena.limit)
        sl_jerr_status(ctx, SL_ERR_OVERFLOW,
                       "the template needs more than the limit of %zu bytes of memory",
                       ctx->arena.limit);
    else
        sl_jerr_status(ctx, SL_ERR_NO_MEMORY, "out of memory allocating %zu bytes", size);
    return NULL;
}

int sl_jbuf_put(sl_jctx_t *ctx, sl_jbuf_t *buf, const char *text, size_t length)
{
    if (length == 0)
        return 0;
    if (length > ctx->limits.max_output || buf->len > ctx->limits.max_output - length)
        return sl_jerr_status(ctx, SL_ERR_OVERFLOW,
                              "the rendered text is longer than the limit of %zu bytes",
                              ctx->limits.max_output);
    if (buf->len + length + 1 > buf->cap) {
        size_t cap = buf->cap < 128 ? 256 : buf->cap * 2;
        char *data;

        if (cap < buf->len + length + 1)
            cap = buf->len + length + 1;
        data = sl_jalloc(ctx, cap);
        if (data == NULL)
            return -1;
        if (buf->len != 0)
            memcpy(data, buf->data, buf->len);
        buf->data = data;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, text, length);
    buf->len += length;
    buf->data[buf->len] = '\0';
    return 0;
}

int sl_jbuf_puts(sl_jctx_t *ctx, sl_jbuf_t *buf, const char *text)
{
    return sl_jbuf_put(ctx, buf, text, strlen(text));
}

int sl_jbuf_printf(sl_jctx_t *ctx, sl_jbuf_t *buf, const char *format, ...)
{
    char small[128];
    va_list ap;
    int n;

    va_start(ap, format);
    n = vsnprintf(small, sizeof(small), format, ap);
    va_end(ap);
    if (n < 0)
        return sl_jerr(ctx, "cannot format text");
    if ((size_t)n < sizeof(small))
        return sl_jbuf_put(ctx, buf, small, (size_t)n);
    return sl_jerr(ctx, "formatted text too long");
}

int sl_jbuf_value(sl_jctx_t *ctx, const sl_jbuf_t *buf, sl_jv_t *out)
{
    return sl_jv_str(ctx, buf->len ? buf->data : "", buf->len, out);
}

/* ---- UTF-8 --------------------------------------------------------------------- */

uint32_t sl_jutf8_next(const char *text, size_t length, size_t *offset)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = *offset;
    uint32_t cp = s[i];
    int extra = cp < 0x80 ? 0 : cp < 0xE0 ? 1 : cp < 0xF0 ? 2 : 3;

    if (extra != 0)
        cp &= 0x3Fu >> extra;
    i++;
    for (int k = 0; k < extra && i < length; k++, i++)
        cp = (cp << 6) | (s[i] & 0x3F);
    *offset = i;
    return cp;
}

size_t sl_jutf8_count(const char *text, size_t length)
{
    size_t n = 0;

    for (size_t i = 0; i < length; i++)
        n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n;
}

size_t sl_jutf8_offset(const char *text, size_t length, size_t index)
{
    size_t i = 0;

    while (i < length && index > 0) {
        i++;
        while (i < length && ((unsigned char)text[i] & 0xC0) == 0x80)
            i++;
        index--;
    }
    return i;
}

bool sl_jisspace(uint32_t cp)
{
    if (cp < 0x80)
        return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* ---- constructors ----------------------------------------------------------------- */

int sl_jv_str(sl_jctx_t *ctx, const char *text, size_t length, sl_jv_t *out)
{
    sl_jstr_t *s;

    if (length > ctx->limits.max_output)
        return sl_jerr_status(ctx, SL_ERR_OVERFLOW,
                              "a string is longer than the limit of %zu bytes",
                              ctx->limits.max_output);
    s = sl_jalloc(ctx, sizeof(*s) + length + 1);
    if (s == NULL)
        return -1;
    s->len = length;
    if (length != 0)
        memcpy(s->data, text, length);
    s->data[length] = '\0';
    *out = (sl_jv_t){.kind = SL_JV_STR, .u.s = s};
    return 0;
}

int sl_jv_cstr(sl_jctx_t *ctx, const char *text, sl_jv_t *out)
{
    return sl_jv_str(ctx, text, strlen(text), out);
}

int sl_jv_undef_why(sl_jctx_t *ctx, sl_jv_t *out, const char *format, ...)
{
    char why[256];
    va_list ap;
    sl_jv_t s;

    va_start(ap, format);
    vsnprintf(why, sizeof(why), format, ap);
    va_end(ap);
    if (sl_jv_cstr(ctx, why, &s) != 0)
        return -1;
    *out = (sl_jv_t){.kind = SL_JV_UNDEFINED, .u.s = s.u.s};
    return 0;
}

int sl_jlist_new(sl_jctx_t *ctx, size_t cap, sl_jkind_t kind, sl_jv_t *out)
{
    sl_jlist_t *list = sl_jalloc(ctx, sizeof(*list));

    if (list == NULL)
        return -1;
    list->len = 0;
    list->cap = cap;
    list->items = NULL;
    list->flavor = SL_JSEQ_LIST;
    if (cap != 0) {
        if (cap > SIZE_MAX / sizeof(sl_jv_t))
            return sl_jerr_status(ctx, SL_ERR_OVERFLOW, "list too long");
        list->items = sl_jalloc(ctx, cap * sizeof(sl_jv_t));
        if (list->items == NULL)
            return -1;
    }
    *out = (sl_jv_t){.kind = kind, .u.list = list};
    return 0;
}

int sl_jlist_push(sl_jctx_t *ctx, sl_jlist_t *list, sl_jv_t item)
{
    if (list->len == list->cap) {
        size_t cap = list->cap < 4 ? 8 : list->cap * 2;
        sl_jv_t *items;

        if (cap > SIZE_MAX / sizeof(sl_jv_t))
            return sl_jerr_status(ctx, SL_ERR_OVERFLOW, "list too long");
        items = sl_jalloc(ctx, cap * sizeof(sl_jv_t));
        if (items == NULL)
            return -1;
        if (list->len != 0)
            memcpy(items, list->items, list->len * sizeof(sl_jv_t));
        list->items = items;
        list->cap = cap;
    }
    list->items[list->len++] = item;
    return 0;
}

int sl_jdict_new(sl_jctx_t *ctx, sl_jkind_t kind, sl_jv_t *out)
{
    sl_jdict_t *dict = sl_jalloc(ctx, sizeof(*dict));

    if (dict == NULL)
        return -1;
    memset(dict, 0, sizeof(*dict));
    *out = (sl_jv_t){.kind = kind, .u.dict = dict};
    return 0;
}

static bool sl_jdict_find(const sl_jdict_t *dict, sl_jv_t key, size_t *index)
{
    for (size_t i = 0; i < dict->len; i++) {
        if (sl_jv_eq(dict->keys[i], key)) {
            *index = i;
            return true;
        }
    }
    return false;
}

int sl_jdict_set(sl_jctx_t *ctx, sl_jdict_t *dict, sl_jv_t key, sl_jv_t val)
{
    size_t i;

    if (sl_jdict_find(dict, key, &i)) {
        dict->vals[i] = val;
        return 0;
    }
    if (dict->len == dict->cap) {
        size_t cap = dict->cap < 4 ? 8 : dict->cap * 2;
        sl_jv_t *keys, *vals;

        if (cap > SIZE_MAX / sizeof(sl_jv_t))
            return sl_jerr_status(ctx, SL_ERR_OVERFLOW, "dict too large");
        keys = sl_jalloc(ctx, cap * sizeof(sl_jv_t));
        vals = keys != NULL ? sl_jalloc(ctx, cap * sizeof(sl_jv_t)) : NULL;
        if (vals == NULL)
            return -1;
        if (dict->len != 0) {
            memcpy(keys, dict->keys, dict->len * sizeof(sl_jv_t));
            memcpy(vals, dict->vals, dict->len * sizeof(sl_jv_t));
        }
        dict->keys = keys;
        dict->vals = vals;
        dict->cap = cap;
    }
    dict->keys[dict->len] = key;
    dict->vals[dict->len] = val;
    dict->len++;
    return 0;
}

bool sl_jdict_get(const sl_jdict_t *dict, sl_jv_t key, sl_jv_t *val_p)
{
    size_t i;

    if (!sl_jdict_find(dict, key, &i))
        return false;
    *val_p = dict->vals[i];
    return true;
}

bool sl_jdict_get_cstr(const sl_jdict_t *dict, const char *key, sl_jv_t *val_p)
{
    size_t n = strlen(key);

    for (size_t i = 0; i < dict->len; i++) {
        const sl_jv_t *k = &dict->keys[i];
        if (k->kind == SL_JV_STR && k->u.s->len == n && memcmp(k->u.s->data, key, n) == 0) {
            *val_p = dict->vals[i];
            return true;
        }
    }
    return false;
}

/* ---- semantics -------------------------------------------------------------------- */

double sl_jv_num(sl_jv_t v)
{
    switch (v.kind) {
    case SL_JV_BOOL:  return v.u.b ? 1.0 : 0.0;
    case SL_JV_INT:   return (double)v.u.i;
    case SL_JV_FLOAT: return v.u.f;
    default:          return 0.0;
    }
}

bool sl_jv_truthy(sl_jv_t v)
{
    switch (v.kind) {
    case SL_JV_UNDEFINED:
    case SL_JV_NONE:  return false;
    case SL_JV_BOOL:  return v.u.b;
    case SL_JV_INT:   return v.u.i != 0;
    case SL_JV_FLOAT: return v.u.f != 0.0;
    case SL_JV_STR:   return v.u.s->len != 0;
    case SL_JV_LIST:
    case SL_JV_TUPLE:
        return v.u.list->len != 0 || v.u.list->flavor == SL_JSEQ_GENERATOR ||
               v.u.list->flavor == SL_JSEQ_REVERSED;
    case SL_JV_DICT:  return v.u.dict->len != 0;
    default:          return true;
    }
}

/* Values nested deeper than this compare unequal rather than overflow the
 * stack; only a template building lists of lists in a loop gets there. */
#define SL_JV_EQ_MAX_DEPTH 2000

static bool sl_jv_eq_at(sl_jv_t a, sl_jv_t b, unsigned depth)
{
    if (sl_jv_is_num(a) && sl_jv_is_num(b)) {
        if (a.kind != SL_JV_FLOAT && b.kind != SL_JV_FLOAT)
            return (a.kind == SL_JV_BOOL ? a.u.b : a.u.i) == (b.kind == SL_JV_BOOL ? b.u.b : b.u.i);
        return sl_jv_num(a) == sl_jv_num(b);
    }
    if (a.kind != b.kind)
        return false;
    switch (a.kind) {
    case SL_JV_UNDEFINED:
    case SL_JV_NONE:
        return true;
    case SL_JV_STR:
        return a.u.s->len == b.u.s->len && memcmp(a.u.s->data, b.u.s->data, a.u.s->len) == 0;
    case SL_JV_LIST:
    case SL_JV_TUPLE:
        if (a.u.list->flavor != b.u.list->flavor ||
            (a.u.list->flavor != SL_JSEQ_LIST && a.u.list->flavor != SL_JSEQ_RANGE))
            return a.u.list == b.u.list;
        if (a.u.list->len != b.u.list->len)
            return false;
        for (size_t i = 0; i < a.u.list->len; i++)
            if (depth >= SL_JV_EQ_MAX_DEPTH ||
                !sl_jv_eq_at(a.u.list->items[i], b.u.list->items[i], depth + 1))
                return false;
        return true;
    case SL_JV_DICT:
        if (a.u.dict->len != b.u.dict->len)
            return false;
        for (size_t i = 0; i < a.u.dict->len; i++) {
            sl_jv_t other;
            if (depth >= SL_JV_EQ_MAX_DEPTH || !sl_jdict_get(b.u.dict, a.u.dict->keys[i], &other) ||
                !sl_jv_eq_at(a.u.dict->vals[i], other, depth + 1))
                return false;
        }
        return true;
    case SL_JV_NAMESPACE: return a.u.dict == b.u.dict;
    case SL_JV_FUNC:
        return a.u.func->fn == b.u.func->fn && depth < SL_JV_EQ_MAX_DEPTH &&
               sl_jv_eq_at(a.u.func->self, b.u.func->self, depth + 1);
    case SL_JV_MACRO:     return a.u.macro == b.u.macro;
    case SL_JV_LOOP:      return a.u.loop == b.u.loop;
    default:              return false;
    }
}

bool sl_jv_eq(sl_jv_t a, sl_jv_t b)
{
    return sl_jv_eq_at(a, b, 0);
}

int sl_jv_cmp(sl_jctx_t *ctx, sl_jv_t a, sl_jv_t b, int *out)
{
    if (sl_jv_is_num(a) && sl_jv_is_num(b)) {
        if (a.kind != SL_JV_FLOAT && b.kind != SL_JV_FLOAT) {
            int64_t x = a.kind == SL_JV_BOOL ? a.u.b : a.u.i;
            int64_t y = b.kind == SL_JV_BOOL ? b.u.b : b.u.i;
            *out = (x > y) - (x < y);
        } else {
            double x = sl_jv_num(a), y = sl_jv_num(b);
            *out = (x > y) - (x < y);
        }
        return 0;
    }
    if (a.kind == SL_JV_STR && b.kind == SL_JV_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int c = memcmp(a.u.s->data, b.u.s->data, n);
        if (c == 0)
            c = (a.u.s->len > b.u.s->len) - (a.u.s->len < b.u.s->len);
        *out = (c > 0) - (c < 0);
        return 0;
    }
    if (sl_jv_is_list(a) && sl_jv_is_list(b) && a.kind == b.kind) {
        size_t n = a.u.list->len < b.u.list->len ? a.u.list->len : b.u.list->len;
        for (size_t i = 0; i < n; i++) {
            int rc;
            if (sl_jv_eq(a.u.list->items[i], b.u.list->items[i]))
                continue;
            if (++ctx->depth > ctx->limits.max_depth)
                return sl_jerr_status(ctx, SL_ERR_OVERFLOW, "values nested too deeply");
            rc = sl_jv_cmp(ctx, a.u.list->items[i], b.u.list->items[i], out);
            ctx->depth--;
            return rc;
        }
        *out = (a.u.list->len > b.u.list->len) - (a.u.list->len < b.u.list->len);
        return 0;
    }
    if (a.kind == SL_JV_UNDEFINED)
        return sl_jv_undef_error(ctx, a);
    if (b.kind == SL_JV_UNDEFINED)
        return sl_jv_undef_error(ctx, b);
    return sl_jerr(ctx, "cannot order '%s' and '%s' values", sl_jv_type_name(a),
                   sl_jv_type_name(b));
}

const char *sl_jv_type_name(sl_jv_t v)
{
    switch (v.kind) {
    case SL_JV_UNDEFINED: return "Undefined";
    case SL_JV_NONE:      return "NoneType";
    case SL_JV_BOOL:      return "bool";
    case SL_JV_INT:       return "int";
    case SL_JV_FLOAT:     return "float";
    case SL_JV_STR:       return "str";
    case SL_JV_LIST:
        switch (v.u.list->flavor) {
        case SL_JSEQ_GENERATOR: return "generator";
        case SL_JSEQ_REVERSED:  return "list_reverseiterator";
        case SL_JSEQ_ITEMS:     return "dict_items";
        case SL_JSEQ_KEYS:      return "dict_keys";
        case SL_JSEQ_VALUES:    return "dict_values";
        case SL_JSEQ_RANGE:     return "range";
        default:                return "list";
        }
    case SL_JV_TUPLE:     return "tuple";
    case SL_JV_DICT:      return "dict";
    case SL_JV_NAMESPACE: return "Namespace";
    case SL_JV_FUNC:      return "builtin_function_or_method";
    case SL_JV_MACRO:     return "Macro";
    case SL_JV_LOOP:      return "LoopContext";
    }
    return "object";
}

int sl_jv_len(sl_jctx_t *ctx, sl_jv_t v, size_t *out)
{
    switch (v.kind) {
    case SL_JV_UNDEFINED: *out = 0; return 0;
    case SL_JV_STR:       *out = sl_jutf8_count(v.u.s->data, v.u.s->len); return 0;
    case SL_JV_LIST:
    case SL_JV_TUPLE:
        if (v.u.list->flavor == SL_JSEQ_GENERATOR || v.u.list->flavor == SL_JSEQ_REVERSED)
            break;
        *out = v.u.list->len;
        return 0;
    case SL_JV_DICT:      *out = v.u.dict->len; return 0;
    case SL_JV_LOOP:      *out = v.u.loop->length; return 0;
    default:
        break;
    }
    return sl_jerr(ctx, "object of type '%s' has no len()", sl_jv_type_name(v));
}

int sl_jv_iterate(sl_jctx_t *ctx, sl_jv_t v, sl_jlist_t **out)
{
    sl_jv_t list;

    switch (v.kind) {
    case SL_JV_LIST:
    case SL_JV_TUPLE:
        *out = v.u.list;
        return 0;
    case SL_JV_UNDEFINED:
        if (sl_jlist_new(ctx, 0, SL_JV_LIST, &list) != 0)
            return -1;
        *out = list.u.list;
        return 0;
    case SL_JV_DICT:
        if (sl_jlist_new(ctx, v.u.dict->len, SL_JV_LIST, &list) != 0)
            return -1;
        for (size_t i = 0; i < v.u.dict->len; i++)
            list.u.list->items[i] = v.u.dict->keys[i];
        list.u.list->len = v.u.dict->len;
        *out = list.u.list;
        return 0;
    case SL_JV_STR: {
        const sl_jstr_t *s = v.u.s;
        size_t i = 0;

        if (sl_jlist_new(ctx, sl_jutf8_count(s->data, s->len), SL_JV_LIST, &list) != 0)
            return -1;
        while (i < s->len) {
            size_t start = i;
            sl_jv_t ch;
            sl_jutf8_next(s->data, s->len, &i);
            if (sl_jv_str(ctx, s->data + start, i - start, &ch) != 0)
                return -1;
            list.u.list->items[list.u.list->len++] = ch;
        }
        *out = list.u.list;
        return 0;
    }
    default:
        return sl_jerr(ctx, "'%s' object is not iterable", sl_jv_type_name(v));
    }
}

int sl_jv_unhashable(sl_jctx_t *ctx, sl_jv_t v)
{
    if (v.kind == SL_JV_LIST || v.kind == SL_JV_DICT)
        return sl_jerr(ctx, "unhashable type: '%s'", sl_jv_type_name(v));
    if (v.kind == SL_JV_TUPLE)
        for (size_t i = 0; i < v.u.list->len; i++)
            if (sl_jv_unhashable(ctx, v.u.list->items[i]) != 0)
                return -1;
    return 0;
}

int sl_jv_undef_error(sl_jctx_t *ctx, sl_jv_t v)
{
    if (v.u.s != NULL)
        return sl_jerr(ctx, "%s", v.u.s->data);
    return sl_jerr(ctx, "an undefined value was used");
}
