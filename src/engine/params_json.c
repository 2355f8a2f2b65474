/* params_json.c - see params_json.h. */
#include "config.h"

#include "engine/params_json.h"

#include <stdio.h>
#include <string.h>

#include "engine/sampler.h"

/* A number field into a float, when present (null counts as absent). */
static void sl_pj_float(const json_t *fields, const char *name, float *dst)
{
    const json_t *v = json_object_get(fields, name);
    if (json_is_number(v))
        *dst = (float)json_number_value(v);
}

/* An integer field into an int32, when present; false when out of range. */
static bool sl_pj_int(const json_t *fields, const char *name, int32_t *dst, char *err,
                      size_t err_size)
{
    const json_t *v = json_object_get(fields, name);
    if (!json_is_integer(v))
        return true;
    json_int_t x = json_integer_value(v);
    if (x < INT32_MIN || x > INT32_MAX) {
        snprintf(err, err_size, "%s: %lld is out of range", name, (long long)x);
        return false;
    }
    *dst = (int32_t)x;
    return true;
}

sl_status_t sl_sampling_params_from_json(const json_t *fields, bool chat,
                                         const sl_sampling_params_t *defaults,
                                         sl_sampling_params_t *params_p, char *err,
                                         size_t err_size)
{
    sl_sampling_params_t p;
    const json_t *v;
    size_t i;

    if (sl_sampling_params_copy(&p, defaults) != SL_OK) {
        snprintf(err, err_size, "out of memory");
        return SL_ERR_NO_MEMORY;
    }
    if (!sl_pj_int(fields, "max_tokens", &p.max_tokens, err, err_size) ||
        !sl_pj_int(fields, "max_completion_tokens", &p.max_tokens, err, err_size) ||
        !sl_pj_int(fields, "min_tokens", &p.min_tokens, err, err_size) ||
        !sl_pj_int(fields, "n", &p.n, err, err_size) ||
        !sl_pj_int(fields, "top_k", &p.top_k, err, err_size))
        goto err;
    if (p.max_tokens < 1) {
        snprintf(err, err_size, "max_tokens: must be at least 1");
        goto err;
    }
    sl_pj_float(fields, "temperature", &p.temperature);
    sl_pj_float(fields, "top_p", &p.top_p);
    sl_pj_float(fields, "min_p", &p.min_p);
    sl_pj_float(fields, "repetition_penalty", &p.repetition_penalty);
    sl_pj_float(fields, "presence_penalty", &p.presence_penalty);
    sl_pj_float(fields, "frequency_penalty", &p.frequency_penalty);
    if (p.top_p <= 0.0f) {
        snprintf(err, err_size, "top_p: must be greater than 0");
        goto err;
    }
    if (json_is_integer(v = json_object_get(fields, "seed"))) {
        p.has_seed = true;
        p.seed = (uint64_t)json_integer_value(v);
    }
    if (json_is_boolean(v = json_object_get(fields, "ignore_eos")))
        p.ignore_eos = json_is_true(v);
    if (json_is_boolean(v = json_object_get(fields, "skip_special_tokens")))
        p.skip_special_tokens = json_is_true(v);

    /* logprobs: chat says whether (top_logprobs says how many alternatives);
     * completions says how many alternatives directly. */
    v = json_object_get(fields, "logprobs");
    if (chat && json_is_true(v)) {
        p.logprobs = 0;
        if (!sl_pj_int(fields, "top_logprobs", &p.logprobs, err, err_size))
            goto err;
    } else if (!chat && json_is_integer(v)) {
        p.logprobs = (int32_t)json_integer_value(v);
    }
    if (p.logprobs > SL_MAX_LOGPROBS) {
        snprintf(err, err_size, "logprobs: at most %d alternatives", SL_MAX_LOGPROBS);
        goto err;
    }

    v = json_object_get(fields, "stop");
    if (json_is_string(v) && sl_sampling_params_add_stop(&p, json_string_value(v)) != SL_OK)
        goto err_nomem;
    if (json_is_array(v)) {
        const json_t *s;
        json_array_foreach(v, i, s)
            if (sl_sampling_params_add_stop(&p, json_string_value(s)) != SL_OK)
                goto err_nomem;
    }
    if (json_is_array(v = json_object_get(fields, "stop_token_ids"))) {
        const json_t *id;
        json_array_foreach(v, i, id) {
            json_int_t x = json_integer_value(id);
            if (x < 0 || x > INT32_MAX) {
                snprintf(err, err_size, "stop_token_ids[%zu]: %lld is not a token id", i,
                         (long long)x);
                goto err;
            }
            if (sl_sampling_params_add_stop_id(&p, (int32_t)x) != SL_OK)
                goto err_nomem;
        }
    }

    if (json_object_size(json_object_get(fields, "logit_bias")) > 0) {
        snprintf(err, err_size, "logit_bias: not supported");
        goto err;
    }
    if (json_is_integer(v = json_object_get(fields, "best_of")) && json_integer_value(v) > p.n) {
        snprintf(err, err_size, "best_of: only best_of = n is supported");
        goto err;
    }
    *params_p = p;
    return SL_OK;

err_nomem:
    snprintf(err, err_size, "out of memory");
err:
    sl_sampling_params_release(&p);
    return SL_ERR_INVALID_ARG;
}
