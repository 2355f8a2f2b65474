/* tokenizer.c - loading tokenizer.json and tokenizer_config.json, encode and
 * decode, and the accessors. The components live in their own files (see
 * tok_internal.h for the pipeline). */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

/* Serial numbers of loaded tokenizers (the per-thread cache's keys). */
static _Atomic uint64_t sl_tok_serial;

/* ---- files ----------------------------------------------------------------- */

static sl_status_t sl_tok_read_file(const char *path, char **data_p, size_t *len_p)
{
    FILE *f = fopen(path, "rb");
    sl_tok_buf_t b = {0};
    sl_status_t st = SL_OK;

    if (f == NULL) {
        sl_error("%s: %s", path, strerror(errno));
        return errno == ENOENT ? SL_ERR_NOT_FOUND : SL_ERR_IO;
    }
    for (;;) {
        size_t got;
        st = sl_tok_buf_reserve(&b, 1 << 16);
        if (st != SL_OK)
            break;
        got = fread(b.data + b.len, 1, b.cap - b.len - 1, f);
        b.len += got;
        if (got == 0) {
            if (ferror(f)) {
                sl_error("%s: %s", path, strerror(errno));
                st = SL_ERR_IO;
            }
            break;
        }
    }
    fclose(f);
    if (st != SL_OK) {
        sl_tok_buf_free(&b);
        return st;
    }
    b.data[b.len] = '\0';
    *data_p = b.data;
    *len_p = b.len;
    return SL_OK;
}

static sl_status_t sl_tok_load_json(const char *path, json_t **root_p)
{
    char *data;
    size_t len;
    json_error_t err;
    json_t *root;
    sl_status_t st = sl_tok_read_file(path, &data, &len);

    if (st != SL_OK)
        return st;
    /* Vocabularies may hold "\u0000". */
    root = json_loadb(data, len, JSON_ALLOW_NUL, &err);
    free(data);
    if (root == NULL) {
        sl_error("%s:%d:%d: %s", path, err.line, err.column, err.text);
        return SL_ERR_FORMAT;
    }
    if (!json_is_object(root)) {
        sl_error("%s: expected a JSON object", path);
        json_decref(root);
        return SL_ERR_FORMAT;
    }
    *root_p = root;
    return SL_OK;
}

/* ---- the vocabulary ------------------------------------------------------- */

sl_status_t sl_tok_set_text(sl_tok_t *tok, int32_t id, const char *text, size_t len)
{
    size_t off = tok->texts.len;
    sl_status_t st = sl_tok_buf_append(&tok->texts, text, len);

    if (st == SL_OK)
        st = sl_tok_buf_append(&tok->texts, "", 1); /* keep each text terminated */
    if (st == SL_OK)
        st = sl_tok_strmap_put(&tok->lookup, text, len, id);
    if (st != SL_OK)
        return st;
    tok->text_off[id] = off;
    tok->text_len[id] = (uint32_t)len;
    tok->flags[id] = SL_TOK_F_PRESENT;
    return SL_OK;
}

/* One more than the largest id in model.vocab and added_tokens. */
static sl_status_t sl_tok_count_ids(const char *path, json_t *root, size_t *limit_p)
{
    json_t *vocab = json_object_get(json_object_get(root, "model"), "vocab");
    json_t *added = json_object_get(root, "added_tokens");
    json_int_t max = -1;
    const char *k;
    json_t *v;
    size_t i;

    json_object_foreach(vocab, k, v)
        if (json_is_integer(v) && json_integer_value(v) > max)
            max = json_integer_value(v);
    json_array_foreach(added, i, v) {
        json_t *id = json_object_get(v, "id");
        if (json_is_integer(id) && json_integer_value(id) > max)
            max = json_integer_value(id);
    }
    if (max >= INT32_MAX) {
        sl_error("%s: token id %lld does not fit 31 bits", path, (long long)max);
        return SL_ERR_OVERFLOW;
    }
    *limit_p = (size_t)(max + 1);
    return SL_OK;
}

/* ---- components -------------------------------------------------------------- */

sl_status_t sl_tok_each_component(sl_tok_t *tok, const char *where, json_t *j,
                                  const char *list_key, sl_tok_add_fn add)
{
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *list, *item;
    size_t i;

    if (type == NULL) {
        sl_error("%s: %s: no \"type\"", tok->path, where);
        return SL_ERR_FORMAT;
    }
    if (strcmp(type, "Sequence") != 0)
        return add(tok, where, j, type);
    list = json_object_get(j, list_key);
    if (!json_is_array(list)) {
        sl_error("%s: %s.%s: expected an array", tok->path, where, list_key);
        return SL_ERR_FORMAT;
    }
    json_array_foreach(list, i, item) {
        char sub[256];
        sl_status_t st;
        snprintf(sub, sizeof(sub), "%s.%s[%zu]", where, list_key, i);
        st = sl_tok_each_component(tok, sub, item, list_key, add);
        if (st != SL_OK)
            return st;
    }
    return SL_OK;
}

/* ---- tokenizer_config.json ------------------------------------------------ */

/* "bos_token": "<s>" or {"content": "<s>", ...} or null. */
static sl_status_t sl_tok_config_token(const char *path, json_t *cfg, const char *key,
                                       char **out_p)
{
    json_t *v = json_object_get(cfg, key);

    if (json_is_object(v))
        v = json_object_get(v, "content");
    if (v == NULL || json_is_null(v))
        return SL_OK;
    if (!json_is_string(v)) {
        sl_error("%s: %s: expected a string, an object with \"content\", or null", path, key);
        return SL_ERR_FORMAT;
    }
    *out_p = strdup(json_string_value(v));
    return *out_p ? SL_OK : SL_ERR_NO_MEMORY;
}

static sl_status_t sl_tok_config_parse(sl_tok_t *tok, const char *path)
{
    json_t *cfg, *v;
    sl_status_t st = sl_tok_load_json(path, &cfg);

    if (st != SL_OK)
        return st;
    st = sl_tok_config_token(path, cfg, "bos_token", &tok->bos_token);
    if (st == SL_OK)
        st = sl_tok_config_token(path, cfg, "eos_token", &tok->eos_token);
    if (st != SL_OK)
        goto out;
    v = json_object_get(cfg, "add_bos_token");
    if (json_is_boolean(v))
        tok->add_bos = json_is_true(v);
    v = json_object_get(cfg, "chat_template");
    if (json_is_array(v)) {
        /* Named templates: [{"name": ..., "template": ...}]; the one called
         * "default" is what transformers renders. */
        size_t i;
        json_t *item, *pick = NULL;
        json_array_foreach(v, i, item) {
            const char *name = json_string_value(json_object_get(item, "name"));
            if (pick == NULL || (name != NULL && strcmp(name, "default") == 0))
                pick = item;
        }
        v = json_object_get(pick, "template");
    }
    if (json_is_string(v)) {
        tok->chat_template = strdup(json_string_value(v));
        if (tok->chat_template == NULL)
            st = SL_ERR_NO_MEMORY;
    } else if (v != NULL && !json_is_null(v)) {
        sl_error("%s: chat_template: expected a string or a list of named templates", path);
        st = SL_ERR_FORMAT;
    }
out:
    json_decref(cfg);
    return st;
}

/* ---- loading --------------------------------------------------------------- */

static sl_status_t sl_tok_parse(sl_tok_t *tok, json_t *root)
{
    static const char *const ignored[] = {"truncation", "padding"};
    sl_status_t st;

    for (size_t i = 0; i < 2; i++) {
        json_t *v = json_object_get(root, ignored[i]);
        /* transformers resets these on every call too. */
        if (v != NULL && !json_is_null(v))
            sl_warn("%s: %s: ignored (slinfer never truncates or pads)", tok->path, ignored[i]);
    }
    if (!json_is_object(json_object_get(root, "model"))) {
        sl_error("%s: model: missing", tok->path);
        return SL_ERR_FORMAT;
    }
    st = sl_tok_count_ids(tok->path, root, &tok->id_limit);
    if (st != SL_OK)
        return st;
    tok->text_off = calloc(tok->id_limit + 1, sizeof(*tok->text_off));
    tok->text_len = calloc(tok->id_limit + 1, sizeof(*tok->text_len));
    tok->flags = calloc(tok->id_limit + 1, sizeof(*tok->flags));
    if (tok->text_off == NULL || tok->text_len == NULL || tok->flags == NULL) {
        sl_error("%s: out of memory for %zu tokens", tok->path, tok->id_limit);
        return SL_ERR_NO_MEMORY;
    }
    /* The pre-tokenizer first: it decides whether the model is byte-level. */
    st = sl_tok_normalizer_parse(tok, json_object_get(root, "normalizer"));
    if (st == SL_OK)
        st = sl_tok_pretokenizer_parse(tok, json_object_get(root, "pre_tokenizer"));
    if (st == SL_OK)
        st = sl_tok_bpe_parse(tok, json_object_get(root, "model"));
    if (st == SL_OK)
        st = sl_tok_added_parse(tok, json_object_get(root, "added_tokens"));
    if (st == SL_OK)
        st = sl_tok_postprocessor_parse(tok, json_object_get(root, "post_processor"));
    if (st == SL_OK)
        st = sl_tok_decoder_parse(tok, json_object_get(root, "decoder"));
    if (st == SL_OK)
        st = sl_tok_added_build(tok);
    if (st != SL_OK)
        return st;
    for (size_t id = 0; id < tok->id_limit; id++) {
        const char *t = tok->texts.data + tok->text_off[id];
        if ((tok->flags[id] & SL_TOK_F_PRESENT) && tok->text_len[id] == 6 &&
            memcmp(t, "<0x", 3) == 0 && t[5] == '>')
            tok->flags[id] |= SL_TOK_F_BYTE;
    }
    tok->vocab_size = tok->lookup.count;
    return sl_tok_decoder_prepare(tok);
}

sl_status_t sl_tok_load_files(const char *tokenizer_path, const char *config_path,
                              const char *template_path, sl_tok_t **tok_p)
{
    sl_tok_t *tok;
    json_t *root;
    sl_status_t st;

    tok = calloc(1, sizeof(*tok));
    if (tok == NULL)
        return SL_ERR_NO_MEMORY;
    tok->serial = atomic_fetch_add(&sl_tok_serial, 1) + 1;
    tok->bos_id = tok->eos_id = -1;
    tok->add_bos = -1;
    tok->path = strdup(tokenizer_path);
    if (tok->path == NULL) {
        st = SL_ERR_NO_MEMORY;
        goto err_tok;
    }
    st = sl_tok_load_json(tokenizer_path, &root);
    if (st != SL_OK)
        goto err_tok;
    st = sl_tok_parse(tok, root);
    json_decref(root);
    if (st != SL_OK)
        goto err_tok;
    if (config_path != NULL) {
        st = sl_tok_config_parse(tok, config_path);
        if (st != SL_OK)
            goto err_tok;
    }
    if (template_path != NULL) {
        char *text;
        size_t len;
        st = sl_tok_read_file(template_path, &text, &len);
        if (st != SL_OK)
            goto err_tok;
        free(tok->chat_template);
        tok->chat_template = text;
    }
    if (tok->bos_token != NULL)
        tok->bos_id = sl_tok_token_to_id(tok, tok->bos_token, strlen(tok->bos_token));
    if (tok->eos_token != NULL)
        tok->eos_id = sl_tok_token_to_id(tok, tok->eos_token, strlen(tok->eos_token));
    if (tok->bos_token != NULL && tok->bos_id < 0)
        sl_warn("%s: bos_token \"%s\" is not in the vocabulary", config_path, tok->bos_token);
    if (tok->eos_token != NULL && tok->eos_id < 0)
        sl_warn("%s: eos_token \"%s\" is not in the vocabulary", config_path, tok->eos_token);
    *tok_p = tok;
    return SL_OK;

err_tok:
    sl_tok_free(tok);
    return st;
}

/* DIR/NAME when the file exists, else NULL in *path_p. */
static sl_status_t sl_tok_optional_file(const char *dir, const char *name, char **path_p)
{
    struct stat sb;
    char *path;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return SL_ERR_NO_MEMORY;
    if (stat(path, &sb) != 0) {
        free(path);
        path = NULL;
    }
    *path_p = path;
    return SL_OK;
}

sl_status_t sl_tok_load(const char *dir, sl_tok_t **tok_p)
{
    char *json_path = NULL, *config = NULL, *tmpl = NULL;
    sl_status_t st;

    if (asprintf(&json_path, "%s/tokenizer.json", dir) < 0)
        return SL_ERR_NO_MEMORY;
    st = sl_tok_optional_file(dir, "tokenizer_config.json", &config);
    if (st == SL_OK)
        st = sl_tok_optional_file(dir, "chat_template.jinja", &tmpl);
    if (st == SL_OK)
        st = sl_tok_load_files(json_path, config, tmpl, tok_p);
    free(json_path);
    free(config);
    free(tmpl);
    return st;
}

void sl_tok_free(sl_tok_t *tok)
{
    if (tok == NULL)
        return;
    sl_tok_bpe_free(&tok->bpe);
    sl_tok_norms_free(tok);
    sl_tok_pres_free(tok);
    sl_tok_decs_free(tok);
    sl_tok_added_free(tok);
    sl_tok_strmap_free(&tok->lookup);
    sl_tok_buf_free(&tok->texts);
    free(tok->text_off);
    free(tok->text_len);
    free(tok->flags);
    free(tok->post_prefix);
    free(tok->post_suffix);
    free(tok->bos_token);
    free(tok->eos_token);
    free(tok->chat_template);
    free(tok->path);
    free(tok);
}

/* ---- encode and decode ----------------------------------------------------- */

static void sl_tok_enc_free(sl_tok_enc_t *enc)
{
    sl_tok_matcher_free(&enc->matcher);
    sl_tok_buf_free(&enc->norm);
    sl_tok_buf_free(&enc->norm_tmp);
    free(enc->raw_spans.data);
    free(enc->norm_spans.data);
    for (size_t i = 0; i < SL_TOK_MAX_PRE; i++)
        sl_tok_buf_free(&enc->pre_text[i]);
    sl_tok_bpe_scratch_free(&enc->bpe);
}

/* One stretch of raw text between added tokens: normalize, cut out the
 * normalized added tokens, pre-tokenize and encode the rest. */
static sl_status_t sl_tok_encode_segment(sl_tok_enc_t *enc, const char *s, size_t len,
                                         bool at_start)
{
    const sl_tok_t *tok = enc->tok;
    sl_status_t st;

    if (tok->n_norms == 0 && tok->trie_norm.n_nodes <= 1)
        return sl_tok_pretokenize(enc, s, len, at_start);
    st = sl_tok_normalize(tok, &enc->matcher, s, len, &enc->norm, &enc->norm_tmp);
    if (st != SL_OK)
        return st;
    st = sl_tok_added_split(tok, &tok->trie_norm, &enc->matcher, enc->norm.data, enc->norm.len,
                            &enc->norm_spans);
    for (size_t i = 0; i < enc->norm_spans.len && st == SL_OK; i++) {
        sl_tok_span_t sp = enc->norm_spans.data[i];
        if (sp.id >= 0)
            st = sl_tok_ids_push(enc->out, sp.id);
        else
            st = sl_tok_pretokenize(enc, enc->norm.data + sp.start, sp.end - sp.start,
                                    at_start && sp.start == 0);
    }
    return st;
}

sl_status_t sl_tok_encode(const sl_tok_t *tok, const char *text, size_t len, bool add_special,
                          int32_t **ids_p, size_t *n_p)
{
    sl_tok_ids_t out = {0};
    sl_tok_enc_t enc = {.tok = tok, .out = &out};
    size_t bad;
    sl_status_t st;

    if (!sl_utf8_valid(text, len, &bad)) {
        sl_error("tokenizer: input is not valid UTF-8 (byte %zu)", bad);
        return SL_ERR_INVALID_ARG;
    }
    /* Real text averages well over two bytes per token. */
    st = sl_tok_grow((void **)&out.data, &out.cap, len / 2 + 8, sizeof(int32_t));
    if (st != SL_OK)
        goto err;
    if (add_special)
        st = sl_tok_ids_append(&out, tok->post_prefix, tok->n_post_prefix);
    if (st != SL_OK)
        goto err;
    st = sl_tok_added_split(tok, &tok->trie_raw, &enc.matcher, text, len, &enc.raw_spans);
    for (size_t i = 0; i < enc.raw_spans.len && st == SL_OK; i++) {
        sl_tok_span_t sp = enc.raw_spans.data[i];
        if (sp.id >= 0)
            st = sl_tok_ids_push(&out, sp.id);
        else if (sp.end > sp.start)
            st = sl_tok_encode_segment(&enc, text + sp.start, sp.end - sp.start, sp.start == 0);
    }
    if (st == SL_OK && add_special)
        st = sl_tok_ids_append(&out, tok->post_suffix, tok->n_post_suffix);
    if (st != SL_OK)
        goto err;
    sl_tok_enc_free(&enc);
    *ids_p = out.data;
    *n_p = out.len;
    return SL_OK;

err:
    sl_tok_enc_free(&enc);
    free(out.data);
    return st;
}

sl_status_t sl_tok_decode(const sl_tok_t *tok, const int32_t *ids, size_t n, bool skip_special,
                          char **text_p, size_t *len_p)
{
    sl_tok_buf_t out = {0};
    sl_status_t st = sl_tok_decode_append(tok, ids, n, skip_special, &out);

    if (st != SL_OK) {
        sl_tok_buf_free(&out);
        return st;
    }
    *text_p = out.data;
    if (len_p != NULL)
        *len_p = out.len;
    return SL_OK;
}

/* ---- accessors ------------------------------------------------------------- */

size_t sl_tok_vocab_size(const sl_tok_t *tok)
{
    return tok->vocab_size;
}

size_t sl_tok_id_limit(const sl_tok_t *tok)
{
    return tok->id_limit;
}

int32_t sl_tok_token_to_id(const sl_tok_t *tok, const char *token, size_t len)
{
    return sl_tok_strmap_get(&tok->lookup, token, len);
}

const char *sl_tok_id_to_token(const sl_tok_t *tok, int32_t id, size_t *len_p)
{
    if (id < 0 || (size_t)id >= tok->id_limit || !(tok->flags[id] & SL_TOK_F_PRESENT))
        return NULL;
    if (len_p != NULL)
        *len_p = tok->text_len[id];
    return tok->texts.data + tok->text_off[id];
}

bool sl_tok_is_special(const sl_tok_t *tok, int32_t id)
{
    return id >= 0 && (size_t)id < tok->id_limit && (tok->flags[id] & SL_TOK_F_SPECIAL);
}

int32_t sl_tok_bos_id(const sl_tok_t *tok)
{
    return tok->bos_id;
}

int32_t sl_tok_eos_id(const sl_tok_t *tok)
{
    return tok->eos_id;
}

const char *sl_tok_bos_token(const sl_tok_t *tok)
{
    return tok->bos_token;
}

const char *sl_tok_eos_token(const sl_tok_t *tok)
{
    return tok->eos_token;
}

bool sl_tok_add_bos(const sl_tok_t *tok)
{
    if (tok->add_bos >= 0)
        return tok->add_bos;
    return tok->bos_id >= 0 && tok->n_post_prefix > 0 && tok->post_prefix[0] == tok->bos_id;
}

const char *sl_tok_chat_template(const sl_tok_t *tok)
{
    return tok->chat_template;
}
