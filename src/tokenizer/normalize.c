/* normalize.c - the `normalizer` of tokenizer.json: NFC, Prepend, Replace and
 * Sequence of them. HF applies it to each stretch of text between added
 * tokens separately (so Prepend adds its "▁" after every special token). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

static sl_status_t sl_tok_norm_add(sl_tok_t *tok, const char *where, json_t *j,
                                   const char *type)
{
    sl_tok_norm_t n = {0};
    sl_tok_norm_t *grown;
    sl_status_t st;

    if (strcmp(type, "NFC") == 0) {
        n.kind = SL_TOK_NORM_NFC;
    } else if (strcmp(type, "Prepend") == 0 || strcmp(type, "Replace") == 0) {
        bool prepend = type[0] == 'P';
        json_t *text = json_object_get(j, prepend ? "prepend" : "content");
        if (!json_is_string(text)) {
            sl_error("%s: %s.%s: expected a string", tok->path, where,
                     prepend ? "prepend" : "content");
            return SL_ERR_FORMAT;
        }
        n.kind = prepend ? SL_TOK_NORM_PREPEND : SL_TOK_NORM_REPLACE;
        n.text_len = json_string_length(text);
        n.text = malloc(n.text_len + 1);
        if (n.text == NULL)
            return SL_ERR_NO_MEMORY;
        memcpy(n.text, json_string_value(text), n.text_len + 1);
        if (!prepend) {
            char sub[256];
            snprintf(sub, sizeof(sub), "%s.pattern", where);
            st = sl_tok_pattern_parse(tok->path, sub, json_object_get(j, "pattern"), &n.pattern);
            if (st != SL_OK)
                goto err_text;
        }
    } else {
        sl_error("%s: %s: normalizer type '%s' is not supported (supported: NFC, Prepend, "
                 "Replace, Sequence)", tok->path, where, type);
        return SL_ERR_UNSUPPORTED;
    }
    grown = realloc(tok->norms, (tok->n_norms + 1) * sizeof(*grown));
    if (grown == NULL) {
        st = SL_ERR_NO_MEMORY;
        goto err_pattern;
    }
    tok->norms = grown;
    tok->norms[tok->n_norms++] = n;
    return SL_OK;

err_pattern:
    sl_tok_pattern_free(&n.pattern);
err_text:
    free(n.text);
    return st;
}

sl_status_t sl_tok_normalizer_parse(sl_tok_t *tok, json_t *j)
{
    if (j == NULL || json_is_null(j))
        return SL_OK;
    return sl_tok_each_component(tok, "normalizer", j, "normalizers", sl_tok_norm_add);
}

void sl_tok_norms_free(sl_tok_t *tok)
{
    for (size_t i = 0; i < tok->n_norms; i++) {
        free(tok->norms[i].text);
        sl_tok_pattern_free(&tok->norms[i].pattern);
    }
    free(tok->norms);
    tok->norms = NULL;
    tok->n_norms = 0;
}

/* Every match of N's pattern in S replaced by N's text, into OUT. */
static sl_status_t sl_tok_replace(const sl_tok_norm_t *n, sl_tok_matcher_t *m, const char *s,
                                  size_t len, sl_tok_buf_t *out)
{
    sl_tok_find_t it = {0};
    size_t done = 0;

    for (;;) {
        size_t ms, me;
        bool found;
        sl_status_t st = sl_tok_pattern_next(&n->pattern, m, s, len, &it, &ms, &me, &found);
        if (st != SL_OK)
            return st;
        if (!found)
            break;
        st = sl_tok_buf_append(out, s + done, ms - done);
        if (st == SL_OK)
            st = sl_tok_buf_append(out, n->text, n->text_len);
        if (st != SL_OK)
            return st;
        done = me;
    }
    return sl_tok_buf_append(out, s + done, len - done);
}

sl_status_t sl_tok_normalize(const sl_tok_t *tok, sl_tok_matcher_t *m, const char *s, size_t len,
                             sl_tok_buf_t *out, sl_tok_buf_t *tmp)
{
    sl_status_t st;

    out->len = 0;
    st = sl_tok_buf_append(out, s, len);
    for (size_t i = 0; i < tok->n_norms && st == SL_OK; i++) {
        const sl_tok_norm_t *n = &tok->norms[i];
        sl_tok_buf_t swap;
        tmp->len = 0;
        switch (n->kind) {
        case SL_TOK_NORM_NFC:
            st = sl_nfc_append(out->data, out->len, tmp);
            break;
        case SL_TOK_NORM_PREPEND:
            if (out->len == 0)
                continue;
            st = sl_tok_buf_append(tmp, n->text, n->text_len);
            if (st == SL_OK)
                st = sl_tok_buf_append(tmp, out->data, out->len);
            break;
        case SL_TOK_NORM_REPLACE:
            st = sl_tok_replace(n, m, out->data, out->len, tmp);
            break;
        }
        swap = *out;
        *out = *tmp;
        *tmp = swap;
    }
    return st;
}
