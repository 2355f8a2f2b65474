/*
 * parse_line.c - one parsed JSONL line to a request: the OpenAI batch shape
 * ({"custom_id", "method", "url", "body"}) and the plain shapes
 * ({"prompt"} / {"messages"} / {"input_ids"} with sampling fields beside).
 * Every refusal names the field by its path ("body.messages[2].role") so a
 * user can find it in a million-line file.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/reader_impl.h"
#include "io/sampling.h"

#define SL_IO_URL_CHAT "/v1/chat/completions"
#define SL_IO_URL_COMPLETIONS "/v1/completions"

/* A line is in the OpenAI batch shape when it has any of its envelope keys. */
static int sl_io_is_batch(const json_t *obj)
{
    return json_object_get(obj, "body") != NULL || json_object_get(obj, "url") != NULL ||
           json_object_get(obj, "method") != NULL;
}

const char *sl_io_line_id(const json_t *obj, char *buf, size_t size)
{
    const json_t *v;

    if (!json_is_object(obj))
        return NULL;
    if (sl_io_is_batch(obj)) {
        v = json_object_get(obj, "custom_id");
    } else {
        v = json_object_get(obj, "id");
        if (v == NULL)
            v = json_object_get(obj, "custom_id");
        else if (json_object_get(obj, "custom_id") != NULL)
            return NULL; /* ambiguous: reported as an error */
    }
    if (json_is_string(v) && json_string_length(v) > 0 &&
        strlen(json_string_value(v)) == json_string_length(v))
        return json_string_value(v);
    if (json_is_integer(v) && !sl_io_is_batch(obj)) {
        snprintf(buf, size, "%" PRId64, (int64_t)json_integer_value(v));
        return buf;
    }
    return NULL;
}

/* Checks the id field the way sl_io_line_id() reads it, to say why an id
 * was not usable. */
static sl_status_t sl_io_check_id(const json_t *obj, int batch, char *err, size_t size)
{
    const char *key = batch ? "custom_id" : "id";
    const json_t *v = json_object_get(obj, key);

    if (!batch && v != NULL && json_object_get(obj, "custom_id") != NULL) {
        snprintf(err, size, "id: both \"id\" and \"custom_id\" given; use one");
        return SL_ERR_FORMAT;
    }
    if (!batch && v == NULL) {
        key = "custom_id";
        v = json_object_get(obj, key);
    }
    if (v == NULL)
        return SL_OK;
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) {
            snprintf(err, size, "%s: expected a non-empty string", key);
            return SL_ERR_FORMAT;
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(err, size, "%s: contains a NUL character", key);
            return SL_ERR_FORMAT;
        }
        return SL_OK;
    }
    if (!batch && json_is_integer(v))
        return SL_OK;
    snprintf(err, size, "%s: expected a string%s, got %s", key, batch ? "" : " or an integer",
             sl_io_json_type_name(v));
    return SL_ERR_FORMAT;
}

static sl_status_t sl_io_fail(char *err, size_t size, const char *pre, const char *field,
                              const char *what, const json_t *v)
{
    snprintf(err, size, "%s%s: expected %s, got %s", pre, field, what, sl_io_json_type_name(v));
    return SL_ERR_FORMAT;
}

/* A content part of a message: {"type": "text", "text": "..."}. */
static sl_status_t sl_io_check_part(const json_t *part, const char *path, char *err, size_t size)
{
    const json_t *type, *text;

    if (!json_is_object(part))
        return sl_io_fail(err, size, path, "", "an object", part);
    type = json_object_get(part, "type");
    if (!json_is_string(type))
        return sl_io_fail(err, size, path, ".type", "a string", type);
    if (strcmp(json_string_value(type), "text") != 0) {
        snprintf(err, size, "%s.type: \"%.40s\" is not supported (only \"text\" parts)", path,
                 json_string_value(type));
        return SL_ERR_FORMAT;
    }
    text = json_object_get(part, "text");
    if (!json_is_string(text))
        return sl_io_fail(err, size, path, ".text", "a string", text);
    return SL_OK;
}

static sl_status_t sl_io_check_messages(const json_t *msgs, const char *pre, char *err,
                                        size_t size)
{
    size_t i, j;
    const json_t *m, *part;

    if (!json_is_array(msgs))
        return sl_io_fail(err, size, pre, "messages", "an array of objects", msgs);
    if (json_array_size(msgs) == 0) {
        snprintf(err, size, "%smessages: expected a non-empty array of objects, got an empty "
                 "array", pre);
        return SL_ERR_FORMAT;
    }
    json_array_foreach(msgs, i, m) {
        char path[96];
        const json_t *role, *content;

        snprintf(path, sizeof(path), "%smessages[%zu]", pre, i);
        if (!json_is_object(m))
            return sl_io_fail(err, size, path, "", "an object", m);
        role = json_object_get(m, "role");
        if (role == NULL) {
            snprintf(err, size, "%s.role: missing", path);
            return SL_ERR_FORMAT;
        }
        if (!json_is_string(role))
            return sl_io_fail(err, size, path, ".role", "a string", role);
        content = json_object_get(m, "content");
        if (content == NULL || json_is_null(content)) {
            /* an assistant turn may carry only tool calls */
            if (strcmp(json_string_value(role), "assistant") == 0)
                continue;
            snprintf(err, size, "%s.content: missing", path);
            return SL_ERR_FORMAT;
        }
        if (json_is_string(content))
            continue;
        if (!json_is_array(content))
            return sl_io_fail(err, size, path, ".content", "a string or an array of parts",
                              content);
        json_array_foreach(content, j, part) {
            char ppath[128];
            snprintf(ppath, sizeof(ppath), "%s.content[%zu]", path, j);
            if (sl_io_check_part(part, ppath, err, size) != SL_OK)
                return SL_ERR_FORMAT;
        }
    }
    return SL_OK;
}

/* A token id list: non-empty array of integers in [0, INT32_MAX]. */
static sl_status_t sl_io_take_ids(const json_t *arr, const char *pre, const char *field,
                                  sl_io_request_t *req, char *err, size_t size)
{
    size_t n = json_array_size(arr), i;
    const json_t *e;

    if (n == 0) {
        snprintf(err, size, "%s%s: expected a non-empty array of token ids, got an empty array",
                 pre, field);
        return SL_ERR_FORMAT;
    }
    req->input_ids = malloc(n * sizeof(int32_t));
    if (req->input_ids == NULL) {
        snprintf(err, size, "%s%s: out of memory for %zu token ids", pre, field, n);
        return SL_ERR_NO_MEMORY;
    }
    json_array_foreach(arr, i, e) {
        if (!json_is_integer(e)) {
            snprintf(err, size, "%s%s[%zu]: expected an integer token id, got %s", pre, field, i,
                     sl_io_json_type_name(e));
            return SL_ERR_FORMAT;
        }
        if (json_integer_value(e) < 0 || json_integer_value(e) > INT32_MAX) {
            snprintf(err, size, "%s%s[%zu]: token id %" PRId64 " is outside [0, 2147483647]",
                     pre, field, i, (int64_t)json_integer_value(e));
            return SL_ERR_FORMAT;
        }
        req->input_ids[i] = (int32_t)json_integer_value(e);
    }
    req->n_input_ids = n;
    req->kind = SL_IO_PROMPT_TOKENS;
    return SL_OK;
}

static sl_status_t sl_io_take_text(const json_t *s, const char *pre, const char *field,
                                   sl_io_request_t *req, char *err, size_t size)
{
    size_t len = json_string_length(s);

    if (len == 0) {
        snprintf(err, size, "%s%s: expected a non-empty string, got an empty string", pre, field);
        return SL_ERR_FORMAT;
    }
    req->text = malloc(len + 1);
    if (req->text == NULL) {
        snprintf(err, size, "%s%s: out of memory", pre, field);
        return SL_ERR_NO_MEMORY;
    }
    memcpy(req->text, json_string_value(s), len + 1);
    req->text_len = len;
    req->kind = SL_IO_PROMPT_TEXT;
    return SL_OK;
}

/* "prompt" of /v1/completions: a string, token ids, or a list holding one
 * of those (the API's batched form, accepted with one element only). */
static sl_status_t sl_io_take_prompt(const json_t *p, const char *pre, sl_io_request_t *req,
                                     char *err, size_t size)
{
    const char *what = "a string or an array of token ids";
    const json_t *first;

    if (json_is_string(p))
        return sl_io_take_text(p, pre, "prompt", req, err, size);
    if (!json_is_array(p))
        return sl_io_fail(err, size, pre, "prompt", what, p);
    first = json_array_get(p, 0);
    if (json_is_string(first) || json_is_array(first)) {
        if (json_array_size(p) != 1) {
            snprintf(err, size, "%sprompt: a list of %zu prompts; put each prompt on its own "
                     "line", pre, json_array_size(p));
            return SL_ERR_FORMAT;
        }
        if (json_is_string(first))
            return sl_io_take_text(first, pre, "prompt[0]", req, err, size);
        return sl_io_take_ids(first, pre, "prompt[0]", req, err, size);
    }
    return sl_io_take_ids(p, pre, "prompt", req, err, size);
}

/* Copies every member of SRC but the EXCLUDED keys into a new object. */
static json_t *sl_io_params_from(json_t *src, const char *const *excluded)
{
    json_t *params = json_object();
    const char *key;
    json_t *v;

    if (params == NULL)
        return NULL;
    json_object_foreach(src, key, v) {
        int skip = 0;
        for (const char *const *x = excluded; *x != NULL; x++)
            skip |= strcmp(key, *x) == 0;
        if (!skip && json_object_set(params, key, v) != 0) {
            json_decref(params);
            return NULL;
        }
    }
    return params;
}

static sl_status_t sl_io_take_model(const json_t *m, const char *pre, sl_io_request_t *req,
                                    char *err, size_t size)
{
    if (m == NULL || json_is_null(m))
        return SL_OK;
    if (!json_is_string(m))
        return sl_io_fail(err, size, pre, "model", "a string", m);
    req->model = strdup(json_string_value(m));
    if (req->model == NULL) {
        snprintf(err, size, "%smodel: out of memory", pre);
        return SL_ERR_NO_MEMORY;
    }
    return SL_OK;
}

static sl_status_t sl_io_batch_to_request(json_t *obj, sl_io_request_t *req, char *err,
                                          size_t size)
{
    static const char *const excluded[] = {"model", "messages", "prompt", NULL};
    const json_t *method = json_object_get(obj, "method");
    const json_t *url = json_object_get(obj, "url");
    json_t *body = json_object_get(obj, "body");
    sl_status_t st;

    req->batch_line = 1;
    if (method == NULL) {
        snprintf(err, size, "method: missing (expected \"POST\")");
        return SL_ERR_FORMAT;
    }
    if (!json_is_string(method))
        return sl_io_fail(err, size, "", "method", "\"POST\"", method);
    if (strcmp(json_string_value(method), "POST") != 0) {
        snprintf(err, size, "method: \"%.40s\" is not supported (expected \"POST\")",
                 json_string_value(method));
        return SL_ERR_FORMAT;
    }
    if (url == NULL) {
        snprintf(err, size, "url: missing (expected \"" SL_IO_URL_CHAT "\" or \""
                 SL_IO_URL_COMPLETIONS "\")");
        return SL_ERR_FORMAT;
    }
    if (!json_is_string(url))
        return sl_io_fail(err, size, "", "url", "a string", url);
    if (strcmp(json_string_value(url), SL_IO_URL_CHAT) == 0) {
        req->endpoint = SL_IO_ENDPOINT_CHAT_COMPLETIONS;
    } else if (strcmp(json_string_value(url), SL_IO_URL_COMPLETIONS) == 0) {
        req->endpoint = SL_IO_ENDPOINT_COMPLETIONS;
    } else {
        snprintf(err, size, "url: \"%.80s\" is not supported (expected \"" SL_IO_URL_CHAT
                 "\" or \"" SL_IO_URL_COMPLETIONS "\")", json_string_value(url));
        return SL_ERR_FORMAT;
    }
    if (body == NULL) {
        snprintf(err, size, "body: missing");
        return SL_ERR_FORMAT;
    }
    if (!json_is_object(body))
        return sl_io_fail(err, size, "", "body", "an object", body);
    st = sl_io_take_model(json_object_get(body, "model"), "body.", req, err, size);
    if (st != SL_OK)
        return st;
    if (req->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS) {
        json_t *msgs = json_object_get(body, "messages");
        if (json_object_get(body, "prompt") != NULL) {
            snprintf(err, size, "body.prompt: not allowed with url \"" SL_IO_URL_CHAT
                     "\" (use body.messages)");
            return SL_ERR_FORMAT;
        }
        if (msgs == NULL) {
            snprintf(err, size, "body.messages: missing");
            return SL_ERR_FORMAT;
        }
        st = sl_io_check_messages(msgs, "body.", err, size);
        if (st != SL_OK)
            return st;
        req->messages = json_incref(msgs);
        req->kind = SL_IO_PROMPT_MESSAGES;
    } else {
        const json_t *prompt = json_object_get(body, "prompt");
        if (json_object_get(body, "messages") != NULL) {
            snprintf(err, size, "body.messages: not allowed with url \"" SL_IO_URL_COMPLETIONS
                     "\" (use body.prompt)");
            return SL_ERR_FORMAT;
        }
        if (prompt == NULL) {
            snprintf(err, size, "body.prompt: missing");
            return SL_ERR_FORMAT;
        }
        st = sl_io_take_prompt(prompt, "body.", req, err, size);
        if (st != SL_OK)
            return st;
    }
    req->params = sl_io_params_from(body, excluded);
    if (req->params == NULL) {
        snprintf(err, size, "body: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    return SL_OK;
}

static sl_status_t sl_io_plain_to_request(json_t *obj, sl_io_request_t *req, char *err,
                                          size_t size)
{
    static const char *const excluded[] = {"id",       "custom_id", "model", "prompt",
                                           "messages", "input_ids", NULL};
    const json_t *prompt = json_object_get(obj, "prompt");
    json_t *msgs = json_object_get(obj, "messages");
    const json_t *ids = json_object_get(obj, "input_ids");
    int given = (prompt != NULL) + (msgs != NULL) + (ids != NULL);
    sl_status_t st;

    if (given == 0) {
        snprintf(err, size, "no prompt: expected one of \"prompt\", \"messages\", \"input_ids\" "
                 "(or an OpenAI batch line with \"body\")");
        return SL_ERR_FORMAT;
    }
    if (given > 1) {
        snprintf(err, size, "more than one prompt: give only one of \"prompt\", \"messages\", "
                 "\"input_ids\"");
        return SL_ERR_FORMAT;
    }
    st = sl_io_take_model(json_object_get(obj, "model"), "", req, err, size);
    if (st != SL_OK)
        return st;
    if (msgs != NULL) {
        req->endpoint = SL_IO_ENDPOINT_CHAT_COMPLETIONS;
        st = sl_io_check_messages(msgs, "", err, size);
        if (st != SL_OK)
            return st;
        req->messages = json_incref(msgs);
        req->kind = SL_IO_PROMPT_MESSAGES;
    } else if (prompt != NULL) {
        req->endpoint = SL_IO_ENDPOINT_COMPLETIONS;
        st = sl_io_take_prompt(prompt, "", req, err, size);
        if (st != SL_OK)
            return st;
    } else {
        req->endpoint = SL_IO_ENDPOINT_COMPLETIONS;
        if (!json_is_array(ids))
            return sl_io_fail(err, size, "", "input_ids", "an array of token ids", ids);
        st = sl_io_take_ids(ids, "", "input_ids", req, err, size);
        if (st != SL_OK)
            return st;
    }
    req->params = sl_io_params_from(obj, excluded);
    if (req->params == NULL) {
        snprintf(err, size, "out of memory");
        return SL_ERR_NO_MEMORY;
    }
    return SL_OK;
}

sl_status_t sl_io_line_to_request(json_t *obj, sl_io_request_t *req, char *err, size_t size)
{
    int batch;
    sl_status_t st;
    char serr[256];

    if (!json_is_object(obj)) {
        snprintf(err, size, "expected a JSON object, got %s", sl_io_json_type_name(obj));
        return SL_ERR_FORMAT;
    }
    batch = sl_io_is_batch(obj);
    st = sl_io_check_id(obj, batch, err, size);
    if (st != SL_OK)
        return st;
    st = batch ? sl_io_batch_to_request(obj, req, err, size)
               : sl_io_plain_to_request(obj, req, err, size);
    if (st != SL_OK)
        return st;
    if (sl_io_sampling_validate(req->params, req->endpoint, serr, sizeof(serr)) != SL_OK) {
        snprintf(err, size, "%s%s", batch ? "body." : "", serr);
        return SL_ERR_FORMAT;
    }
    return SL_OK;
}

sl_status_t sl_io_make_error(int64_t index, int64_t line, int hdf5_row, int32_t group,
                             const char *id, sl_io_error_code_t code, const char *text,
                             sl_io_record_t **record_p)
{
    sl_io_request_t where;

    /* sl_io_error_for_request reads only these fields */
    memset(&where, 0, sizeof(where));
    where.index = index;
    where.line = line;
    where.hdf5_row = hdf5_row;
    where.dp_group = group;
    where.id = (char *)id;
    return sl_io_error_for_request(&where, code, record_p, "%s", text);
}
