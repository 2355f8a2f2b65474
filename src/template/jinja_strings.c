/* jinja_strings.c - Python's str operations that templates call as methods
 * ("text".strip()), filters (trim, title, replace) or operators ("%s" % x).
 *
 * Case mapping uses the C library's tables through a C.UTF-8 locale; that is
 * Python's simple case mapping, without the few one-to-many special cases
 * (German sharp s upper-cases to "SS" in Python, stays here). */
#include "config.h"

#include <inttypes.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <wctype.h>

#include "template/jinja_internal.h"

static locale_t sl_jlocale, sl_jlocale_plain;
static pthread_once_t sl_jlocale_once = PTHREAD_ONCE_INIT;

static void sl_jlocale_init(void)
{
    sl_jlocale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    sl_jlocale_plain = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

locale_t sl_jlocale_enter(void)
{
    pthread_once(&sl_jlocale_once, sl_jlocale_init);
    if (sl_jlocale_plain == (locale_t)0)
        return (locale_t)0;
    return uselocale(sl_jlocale_plain);
}

void sl_jlocale_leave(locale_t saved)
{
    if (saved != (locale_t)0)
        uselocale(saved);
}

static uint32_t sl_jcase_map(uint32_t cp, bool upper)
{
    if (cp < 0x80) {
        if (upper && cp >= 'a' && cp <= 'z')
            return cp - 32;
        if (!upper && cp >= 'A' && cp <= 'Z')
            return cp + 32;
        return cp;
    }
    pthread_once(&sl_jlocale_once, sl_jlocale_init);
    if (sl_jlocale == (locale_t)0)
        return cp;
    if (upper)
        return (uint32_t)towupper_l((wint_t)cp, sl_jlocale);
    return (uint32_t)towlower_l((wint_t)cp, sl_jlocale);
}

/* Python's "cased" characters: those with an upper or lower case form. */
static bool sl_jis_cased(uint32_t cp)
{
    return sl_jcase_map(cp, true) != cp || sl_jcase_map(cp, false) != cp;
}

bool sl_jis_upper(uint32_t cp)
{
    return sl_jcase_map(cp, false) != cp;
}

bool sl_jis_lower(uint32_t cp)
{
    return sl_jcase_map(cp, true) != cp;
}

bool sl_jis_alpha(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z');
    pthread_once(&sl_jlocale_once, sl_jlocale_init);
    return sl_jlocale != (locale_t)0 && iswalpha_l((wint_t)cp, sl_jlocale);
}

int sl_jstr_case(sl_jctx_t *ctx, const sl_jstr_t *s, int mode, sl_jv_t *out)
{
    sl_jbuf_t buf = {0};
    bool prev_cased = false, first = true;
    size_t i = 0;

    while (i < s->len) {
        uint32_t cp = sl_jutf8_next(s->data, s->len, &i), mapped = cp;
        char enc[4];

        switch (mode) {
        case SL_JCASE_UPPER: mapped = sl_jcase_map(cp, true); break;
        case SL_JCASE_LOWER: mapped = sl_jcase_map(cp, false); break;
        case SL_JCASE_CAPITALIZE: mapped = sl_jcase_map(cp, first); break;
        case SL_JCASE_TITLE:
            mapped = sl_jcase_map(cp, !prev_cased);
            prev_cased = sl_jis_cased(cp);
            break;
        case SL_JCASE_SWAPCASE:
            mapped = sl_jis_upper(cp) ? sl_jcase_map(cp, false) : sl_jcase_map(cp, true);
            break;
        }
        first = false;
        if (sl_jbuf_put(ctx, &buf, enc, sl_utf8_encode(mapped, enc)) != 0)
            return -1;
    }
    return sl_jbuf_value(ctx, &buf, out);
}

static bool sl_jstrip_match(uint32_t cp, const sl_jstr_t *chars)
{
    size_t i = 0;

    if (chars == NULL)
        return sl_jisspace(cp);
    while (i < chars->len)
        if (sl_jutf8_next(chars->data, chars->len, &i) == cp)
            return true;
    return false;
}

int sl_jstr_strip(sl_jctx_t *ctx, const sl_jstr_t *s, sl_jv_t chars_v, bool left, bool right,
                  sl_jv_t *out)
{
    const sl_jstr_t *chars = NULL;
    size_t start = 0, end = s->len;

    if (chars_v.kind == SL_JV_STR)
        chars = chars_v.u.s;
    else if (chars_v.kind != SL_JV_NONE && chars_v.kind != SL_JV_UNDEFINED)
        return sl_jerr(ctx, "strip arg must be None or str");
    while (left && start < end) {
        size_t next = start;
        if (!sl_jstrip_match(sl_jutf8_next(s->data, end, &next), chars))
            break;
        start = next;
    }
    while (right && end > start) {
        size_t cp_start = end - 1, probe;
        while (cp_start > start && ((unsigned char)s->data[cp_start] & 0xC0) == 0x80)
            cp_start--;
        probe = cp_start;
        if (!sl_jstrip_match(sl_jutf8_next(s->data, end, &probe), chars))
            break;
        end = cp_start;
    }
    return sl_jv_str(ctx, s->data + start, end - start, out);
}

int sl_jstr_replace(sl_jctx_t *ctx, const sl_jstr_t *s, const sl_jstr_t *old,
                    const sl_jstr_t *repl, int64_t count, sl_jv_t *out)
{
    sl_jbuf_t buf = {0};
    size_t i = 0;

    if (old->len == 0) {
        /* Python inserts the replacement around every character. */
        while (count != 0) {
            size_t start = i;
            if (sl_jbuf_put(ctx, &buf, repl->data, repl->len) != 0)
                return -1;
            count--;
            if (i >= s->len)
                break;
            sl_jutf8_next(s->data, s->len, &i);
            if (sl_jbuf_put(ctx, &buf, s->data + start, i - start) != 0)
                return -1;
        }
        if (sl_jbuf_put(ctx, &buf, s->data + i, s->len - i) != 0)
            return -1;
        return sl_jbuf_value(ctx, &buf, out);
    }
    while (count != 0) {
        const char *hit = memmem(s->data + i, s->len - i, old->data, old->len);
        if (hit == NULL)
            break;
        if (sl_jbuf_put(ctx, &buf, s->data + i, (size_t)(hit - (s->data + i))) != 0 ||
            sl_jbuf_put(ctx, &buf, repl->data, repl->len) != 0)
            return -1;
        i = (size_t)(hit - s->data) + old->len;
        count--;
    }
    if (sl_jbuf_put(ctx, &buf, s->data + i, s->len - i) != 0)
        return -1;
    return sl_jbuf_value(ctx, &buf, out);
}

/* The line breaks of str.splitlines(). */
static size_t sl_jline_break(const char *s, size_t len, size_t i)
{
    size_t next = i;
    uint32_t cp = sl_jutf8_next(s, len, &next);

    if (cp == '\r' && next < len && s[next] == '\n')
        return 2;
    if (cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D ||
        cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029)
        return next - i;
    return 0;
}

int sl_jstr_splitlines(sl_jctx_t *ctx, const sl_jstr_t *s, sl_jv_t *out)
{
    size_t start = 0, i = 0;

    if (sl_jlist_new(ctx, 0, SL_JV_LIST, out) != 0)
        return -1;
    while (i < s->len) {
        size_t brk = sl_jline_break(s->data, s->len, i);
        sl_jv_t line;

        if (brk == 0) {
            sl_jutf8_next(s->data, s->len, &i);
            continue;
        }
        if (sl_jv_str(ctx, s->data + start, i - start, &line) != 0 ||
            sl_jlist_push(ctx, out->u.list, line) != 0)
            return -1;
        i += brk;
        start = i;
    }
    if (start < s->len) {
        sl_jv_t line;
        if (sl_jv_str(ctx, s->data + start, s->len - start, &line) != 0 ||
            sl_jlist_push(ctx, out->u.list, line) != 0)
            return -1;
    }
    return 0;
}

/* ---- "fmt" % args ------------------------------------------------------------------------- */

static int sl_jpad(sl_jctx_t *ctx, sl_jbuf_t *buf, const char *text, size_t len, long width,
                   bool left, char fill)
{
    long pad = width - (long)sl_jutf8_count(text, len);

    for (long i = 0; !left && i < pad; i++)
        if (sl_jbuf_put(ctx, buf, &fill, 1) != 0)
            return -1;
    if (sl_jbuf_put(ctx, buf, text, len) != 0)
        return -1;
    for (long i = 0; left && i < pad; i++)
        if (sl_jbuf_put(ctx, buf, " ", 1) != 0)
            return -1;
    return 0;
}

/* The printf formats below are built from the template's conversion spec
 * and checked by hand: only flags, '*' widths and one known conversion. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int sl_jpercent_one(sl_jctx_t *ctx, sl_jbuf_t *buf, char type, const char *flags,
                           long width, long prec, sl_jv_t arg)
{
    bool left = strchr(flags, '-') != NULL, zero = strchr(flags, '0') != NULL && !left;
    char spec[32], num[512];
    sl_jbuf_t tmp = {0};
    int n;

    switch (type) {
    case 's':
    case 'r':
    case 'a':
        if ((type == 's' ? sl_jv_write_str(ctx, &tmp, arg) : sl_jv_write_repr(ctx, &tmp, arg)) != 0)
            return -1;
        if (prec >= 0 && tmp.len > 0)
            tmp.len = sl_jutf8_offset(tmp.data, tmp.len, (size_t)prec);
        return sl_jpad(ctx, buf, tmp.len ? tmp.data : "", tmp.len, width, left, ' ');
    case 'c':
        if (arg.kind == SL_JV_STR && sl_jutf8_count(arg.u.s->data, arg.u.s->len) == 1)
            return sl_jpad(ctx, buf, arg.u.s->data, arg.u.s->len, width, left, ' ');
        return sl_jerr(ctx, "%%c requires int or char");
    case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': {
        int64_t v;
        if (arg.kind == SL_JV_INT || arg.kind == SL_JV_BOOL)
            v = arg.kind == SL_JV_BOOL ? arg.u.b : arg.u.i;
        else if (arg.kind == SL_JV_FLOAT && (type == 'd' || type == 'i' || type == 'u'))
            v = (int64_t)arg.u.f;
        else
            return sl_jerr(ctx, "%%%c format: a number is required, not %s", type,
                           sl_jv_type_name(arg));
        /* Only zero padding is done by printf; spaces are added below so
         * that '-' (left-justify) works the same for every type. */
        snprintf(spec, sizeof(spec), "%%%s%s%s%s", strchr(flags, '+') ? "+" : "",
                 strchr(flags, ' ') ? " " : "", zero ? "0*" : "*",
                 type == 'x' ? PRIx64 : type == 'X' ? PRIX64 : type == 'o' ? PRIo64 : PRId64);
        n = snprintf(num, sizeof(num), spec, (int)(zero && width <= 400 ? width : 0), v);
        break;
    }
    case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
        if (!(arg.kind == SL_JV_INT || arg.kind == SL_JV_BOOL || arg.kind == SL_JV_FLOAT))
            return sl_jerr(ctx, "must be real number, not %s", sl_jv_type_name(arg));
        snprintf(spec, sizeof(spec), "%%%s%s%s*.*%c", strchr(flags, '+') ? "+" : "",
                 strchr(flags, ' ') ? " " : "", zero ? "0" : "", type);
        n = snprintf(num, sizeof(num), spec, (int)(zero && width <= 400 ? width : 0),
                     (int)(prec < 0 ? 6 : prec > 100 ? 100 : prec), sl_jv_num(arg));
        break;
    default:
        return sl_jerr(ctx, "unsupported format character '%c'", type);
    }
    if (n < 0 || (size_t)n >= sizeof(num))
        return sl_jerr(ctx, "formatted number too long");
    return sl_jpad(ctx, buf, num, (size_t)n, width, left, ' ');
}
#pragma GCC diagnostic pop

int sl_jstr_percent(sl_jctx_t *ctx, const sl_jstr_t *fmt, sl_jv_t args, sl_jv_t *out)
{
    sl_jbuf_t buf = {0};
    size_t next_arg = 0, nargs = args.kind == SL_JV_TUPLE ? args.u.list->len : 1;
    const char *s = fmt->data, *end = fmt->data + fmt->len;

    while (s < end) {
        const char *pct = memchr(s, '%', (size_t)(end - s));
        char flags[8] = "", type;
        size_t nf = 0;
        long width = 0, prec = -1;
        sl_jv_t arg;

        if (pct == NULL)
            pct = end;
        if (sl_jbuf_put(ctx, &buf, s, (size_t)(pct - s)) != 0)
            return -1;
        if (pct == end)
            break;
        s = pct + 1;
        if (s < end && *s == '%') {
            if (sl_jbuf_put(ctx, &buf, "%", 1) != 0)
                return -1;
            s++;
            continue;
        }
        if (s < end && *s == '(') {
            /* %(name)s takes the value from a dict. */
            const char *close = memchr(s, ')', (size_t)(end - s));
            sl_jv_t key;
            if (close == NULL || args.kind != SL_JV_DICT)
                return sl_jerr(ctx, "format requires a mapping");
            if (sl_jv_str(ctx, s + 1, (size_t)(close - s - 1), &key) != 0)
                return -1;
            if (!sl_jdict_get(args.u.dict, key, &arg))
                return sl_jerr(ctx, "KeyError: '%s'", key.u.s->data);
            s = close + 1;
            nargs = 0;
        } else {
            if (next_arg >= nargs)
                return sl_jerr(ctx, "not enough arguments for format string");
            arg = args.kind == SL_JV_TUPLE ? args.u.list->items[next_arg] : args;
            next_arg++;
        }
        while (s < end && strchr("-+ #0", *s) != NULL && nf < sizeof(flags) - 1)
            flags[nf++] = *s++;
        while (s < end && *s >= '0' && *s <= '9' && width < 100000)
            width = width * 10 + (*s++ - '0');
        if (s < end && *s == '.') {
            prec = 0;
            for (s++; s < end && *s >= '0' && *s <= '9' && prec < 100000; s++)
                prec = prec * 10 + (*s - '0');
        }
        if (s >= end)
            return sl_jerr(ctx, "incomplete format");
        type = *s++;
        if (sl_jpercent_one(ctx, &buf, type, flags, width, prec, arg) != 0)
            return -1;
    }
    /* Python lets anything with __getitem__ (list, dict, undefined) go
     * unused: it could be a mapping. */
    if (next_arg < nargs && args.kind != SL_JV_DICT && args.kind != SL_JV_UNDEFINED &&
        !(args.kind == SL_JV_LIST && sl_jv_is_seq(args)))
        return sl_jerr(ctx, "not all arguments converted during string formatting");
    return sl_jbuf_value(ctx, &buf, out);
}
