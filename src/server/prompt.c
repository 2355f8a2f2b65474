/* prompt.c - a request's prompt against the model; see prompt.h. */
#include "config.h"

#include "server/prompt.h"

#include <stdlib.h>
#include <string.h>

/* max_tokens when the request does not say (SGLang's default). */
#define SL_SERVER_DEFAULT_MAX_TOKENS 128

#define sl_server_bad(err, param, ...) sl_server_error_set((err), 400, (param), NULL, __VA_ARGS__)

/* Chat: the template's text, tokenized without added special tokens. */
static sl_status_t sl_server_render(const sl_server_model_t *m, const sl_server_req_t *req,
                                    int32_t **ids_p, size_t *n_p, sl_server_error_t *err)
{
    sl_chat_request_t cr = {
        .messages = req->messages, .tools = req->tools, .extra = req->template_kwargs,
        .add_generation_prompt = req->add_generation_prompt,
    };
    sl_jinja_error_t jerr;
    char *text = NULL;
    sl_status_t s;

    if (m->tpl == NULL || m->tok == NULL)
        return sl_server_bad(err, "messages", "the model has no %s: use /v1/completions",
                             m->tok == NULL ? "tokenizer" : "chat template");
    memset(&jerr, 0, sizeof(jerr));
    s = sl_chat_template_render(m->tpl, &cr, &jerr, &text);
    if (s == SL_ERR_NO_MEMORY)
        return sl_server_error_set(err, 500, NULL, NULL, "out of memory");
    if (s != SL_OK)
        return sl_server_bad(err, "messages", "the chat template refused the messages: %s",
                             jerr.message[0] ? jerr.message : "malformed conversation");
    s = sl_tok_encode(m->tok, text, strlen(text), false, ids_p, n_p);
    free(text);
    if (s != SL_OK)
        return sl_server_bad(err, "messages", "the rendered conversation cannot be tokenized");
    return SL_OK;
}

/* Completions: text with special tokens added, or the ids as given. */
static sl_status_t sl_server_tokenize(const sl_server_model_t *m, sl_server_req_t *req,
                                      int32_t **ids_p, size_t *n_p, sl_server_error_t *err)
{
    if (req->ids != NULL) {
        *ids_p = req->ids; /* taken over */
        *n_p = (size_t)req->num_ids;
        req->ids = NULL;
        req->num_ids = 0;
        return SL_OK;
    }
    if (m->tok == NULL)
        return sl_server_bad(err, "prompt", "the model has no tokenizer: give the prompt as "
                                            "token ids");
    if (sl_tok_encode(m->tok, req->text, req->text_len, true, ids_p, n_p) != SL_OK)
        return sl_server_bad(err, "prompt", "the prompt cannot be tokenized");
    return SL_OK;
}

/* The echo of the prompt: its text, or its ids decoded. */
static sl_status_t sl_server_echo(const sl_server_model_t *m, const sl_server_req_t *req,
                                  const int32_t *ids, size_t n, char **echo_p,
                                  sl_server_error_t *err)
{
    if (req->text != NULL)
        *echo_p = strdup(req->text);
    else if (m->tok == NULL)
        *echo_p = strdup("");
    else if (sl_tok_decode(m->tok, ids, n, req->params.skip_special_tokens, echo_p, NULL) !=
             SL_OK)
        *echo_p = NULL;
    if (*echo_p == NULL)
        return sl_server_error_set(err, 500, NULL, NULL, "out of memory");
    return SL_OK;
}

/* What the engine would refuse, said first and in the client's words. */
static sl_status_t sl_server_check(const sl_server_model_t *m, sl_server_req_t *req,
                                   const int32_t *ids, size_t n, sl_server_error_t *err)
{
    sl_sampling_params_t *p = &req->params;
    const char *what = req->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS ? "messages" : "prompt";

    if (n == 0)
        return sl_server_bad(err, what, "%s: the prompt is empty", what);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->vocab)
            return sl_server_bad(err, what, "%s: token id %d is outside the vocabulary of %d",
                                 what, ids[i], m->vocab);
    if ((int64_t)n >= m->context)
        return sl_server_bad(err, what, "This model's maximum context length is %lld tokens. "
                             "However, your prompt is %zu tokens long.", (long long)m->context,
                             n);
    if (!req->has_max_tokens) {
        int64_t left = m->context - (int64_t)n;
        p->max_tokens = left < SL_SERVER_DEFAULT_MAX_TOKENS ? (int32_t)left
                                                            : SL_SERVER_DEFAULT_MAX_TOKENS;
    }
    if ((int64_t)n + p->max_tokens > m->context)
        return sl_server_bad(err, "max_tokens", "This model's maximum context length is %lld "
                             "tokens. However, you requested %lld tokens (%zu in the %s, %d in "
                             "the completion). Please reduce the length of the %s or "
                             "completion.", (long long)m->context,
                             (long long)n + p->max_tokens, n, what, p->max_tokens, what);
    /* As the engine counts: the last token is never fed back. */
    int64_t bs = m->block_size > 0 ? m->block_size : 1;
    int64_t need = ((int64_t)n + p->max_tokens - 1 + bs - 1) / bs;
    if (need > m->num_blocks)
        return sl_server_bad(err, "max_tokens", "the request needs %lld KV blocks (%zu prompt + "
                             "%d new tokens, %lld per block) but the server's KV cache has %d; "
                             "lower max_tokens", (long long)need, n, p->max_tokens,
                             (long long)bs, m->num_blocks);
    if (p->min_tokens > p->max_tokens)
        return sl_server_bad(err, "min_tokens", "min_tokens: %d is more than max_tokens (%d)",
                             p->min_tokens, p->max_tokens);
    for (int32_t i = 0; i < p->num_stop_token_ids; i++)
        if (p->stop_token_ids[i] >= m->vocab)
            return sl_server_bad(err, "stop_token_ids", "stop_token_ids: %d is outside the "
                                 "vocabulary of %d", p->stop_token_ids[i], m->vocab);
    return SL_OK;
}

sl_status_t sl_server_prepare(const sl_server_model_t *m, sl_server_req_t *req,
                              int32_t **ids_p, int32_t *num_ids_p, char **echo_p,
                              sl_server_error_t *err)
{
    int32_t *ids = NULL;
    size_t n = 0;
    char *echo = NULL;
    sl_status_t s;

    s = req->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS ? sl_server_render(m, req, &ids, &n, err)
                                                        : sl_server_tokenize(m, req, &ids, &n, err);
    if (s != SL_OK)
        return s;
    if (n > INT32_MAX / 2) {
        s = sl_server_bad(err, "prompt", "the prompt is too long");
        goto err;
    }
    if ((s = sl_server_check(m, req, ids, n, err)) != SL_OK ||
        (req->echo && (s = sl_server_echo(m, req, ids, n, &echo, err)) != SL_OK))
        goto err;
    *ids_p = ids;
    *num_ids_p = (int32_t)n;
    *echo_p = echo;
    return SL_OK;
err:
    free(ids);
    return s;
}
