/* added_tokens.c - the `added_tokens` of tokenizer.json, found in the text
 * before the model runs, as HF's AddedVocabulary does: leftmost-longest
 * matching (a byte trie), single_word, lstrip and rstrip, and the split
 * between tokens matched on the raw text (normalized=false) and tokens
 * matched on the normalized text (normalized=true). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

/* `\w` as Rust's regex crate defines it (HF tests single_word with it). */
static const char sl_word_regex[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";

sl_status_t sl_tok_added_parse(sl_tok_t *tok, json_t *j)
{
    size_t i;
    json_t *item;

    if (j == NULL || json_is_null(j))
        return SL_OK;
    if (!json_is_array(j)) {
        sl_error("%s: added_tokens: expected an array", tok->path);
        return SL_ERR_FORMAT;
    }
    tok->added = calloc(json_array_size(j) + 1, sizeof(*tok->added));
    if (tok->added == NULL)
        return SL_ERR_NO_MEMORY;
    json_array_foreach(j, i, item) {
        sl_tok_added_t *a = &tok->added[tok->n_added];
        json_t *content = json_object_get(item, "content");
        json_t *id = json_object_get(item, "id");
        json_t *special = json_object_get(item, "special");
        json_t *normalized = json_object_get(item, "normalized");
        sl_status_t st;
        if (!json_is_string(content) || !json_is_integer(id) || json_integer_value(id) < 0 ||
            (size_t)json_integer_value(id) >= tok->id_limit) {
            sl_error("%s: added_tokens[%zu]: expected a \"content\" string and an \"id\"",
                     tok->path, i);
            return SL_ERR_FORMAT;
        }
        a->len = json_string_length(content);
        a->content = malloc(a->len + 1);
        if (a->content == NULL)
            return SL_ERR_NO_MEMORY;
        memcpy(a->content, json_string_value(content), a->len + 1);
        tok->n_added++;
        a->id = (int32_t)json_integer_value(id);
        a->special = json_is_true(special);
        a->normalized = json_is_boolean(normalized) ? json_is_true(normalized) : !a->special;
        a->single_word = json_is_true(json_object_get(item, "single_word"));
        a->lstrip = json_is_true(json_object_get(item, "lstrip"));
        a->rstrip = json_is_true(json_object_get(item, "rstrip"));
        st = sl_tok_set_text(tok, a->id, a->content, a->len);
        if (st != SL_OK)
            return st;
    }
    /* Decoding skips by text, as HF does (is_special_token looks the text
     * up): any id whose text is a special token's is skipped. */
    {
        sl_tok_strmap_t specials = {0};
        sl_status_t st = SL_OK;
        for (i = 0; i < tok->n_added && st == SL_OK; i++)
            if (tok->added[i].special)
                st = sl_tok_strmap_put(&specials, tok->added[i].content, tok->added[i].len, 1);
        for (size_t id = 0; id < tok->id_limit && st == SL_OK && specials.count > 0; id++)
            if ((tok->flags[id] & SL_TOK_F_PRESENT) &&
                sl_tok_strmap_get(&specials, tok->texts.data + tok->text_off[id],
                                  tok->text_len[id]) >= 0)
                tok->flags[id] |= SL_TOK_F_SPECIAL;
        sl_tok_strmap_free(&specials);
        return st;
    }
}

void sl_tok_added_free(sl_tok_t *tok)
{
    sl_tok_trie_t *tries[2] = {&tok->trie_raw, &tok->trie_norm};

    for (size_t i = 0; i < tok->n_added; i++)
        free(tok->added[i].content);
    free(tok->added);
    tok->added = NULL;
    tok->n_added = 0;
    for (int t = 0; t < 2; t++) {
        free(tries[t]->edge_keys);
        free(tries[t]->edge_child);
        free(tries[t]->node_token);
        *tries[t] = (sl_tok_trie_t){0};
    }
    pcre2_code_free(tok->word_re);
    tok->word_re = NULL;
}

/* ---- the trie -------------------------------------------------------------- */

static inline size_t sl_tok_edge_slot(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 40) & mask;
}

static int32_t sl_tok_trie_child(const sl_tok_trie_t *t, uint32_t node, unsigned char byte)
{
    uint64_t key = ((uint64_t)node << 8 | byte) + 1;
    size_t j = sl_tok_edge_slot(key, t->edge_mask);

    for (;;) {
        if (t->edge_keys[j] == key)
            return (int32_t)t->edge_child[j];
        if (t->edge_keys[j] == 0)
            return -1;
        j = (j + 1) & t->edge_mask;
    }
}

/* Inserts S as the text of added token INDEX; the first of two equal texts
 * keeps it. The edge table is sized for the total length up front. */
static sl_status_t sl_tok_trie_insert(sl_tok_trie_t *t, const char *s, size_t len, int32_t index)
{
    uint32_t node = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t child = sl_tok_trie_child(t, node, b);
        if (child < 0) {
            uint64_t key = ((uint64_t)node << 8 | b) + 1;
            size_t j = sl_tok_edge_slot(key, t->edge_mask);
            sl_status_t st = sl_tok_grow((void **)&t->node_token, &t->nodes_cap, t->n_nodes + 1,
                                         sizeof(int32_t));
            if (st != SL_OK)
                return st;
            while (t->edge_keys[j] != 0)
                j = (j + 1) & t->edge_mask;
            child = (int32_t)t->n_nodes++;
            t->node_token[child] = -1;
            t->edge_keys[j] = key;
            t->edge_child[j] = (uint32_t)child;
        }
        node = (uint32_t)child;
    }
    if (t->node_token[node] < 0)
        t->node_token[node] = index;
    t->first[(unsigned char)s[0] >> 3] |= (uint8_t)(1u << (s[0] & 7));
    return SL_OK;
}

static sl_status_t sl_tok_trie_init(sl_tok_trie_t *t, size_t total_len)
{
    size_t slots = 16;

    while (slots < 2 * total_len + 2)
        slots *= 2;
    t->edge_keys = calloc(slots, sizeof(*t->edge_keys));
    t->edge_child = calloc(slots, sizeof(*t->edge_child));
    t->node_token = malloc(16 * sizeof(int32_t));
    if (t->edge_keys == NULL || t->edge_child == NULL || t->node_token == NULL)
        return SL_ERR_NO_MEMORY;
    t->edge_mask = slots - 1;
    t->nodes_cap = 16;
    t->n_nodes = 1;
    t->node_token[0] = -1;
    return SL_OK;
}

sl_status_t sl_tok_added_build(sl_tok_t *tok)
{
    sl_tok_buf_t norm = {0}, tmp = {0};
    sl_tok_matcher_t m = {0};
    size_t total = 0;
    bool single_word = false;
    sl_status_t st;

    for (size_t i = 0; i < tok->n_added; i++) {
        /* Normalization may grow a text (Prepend); allow for it. */
        total += tok->added[i].len + 16;
        single_word |= tok->added[i].single_word;
    }
    st = sl_tok_trie_init(&tok->trie_raw, total);
    if (st == SL_OK)
        st = sl_tok_trie_init(&tok->trie_norm, 4 * total);
    for (size_t i = 0; i < tok->n_added && st == SL_OK; i++) {
        const sl_tok_added_t *a = &tok->added[i];
        if (a->len == 0)
            continue; /* HF ignores empty added tokens */
        if (!a->normalized) {
            st = sl_tok_trie_insert(&tok->trie_raw, a->content, a->len, (int32_t)i);
            continue;
        }
        /* Matched against normalized text, so stored normalized. */
        st = sl_tok_normalize(tok, &m, a->content, a->len, &norm, &tmp);
        if (st == SL_OK && norm.len > 0)
            st = sl_tok_trie_insert(&tok->trie_norm, norm.data, norm.len, (int32_t)i);
    }
    if (st == SL_OK && single_word) {
        sl_tok_pattern_t p = {0};
        st = sl_tok_pattern_regex(tok->path, "added_tokens (single_word)", sl_word_regex,
                                  strlen(sl_word_regex), &p);
        tok->word_re = p.code;
    }
    sl_tok_buf_free(&norm);
    sl_tok_buf_free(&tmp);
    sl_tok_matcher_free(&m);
    return st;
}

/* ---- matching -------------------------------------------------------------- */

/* The leftmost-longest match at or after POS: *start_p, *end_p and the
 * added token's index; false when there is none. */
static bool sl_tok_trie_find(const sl_tok_trie_t *t, const char *s, size_t len, size_t pos,
                             size_t *start_p, size_t *end_p, int32_t *index_p)
{
    if (t->n_nodes <= 1)
        return false;
    for (size_t i = pos; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        uint32_t node = 0;
        int32_t best = -1;
        size_t best_end = 0;
        if (!(t->first[b >> 3] & (1u << (b & 7))))
            continue;
        for (size_t j = i; j < len; j++) {
            int32_t child = sl_tok_trie_child(t, node, (unsigned char)s[j]);
            if (child < 0)
                break;
            node = (uint32_t)child;
            if (t->node_token[node] >= 0) {
                best = t->node_token[node];
                best_end = j + 1;
            }
        }
        if (best >= 0) {
            *start_p = i;
            *end_p = best_end;
            *index_p = best;
            return true;
        }
    }
    return false;
}

/* Start of the character that ends at END (valid UTF-8). */
static size_t sl_tok_char_before(const char *s, size_t end)
{
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

sl_status_t sl_tok_added_split(const sl_tok_t *tok, const sl_tok_trie_t *trie,
                               sl_tok_matcher_t *m, const char *s, size_t len,
                               sl_tok_spans_t *out)
{
    size_t pos = 0, done = 0, start, end;
    int32_t index;
    sl_status_t st;

    out->len = 0;
    while (sl_tok_trie_find(trie, s, len, pos, &start, &end, &index)) {
        const sl_tok_added_t *a = &tok->added[index];
        size_t stop = end;
        /* Like Aho-Corasick's iterator, the search goes on after the match
         * even when single_word discards it. */
        pos = end;
        if (a->single_word) {
            size_t before = start > 0 ? sl_tok_char_before(s, start) : 0;
            bool word_before = start > 0 && sl_tok_regex_char_is(tok->word_re, m, s + before,
                                                                  start - before);
            bool word_after = end < len &&
                              sl_tok_regex_char_is(tok->word_re, m, s + end,
                                                   sl_utf8_len((unsigned char)s[end]));
            if (word_before || word_after)
                continue;
        }
        if (a->lstrip) {
            size_t i = start;
            while (i > 0) {
                size_t c = sl_tok_char_before(s, i);
                uint32_t cp;
                sl_utf8_decode(s + c, &cp);
                if (!sl_unicode_is_space(cp))
                    break;
                i = c;
            }
            start = i;
        }
        if (start < done)
            start = done; /* spaces an earlier match took already */
        if (start > stop)
            continue;
        if (a->rstrip) {
            while (stop < len) {
                uint32_t cp;
                size_t n = sl_utf8_decode(s + stop, &cp);
                if (!sl_unicode_is_space(cp))
                    break;
                stop += n;
            }
        }
        if (done < start && (st = sl_tok_spans_push(out, done, start, -1)) != SL_OK)
            return st;
        if ((st = sl_tok_spans_push(out, start, stop, a->id)) != SL_OK)
            return st;
        done = stop;
    }
    if (done < len)
        return sl_tok_spans_push(out, done, len, -1);
    return SL_OK;
}
