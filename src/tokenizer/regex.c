/* regex.c - the patterns of Split, Replace and ByteLevel: literal strings or
 * PCRE2 regexes (UTF-8, Unicode properties, JIT-compiled), iterated the way
 * HF's Oniguruma-backed SysRegex does. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

/* HF runs these regexes with Oniguruma. Where PCRE2's Unicode classes differ
 * from Oniguruma's, rewrite them: `\s` must also match U+0085 (it is
 * White_Space but not in PCRE2's \s), and `\w` is Letter, Mark,
 * Decimal_Number and Connector_Punctuation (PCRE2 10.42: L, N and '_'). */
static sl_status_t sl_tok_regex_rewrite(const char *re, size_t len, sl_tok_buf_t *out)
{
    static const char ws_out[] = "[\\s\\x{85}]", ws_in[] = "\\s\\x{85}";
    static const char nws_out[] = "[^\\s\\x{85}]";
    static const char w_out[] = "[\\p{L}\\p{M}\\p{Nd}\\p{Pc}]";
    static const char w_in[] = "\\p{L}\\p{M}\\p{Nd}\\p{Pc}";
    static const char nw_out[] = "[^\\p{L}\\p{M}\\p{Nd}\\p{Pc}]";
    bool in_class = false;
    size_t i = 0;
    sl_status_t st = SL_OK;

    while (i < len && st == SL_OK) {
        char c = re[i];
        if (c == '\\' && i + 1 < len) {
            char d = re[i + 1];
            const char *rep = NULL;
            if (d == 'Q') { /* literal up to \E */
                const char *e = memmem(re + i + 2, len - i - 2, "\\E", 2);
                size_t stop = e ? (size_t)(e - re) + 2 : len;
                st = sl_tok_buf_append(out, re + i, stop - i);
                i = stop;
                continue;
            }
            if (d == 's')
                rep = in_class ? ws_in : ws_out;
            else if (d == 'S' && !in_class)
                rep = nws_out;
            else if (d == 'w')
                rep = in_class ? w_in : w_out;
            else if (d == 'W' && !in_class)
                rep = nw_out;
            if (rep != NULL)
                st = sl_tok_buf_append(out, rep, strlen(rep));
            else
                st = sl_tok_buf_append(out, re + i, 2);
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            size_t j = i + 1;
            in_class = true;
            if (j < len && re[j] == '^')
                j++;
            if (j < len && re[j] == ']') /* a leading ']' is literal */
                j++;
            st = sl_tok_buf_append(out, re + i, j - i);
            i = j;
            continue;
        }
        if (in_class && c == '[' && i + 1 < len && re[i + 1] == ':') { /* [:alpha:] */
            const char *e = memmem(re + i + 2, len - i - 2, ":]", 2);
            size_t stop = e ? (size_t)(e - re) + 2 : i + 1;
            st = sl_tok_buf_append(out, re + i, stop - i);
            i = stop;
            continue;
        }
        if (in_class && c == ']')
            in_class = false;
        st = sl_tok_buf_append(out, &c, 1);
        i++;
    }
    return st;
}

sl_status_t sl_tok_pattern_regex(const char *file, const char *where, const char *re,
                                 size_t len, sl_tok_pattern_t *pattern_p)
{
    sl_tok_buf_t src = {0};
    pcre2_code *code;
    int err;
    PCRE2_SIZE err_off;
    bool jit;
    sl_status_t st;

    st = sl_tok_regex_rewrite(re, len, &src);
    if (st != SL_OK)
        goto err_src;
    /* MULTILINE: in Oniguruma's default (Ruby) syntax ^ and $ match at line
     * boundaries. */
    code = pcre2_compile((PCRE2_SPTR)(src.data ? src.data : ""), src.len,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_off, NULL);
    if (code == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof(msg));
        sl_error("%s: %s: regex /%.*s/ does not compile: %s (at offset %zu)", file, where,
                 (int)len, re, (const char *)msg, (size_t)err_off);
        st = SL_ERR_FORMAT;
        goto err_src;
    }
    /* Without JIT the interpreter is used: slower, same results. */
    jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    sl_tok_buf_free(&src);
    *pattern_p = (sl_tok_pattern_t){.code = code, .jit = jit};
    return SL_OK;

err_src:
    sl_tok_buf_free(&src);
    return st;
}

sl_status_t sl_tok_pattern_parse(const char *file, const char *where, json_t *j,
                                 sl_tok_pattern_t *pattern_p)
{
    json_t *s = json_object_get(j, "String");
    json_t *r = json_object_get(j, "Regex");

    if (json_is_string(s) && r == NULL) {
        size_t len = json_string_length(s);
        char *lit = malloc(len + 1);
        if (lit == NULL) {
            sl_error("%s: %s: out of memory", file, where);
            return SL_ERR_NO_MEMORY;
        }
        memcpy(lit, json_string_value(s), len + 1);
        *pattern_p = (sl_tok_pattern_t){.literal = lit, .literal_len = len};
        return SL_OK;
    }
    if (json_is_string(r) && s == NULL)
        return sl_tok_pattern_regex(file, where, json_string_value(r), json_string_length(r),
                                    pattern_p);
    sl_error("%s: %s: expected {\"String\": ...} or {\"Regex\": ...}", file, where);
    return SL_ERR_FORMAT;
}

void sl_tok_pattern_free(sl_tok_pattern_t *p)
{
    pcre2_code_free(p->code);
    free(p->literal);
    *p = (sl_tok_pattern_t){0};
}

void sl_tok_matcher_free(sl_tok_matcher_t *m)
{
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mctx);
    pcre2_jit_stack_free(m->stack);
    *m = (sl_tok_matcher_t){0};
}

/* One regex search from POS; *found_p false when there is no match. */
static sl_status_t sl_tok_regex_search(const pcre2_code *code, bool jit, sl_tok_matcher_t *m,
                                       const char *s, size_t len, size_t pos, uint32_t options,
                                       size_t *start_p, size_t *end_p, bool *found_p)
{
    int rc;
    PCRE2_SIZE *ov;

    if (m->md == NULL) {
        /* One pair: only the whole match is used; PCRE2 fills what fits. */
        m->md = pcre2_match_data_create(1, NULL);
        if (m->md == NULL) {
            sl_error("tokenizer: out of memory for PCRE2 match data");
            return SL_ERR_NO_MEMORY;
        }
    }
    for (;;) {
        /* The JIT entry skips pcre2_match's option checks: it matters for
         * the millions of short matches of a pre-tokenizer split. */
        if (jit && options == 0)
            rc = pcre2_jit_match(code, (PCRE2_SPTR)s, len, pos, PCRE2_NO_UTF_CHECK, m->md,
                                 m->mctx);
        else
            rc = pcre2_match(code, (PCRE2_SPTR)s, len, pos, options | PCRE2_NO_UTF_CHECK, m->md,
                             m->mctx);
        if (rc != PCRE2_ERROR_JIT_STACKLIMIT || m->stack != NULL)
            break;
        /* Long runs (e.g. of spaces before `(?!\S)`) outgrow the default
         * 32 KiB JIT stack; give this call a large one and retry. */
        m->mctx = pcre2_match_context_create(NULL);
        m->stack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
        if (m->mctx == NULL || m->stack == NULL) {
            sl_error("tokenizer: out of memory for a PCRE2 JIT stack");
            return SL_ERR_NO_MEMORY;
        }
        pcre2_jit_stack_assign(m->mctx, NULL, m->stack);
    }
    if (rc == PCRE2_ERROR_NOMATCH) {
        *found_p = false;
        return SL_OK;
    }
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof(msg));
        sl_error("tokenizer: regex match failed on a %zu-byte piece: %s", len,
                 (const char *)msg);
        return SL_ERR_FORMAT;
    }
    ov = pcre2_get_ovector_pointer(m->md);
    *start_p = ov[0];
    *end_p = ov[1];
    *found_p = true;
    return SL_OK;
}

sl_status_t sl_tok_pattern_next(const sl_tok_pattern_t *p, sl_tok_matcher_t *m, const char *s,
                                size_t len, sl_tok_find_t *it, size_t *start_p, size_t *end_p,
                                bool *found_p)
{
    for (;;) {
        size_t ms, me;
        bool found;

        if (it->pos > len) {
            *found_p = false;
            return SL_OK;
        }
        if (p->code != NULL) {
            sl_status_t st = sl_tok_regex_search(p->code, p->jit, m, s, len, it->pos, 0, &ms,
                                                 &me, &found);
            if (st != SL_OK)
                return st;
        } else if (p->literal_len == 0) {
            ms = me = it->pos;
            found = true;
        } else {
            const char *hit = memmem(s + it->pos, len - it->pos, p->literal, p->literal_len);
            found = hit != NULL;
            if (found) {
                ms = (size_t)(hit - s);
                me = ms + p->literal_len;
            }
        }
        if (!found) {
            it->pos = len + 1;
            *found_p = false;
            return SL_OK;
        }
        if (ms == me && it->have_last && me == it->last_end) {
            /* An empty match right after the previous one: step one char. */
            it->pos += it->pos < len ? sl_utf8_len((unsigned char)s[it->pos]) : 1;
            continue;
        }
        it->pos = it->last_end = me;
        it->have_last = true;
        *start_p = ms;
        *end_p = me;
        *found_p = true;
        return SL_OK;
    }
}

bool sl_tok_regex_char_is(const pcre2_code *code, sl_tok_matcher_t *m, const char *s, size_t len)
{
    size_t ms, me;
    bool found = false;

    if (sl_tok_regex_search(code, false, m, s, len, 0, PCRE2_ANCHORED, &ms, &me, &found) != SL_OK)
        return false;
    return found;
}
