/*
 * respond.h - the JSON the OpenAI routes answer with: error bodies, whole
 * completion objects, Server-Sent Events chunks, logprobs.
 *
 * A non-streamed body is io/jsonl_writer.h's completion object (the one
 * batch output files hold), with the logprobs and the echoed prompt this
 * layer adds. A stream is one "data: {chunk}\n\n" event per choice with
 * something new: text_completion objects, or chat.completion.chunk objects
 * whose first event per choice carries the role; then, with
 * stream_options.include_usage, a chunk with empty choices and the usage;
 * then "data: [DONE]\n\n". An error after the stream started is an event
 * {"error": {...}} before [DONE] (the status line was already sent).
 *
 * Logprobs are the raw model distribution's (sampler.h). Completions:
 * {"tokens", "token_logprobs", "top_logprobs": [{token: logprob}],
 * "text_offset"}; chat: {"content": [{"token", "logprob", "bytes",
 * "top_logprobs": [{"token", "logprob", "bytes"}]}], "refusal": null}. A
 * token's text is its own decoding; a token that is not whole UTF-8 alone
 * is written "bytes:\xNN..." (as vLLM does), its "bytes" exact.
 */
#ifndef SL_SERVER_RESPOND_H
#define SL_SERVER_RESPOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/status.h"
#include "server/output.h"
#include "server/parse.h"
#include "server/prompt.h"

/* A growable byte string. */
typedef struct sl_server_buf {
    char *data;
    size_t len, cap;
} sl_server_buf_t;

sl_status_t sl_server_buf_add(sl_server_buf_t *buf, const void *data, size_t len);
sl_status_t sl_server_buf_addf(sl_server_buf_t *buf, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void sl_server_buf_free(sl_server_buf_t *buf);

/* {"error": {"message", "type", "param", "code"}} as a malloc'd string. */
char *sl_server_error_body(const sl_server_error_t *err);

/* What every object of one response shares. */
typedef struct sl_server_reply {
    const sl_server_model_t *model;
    sl_io_endpoint_t endpoint;
    uint64_t id;                /* the ticket's                                   */
    char tag[48];               /* "cmpl-<hex>" / "chatcmpl-<hex>"                 */
    time_t created;
    int32_t n, top_n;           /* choices; -1 without logprobs                    */
    bool include_usage;
    const char *echo;           /* the prompt's text before the completion, or NULL */
    size_t *text_offset;        /* [n] completions' logprobs: bytes so far          */
    bool started;               /* the stream's first events are out               */
    int64_t completion_tokens;  /* streamed so far                                  */
} sl_server_reply_t;

sl_status_t sl_server_reply_init(sl_server_reply_t *reply, const sl_server_model_t *model,
                                 sl_io_endpoint_t endpoint, uint64_t id, int32_t n,
                                 int32_t top_n, bool include_usage, const char *echo);
void sl_server_reply_free(sl_server_reply_t *reply);

/* The whole response body of a finished OUT (status 0) as a malloc'd
 * string. */
sl_status_t sl_server_reply_body(sl_server_reply_t *reply, const sl_server_out_t *out,
                                 char **body_p);

/* Appends to BUF the events of DELTA (as sl_server_out_slice gives it):
 * text and logprobs chunks, finish reasons, and when DELTA->done the usage
 * chunk or the error event, then [DONE]. */
sl_status_t sl_server_reply_events(sl_server_reply_t *reply, const sl_server_out_t *delta,
                                   sl_server_buf_t *buf);

#endif /* SL_SERVER_RESPOND_H */
