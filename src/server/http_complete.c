/*
 * http_complete.c - POST /v1/completions and /v1/chat/completions: parse,
 * prepare the prompt, dispatch to a DP group, then wait for the whole
 * result or stream it as Server-Sent Events.
 *
 * The connection's thread waits on the ticket in slices of
 * SL_SERVER_WAIT_MS and looks at its socket between them, so a client that
 * goes away is noticed within that time and its request aborted.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "server/http_internal.h"
#include "server/respond.h"

#define SL_SERVER_WAIT_MS 50
#define SL_SERVER_STREAM_BLOCK (16u << 10) /* bytes libmicrohttpd asks for at once */

/* A streamed response in progress. */
typedef struct sl_server_stream {
    sl_server_http_t *http;
    struct MHD_Connection *conn;
    sl_server_group_t *group;
    sl_server_ticket_t *ticket;
    sl_server_cursor_t cursor;
    sl_server_out_t delta;
    sl_server_reply_t reply;
    sl_server_buf_t pending;    /* events not yet handed to libmicrohttpd */
    size_t sent;                /* of pending                               */
    bool finished;              /* [DONE] is in pending                     */
    char *echo;
} sl_server_stream_t;

/* The usable group with the fewest requests in flight (ties in turn). */
static sl_server_group_t *sl_server_http_pick(sl_server_http_t *h)
{
    int n = h->cfg.num_groups, start = (int)(atomic_fetch_add(&h->rotate, 1) % (unsigned)n);
    sl_server_group_t *best = NULL;
    int best_load = 0;

    for (int k = 0; k < n; k++) {
        sl_server_group_t *g = h->cfg.groups[(start + k) % n];
        int load = atomic_load(&g->inflight);
        if (sl_server_group_usable(g) && (best == NULL || load < best_load)) {
            best = g;
            best_load = load;
        }
    }
    return best;
}

/* The client left: the group aborts the request at its next step. */
static void sl_server_http_abandon(sl_server_http_t *h, sl_server_group_t *g,
                                   sl_server_ticket_t *t)
{
    if (sl_server_ticket_done(t))
        return;
    sl_server_ticket_cancel(t);
    g->ops->cancel(g, t);
    atomic_fetch_add(&h->disconnects, 1);
    sl_debug("http: request %llu: the client went away; aborting it",
             (unsigned long long)t->id);
}

/* ---- streaming ----------------------------------------------------------------------- */

static void sl_server_stream_free(void *cls)
{
    sl_server_stream_t *st = cls;

    if (!st->finished)
        sl_server_http_abandon(st->http, st->group, st->ticket);
    sl_server_ticket_unref(st->ticket);
    sl_server_cursor_free(&st->cursor);
    sl_server_out_free(&st->delta);
    sl_server_reply_free(&st->reply);
    sl_server_buf_free(&st->pending);
    free(st->echo);
    free(st);
}

static ssize_t sl_server_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sl_server_stream_t *st = cls;

    (void)pos;
    for (;;) {
        if (st->sent < st->pending.len) {
            size_t n = st->pending.len - st->sent < max ? st->pending.len - st->sent : max;
            memcpy(buf, st->pending.data + st->sent, n);
            st->sent += n;
            return (ssize_t)n;
        }
        st->pending.len = st->sent = 0;
        if (st->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (sl_server_ticket_take(st->ticket, &st->cursor, SL_SERVER_WAIT_MS, &st->delta) !=
                SL_OK ||
            (sl_server_out_has_news(&st->delta) &&
             sl_server_reply_events(&st->reply, &st->delta, &st->pending) != SL_OK)) {
            sl_error("http: request %llu: out of memory while streaming",
                     (unsigned long long)st->ticket->id);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (st->delta.done)
            st->finished = true;
        else if (st->pending.len == 0 && sl_server_http_client_gone(st->conn))
            return MHD_CONTENT_READER_END_WITH_ERROR; /* the free callback aborts it */
    }
}

static sl_mhd_result_t sl_server_http_stream(sl_server_http_t *h, struct MHD_Connection *c,
                                             sl_server_group_t *g, sl_server_ticket_t *t,
                                             const sl_server_req_t *req, char *echo)
{
    sl_server_stream_t *st = calloc(1, sizeof(*st));
    struct MHD_Response *r;
    sl_mhd_result_t ret;

    if (st == NULL)
        goto err;
    st->http = h;
    st->conn = c;
    st->group = g;
    st->ticket = t;
    st->echo = echo;
    if (sl_server_cursor_init(&st->cursor, t->params.n) != SL_OK ||
        sl_server_out_init(&st->delta, t->params.n, t->out.top_n) != SL_OK ||
        sl_server_reply_init(&st->reply, h->cfg.model, req->endpoint, t->id, t->params.n,
                             t->out.top_n, req->include_usage, echo) != SL_OK)
        goto err_free;
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SL_SERVER_STREAM_BLOCK,
                                          sl_server_stream_read, st, sl_server_stream_free);
    if (r == NULL)
        goto err_free;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    atomic_fetch_add(&h->responses[2], 1);
    return ret;

err_free:
    st->finished = true; /* the ticket and echo stay the caller's */
    st->ticket = NULL;
    st->echo = NULL;
    sl_server_stream_free(st);
err:
    sl_error("http: out of memory for a streamed response");
    sl_server_http_abandon(h, g, t);
    sl_server_ticket_unref(t);
    free(echo);
    return MHD_NO;
}

/* ---- whole responses ----------------------------------------------------------------- */

static sl_mhd_result_t sl_server_http_wait(sl_server_http_t *h, struct MHD_Connection *c,
                                           sl_server_group_t *g, sl_server_ticket_t *t,
                                           const sl_server_req_t *req, char *echo)
{
    const sl_server_out_t *out = &t->out;
    sl_server_reply_t reply;
    sl_server_error_t e;
    char *body = NULL;
    sl_mhd_result_t ret;

    while (!sl_server_ticket_wait_done(t, SL_SERVER_WAIT_MS)) {
        if (sl_server_http_client_gone(c)) {
            sl_server_http_abandon(h, g, t);
            sl_server_ticket_unref(t);
            free(echo);
            return MHD_NO;
        }
    }
    /* Done: the output no longer changes and is read without the lock. */
    if (out->status != 0) {
        sl_server_error_set(&e, out->status, NULL, NULL, "%s",
                            out->error != NULL ? out->error : "the request failed");
        ret = sl_server_http_error(h, c, &e);
    } else if (sl_server_reply_init(&reply, h->cfg.model, req->endpoint, t->id, out->n,
                                    out->top_n, false, echo) != SL_OK ||
               sl_server_reply_body(&reply, out, &body) != SL_OK) {
        sl_server_reply_free(&reply);
        sl_server_error_set(&e, 500, NULL, NULL, "out of memory");
        ret = sl_server_http_error(h, c, &e);
    } else {
        sl_server_reply_free(&reply);
        ret = sl_server_http_send(h, c, 200, "application/json", body, NULL, NULL);
    }
    sl_server_ticket_unref(t);
    free(echo);
    return ret;
}

/* ---- the route ------------------------------------------------------------------------ */

sl_mhd_result_t sl_server_http_complete(sl_server_http_t *h, struct MHD_Connection *c,
                                        sl_io_endpoint_t endpoint, const char *body,
                                        size_t len)
{
    const sl_server_model_t *m = h->cfg.model;
    sl_server_req_t req;
    sl_server_error_t e;
    sl_server_ticket_t *t = NULL;
    sl_server_group_t *g;
    int32_t *ids = NULL, num_ids = 0;
    char *echo = NULL;
    sl_mhd_result_t ret;

    if (sl_server_parse_request(body, len, endpoint, &req, &e) != SL_OK)
        return sl_server_http_error(h, c, &e);
    if (req.model != NULL && strcmp(req.model, m->name) != 0) {
        sl_server_error_set(&e, 404, "model", "model_not_found",
                            "The model `%.200s` does not exist; this server serves `%s`.",
                            req.model, m->name);
        goto err;
    }
    if (atomic_load(&h->draining)) {
        sl_server_error_set(&e, 503, NULL, NULL, "The server is shutting down.");
        goto err;
    }
    if (sl_server_prepare(m, &req, &ids, &num_ids, &echo, &e) != SL_OK)
        goto err;
    if (sl_server_http_inflight(h) >= h->cfg.max_queue) {
        atomic_fetch_add(&h->queue_full, 1);
        sl_server_error_set(&e, 429, NULL, "queue_full", "The server has %d requests in "
                            "flight (--max-queue); retry later.", h->cfg.max_queue);
        goto err;
    }
    if ((g = sl_server_http_pick(h)) == NULL) {
        sl_server_error_set(&e, 503, NULL, NULL, "No DP group is ready to take requests "
                            "(GET /health says which).");
        goto err;
    }
    if (sl_server_ticket_new(atomic_fetch_add(&h->next_id, 1), ids, num_ids, &req.params,
                             &t) != SL_OK) {
        sl_server_error_set(&e, 500, NULL, NULL, "out of memory");
        goto err;
    }
    if (g->ops->submit(g, t) != SL_OK) {
        sl_server_error_set(&e, 503, NULL, NULL, "DP group %d cannot take requests now.",
                            g->index);
        goto err;
    }
    /* Generating may leave the connection silent for long: no idle timeout
     * until the response is out (http.c's completion callback restores it). */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0U);
    free(ids);
    if (req.stream)
        ret = sl_server_http_stream(h, c, g, t, &req, echo);
    else
        ret = sl_server_http_wait(h, c, g, t, &req, echo);
    sl_server_req_release(&req);
    return ret;

err:
    sl_server_ticket_unref(t);
    free(ids);
    free(echo);
    sl_server_req_release(&req);
    return sl_server_http_error(h, c, &e);
}
