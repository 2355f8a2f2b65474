/*
 * tokenizer.h - HuggingFace `tokenizer.json` tokenizers: text to token ids
 * and back, byte-exact with the `tokenizers` library.
 *
 * Supported (anything else is refused at load time with an error naming the
 * component and the JSON field it sits in):
 *   model          BPE (byte-level or SentencePiece-style): vocab, merges,
 *                  unk_token, fuse_unk, byte_fallback, ignore_merges,
 *                  continuing_subword_prefix, end_of_word_suffix (dropout must
 *                  be null or 0)
 *   normalizer     NFC, Prepend, Replace, Sequence
 *   pre_tokenizer  Split (regex run by PCRE2 with Unicode properties, or a
 *                  literal string), ByteLevel (as the last step), Metaspace,
 *                  Sequence
 *   post_processor TemplateProcessing, ByteLevel, BertProcessing,
 *                  RobertaProcessing, Sequence
 *   decoder        ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip,
 *                  Sequence
 *   added_tokens   matched before the model, with lstrip, rstrip,
 *                  normalized, single_word and special
 *
 * tokenizer_config.json (optional) gives bos/eos, add_bos_token and the chat
 * template; a chat_template.jinja file in the same folder overrides the
 * template.
 *
 * A loaded sl_tok_t is immutable: encode, decode and every accessor may be
 * called from many threads at once. A stream (sl_tok_stream_t) belongs to one
 * thread at a time.
 */
#ifndef SL_TOKENIZER_TOKENIZER_H
#define SL_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_tok sl_tok_t;
typedef struct sl_tok_stream sl_tok_stream_t;

/* Loads DIR/tokenizer.json (required), DIR/tokenizer_config.json and
 * DIR/chat_template.jinja (both optional). The caller frees the result with
 * sl_tok_free(). */
sl_status_t sl_tok_load(const char *dir, sl_tok_t **tok_p);

/* Same from explicit files; config_path and template_path may be NULL (and
 * a missing config file is then an error, unlike in sl_tok_load). */
sl_status_t sl_tok_load_files(const char *tokenizer_path, const char *config_path,
                              const char *template_path, sl_tok_t **tok_p);

/* NULL is allowed. */
void sl_tok_free(sl_tok_t *tok);

/* Encodes LEN bytes of UTF-8 TEXT (need not be NUL-terminated; invalid
 * UTF-8 is an error). ADD_SPECIAL runs the post-processor (BOS and the like),
 * as `add_special_tokens=True` does in HF; special tokens written in the text
 * are always recognised. *ids_p is malloc'ed (the caller frees it; non-NULL
 * even when *n_p is 0). */
sl_status_t sl_tok_encode(const sl_tok_t *tok, const char *text, size_t len, bool add_special,
                          int32_t **ids_p, size_t *n_p);

/* Decodes N ids to UTF-8 text, as HF `decode(ids, skip_special_tokens)`:
 * ids the tokenizer does not know are dropped. *text_p is malloc'ed and
 * NUL-terminated (the caller frees it); the text may itself contain NUL
 * bytes, so *len_p gives its length. len_p may be NULL. */
sl_status_t sl_tok_decode(const sl_tok_t *tok, const int32_t *ids, size_t n, bool skip_special,
                          char **text_p, size_t *len_p);

/* ---- accessors (never fail) ---------------------------------------------- */

/* Number of distinct tokens, added tokens included (HF get_vocab_size(True)). */
size_t sl_tok_vocab_size(const sl_tok_t *tok);
/* One more than the largest id: the number of rows an embedding needs. */
size_t sl_tok_id_limit(const sl_tok_t *tok);

/* The id of TOKEN (LEN bytes, exact, added tokens first) or -1. */
int32_t sl_tok_token_to_id(const sl_tok_t *tok, const char *token, size_t len);
/* The text of token ID as stored in the vocabulary (byte-level tokens are in
 * their mapped form, e.g. "Ġthe"), or NULL for an unknown id. *len_p may be
 * NULL. The string lives as long as TOK. */
const char *sl_tok_id_to_token(const sl_tok_t *tok, int32_t id, size_t *len_p);
/* Whether ID is skipped by decode with skip_special. */
bool sl_tok_is_special(const sl_tok_t *tok, int32_t id);

/* BOS/EOS from tokenizer_config.json: the id (-1 when absent or not in the
 * vocabulary) and the token text (NULL when absent). */
int32_t sl_tok_bos_id(const sl_tok_t *tok);
int32_t sl_tok_eos_id(const sl_tok_t *tok);
const char *sl_tok_bos_token(const sl_tok_t *tok);
const char *sl_tok_eos_token(const sl_tok_t *tok);
/* add_bos_token from tokenizer_config.json; when the file does not say,
 * whether encoding with add_special puts the BOS token first. */
bool sl_tok_add_bos(const sl_tok_t *tok);

/* The chat template (Jinja source), or NULL when there is none. */
const char *sl_tok_chat_template(const sl_tok_t *tok);

/* ---- streaming detokenizer ----------------------------------------------- */

/* A stream turns ids arriving one at a time into text: it never returns half
 * a UTF-8 character or a byte-fallback sequence that may still change, and
 * the concatenation of everything it returned, finish included, equals
 * sl_tok_decode() of all the ids. TOK must outlive the stream. */
sl_status_t sl_tok_stream_new(const sl_tok_t *tok, bool skip_special, sl_tok_stream_t **stream_p);
/* Adds ID; *text_p and *len_p get the new text (possibly empty), valid until the
 * next call on the stream. */
sl_status_t sl_tok_stream_push(sl_tok_stream_t *stream, int32_t id, const char **text_p,
                               size_t *len_p);
/* Ends the sequence: returns whatever was held back. The stream may then be
 * reused for a new sequence. */
sl_status_t sl_tok_stream_finish(sl_tok_stream_t *stream, const char **text_p, size_t *len_p);
/* Forgets everything pushed so far, without returning it. */
void sl_tok_stream_reset(sl_tok_stream_t *stream);
void sl_tok_stream_free(sl_tok_stream_t *stream);

#ifdef __cplusplus
}
#endif

#endif /* SL_TOKENIZER_TOKENIZER_H */
