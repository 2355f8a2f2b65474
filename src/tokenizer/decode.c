/* decode.c - ids back to text: the ids' token strings go through the
 * `decoder` chain of tokenizer.json (ByteLevel, Metaspace, Replace,
 * ByteFallback, Fuse, Strip, Sequence), each step mapping a list of strings
 * to a new list as HF's decode_chain does; the result is their
 * concatenation. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

/* ---- parsing ------------------------------------------------------------- */

static sl_status_t sl_tok_dec_add(sl_tok_t *tok, const char *where, json_t *j,
                                  const char *type)
{
    sl_tok_dec_t d = {0};
    sl_status_t st;
    char sub[256];

    if (tok->n_decs == SL_TOK_MAX_DEC) {
        sl_error("%s: %s: more than %d decoders", tok->path, where, SL_TOK_MAX_DEC);
        return SL_ERR_UNSUPPORTED;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        d.kind = SL_TOK_DEC_BYTELEVEL;
    } else if (strcmp(type, "ByteFallback") == 0) {
        d.kind = SL_TOK_DEC_BYTEFALLBACK;
    } else if (strcmp(type, "Fuse") == 0) {
        d.kind = SL_TOK_DEC_FUSE;
    } else if (strcmp(type, "Metaspace") == 0) {
        sl_tok_prepend_t prepend;
        bool split;
        d.kind = SL_TOK_DEC_METASPACE;
        st = sl_tok_parse_metaspace(tok->path, where, j, &d.ch, &prepend, &split);
        if (st != SL_OK)
            return st;
        d.prepend = prepend != SL_TOK_PREPEND_NEVER;
    } else if (strcmp(type, "Strip") == 0) {
        json_t *content = json_object_get(j, "content");
        json_t *start = json_object_get(j, "start");
        json_t *stop = json_object_get(j, "stop");
        uint32_t cp;
        d.kind = SL_TOK_DEC_STRIP;
        if (!json_is_string(content) || json_string_length(content) == 0 ||
            sl_utf8_decode(json_string_value(content), &cp) != json_string_length(content) ||
            !json_is_integer(start) || json_integer_value(start) < 0 || !json_is_integer(stop) ||
            json_integer_value(stop) < 0) {
            sl_error("%s: %s: expected a one-character \"content\" and counts \"start\", "
                     "\"stop\"", tok->path, where);
            return SL_ERR_FORMAT;
        }
        d.ch = cp;
        d.start = (size_t)json_integer_value(start);
        d.stop = (size_t)json_integer_value(stop);
    } else if (strcmp(type, "Replace") == 0) {
        json_t *content = json_object_get(j, "content");
        d.kind = SL_TOK_DEC_REPLACE;
        if (!json_is_string(content)) {
            sl_error("%s: %s.content: expected a string", tok->path, where);
            return SL_ERR_FORMAT;
        }
        d.content_len = json_string_length(content);
        d.content = malloc(d.content_len + 1);
        if (d.content == NULL)
            return SL_ERR_NO_MEMORY;
        memcpy(d.content, json_string_value(content), d.content_len + 1);
        snprintf(sub, sizeof(sub), "%s.pattern", where);
        st = sl_tok_pattern_parse(tok->path, sub, json_object_get(j, "pattern"), &d.pattern);
        if (st != SL_OK) {
            free(d.content);
            return st;
        }
    } else {
        sl_error("%s: %s: decoder type '%s' is not supported (supported: ByteLevel, Metaspace, "
                 "Replace, ByteFallback, Fuse, Strip, Sequence)", tok->path, where, type);
        return SL_ERR_UNSUPPORTED;
    }
    tok->decs[tok->n_decs++] = d;
    return SL_OK;
}

sl_status_t sl_tok_decoder_parse(sl_tok_t *tok, json_t *j)
{
    if (j == NULL || json_is_null(j))
        return SL_OK;
    tok->has_decoder = true;
    return sl_tok_each_component(tok, "decoder", j, "decoders", sl_tok_dec_add);
}

/* The bytes the ByteLevel decoder makes of one token: the alphabet mapped
 * back, or the token's own UTF-8 when a character is outside it. */
static sl_status_t sl_tok_bytelevel_token(const char *s, size_t len, sl_tok_buf_t *out)
{
    size_t mark = out->len, j = 0;
    sl_status_t st = SL_OK;

    while (j < len && st == SL_OK) {
        uint32_t cp;
        size_t cl = sl_utf8_decode(s + j, &cp);
        int b = sl_bytelevel_byte(cp);
        char c = (char)b;
        if (b < 0) {
            out->len = mark;
            return sl_tok_buf_append(out, s, len);
        }
        j += cl;
        st = sl_tok_buf_append(out, &c, 1);
    }
    return st;
}

sl_status_t sl_tok_decoder_prepare(sl_tok_t *tok)
{
    sl_status_t st = SL_OK;

    if (tok->n_decs != 1 || tok->decs[0].kind != SL_TOK_DEC_BYTELEVEL)
        return SL_OK;
    tok->dec_off = calloc(tok->id_limit + 1, sizeof(*tok->dec_off));
    if (tok->dec_off == NULL)
        return SL_ERR_NO_MEMORY;
    for (size_t id = 0; id < tok->id_limit && st == SL_OK; id++) {
        tok->dec_off[id] = tok->dec_bytes.len;
        if (tok->flags[id] & SL_TOK_F_PRESENT)
            st = sl_tok_bytelevel_token(tok->texts.data + tok->text_off[id], tok->text_len[id],
                                        &tok->dec_bytes);
    }
    tok->dec_off[tok->id_limit] = tok->dec_bytes.len;
    return st;
}

void sl_tok_decs_free(sl_tok_t *tok)
{
    sl_tok_buf_free(&tok->dec_bytes);
    free(tok->dec_off);
    tok->dec_off = NULL;
    for (size_t i = 0; i < tok->n_decs; i++) {
        free(tok->decs[i].content);
        sl_tok_pattern_free(&tok->decs[i].pattern);
    }
    tok->n_decs = 0;
}

/* ---- a list of strings ----------------------------------------------------- */

typedef struct {
    size_t off, len;
} sl_tok_str_t;

typedef struct {
    sl_tok_buf_t text;
    sl_tok_str_t *items;
    size_t n, cap;
} sl_tok_strs_t;

static sl_status_t sl_tok_strs_close(sl_tok_strs_t *l, size_t start)
{
    sl_status_t st = sl_tok_buf_reserve(&l->text, 0); /* data never NULL */

    if (st != SL_OK)
        return st;
    if (l->n == l->cap) {
        st = sl_tok_grow((void **)&l->items, &l->cap, l->n + 1, sizeof(sl_tok_str_t));
        if (st != SL_OK)
            return st;
    }
    l->items[l->n++] = (sl_tok_str_t){start, l->text.len - start};
    return SL_OK;
}

static sl_status_t sl_tok_strs_push(sl_tok_strs_t *l, const char *s, size_t len)
{
    size_t start = l->text.len;
    sl_status_t st = sl_tok_buf_append(&l->text, s, len);
    return st == SL_OK ? sl_tok_strs_close(l, start) : st;
}

static void sl_tok_strs_free(sl_tok_strs_t *l)
{
    sl_tok_buf_free(&l->text);
    free(l->items);
}

#define SL_STR(l, i) ((l)->text.data + (l)->items[i].off)

/* ---- the decoders ---------------------------------------------------------- */

/* A "<0xXX>" token, as ByteFallback recognises it (Rust's from_str_radix
 * also takes a '+' sign, so "<0x+A>" counts). */
static int sl_tok_fallback_byte(const char *s, size_t len)
{
    unsigned v = 0;
    size_t i = 3;

    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    if (s[3] == '+')
        i = 4;
    for (; i < 5; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        v = v * 16 + d;
    }
    return (int)v;
}

/* The Strip decoder's cut of one token: up to START leading and STOP
 * trailing characters equal to CH. */
static void sl_tok_strip(const sl_tok_dec_t *d, const char *s, size_t len, size_t *from_p,
                         size_t *to_p)
{
    char c[4];
    size_t cl = sl_utf8_encode(d->ch, c), from = 0, to = len;

    for (size_t k = 0; k < d->start && to - from >= cl && memcmp(s + from, c, cl) == 0; k++)
        from += cl;
    for (size_t k = 0; k < d->stop && to - from >= cl && memcmp(s + to - cl, c, cl) == 0; k++)
        to -= cl;
    *from_p = from;
    *to_p = to;
}

static sl_status_t sl_tok_dec_apply(const sl_tok_dec_t *d, sl_tok_matcher_t *m,
                                    const sl_tok_strs_t *in, sl_tok_strs_t *out,
                                    sl_tok_buf_t *tmp)
{
    sl_status_t st = SL_OK;
    size_t i, start;

    out->text.len = 0;
    out->n = 0;
    switch (d->kind) {
    case SL_TOK_DEC_BYTELEVEL:
        /* Each token maps back to bytes (see sl_tok_bytelevel_token); the
         * bytes of all tokens then become one string, invalid UTF-8
         * replaced. */
        tmp->len = 0;
        for (i = 0; i < in->n && st == SL_OK; i++)
            st = sl_tok_bytelevel_token(SL_STR(in, i), in->items[i].len, tmp);
        if (st == SL_OK)
            st = sl_utf8_lossy_append(&out->text, tmp->data ? tmp->data : "", tmp->len);
        if (st == SL_OK)
            st = sl_tok_strs_close(out, 0);
        return st;
    case SL_TOK_DEC_METASPACE: {
        char rep[4];
        size_t rl = sl_utf8_encode(d->ch, rep);
        for (i = 0; i < in->n && st == SL_OK; i++) {
            const char *s = SL_STR(in, i);
            size_t len = in->items[i].len, j = 0, done = 0;
            start = out->text.len;
            while (j + rl <= len && st == SL_OK) {
                if (memcmp(s + j, rep, rl) != 0) {
                    j++;
                    continue;
                }
                st = sl_tok_buf_append(&out->text, s + done, j - done);
                /* The first token loses its replacements: they are the
                 * prepended space. */
                if (st == SL_OK && !(i == 0 && d->prepend))
                    st = sl_tok_buf_append(&out->text, " ", 1);
                j += rl;
                done = j;
            }
            if (st == SL_OK)
                st = sl_tok_buf_append(&out->text, s + done, len - done);
            if (st == SL_OK)
                st = sl_tok_strs_close(out, start);
        }
        return st;
    }
    case SL_TOK_DEC_REPLACE:
        for (i = 0; i < in->n && st == SL_OK; i++) {
            const char *s = SL_STR(in, i);
            size_t len = in->items[i].len, done = 0;
            sl_tok_find_t it = {0};
            start = out->text.len;
            for (;;) {
                size_t ms, me;
                bool found;
                st = sl_tok_pattern_next(&d->pattern, m, s, len, &it, &ms, &me, &found);
                if (st != SL_OK || !found)
                    break;
                st = sl_tok_buf_append(&out->text, s + done, ms - done);
                if (st == SL_OK)
                    st = sl_tok_buf_append(&out->text, d->content, d->content_len);
                if (st != SL_OK)
                    break;
                done = me;
            }
            if (st == SL_OK)
                st = sl_tok_buf_append(&out->text, s + done, len - done);
            if (st == SL_OK)
                st = sl_tok_strs_close(out, start);
        }
        return st;
    case SL_TOK_DEC_BYTEFALLBACK:
        /* Runs of "<0xXX>" tokens become one string when their bytes are
         * valid UTF-8, else one U+FFFD per byte. */
        tmp->len = 0;
        for (i = 0; i <= in->n && st == SL_OK; i++) {
            int b = i < in->n ? sl_tok_fallback_byte(SL_STR(in, i), in->items[i].len) : -1;
            if (b >= 0) {
                char c = (char)b;
                st = sl_tok_buf_append(tmp, &c, 1);
                continue;
            }
            if (tmp->len > 0) {
                size_t bad;
                if (sl_utf8_valid(tmp->data, tmp->len, &bad)) {
                    st = sl_tok_strs_push(out, tmp->data, tmp->len);
                } else {
                    for (size_t k = 0; k < tmp->len && st == SL_OK; k++)
                        st = sl_tok_strs_push(out, "\xEF\xBF\xBD", 3);
                }
                tmp->len = 0;
            }
            if (st == SL_OK && i < in->n)
                st = sl_tok_strs_push(out, SL_STR(in, i), in->items[i].len);
        }
        return st;
    case SL_TOK_DEC_FUSE:
        for (i = 0; i < in->n && st == SL_OK; i++)
            st = sl_tok_buf_append(&out->text, SL_STR(in, i), in->items[i].len);
        if (st == SL_OK)
            st = sl_tok_strs_close(out, 0);
        return st;
    case SL_TOK_DEC_STRIP:
        for (i = 0; i < in->n && st == SL_OK; i++) {
            size_t from, to;
            sl_tok_strip(d, SL_STR(in, i), in->items[i].len, &from, &to);
            st = sl_tok_strs_push(out, SL_STR(in, i) + from, to - from);
        }
        return st;
    }
    return SL_ERR_INTERNAL;
}

sl_status_t sl_tok_decode_append(const sl_tok_t *tok, const int32_t *ids, size_t n,
                                 bool skip_special, sl_tok_buf_t *out)
{
    sl_tok_strs_t a = {0}, b = {0};
    sl_tok_strs_t *cur = &a, *next = &b;
    sl_tok_buf_t tmp = {0};
    sl_tok_matcher_t m = {0};
    sl_status_t st = SL_OK;

    if (tok->dec_off != NULL) {
        /* ByteLevel alone: concatenate the precomputed bytes. */
        for (size_t i = 0; i < n && st == SL_OK; i++) {
            int32_t id = ids[i];
            if (id < 0 || (size_t)id >= tok->id_limit || !(tok->flags[id] & SL_TOK_F_PRESENT) ||
                (skip_special && (tok->flags[id] & SL_TOK_F_SPECIAL)))
                continue;
            st = sl_tok_buf_append(&tmp, tok->dec_bytes.data + tok->dec_off[id],
                                   tok->dec_off[id + 1] - tok->dec_off[id]);
        }
        if (st == SL_OK)
            st = sl_utf8_lossy_append(out, tmp.data ? tmp.data : "", tmp.len);
        goto out;
    }
    for (size_t i = 0; i < n && st == SL_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= tok->id_limit || !(tok->flags[id] & SL_TOK_F_PRESENT))
            continue; /* HF drops ids it does not know */
        if (skip_special && (tok->flags[id] & SL_TOK_F_SPECIAL))
            continue;
        st = sl_tok_strs_push(cur, tok->texts.data + tok->text_off[id], tok->text_len[id]);
    }
    for (size_t k = 0; k < tok->n_decs && st == SL_OK; k++) {
        sl_tok_strs_t *swap;
        st = sl_tok_dec_apply(&tok->decs[k], &m, cur, next, &tmp);
        swap = cur;
        cur = next;
        next = swap;
    }
    /* Without a decoder HF joins the tokens with spaces. */
    for (size_t i = 0; i < cur->n && st == SL_OK; i++) {
        if (i > 0 && !tok->has_decoder)
            st = sl_tok_buf_append(out, " ", 1);
        if (st == SL_OK)
            st = sl_tok_buf_append(out, SL_STR(cur, i), cur->items[i].len);
    }
out:
    if (st == SL_OK)
        st = sl_tok_buf_reserve(out, 0); /* terminated even when empty */
    if (st == SL_OK)
        out->data[out->len] = '\0';
    sl_tok_strs_free(&a);
    sl_tok_strs_free(&b);
    sl_tok_buf_free(&tmp);
    sl_tok_matcher_free(&m);
    return st;
}
