/*
 * sampler.h - turning one row of logits into the next token, and the
 * logprobs reported for it.
 *
 * The order is vLLM's and HuggingFace's: penalties on the raw logits
 * (repetition over prompt and output, then frequency and presence over the
 * output), min_tokens' suppression of EOS and stop ids, temperature, top-k,
 * top-p, min-p, then either argmax (temperature 0: greedy) or one draw from
 * the remaining distribution.
 *
 * Determinism: a draw uses one uniform number from a counter-based RNG keyed
 * by (seed, stream, counter) -- the engine passes the request's seed, a
 * stream naming the request and sequence, and the position of the token --
 * so a token never depends on what else shares the batch, on thread counts
 * or on the order requests arrive in. Greedy picks the lowest token id among
 * equal maxima; top-k keeps exactly k tokens, preferring lower ids on ties.
 *
 * Logprobs are those of the *raw* model distribution, log_softmax(logits)
 * before penalties, temperature and filtering -- what OpenAI's API and vLLM
 * (its default "raw_logprobs") return -- so they score the model, not the
 * sampling settings; the top-N alternatives are the N most likely raw tokens.
 *
 * Every per-token step below is a small pure function over plain float
 * arrays ([vocab]), the C twin of a step of the GPU sampler (gpu/sampling.cu,
 * a backend's forward_sample); the row, history and result types live below
 * the engine, in backend/sample.h.
 */
#ifndef SL_ENGINE_SAMPLER_H
#define SL_ENGINE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "backend/sample.h"
#include "core/status.h"

/* ---- counter-based RNG --------------------------------------------------- */

/* A uniform number in [0, 1) that depends only on (SEED, STREAM, COUNTER):
 * splitmix64 finalisers chained over the three words, 53 bits kept. */
double sl_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter);

/* The splitmix64 finaliser: a bijective 64-bit mix. */
uint64_t sl_rng_mix(uint64_t x);

/* ---- pure per-row steps (logits: [vocab] float32, modified in place) ---- */

/* HF's repetition penalty over the distinct ids of A ([na], the prompt) and
 * B ([nb], the output), each id once: a positive logit is divided by
 * PENALTY, a negative one multiplied. SEEN: [vocab] scratch, all zero on
 * entry and on return. */
void sl_sample_repetition_penalty(float *logits, const int32_t *a, size_t na, const int32_t *b,
                                  size_t nb, float penalty, uint8_t *seen);

/* OpenAI's penalties over IDS ([n], the generated tokens): logit -=
 * FREQUENCY * count + PRESENCE * (count > 0). COUNTS: [vocab] scratch, all
 * zero on entry and on return. */
void sl_sample_frequency_presence(float *logits, const int32_t *ids, size_t n, float frequency,
                                  float presence, int32_t *counts);

/* Sets the logits of IDS ([n]) to -inf (EOS and stop ids under min_tokens). */
void sl_sample_suppress(float *logits, int32_t vocab, const int32_t *ids, size_t n);

/* logits /= TEMPERATURE (> 0). */
void sl_sample_temperature(float *logits, int32_t vocab, float temperature);

/* Keeps the K largest logits (0 < K < vocab; ties: lower id first), -inf
 * elsewhere. ORDER: [vocab] scratch. */
void sl_sample_top_k(float *logits, int32_t vocab, int32_t k, int32_t *order);

/* Keeps the smallest set of most likely tokens whose probability reaches
 * TOP_P (0 < TOP_P < 1; at least one token), -inf elsewhere. ORDER: [vocab]
 * scratch. */
void sl_sample_top_p(float *logits, int32_t vocab, float top_p, int32_t *order);

/* Keeps the tokens whose probability is at least MIN_P times the largest
 * one's (0 < MIN_P <= 1), -inf elsewhere. */
void sl_sample_min_p(float *logits, int32_t vocab, float min_p);

/* The index of the largest logit, the lowest on ties; -inf everywhere gives 0. */
int32_t sl_sample_argmax(const float *logits, int32_t vocab);

/* probs: [vocab] softmax of LOGITS (-inf gives exactly 0). */
void sl_sample_softmax(const float *logits, int32_t vocab, float *probs);

/* The token drawn from PROBS ([vocab], need not sum to 1) by U in [0, 1):
 * the first id whose cumulative probability (in id order) exceeds U times
 * the total. */
int32_t sl_sample_categorical(const float *probs, int32_t vocab, double u);

/* log(sum(exp(logits))), computed around the maximum. */
double sl_sample_logsumexp(const float *logits, int32_t vocab);

/* The N (<= SL_MAX_LOGPROBS) most likely tokens of LOGITS, most likely first
 * (ties: lower id first), with their logprobs logit - LSE.
 * ids: [n], logprobs: [n]. Returns how many were written (min(n, vocab)). */
int32_t sl_sample_top_logprobs(const float *logits, int32_t vocab, double lse, int32_t n,
                               int32_t *ids, float *logprobs);

/* ---- one whole draw -------------------------------------------------------- */

/* sl_sample_row_t, sl_sample_history_t, sl_sample_result_t: backend/sample.h. */

/* Scratch of [vocab] arrays, reused for every row; one per engine. */
typedef struct sl_sampler sl_sampler_t;

sl_status_t sl_sampler_create(int32_t vocab, sl_sampler_t **sampler_p);
void sl_sampler_free(sl_sampler_t *sampler);

/*
 * Samples ROW->num_samples tokens from LOGITS ([vocab], not modified) with
 * the settings of ROW and the penalties over HIST; sample j uses RNG stream
 * ROW->stream + j. results: [ROW->num_samples].
 */
void sl_sampler_sample(sl_sampler_t *sampler, const float *logits, const sl_sample_row_t *row,
                       const sl_sample_history_t *hist, sl_sample_result_t *results);

#endif /* SL_ENGINE_SAMPLER_H */
