/* jinja_methods.c - methods of values: "s".split(), d.items(), loop.cycle().
 *
 * As in transformers' ImmutableSandboxedEnvironment, methods that would
 * modify a list or dict (append, update, pop...) are refused: they resolve to
 * an undefined value that fails when called. */
#include "config.h"

#include <string.h>

#include "template/jinja_internal.h"

int sl_jbind(sl_jctx_t *ctx, const char *fname, const sl_jargs_t *args,
             const char *const *params, size_t n, sl_jv_t *slots)
{
    if (args->npos > n)
        return sl_jerr(ctx, "%s() takes at most %zu argument%s (%zu given)", fname, n,
                       n == 1 ? "" : "s", args->npos);
    for (size_t i = 0; i < args->npos; i++)
        slots[i] = args->pos[i];
    for (size_t k = 0; k < args->nkw; k++) {
        size_t i;
        for (i = 0; i < n && strcmp(params[i], args->kwnames[k]) != 0; i++)
            ;
        if (i == n)
            return sl_jerr(ctx, "%s() got an unexpected keyword argument '%s'", fname,
                           args->kwnames[k]);
        if (i < args->npos)
            return sl_jerr(ctx, "%s() got multiple values for argument '%s'", fname,
                           args->kwnames[k]);
        slots[i] = args->kw[k];
    }
    return 0;
}

int sl_jneed_str(sl_jctx_t *ctx, const char *fname, sl_jv_t v)
{
    if (v.kind == SL_JV_STR)
        return 0;
    if (v.kind == SL_JV_UNDEFINED)
        return sl_jv_undef_error(ctx, v);
    return sl_jerr(ctx, "%s() argument must be str, not %s", fname, sl_jv_type_name(v));
}

int sl_jneed_int(sl_jctx_t *ctx, const char *fname, sl_jv_t v, int64_t *out)
{
    if (v.kind == SL_JV_INT || v.kind == SL_JV_BOOL) {
        *out = v.kind == SL_JV_BOOL ? v.u.b : v.u.i;
        return 0;
    }
    if (v.kind == SL_JV_UNDEFINED)
        return sl_jv_undef_error(ctx, v);
    return sl_jerr(ctx, "%s() argument must be int, not %s", fname, sl_jv_type_name(v));
}

/* ---- str ------------------------------------------------------------------------------------ */

static int sl_jm_strip_any(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out,
                           const char *name, bool left, bool right)
{
    sl_jv_t chars = sl_jv_none();

    if (sl_jbind(ctx, name, args, SL_JPARAMS("chars"), &chars) != 0)
        return -1;
    return sl_jstr_strip(ctx, self.u.s, chars, left, right, out);
}

static int sl_jm_strip(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_strip_any(ctx, self, args, out, "strip", true, true);
}

static int sl_jm_lstrip(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_strip_any(ctx, self, args, out, "lstrip", true, false);
}

static int sl_jm_rstrip(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_strip_any(ctx, self, args, out, "rstrip", false, true);
}

static int sl_jpush_str(sl_jctx_t *ctx, sl_jlist_t *list, const char *text, size_t len)
{
    sl_jv_t v;
    return sl_jv_str(ctx, text, len, &v) != 0 ? -1 : sl_jlist_push(ctx, list, v);
}

/* Whitespace runs of S[from..to) as Python's split() without a separator. */
static size_t sl_jskip_space(const char *s, size_t len, size_t i, bool space)
{
    while (i < len) {
        size_t next = i;
        if (sl_jisspace(sl_jutf8_next(s, len, &next)) != space)
            break;
        i = next;
    }
    return i;
}

static int sl_jsplit(sl_jctx_t *ctx, const sl_jstr_t *s, sl_jv_t sep, int64_t maxsplit,
                     sl_jv_t *out)
{
    size_t i = 0;
    int64_t splits = 0;

    if (sl_jlist_new(ctx, 0, SL_JV_LIST, out) != 0)
        return -1;
    if (sep.kind == SL_JV_NONE) {
        for (;;) {
            size_t j;
            i = sl_jskip_space(s->data, s->len, i, true);
            if (i >= s->len)
                return 0;
            if (maxsplit >= 0 && splits == maxsplit)
                return sl_jpush_str(ctx, out->u.list, s->data + i, s->len - i);
            j = sl_jskip_space(s->data, s->len, i, false);
            if (sl_jpush_str(ctx, out->u.list, s->data + i, j - i) != 0)
                return -1;
            splits++;
            i = j;
        }
    }
    if (sep.u.s->len == 0)
        return sl_jerr(ctx, "empty separator");
    while (maxsplit < 0 || splits < maxsplit) {
        const char *hit = memmem(s->data + i, s->len - i, sep.u.s->data, sep.u.s->len);
        if (hit == NULL)
            break;
        if (sl_jpush_str(ctx, out->u.list, s->data + i, (size_t)(hit - s->data) - i) != 0)
            return -1;
        i = (size_t)(hit - s->data) + sep.u.s->len;
        splits++;
    }
    return sl_jpush_str(ctx, out->u.list, s->data + i, s->len - i);
}

/* Whether the code point ending at END is (SPACE) or is not whitespace;
 * *START_P is where it starts. */
static bool sl_jprev_space(const sl_jstr_t *s, size_t end, size_t *start_p, bool space)
{
    size_t start = end - 1, probe;

    while (start > 0 && ((unsigned char)s->data[start] & 0xC0) == 0x80)
        start--;
    probe = start;
    *start_p = start;
    return sl_jisspace(sl_jutf8_next(s->data, s->len, &probe)) == space;
}

/* rsplit: the same from the right, pieces collected backwards. */
static int sl_jrsplit(sl_jctx_t *ctx, const sl_jstr_t *s, sl_jv_t sep, int64_t maxsplit,
                      sl_jv_t *out)
{
    size_t end = s->len;
    int64_t splits = 0;
    sl_jlist_t *l;

    if (sl_jlist_new(ctx, 0, SL_JV_LIST, out) != 0)
        return -1;
    l = out->u.list;
    if (sep.kind != SL_JV_NONE && sep.u.s->len == 0)
        return sl_jerr(ctx, "empty separator");
    for (;;) {
        size_t start;
        if (sep.kind == SL_JV_NONE) {
            while (end > 0 && sl_jprev_space(s, end, &start, true))
                end = start;
            if (end == 0)
                break;
            if (maxsplit >= 0 && splits == maxsplit) {
                if (sl_jpush_str(ctx, l, s->data, end) != 0)
                    return -1;
                break;
            }
            start = end;
            while (start > 0) {
                size_t before;
                if (!sl_jprev_space(s, start, &before, false))
                    break;
                start = before;
            }
            if (sl_jpush_str(ctx, l, s->data + start, end - start) != 0)
                return -1;
            end = start;
        } else {
            size_t n = sep.u.s->len;
            bool found = false;
            if (maxsplit < 0 || splits < maxsplit) {
                for (start = end; start >= n && !found;) {
                    if (memcmp(s->data + start - n, sep.u.s->data, n) == 0)
                        found = true;
                    else
                        start--;
                }
            }
            if (!found) {
                if (sl_jpush_str(ctx, l, s->data, end) != 0)
                    return -1;
                break;
            }
            if (sl_jpush_str(ctx, l, s->data + start, end - start) != 0)
                return -1;
            end = start - n;
        }
        splits++;
    }
    for (size_t a = 0, b = l->len; b > a + 1; a++, b--) {
        sl_jv_t t = l->items[a];
        l->items[a] = l->items[b - 1];
        l->items[b - 1] = t;
    }
    return 0;
}

static int sl_jm_split_any(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out,
                           const char *name, bool right)
{
    sl_jv_t slots[2] = {sl_jv_none(), sl_jv_int(-1)};
    int64_t maxsplit;

    if (sl_jbind(ctx, name, args, SL_JPARAMS("sep", "maxsplit"), slots) != 0 ||
        (slots[0].kind != SL_JV_NONE && sl_jneed_str(ctx, name, slots[0]) != 0) ||
        sl_jneed_int(ctx, name, slots[1], &maxsplit) != 0)
        return -1;
    return right ? sl_jrsplit(ctx, self.u.s, slots[0], maxsplit, out)
                 : sl_jsplit(ctx, self.u.s, slots[0], maxsplit, out);
}

static int sl_jm_split(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_split_any(ctx, self, args, out, "split", false);
}

static int sl_jm_rsplit(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_split_any(ctx, self, args, out, "rsplit", true);
}

static int sl_jm_splitlines(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t keepends = sl_jv_bool(false);

    if (sl_jbind(ctx, "splitlines", args, SL_JPARAMS("keepends"), &keepends) != 0)
        return -1;
    if (sl_jv_truthy(keepends))
        return sl_jerr(ctx, "splitlines(keepends=True) is not supported");
    return sl_jstr_splitlines(ctx, self.u.s, out);
}

/* SELF[start:end] for the methods that take those bounds. */
static int sl_jm_window(sl_jctx_t *ctx, sl_jv_t self, sl_jv_t start, sl_jv_t end, sl_jv_t *out,
                        size_t *offset)
{
    size_t len = sl_jutf8_count(self.u.s->data, self.u.s->len);
    int64_t st = 0;

    *offset = 0;
    if (start.kind == SL_JV_NONE && end.kind == SL_JV_NONE) {
        *out = self;
        return 0;
    }
    if (start.kind == SL_JV_INT) {
        st = start.u.i < 0 ? start.u.i + (int64_t)len : start.u.i;
        st = st < 0 ? 0 : st > (int64_t)len ? (int64_t)len : st;
    }
    *offset = (size_t)st;
    return sl_jop_slice(ctx, self, start, end, sl_jv_none(), out);
}

static int sl_jm_affix(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out,
                       const char *name, bool suffix)
{
    sl_jv_t slots[3] = {sl_jv_undef(), sl_jv_none(), sl_jv_none()}, s;
    const sl_jv_t *cands;
    size_t ncands = 1, offset;

    if (sl_jbind(ctx, name, args, SL_JPARAMS("prefix", "start", "end"), slots) != 0 ||
        sl_jm_window(ctx, self, slots[1], slots[2], &s, &offset) != 0)
        return -1;
    cands = &slots[0];
    if (slots[0].kind == SL_JV_TUPLE) {
        cands = slots[0].u.list->items;
        ncands = slots[0].u.list->len;
    }
    *out = sl_jv_bool(false);
    for (size_t i = 0; i < ncands; i++) {
        const sl_jstr_t *a;
        if (sl_jneed_str(ctx, name, cands[i]) != 0)
            return -1;
        a = cands[i].u.s;
        if (a->len <= s.u.s->len &&
            memcmp(s.u.s->data + (suffix ? s.u.s->len - a->len : 0), a->data, a->len) == 0)
            *out = sl_jv_bool(true);
    }
    return 0;
}

static int sl_jm_startswith(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_affix(ctx, self, args, out, "startswith", false);
}

static int sl_jm_endswith(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_affix(ctx, self, args, out, "endswith", true);
}

static int sl_jm_case(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out,
                      int mode)
{
    if (args->npos + args->nkw != 0)
        return sl_jerr(ctx, "this string method takes no arguments");
    return sl_jstr_case(ctx, self.u.s, mode, out);
}

static int sl_jm_upper(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_case(ctx, self, args, out, SL_JCASE_UPPER);
}

static int sl_jm_lower(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_case(ctx, self, args, out, SL_JCASE_LOWER);
}

static int sl_jm_title(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_case(ctx, self, args, out, SL_JCASE_TITLE);
}

static int sl_jm_capitalize(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_case(ctx, self, args, out, SL_JCASE_CAPITALIZE);
}

static int sl_jm_swapcase(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_case(ctx, self, args, out, SL_JCASE_SWAPCASE);
}

static int sl_jm_replace(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[3] = {sl_jv_undef(), sl_jv_undef(), sl_jv_int(-1)};
    int64_t count;

    if (sl_jbind(ctx, "replace", args, SL_JPARAMS("old", "new", "count"), slots) != 0 ||
        sl_jneed_str(ctx, "replace", slots[0]) != 0 ||
        sl_jneed_str(ctx, "replace", slots[1]) != 0 ||
        sl_jneed_int(ctx, "replace", slots[2], &count) != 0)
        return -1;
    return sl_jstr_replace(ctx, self.u.s, slots[0].u.s, slots[1].u.s, count, out);
}

/* find, rfind, index, rindex and count. */
static int sl_jm_search(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out,
                        const char *name, bool reverse, bool must, bool count)
{
    sl_jv_t slots[3] = {sl_jv_undef(), sl_jv_none(), sl_jv_none()}, s;
    const sl_jstr_t *sub;
    size_t offset, hit = SIZE_MAX, n = 0;

    if (sl_jbind(ctx, name, args, SL_JPARAMS("sub", "start", "end"), slots) != 0 ||
        sl_jneed_str(ctx, name, slots[0]) != 0 ||
        sl_jm_window(ctx, self, slots[1], slots[2], &s, &offset) != 0)
        return -1;
    sub = slots[0].u.s;
    for (size_t i = 0; i + sub->len <= s.u.s->len;) {
        if (memcmp(s.u.s->data + i, sub->data, sub->len) == 0) {
            n++;
            if (hit == SIZE_MAX || reverse)
                hit = i;
            if (!count && !reverse)
                break;
            i += sub->len ? sub->len : 1;
            continue;
        }
        i++;
    }
    if (count) {
        *out = sl_jv_int(sub->len == 0 ? (int64_t)sl_jutf8_count(s.u.s->data, s.u.s->len) + 1
                                       : (int64_t)n);
        return 0;
    }
    if (hit == SIZE_MAX) {
        if (must)
            return sl_jerr(ctx, "substring not found");
        *out = sl_jv_int(-1);
        return 0;
    }
    *out = sl_jv_int((int64_t)(offset + sl_jutf8_count(s.u.s->data, hit)));
    return 0;
}

static int sl_jm_find(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_search(ctx, self, args, out, "find", false, false, false);
}

static int sl_jm_rfind(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_search(ctx, self, args, out, "rfind", true, false, false);
}

static int sl_jm_index(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_search(ctx, self, args, out, "index", false, true, false);
}

static int sl_jm_rindex(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_search(ctx, self, args, out, "rindex", true, true, false);
}

static int sl_jm_count(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_search(ctx, self, args, out, "count", false, false, true);
}

static int sl_jm_join(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t it = sl_jv_undef();
    sl_jlist_t *items;
    sl_jbuf_t buf = {0};

    if (sl_jbind(ctx, "join", args, SL_JPARAMS("iterable"), &it) != 0 ||
        sl_jv_iterate(ctx, it, &items) != 0)
        return -1;
    for (size_t i = 0; i < items->len; i++) {
        if (items->items[i].kind != SL_JV_STR)
            return sl_jerr(ctx, "sequence item %zu: expected str instance, %s found", i,
                           sl_jv_type_name(items->items[i]));
        if ((i != 0 && sl_jbuf_put(ctx, &buf, self.u.s->data, self.u.s->len) != 0) ||
            sl_jbuf_put(ctx, &buf, items->items[i].u.s->data, items->items[i].u.s->len) != 0)
            return -1;
    }
    return sl_jbuf_value(ctx, &buf, out);
}

/* str.format with {} {0} {name} fields (no format specs). */
static int sl_jm_format(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    const char *s = self.u.s->data, *end = s + self.u.s->len;
    sl_jbuf_t buf = {0};
    size_t auto_index = 0;

    while (s < end) {
        const char *close;
        sl_jv_t v = sl_jv_undef();

        if ((*s == '{' || *s == '}') && s + 1 < end && s[1] == *s) {
            if (sl_jbuf_put(ctx, &buf, s, 1) != 0)
                return -1;
            s += 2;
            continue;
        }
        if (*s != '{') {
            if (sl_jbuf_put(ctx, &buf, s++, 1) != 0)
                return -1;
            continue;
        }
        close = memchr(s, '}', (size_t)(end - s));
        if (close == NULL)
            return sl_jerr(ctx, "single '{' encountered in format string");
        if (close == s + 1) {
            if (auto_index >= args->npos)
                return sl_jerr(ctx, "replacement index %zu out of range", auto_index);
            v = args->pos[auto_index++];
        } else if (s[1] >= '0' && s[1] <= '9') {
            size_t idx = 0;
            for (const char *d = s + 1; d < close; d++) {
                if (*d < '0' || *d > '9' || idx > args->npos)
                    return sl_jerr(ctx, "unsupported format field");
                idx = idx * 10 + (size_t)(*d - '0');
            }
            if (idx >= args->npos)
                return sl_jerr(ctx, "replacement index %zu out of range", idx);
            v = args->pos[idx];
        } else {
            size_t n = (size_t)(close - s - 1);
            bool found = false;
            for (size_t k = 0; k < args->nkw && !found; k++)
                if (strlen(args->kwnames[k]) == n && memcmp(args->kwnames[k], s + 1, n) == 0) {
                    v = args->kw[k];
                    found = true;
                }
            if (!found)
                return sl_jerr(ctx, "format field '%.*s' not given", (int)n, s + 1);
        }
        if (sl_jv_write_str(ctx, &buf, v) != 0)
            return -1;
        s = close + 1;
    }
    return sl_jbuf_value(ctx, &buf, out);
}

static int sl_jm_is(sl_jctx_t *ctx, sl_jv_t self, sl_jv_t *out, int kind)
{
    size_t i = 0;
    bool ok = self.u.s->len != 0, cased = false;

    while (ok && i < self.u.s->len) {
        uint32_t cp = sl_jutf8_next(self.u.s->data, self.u.s->len, &i);
        switch (kind) {
        case 'd': ok = cp >= '0' && cp <= '9'; break;
        case 'a': ok = sl_jis_alpha(cp); break;
        case 'n': ok = sl_jis_alpha(cp) || (cp >= '0' && cp <= '9'); break;
        case 's': ok = sl_jisspace(cp); break;
        case 'u': ok = !sl_jis_lower(cp); cased = cased || sl_jis_upper(cp); break;
        case 'l': ok = !sl_jis_upper(cp); cased = cased || sl_jis_lower(cp); break;
        }
    }
    if (kind == 'u' || kind == 'l')
        ok = ok && cased;
    (void)ctx;
    *out = sl_jv_bool(ok);
    return 0;
}

static int sl_jm_isdigit(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    return sl_jm_is(ctx, self, out, 'd');
}

static int sl_jm_isalpha(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    return sl_jm_is(ctx, self, out, 'a');
}

static int sl_jm_isalnum(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    return sl_jm_is(ctx, self, out, 'n');
}

static int sl_jm_isspace(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    return sl_jm_is(ctx, self, out, 's');
}

static int sl_jm_isupper(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    return sl_jm_is(ctx, self, out, 'u');
}

static int sl_jm_islower(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    return sl_jm_is(ctx, self, out, 'l');
}

static int sl_jm_affix_remove(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out,
                              bool suffix)
{
    sl_jv_t a = sl_jv_undef();
    const sl_jstr_t *s = self.u.s;

    if (sl_jbind(ctx, suffix ? "removesuffix" : "removeprefix", args, SL_JPARAMS("affix"),
                 &a) != 0 ||
        sl_jneed_str(ctx, "removeprefix", a) != 0)
        return -1;
    if (a.u.s->len > s->len ||
        memcmp(s->data + (suffix ? s->len - a.u.s->len : 0), a.u.s->data, a.u.s->len) != 0) {
        *out = self;
        return 0;
    }
    return sl_jv_str(ctx, s->data + (suffix ? 0 : a.u.s->len), s->len - a.u.s->len, out);
}

static int sl_jm_removeprefix(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_affix_remove(ctx, self, args, out, false);
}

static int sl_jm_removesuffix(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    return sl_jm_affix_remove(ctx, self, args, out, true);
}

/* ---- dict, list, loop ------------------------------------------------------------------------ */

static int sl_jm_items_any(sl_jctx_t *ctx, sl_jv_t self, sl_jv_t *out, int which)
{
    static const sl_jseq_flavor_t views[] = {SL_JSEQ_KEYS, SL_JSEQ_VALUES, SL_JSEQ_ITEMS};
    const sl_jdict_t *d = self.u.dict;

    if (sl_jlist_new(ctx, d->len, SL_JV_LIST, out) != 0)
        return -1;
    out->u.list->flavor = views[which];
    for (size_t i = 0; i < d->len; i++) {
        sl_jv_t item = which == 0 ? d->keys[i] : d->vals[i];
        if (which == 2) {
            if (sl_jlist_new(ctx, 2, SL_JV_TUPLE, &item) != 0)
                return -1;
            item.u.list->items[0] = d->keys[i];
            item.u.list->items[1] = d->vals[i];
            item.u.list->len = 2;
        }
        out->u.list->items[out->u.list->len++] = item;
    }
    return 0;
}

static int sl_jm_keys(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    return sl_jm_items_any(ctx, self, out, 0);
}

static int sl_jm_values(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    return sl_jm_items_any(ctx, self, out, 1);
}

static int sl_jm_items(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    return sl_jm_items_any(ctx, self, out, 2);
}

static int sl_jm_get(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t slots[2] = {sl_jv_undef(), sl_jv_none()};

    if (sl_jbind(ctx, "get", args, SL_JPARAMS("key", "default"), slots) != 0)
        return -1;
    if (!sl_jdict_get(self.u.dict, slots[0], out))
        *out = slots[1];
    return 0;
}

static int sl_jm_copy(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    (void)args;
    if (sl_jdict_new(ctx, SL_JV_DICT, out) != 0)
        return -1;
    for (size_t i = 0; i < self.u.dict->len; i++)
        if (sl_jdict_set(ctx, out->u.dict, self.u.dict->keys[i], self.u.dict->vals[i]) != 0)
            return -1;
    return 0;
}

static int sl_jm_list_index(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t x = sl_jv_undef();

    if (sl_jbind(ctx, "index", args, SL_JPARAMS("value"), &x) != 0)
        return -1;
    for (size_t i = 0; i < self.u.list->len; i++)
        if (sl_jv_eq(self.u.list->items[i], x)) {
            *out = sl_jv_int((int64_t)i);
            return 0;
        }
    return sl_jerr(ctx, "value is not in list");
}

static int sl_jm_list_count(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jv_t x = sl_jv_undef();
    int64_t n = 0;

    if (sl_jbind(ctx, "count", args, SL_JPARAMS("value"), &x) != 0)
        return -1;
    for (size_t i = 0; i < self.u.list->len; i++)
        n += sl_jv_eq(self.u.list->items[i], x);
    *out = sl_jv_int(n);
    return 0;
}

static int sl_jm_cycle(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    if (args->npos == 0)
        return sl_jerr(ctx, "no items for cycling given");
    *out = args->pos[self.u.loop->index0 % args->npos];
    return 0;
}

static int sl_jm_changed(sl_jctx_t *ctx, sl_jv_t self, const sl_jargs_t *args, sl_jv_t *out)
{
    sl_jloop_t *loop = self.u.loop;
    sl_jv_t now;

    if (sl_jlist_new(ctx, args->npos, SL_JV_TUPLE, &now) != 0)
        return -1;
    for (size_t i = 0; i < args->npos; i++)
        now.u.list->items[now.u.list->len++] = args->pos[i];
    *out = sl_jv_bool(!loop->changed_set || !sl_jv_eq(loop->changed_last, now));
    loop->changed_last = now;
    loop->changed_set = true;
    return 0;
}

typedef struct sl_jmethod {
    const char *name;
    sl_jbuiltin_fn fn;
} sl_jmethod_t;

static const sl_jmethod_t sl_jstr_methods[] = {
    {"strip", sl_jm_strip},           {"lstrip", sl_jm_lstrip},
    {"rstrip", sl_jm_rstrip},         {"split", sl_jm_split},
    {"rsplit", sl_jm_rsplit},         {"splitlines", sl_jm_splitlines},
    {"startswith", sl_jm_startswith}, {"endswith", sl_jm_endswith},
    {"upper", sl_jm_upper},           {"lower", sl_jm_lower},
    {"title", sl_jm_title},           {"capitalize", sl_jm_capitalize},
    {"swapcase", sl_jm_swapcase},     {"replace", sl_jm_replace},
    {"find", sl_jm_find},             {"rfind", sl_jm_rfind},
    {"index", sl_jm_index},           {"rindex", sl_jm_rindex},
    {"count", sl_jm_count},           {"join", sl_jm_join},
    {"format", sl_jm_format},         {"isdigit", sl_jm_isdigit},
    {"isnumeric", sl_jm_isdigit},     {"isdecimal", sl_jm_isdigit},
    {"isalpha", sl_jm_isalpha},       {"isalnum", sl_jm_isalnum},
    {"isspace", sl_jm_isspace},       {"isupper", sl_jm_isupper},
    {"islower", sl_jm_islower},       {"removeprefix", sl_jm_removeprefix},
    {"removesuffix", sl_jm_removesuffix},
    {NULL, NULL},
};

static const sl_jmethod_t sl_jdict_methods[] = {
    {"items", sl_jm_items}, {"keys", sl_jm_keys}, {"values", sl_jm_values},
    {"get", sl_jm_get},     {"copy", sl_jm_copy}, {NULL, NULL},
};

static const sl_jmethod_t sl_jlist_methods[] = {
    {"index", sl_jm_list_index}, {"count", sl_jm_list_count}, {NULL, NULL},
};

static const sl_jmethod_t sl_jloop_methods[] = {
    {"cycle", sl_jm_cycle}, {"changed", sl_jm_changed}, {NULL, NULL},
};

/* What ImmutableSandboxedEnvironment refuses. */
static const char *const sl_jlist_unsafe[] = {"append", "clear", "pop", "reverse", "insert",
                                              "sort", "extend", "remove", NULL};
static const char *const sl_jdict_unsafe[] = {"clear", "pop", "popitem", "setdefault", "update",
                                              NULL};

int sl_jmethod_lookup(sl_jctx_t *ctx, sl_jv_t obj, const char *name, bool *found, sl_jv_t *out)
{
    const sl_jmethod_t *table = NULL;
    const char *const *unsafe = NULL;
    sl_jfunc_t *fn;

    *found = false;
    switch (obj.kind) {
    case SL_JV_STR:   table = sl_jstr_methods; break;
    case SL_JV_DICT:  table = sl_jdict_methods; unsafe = sl_jdict_unsafe; break;
    case SL_JV_LIST:
        if (obj.u.list->flavor != SL_JSEQ_LIST)
            return 0;
        table = sl_jlist_methods;
        unsafe = sl_jlist_unsafe;
        break;
    case SL_JV_TUPLE: table = sl_jlist_methods; break;
    case SL_JV_LOOP:  table = sl_jloop_methods; break;
    default:          return 0;
    }
    for (; table->name != NULL; table++) {
        if (strcmp(table->name, name) != 0)
            continue;
        fn = sl_jalloc(ctx, sizeof(*fn));
        if (fn == NULL)
            return -1;
        *fn = (sl_jfunc_t){.name = table->name, .fn = table->fn, .self = obj};
        *out = (sl_jv_t){.kind = SL_JV_FUNC, .u.func = fn};
        *found = true;
        return 0;
    }
    for (; unsafe != NULL && *unsafe != NULL; unsafe++) {
        if (strcmp(*unsafe, name) == 0) {
            *found = true;
            return sl_jv_undef_why(ctx, out, "access to attribute '%s' of '%s' object is unsafe.",
                                   name, sl_jv_type_name(obj));
        }
    }
    return 0;
}
