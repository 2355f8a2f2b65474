/*
 * sample.h - what a logit row is sampled with and what comes out of it, the
 * types a backend needs to sample where its logits are (backend.h's
 * forward_sample) without knowing the engine.
 *
 * The semantics (order of the steps, the RNG, ties, raw logprobs) are those
 * of engine/sampler.h, whose C functions are the oracle and the CPU path;
 * sampler.h includes this header.
 */
#ifndef SL_BACKEND_SAMPLE_H
#define SL_BACKEND_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* The most alternatives a token's logprobs may list (OpenAI's limit). */
#define SL_MAX_LOGPROBS 20

/* Temperatures below this are greedy (vLLM's epsilon). */
#define SL_SAMPLE_GREEDY_EPS 1e-5f

/* What one logit row is sampled with: the part of a request's sampling
 * parameters a step plan carries (engine/step_plan.h). Plain data: a backend
 * may copy it to a device as it is. */
typedef struct sl_sample_row {
    float temperature;          /* 0 (or < SL_SAMPLE_GREEDY_EPS): greedy   */
    float top_p;                /* 1: off                                  */
    float min_p;                /* 0: off                                  */
    int32_t top_k;              /* 0: off                                  */
    float repetition_penalty;   /* 1: off                                  */
    float presence_penalty;     /* 0: off                                  */
    float frequency_penalty;    /* 0: off                                  */
    int32_t logprobs;           /* -1: none; 0: the chosen token's; N: + top N */
    int32_t num_samples;        /* tokens drawn from this row (n > 1 forks) */
    int32_t suppress_stop;      /* min_tokens not reached: no EOS/stop ids */
    uint64_t seed;              /* RNG key: seed,                           */
    uint64_t stream;            /*   stream of the first sample (+j for    */
    uint64_t counter;           /*   sample j), position of the new token   */
} sl_sample_row_t;

/* The tokens the penalties look at. Any pointer may be NULL with count 0. */
typedef struct sl_sample_history {
    const int32_t *prompt;
    size_t prompt_len;
    const int32_t *output;
    size_t output_len;
    const int32_t *suppress;    /* EOS and stop ids (used with suppress_stop) */
    size_t num_suppress;
} sl_sample_history_t;

/* One drawn token and its logprobs. */
typedef struct sl_sample_result {
    int32_t token;
    float logprob;                       /* raw log-softmax of the token    */
    int32_t num_top;                     /* alternatives below              */
    int32_t top_ids[SL_MAX_LOGPROBS];
    float top_logprobs[SL_MAX_LOGPROBS];
} sl_sample_result_t;

/* Whether ROW's penalties read HIST: repetition over prompt and output,
 * frequency/presence over the output, min_tokens' suppression. */
static inline int sl_sample_row_has_penalties(const sl_sample_row_t *row)
{
    return row->repetition_penalty != 1.0f || row->frequency_penalty != 0.0f ||
           row->presence_penalty != 0.0f || row->suppress_stop;
}

#endif /* SL_BACKEND_SAMPLE_H */
