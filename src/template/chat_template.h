/*
 * chat_template.h - turning chat messages into a prompt with the model's own
 * Jinja chat template, the way transformers' apply_chat_template does.
 *
 * The template comes from the model folder: chat_template.jinja if present,
 * else tokenizer_config.json's "chat_template" (a string, or a list of
 * {"name", "template"} of which "default" is used). The special tokens of
 * tokenizer_config.json (bos_token, eos_token, unk_token, pad_token... as
 * strings or {"content": ...} objects) become template variables, as in
 * transformers; a token that is null or absent stays undefined.
 *
 * The template sees: messages, tools and documents (None when not given),
 * add_generation_prompt, the special tokens, and any extra variables
 * (enable_thinking...). Rendering is reentrant: one loaded template may be
 * rendered by several threads at once.
 */
#ifndef SL_TEMPLATE_CHAT_TEMPLATE_H
#define SL_TEMPLATE_CHAT_TEMPLATE_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "core/status.h"
#include "template/jinja.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_chat_template sl_chat_template_t;

/* One conversation to render. */
typedef struct sl_chat_request {
    const json_t *messages;  /* array of {"role", "content", ...}; required */
    const json_t *tools;     /* array of tool schemas; NULL: None */
    const json_t *documents; /* array of documents; NULL: None */
    const json_t *extra;     /* object of further variables; NULL: none */
    bool add_generation_prompt;
    /* strftime_now()'s time: 0 is now (local time, as transformers);
     * otherwise seconds since the epoch, in UTC (tests pin the date). */
    time_t now;
} sl_chat_request_t;

/* Fills *REQUEST_P from a conversation as `slinfer chat-template` reads it:
 * a JSON array is the messages; an object has "messages" and optionally
 * "tools", "documents", "add_generation_prompt" and further template
 * variables, which are collected into *EXTRA_P (a new object the caller
 * releases with json_decref(); NULL for an array). The request points into
 * CONV, which must outlive it. Logs and returns SL_ERR_FORMAT for anything
 * else. */
sl_status_t sl_chat_request_from_json(const json_t *conv, sl_chat_request_t *request_p,
                                      json_t **extra_p);

/* What a model folder says about chat formatting. */
typedef struct sl_chat_config {
    char *template_text; /* malloc'd, NUL-terminated */
    char *origin;        /* malloc'd: the file it came from, for messages */
    json_t *tokens;      /* object: special token name -> string */
} sl_chat_config_t;

/* Reads DIR/chat_template.jinja and DIR/tokenizer_config.json. Logs and
 * returns SL_ERR_NOT_FOUND when the folder has no chat template,
 * SL_ERR_IO / SL_ERR_FORMAT for unreadable or malformed files. *CONFIG_P is
 * released with sl_chat_config_clear(). */
sl_status_t sl_chat_config_load(const char *dir, sl_chat_config_t *config_p);
void sl_chat_config_clear(sl_chat_config_t *config);

/* Compiles TEXT (NUL-terminated) with the special TOKENS (an object of
 * strings, may be NULL); ORIGIN names it in error messages (may be NULL).
 * A syntax error is logged with its line and column, and also returned in
 * *ERROR when not NULL. */
sl_status_t sl_chat_template_new(const char *text, const json_t *tokens, const char *origin,
                                 sl_jinja_error_t *error, sl_chat_template_t **tpl_p);

/* sl_chat_config_load() then sl_chat_template_new(). */
sl_status_t sl_chat_template_load(const char *dir, sl_jinja_error_t *error,
                                  sl_chat_template_t **tpl_p);

/* Renders REQUEST. On success *TEXT_P is a malloc'd NUL-terminated prompt
 * the caller frees. A template error (including the template's own
 * raise_exception) is logged with its line and column, returned as
 * SL_ERR_FORMAT and described in *ERROR when not NULL; SL_ERR_OVERFLOW is a
 * hostile-template limit; SL_ERR_INVALID_ARG a malformed request. */
sl_status_t sl_chat_template_render(const sl_chat_template_t *tpl,
                                    const sl_chat_request_t *request, sl_jinja_error_t *error,
                                    char **text_p);

/* NULL is a no-op. */
void sl_chat_template_free(sl_chat_template_t *tpl);

/* One-shot: compile TEMPLATE_TEXT with BOS_TOKEN and EOS_TOKEN (each may be
 * NULL: undefined) and render REQUEST. */
sl_status_t sl_chat_render(const char *template_text, const char *bos_token,
                           const char *eos_token, const sl_chat_request_t *request,
                           sl_jinja_error_t *error, char **text_p);

#ifdef __cplusplus
}
#endif

#endif /* SL_TEMPLATE_CHAT_TEMPLATE_H */
