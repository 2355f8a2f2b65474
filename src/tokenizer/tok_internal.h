/*
 * tok_internal.h - what the files of src/tokenizer/ share; not for use
 * outside it (tokenizer.h is the interface).
 *
 * Encoding runs as HF `tokenizers` does, in this order:
 *   1. added tokens with normalized=false are cut out of the raw text
 *      (added_tokens.c);
 *   2. each remaining segment is normalized (normalize.c, nfc.c) and the
 *      added tokens with normalized=true are cut out of the result;
 *   3. each remaining piece goes through the pre-tokenizers (pretokenize.c),
 *      depth first, so a piece reaches the model as soon as it is cut;
 *   4. the model (bpe.c) turns each piece into ids;
 *   5. the post-processor adds BOS and the like (postprocess.c).
 * Decoding (decode.c) maps ids to token strings and runs the decoder chain.
 */
#ifndef SL_TOKENIZER_TOK_INTERNAL_H
#define SL_TOKENIZER_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>

#include "core/status.h"
#include "core/utf8.h"
#include "tokenizer/tokenizer.h"

/* ---- growable buffers (buf.c) -------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap;
} sl_tok_buf_t;

typedef struct {
    int32_t *data;
    size_t len, cap;
} sl_tok_ids_t;

/* Make room for EXTRA more bytes (plus a NUL, so data can always be
 * terminated). */
sl_status_t sl_tok_buf_reserve(sl_tok_buf_t *b, size_t extra);
sl_status_t sl_tok_buf_append(sl_tok_buf_t *b, const void *p, size_t n);
void sl_tok_buf_free(sl_tok_buf_t *b);
sl_status_t sl_tok_ids_append(sl_tok_ids_t *v, const int32_t *ids, size_t n);
static inline sl_status_t sl_tok_ids_push(sl_tok_ids_t *v, int32_t id)
{
    if (v->len == v->cap)
        return sl_tok_ids_append(v, &id, 1);
    v->data[v->len++] = id;
    return SL_OK;
}
/* Grow *arr (of ELEM-byte elements, capacity *cap) to hold at least N. */
sl_status_t sl_tok_grow(void **arr, size_t *cap, size_t n, size_t elem);

/* ---- UTF-8 (core/utf8.h) and the byte-level alphabet (utf8.c) ------------ */

/* Appends S as Rust's String::from_utf8_lossy would: each maximal invalid
 * subpart becomes U+FFFD. */
sl_status_t sl_utf8_lossy_append(sl_tok_buf_t *out, const char *s, size_t len);
/* Unicode White_Space (what `\s` means in Rust's regex). */
bool sl_unicode_is_space(uint32_t cp);
/* GPT-2's byte-to-character table and its inverse (-1: not in it). */
extern const uint16_t sl_bytelevel_char[256];
int sl_bytelevel_byte(uint32_t cp);

/* ---- string -> id hash table, xxhash keyed (strmap.c) --------------------- */

typedef struct {
    uint64_t hash;
    uint32_t off; /* into keys */
    uint32_t len;
    int32_t id; /* -1: empty slot */
} sl_tok_slot_t;

typedef struct {
    sl_tok_slot_t *slots;
    size_t mask; /* slots - 1; 0 before the first insert */
    size_t count;
    sl_tok_buf_t keys;
} sl_tok_strmap_t;

/* Inserts or overwrites. */
sl_status_t sl_tok_strmap_put(sl_tok_strmap_t *m, const char *key, size_t len, int32_t id);
int32_t sl_tok_strmap_get(const sl_tok_strmap_t *m, const char *key, size_t len);
void sl_tok_strmap_free(sl_tok_strmap_t *m);

/* ---- patterns: literal strings or PCRE2 regexes (regex.c) ---------------- */

typedef struct {
    pcre2_code *code; /* NULL for a literal */
    bool jit;         /* code is JIT-compiled */
    char *literal;
    size_t literal_len;
} sl_tok_pattern_t;

/* Per-call matching state; zero-initialise, free with sl_tok_matcher_free. */
typedef struct {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *stack;
} sl_tok_matcher_t;

/* Rust find_iter state: an empty match right after the previous match is
 * skipped, so empty matches cannot repeat. Zero-initialise. */
typedef struct {
    size_t pos;
    size_t last_end;
    bool have_last;
} sl_tok_find_t;

/* {"String": s} or {"Regex": r}; WHERE names the JSON field for errors. */
sl_status_t sl_tok_pattern_parse(const char *file, const char *where, json_t *j,
                                 sl_tok_pattern_t *pattern_p);
sl_status_t sl_tok_pattern_regex(const char *file, const char *where, const char *re,
                                 size_t len, sl_tok_pattern_t *pattern_p);
void sl_tok_pattern_free(sl_tok_pattern_t *p);
void sl_tok_matcher_free(sl_tok_matcher_t *m);
/* Next match in S[0..LEN) (S is valid UTF-8); *found_p false at the end. */
sl_status_t sl_tok_pattern_next(const sl_tok_pattern_t *p, sl_tok_matcher_t *m, const char *s,
                                size_t len, sl_tok_find_t *it, size_t *start_p, size_t *end_p,
                                bool *found_p);
/* Whether the one character at S (of LEN bytes) matches the anchored
 * single-character regex CODE. */
bool sl_tok_regex_char_is(const pcre2_code *code, sl_tok_matcher_t *m, const char *s, size_t len);

/* ---- spans (the pieces a text is cut into) ------------------------------- */

typedef struct {
    size_t start, end;
    int32_t id; /* an added token's id, or -1 for text still to encode */
} sl_tok_span_t;

typedef struct {
    sl_tok_span_t *data;
    size_t len, cap;
} sl_tok_spans_t;

sl_status_t sl_tok_spans_push(sl_tok_spans_t *v, size_t start, size_t end, int32_t id);

/* ---- normalizers (normalize.c, nfc.c) ------------------------------------ */

typedef enum {
    SL_TOK_NORM_NFC,
    SL_TOK_NORM_PREPEND,
    SL_TOK_NORM_REPLACE,
} sl_tok_norm_kind_t;

typedef struct {
    sl_tok_norm_kind_t kind;
    char *text; /* Prepend: what to prepend; Replace: the replacement */
    size_t text_len;
    sl_tok_pattern_t pattern; /* Replace */
} sl_tok_norm_t;

/* Appends the NFC form of valid UTF-8 S to OUT. */
sl_status_t sl_nfc_append(const char *s, size_t len, sl_tok_buf_t *out);

/* ---- pre-tokenizers (pretokenize.c) -------------------------------------- */

typedef enum {
    SL_TOK_PRE_SPLIT,
    SL_TOK_PRE_BYTELEVEL,
    SL_TOK_PRE_METASPACE,
} sl_tok_pre_kind_t;

typedef enum {
    SL_TOK_SPLIT_REMOVED,
    SL_TOK_SPLIT_ISOLATED,
    SL_TOK_SPLIT_MERGED_WITH_PREVIOUS,
    SL_TOK_SPLIT_MERGED_WITH_NEXT,
    SL_TOK_SPLIT_CONTIGUOUS,
} sl_tok_split_behavior_t;

typedef enum {
    SL_TOK_PREPEND_ALWAYS,
    SL_TOK_PREPEND_FIRST,
    SL_TOK_PREPEND_NEVER,
} sl_tok_prepend_t;

typedef struct {
    sl_tok_pre_kind_t kind;
    sl_tok_pattern_t pattern;         /* Split; ByteLevel with use_regex */
    sl_tok_split_behavior_t behavior; /* Split */
    bool invert;                      /* Split */
    bool use_regex;                   /* ByteLevel */
    bool add_prefix_space;            /* ByteLevel */
    char replacement[4];              /* Metaspace, as UTF-8 */
    size_t replacement_len;
    sl_tok_prepend_t prepend; /* Metaspace */
    bool split;               /* Metaspace */
} sl_tok_pre_t;

#define SL_TOK_MAX_PRE 16

/* Metaspace's replacement, prepend_scheme (or add_prefix_space) and split;
 * shared by the pre-tokenizer and the decoder. */
sl_status_t sl_tok_parse_metaspace(const char *file, const char *where, json_t *j,
                                   uint32_t *replacement_p, sl_tok_prepend_t *prepend_p,
                                   bool *split_p);

/* ---- the BPE model (bpe.c) ------------------------------------------------ */

typedef struct {
    uint64_t key; /* (left id << 32) | right id; UINT64_MAX: empty */
    uint32_t rank;
    int32_t new_id;
} sl_tok_merge_t;

#define SL_TOK_UNK_MISSING (-2)

typedef struct {
    /* Byte-level mode: the pre-tokenizers end with ByteLevel, so every piece
     * reaching the model is made of mapped bytes; the model then works on raw
     * bytes and its lookup keys are the tokens' raw bytes. */
    bool byte_mode;
    int32_t byte_id[256];          /* byte mode: id of each single byte, -1 */
    int32_t fallback_id[256];      /* id of "<0xXX>", -1 */
    sl_tok_strmap_t keys;          /* model vocabulary, as the model looks it up */
    sl_tok_merge_t *merges;        /* open addressing */
    size_t merges_mask;
    int32_t unk_id; /* -1: no unk_token; SL_TOK_UNK_MISSING: not in the vocabulary */
    bool fuse_unk, byte_fallback, ignore_merges;
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix */
    size_t prefix_len, suffix_len;
} sl_tok_bpe_t;

typedef struct {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int32_t gone;       /* merged into its left neighbour */
} sl_tok_sym_t;

typedef struct {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
} sl_tok_heap_item_t;

typedef struct {
    sl_tok_sym_t *syms;
    size_t syms_cap;
    sl_tok_heap_item_t *heap;
    size_t heap_cap;
    sl_tok_buf_t key;
} sl_tok_bpe_scratch_t;

/* ---- added tokens (added_tokens.c) --------------------------------------- */

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    bool single_word, lstrip, rstrip, normalized, special;
} sl_tok_added_t;

/* A byte trie for leftmost-longest matching; edges in one hash table. */
typedef struct {
    uint64_t *edge_keys; /* (node << 8 | byte) + 1; 0: empty */
    uint32_t *edge_child;
    size_t edge_mask;
    int32_t *node_token; /* index into sl_tok.added of the token ending here */
    size_t n_nodes, nodes_cap;
    uint8_t first[32]; /* bitmap of first bytes */
} sl_tok_trie_t;

/* ---- decoders (decode.c) -------------------------------------------------- */

typedef enum {
    SL_TOK_DEC_BYTELEVEL,
    SL_TOK_DEC_METASPACE,
    SL_TOK_DEC_REPLACE,
    SL_TOK_DEC_BYTEFALLBACK,
    SL_TOK_DEC_FUSE,
    SL_TOK_DEC_STRIP,
} sl_tok_dec_kind_t;

typedef struct {
    sl_tok_dec_kind_t kind;
    sl_tok_pattern_t pattern; /* Replace */
    char *content;            /* Replace */
    size_t content_len;
    uint32_t ch;        /* Metaspace replacement, Strip content */
    bool prepend;       /* Metaspace: prepend_scheme != never */
    size_t start, stop; /* Strip */
} sl_tok_dec_t;

#define SL_TOK_MAX_DEC 16

/* ---- the tokenizer -------------------------------------------------------- */

enum {
    SL_TOK_F_PRESENT = 1, /* the id has a token */
    SL_TOK_F_SPECIAL = 2, /* skipped by decode with skip_special */
    SL_TOK_F_BYTE = 4,    /* a "<0xXX>" token (byte fallback) */
};

struct sl_tok {
    char *path;      /* of tokenizer.json, for messages */
    uint64_t serial; /* unique per load: the key of the per-thread cache */

    /* Every id's text, added tokens overriding the model's. */
    sl_tok_buf_t texts;
    size_t *text_off;
    uint32_t *text_len;
    uint8_t *flags;
    size_t id_limit;
    sl_tok_strmap_t lookup; /* text -> id, added tokens first */
    size_t vocab_size;

    sl_tok_bpe_t bpe;

    sl_tok_norm_t *norms;
    size_t n_norms;
    sl_tok_pre_t pres[SL_TOK_MAX_PRE];
    size_t n_pres;

    sl_tok_added_t *added;
    size_t n_added;
    sl_tok_trie_t trie_raw;  /* normalized=false */
    sl_tok_trie_t trie_norm; /* normalized=true, keyed by the normalized text */
    pcre2_code *word_re;     /* `\w` for single_word */

    int32_t *post_prefix, *post_suffix; /* ids the post-processor adds */
    size_t n_post_prefix, n_post_suffix;

    bool has_decoder;
    sl_tok_dec_t decs[SL_TOK_MAX_DEC];
    size_t n_decs;
    /* When the decoder is ByteLevel alone: each id's bytes, precomputed. */
    sl_tok_buf_t dec_bytes;
    size_t *dec_off;

    /* tokenizer_config.json */
    char *bos_token, *eos_token;
    int32_t bos_id, eos_id;
    int add_bos; /* -1: not said */
    char *chat_template;
};

/* Per-call encoding state. */
typedef struct {
    const sl_tok_t *tok;
    sl_tok_ids_t *out;
    sl_tok_matcher_t matcher;
    sl_tok_buf_t norm, norm_tmp;
    sl_tok_spans_t raw_spans, norm_spans;
    sl_tok_buf_t pre_text[SL_TOK_MAX_PRE];
    sl_tok_bpe_scratch_t bpe;
} sl_tok_enc_t;

/* Calls ADD(tok, where, item, type) for J, or for each item of its LIST_KEY
 * array, recursively, when J is a "Sequence"; WHERE names J for errors. */
typedef sl_status_t (*sl_tok_add_fn)(sl_tok_t *tok, const char *where, json_t *j,
                                     const char *type);
sl_status_t sl_tok_each_component(sl_tok_t *tok, const char *where, json_t *j,
                                  const char *list_key, sl_tok_add_fn add);

/* Each parse function reads one top-level field of tokenizer.json into TOK
 * and logs what it refuses, naming FILE and the field. */
sl_status_t sl_tok_bpe_parse(sl_tok_t *tok, json_t *model);
sl_status_t sl_tok_normalizer_parse(sl_tok_t *tok, json_t *j);
sl_status_t sl_tok_pretokenizer_parse(sl_tok_t *tok, json_t *j);
sl_status_t sl_tok_postprocessor_parse(sl_tok_t *tok, json_t *j);
sl_status_t sl_tok_decoder_parse(sl_tok_t *tok, json_t *j);
/* Precomputes what decoding can (once the vocabulary is complete). */
sl_status_t sl_tok_decoder_prepare(sl_tok_t *tok);
sl_status_t sl_tok_added_parse(sl_tok_t *tok, json_t *j);
/* Records TEXT as the text of ID (an id below tok->id_limit) and makes
 * it findable by sl_tok_token_to_id; a later call for the same id wins. */
sl_status_t sl_tok_set_text(sl_tok_t *tok, int32_t id, const char *text, size_t len);
/* Builds the tries, once the normalizers are known. */
sl_status_t sl_tok_added_build(sl_tok_t *tok);

void sl_tok_bpe_free(sl_tok_bpe_t *bpe);
void sl_tok_norms_free(sl_tok_t *tok);
void sl_tok_pres_free(sl_tok_t *tok);
void sl_tok_decs_free(sl_tok_t *tok);
void sl_tok_added_free(sl_tok_t *tok);

/* Encodes one piece with the model, appending to OUT. */
sl_status_t sl_tok_bpe_encode(const sl_tok_bpe_t *bpe, sl_tok_bpe_scratch_t *scr, const char *s,
                              size_t len, sl_tok_ids_t *out);
void sl_tok_bpe_scratch_free(sl_tok_bpe_scratch_t *scr);

/* Normalizes S into OUT (replacing its contents). */
sl_status_t sl_tok_normalize(const sl_tok_t *tok, sl_tok_matcher_t *m, const char *s, size_t len,
                             sl_tok_buf_t *out, sl_tok_buf_t *tmp);
/* Runs one normalized piece through the pre-tokenizers and the model. */
sl_status_t sl_tok_pretokenize(sl_tok_enc_t *enc, const char *s, size_t len, bool at_start);
/* Cuts S into spans: added tokens of TRIE (with their ids) and text between. */
sl_status_t sl_tok_added_split(const sl_tok_t *tok, const sl_tok_trie_t *trie,
                               sl_tok_matcher_t *m, const char *s, size_t len,
                               sl_tok_spans_t *out);

/* The per-thread cache of model results (cache.c), for short pieces. OWNER
 * is the tokenizer's serial. A hit appends the ids to OUT (*st_p says
 * whether that worked); a miss sets *hash_p for sl_tok_cache_store. */
bool sl_tok_cache_lookup(uint64_t owner, const char *s, size_t len, uint64_t *hash_p,
                         sl_tok_ids_t *out, sl_status_t *st_p);
void sl_tok_cache_store(uint64_t owner, uint64_t hash, const char *s, size_t len,
                        const int32_t *ids, size_t n);

/* Decodes into OUT (appending); the core of sl_tok_decode and the stream. */
sl_status_t sl_tok_decode_append(const sl_tok_t *tok, const int32_t *ids, size_t n,
                                 bool skip_special, sl_tok_buf_t *out);

#endif /* SL_TOKENIZER_TOK_INTERNAL_H */
