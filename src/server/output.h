/*
 * output.h - what a request has produced: per choice the token ids, their
 * logprobs with the top alternatives, the text, the finish reason; and, at
 * the end, the usage counts or the error.
 *
 * One type serves three purposes so that nothing is converted twice: a
 * ticket accumulates its whole output in one (ticket.h); the engine thread,
 * the DP channel and the HTTP streamer move *deltas* -- the part produced
 * since a consumer last looked -- in the same type (sl_server_out_append
 * merges a delta in, sl_server_out_slice cuts one out past a cursor); and
 * the wire format (wire.h) encodes it as it is.
 *
 * Not thread-safe: the ticket's lock guards the accumulated output.
 */
#ifndef SL_SERVER_OUTPUT_H
#define SL_SERVER_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "engine/request.h"

/* One choice (sequence) of a request. */
typedef struct sl_server_seq_out {
    int32_t num_tokens, cap_tokens;
    int32_t *ids;               /* [num_tokens]                                   */
    float *logprobs;            /* [num_tokens] when top_n >= 0                   */
    int32_t *num_top;           /* [num_tokens] alternatives listed per token     */
    int32_t *top_ids;           /* [num_tokens * top_n]                           */
    float *top_logprobs;        /* [num_tokens * top_n]                           */
    char *text;                 /* [text_len] final text (never taken back)       */
    size_t text_len, text_cap;
    sl_finish_reason_t finish;  /* SL_FINISH_NONE while it runs                   */
} sl_server_seq_out_t;

typedef struct sl_server_out {
    int32_t n;                  /* choices                                        */
    int32_t top_n;              /* -1: no logprobs; else alternatives per token   */
    sl_server_seq_out_t *seqs;  /* [n]                                            */
    bool done;                  /* nothing more will come                         */
    int status;                 /* with done: 0 success, else an HTTP status      */
    char *error;                /* with status: why (malloc'd)                    */
    int32_t prompt_tokens;      /* with done and status 0                         */
    int32_t cached_tokens;      /*   prompt tokens found in the prefix cache      */
    uint64_t version;           /* bumped by every append                         */
} sl_server_out_t;

/* N >= 1 empty choices; TOP_N as above. */
sl_status_t sl_server_out_init(sl_server_out_t *out, int32_t n, int32_t top_n);
void sl_server_out_free(sl_server_out_t *out);

/* Empties OUT (keeps its buffers): the start of a new delta. */
void sl_server_out_reset(sl_server_out_t *out);

/* Appends COUNT tokens to choice SEQ: ids; and with top_n >= 0, LOGPROBS
 * ([count]), NUM_TOP ([count]) and TOP_IDS / TOP_LOGPROBS ([count * top_n],
 * may be NULL when top_n is 0). */
sl_status_t sl_server_out_add_tokens(sl_server_out_t *out, int32_t seq, const int32_t *ids,
                                     const float *logprobs, const int32_t *num_top,
                                     const int32_t *top_ids, const float *top_logprobs,
                                     int32_t count);

/* Appends LEN bytes of text to choice SEQ. */
sl_status_t sl_server_out_add_text(sl_server_out_t *out, int32_t seq, const char *text,
                                   size_t len);

/* Ends OUT with an error: done, STATUS (an HTTP status), MESSAGE copied. */
sl_status_t sl_server_out_set_error(sl_server_out_t *out, int status, const char *message);

/* Merges the delta SRC into DST (same n and top_n): tokens and text
 * appended, finish reasons and the end state copied; bumps DST->version. */
sl_status_t sl_server_out_append(sl_server_out_t *dst, const sl_server_out_t *src);

/* How far a consumer has read an output. */
typedef struct sl_server_cursor {
    int32_t n;
    int32_t *tokens;            /* [n] tokens taken per choice                    */
    size_t *text;               /* [n] text bytes taken per choice                */
    bool *finished;             /* [n] finish reason taken                        */
    bool done;                  /* the end taken                                  */
    uint64_t version;           /* SRC->version when last sliced                  */
} sl_server_cursor_t;

sl_status_t sl_server_cursor_init(sl_server_cursor_t *cur, int32_t n);
void sl_server_cursor_free(sl_server_cursor_t *cur);

/* DST (reset first; initialised like SRC) gets what SRC holds past CUR,
 * and CUR moves to SRC's end. A choice whose finish reason is new carries
 * it in the delta; DST->done is set the first time SRC is seen done. */
sl_status_t sl_server_out_slice(const sl_server_out_t *src, sl_server_cursor_t *cur,
                                sl_server_out_t *dst);

/* Whether DELTA holds anything at all (tokens, text, a finish, the end). */
bool sl_server_out_has_news(const sl_server_out_t *delta);

/* Tokens generated over every choice. */
int64_t sl_server_out_completion_tokens(const sl_server_out_t *out);

#endif /* SL_SERVER_OUTPUT_H */
