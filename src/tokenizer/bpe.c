/* bpe.c - the BPE model: vocabulary, merges, unk and byte fallback, and the
 * merge loop.
 *
 * Merging follows HF's Word::merge_all exactly: all adjacent pairs with a
 * merge go in a min-heap ordered by (rank, position); the best is applied,
 * stale entries are skipped when popped, and the pairs the merge creates
 * with its neighbours are pushed. O(n log n) in the length of the piece,
 * which matters for SentencePiece-style tokenizers whose pieces are whole
 * paragraphs. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

static inline size_t sl_tok_merge_slot(uint64_t key, size_t mask)
{
    /* Fibonacci hashing: ids are small and dense, so mix the high bits in. */
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

static inline const sl_tok_merge_t *sl_tok_merge_find(const sl_tok_bpe_t *bpe, int32_t a,
                                                      int32_t b)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t j;

    if (bpe->merges == NULL)
        return NULL;
    j = sl_tok_merge_slot(key, bpe->merges_mask);
    for (;;) {
        const sl_tok_merge_t *m = &bpe->merges[j];
        if (m->key == key)
            return m;
        if (m->key == UINT64_MAX)
            return NULL;
        j = (j + 1) & bpe->merges_mask;
    }
}

/* Inserts or overwrites: of two merges of the same pair the later wins, as
 * in HF (the merges are collected into a hash map). */
static void sl_tok_merge_put(sl_tok_bpe_t *bpe, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t j = sl_tok_merge_slot(key, bpe->merges_mask);

    while (bpe->merges[j].key != UINT64_MAX && bpe->merges[j].key != key)
        j = (j + 1) & bpe->merges_mask;
    bpe->merges[j] = (sl_tok_merge_t){.key = key, .rank = rank, .new_id = id};
}

/* One entry of "merges": "a b" (older files) or ["a", "b"]. */
static sl_status_t sl_tok_merge_parts(const sl_tok_t *tok, size_t i, json_t *m, const char **a_p,
                                      size_t *a_len_p, const char **b_p, size_t *b_len_p)
{
    if (json_is_string(m)) {
        const char *s = json_string_value(m);
        size_t len = json_string_length(m);
        const char *sp = memchr(s, ' ', len);
        if (sp == NULL || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s)) != NULL) {
            sl_error("%s: model.merges[%zu]: \"%s\" is not two tokens separated by one space",
                     tok->path, i, s);
            return SL_ERR_FORMAT;
        }
        *a_p = s;
        *a_len_p = (size_t)(sp - s);
        *b_p = sp + 1;
        *b_len_p = len - *a_len_p - 1;
        return SL_OK;
    }
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        *a_p = json_string_value(json_array_get(m, 0));
        *a_len_p = json_string_length(json_array_get(m, 0));
        *b_p = json_string_value(json_array_get(m, 1));
        *b_len_p = json_string_length(json_array_get(m, 1));
        return SL_OK;
    }
    sl_error("%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", tok->path, i);
    return SL_ERR_FORMAT;
}

static sl_status_t sl_tok_merges_parse(sl_tok_t *tok, json_t *merges, const sl_tok_strmap_t *vocab)
{
    sl_tok_bpe_t *bpe = &tok->bpe;
    size_t n = json_array_size(merges), slots = 16, i;
    sl_tok_buf_t joined = {0};
    json_t *m;
    sl_status_t st = SL_OK;

    if (!json_is_array(merges)) {
        sl_error("%s: model.merges: expected an array", tok->path);
        return SL_ERR_FORMAT;
    }
    if (n > UINT32_MAX / 4) {
        sl_error("%s: model.merges: %zu merges is too many", tok->path, n);
        return SL_ERR_OVERFLOW;
    }
    while (slots < 2 * n)
        slots *= 2;
    bpe->merges = malloc(slots * sizeof(*bpe->merges));
    if (bpe->merges == NULL) {
        sl_error("%s: out of memory for %zu merges", tok->path, n);
        return SL_ERR_NO_MEMORY;
    }
    bpe->merges_mask = slots - 1;
    for (i = 0; i < slots; i++)
        bpe->merges[i].key = UINT64_MAX;

    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t a_len, b_len;
        int32_t a_id, b_id, new_id;
        st = sl_tok_merge_parts(tok, i, m, &a, &a_len, &b, &b_len);
        if (st != SL_OK)
            break;
        a_id = sl_tok_strmap_get(vocab, a, a_len);
        b_id = sl_tok_strmap_get(vocab, b, b_len);
        /* The merged token drops b's continuing_subword_prefix. */
        joined.len = 0;
        st = sl_tok_buf_append(&joined, a, a_len);
        if (st == SL_OK && b_len >= bpe->prefix_len)
            st = sl_tok_buf_append(&joined, b + bpe->prefix_len, b_len - bpe->prefix_len);
        if (st != SL_OK)
            break;
        new_id = sl_tok_strmap_get(vocab, joined.data, joined.len);
        if (a_id < 0 || b_id < 0 || new_id < 0) {
            sl_error("%s: model.merges[%zu]: token \"%.*s\" is not in model.vocab", tok->path, i,
                     (int)(a_id < 0 ? a_len : b_id < 0 ? b_len : joined.len),
                     a_id < 0 ? a : b_id < 0 ? b : joined.data);
            st = SL_ERR_FORMAT;
            break;
        }
        sl_tok_merge_put(bpe, a_id, b_id, (uint32_t)i, new_id);
    }
    sl_tok_buf_free(&joined);
    return st;
}

/* A model token as the model looks it up: in byte mode its raw bytes (false
 * when a character is outside the byte-level alphabet: the model can never
 * produce such a token from byte-level input). */
static bool sl_tok_model_key(bool byte_mode, const char *s, size_t len, sl_tok_buf_t *key)
{
    size_t i = 0;

    key->len = 0;
    if (!byte_mode)
        return sl_tok_buf_append(key, s, len) == SL_OK;
    while (i < len) {
        uint32_t cp;
        int b;
        char c;
        i += sl_utf8_decode(s + i, &cp);
        b = sl_bytelevel_byte(cp);
        if (b < 0)
            return false;
        c = (char)b;
        if (sl_tok_buf_append(key, &c, 1) != SL_OK)
            return false;
    }
    return true;
}

static sl_status_t sl_tok_opt_string(const sl_tok_t *tok, json_t *model, const char *field,
                                     char **out_p, size_t *len_p)
{
    json_t *v = json_object_get(model, field);

    if (v == NULL || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
        return SL_OK;
    if (!json_is_string(v)) {
        sl_error("%s: model.%s: expected a string or null", tok->path, field);
        return SL_ERR_FORMAT;
    }
    *len_p = json_string_length(v);
    *out_p = malloc(*len_p + 1);
    if (*out_p == NULL)
        return SL_ERR_NO_MEMORY;
    memcpy(*out_p, json_string_value(v), *len_p + 1);
    return SL_OK;
}

sl_status_t sl_tok_bpe_parse(sl_tok_t *tok, json_t *model)
{
    sl_tok_bpe_t *bpe = &tok->bpe;
    const char *type = json_string_value(json_object_get(model, "type"));
    json_t *vocab = json_object_get(model, "vocab");
    json_t *dropout = json_object_get(model, "dropout");
    json_t *unk = json_object_get(model, "unk_token");
    sl_tok_strmap_t strings = {0}; /* the vocabulary as written */
    sl_tok_buf_t key = {0};
    const char *k;
    json_t *v;
    sl_status_t st;

    bpe->unk_id = -1;
    for (int b = 0; b < 256; b++)
        bpe->byte_id[b] = bpe->fallback_id[b] = -1;
    if (type == NULL || strcmp(type, "BPE") != 0) {
        sl_error("%s: model.type: model '%s' is not supported (only BPE)", tok->path,
                 type ? type : "(missing)");
        return SL_ERR_UNSUPPORTED;
    }
    if (dropout != NULL && !json_is_null(dropout) && json_number_value(dropout) != 0.0) {
        sl_error("%s: model.dropout: BPE dropout is not supported (it makes encoding random)",
                 tok->path);
        return SL_ERR_UNSUPPORTED;
    }
    if (!json_is_object(vocab)) {
        sl_error("%s: model.vocab: expected an object", tok->path);
        return SL_ERR_FORMAT;
    }
    bpe->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    bpe->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    bpe->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    st = sl_tok_opt_string(tok, model, "continuing_subword_prefix", &bpe->prefix,
                           &bpe->prefix_len);
    if (st == SL_OK)
        st = sl_tok_opt_string(tok, model, "end_of_word_suffix", &bpe->suffix, &bpe->suffix_len);
    if (st != SL_OK)
        goto err;
    if (bpe->byte_mode && (bpe->prefix != NULL || bpe->suffix != NULL)) {
        sl_error("%s: model: continuing_subword_prefix/end_of_word_suffix with a ByteLevel "
                 "pre-tokenizer is not supported", tok->path);
        st = SL_ERR_UNSUPPORTED;
        goto err;
    }

    json_object_foreach(vocab, k, v) {
        size_t klen = json_object_iter_key_len(json_object_key_to_iter(k));
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || (size_t)id >= tok->id_limit) {
            sl_error("%s: model.vocab[\"%s\"]: bad id", tok->path, k);
            st = SL_ERR_FORMAT;
            goto err;
        }
        st = sl_tok_strmap_put(&strings, k, klen, (int32_t)id);
        if (st == SL_OK)
            st = sl_tok_set_text(tok, (int32_t)id, k, klen);
        if (st != SL_OK)
            goto err;
        if (sl_tok_model_key(bpe->byte_mode, k, klen, &key)) {
            st = sl_tok_strmap_put(&bpe->keys, key.data, key.len, (int32_t)id);
            if (st != SL_OK)
                goto err;
        }
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        unsigned char c = (unsigned char)b;
        snprintf(name, sizeof(name), "<0x%02X>", b);
        bpe->fallback_id[b] = sl_tok_strmap_get(&strings, name, 6);
        if (bpe->byte_mode)
            bpe->byte_id[b] = sl_tok_strmap_get(&bpe->keys, (const char *)&c, 1);
    }
    if (json_is_string(unk)) {
        bpe->unk_id = sl_tok_strmap_get(&strings, json_string_value(unk), json_string_length(unk));
        /* HF accepts this and fails only when an unknown character comes. */
        if (bpe->unk_id < 0)
            bpe->unk_id = SL_TOK_UNK_MISSING;
    } else if (unk != NULL && !json_is_null(unk)) {
        sl_error("%s: model.unk_token: expected a string or null", tok->path);
        st = SL_ERR_FORMAT;
        goto err;
    }
    st = sl_tok_merges_parse(tok, json_object_get(model, "merges"), &strings);
    if (st != SL_OK)
        goto err;
    sl_tok_strmap_free(&strings);
    sl_tok_buf_free(&key);
    return SL_OK;

err:
    sl_tok_strmap_free(&strings);
    sl_tok_buf_free(&key);
    return st;
}

void sl_tok_bpe_free(sl_tok_bpe_t *bpe)
{
    sl_tok_strmap_free(&bpe->keys);
    free(bpe->merges);
    free(bpe->prefix);
    free(bpe->suffix);
    *bpe = (sl_tok_bpe_t){0};
}

void sl_tok_bpe_scratch_free(sl_tok_bpe_scratch_t *scr)
{
    free(scr->syms);
    free(scr->heap);
    sl_tok_buf_free(&scr->key);
    *scr = (sl_tok_bpe_scratch_t){0};
}

/* ---- the merge loop -------------------------------------------------------- */

static inline bool sl_tok_heap_less(const sl_tok_heap_item_t *a, const sl_tok_heap_item_t *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static inline void sl_tok_heap_push(sl_tok_heap_item_t *h, size_t *n, sl_tok_heap_item_t item)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!sl_tok_heap_less(&item, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = item;
}

static inline sl_tok_heap_item_t sl_tok_heap_pop(sl_tok_heap_item_t *h, size_t *n)
{
    sl_tok_heap_item_t top = h[0], last = h[--(*n)];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && sl_tok_heap_less(&h[c + 1], &h[c]))
            c++;
        if (!sl_tok_heap_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static inline sl_status_t sl_tok_sym_add(sl_tok_bpe_scratch_t *scr, size_t *n, int32_t id)
{
    if (*n == scr->syms_cap) {
        sl_status_t st = sl_tok_grow((void **)&scr->syms, &scr->syms_cap, *n + 1,
                                     sizeof(sl_tok_sym_t));
        if (st != SL_OK)
            return st;
    }
    scr->syms[*n] = (sl_tok_sym_t){.id = id, .prev = (int32_t)*n - 1, .next = -1};
    if (*n > 0)
        scr->syms[*n - 1].next = (int32_t)*n;
    (*n)++;
    return SL_OK;
}

/* Symbols for one unit the vocabulary lacks (KEY, the unit as looked up):
 * its bytes' "<0xXX>" tokens, or an unk, as HF's merge_word does. Note
 * HF's order: byte tokens go in before an unk that is still pending. */
static sl_status_t sl_tok_unknown_unit(const sl_tok_bpe_t *bpe, sl_tok_bpe_scratch_t *scr,
                                       size_t *n, const char *key, size_t key_len,
                                       bool *unk_pending)
{
    sl_status_t st;

    if (bpe->byte_fallback) {
        size_t i;
        for (i = 0; i < key_len; i++)
            if (bpe->fallback_id[(unsigned char)key[i]] < 0)
                break;
        if (i == key_len) {
            for (i = 0; i < key_len; i++) {
                st = sl_tok_sym_add(scr, n, bpe->fallback_id[(unsigned char)key[i]]);
                if (st != SL_OK)
                    return st;
            }
            return SL_OK;
        }
    }
    if (bpe->unk_id == SL_TOK_UNK_MISSING) {
        sl_error("tokenizer: model.unk_token is needed for \"%.*s\" but is not in model.vocab",
                 (int)key_len, key);
        return SL_ERR_FORMAT;
    }
    if (bpe->unk_id < 0)
        return SL_OK; /* no unk_token: HF drops the character */
    if (*unk_pending && bpe->fuse_unk)
        return SL_OK;
    if (*unk_pending) {
        st = sl_tok_sym_add(scr, n, bpe->unk_id);
        if (st != SL_OK)
            return st;
    }
    *unk_pending = true;
    return SL_OK;
}

/* The initial symbols of S: one per byte (byte mode) or per character. */
static sl_status_t sl_tok_bpe_symbols(const sl_tok_bpe_t *bpe, sl_tok_bpe_scratch_t *scr,
                                      const char *s, size_t len, size_t *n_p)
{
    bool unk_pending = false;
    size_t n = 0, i = 0;
    sl_status_t st = SL_OK;

    while (i < len && st == SL_OK) {
        int32_t id;
        const char *key;
        size_t key_len, unit;
        char mapped[4];
        if (bpe->byte_mode) {
            unsigned char b = (unsigned char)s[i];
            unit = 1;
            id = bpe->byte_id[b];
            key = mapped;
            key_len = id >= 0 ? 0 : sl_utf8_encode(sl_bytelevel_char[b], mapped);
        } else {
            unit = sl_utf8_len((unsigned char)s[i]);
            key = s + i;
            key_len = unit;
            if (bpe->prefix_len > 0 || bpe->suffix_len > 0) {
                sl_tok_buf_t *kb = &scr->key;
                kb->len = 0;
                if (i > 0)
                    st = sl_tok_buf_append(kb, bpe->prefix, bpe->prefix_len);
                if (st == SL_OK)
                    st = sl_tok_buf_append(kb, s + i, unit);
                if (st == SL_OK && i + unit == len)
                    st = sl_tok_buf_append(kb, bpe->suffix, bpe->suffix_len);
                if (st != SL_OK)
                    break;
                key = kb->data;
                key_len = kb->len;
            }
            id = sl_tok_strmap_get(&bpe->keys, key, key_len);
        }
        i += unit;
        if (id < 0) {
            st = sl_tok_unknown_unit(bpe, scr, &n, key, key_len, &unk_pending);
            continue;
        }
        if (unk_pending) {
            st = sl_tok_sym_add(scr, &n, bpe->unk_id);
            unk_pending = false;
        }
        if (st == SL_OK)
            st = sl_tok_sym_add(scr, &n, id);
    }
    if (st == SL_OK && unk_pending)
        st = sl_tok_sym_add(scr, &n, bpe->unk_id);
    if (st == SL_OK)
        *n_p = n;
    return st;
}

sl_status_t sl_tok_bpe_encode(const sl_tok_bpe_t *bpe, sl_tok_bpe_scratch_t *scr, const char *s,
                              size_t len, sl_tok_ids_t *out)
{
    sl_tok_sym_t *sym;
    size_t n, heap_n = 0, i;
    sl_status_t st;

    if (bpe->ignore_merges) {
        int32_t id = sl_tok_strmap_get(&bpe->keys, s, len);
        if (id >= 0)
            return sl_tok_ids_push(out, id);
    }
    st = sl_tok_bpe_symbols(bpe, scr, s, len, &n);
    if (st != SL_OK)
        return st;
    if (n == 0)
        return SL_OK;
    if (n > INT32_MAX) {
        sl_error("tokenizer: a %zu-byte piece is too long for BPE", len);
        return SL_ERR_OVERFLOW;
    }
    st = sl_tok_grow((void **)&scr->heap, &scr->heap_cap, n, sizeof(sl_tok_heap_item_t));
    if (st != SL_OK)
        return st;
    sym = scr->syms;
    for (i = 0; i + 1 < n; i++) {
        const sl_tok_merge_t *m = sl_tok_merge_find(bpe, sym[i].id, sym[i + 1].id);
        if (m != NULL)
            sl_tok_heap_push(scr->heap, &heap_n,
                             (sl_tok_heap_item_t){m->rank, (uint32_t)i, m->new_id});
    }
    while (heap_n > 0) {
        sl_tok_heap_item_t top = sl_tok_heap_pop(scr->heap, &heap_n);
        sl_tok_sym_t *cur = &sym[top.pos];
        const sl_tok_merge_t *m;
        int32_t right;
        if (cur->gone || cur->next < 0)
            continue;
        right = cur->next;
        /* Stale entry: the pair changed since it was pushed. */
        m = sl_tok_merge_find(bpe, cur->id, sym[right].id);
        if (m == NULL || m->new_id != top.new_id)
            continue;
        cur->id = top.new_id;
        sym[right].gone = 1;
        cur->next = sym[right].next;
        if (cur->next >= 0)
            sym[cur->next].prev = (int32_t)top.pos;
        /* At most two new pairs per merge, and each merge removes a symbol,
         * so the heap never holds more than n entries... plus the stale
         * ones: grow it when needed. */
        if (heap_n + 2 > scr->heap_cap) {
            st = sl_tok_grow((void **)&scr->heap, &scr->heap_cap, heap_n + 2,
                             sizeof(sl_tok_heap_item_t));
            if (st != SL_OK)
                return st;
            sym = scr->syms;
        }
        if (cur->prev >= 0) {
            m = sl_tok_merge_find(bpe, sym[cur->prev].id, cur->id);
            if (m != NULL)
                sl_tok_heap_push(scr->heap, &heap_n,
                                 (sl_tok_heap_item_t){m->rank, (uint32_t)cur->prev, m->new_id});
        }
        if (cur->next >= 0) {
            m = sl_tok_merge_find(bpe, cur->id, sym[cur->next].id);
            if (m != NULL)
                sl_tok_heap_push(scr->heap, &heap_n,
                                 (sl_tok_heap_item_t){m->rank, top.pos, m->new_id});
        }
    }
    for (int32_t j = 0; j >= 0; j = sym[j].next) {
        st = sl_tok_ids_push(out, sym[j].id);
        if (st != SL_OK)
            return st;
    }
    return SL_OK;
}
