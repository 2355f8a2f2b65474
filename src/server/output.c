/* output.c - a request's output and deltas of it; see output.h. */
#include "config.h"

#include "server/output.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

sl_status_t sl_server_out_init(sl_server_out_t *out, int32_t n, int32_t top_n)
{
    memset(out, 0, sizeof(*out));
    if (n < 1 || top_n < -1 || top_n > SL_MAX_LOGPROBS) {
        sl_error("internal: an output of %d choices with %d alternatives", n, top_n);
        return SL_ERR_INTERNAL;
    }
    out->seqs = calloc((size_t)n, sizeof(*out->seqs));
    if (out->seqs == NULL) {
        sl_error("out of memory for the output of %d choices", n);
        return SL_ERR_NO_MEMORY;
    }
    out->n = n;
    out->top_n = top_n;
    return SL_OK;
}

void sl_server_out_free(sl_server_out_t *out)
{
    for (int32_t i = 0; out->seqs != NULL && i < out->n; i++) {
        sl_server_seq_out_t *s = &out->seqs[i];
        free(s->ids);
        free(s->logprobs);
        free(s->num_top);
        free(s->top_ids);
        free(s->top_logprobs);
        free(s->text);
    }
    free(out->seqs);
    free(out->error);
    memset(out, 0, sizeof(*out));
}

void sl_server_out_reset(sl_server_out_t *out)
{
    for (int32_t i = 0; i < out->n; i++) {
        out->seqs[i].num_tokens = 0;
        out->seqs[i].text_len = 0;
        out->seqs[i].finish = SL_FINISH_NONE;
    }
    free(out->error);
    out->error = NULL;
    out->done = false;
    out->status = 0;
    out->prompt_tokens = out->cached_tokens = 0;
}

/* Room for NEED tokens in S (every per-token array at once). */
static sl_status_t sl_server_seq_reserve(sl_server_seq_out_t *s, int32_t top_n, int64_t need)
{
    int64_t cap = s->cap_tokens ? s->cap_tokens : 16;
    size_t t = top_n > 0 ? (size_t)top_n : 0;

    if (need <= s->cap_tokens)
        return SL_OK;
    if (need > INT32_MAX / 2) {
        sl_error("internal: %lld tokens in one choice", (long long)need);
        return SL_ERR_OVERFLOW;
    }
    while (cap < need)
        cap *= 2;
    int32_t *ids = realloc(s->ids, (size_t)cap * sizeof(*ids));
    if (ids != NULL)
        s->ids = ids;
    if (ids == NULL)
        goto err;
    if (top_n >= 0) {
        float *lp = realloc(s->logprobs, (size_t)cap * sizeof(*lp));
        if (lp != NULL)
            s->logprobs = lp;
        int32_t *nt = realloc(s->num_top, (size_t)cap * sizeof(*nt));
        if (nt != NULL)
            s->num_top = nt;
        if (lp == NULL || nt == NULL)
            goto err;
        if (t > 0) {
            int32_t *ti = realloc(s->top_ids, (size_t)cap * t * sizeof(*ti));
            if (ti != NULL)
                s->top_ids = ti;
            float *tl = realloc(s->top_logprobs, (size_t)cap * t * sizeof(*tl));
            if (tl != NULL)
                s->top_logprobs = tl;
            if (ti == NULL || tl == NULL)
                goto err;
        }
    }
    s->cap_tokens = (int32_t)cap;
    return SL_OK;
err:
    sl_error("out of memory for %lld output tokens", (long long)cap);
    return SL_ERR_NO_MEMORY;
}

sl_status_t sl_server_out_add_tokens(sl_server_out_t *out, int32_t seq, const int32_t *ids,
                                     const float *logprobs, const int32_t *num_top,
                                     const int32_t *top_ids, const float *top_logprobs,
                                     int32_t count)
{
    sl_server_seq_out_t *s = &out->seqs[seq];
    size_t t = out->top_n > 0 ? (size_t)out->top_n : 0, at = (size_t)s->num_tokens;
    sl_status_t st;

    if (count <= 0)
        return SL_OK;
    if ((st = sl_server_seq_reserve(s, out->top_n, (int64_t)s->num_tokens + count)) != SL_OK)
        return st;
    memcpy(s->ids + at, ids, (size_t)count * sizeof(*ids));
    if (out->top_n >= 0) {
        memcpy(s->logprobs + at, logprobs, (size_t)count * sizeof(*logprobs));
        memcpy(s->num_top + at, num_top, (size_t)count * sizeof(*num_top));
        if (t > 0) {
            memcpy(s->top_ids + at * t, top_ids, (size_t)count * t * sizeof(*top_ids));
            memcpy(s->top_logprobs + at * t, top_logprobs,
                   (size_t)count * t * sizeof(*top_logprobs));
        }
    }
    s->num_tokens += count;
    return SL_OK;
}

sl_status_t sl_server_out_add_text(sl_server_out_t *out, int32_t seq, const char *text,
                                   size_t len)
{
    sl_server_seq_out_t *s = &out->seqs[seq];

    if (len == 0)
        return SL_OK;
    if (s->text_len + len + 1 > s->text_cap) {
        size_t cap = s->text_cap ? s->text_cap : 64;
        while (cap < s->text_len + len + 1)
            cap *= 2;
        char *p = realloc(s->text, cap);
        if (p == NULL) {
            sl_error("out of memory for %zu bytes of output text", cap);
            return SL_ERR_NO_MEMORY;
        }
        s->text = p;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_len, text, len);
    s->text_len += len;
    s->text[s->text_len] = '\0';
    return SL_OK;
}

sl_status_t sl_server_out_set_error(sl_server_out_t *out, int status, const char *message)
{
    char *copy = strdup(message != NULL ? message : "");

    if (copy == NULL) {
        sl_error("out of memory for an error message");
        return SL_ERR_NO_MEMORY;
    }
    free(out->error);
    out->error = copy;
    out->status = status;
    out->done = true;
    return SL_OK;
}

/* DST ends as SRC did: done, with its usage or its error. */
static sl_status_t sl_server_out_end(sl_server_out_t *dst, const sl_server_out_t *src)
{
    sl_status_t st;

    if (src->status != 0 && (st = sl_server_out_set_error(dst, src->status, src->error)) != SL_OK)
        return st;
    dst->done = true;
    dst->prompt_tokens = src->prompt_tokens;
    dst->cached_tokens = src->cached_tokens;
    return SL_OK;
}

sl_status_t sl_server_out_append(sl_server_out_t *dst, const sl_server_out_t *src)
{
    sl_status_t st;

    if (src->n != dst->n || src->top_n != dst->top_n) {
        sl_error("internal: a delta of %d choices (%d alternatives) for an output of %d (%d)",
                 src->n, src->top_n, dst->n, dst->top_n);
        return SL_ERR_INTERNAL;
    }
    for (int32_t i = 0; i < src->n; i++) {
        const sl_server_seq_out_t *s = &src->seqs[i];
        if ((st = sl_server_out_add_tokens(dst, i, s->ids, s->logprobs, s->num_top, s->top_ids,
                                           s->top_logprobs, s->num_tokens)) != SL_OK ||
            (st = sl_server_out_add_text(dst, i, s->text, s->text_len)) != SL_OK)
            return st;
        if (s->finish != SL_FINISH_NONE)
            dst->seqs[i].finish = s->finish;
    }
    if (src->done && !dst->done && (st = sl_server_out_end(dst, src)) != SL_OK)
        return st;
    dst->version++;
    return SL_OK;
}

sl_status_t sl_server_cursor_init(sl_server_cursor_t *cur, int32_t n)
{
    memset(cur, 0, sizeof(*cur));
    cur->tokens = calloc((size_t)n, sizeof(*cur->tokens));
    cur->text = calloc((size_t)n, sizeof(*cur->text));
    cur->finished = calloc((size_t)n, sizeof(*cur->finished));
    cur->n = n;
    if (cur->tokens == NULL || cur->text == NULL || cur->finished == NULL) {
        sl_server_cursor_free(cur);
        sl_error("out of memory for a cursor of %d choices", n);
        return SL_ERR_NO_MEMORY;
    }
    return SL_OK;
}

void sl_server_cursor_free(sl_server_cursor_t *cur)
{
    free(cur->tokens);
    free(cur->text);
    free(cur->finished);
    memset(cur, 0, sizeof(*cur));
}

sl_status_t sl_server_out_slice(const sl_server_out_t *src, sl_server_cursor_t *cur,
                                sl_server_out_t *dst)
{
    size_t t = src->top_n > 0 ? (size_t)src->top_n : 0;
    sl_status_t st;

    sl_server_out_reset(dst);
    if (cur->n != src->n || dst->n != src->n || dst->top_n != src->top_n) {
        sl_error("internal: slicing an output of %d choices with a cursor of %d", src->n,
                 cur->n);
        return SL_ERR_INTERNAL;
    }
    for (int32_t i = 0; i < src->n; i++) {
        const sl_server_seq_out_t *s = &src->seqs[i];
        size_t k = (size_t)cur->tokens[i];
        int32_t count = s->num_tokens - cur->tokens[i];
        /* (no pointer arithmetic on arrays never allocated) */
        if (count > 0 &&
            (st = sl_server_out_add_tokens(
                 dst, i, s->ids + k, src->top_n >= 0 ? s->logprobs + k : NULL,
                 src->top_n >= 0 ? s->num_top + k : NULL, t ? s->top_ids + k * t : NULL,
                 t ? s->top_logprobs + k * t : NULL, count)) != SL_OK)
            return st;
        if (s->text_len > cur->text[i] &&
            (st = sl_server_out_add_text(dst, i, s->text + cur->text[i],
                                         s->text_len - cur->text[i])) != SL_OK)
            return st;
        cur->tokens[i] = s->num_tokens;
        cur->text[i] = s->text_len;
        if (s->finish != SL_FINISH_NONE && !cur->finished[i]) {
            dst->seqs[i].finish = s->finish;
            cur->finished[i] = true;
        }
    }
    if (src->done && !cur->done) {
        if ((st = sl_server_out_end(dst, src)) != SL_OK)
            return st;
        cur->done = true;
    }
    cur->version = src->version;
    return SL_OK;
}

bool sl_server_out_has_news(const sl_server_out_t *d)
{
    if (d->done)
        return true;
    for (int32_t i = 0; i < d->n; i++)
        if (d->seqs[i].num_tokens > 0 || d->seqs[i].text_len > 0 ||
            d->seqs[i].finish != SL_FINISH_NONE)
            return true;
    return false;
}

int64_t sl_server_out_completion_tokens(const sl_server_out_t *out)
{
    int64_t n = 0;

    for (int32_t i = 0; i < out->n; i++)
        n += out->seqs[i].num_tokens;
    return n;
}
