/*
 * remote.c - on rank 0, the DP group of another rank behind the group
 * interface: tickets go out as SUBMIT frames, cancellations as ABORT, and a
 * reader thread publishes the DELTA frames that come back into the tickets,
 * keeps the STATS, and notices READY, BYE and a broken connection.
 *
 * A ticket is entered in the in-flight table *before* its SUBMIT is sent, so
 * a delta can never arrive for a ticket the reader does not know.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "server/channel.h"
#include "server/wire.h"

/* How long stop waits for the worker's BYE before cutting the connection. */
#define SL_REMOTE_STOP_MS 30000

typedef struct sl_server_remote {
    sl_server_group_t base;
    int fd, rank;
    char host[64];
    pthread_mutex_t send_lock;
    sl_io_buf_t w;         /* guarded by send_lock                      */

    pthread_mutex_t lock;
    pthread_cond_t ended_cond;
    sl_server_ticket_t **tickets; /* [num] in flight, guarded by lock      */
    size_t num, cap;
    bool ended;                 /* the reader finished                       */
    bool stopping;
    pthread_t reader;
    bool started;
} sl_server_remote_t;

/* Ticket ID of the table with a reference for the caller: REMOVE takes
 * the table's own out with it, else a new one is taken. NULL when unknown. */
static sl_server_ticket_t *sl_remote_find(sl_server_remote_t *R, uint64_t id, bool remove)
{
    sl_server_ticket_t *t = NULL;

    pthread_mutex_lock(&R->lock);
    for (size_t i = 0; i < R->num; i++) {
        if (R->tickets[i]->id == id) {
            t = R->tickets[i];
            if (remove)
                R->tickets[i] = R->tickets[--R->num];
            else
                sl_server_ticket_ref(t);
            break;
        }
    }
    pthread_mutex_unlock(&R->lock);
    return t;
}

static sl_status_t sl_remote_send(sl_server_remote_t *R, sl_wire_type_t type,
                                  const sl_io_buf_t *w)
{
    sl_status_t s = sl_wire_send(R->fd, type, w);

    if (s != SL_OK && !atomic_exchange(&R->base.failed, true))
        sl_error("DP group %d (rank %d on %s): sending to it failed; it takes no more "
                 "requests", R->base.index, R->rank, R->host);
    return s;
}

/* One DELTA frame: into its ticket; the last one ends the ticket. */
static bool sl_remote_delta(sl_server_remote_t *R, sl_io_cursor_t *r)
{
    uint64_t id = sl_io_get_u64(r);
    sl_server_out_t d;
    sl_server_ticket_t *t;

    if (sl_wire_get_out(r, &d) != SL_OK)
        return false;
    t = sl_remote_find(R, id, d.done);
    if (t != NULL) {
        if (d.n == t->out.n && d.top_n == t->out.top_n)
            sl_server_ticket_publish(t, &d);
        else
            sl_server_ticket_fail(t, 500, "internal error: a malformed delta (server log)");
        if (d.done)
            atomic_fetch_sub(&R->base.inflight, 1);
        sl_server_ticket_unref(t); /* the table's, or the one find took */
    }
    sl_server_out_free(&d);
    return true;
}

static void *sl_remote_main(void *arg)
{
    sl_server_remote_t *R = arg;
    uint8_t *buf = NULL;
    size_t cap = 0, len;
    sl_wire_type_t type;
    bool bye = false;
    sl_status_t s;

    while ((s = sl_wire_recv(R->fd, &buf, &cap, &type, &len)) == SL_OK) {
        sl_io_cursor_t r = {.p = buf, .len = len};
        bool ok = true;
        switch (type) {
        case SL_WIRE_READY:
            atomic_store(&R->base.ready, true);
            sl_info("DP group %d (rank %d on %s) is ready", R->base.index, R->rank, R->host);
            break;
        case SL_WIRE_DELTA:
            ok = sl_remote_delta(R, &r);
            break;
        case SL_WIRE_STATS: {
            sl_server_stats_t st;
            sl_wire_get_stats(&r, &st);
            if ((ok = !r.bad)) {
                pthread_mutex_lock(&R->base.stats_lock);
                R->base.stats = st;
                pthread_mutex_unlock(&R->base.stats_lock);
            }
            break;
        }
        case SL_WIRE_BYE:
            bye = true;
            break;
        default:
            ok = false;
        }
        if (!ok) {
            sl_error("DP group %d (rank %d on %s) sent a malformed frame (type %d, %zu bytes); "
                     "dropping the connection", R->base.index, R->rank, R->host, (int)type, len);
            break;
        }
        if (bye)
            break;
    }
    free(buf);
    pthread_mutex_lock(&R->lock);
    bool stopping = R->stopping;
    pthread_mutex_unlock(&R->lock);
    if (!bye && !stopping)
        sl_error("DP group %d (rank %d on %s): the connection %s; its requests fail with 503",
                 R->base.index, R->rank, R->host, s == SL_ERR_NOT_FOUND ? "closed" : "broke");
    atomic_store(&R->base.ready, false);
    atomic_store(&R->base.failed, true);
    /* Whatever is still in flight will never finish there. */
    pthread_mutex_lock(&R->lock);
    while (R->num > 0) {
        sl_server_ticket_t *t = R->tickets[--R->num];
        sl_server_ticket_fail(t, 503, bye || stopping ? "the server is shutting down"
                                                      : "the DP group running the request "
                                                        "was lost");
        atomic_fetch_sub(&R->base.inflight, 1);
        sl_server_ticket_unref(t);
    }
    R->ended = true;
    pthread_cond_broadcast(&R->ended_cond);
    pthread_mutex_unlock(&R->lock);
    return NULL;
}

/* ---- the vtable ---------------------------------------------------------------------- */

static sl_status_t sl_remote_submit(sl_server_group_t *g, sl_server_ticket_t *t)
{
    sl_server_remote_t *R = (sl_server_remote_t *)g;
    sl_status_t s = SL_OK;

    pthread_mutex_lock(&R->lock);
    if (R->stopping || R->ended || atomic_load(&g->failed)) {
        s = SL_ERR_INTERRUPTED;
    } else if (R->num == R->cap) {
        size_t cap = R->cap ? 2 * R->cap : 64;
        sl_server_ticket_t **p = realloc(R->tickets, cap * sizeof(*p));
        if (p == NULL) {
            s = SL_ERR_NO_MEMORY;
        } else {
            R->tickets = p;
            R->cap = cap;
        }
    }
    if (s == SL_OK) {
        sl_server_ticket_ref(t);
        atomic_store(&t->group, g->index);
        atomic_fetch_add(&g->inflight, 1);
        R->tickets[R->num++] = t;
    }
    pthread_mutex_unlock(&R->lock);
    if (s != SL_OK)
        return s;

    pthread_mutex_lock(&R->send_lock);
    sl_wire_begin(&R->w);
    sl_io_put_u64(&R->w, t->id);
    sl_io_put_u32(&R->w, (uint32_t)t->prompt_len);
    for (int32_t i = 0; i < t->prompt_len; i++)
        sl_io_put_u32(&R->w, (uint32_t)t->prompt[i]);
    sl_wire_put_params(&R->w, &t->params);
    s = sl_remote_send(R, SL_WIRE_SUBMIT, &R->w);
    pthread_mutex_unlock(&R->send_lock);
    if (s != SL_OK) {
        /* The reader fails it when the connection ends, unless it already did. */
        sl_server_ticket_t *mine = sl_remote_find(R, t->id, true);
        if (mine != NULL) {
            atomic_fetch_sub(&g->inflight, 1);
            sl_server_ticket_unref(mine);
        }
        return SL_ERR_INTERRUPTED;
    }
    return SL_OK;
}

static void sl_remote_cancel(sl_server_group_t *g, sl_server_ticket_t *t)
{
    sl_server_remote_t *R = (sl_server_remote_t *)g;

    pthread_mutex_lock(&R->send_lock);
    sl_wire_begin(&R->w);
    sl_io_put_u64(&R->w, t->id);
    sl_remote_send(R, SL_WIRE_ABORT, &R->w);
    pthread_mutex_unlock(&R->send_lock);
}

static void sl_remote_stop(sl_server_group_t *g)
{
    sl_server_remote_t *R = (sl_server_remote_t *)g;
    struct timespec until;

    pthread_mutex_lock(&R->lock);
    bool first = !R->stopping;
    R->stopping = true;
    pthread_mutex_unlock(&R->lock);
    if (first) {
        pthread_mutex_lock(&R->send_lock);
        sl_wire_begin(&R->w);
        sl_remote_send(R, SL_WIRE_SHUTDOWN, &R->w);
        pthread_mutex_unlock(&R->send_lock);
    }
    if (!R->started)
        return;
    /* The worker stops its engine, sends what is left and says BYE. */
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += SL_REMOTE_STOP_MS / 1000;
    pthread_mutex_lock(&R->lock);
    while (!R->ended && pthread_cond_timedwait(&R->ended_cond, &R->lock, &until) == 0)
        ;
    bool ended = R->ended;
    pthread_mutex_unlock(&R->lock);
    if (!ended) {
        sl_warn("DP group %d (rank %d on %s) did not finish within %d s; cutting it off",
                g->index, R->rank, R->host, SL_REMOTE_STOP_MS / 1000);
        shutdown(R->fd, SHUT_RDWR);
    }
    pthread_join(R->reader, NULL);
    R->started = false;
}

static void sl_remote_destroy(sl_server_group_t *g)
{
    sl_server_remote_t *R = (sl_server_remote_t *)g;

    sl_remote_stop(g);
    close(R->fd);
    free(R->tickets);
    sl_io_buf_free(&R->w);
    pthread_cond_destroy(&R->ended_cond);
    pthread_mutex_destroy(&R->lock);
    pthread_mutex_destroy(&R->send_lock);
    pthread_mutex_destroy(&g->stats_lock);
    free(R);
}

static const sl_server_group_ops_t sl_remote_ops = {
    .submit = sl_remote_submit,
    .cancel = sl_remote_cancel,
    .stop = sl_remote_stop,
    .destroy = sl_remote_destroy,
};

sl_status_t sl_server_remote_create(int index, int rank, const char *host, int fd,
                                    sl_server_group_t **group_p)
{
    sl_server_remote_t *R = calloc(1, sizeof(*R));

    if (R == NULL) {
        sl_error("out of memory for DP group %d", index);
        close(fd);
        return SL_ERR_NO_MEMORY;
    }
    sl_server_group_init(&R->base, &sl_remote_ops, index);
    R->fd = fd;
    R->rank = rank;
    snprintf(R->host, sizeof(R->host), "%s", host != NULL ? host : "?");
    pthread_mutex_init(&R->send_lock, NULL);
    pthread_mutex_init(&R->lock, NULL);
    pthread_cond_init(&R->ended_cond, NULL);
    if (pthread_create(&R->reader, NULL, sl_remote_main, R) != 0) {
        sl_error("cannot start the reader thread of DP group %d", index);
        sl_remote_destroy(&R->base);
        return SL_ERR_INTERNAL;
    }
    R->started = true;
    *group_p = &R->base;
    return SL_OK;
}
