/* parse.c - request bodies of the OpenAI routes; see parse.h. */
#include "config.h"

#include "server/parse.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/params_json.h"
#include "io/sampling.h"

/* More than any client needs; a bound on work per request. */
#define SL_SERVER_MAX_STOPS 64
#define SL_SERVER_MAX_STOP_IDS 1024

sl_status_t sl_server_error_set(sl_server_error_t *err, int status, const char *param,
                                const char *code, const char *format, ...)
{
    va_list ap;

    err->status = status;
    err->type = status >= 500 ? "server_error" : "invalid_request_error";
    err->code = code;
    snprintf(err->param, sizeof(err->param), "%s", param != NULL ? param : "");
    va_start(ap, format);
    vsnprintf(err->message, sizeof(err->message), format, ap);
    va_end(ap);
    return status >= 500 ? SL_ERR_NO_MEMORY : SL_ERR_INVALID_ARG;
}

#define sl_server_bad(err, param, ...) sl_server_error_set((err), 400, (param), NULL, __VA_ARGS__)
#define sl_server_oom(err) sl_server_error_set((err), 500, NULL, NULL, "out of memory")

/* The members each endpoint accepts; anything else is refused by name. */
static const char *const sl_server_common_fields[] = {
    "model", "stream", "stream_options", "n", "max_tokens", "temperature", "top_p", "top_k",
    "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty", "seed", "stop",
    "stop_token_ids", "ignore_eos", "skip_special_tokens", "min_tokens", "logprobs",
    "logit_bias", "user", NULL,
};
static const char *const sl_server_completion_fields[] = {
    "prompt", "echo", "suffix", "best_of", NULL,
};
static const char *const sl_server_chat_fields[] = {
    "messages", "max_completion_tokens", "top_logprobs", "add_generation_prompt",
    "chat_template_kwargs", "tools", "tool_choice", "response_format", NULL,
};

static bool sl_server_in(const char *const *list, const char *key)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, key) == 0)
            return true;
    return false;
}

/* Member KEY of O, NULL when absent or null. */
static json_t *sl_server_get(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v != NULL && !json_is_null(v) ? v : NULL;
}

/* "prompt": one text or one list of token ids. */
static sl_status_t sl_server_parse_prompt(const json_t *body, sl_server_req_t *req,
                                          sl_server_error_t *err)
{
    json_t *p = sl_server_get(body, "prompt");
    size_t i;
    json_t *e;

    if (p == NULL)
        return sl_server_bad(err, "prompt", "prompt: required");
    if (json_is_array(p) && json_array_size(p) > 0 && !json_is_integer(json_array_get(p, 0))) {
        if (json_array_size(p) > 1)
            return sl_server_bad(err, "prompt", "prompt: only one prompt per request is "
                                                "supported, got %zu", json_array_size(p));
        p = json_array_get(p, 0); /* ["text"] or [[ids]] */
    }
    if (json_is_string(p)) {
        req->text_len = json_string_length(p);
        req->text = malloc(req->text_len + 1);
        if (req->text == NULL)
            return sl_server_oom(err);
        memcpy(req->text, json_string_value(p), req->text_len + 1);
        return SL_OK;
    }
    if (!json_is_array(p))
        return sl_server_bad(err, "prompt", "prompt: expected a string or an array of token "
                                            "ids, got %s", sl_io_json_type_name(p));
    if (json_array_size(p) == 0)
        return sl_server_bad(err, "prompt", "prompt: the prompt is empty");
    if (json_array_size(p) > INT32_MAX / 2)
        return sl_server_bad(err, "prompt", "prompt: too many token ids");
    req->ids = malloc(json_array_size(p) * sizeof(*req->ids));
    if (req->ids == NULL)
        return sl_server_oom(err);
    json_array_foreach(p, i, e) {
        if (!json_is_integer(e) || json_integer_value(e) < 0 ||
            json_integer_value(e) > INT32_MAX)
            return sl_server_bad(err, "prompt", "prompt[%zu]: expected a token id (an integer "
                                                ">= 0), got %s", i, sl_io_json_type_name(e));
        req->ids[i] = (int32_t)json_integer_value(e);
    }
    req->num_ids = (int32_t)json_array_size(p);
    return SL_OK;
}

/* "messages" and the other chat members. */
static sl_status_t sl_server_parse_chat(json_t *body, sl_server_req_t *req,
                                        sl_server_error_t *err)
{
    json_t *m = sl_server_get(body, "messages"), *v, *e;
    size_t i;

    if (m == NULL)
        return sl_server_bad(err, "messages", "messages: required");
    if (!json_is_array(m) || json_array_size(m) == 0)
        return sl_server_bad(err, "messages", "messages: expected a non-empty array of "
                                              "message objects");
    json_array_foreach(m, i, e) {
        if (!json_is_object(e) || !json_is_string(json_object_get(e, "role")))
            return sl_server_bad(err, "messages", "messages[%zu]: expected an object with a "
                                                  "string \"role\"", i);
    }
    req->messages = json_incref(m);
    if ((v = sl_server_get(body, "tools")) != NULL) {
        if (!json_is_array(v))
            return sl_server_bad(err, "tools", "tools: expected an array, got %s",
                                 sl_io_json_type_name(v));
        req->tools = json_incref(v);
    }
    if ((v = sl_server_get(body, "chat_template_kwargs")) != NULL) {
        if (!json_is_object(v))
            return sl_server_bad(err, "chat_template_kwargs", "chat_template_kwargs: expected "
                                 "an object, got %s", sl_io_json_type_name(v));
        req->template_kwargs = json_incref(v);
    }
    if ((v = sl_server_get(body, "add_generation_prompt")) != NULL) {
        if (!json_is_boolean(v))
            return sl_server_bad(err, "add_generation_prompt", "add_generation_prompt: "
                                 "expected a boolean, got %s", sl_io_json_type_name(v));
        req->add_generation_prompt = json_is_true(v);
    }
    if ((v = sl_server_get(body, "tool_choice")) != NULL &&
        !(json_is_string(v) && (strcmp(json_string_value(v), "none") == 0 ||
                                strcmp(json_string_value(v), "auto") == 0)))
        return sl_server_bad(err, "tool_choice", "tool_choice: only \"none\" and \"auto\" are "
                                                 "supported (tool calls come back as text)");
    if ((v = sl_server_get(body, "response_format")) != NULL) {
        json_t *type = json_object_get(v, "type");
        if (!json_is_object(v) || !json_is_string(type) ||
            strcmp(json_string_value(type), "text") != 0)
            return sl_server_bad(err, "response_format", "response_format: only {\"type\": "
                                                         "\"text\"} is supported");
    }
    return SL_OK;
}

/* The sampling members into REQ->params: engine/params_json.h maps them
 * (as `slinfer run` does); then what the engine refuses, said here in the
 * client's words, and bounds on work per request. */
static sl_status_t sl_server_parse_sampling(json_t *body, sl_server_req_t *req,
                                            sl_server_error_t *err)
{
    bool chat = req->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS;
    sl_sampling_params_t defaults, *p = &req->params;
    char why[256];
    sl_status_t s;

    sl_sampling_params_init(&defaults);
    sl_sampling_params_release(p);
    s = sl_sampling_params_from_json(body, chat, &defaults, p, why, sizeof(why));
    if (s == SL_ERR_NO_MEMORY)
        return sl_server_oom(err);
    if (s != SL_OK) {
        sl_sampling_params_init(p);
        char field[64];
        snprintf(field, sizeof(field), "%.*s", (int)strcspn(why, ":["), why);
        return sl_server_bad(err, field, "%s", why);
    }
    req->has_max_tokens = sl_server_get(body, "max_tokens") != NULL ||
                          sl_server_get(body, "max_completion_tokens") != NULL;
    if (!isfinite(p->temperature))
        return sl_server_bad(err, "temperature", "temperature: %g is too large",
                             json_number_value(sl_server_get(body, "temperature")));
    if (!(p->repetition_penalty > 0) || !isfinite(p->repetition_penalty))
        return sl_server_bad(err, "repetition_penalty", "repetition_penalty: %g is out of "
                             "range", json_number_value(sl_server_get(body,
                                                                      "repetition_penalty")));
    if (p->num_stop > SL_SERVER_MAX_STOPS)
        return sl_server_bad(err, "stop", "stop: at most %d stop strings, got %d",
                             SL_SERVER_MAX_STOPS, p->num_stop);
    for (int32_t i = 0; i < p->num_stop; i++)
        if (p->stop[i][0] == '\0')
            return sl_server_bad(err, "stop", "stop: a stop string must not be empty");
    if (p->num_stop_token_ids > SL_SERVER_MAX_STOP_IDS)
        return sl_server_bad(err, "stop_token_ids", "stop_token_ids: at most %d ids",
                             SL_SERVER_MAX_STOP_IDS);
    json_t *best = sl_server_get(body, "best_of");
    if (best != NULL && json_integer_value(best) != p->n)
        return sl_server_bad(err, "best_of", "best_of: only best_of equal to n is supported");
    if (chat && sl_server_get(body, "top_logprobs") != NULL &&
        !json_is_true(json_object_get(body, "logprobs")))
        return sl_server_bad(err, "top_logprobs", "top_logprobs: needs \"logprobs\": true");
    return SL_OK;
}

/* "stream" and "stream_options". */
static sl_status_t sl_server_parse_stream(const json_t *body, sl_server_req_t *req,
                                          sl_server_error_t *err)
{
    json_t *so = sl_server_get(body, "stream_options"), *v;
    const char *key;

    req->stream = json_is_true(json_object_get(body, "stream"));
    if (so == NULL)
        return SL_OK;
    if (!req->stream)
        return sl_server_bad(err, "stream_options", "stream_options: only allowed with "
                                                    "\"stream\": true");
    if (!json_is_object(so))
        return sl_server_bad(err, "stream_options", "stream_options: expected an object, "
                                                    "got %s", sl_io_json_type_name(so));
    json_object_foreach(so, key, v) {
        if (strcmp(key, "include_usage") != 0 && strcmp(key, "continuous_usage_stats") != 0)
            return sl_server_bad(err, "stream_options", "stream_options: unrecognized "
                                                        "member '%.40s'", key);
        if (!json_is_boolean(v) && !json_is_null(v))
            return sl_server_bad(err, "stream_options", "stream_options.%s: expected a "
                                                        "boolean", key);
    }
    req->include_usage = json_is_true(json_object_get(so, "include_usage"));
    return SL_OK;
}

void sl_server_req_release(sl_server_req_t *req)
{
    free(req->model);
    free(req->text);
    free(req->ids);
    json_decref(req->messages);
    json_decref(req->tools);
    json_decref(req->template_kwargs);
    sl_sampling_params_release(&req->params);
    memset(req, 0, sizeof(*req));
}

sl_status_t sl_server_parse_request(const char *body, size_t len, sl_io_endpoint_t endpoint,
                                    sl_server_req_t *req_p, sl_server_error_t *err)
{
    bool chat = endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS;
    sl_server_req_t req;
    json_error_t jerr;
    json_t *o, *v;
    const char *key;
    char why[256];
    sl_status_t s;

    memset(&req, 0, sizeof(req));
    req.endpoint = endpoint;
    req.add_generation_prompt = true;
    sl_sampling_params_init(&req.params);
    o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (o == NULL)
        return sl_server_error_set(err, 400, NULL, "invalid_json",
                                   "the body is not valid JSON: %s (line %d, column %d)",
                                   jerr.text, jerr.line, jerr.column);
    if (!json_is_object(o)) {
        s = sl_server_bad(err, NULL, "the body must be a JSON object, got %s",
                          sl_io_json_type_name(o));
        goto err;
    }
    json_object_foreach(o, key, v) {
        if (!sl_server_in(sl_server_common_fields, key) &&
            !sl_server_in(chat ? sl_server_chat_fields : sl_server_completion_fields, key)) {
            s = sl_server_bad(err, key, "Unrecognized request argument supplied: %.100s", key);
            goto err;
        }
    }
    if (sl_io_sampling_validate(o, endpoint, why, sizeof(why)) != SL_OK) {
        char field[64];
        snprintf(field, sizeof(field), "%.*s", (int)strcspn(why, ":["), why);
        s = sl_server_bad(err, field, "%s", why);
        goto err;
    }
    if ((v = sl_server_get(o, "model")) != NULL) {
        if (!json_is_string(v)) {
            s = sl_server_bad(err, "model", "model: expected a string, got %s",
                              sl_io_json_type_name(v));
            goto err;
        }
        if ((req.model = strdup(json_string_value(v))) == NULL) {
            s = sl_server_oom(err);
            goto err;
        }
    }
    if ((s = sl_server_parse_stream(o, &req, err)) != SL_OK ||
        (s = sl_server_parse_sampling(o, &req, err)) != SL_OK ||
        (s = chat ? sl_server_parse_chat(o, &req, err) : sl_server_parse_prompt(o, &req, err)) !=
            SL_OK)
        goto err;
    if (!chat) {
        req.echo = json_is_true(json_object_get(o, "echo"));
        if (req.echo && req.params.logprobs >= 0) {
            s = sl_server_bad(err, "echo", "echo: not supported together with logprobs (the "
                                           "prompt's logprobs are not computed)");
            goto err;
        }
        if (sl_server_get(o, "suffix") != NULL) {
            s = sl_server_bad(err, "suffix", "suffix: not supported");
            goto err;
        }
    }
    json_decref(o);
    *req_p = req;
    return SL_OK;
err:
    json_decref(o);
    sl_server_req_release(&req);
    return s;
}
