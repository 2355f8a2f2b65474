/* jinja_lexer.c - template source to tokens, with Jinja2's whitespace rules
 * as transformers configures them: trim_blocks (drop the newline after a
 * block or comment tag), lstrip_blocks (drop the indentation before one),
 * and the explicit controls {%- -%} {{- -}} {#- -#} and {%+ +%}.
 *
 * The rules follow jinja2's lexer regexes closely, because chat templates
 * are written against its exact behaviour: which whitespace goes where is
 * part of the prompt the model was trained on. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja_internal.h"

typedef struct sl_jlexer {
    sl_jarena_t *arena;
    const char *src;
    size_t len;
    size_t pos;
    bool line_starting; /* the last match ended with a newline */
    sl_jtokens_t *out;
    sl_jinja_error_t *err;
    sl_status_t status;
} sl_jlexer_t;

static int sl_jlex_fail(sl_jlexer_t *lx, size_t pos, sl_status_t status, const char *format,
                        ...) __attribute__((format(printf, 4, 5)));

static int sl_jlex_fail(sl_jlexer_t *lx, size_t pos, sl_status_t status, const char *format,
                        ...)
{
    va_list ap;

    va_start(ap, format);
    sl_jerror_fill(lx->err, lx->src, lx->len, (uint32_t)pos, format, ap);
    va_end(ap);
    lx->status = status;
    return -1;
}

static int sl_jlex_emit(sl_jlexer_t *lx, sl_jtoken_t tok)
{
    if (lx->out->n == lx->out->cap) {
        size_t cap = lx->out->cap < 64 ? 128 : lx->out->cap * 2;
        sl_jtoken_t *items = sl_jarena_alloc(lx->arena, cap * sizeof(*items));

        if (items == NULL)
            return sl_jlex_fail(lx, tok.pos, SL_ERR_NO_MEMORY, "out of memory");
        if (lx->out->n != 0)
            memcpy(items, lx->out->items, lx->out->n * sizeof(*items));
        lx->out->items = items;
        lx->out->cap = cap;
    }
    lx->out->items[lx->out->n++] = tok;
    return 0;
}

static const sl_jstr_t *sl_jlex_str(sl_jlexer_t *lx, const char *text, size_t length)
{
    sl_jstr_t *s = sl_jarena_alloc(lx->arena, sizeof(*s) + length + 1);

    if (s == NULL) {
        sl_jlex_fail(lx, lx->pos, SL_ERR_NO_MEMORY, "out of memory");
        return NULL;
    }
    s->len = length;
    memcpy(s->data, text, length);
    s->data[length] = '\0';
    return s;
}

/* Length of the Unicode whitespace (Python's \s) starting at POS. */
static size_t sl_jlex_space(const char *s, size_t len, size_t pos)
{
    size_t i = pos;

    while (i < len) {
        size_t next = i;
        uint32_t cp = sl_jutf8_next(s, len, &next);
        if (!sl_jisspace(cp))
            break;
        i = next;
    }
    return i - pos;
}

/* Offset where the trailing whitespace of TEXT[0..LEN) starts. */
static size_t sl_jlex_rstrip(const char *s, size_t len)
{
    size_t end = len;

    while (end > 0) {
        size_t start = end - 1, probe;
        while (start > 0 && ((unsigned char)s[start] & 0xC0) == 0x80)
            start--;
        probe = start;
        if (!sl_jisspace(sl_jutf8_next(s, len, &probe)))
            break;
        end = start;
    }
    return end;
}

/* Emits the data before a tag after applying the tag's whitespace control:
 * SIGN is '-', '+' or 0; LSTRIP says whether lstrip_blocks applies to this
 * kind of tag. */
static int sl_jlex_data(sl_jlexer_t *lx, size_t start, size_t end, char sign, bool lstrip)
{
    const char *text = lx->src + start;
    size_t n = end - start;
    const sl_jstr_t *s;

    if (sign == '-') {
        n = sl_jlex_rstrip(text, n);
    } else if (sign != '+' && lstrip) {
        size_t l_pos = n;
        while (l_pos > 0 && text[l_pos - 1] != '\n')
            l_pos--;
        if ((l_pos > 0 || lx->line_starting) && l_pos < n &&
            sl_jlex_space(text, n, l_pos) == n - l_pos)
            n = l_pos;
    }
    if (n == 0)
        return 0;
    s = sl_jlex_str(lx, text, n);
    if (s == NULL)
        return -1;
    return sl_jlex_emit(lx, (sl_jtoken_t){.kind = SL_JT_DATA, .pos = (uint32_t)start, .str = s});
}

static bool sl_jlex_at(const sl_jlexer_t *lx, size_t pos, const char *lit)
{
    size_t n = strlen(lit);
    return pos <= lx->len && lx->len - pos >= n && memcmp(lx->src + pos, lit, n) == 0;
}

/* Matches "-X}" (then all whitespace), "+X}" or "X}" (then, for blocks and
 * comments, one newline: trim_blocks) at POS; returns the length or 0. */
static size_t sl_jlex_tag_end(const sl_jlexer_t *lx, size_t pos, char x, bool trim, bool plus)
{
    char plain[3] = {x, '}', 0}, minus[4] = {'-', x, '}', 0}, plus_end[4] = {'+', x, '}', 0};

    if (plus && sl_jlex_at(lx, pos, plus_end))
        return 3;
    if (sl_jlex_at(lx, pos, minus))
        return 3 + sl_jlex_space(lx->src, lx->len, pos + 3);
    if (sl_jlex_at(lx, pos, plain))
        return 2 + (trim && pos + 2 < lx->len && lx->src[pos + 2] == '\n');
    return 0;
}

static void sl_jlex_consumed(sl_jlexer_t *lx, size_t end)
{
    lx->line_starting = end > 0 && lx->src[end - 1] == '\n';
    lx->pos = end;
}

static int sl_jlex_comment(sl_jlexer_t *lx, size_t tag, char sign)
{
    for (size_t p = tag + 2 + (sign != 0); p < lx->len; p++) {
        size_t n = sl_jlex_tag_end(lx, p, '#', true, true);
        if (n != 0) {
            sl_jlex_consumed(lx, p + n);
            return 0;
        }
    }
    return sl_jlex_fail(lx, tag, SL_ERR_FORMAT, "missing end of comment tag");
}

/* {% raw %}...{% endraw %}: the text between is data, as written. */
static bool sl_jlex_raw_begin(const sl_jlexer_t *lx, size_t tag, size_t *end)
{
    size_t p = tag + 2;

    if (p < lx->len && (lx->src[p] == '-' || lx->src[p] == '+'))
        p++;
    p += sl_jlex_space(lx->src, lx->len, p);
    if (!sl_jlex_at(lx, p, "raw"))
        return false;
    p += 3;
    p += sl_jlex_space(lx->src, lx->len, p);
    if (sl_jlex_at(lx, p, "-%}")) {
        *end = p + 3 + sl_jlex_space(lx->src, lx->len, p + 3);
        return true;
    }
    if (sl_jlex_at(lx, p, "%}")) {
        *end = p + 2;
        return true;
    }
    return false;
}

static int sl_jlex_raw(sl_jlexer_t *lx, size_t tag, size_t body)
{
    for (size_t p = body; p + 1 < lx->len; p++) {
        size_t q = p + 2, n;
        char sign = 0;

        if (lx->src[p] != '{' || lx->src[p + 1] != '%')
            continue;
        if (q < lx->len && (lx->src[q] == '-' || lx->src[q] == '+'))
            sign = lx->src[q++];
        q += sl_jlex_space(lx->src, lx->len, q);
        if (!sl_jlex_at(lx, q, "endraw"))
            continue;
        q += 6;
        q += sl_jlex_space(lx->src, lx->len, q);
        n = sl_jlex_tag_end(lx, q, '%', true, true);
        if (n == 0)
            continue;
        if (sl_jlex_data(lx, body, p, sign, true) != 0)
            return -1;
        sl_jlex_consumed(lx, q + n);
        return 0;
    }
    return sl_jlex_fail(lx, tag, SL_ERR_FORMAT, "missing end of raw directive");
}

/* ---- tokens inside {{ }} and {% %} ------------------------------------------------ */

static int sl_jlex_hex(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* Decodes a string literal body the way jinja2 does (Python's
 * unicode-escape): \n \t \\ \' \" \xhh \uhhhh \Uhhhhhhhh \ooo ..., with
 * unknown escapes kept as written. */
static int sl_jlex_string(sl_jlexer_t *lx, size_t start, size_t end, const sl_jstr_t **out)
{
    const char *s = lx->src;
    char *buf = sl_jarena_alloc(lx->arena, end - start + 1);
    size_t n = 0;

    if (buf == NULL)
        return sl_jlex_fail(lx, start, SL_ERR_NO_MEMORY, "out of memory");
    for (size_t i = start; i < end; i++) {
        uint32_t cp;
        size_t digits = 0;
        char c;

        if (s[i] != '\\' || i + 1 >= end) {
            buf[n++] = s[i];
            continue;
        }
        c = s[++i];
        switch (c) {
        case '\n': continue;
        case '\\': buf[n++] = '\\'; continue;
        case '\'': buf[n++] = '\''; continue;
        case '"':  buf[n++] = '"'; continue;
        case 'a':  buf[n++] = '\a'; continue;
        case 'b':  buf[n++] = '\b'; continue;
        case 'f':  buf[n++] = '\f'; continue;
        case 'n':  buf[n++] = '\n'; continue;
        case 'r':  buf[n++] = '\r'; continue;
        case 't':  buf[n++] = '\t'; continue;
        case 'v':  buf[n++] = '\v'; continue;
        case 'x':  digits = 2; break;
        case 'u':  digits = 4; break;
        case 'U':  digits = 8; break;
        default:
            if (c >= '0' && c <= '7') {
                cp = 0;
                for (int k = 0; k < 3 && i < end && s[i] >= '0' && s[i] <= '7'; k++, i++)
                    cp = cp * 8 + (uint32_t)(s[i] - '0');
                i--;
                n += sl_utf8_encode(cp, buf + n);
                continue;
            }
            buf[n++] = '\\';
            buf[n++] = c;
            continue;
        }
        if (end - i - 1 < digits || sl_jlex_hex(s + i + 1, digits, &cp) != 0)
            return sl_jlex_fail(lx, i - 1, SL_ERR_FORMAT, "truncated \\%c escape in a string", c);
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return sl_jlex_fail(lx, i - 1, SL_ERR_UNSUPPORTED,
                                "string escape \\%c names no Unicode character", c);
        i += digits;
        /* An escape never takes more bytes than its source text. */
        n += sl_utf8_encode(cp, buf + n);
    }
    *out = sl_jlex_str(lx, buf, n);
    return *out == NULL ? -1 : 0;
}

static bool sl_jlex_digit_run(const char *s, size_t len, size_t *p)
{
    size_t i = *p;

    if (i >= len || s[i] < '0' || s[i] > '9')
        return false;
    while (i < len && ((s[i] >= '0' && s[i] <= '9') ||
                       (s[i] == '_' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')))
        i++;
    *p = i;
    return true;
}

static int sl_jlex_number(sl_jlexer_t *lx, size_t start, size_t *end_p)
{
    const char *s = lx->src;
    size_t p = start, q;
    bool is_float = false;
    char digits[400];
    size_t nd = 0;
    sl_jtoken_t tok = {.pos = (uint32_t)start};

    sl_jlex_digit_run(s, lx->len, &p);
    q = p;
    /* After a dot (x.0.1) digits are an index, never a float. */
    if (start > 0 && s[start - 1] == '.') {
        q = lx->len;
    } else if (q < lx->len && s[q] == '.' && (q++, sl_jlex_digit_run(s, lx->len, &q))) {
        is_float = true;
        p = q;
    }
    q = p;
    if (q < lx->len && !(start > 0 && s[start - 1] == '.') && (s[q] == 'e' || s[q] == 'E')) {
        q++;
        if (q < lx->len && (s[q] == '+' || s[q] == '-'))
            q++;
        if (sl_jlex_digit_run(s, lx->len, &q)) {
            is_float = true;
            p = q;
        }
    }
    for (size_t i = start; i < p; i++)
        if (s[i] != '_' && nd < sizeof(digits) - 1)
            digits[nd++] = s[i];
    digits[nd] = '\0';
    errno = 0;
    if (is_float) {
        tok.kind = SL_JT_FLOAT;
        tok.f = strtod(digits, NULL);
    } else {
        tok.kind = SL_JT_INT;
        tok.i = strtoll(digits, NULL, 10);
        if (errno == ERANGE)
            return sl_jlex_fail(lx, start, SL_ERR_UNSUPPORTED,
                                "integer literal %s does not fit 64 bits", digits);
    }
    *end_p = p;
    return sl_jlex_emit(lx, tok);
}

static const char *const sl_jlex_ops[] = {
    "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
    "{",  "}",  ">",  "<",  "=",  ".",  ":", "|", ",", ";",
};

/* Tokens of one {{ }} or {% %} tag, up to and including its end. */
static int sl_jlex_tag(sl_jlexer_t *lx, size_t tag, bool block)
{
    char close = block ? '%' : '}';
    char stack[256];
    size_t depth = 0, p = lx->pos;
    const char *s = lx->src;

    for (;;) {
        size_t n;

        if (depth == 0 && (n = sl_jlex_tag_end(lx, p, close, block, block)) != 0) {
            if (sl_jlex_emit(lx, (sl_jtoken_t){.kind = block ? SL_JT_BLOCK_END : SL_JT_VAR_END,
                                              .pos = (uint32_t)p}) != 0)
                return -1;
            sl_jlex_consumed(lx, p + n);
            return 0;
        }
        if (p >= lx->len)
            return sl_jlex_fail(lx, tag, SL_ERR_FORMAT, "unexpected end of template, expected '%s'",
                                block ? "%}" : "}}");
        if ((n = sl_jlex_space(s, lx->len, p)) != 0) {
            p += n;
            continue;
        }
        if (s[p] >= '0' && s[p] <= '9') {
            if (sl_jlex_number(lx, p, &p) != 0)
                return -1;
            continue;
        }
        if ((s[p] >= 'a' && s[p] <= 'z') || (s[p] >= 'A' && s[p] <= 'Z') || s[p] == '_') {
            size_t q = p;
            const sl_jstr_t *name;
            while (q < lx->len && ((s[q] >= 'a' && s[q] <= 'z') || (s[q] >= 'A' && s[q] <= 'Z') ||
                                   (s[q] >= '0' && s[q] <= '9') || s[q] == '_'))
                q++;
            name = sl_jlex_str(lx, s + p, q - p);
            if (name == NULL || sl_jlex_emit(lx, (sl_jtoken_t){.kind = SL_JT_NAME,
                                                              .pos = (uint32_t)p,
                                                              .text = name->data}) != 0)
                return -1;
            p = q;
            continue;
        }
        if (s[p] == '\'' || s[p] == '"') {
            size_t q = p + 1;
            const sl_jstr_t *str = NULL;
            while (q < lx->len && s[q] != s[p])
                q += s[q] == '\\' ? 2 : 1;
            if (q >= lx->len)
                return sl_jlex_fail(lx, p, SL_ERR_FORMAT, "unterminated string");
            if (sl_jlex_string(lx, p + 1, q, &str) != 0 ||
                sl_jlex_emit(lx, (sl_jtoken_t){.kind = SL_JT_STRING, .pos = (uint32_t)p,
                                               .str = str}) != 0)
                return -1;
            p = q + 1;
            continue;
        }
        n = 0;
        for (size_t i = 0; i < sizeof(sl_jlex_ops) / sizeof(sl_jlex_ops[0]); i++) {
            if (sl_jlex_at(lx, p, sl_jlex_ops[i])) {
                n = i;
                break;
            }
            n = SIZE_MAX;
        }
        if (n == SIZE_MAX)
            return sl_jlex_fail(lx, p, SL_ERR_FORMAT, "unexpected character '%c'", s[p]);
        {
            const char *op = sl_jlex_ops[n];
            char c = op[0];
            if (op[1] == 0 && (c == '(' || c == '[' || c == '{')) {
                if (depth == sizeof(stack))
                    return sl_jlex_fail(lx, p, SL_ERR_OVERFLOW, "brackets nested too deeply");
                stack[depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
            } else if (op[1] == 0 && (c == ')' || c == ']' || c == '}')) {
                if (depth == 0)
                    return sl_jlex_fail(lx, p, SL_ERR_FORMAT, "unexpected '%c'", c);
                if (stack[depth - 1] != c)
                    return sl_jlex_fail(lx, p, SL_ERR_FORMAT, "unexpected '%c', expected '%c'", c,
                                        stack[depth - 1]);
                depth--;
            }
            if (sl_jlex_emit(lx, (sl_jtoken_t){.kind = SL_JT_OP, .pos = (uint32_t)p,
                                               .text = op}) != 0)
                return -1;
            p += strlen(op);
        }
    }
}

sl_status_t sl_jlex(sl_jarena_t *arena, const char *source, size_t length,
                    sl_jinja_error_t *err, sl_jtokens_t *tokens)
{
    sl_jlexer_t lx = {.arena = arena, .src = source, .len = length, .line_starting = true,
                      .out = tokens, .err = err, .status = SL_OK};

    while (lx.pos < length) {
        size_t tag = lx.pos, raw_end;
        char kind, sign = 0;

        while (tag + 1 < length &&
               !(source[tag] == '{' && (source[tag + 1] == '{' || source[tag + 1] == '%' ||
                                        source[tag + 1] == '#')))
            tag++;
        if (tag + 1 >= length) {
            if (sl_jlex_data(&lx, lx.pos, length, 0, false) != 0)
                return lx.status;
            break;
        }
        kind = source[tag + 1];
        if (tag + 2 < length && (source[tag + 2] == '-' || source[tag + 2] == '+'))
            sign = source[tag + 2];
        if (sl_jlex_data(&lx, lx.pos, tag, sign, kind != '{') != 0)
            return lx.status;
        if (kind == '%' && sl_jlex_raw_begin(&lx, tag, &raw_end)) {
            if (sl_jlex_raw(&lx, tag, raw_end) != 0)
                return lx.status;
            continue;
        }
        if (kind == '#') {
            if (sl_jlex_comment(&lx, tag, sign) != 0)
                return lx.status;
            continue;
        }
        if (sl_jlex_emit(&lx, (sl_jtoken_t){.kind = kind == '%' ? SL_JT_BLOCK_BEGIN
                                                               : SL_JT_VAR_BEGIN,
                                            .pos = (uint32_t)tag}) != 0)
            return lx.status;
        lx.pos = tag + 2 + (sign != 0);
        lx.line_starting = false;
        if (sl_jlex_tag(&lx, tag, kind == '%') != 0)
            return lx.status;
    }
    if (sl_jlex_emit(&lx, (sl_jtoken_t){.kind = SL_JT_EOF, .pos = (uint32_t)length}) != 0)
        return lx.status;
    return SL_OK;
}
