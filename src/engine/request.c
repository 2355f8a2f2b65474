/* request.c - requests, their sequences and sampling parameters; see request.h. */
#include "config.h"

#include "engine/request.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

const char *sl_finish_reason_name(sl_finish_reason_t reason)
{
    switch (reason) {
    case SL_FINISH_STOP: return "stop";
    case SL_FINISH_LENGTH: return "length";
    case SL_FINISH_ABORT: return "abort";
    case SL_FINISH_ERROR: return "error";
    case SL_FINISH_NONE: break;
    }
    return NULL;
}

double sl_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- sampling parameters ---------------------------------------------------- */

void sl_sampling_params_init(sl_sampling_params_t *p)
{
    memset(p, 0, sizeof(*p));
    p->n = 1;
    p->max_tokens = 128;
    p->temperature = 1.0f;
    p->top_p = 1.0f;
    p->repetition_penalty = 1.0f;
    p->skip_special_tokens = true;
    p->logprobs = -1;
}

/* Logs "sampling parameter NAME = VALUE: must be RANGE". */
static sl_status_t sl_param_error(const char *name, double value, const char *range)
{
    sl_error("sampling parameter %s = %g: must be %s", name, value, range);
    return SL_ERR_INVALID_ARG;
}

sl_status_t sl_sampling_params_validate(const sl_sampling_params_t *p, int32_t vocab)
{
    if (p->n < 1 || p->n > 1024)
        return sl_param_error("n", p->n, "1 to 1024");
    if (p->max_tokens < 1)
        return sl_param_error("max_tokens", p->max_tokens, "at least 1");
    if (p->min_tokens < 0 || p->min_tokens > p->max_tokens)
        return sl_param_error("min_tokens", p->min_tokens, "0 to max_tokens");
    if (!(p->temperature >= 0.0f) || isinf(p->temperature))
        return sl_param_error("temperature", p->temperature, "finite and >= 0");
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f))
        return sl_param_error("top_p", p->top_p, "in (0, 1]");
    if (p->top_k < -1)
        return sl_param_error("top_k", p->top_k, "-1 or 0 (off), or >= 1");
    if (!(p->min_p >= 0.0f && p->min_p <= 1.0f))
        return sl_param_error("min_p", p->min_p, "in [0, 1]");
    if (!(p->repetition_penalty > 0.0f) || isinf(p->repetition_penalty))
        return sl_param_error("repetition_penalty", p->repetition_penalty, "finite and > 0");
    if (!(p->presence_penalty >= -2.0f && p->presence_penalty <= 2.0f))
        return sl_param_error("presence_penalty", p->presence_penalty, "in [-2, 2]");
    if (!(p->frequency_penalty >= -2.0f && p->frequency_penalty <= 2.0f))
        return sl_param_error("frequency_penalty", p->frequency_penalty, "in [-2, 2]");
    if (p->logprobs < -1 || p->logprobs > SL_MAX_LOGPROBS)
        return sl_param_error("logprobs", p->logprobs, "-1 (none) or 0 to 20");
    for (int32_t i = 0; i < p->num_stop; i++) {
        if (p->stop[i] == NULL || p->stop[i][0] == '\0') {
            sl_error("sampling parameter stop[%d]: a stop string must not be empty", i);
            return SL_ERR_INVALID_ARG;
        }
    }
    for (int32_t i = 0; i < p->num_stop_token_ids; i++)
        if (p->stop_token_ids[i] < 0 || p->stop_token_ids[i] >= vocab)
            return sl_param_error("stop_token_ids", p->stop_token_ids[i],
                                  "a token id of the model's vocabulary");
    return SL_OK;
}

void sl_sampling_params_release(sl_sampling_params_t *p)
{
    for (int32_t i = 0; i < p->num_stop; i++)
        free(p->stop[i]);
    free(p->stop);
    free(p->stop_token_ids);
    p->stop = NULL;
    p->stop_token_ids = NULL;
    p->num_stop = p->num_stop_token_ids = 0;
}

sl_status_t sl_sampling_params_add_stop(sl_sampling_params_t *p, const char *text)
{
    char **stop = realloc(p->stop, (size_t)(p->num_stop + 1) * sizeof(*stop));
    char *copy = strdup(text);

    if (stop != NULL)
        p->stop = stop;
    if (stop == NULL || copy == NULL) {
        free(copy);
        sl_error("out of memory for a stop string");
        return SL_ERR_NO_MEMORY;
    }
    p->stop[p->num_stop++] = copy;
    return SL_OK;
}

sl_status_t sl_sampling_params_add_stop_id(sl_sampling_params_t *p, int32_t id)
{
    int32_t *ids = realloc(p->stop_token_ids, (size_t)(p->num_stop_token_ids + 1) * sizeof(*ids));

    if (ids == NULL) {
        sl_error("out of memory for a stop token id");
        return SL_ERR_NO_MEMORY;
    }
    p->stop_token_ids = ids;
    p->stop_token_ids[p->num_stop_token_ids++] = id;
    return SL_OK;
}

sl_status_t sl_sampling_params_copy(sl_sampling_params_t *dst, const sl_sampling_params_t *src)
{
    sl_sampling_params_t p = *src;
    sl_status_t s = SL_OK;

    p.stop = NULL;
    p.stop_token_ids = NULL;
    p.num_stop = p.num_stop_token_ids = 0;
    for (int32_t i = 0; s == SL_OK && i < src->num_stop; i++)
        s = sl_sampling_params_add_stop(&p, src->stop[i]);
    for (int32_t i = 0; s == SL_OK && i < src->num_stop_token_ids; i++)
        s = sl_sampling_params_add_stop_id(&p, src->stop_token_ids[i]);
    if (s != SL_OK) {
        sl_sampling_params_release(&p);
        return s;
    }
    *dst = p;
    return SL_OK;
}

/* ---- requests ------------------------------------------------------------------ */

sl_status_t sl_request_create(uint64_t id, const int32_t *prompt, int32_t prompt_len,
                              const sl_sampling_params_t *params, const sl_tok_t *tok,
                              bool record_token_times, sl_request_t **req_p)
{
    sl_request_t *r = calloc(1, sizeof(*r));
    sl_status_t s = SL_ERR_NO_MEMORY;

    if (r == NULL)
        goto err_nomem;
    r->id = id;
    r->prompt_len = prompt_len;
    r->prompt = malloc((size_t)(prompt_len > 0 ? prompt_len : 1) * sizeof(*r->prompt));
    r->seqs = calloc((size_t)params->n, sizeof(*r->seqs));
    if (r->prompt == NULL || r->seqs == NULL)
        goto err_nomem;
    memcpy(r->prompt, prompt, (size_t)prompt_len * sizeof(*prompt));
    if ((s = sl_sampling_params_copy(&r->params, params)) != SL_OK)
        goto err;
    r->max_new = params->max_tokens;
    for (int32_t i = 0; i < params->n; i++) {
        sl_sequence_t *q = &r->seqs[i];
        q->req = r;
        q->index = i;
        q->state = i == 0 ? SL_SEQ_WAITING : SL_SEQ_UNBORN;
        q->record_times = record_token_times;
        if (tok != NULL &&
            (s = sl_tok_stream_new(tok, params->skip_special_tokens, &q->stream)) != SL_OK)
            goto err;
    }
    *req_p = r;
    return SL_OK;
err_nomem:
    sl_error("out of memory for request %llu (prompt of %d tokens, n %d, max_tokens %d)",
             (unsigned long long)id, prompt_len, params->n, params->max_tokens);
    s = SL_ERR_NO_MEMORY;
err:
    sl_request_free(r);
    return s;
}

void sl_request_free(sl_request_t *r)
{
    if (r == NULL)
        return;
    for (int32_t i = 0; r->seqs != NULL && i < r->params.n; i++) {
        sl_sequence_t *q = &r->seqs[i];
        free(q->out);
        free(q->blocks);
        free(q->hashes);
        free(q->logprobs);
        free(q->num_top);
        free(q->top_ids);
        free(q->top_logprobs);
        free(q->token_times);
        sl_tok_stream_free(q->stream);
        sl_stop_free(&q->stop);
    }
    sl_sampling_params_release(&r->params);
    free(r->seqs);
    free(r->prompt);
    free(r->error);
    free(r);
}

/* Makes room for NEED output tokens in every per-token array of Q: they grow
 * by doubling up to max_tokens, so a queue of long-limit requests costs
 * memory only for what they have generated. */
static sl_status_t sl_seq_grow_out(sl_sequence_t *q, int32_t need)
{
    const sl_sampling_params_t *p = &q->req->params;

    if (need <= q->cap_out)
        return SL_OK;
    if (need > p->max_tokens) { /* the engine stops at max_tokens: a bug */
        sl_error("internal: sequence %d of request %llu is past max_tokens %d", q->index,
                 (unsigned long long)q->req->id, p->max_tokens);
        return SL_ERR_INTERNAL;
    }
    int64_t cap64 = q->cap_out ? 2 * (int64_t)q->cap_out : 16;
    int32_t cap = cap64 < p->max_tokens ? (int32_t)cap64 : p->max_tokens;
    size_t n = (size_t)cap, top = (size_t)(p->logprobs > 0 ? p->logprobs : 1) * n;
    bool ok = true;
#define SL_REGROW(ptr, count)                                                     \
    do {                                                                          \
        void *np = realloc((ptr), (count) * sizeof(*(ptr)));                      \
        if (np != NULL)                                                           \
            (ptr) = np;                                                           \
        ok = ok && np != NULL;                                                    \
    } while (0)
    SL_REGROW(q->out, n);
    if (p->logprobs >= 0) {
        SL_REGROW(q->logprobs, n);
        SL_REGROW(q->num_top, n);
        SL_REGROW(q->top_ids, top);
        SL_REGROW(q->top_logprobs, top);
    }
    if (q->record_times)
        SL_REGROW(q->token_times, n);
#undef SL_REGROW
    if (!ok) {
        sl_error("out of memory for %d tokens of request %llu", cap,
                 (unsigned long long)q->req->id);
        return SL_ERR_NO_MEMORY;
    }
    q->cap_out = cap;
    return SL_OK;
}

sl_status_t sl_seq_append(sl_sequence_t *q, const sl_sample_result_t *res, bool is_stop_token,
                          bool check_stop, double now, bool *stopped_p)
{
    const sl_sampling_params_t *p = &q->req->params;
    int32_t k = q->num_out;

    sl_status_t s;

    *stopped_p = false;
    if ((s = sl_seq_grow_out(q, k + 1)) != SL_OK)
        return s;
    q->out[k] = res->token;
    if (q->logprobs != NULL) {
        q->logprobs[k] = res->logprob;
        q->num_top[k] = res->num_top;
        memcpy(q->top_ids + (size_t)k * (size_t)p->logprobs, res->top_ids,
               (size_t)res->num_top * sizeof(int32_t));
        memcpy(q->top_logprobs + (size_t)k * (size_t)p->logprobs, res->top_logprobs,
               (size_t)res->num_top * sizeof(float));
    }
    if (q->token_times != NULL)
        q->token_times[k] = now;
    if (k > 0) {
        double itl = now - q->last_token_time;
        q->itl_sum += itl;
        q->itl_max = itl > q->itl_max ? itl : q->itl_max;
        q->itl_count++;
    }
    q->last_token_time = now;
    q->num_out = k + 1;
    if (is_stop_token || q->stream == NULL)
        return SL_OK;

    const char *text;
    size_t len;
    if ((s = sl_tok_stream_push(q->stream, res->token, &text, &len)) != SL_OK)
        return s;
    return sl_stop_push(&q->stop, text, len, p->stop, p->num_stop, check_stop, stopped_p);
}

sl_status_t sl_seq_finish_text(sl_sequence_t *q)
{
    const char *text;
    size_t len;
    sl_status_t s;

    if (q->stream != NULL && !q->stop.cut) {
        if ((s = sl_tok_stream_finish(q->stream, &text, &len)) != SL_OK)
            return s;
        /* The tail completes the text; it is matched too (a stop string may
         * end in bytes the detokenizer held back). */
        const sl_sampling_params_t *p = &q->req->params;
        bool check = q->num_out >= p->min_tokens;
        if ((s = sl_stop_push(&q->stop, text, len, p->stop, p->num_stop, check, NULL)) != SL_OK)
            return s;
    }
    sl_stop_release(&q->stop);
    return SL_OK;
}

void sl_request_latency(const sl_request_t *r, sl_request_latency_t *lat)
{
    const sl_timing_t *t = &r->timing;
    double sum = 0, max = 0;
    int64_t count = 0;

    memset(lat, 0, sizeof(*lat));
    if (t->first_scheduled > 0)
        lat->queue = t->first_scheduled - t->arrival;
    if (t->first_token > 0)
        lat->ttft = t->first_token - t->arrival;
    if (t->finish > 0)
        lat->e2e = t->finish - t->arrival;
    for (int32_t i = 0; i < r->params.n; i++) {
        sum += r->seqs[i].itl_sum;
        count += r->seqs[i].itl_count;
        max = r->seqs[i].itl_max > max ? r->seqs[i].itl_max : max;
    }
    lat->itl_mean = count > 0 ? sum / (double)count : 0;
    lat->itl_max = max;
}
