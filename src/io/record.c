/* record.c - names, freeing and engine-made error records; see record.h. */
#include "config.h"

#include "io/record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/utf8.h"

const char *sl_io_endpoint_name(sl_io_endpoint_t endpoint)
{
    switch (endpoint) {
    case SL_IO_ENDPOINT_COMPLETIONS: return "completions";
    case SL_IO_ENDPOINT_CHAT_COMPLETIONS: return "chat_completions";
    }
    return "?";
}

const char *sl_io_prompt_kind_name(sl_io_prompt_kind_t kind)
{
    switch (kind) {
    case SL_IO_PROMPT_TEXT: return "text";
    case SL_IO_PROMPT_MESSAGES: return "messages";
    case SL_IO_PROMPT_TOKENS: return "tokens";
    }
    return "?";
}

const char *sl_io_status_name(sl_io_status_t status)
{
    switch (status) {
    case SL_IO_STATUS_OK: return "ok";
    case SL_IO_STATUS_ERROR: return "error";
    case SL_IO_STATUS_CANCELLED: return "cancelled";
    }
    return "?";
}

const char *sl_io_finish_name(sl_io_finish_t finish)
{
    switch (finish) {
    case SL_IO_FINISH_NONE: return "none";
    case SL_IO_FINISH_STOP: return "stop";
    case SL_IO_FINISH_LENGTH: return "length";
    case SL_IO_FINISH_ABORT: return "abort";
    }
    return "?";
}

const char *sl_io_error_code_name(sl_io_error_code_t code)
{
    switch (code) {
    case SL_IO_ERR_INVALID_JSON: return "invalid_json";
    case SL_IO_ERR_INVALID_REQUEST: return "invalid_request";
    case SL_IO_ERR_DUPLICATE_ID: return "duplicate_id";
    case SL_IO_ERR_LINE_TOO_LONG: return "line_too_long";
    case SL_IO_ERR_PROMPT_TOO_LONG: return "prompt_too_long";
    case SL_IO_ERR_ENGINE: return "engine_error";
    }
    return "?";
}

const char *sl_io_json_type_name(const json_t *v)
{
    if (v == NULL)
        return "nothing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

void sl_io_record_free(sl_io_record_t *record)
{
    if (record == NULL)
        return;
    if (record->type == SL_IO_RECORD_REQUEST) {
        sl_io_request_t *r = &record->u.request;
        free(r->id);
        free(r->text);
        json_decref(r->messages);
        free(r->input_ids);
        json_decref(r->params);
        free(r->model);
    } else {
        free(record->u.error.id);
        free(record->u.error.message);
    }
    free(record);
}

sl_status_t sl_io_error_for_request(const sl_io_request_t *request, sl_io_error_code_t code,
                                    sl_io_record_t **record_p, const char *format, ...)
{
    char text[1024];
    char *message = NULL;
    sl_io_record_t *rec;
    va_list ap;
    int n;

    va_start(ap, format);
    vsnprintf(text, sizeof(text), format, ap);
    va_end(ap);
    rec = calloc(1, sizeof(*rec));
    if (rec == NULL)
        goto err_memory;
    n = snprintf(NULL, 0, "%s %lld: %s", request->hdf5_row ? "row" : "line",
                 (long long)request->line, text);
    message = malloc((size_t)n + 1);
    if (message == NULL)
        goto err_memory;
    snprintf(message, (size_t)n + 1, "%s %lld: %s", request->hdf5_row ? "row" : "line",
             (long long)request->line, text);
    rec->type = SL_IO_RECORD_ERROR;
    rec->u.error.index = request->index;
    rec->u.error.line = request->line;
    rec->u.error.dp_group = request->dp_group;
    rec->u.error.code = code;
    rec->u.error.message = message;
    rec->u.error.id = strdup(request->id);
    if (rec->u.error.id == NULL)
        goto err_memory;
    *record_p = rec;
    return SL_OK;
err_memory:
    sl_error("out of memory making the error record of request %s", request->id);
    if (rec != NULL) {
        rec->type = SL_IO_RECORD_ERROR;
        sl_io_record_free(rec); /* frees message too */
    } else {
        free(message);
    }
    return SL_ERR_NO_MEMORY;
}

int sl_io_utf8_valid(const char *buf, size_t len, size_t *bad_p)
{
    return sl_utf8_valid(buf, len, bad_p);
}
