/* wire.c - frames of the DP channel; see wire.h. */
#include "config.h"

#include "server/wire.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/net.h"

void sl_wire_begin(sl_io_buf_t *w)
{
    w->len = 0;
    w->failed = 0;
}

uint32_t sl_wire_get_count(sl_io_cursor_t *c, size_t elem_bytes)
{
    uint32_t n = sl_io_get_u32(c);

    if (c->bad || (elem_bytes > 0 && n > (c->len - c->pos) / elem_bytes)) {
        c->bad = 1;
        return 0;
    }
    return n;
}

/* ---- sampling parameters ------------------------------------------------------------ */

void sl_wire_put_params(sl_io_buf_t *w, const sl_sampling_params_t *p)
{
    sl_io_put_u32(w, (uint32_t)p->n);
    sl_io_put_u32(w, (uint32_t)p->max_tokens);
    sl_io_put_u32(w, (uint32_t)p->min_tokens);
    sl_io_put_f32(w, p->temperature);
    sl_io_put_f32(w, p->top_p);
    sl_io_put_u32(w, (uint32_t)p->top_k);
    sl_io_put_f32(w, p->min_p);
    sl_io_put_f32(w, p->repetition_penalty);
    sl_io_put_f32(w, p->presence_penalty);
    sl_io_put_f32(w, p->frequency_penalty);
    sl_io_put_u8(w, p->has_seed);
    sl_io_put_u64(w, p->seed);
    sl_io_put_u8(w, p->ignore_eos);
    sl_io_put_u8(w, p->skip_special_tokens);
    sl_io_put_u32(w, (uint32_t)p->logprobs);
    sl_io_put_u32(w, (uint32_t)p->num_stop);
    for (int32_t i = 0; i < p->num_stop; i++)
        sl_io_put_str(w, p->stop[i], strlen(p->stop[i]));
    sl_io_put_u32(w, (uint32_t)p->num_stop_token_ids);
    for (int32_t i = 0; i < p->num_stop_token_ids; i++)
        sl_io_put_u32(w, (uint32_t)p->stop_token_ids[i]);
}

sl_status_t sl_wire_get_params(sl_io_cursor_t *r, sl_sampling_params_t *p)
{
    uint32_t n;

    sl_sampling_params_init(p);
    p->n = (int32_t)sl_io_get_u32(r);
    p->max_tokens = (int32_t)sl_io_get_u32(r);
    p->min_tokens = (int32_t)sl_io_get_u32(r);
    p->temperature = sl_io_get_f32(r);
    p->top_p = sl_io_get_f32(r);
    p->top_k = (int32_t)sl_io_get_u32(r);
    p->min_p = sl_io_get_f32(r);
    p->repetition_penalty = sl_io_get_f32(r);
    p->presence_penalty = sl_io_get_f32(r);
    p->frequency_penalty = sl_io_get_f32(r);
    p->has_seed = sl_io_get_u8(r) != 0;
    p->seed = sl_io_get_u64(r);
    p->ignore_eos = sl_io_get_u8(r) != 0;
    p->skip_special_tokens = sl_io_get_u8(r) != 0;
    p->logprobs = (int32_t)sl_io_get_u32(r);
    n = sl_wire_get_count(r, 4);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        size_t len;
        const char *text = sl_io_get_str(r, &len);
        if (text == NULL || strlen(text) != len || sl_sampling_params_add_stop(p, text) != SL_OK)
            r->bad = 1;
    }
    n = sl_wire_get_count(r, 4);
    for (uint32_t i = 0; i < n && !r->bad; i++)
        if (sl_sampling_params_add_stop_id(p, (int32_t)sl_io_get_u32(r)) != SL_OK)
            r->bad = 1;
    if (r->bad || p->n < 1 || p->n > 1024 || p->logprobs < -1 || p->logprobs > SL_MAX_LOGPROBS) {
        sl_sampling_params_release(p);
        r->bad = 1;
        return SL_ERR_FORMAT;
    }
    return SL_OK;
}

/* ---- outputs ------------------------------------------------------------------------ */

void sl_wire_put_out(sl_io_buf_t *w, const sl_server_out_t *o)
{
    size_t t = o->top_n > 0 ? (size_t)o->top_n : 0;

    sl_io_put_u32(w, (uint32_t)o->n);
    sl_io_put_u32(w, (uint32_t)o->top_n);
    for (int32_t i = 0; i < o->n; i++) {
        const sl_server_seq_out_t *s = &o->seqs[i];
        sl_io_put_u32(w, (uint32_t)s->num_tokens);
        for (int32_t k = 0; k < s->num_tokens; k++) {
            sl_io_put_u32(w, (uint32_t)s->ids[k]);
            if (o->top_n < 0)
                continue;
            sl_io_put_f32(w, s->logprobs[k]);
            sl_io_put_u32(w, (uint32_t)s->num_top[k]);
            for (size_t j = 0; j < t; j++) {
                sl_io_put_u32(w, (uint32_t)s->top_ids[(size_t)k * t + j]);
                sl_io_put_f32(w, s->top_logprobs[(size_t)k * t + j]);
            }
        }
        sl_io_put_str(w, s->text != NULL ? s->text : "", s->text_len);
        sl_io_put_u8(w, (uint8_t)s->finish);
    }
    sl_io_put_u8(w, o->done);
    sl_io_put_u32(w, (uint32_t)o->status);
    sl_io_put_str(w, o->error != NULL ? o->error : "", o->error != NULL ? strlen(o->error) : 0);
    sl_io_put_u32(w, (uint32_t)o->prompt_tokens);
    sl_io_put_u32(w, (uint32_t)o->cached_tokens);
}

sl_status_t sl_wire_get_out(sl_io_cursor_t *r, sl_server_out_t *o)
{
    int32_t n = (int32_t)sl_io_get_u32(r), top_n = (int32_t)sl_io_get_u32(r);
    size_t t = top_n > 0 ? (size_t)top_n : 0;
    /* the bytes of one token on the wire */
    size_t per = 4 + (top_n >= 0 ? 8 + 8 * t : 0);

    if (r->bad || n < 1 || n > 1024 || top_n < -1 || top_n > SL_MAX_LOGPROBS ||
        sl_server_out_init(o, n, top_n) != SL_OK) {
        r->bad = 1;
        return SL_ERR_FORMAT;
    }
    for (int32_t i = 0; i < n && !r->bad; i++) {
        uint32_t count = sl_wire_get_count(r, per);
        for (uint32_t k = 0; k < count && !r->bad; k++) {
            int32_t id = (int32_t)sl_io_get_u32(r), nt = 0, tid[SL_MAX_LOGPROBS];
            float lp = 0, tlp[SL_MAX_LOGPROBS];
            if (top_n >= 0) {
                lp = sl_io_get_f32(r);
                nt = (int32_t)sl_io_get_u32(r);
                for (size_t j = 0; j < t; j++) {
                    tid[j] = (int32_t)sl_io_get_u32(r);
                    tlp[j] = sl_io_get_f32(r);
                }
                if (nt < 0 || (size_t)nt > t)
                    r->bad = 1;
            }
            if (!r->bad && sl_server_out_add_tokens(o, i, &id, &lp, &nt, tid, tlp, 1) != SL_OK)
                r->bad = 1;
        }
        size_t len;
        const char *text = sl_io_get_str(r, &len);
        if (text == NULL || sl_server_out_add_text(o, i, text, len) != SL_OK)
            r->bad = 1;
        uint8_t f = sl_io_get_u8(r);
        if (f > SL_FINISH_ERROR)
            r->bad = 1;
        o->seqs[i].finish = (sl_finish_reason_t)f;
    }
    o->done = sl_io_get_u8(r) != 0;
    o->status = (int)sl_io_get_u32(r);
    const char *err = sl_io_get_str(r, NULL);
    o->prompt_tokens = (int32_t)sl_io_get_u32(r);
    o->cached_tokens = (int32_t)sl_io_get_u32(r);
    if (!r->bad && o->status != 0) {
        if (err == NULL || sl_server_out_set_error(o, o->status, err) != SL_OK)
            r->bad = 1;
    }
    if (r->bad || o->status < 0 || o->status > 599) {
        sl_server_out_free(o);
        r->bad = 1;
        return SL_ERR_FORMAT;
    }
    return SL_OK;
}

/* ---- stats -------------------------------------------------------------------------- */

void sl_wire_put_stats(sl_io_buf_t *w, const sl_server_stats_t *st)
{
    sl_io_put_u64(w, (uint64_t)st->running);
    sl_io_put_u64(w, (uint64_t)st->waiting);
    sl_io_put_u64(w, (uint64_t)st->kv_blocks);
    sl_io_put_u64(w, (uint64_t)st->kv_used);
    sl_io_put_u64(w, st->prompt_tokens);
    sl_io_put_u64(w, st->generation_tokens);
    for (int k = 0; k < SL_SERVER_NUM_DONE; k++)
        sl_io_put_u64(w, st->finished[k]);
    sl_io_put_u64(w, st->prefix_query_tokens);
    sl_io_put_u64(w, st->prefix_hit_tokens);
    sl_io_put_u64(w, st->preemptions);
    sl_io_put_u64(w, st->steps);
    for (int h = 0; h < SL_SERVER_NUM_HISTS; h++) {
        for (int b = 0; b <= SL_SERVER_HIST_BOUNDS; b++)
            sl_io_put_u64(w, st->hist[h].bucket[b]);
        sl_io_put_u64(w, st->hist[h].count);
        sl_io_put_f64(w, st->hist[h].sum);
    }
}

void sl_wire_get_stats(sl_io_cursor_t *r, sl_server_stats_t *st)
{
    st->running = (int64_t)sl_io_get_u64(r);
    st->waiting = (int64_t)sl_io_get_u64(r);
    st->kv_blocks = (int64_t)sl_io_get_u64(r);
    st->kv_used = (int64_t)sl_io_get_u64(r);
    st->prompt_tokens = sl_io_get_u64(r);
    st->generation_tokens = sl_io_get_u64(r);
    for (int k = 0; k < SL_SERVER_NUM_DONE; k++)
        st->finished[k] = sl_io_get_u64(r);
    st->prefix_query_tokens = sl_io_get_u64(r);
    st->prefix_hit_tokens = sl_io_get_u64(r);
    st->preemptions = sl_io_get_u64(r);
    st->steps = sl_io_get_u64(r);
    for (int h = 0; h < SL_SERVER_NUM_HISTS; h++) {
        for (int b = 0; b <= SL_SERVER_HIST_BOUNDS; b++)
            st->hist[h].bucket[b] = sl_io_get_u64(r);
        st->hist[h].count = sl_io_get_u64(r);
        st->hist[h].sum = sl_io_get_f64(r);
    }
}

/* ---- sockets ------------------------------------------------------------------------ */

/* The sockets are blocking: a send waits for room by itself; this bounds
 * nothing but is sl_net_write_all's step. */
#define SL_WIRE_SEND_MS 60000

sl_status_t sl_wire_send(int fd, sl_wire_type_t type, const sl_io_buf_t *w)
{
    uint8_t head[5];
    size_t len = w != NULL ? w->len : 0;

    if (w != NULL && w->failed)
        return SL_ERR_NO_MEMORY;
    if (len > SL_WIRE_MAX_FRAME)
        return SL_ERR_OVERFLOW;
    sl_io_store_u32(head, (uint32_t)len);
    head[4] = (uint8_t)type;
    const struct iovec frame[2] = {{.iov_base = head, .iov_len = 5},
                                   {.iov_base = len > 0 ? w->data : NULL, .iov_len = len}};
    if (sl_net_writev_all(fd, frame, 2, SL_WIRE_SEND_MS) != SL_OK)
        return SL_ERR_IO;
    return SL_OK;
}

sl_status_t sl_wire_recv(int fd, uint8_t **buf_p, size_t *cap_p, sl_wire_type_t *type_p,
                         size_t *len_p)
{
    uint8_t head[5];
    size_t got, len;

    if (sl_net_recv_all(fd, head, 5, &got) != SL_OK)
        return got == 0 ? SL_ERR_NOT_FOUND : SL_ERR_IO;
    len = sl_io_load_u32(head);
    if (len > SL_WIRE_MAX_FRAME)
        return SL_ERR_IO;
    if (len > *cap_p) {
        uint8_t *p = realloc(*buf_p, len);
        if (p == NULL)
            return SL_ERR_IO;
        *buf_p = p;
        *cap_p = len;
    }
    if (len > 0 && sl_net_recv_all(fd, *buf_p, len, NULL) != SL_OK)
        return SL_ERR_IO;
    *type_p = (sl_wire_type_t)head[4];
    *len_p = len;
    return SL_OK;
}
