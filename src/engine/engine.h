/*
 * engine.h - the inference engine of one DP group: requests in, continuous
 * batching over a paged KV cache with prefix sharing, sampled tokens out.
 *
 *   sl_engine_create(backend, tokenizer, model config, options)
 *   sl_engine_submit(...)            queue requests (any time)
 *   sl_engine_step() / sl_engine_run()   schedule -> forward -> sample
 *   sl_engine_poll()                 finished requests, in finishing order
 *
 * One step: the scheduler (scheduler.h) builds a plan of decodes and prefill
 * chunks within the KV cache (kv_cache.h), preempting the youngest sequences
 * when blocks run out; the plan becomes a step plan (step_plan.h: the batch
 * plus how each logit row is sampled), handed to an optional hook (the
 * leader of a multi-process TP group broadcasts it there), run by the
 * backend, and the logits are sampled (sampler.h, or where they are: the
 * backend's forward_greedy / forward_sample); new tokens go through the
 * stop conditions (stop.h) and the streaming detokenizer, and finished
 * sequences free their blocks.
 *
 * Tokens depend only on the request: the backend computes every token's
 * row alone (no batch-size dependent reductions), prefix-cache hits reuse
 * bit-identical K/V, and the RNG is keyed by request and position, so a
 * request gives the same tokens alone or in any batch, with or without
 * chunking, preemption or prefix hits.
 *
 * Not thread-safe: one thread drives an engine. Each DP group (parallel.h)
 * has its own engine.
 */
#ifndef SL_ENGINE_ENGINE_H
#define SL_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/status.h"
#include "engine/kv_cache.h"
#include "engine/request.h"
#include "engine/step_plan.h"
#include "model/model_config.h"
#include "tokenizer/tokenizer.h"

typedef struct sl_engine_options {
    int32_t max_running;          /* running sequences (--max-running-requests), 256  */
    int32_t chunked_prefill_size; /* --chunked-prefill-size, 2048; <= 0: no chunking */
    int32_t max_prefill_tokens;   /* --max-prefill-tokens per step, 16384             */
    bool prefix_cache;            /* false: --disable-prefix-cache                    */
    bool record_token_times;      /* keep every token's time (sequence token_times)   */
    uint64_t seed;                /* RNG seed of requests without one, 0              */
    bool host_sampling;           /* sample on the host even where the backend offers
                                     forward_sample (--gpu-sampling off; plain greedy
                                     steps still use forward_greedy), false           */
    const int32_t *eos;           /* [num_eos] EOS ids (gen_config.h); copied         */
    int32_t num_eos;
    /* Called with each step's plan before the forward (e.g. to broadcast it);
     * an error fails the step. NULL: none. */
    sl_status_t (*on_plan)(void *ctx, const sl_step_plan_t *plan);
    void *on_plan_ctx;
} sl_engine_options_t;

void sl_engine_options_init(sl_engine_options_t *options);

typedef struct sl_engine sl_engine_t;

/*
 * An engine over BACKEND's KV cache (all of its blocks), sampling from the
 * vocabulary of CONFIG, stopping at CONFIG->max_position. TOK may be NULL:
 * requests then have no text (and stop strings never match). BACKEND, TOK
 * and CONFIG must outlive the engine.
 */
sl_status_t sl_engine_create(sl_backend_t *backend, const sl_tok_t *tok,
                             const sl_model_config_t *config,
                             const sl_engine_options_t *options, sl_engine_t **engine_p);

/* Frees the engine and every request still in it. NULL is allowed. */
void sl_engine_free(sl_engine_t *engine);

/*
 * Queues a request: PROMPT ([prompt_len] ids, copied) with PARAMS (copied).
 * ID is the caller's (e.g. the record's index); it keys the RNG of requests
 * without a seed.
 * Bad parameters or ids: logged, SL_ERR_INVALID_ARG, nothing queued.
 * A request that can never run -- its prompt fills the model's context, or
 * it alone needs more KV blocks than the cache has -- is queued as finished
 * with SL_FINISH_ERROR and the reason in request->error (logged once); the
 * other requests are not affected.
 */
sl_status_t sl_engine_submit(sl_engine_t *engine, uint64_t id, const int32_t *prompt,
                             int32_t prompt_len, const sl_sampling_params_t *params);

/* Whether requests are waiting or running. */
bool sl_engine_has_work(const sl_engine_t *engine);

/* Runs one step (nothing when there is no work). A backend failure fails the
 * step and is returned (the engine is then unusable). */
sl_status_t sl_engine_step(sl_engine_t *engine);

/* Steps until no request is waiting or running. */
sl_status_t sl_engine_run(sl_engine_t *engine);

/* The next finished request (the caller's: sl_request_free()), or NULL. */
sl_request_t *sl_engine_poll(sl_engine_t *engine);

/* The unfinished (waiting or running) request ID, read-only, or NULL. It
 * stays at its address, changing only inside the engine's calls, until
 * sl_engine_poll() hands it back finished. A server reads the tokens and
 * text produced so far through it to stream them while the request runs. */
const sl_request_t *sl_engine_find(const sl_engine_t *engine, uint64_t id);

/* Ends request ID now (SL_FINISH_ABORT for its unfinished sequences).
 * SL_ERR_NOT_FOUND (not logged) when no such request is running. */
sl_status_t sl_engine_abort(sl_engine_t *engine, uint64_t id);

/* One step, as it ran. */
typedef struct sl_step_record {
    uint64_t step;
    double start, duration;  /* seconds (CLOCK_MONOTONIC); the whole step    */
    double forward;          /* of which the backend's forward               */
    int32_t num_seqs;        /* sequences in the batch                       */
    int32_t prefill_tokens;
    int32_t decode_tokens;
    int32_t num_preempted;
    int32_t free_blocks;     /* after the step                               */
} sl_step_record_t;

/* The records of the steps run since the last clear: [*count_p], valid until
 * the next step or clear. Callers drain them (e.g. to a results file) and
 * clear, so hours of steps do not accumulate. */
const sl_step_record_t *sl_engine_step_records(const sl_engine_t *engine, size_t *count_p);
void sl_engine_clear_step_records(sl_engine_t *engine);

typedef struct sl_engine_stats {
    uint64_t steps;
    uint64_t requests_submitted, requests_finished;
    uint64_t prompt_tokens;      /* of submitted requests                       */
    uint64_t computed_tokens;    /* prefill tokens run (recomputation included) */
    uint64_t generated_tokens;
    uint64_t preemptions;
    double busy_seconds;         /* in steps                                    */
    double forward_seconds;      /* in the backend                              */
    int32_t waiting, running;    /* sequences now                               */
    sl_kv_stats_t kv;            /* blocks and prefix-cache hits                */
} sl_engine_stats_t;

void sl_engine_get_stats(const sl_engine_t *engine, sl_engine_stats_t *stats);

#endif /* SL_ENGINE_ENGINE_H */
