/*
 * prompt.h - a parsed request (parse.h) against the model: the prompt as
 * token ids, and the checks that need the model.
 *
 * Completions: a text prompt is tokenized with special tokens (BOS) added,
 * as `slinfer generate --prompt` does; token ids are used as they are.
 * Chat: the messages go through the model's chat template (chat_template.h;
 * tools and chat_template_kwargs become template variables) and the result
 * is tokenized *without* adding special tokens -- the template writes them,
 * as vLLM and transformers' apply_chat_template(tokenize=True) do.
 *
 * Checks (400 each, with OpenAI's wording where it has one): ids inside the
 * vocabulary, a non-empty prompt, prompt + max_tokens within the context
 * (max_tokens defaults to 128, SGLang's default, capped at what the context
 * leaves), the request fitting the KV cache of one DP group on its own,
 * stop_token_ids inside the vocabulary, min_tokens <= max_tokens.
 */
#ifndef SL_SERVER_PROMPT_H
#define SL_SERVER_PROMPT_H

#include <stdint.h>

#include "core/status.h"
#include "server/parse.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

/* What the server knows of the model it serves. */
typedef struct sl_server_model {
    const char *name;               /* the served model name                     */
    const sl_tok_t *tok;            /* NULL: ids in, no text out                 */
    const sl_chat_template_t *tpl;  /* NULL: /v1/chat/completions refuses        */
    int32_t vocab;                  /* rows of the LM head                       */
    int64_t context;                /* positions (max_position_embeddings)       */
    int32_t block_size;             /* KV cache of one DP group                  */
    int32_t num_blocks;
} sl_server_model_t;

/* The prompt of REQ as ids (malloc'd *ids_p, [*num_ids_p]) and, for echo,
 * its text (malloc'd *echo_p, NULL without echo). REQ->params.max_tokens is
 * resolved. Refusals: SL_ERR_INVALID_ARG with ERR filled. */
sl_status_t sl_server_prepare(const sl_server_model_t *model, sl_server_req_t *req,
                              int32_t **ids_p, int32_t *num_ids_p, char **echo_p,
                              sl_server_error_t *err);

#endif /* SL_SERVER_PROMPT_H */
