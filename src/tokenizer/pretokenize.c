/* pretokenize.c - the `pre_tokenizer` of tokenizer.json: Split, ByteLevel,
 * Metaspace and Sequence of them.
 *
 * Pre-tokenizers run depth first: a stage cuts its piece and hands each
 * sub-piece to the next stage at once, the last stage handing it to the
 * model. No list of all pieces is ever built, and a stage that rewrites text
 * (Metaspace, ByteLevel's prefix space) writes it to its own scratch buffer,
 * which stays untouched until the stages after it are done with it. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

/* GPT-2's own split, used by ByteLevel when use_regex is true. */
static const char sl_gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static bool sl_tok_json_bool(json_t *obj, const char *key, bool dflt)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* Metaspace's "prepend_scheme", or the older "add_prefix_space". */
static sl_status_t sl_tok_parse_prepend(const char *file, const char *where, json_t *j,
                                        sl_tok_prepend_t *prepend_p)
{
    const char *scheme = json_string_value(json_object_get(j, "prepend_scheme"));
    json_t *aps = json_object_get(j, "add_prefix_space");
    sl_tok_prepend_t p = SL_TOK_PREPEND_ALWAYS;

    if (scheme != NULL) {
        if (strcmp(scheme, "always") == 0) {
            p = SL_TOK_PREPEND_ALWAYS;
        } else if (strcmp(scheme, "first") == 0) {
            p = SL_TOK_PREPEND_FIRST;
        } else if (strcmp(scheme, "never") == 0) {
            p = SL_TOK_PREPEND_NEVER;
        } else {
            sl_error("%s: %s.prepend_scheme: '%s' is not always, first or never", file, where,
                     scheme);
            return SL_ERR_FORMAT;
        }
    }
    if (json_is_false(aps)) {
        if (scheme != NULL && p != SL_TOK_PREPEND_NEVER) {
            sl_error("%s: %s: add_prefix_space false contradicts prepend_scheme '%s'", file,
                     where, scheme);
            return SL_ERR_FORMAT;
        }
        p = SL_TOK_PREPEND_NEVER;
    }
    *prepend_p = p;
    return SL_OK;
}

/* The replacement character of a Metaspace (pre-tokenizer or decoder). */
static sl_status_t sl_tok_parse_char(const char *file, const char *where, json_t *j,
                                     const char *key, uint32_t *cp_p)
{
    json_t *v = json_object_get(j, key);
    const char *s = json_string_value(v);
    uint32_t cp;

    if (s == NULL || json_string_length(v) == 0 ||
        sl_utf8_decode(s, &cp) != json_string_length(v)) {
        sl_error("%s: %s.%s: expected a string of one character", file, where, key);
        return SL_ERR_FORMAT;
    }
    *cp_p = cp;
    return SL_OK;
}

sl_status_t sl_tok_parse_metaspace(const char *file, const char *where, json_t *j,
                                   uint32_t *replacement_p, sl_tok_prepend_t *prepend_p,
                                   bool *split_p)
{
    sl_status_t st = sl_tok_parse_char(file, where, j, "replacement", replacement_p);
    if (st == SL_OK)
        st = sl_tok_parse_prepend(file, where, j, prepend_p);
    if (st == SL_OK)
        *split_p = sl_tok_json_bool(j, "split", true);
    return st;
}

static sl_status_t sl_tok_pre_add(sl_tok_t *tok, const char *where, json_t *j,
                                  const char *type)
{
    sl_tok_pre_t p = {0};
    sl_status_t st;
    char sub[256];

    if (tok->n_pres == SL_TOK_MAX_PRE) {
        sl_error("%s: %s: more than %d pre-tokenizers", tok->path, where, SL_TOK_MAX_PRE);
        return SL_ERR_UNSUPPORTED;
    }
    if (tok->n_pres > 0 && tok->pres[tok->n_pres - 1].kind == SL_TOK_PRE_BYTELEVEL) {
        sl_error("%s: %s: a '%s' pre-tokenizer after ByteLevel is not supported (ByteLevel "
                 "must come last)", tok->path, where, type);
        return SL_ERR_UNSUPPORTED;
    }
    if (strcmp(type, "Split") == 0) {
        static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                            "MergedWithNext", "Contiguous"};
        const char *behavior = json_string_value(json_object_get(j, "behavior"));
        size_t b;
        p.kind = SL_TOK_PRE_SPLIT;
        for (b = 0; behavior != NULL && b < 5; b++)
            if (strcmp(behavior, names[b]) == 0)
                break;
        if (behavior == NULL || b == 5) {
            sl_error("%s: %s.behavior: expected Removed, Isolated, MergedWithPrevious, "
                     "MergedWithNext or Contiguous", tok->path, where);
            return SL_ERR_FORMAT;
        }
        p.behavior = (sl_tok_split_behavior_t)b;
        p.invert = sl_tok_json_bool(j, "invert", false);
        snprintf(sub, sizeof(sub), "%s.pattern", where);
        st = sl_tok_pattern_parse(tok->path, sub, json_object_get(j, "pattern"), &p.pattern);
        if (st != SL_OK)
            return st;
    } else if (strcmp(type, "ByteLevel") == 0) {
        p.kind = SL_TOK_PRE_BYTELEVEL;
        p.add_prefix_space = sl_tok_json_bool(j, "add_prefix_space", true);
        p.use_regex = sl_tok_json_bool(j, "use_regex", true);
        if (p.use_regex) {
            st = sl_tok_pattern_regex(tok->path, where, sl_gpt2_regex, strlen(sl_gpt2_regex),
                                      &p.pattern);
            if (st != SL_OK)
                return st;
        }
    } else if (strcmp(type, "Metaspace") == 0) {
        uint32_t cp;
        p.kind = SL_TOK_PRE_METASPACE;
        st = sl_tok_parse_metaspace(tok->path, where, j, &cp, &p.prepend, &p.split);
        if (st != SL_OK)
            return st;
        p.replacement_len = sl_utf8_encode(cp, p.replacement);
        /* Split on the replacement, as a literal pattern. */
        p.pattern.literal = malloc(p.replacement_len + 1);
        if (p.pattern.literal == NULL)
            return SL_ERR_NO_MEMORY;
        memcpy(p.pattern.literal, p.replacement, p.replacement_len);
        p.pattern.literal[p.replacement_len] = '\0';
        p.pattern.literal_len = p.replacement_len;
    } else {
        sl_error("%s: %s: pre-tokenizer type '%s' is not supported (supported: Split, ByteLevel, "
                 "Metaspace, Sequence)", tok->path, where, type);
        return SL_ERR_UNSUPPORTED;
    }
    tok->pres[tok->n_pres++] = p;
    return SL_OK;
}

sl_status_t sl_tok_pretokenizer_parse(sl_tok_t *tok, json_t *j)
{
    sl_status_t st;

    if (j == NULL || json_is_null(j))
        return SL_OK;
    st = sl_tok_each_component(tok, "pre_tokenizer", j, "pretokenizers", sl_tok_pre_add);
    if (st != SL_OK)
        return st;
    tok->bpe.byte_mode = tok->n_pres > 0 && tok->pres[tok->n_pres - 1].kind == SL_TOK_PRE_BYTELEVEL;
    return SL_OK;
}

void sl_tok_pres_free(sl_tok_t *tok)
{
    for (size_t i = 0; i < tok->n_pres; i++)
        sl_tok_pattern_free(&tok->pres[i].pattern);
    tok->n_pres = 0;
}

static sl_status_t sl_tok_pre_run(sl_tok_enc_t *enc, size_t k, const char *s, size_t len,
                                  bool at_start);

/* The fold of HF's NormalizedString::split, one element (a match or the gap
 * before it) at a time, so that no list of all the pieces of a long text is
 * ever built: a piece is passed on as soon as no later element can change
 * it. */
typedef struct {
    sl_tok_enc_t *enc;
    size_t k;
    const char *s;
    bool at_start;
    sl_tok_split_behavior_t behavior;
    bool prev_match;
    bool have_out; /* out is a piece that the next element may still grow */
    sl_tok_span_t out;
} sl_tok_fold_t;

static sl_status_t sl_tok_fold_emit(sl_tok_fold_t *f, size_t start, size_t end)
{
    return sl_tok_pre_run(f->enc, f->k + 1, f->s + start, end - start,
                          f->at_start && start == 0);
}

static sl_status_t sl_tok_fold_flush(sl_tok_fold_t *f)
{
    if (!f->have_out)
        return SL_OK;
    f->have_out = false;
    return sl_tok_fold_emit(f, f->out.start, f->out.end);
}

static sl_status_t sl_tok_fold_feed(sl_tok_fold_t *f, size_t start, size_t end, bool is_match)
{
    bool prev_match = f->prev_match;
    sl_status_t st = SL_OK;

    f->prev_match = is_match;
    switch (f->behavior) {
    case SL_TOK_SPLIT_ISOLATED:
        return sl_tok_fold_emit(f, start, end);
    case SL_TOK_SPLIT_REMOVED:
        return is_match ? SL_OK : sl_tok_fold_emit(f, start, end);
    case SL_TOK_SPLIT_MERGED_WITH_PREVIOUS:
        /* A match joins the piece before it, unless that was a match. */
        if (is_match && !prev_match && f->have_out) {
            f->out.end = end;
            return SL_OK;
        }
        break;
    case SL_TOK_SPLIT_CONTIGUOUS:
        if (is_match == prev_match && f->have_out) {
            f->out.end = end;
            return SL_OK;
        }
        break;
    case SL_TOK_SPLIT_MERGED_WITH_NEXT:
        /* A match opens the gap after it; followed by a match, it stands
         * alone. out holds the pending match. */
        if (!is_match) {
            size_t from = f->have_out ? f->out.start : start;
            f->have_out = false;
            return sl_tok_fold_emit(f, from, end);
        }
        break;
    }
    st = sl_tok_fold_flush(f);
    f->out = (sl_tok_span_t){.start = start, .end = end};
    f->have_out = true;
    return st;
}

/* Cuts S with PATTERN and BEHAVIOR (INVERT swaps matches and gaps) and
 * passes the non-empty pieces to stage K + 1. */
static sl_status_t sl_tok_pre_split(sl_tok_enc_t *enc, size_t k, const sl_tok_pattern_t *pattern,
                                    sl_tok_split_behavior_t behavior, bool invert, const char *s,
                                    size_t len, bool at_start)
{
    sl_tok_fold_t f = {.enc = enc, .k = k, .s = s, .at_start = at_start, .behavior = behavior};
    sl_tok_find_t it = {0};
    size_t prev = 0;
    sl_status_t st;

    for (;;) {
        size_t ms, me;
        bool found;
        st = sl_tok_pattern_next(pattern, &enc->matcher, s, len, &it, &ms, &me, &found);
        if (st != SL_OK)
            return st;
        if (!found)
            break;
        if (ms != prev && (st = sl_tok_fold_feed(&f, prev, ms, invert)) != SL_OK)
            return st;
        if ((st = sl_tok_fold_feed(&f, ms, me, !invert)) != SL_OK)
            return st;
        prev = me;
    }
    if (prev != len && (st = sl_tok_fold_feed(&f, prev, len, invert)) != SL_OK)
        return st;
    return sl_tok_fold_flush(&f);
}

static sl_status_t sl_tok_pre_run(sl_tok_enc_t *enc, size_t k, const char *s, size_t len,
                                  bool at_start)
{
    const sl_tok_t *tok = enc->tok;
    const sl_tok_pre_t *p;
    sl_tok_buf_t *buf;
    sl_status_t st;

    if (len == 0)
        return SL_OK; /* HF drops empty pieces */
    if (k == tok->n_pres) {
        uint64_t hash = 0;
        size_t before = enc->out->len;
        if (sl_tok_cache_lookup(tok->serial, s, len, &hash, enc->out, &st))
            return st;
        st = sl_tok_bpe_encode(&tok->bpe, &enc->bpe, s, len, enc->out);
        if (st == SL_OK)
            sl_tok_cache_store(tok->serial, hash, s, len, enc->out->data + before,
                               enc->out->len - before);
        return st;
    }
    p = &tok->pres[k];
    buf = &enc->pre_text[k];
    switch (p->kind) {
    case SL_TOK_PRE_SPLIT:
        return sl_tok_pre_split(enc, k, &p->pattern, p->behavior, p->invert, s, len, at_start);
    case SL_TOK_PRE_BYTELEVEL:
        if (p->add_prefix_space && s[0] != ' ') {
            buf->len = 0;
            st = sl_tok_buf_append(buf, " ", 1);
            if (st == SL_OK)
                st = sl_tok_buf_append(buf, s, len);
            if (st != SL_OK)
                return st;
            s = buf->data;
            len = buf->len;
        }
        if (p->use_regex)
            return sl_tok_pre_split(enc, k, &p->pattern, SL_TOK_SPLIT_ISOLATED, false, s, len,
                                    at_start);
        return sl_tok_pre_run(enc, k + 1, s, len, at_start);
    case SL_TOK_PRE_METASPACE: {
        bool prepend = p->prepend == SL_TOK_PREPEND_ALWAYS ||
                       (p->prepend == SL_TOK_PREPEND_FIRST && at_start);
        size_t i, done = 0;
        buf->len = 0;
        st = SL_OK;
        if (prepend && !(len >= p->replacement_len &&
                         memcmp(s, p->replacement, p->replacement_len) == 0)) {
            /* Prepend unless the text, spaces replaced, starts with it. */
            if (s[0] != ' ')
                st = sl_tok_buf_append(buf, p->replacement, p->replacement_len);
        }
        for (i = 0; i < len && st == SL_OK; i++) {
            if (s[i] != ' ')
                continue;
            st = sl_tok_buf_append(buf, s + done, i - done);
            if (st == SL_OK)
                st = sl_tok_buf_append(buf, p->replacement, p->replacement_len);
            done = i + 1;
        }
        if (st == SL_OK)
            st = sl_tok_buf_append(buf, s + done, len - done);
        if (st != SL_OK)
            return st;
        if (p->split)
            return sl_tok_pre_split(enc, k, &p->pattern, SL_TOK_SPLIT_MERGED_WITH_NEXT, false,
                                    buf->data, buf->len, at_start);
        return sl_tok_pre_run(enc, k + 1, buf->data, buf->len, at_start);
    }
    }
    return SL_ERR_INTERNAL;
}

sl_status_t sl_tok_pretokenize(sl_tok_enc_t *enc, const char *s, size_t len, bool at_start)
{
    return sl_tok_pre_run(enc, 0, s, len, at_start);
}
