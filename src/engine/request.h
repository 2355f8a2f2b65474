/*
 * request.h - one generation request: its prompt, sampling parameters and
 * stop conditions, its n sequences (the completions being generated), and
 * what comes out (ids, text, logprobs, finish reason, timing).
 *
 * The engine (engine.h) creates requests from what is submitted, owns them
 * while they run, and hands each back through sl_engine_poll() when every
 * sequence has finished; the caller then reads the fields below and frees it
 * with sl_request_free(). Fields are read-only for callers.
 *
 * With n > 1 the sequences share the prompt: sequence 0 prefills it, the n
 * first tokens are drawn from its last logits, and the others take
 * references to its full KV blocks (kv_cache.h) and recompute only the
 * partial last block of the prompt (so blocks are never written by two
 * sequences and need no copy-on-write).
 */
#ifndef SL_ENGINE_REQUEST_H
#define SL_ENGINE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "engine/sampler.h"
#include "engine/stop.h"
#include "tokenizer/tokenizer.h"

typedef enum sl_finish_reason {
    SL_FINISH_NONE = 0, /* still running                               */
    SL_FINISH_STOP,     /* EOS, a stop token id or a stop string       */
    SL_FINISH_LENGTH,   /* max_tokens, or the model's context is full  */
    SL_FINISH_ABORT,    /* sl_engine_abort()                           */
    SL_FINISH_ERROR,    /* the request could not run; see request->error */
} sl_finish_reason_t;

/* "stop", "length", "abort", "error"; NULL for SL_FINISH_NONE. */
const char *sl_finish_reason_name(sl_finish_reason_t reason);

/* What a request asks for. Defaults (sl_sampling_params_init) are the
 * OpenAI/vLLM ones except max_tokens (SGLang's 128). */
typedef struct sl_sampling_params {
    int32_t n;                   /* sequences from the one prompt (1)          */
    int32_t max_tokens;          /* generated tokens at most (128), >= 1        */
    int32_t min_tokens;          /* no EOS/stop before this many (0)            */
    float temperature;           /* 0: greedy (1)                               */
    float top_p;                 /* (0, 1] (1)                                   */
    int32_t top_k;               /* 0 or -1: off (0)                             */
    float min_p;                 /* [0, 1] (0)                                   */
    float repetition_penalty;    /* > 0, 1: off (1)                              */
    float presence_penalty;      /* [-2, 2] (0)                                  */
    float frequency_penalty;     /* [-2, 2] (0)                                  */
    bool has_seed;               /* without a seed, the engine's seed and the   */
    uint64_t seed;               /*   request id key the RNG                     */
    bool ignore_eos;             /* keep going past EOS (false)                 */
    bool skip_special_tokens;    /* in the text (true)                           */
    int32_t logprobs;            /* -1: none (-1); N in 0..20: chosen + top N    */
    char **stop;                 /* [num_stop] stop strings, not returned        */
    int32_t num_stop;
    int32_t *stop_token_ids;     /* [num_stop_token_ids]                         */
    int32_t num_stop_token_ids;
} sl_sampling_params_t;

void sl_sampling_params_init(sl_sampling_params_t *params);

/* Checks every field against its range (VOCAB bounds the stop ids); logs the
 * first bad field by name and returns SL_ERR_INVALID_ARG. */
sl_status_t sl_sampling_params_validate(const sl_sampling_params_t *params, int32_t vocab);

/* Deep copy (stop strings and ids); release DST with
 * sl_sampling_params_release(). */
sl_status_t sl_sampling_params_copy(sl_sampling_params_t *dst, const sl_sampling_params_t *src);

/* Frees the stop strings and ids, leaving empty lists. */
void sl_sampling_params_release(sl_sampling_params_t *params);

/* Adds a stop string / stop token id to PARAMS (owned copies). */
sl_status_t sl_sampling_params_add_stop(sl_sampling_params_t *params, const char *text);
sl_status_t sl_sampling_params_add_stop_id(sl_sampling_params_t *params, int32_t id);

/* Times in seconds of CLOCK_MONOTONIC (sl_time_now()); 0 where not reached. */
typedef struct sl_timing {
    double arrival;          /* submitted                                      */
    double first_scheduled;  /* first in a step plan                           */
    double first_token;      /* first token sampled (of any sequence)          */
    double finish;           /* last sequence finished                         */
} sl_timing_t;

double sl_time_now(void);

typedef enum sl_seq_state {
    SL_SEQ_WAITING = 0, /* queued, holds no KV blocks (new or preempted)   */
    SL_SEQ_RUNNING,     /* admitted: holds blocks for its computed tokens  */
    SL_SEQ_FINISHED,
    SL_SEQ_UNBORN,      /* sequence 1..n-1 before the prompt is prefilled */
} sl_seq_state_t;

typedef struct sl_request sl_request_t;

/* One completion. Its tokens are the request's prompt, then out[]. */
typedef struct sl_sequence {
    sl_request_t *req;
    int32_t index;               /* 0..n-1 in the request                       */
    uint64_t order;              /* age: lower is older (scheduler priority)     */
    sl_seq_state_t state;
    sl_finish_reason_t finish_reason;

    int32_t *out;                /* [num_out] generated ids (stop ids included)  */
    int32_t num_out, cap_out;    /* per-token arrays grow up to max_tokens       */

    /* KV cache state, owned by the scheduler */
    int32_t num_computed;        /* tokens whose K/V are in the cache            */
    int32_t *blocks;             /* [num_blocks] block table                     */
    int32_t num_blocks, cap_blocks;
    uint64_t *hashes;            /* [num_hashed] prefix hashes of full blocks    */
    int32_t num_hashed;
    int32_t num_preemptions;
    struct sl_sequence *prev, *next; /* in the scheduler's waiting/running list  */

    /* text */
    sl_tok_stream_t *stream;     /* NULL without a tokenizer                     */
    sl_stop_t stop;              /* text so far; stop-string state               */

    /* logprobs, when asked: [num_out], and [num_out * top_n] alternatives */
    float *logprobs;
    int32_t *top_ids;
    float *top_logprobs;
    int32_t *num_top;            /* [num_out]                                    */

    /* timing */
    double last_token_time;
    double itl_sum, itl_max;     /* inter-token latencies of this sequence       */
    int64_t itl_count;
    double *token_times;         /* [num_out] when the engine records them       */
    bool record_times;
} sl_sequence_t;

struct sl_request {
    uint64_t id;                 /* the caller's; keys the RNG without a seed    */
    int32_t *prompt;             /* [prompt_len]                                 */
    int32_t prompt_len;
    sl_sampling_params_t params;
    int32_t max_new;             /* max_tokens capped by the context             */
    sl_sequence_t *seqs;         /* [params.n]                                   */
    int32_t num_finished;
    size_t active_index;         /* the engine's: where it lists R while running */
    bool forked;                 /* sequences 1..n-1 exist                       */
    bool scheduled;
    char *error;                 /* why, for SL_FINISH_ERROR                     */
    int32_t cached_tokens;       /* prompt tokens found in the prefix cache      */
    sl_timing_t timing;
    sl_request_t *next_done;     /* the engine's queue of finished requests      */
};

/* A request for PROMPT ([prompt_len] ids, copied) with a deep copy of PARAMS
 * (already validated). TOK may be NULL (no text). Sequences start unborn,
 * sequence 0 waiting. */
sl_status_t sl_request_create(uint64_t id, const int32_t *prompt, int32_t prompt_len,
                              const sl_sampling_params_t *params, const sl_tok_t *tok,
                              bool record_token_times, sl_request_t **req_p);

void sl_request_free(sl_request_t *req);

/* Token I of SEQ: the prompt's, then the generated ones. */
static inline int32_t sl_seq_token(const sl_sequence_t *seq, int32_t i)
{
    return i < seq->req->prompt_len ? seq->req->prompt[i] : seq->out[i - seq->req->prompt_len];
}

static inline int32_t sl_seq_len(const sl_sequence_t *seq)
{
    return seq->req->prompt_len + seq->num_out;
}

/*
 * Appends a sampled token (R: token and logprobs) to SEQ at time NOW: the
 * output ids, the logprobs, the timing, and -- unless the token is a stop
 * token (IS_STOP_TOKEN: EOS or a stop id; it stays in out[] but adds no
 * text) -- the detokenized text, matched against the stop strings when
 * CHECK_STOP. Sets *stopped_p when a stop string ended in the new text (the
 * text is then cut before it).
 */
sl_status_t sl_seq_append(sl_sequence_t *seq, const sl_sample_result_t *r, bool is_stop_token,
                          bool check_stop, double now, bool *stopped_p);

/* Ends SEQ's text: releases what the stop-string matching held back, and the
 * detokenizer's tail unless a stop string cut it. */
sl_status_t sl_seq_finish_text(sl_sequence_t *seq);

/* Queue time, TTFT and end-to-end in seconds; inter-token latencies over
 * every sequence: mean and max (0 with fewer than two tokens). */
typedef struct sl_request_latency {
    double queue, ttft, e2e, itl_mean, itl_max;
} sl_request_latency_t;

void sl_request_latency(const sl_request_t *req, sl_request_latency_t *lat);

#endif /* SL_ENGINE_REQUEST_H */
