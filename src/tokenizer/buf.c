/* buf.c - the growable byte, id and span arrays of the tokenizer. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "tokenizer/tok_internal.h"

sl_status_t sl_tok_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t new_cap;
    void *p;

    if (n <= *cap)
        return SL_OK;
    new_cap = *cap ? *cap : 16;
    while (new_cap < n) {
        if (new_cap > SIZE_MAX / 2)
            return SL_ERR_OVERFLOW;
        new_cap *= 2;
    }
    if (new_cap > SIZE_MAX / elem)
        return SL_ERR_OVERFLOW;
    p = realloc(*arr, new_cap * elem);
    if (p == NULL) {
        sl_error("tokenizer: out of memory growing a buffer to %zu bytes", new_cap * elem);
        return SL_ERR_NO_MEMORY;
    }
    *arr = p;
    *cap = new_cap;
    return SL_OK;
}

sl_status_t sl_tok_buf_reserve(sl_tok_buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return SL_ERR_OVERFLOW;
    return sl_tok_grow((void **)&b->data, &b->cap, b->len + extra + 1, 1);
}

sl_status_t sl_tok_buf_append(sl_tok_buf_t *b, const void *p, size_t n)
{
    if (b->cap == 0 || n >= b->cap - b->len) {
        sl_status_t st = sl_tok_buf_reserve(b, n);
        if (st != SL_OK)
            return st;
    }
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SL_OK;
}

void sl_tok_buf_free(sl_tok_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

sl_status_t sl_tok_ids_append(sl_tok_ids_t *v, const int32_t *ids, size_t n)
{
    if (n > v->cap - v->len) {
        sl_status_t st;
        if (n > SIZE_MAX - v->len)
            return SL_ERR_OVERFLOW;
        st = sl_tok_grow((void **)&v->data, &v->cap, v->len + n, sizeof(int32_t));
        if (st != SL_OK)
            return st;
    }
    if (n > 0)
        memcpy(v->data + v->len, ids, n * sizeof(int32_t));
    v->len += n;
    return SL_OK;
}

sl_status_t sl_tok_spans_push(sl_tok_spans_t *v, size_t start, size_t end, int32_t id)
{
    if (v->len == v->cap) {
        sl_status_t st = sl_tok_grow((void **)&v->data, &v->cap, v->len + 1,
                                     sizeof(sl_tok_span_t));
        if (st != SL_OK)
            return st;
    }
    v->data[v->len++] = (sl_tok_span_t){.start = start, .end = end, .id = id};
    return SL_OK;
}
