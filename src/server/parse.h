/*
 * parse.h - the body of POST /v1/completions and /v1/chat/completions,
 * checked and turned into engine sampling parameters, and the errors that
 * refuse it.
 *
 * sl_server_parse_request() needs nothing of the model: it is the part a
 * hostile client reaches first, so it is small, strict and fuzzed
 * (tests/fuzz/fuzz_server_request.c). Checks, in order:
 *   - the body is one JSON object (jansson: valid UTF-8, no duplicate keys,
 *     nesting up to its 2048 levels, numbers that fit int64/double);
 *   - every member is known for the endpoint (OpenAI's, plus vLLM's and
 *     SGLang's sampling extras); anything else is refused by name, as
 *     OpenAI does ("Unrecognized request argument supplied: X");
 *   - the sampling fields' types and ranges (io/sampling.h, shared with the
 *     batch readers), then what the engine needs on top: max_tokens >= 1,
 *     top_p > 0, finite temperature, non-empty stop strings;
 *   - known fields slinfer cannot honour are refused, not ignored: a
 *     non-empty logit_bias, best_of other than n, suffix, echo with
 *     logprobs, a response_format other than text, a tool_choice other than
 *     none or auto, several prompts in one request.
 * The sampling fields map as engine/params_json.h says, the same for
 * `slinfer run`: null is absent; max_tokens 0 and top_p 0 are refused (the
 * engine needs max_tokens >= 1 and top_p in (0, 1]; set temperature 0 for
 * greedy); chat's logprobs true + top_logprobs N is the engine's logprobs
 * N; max_completion_tokens wins over max_tokens.
 *
 * sl_server_prepare() (prompt.c) then needs the model: it tokenizes or
 * renders the chat template, and checks the ids, the context and the KV
 * cache.
 */
#ifndef SL_SERVER_PARSE_H
#define SL_SERVER_PARSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "engine/request.h"
#include "io/record.h"

/* An error as OpenAI's API returns it:
 * {"error": {"message", "type", "param", "code"}} with an HTTP status. */
typedef struct sl_server_error {
    int status;               /* 400, 401, 404, 413, 429, 500, 503...     */
    const char *type;         /* "invalid_request_error", "server_error"  */
    const char *code;         /* NULL or e.g. "model_not_found"           */
    char param[64];           /* the field at fault, "" for none          */
    char message[512];
} sl_server_error_t;

/* Fills ERR; PARAM and CODE may be NULL. Returns SL_ERR_INVALID_ARG, so a
 * parser can `return sl_server_error_set(...)`. */
sl_status_t sl_server_error_set(sl_server_error_t *err, int status, const char *param,
                                const char *code, const char *format, ...)
    __attribute__((format(printf, 5, 6)));

/* A parsed request. */
typedef struct sl_server_req {
    sl_io_endpoint_t endpoint;
    char *model;                  /* "model", or NULL                             */
    bool stream;
    bool include_usage;           /* stream_options.include_usage                 */
    bool echo;                    /* completions: the prompt before the text      */
    /* the prompt: text or ids (completions), or a conversation (chat) */
    char *text;                   /* [text_len] UTF-8, NUL-terminated             */
    size_t text_len;
    int32_t *ids;                 /* [num_ids]                                    */
    int32_t num_ids;
    json_t *messages;             /* chat: array of message objects (a reference) */
    json_t *tools;                /* chat: array, or NULL                         */
    json_t *template_kwargs;      /* chat: object, or NULL                        */
    bool add_generation_prompt;   /* chat (true)                                  */
    bool has_max_tokens;          /* else the server's default applies            */
    sl_sampling_params_t params;
} sl_server_req_t;

/* Parses BODY ([len] bytes) for ENDPOINT into *REQ_P (released with
 * sl_server_req_release() on success; untouched on failure). A refusal
 * returns SL_ERR_INVALID_ARG with ERR filled (status 400); nothing is
 * logged (the HTTP layer logs at debug level). SL_ERR_NO_MEMORY: status
 * 500. */
sl_status_t sl_server_parse_request(const char *body, size_t len, sl_io_endpoint_t endpoint,
                                    sl_server_req_t *req_p, sl_server_error_t *err);

void sl_server_req_release(sl_server_req_t *req);

#endif /* SL_SERVER_PARSE_H */
