/*
 * params_json.h - OpenAI request fields (a JSON object) to the engine's
 * sampling parameters, for `slinfer run` and the HTTP server.
 *
 * Types were checked by sl_io_sampling_validate() (io/sampling.h); this maps
 * the well-known fields onto sl_sampling_params_t over DEFAULTS and checks
 * what the engine needs beyond types: max_tokens >= 1 (0 asks for nothing),
 * top_p > 0. Fields the engine has no use for (user, stream, echo, best_of
 * equal to n) are ignored; fields it cannot honour (logit_bias, best_of > n)
 * are refused, never silently dropped.
 *
 *   max_tokens | max_completion_tokens, min_tokens, n, temperature, top_p,
 *   top_k, min_p, repetition_penalty, presence_penalty, frequency_penalty,
 *   seed, stop, stop_token_ids, ignore_eos, skip_special_tokens,
 *   logprobs (chat: bool, with top_logprobs N; completions: N)
 */
#ifndef SL_ENGINE_PARAMS_JSON_H
#define SL_ENGINE_PARAMS_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "engine/request.h"

/* On success *params_p holds the result (release it with
 * sl_sampling_params_release()). On a bad field: SL_ERR_INVALID_ARG and
 * "FIELD: why" in ERR[ERR_SIZE], not logged (the caller says where the
 * request came from). CHAT selects the chat meaning of "logprobs". */
sl_status_t sl_sampling_params_from_json(const json_t *fields, bool chat,
                                         const sl_sampling_params_t *defaults,
                                         sl_sampling_params_t *params_p, char *err,
                                         size_t err_size);

#endif /* SL_ENGINE_PARAMS_JSON_H */
