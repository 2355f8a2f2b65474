/* respond.c - OpenAI response objects, SSE events, logprobs; see respond.h. */
#include "config.h"

#include "server/respond.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/sampler.h"
#include "io/jsonl_writer.h"
#include "core/utf8.h"
#include "io/record.h"

/* ---- buffers -------------------------------------------------------------------- */

sl_status_t sl_server_buf_add(sl_server_buf_t *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return SL_ERR_NO_MEMORY;
        b->data = p;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return SL_OK;
}

sl_status_t sl_server_buf_addf(sl_server_buf_t *b, const char *format, ...)
{
    char small[256], *text = small;
    va_list ap;
    int n;

    va_start(ap, format);
    n = vsnprintf(small, sizeof(small), format, ap);
    va_end(ap);
    if (n < 0)
        return SL_ERR_INTERNAL;
    if ((size_t)n >= sizeof(small)) {
        if ((text = malloc((size_t)n + 1)) == NULL)
            return SL_ERR_NO_MEMORY;
        va_start(ap, format);
        vsnprintf(text, (size_t)n + 1, format, ap);
        va_end(ap);
    }
    sl_status_t s = sl_server_buf_add(b, text, (size_t)n);
    if (text != small)
        free(text);
    return s;
}

void sl_server_buf_free(sl_server_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- JSON pieces ------------------------------------------------------------------ */

/* TEXT as a JSON string; bytes that are not UTF-8 become U+FFFD (a random
 * model can emit byte tokens that never form a character). */
static json_t *sl_server_json_text(const char *text, size_t len)
{
    size_t bad;
    sl_server_buf_t b = {0};
    json_t *j;

    if (text == NULL)
        return json_string("");
    if (sl_utf8_valid(text, len, &bad))
        return json_stringn(text, len);
    while (len > 0) {
        if (sl_utf8_valid(text, len, &bad))
            bad = len;
        if (sl_server_buf_add(&b, text, bad) != SL_OK ||
            (bad < len && sl_server_buf_add(&b, "\xef\xbf\xbd", 3) != SL_OK)) {
            sl_server_buf_free(&b);
            return NULL;
        }
        bad += bad < len;
        text += bad;
        len -= bad;
    }
    j = json_stringn(b.data != NULL ? b.data : "", b.len);
    sl_server_buf_free(&b);
    return j;
}

/* JSON has no infinity; vLLM writes -9999 for a logprob of -inf. */
static json_t *sl_server_json_logprob(float v)
{
    return json_real(isfinite(v) ? (double)v : -9999.0);
}

char *sl_server_error_body(const sl_server_error_t *e)
{
    json_t *o = json_pack("{s:{s:s, s:s, s:s?, s:s?}}", "error", "message", e->message, "type",
                          e->type != NULL ? e->type : "invalid_request_error", "param",
                          e->param[0] ? e->param : NULL, "code", e->code);
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    if (text == NULL) /* the message was not UTF-8: it came from the request */
        text = strdup("{\"error\":{\"message\":\"invalid request\","
                      "\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}");
    return text;
}

/* The text of token ID alone, and its bytes. */
static json_t *sl_server_token_json(const sl_server_reply_t *r, int32_t id, json_t **bytes_p)
{
    char *text = NULL, buf[64];
    size_t len = 0;
    json_t *j;

    if (r->model->tok == NULL ||
        sl_tok_decode(r->model->tok, &id, 1, false, &text, &len) != SL_OK) {
        snprintf(buf, sizeof(buf), "token_id:%d", id);
        if (bytes_p != NULL)
            *bytes_p = json_array();
        free(text);
        return json_string(buf);
    }
    if (bytes_p != NULL) {
        *bytes_p = json_array();
        for (size_t i = 0; *bytes_p != NULL && i < len; i++)
            json_array_append_new(*bytes_p, json_integer((unsigned char)text[i]));
    }
    if (sl_utf8_valid(text, len, NULL)) {
        j = json_stringn(text, len);
    } else {
        sl_server_buf_t b = {0};
        sl_server_buf_add(&b, "bytes:", 6);
        for (size_t i = 0; i < len; i++)
            sl_server_buf_addf(&b, "\\x%02x", (unsigned char)text[i]);
        j = json_string(b.data != NULL ? b.data : "bytes:");
        sl_server_buf_free(&b);
    }
    free(text);
    return j;
}

/* The logprobs object of tokens [from, to) of S, or NULL. */
static json_t *sl_server_logprobs_json(sl_server_reply_t *r, int32_t choice,
                                       const sl_server_seq_out_t *s, int32_t from, int32_t to)
{
    size_t t = r->top_n > 0 ? (size_t)r->top_n : 0;
    bool chat = r->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS;
    json_t *content = json_array(), *tokens = json_array(), *lps = json_array(),
           *tops = json_array(), *offsets = json_array(), *o = NULL;

    if (content == NULL || tokens == NULL || lps == NULL || tops == NULL || offsets == NULL)
        goto out;
    for (int32_t k = from; k < to; k++) {
        json_t *bytes = NULL, *tok = sl_server_token_json(r, s->ids[k], chat ? &bytes : NULL);
        json_t *top = chat ? json_array() : json_object();
        for (size_t j = 0; top != NULL && j < (size_t)s->num_top[k] && j < t; j++) {
            int32_t id = s->top_ids[(size_t)k * t + j];
            float lp = s->top_logprobs[(size_t)k * t + j];
            if (chat) {
                json_t *tb = NULL, *tt = sl_server_token_json(r, id, &tb);
                json_array_append_new(top, json_pack("{s:o?, s:o?, s:o?}", "token", tt,
                                                     "logprob", sl_server_json_logprob(lp),
                                                     "bytes", tb));
            } else {
                json_t *tt = sl_server_token_json(r, id, NULL);
                if (json_is_string(tt))
                    json_object_set_new(top, json_string_value(tt), sl_server_json_logprob(lp));
                json_decref(tt);
            }
        }
        if (chat) {
            json_array_append_new(content, json_pack("{s:o?, s:o?, s:o?, s:o?}", "token", tok,
                                                     "logprob",
                                                     sl_server_json_logprob(s->logprobs[k]),
                                                     "bytes", bytes, "top_logprobs", top));
        } else {
            size_t len = json_string_length(tok);
            json_array_append_new(tokens, tok);
            json_array_append_new(lps, sl_server_json_logprob(s->logprobs[k]));
            json_array_append_new(tops, top);
            json_array_append_new(offsets, json_integer((json_int_t)r->text_offset[choice]));
            r->text_offset[choice] += len;
        }
    }
    if (chat)
        o = json_pack("{s:O, s:n}", "content", content, "refusal");
    else
        o = json_pack("{s:O, s:O, s:O, s:O}", "tokens", tokens, "token_logprobs", lps,
                      "top_logprobs", tops, "text_offset", offsets);
out:
    json_decref(content);
    json_decref(tokens);
    json_decref(lps);
    json_decref(tops);
    json_decref(offsets);
    return o;
}

static const char *sl_server_finish_name(sl_finish_reason_t f)
{
    switch (f) {
    case SL_FINISH_STOP: return "stop";
    case SL_FINISH_LENGTH: return "length";
    case SL_FINISH_ABORT: return "abort";
    case SL_FINISH_ERROR: return "error";
    default: return NULL;
    }
}

/* ---- replies ------------------------------------------------------------------------ */

sl_status_t sl_server_reply_init(sl_server_reply_t *r, const sl_server_model_t *model,
                                 sl_io_endpoint_t endpoint, uint64_t id, int32_t n,
                                 int32_t top_n, bool include_usage, const char *echo)
{
    memset(r, 0, sizeof(*r));
    r->model = model;
    r->endpoint = endpoint;
    r->id = id;
    r->created = time(NULL);
    r->n = n;
    r->top_n = top_n;
    r->include_usage = include_usage;
    r->echo = echo;
    r->text_offset = calloc((size_t)n, sizeof(*r->text_offset));
    if (r->text_offset == NULL)
        return SL_ERR_NO_MEMORY;
    /* Unique across restarts too: the start time joins the counter. */
    snprintf(r->tag, sizeof(r->tag), "%s%016" PRIx64,
             endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS ? "chatcmpl-" : "cmpl-",
             sl_rng_mix(id ^ sl_rng_mix((uint64_t)r->created)));
    if (echo != NULL)
        for (int32_t i = 0; i < n; i++)
            r->text_offset[i] = strlen(echo);
    return SL_OK;
}

void sl_server_reply_free(sl_server_reply_t *r)
{
    free(r->text_offset);
    r->text_offset = NULL;
}

sl_status_t sl_server_reply_body(sl_server_reply_t *r, const sl_server_out_t *out,
                                 char **body_p)
{
    sl_io_choice_t *ch = calloc((size_t)out->n, sizeof(*ch));
    char idtext[32], *text = NULL;
    json_t *body = NULL, *choices;
    sl_status_t s = SL_ERR_NO_MEMORY;

    if (ch == NULL)
        return s;
    for (int32_t i = 0; i < out->n; i++) {
        const sl_server_seq_out_t *q = &out->seqs[i];
        ch[i] = (sl_io_choice_t){
            .finish_reason = q->finish == SL_FINISH_STOP     ? SL_IO_FINISH_STOP
                             : q->finish == SL_FINISH_LENGTH ? SL_IO_FINISH_LENGTH
                             : q->finish == SL_FINISH_ABORT  ? SL_IO_FINISH_ABORT
                                                             : SL_IO_FINISH_NONE,
            .completion_tokens = q->num_tokens, .output_ids = q->ids,
            .n_output_ids = (size_t)q->num_tokens, .text = q->text, .text_len = q->text_len,
            .finish_time = (double)r->created,
        };
    }
    snprintf(idtext, sizeof(idtext), "%" PRIu64, r->id);
    sl_io_result_t res = {
        .index = (int64_t)r->id, .id = idtext, .endpoint = r->endpoint,
        .prompt_tokens = out->prompt_tokens, .cached_tokens = out->cached_tokens,
        .n_choices = (size_t)out->n, .choices = ch,
    };
    if ((body = sl_io_jsonl_completion_body(&res, r->model->name)) == NULL)
        goto out;
    json_object_set_new(body, "id", json_string(r->tag));
    choices = json_object_get(body, "choices");
    for (int32_t i = 0; i < out->n; i++) {
        json_t *c = json_array_get(choices, (size_t)i);
        const sl_server_seq_out_t *q = &out->seqs[i];
        /* jsonl_writer drops text that is not UTF-8; keep what decodes. */
        json_t *t = sl_server_json_text(q->text, q->text_len);
        if (r->echo != NULL && t != NULL) {
            sl_server_buf_t b = {0};
            sl_server_buf_add(&b, r->echo, strlen(r->echo));
            sl_server_buf_add(&b, json_string_value(t), json_string_length(t));
            json_decref(t);
            t = sl_server_json_text(b.data, b.len);
            sl_server_buf_free(&b);
        }
        if (r->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS)
            json_object_set_new(json_object_get(c, "message"), "content", t);
        else
            json_object_set_new(c, "text", t);
        if (r->top_n >= 0)
            json_object_set_new(c, "logprobs", sl_server_logprobs_json(r, i, q, 0,
                                                                       q->num_tokens));
    }
    text = json_dumps(body, JSON_COMPACT);
    if (text != NULL) {
        *body_p = text;
        s = SL_OK;
    }
out:
    json_decref(body);
    free(ch);
    return s;
}

/* Appends "data: O\n\n" and drops O. */
static sl_status_t sl_server_event(sl_server_buf_t *buf, json_t *o)
{
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    sl_status_t s = SL_ERR_NO_MEMORY;

    json_decref(o);
    if (text != NULL && sl_server_buf_add(buf, "data: ", 6) == SL_OK &&
        sl_server_buf_add(buf, text, strlen(text)) == SL_OK &&
        sl_server_buf_add(buf, "\n\n", 2) == SL_OK)
        s = SL_OK;
    free(text);
    return s;
}

/* One chunk object around CHOICES (an array, taken). */
static json_t *sl_server_chunk(const sl_server_reply_t *r, json_t *choices)
{
    bool chat = r->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS;
    return json_pack("{s:s, s:s, s:I, s:s, s:o}", "id", r->tag, "object",
                     chat ? "chat.completion.chunk" : "text_completion", "created",
                     (json_int_t)r->created, "model", r->model->name, "choices", choices);
}

/* The first events: the role of each chat choice, the echoed prompt. */
static sl_status_t sl_server_reply_start(sl_server_reply_t *r, sl_server_buf_t *buf)
{
    sl_status_t s = SL_OK;

    r->started = true;
    for (int32_t i = 0; s == SL_OK && i < r->n; i++) {
        json_t *c;
        if (r->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS)
            c = json_pack("{s:i, s:{s:s, s:s}, s:n, s:n}", "index", i, "delta", "role",
                          "assistant", "content", "", "logprobs", "finish_reason");
        else if (r->echo != NULL)
            c = json_pack("{s:i, s:o, s:n, s:n}", "index", i, "text",
                          sl_server_json_text(r->echo, strlen(r->echo)), "logprobs",
                          "finish_reason");
        else
            continue;
        s = sl_server_event(buf, sl_server_chunk(r, json_pack("[o]", c)));
    }
    return s;
}

sl_status_t sl_server_reply_events(sl_server_reply_t *r, const sl_server_out_t *d,
                                   sl_server_buf_t *buf)
{
    bool chat = r->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS;
    sl_status_t s;

    if (!r->started && (s = sl_server_reply_start(r, buf)) != SL_OK)
        return s;
    for (int32_t i = 0; i < d->n; i++) {
        const sl_server_seq_out_t *q = &d->seqs[i];
        const char *finish = sl_server_finish_name(q->finish);
        json_t *lp = NULL, *c, *text;
        /* A token whose text is still held back (half a character, maybe a
         * stop string) has nothing to show unless logprobs list it. */
        if (q->text_len == 0 && finish == NULL && (q->num_tokens == 0 || r->top_n < 0)) {
            r->completion_tokens += q->num_tokens;
            continue;
        }
        r->completion_tokens += q->num_tokens;
        if (r->top_n >= 0 && q->num_tokens > 0)
            lp = sl_server_logprobs_json(r, i, q, 0, q->num_tokens);
        text = sl_server_json_text(q->text, q->text_len);
        if (chat) {
            /* The closing chunk of a choice has an empty delta, as OpenAI's. */
            json_t *delta = json_object();
            if (q->text_len > 0 || finish == NULL)
                json_object_set(delta, "content", text);
            json_decref(text);
            c = json_pack("{s:i, s:o, s:o?, s:s?}", "index", i, "delta", delta, "logprobs", lp,
                          "finish_reason", finish);
        } else {
            c = json_pack("{s:i, s:o, s:o?, s:s?}", "index", i, "text", text, "logprobs", lp,
                          "finish_reason", finish);
        }
        if ((s = sl_server_event(buf, sl_server_chunk(r, json_pack("[o]", c)))) != SL_OK)
            return s;
    }
    if (!d->done)
        return SL_OK;
    if (d->status != 0) {
        sl_server_error_t e;
        sl_server_error_set(&e, d->status, NULL, NULL, "%s",
                            d->error != NULL ? d->error : "the request failed");
        char *body = sl_server_error_body(&e);
        json_t *o = body != NULL ? json_loads(body, 0, NULL) : NULL;
        free(body);
        if ((s = sl_server_event(buf, o)) != SL_OK)
            return s;
    } else if (r->include_usage) {
        json_t *o = sl_server_chunk(r, json_array());
        json_object_set_new(o, "usage", json_pack("{s:i, s:I, s:I, s:{s:i}}", "prompt_tokens",
                                                  d->prompt_tokens, "completion_tokens",
                                                  (json_int_t)r->completion_tokens,
                                                  "total_tokens",
                                                  (json_int_t)(d->prompt_tokens +
                                                               r->completion_tokens),
                                                  "prompt_tokens_details", "cached_tokens",
                                                  d->cached_tokens));
        if ((s = sl_server_event(buf, o)) != SL_OK)
            return s;
    }
    return sl_server_buf_add(buf, "data: [DONE]\n\n", 14);
}
