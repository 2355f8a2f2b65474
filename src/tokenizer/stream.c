/* stream.c - the streaming detokenizer.
 *
 * It keeps a window of ids: those of the text returned last (the prefix,
 * whose decoding is remembered) and those pushed since. Each push decodes
 * the window; the text past the prefix is returned when it is final:
 *   - it does not end in U+FFFD (a UTF-8 character still incomplete),
 *   - the last id is not a byte-fallback token ("<0x..>": ByteFallback turns
 *     a whole run of them into text or into U+FFFDs at once, so the run must
 *     be complete),
 *   - it extends the prefix.
 * Then the window moves to start at the ids just returned. Decoding the
 * window gives the same text as decoding everything because the window
 * always starts where the text is cut cleanly (a character boundary, no
 * byte run across it) and its first part, the prefix, is never returned
 * twice: rules that treat the first token specially (Strip, Metaspace) only
 * touch the prefix. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

struct sl_tok_stream {
    const sl_tok_t *tok;
    bool skip_special;
    bool hold_bytes; /* the decoder has ByteFallback */
    sl_tok_ids_t window;
    size_t read; /* window[0..read) decodes to prefix */
    sl_tok_buf_t prefix;
    sl_tok_buf_t text; /* the latest decoding of the window */
    sl_tok_buf_t out;  /* what the last call returned */
};

sl_status_t sl_tok_stream_new(const sl_tok_t *tok, bool skip_special, sl_tok_stream_t **stream_p)
{
    sl_tok_stream_t *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        sl_error("tokenizer: out of memory for a stream");
        return SL_ERR_NO_MEMORY;
    }
    s->tok = tok;
    s->skip_special = skip_special;
    for (size_t i = 0; i < tok->n_decs; i++)
        s->hold_bytes |= tok->decs[i].kind == SL_TOK_DEC_BYTEFALLBACK;
    *stream_p = s;
    return SL_OK;
}

void sl_tok_stream_reset(sl_tok_stream_t *s)
{
    s->window.len = 0;
    s->read = 0;
    s->prefix.len = 0;
}

void sl_tok_stream_free(sl_tok_stream_t *s)
{
    if (s == NULL)
        return;
    free(s->window.data);
    sl_tok_buf_free(&s->prefix);
    sl_tok_buf_free(&s->text);
    sl_tok_buf_free(&s->out);
    free(s);
}

/* Sets the returned text to TEXT[from..len). */
static sl_status_t sl_tok_stream_emit(sl_tok_stream_t *s, const char *text, size_t len,
                                      size_t from, const char **text_p, size_t *len_p)
{
    sl_status_t st;

    s->out.len = 0;
    st = sl_tok_buf_append(&s->out, text + from, len - from);
    if (st != SL_OK)
        return st;
    *text_p = s->out.data;
    *len_p = s->out.len;
    return SL_OK;
}

static bool sl_tok_ends_with_fffd(const sl_tok_buf_t *b)
{
    return b->len >= 3 && memcmp(b->data + b->len - 3, "\xEF\xBF\xBD", 3) == 0;
}

sl_status_t sl_tok_stream_push(sl_tok_stream_t *s, int32_t id, const char **text_p,
                               size_t *len_p)
{
    const sl_tok_t *tok = s->tok;
    sl_status_t st;
    size_t cut;

    /* Ids decode drops (unknown, or special when skipping) never enter the
     * window, so they cannot disturb the first-token rules. */
    if (id < 0 || (size_t)id >= tok->id_limit || !(tok->flags[id] & SL_TOK_F_PRESENT) ||
        (s->skip_special && (tok->flags[id] & SL_TOK_F_SPECIAL)))
        return sl_tok_stream_emit(s, "", 0, 0, text_p, len_p);
    st = sl_tok_ids_push(&s->window, id);
    if (st != SL_OK)
        return st;
    if (s->hold_bytes && (tok->flags[id] & SL_TOK_F_BYTE))
        return sl_tok_stream_emit(s, "", 0, 0, text_p, len_p);
    s->text.len = 0;
    st = sl_tok_decode_append(tok, s->window.data, s->window.len, s->skip_special, &s->text);
    if (st != SL_OK)
        return st;
    if (s->text.len <= s->prefix.len || sl_tok_ends_with_fffd(&s->text) ||
        memcmp(s->text.data, s->prefix.data ? s->prefix.data : "", s->prefix.len) != 0)
        return sl_tok_stream_emit(s, "", 0, 0, text_p, len_p);
    st = sl_tok_stream_emit(s, s->text.data, s->text.len, s->prefix.len, text_p, len_p);
    if (st != SL_OK)
        return st;

    /* Move the window to start at the ids just returned, unless they
     * decode to nothing on their own (then keep the older start, so the
     * window's first text is never empty). */
    cut = s->read;
    s->prefix.len = 0;
    st = sl_tok_decode_append(tok, s->window.data + cut, s->window.len - cut, s->skip_special,
                              &s->prefix);
    if (st != SL_OK)
        return st;
    if (s->prefix.len == 0) {
        cut = 0;
        s->prefix.len = 0;
        st = sl_tok_buf_append(&s->prefix, s->text.data, s->text.len);
        if (st != SL_OK)
            return st;
    }
    memmove(s->window.data, s->window.data + cut, (s->window.len - cut) * sizeof(int32_t));
    s->window.len -= cut;
    s->read = s->window.len;
    return SL_OK;
}

sl_status_t sl_tok_stream_finish(sl_tok_stream_t *s, const char **text_p, size_t *len_p)
{
    size_t common = 0;
    sl_status_t st;

    s->text.len = 0;
    st = sl_tok_decode_append(s->tok, s->window.data, s->window.len, s->skip_special, &s->text);
    if (st != SL_OK)
        return st;
    /* The prefix was returned already; the window's decoding extends it
     * (anything else would be a bug, but never return it twice). */
    while (common < s->prefix.len && common < s->text.len &&
           s->prefix.data[common] == s->text.data[common])
        common++;
    if (common != s->prefix.len)
        sl_debug("tokenizer stream: final text does not extend what was returned");
    st = sl_tok_stream_emit(s, s->text.data, s->text.len, common, text_p, len_p);
    if (st != SL_OK)
        return st;
    sl_tok_stream_reset(s);
    return SL_OK;
}
