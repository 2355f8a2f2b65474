/*
 * worker.c - on a rank other than 0, the far end of the DP channel: SUBMIT
 * frames become tickets of this rank's local group, and a sender thread
 * forwards each ticket's deltas as DELTA frames, plus the group's STATS.
 *
 * The reader (the calling thread) and the sender share the table of
 * tickets in flight. A ticket's notify hook (called when the engine thread
 * publishes into it) marks its entry dirty and wakes the sender, which
 * slices the delta past the entry's cursor and sends it; the delta that
 * says done removes the entry.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "server/channel.h"
#include "server/wire.h"

#define SL_WORKER_STATS_MS 100 /* stats at most this often while anything changes */
#define SL_WORKER_IDLE_MS 1000 /* and at least this often */

typedef struct sl_worker sl_worker_t;

typedef struct sl_worker_entry {
    sl_worker_t *worker;
    sl_server_ticket_t *ticket;
    sl_server_cursor_t cursor;
    sl_server_out_t delta;
    bool dirty;                 /* guarded by the worker's lock */
} sl_worker_entry_t;

struct sl_worker {
    int fd;
    sl_server_group_t *local;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    sl_worker_entry_t **entries; /* [num] guarded by lock */
    size_t num, cap;
    size_t num_dirty;
    bool stop;                  /* the sender flushes and ends */
    bool broken;                /* sending failed (guarded by send_lock) */
    pthread_mutex_t send_lock;  /* frames from the sender and the reader */
    sl_io_buf_t w;         /* the sender's */
    sl_server_stats_t last;     /* stats last sent */
};

static void sl_worker_notify(void *ctx, sl_server_ticket_t *t)
{
    sl_worker_entry_t *en = ctx;
    sl_worker_t *W = en->worker;

    (void)t;
    pthread_mutex_lock(&W->lock);
    if (!en->dirty) {
        en->dirty = true;
        W->num_dirty++;
        pthread_cond_signal(&W->wake);
    }
    pthread_mutex_unlock(&W->lock);
}

static void sl_worker_entry_free(sl_worker_entry_t *en)
{
    sl_server_ticket_unref(en->ticket);
    sl_server_cursor_free(&en->cursor);
    sl_server_out_free(&en->delta);
    free(en);
}

/* ---- the sender ------------------------------------------------------------------- */

/* Sends W (a writer) as one frame of TYPE. */
static void sl_worker_send_frame(sl_worker_t *W, sl_wire_type_t type, const sl_io_buf_t *w)
{
    pthread_mutex_lock(&W->send_lock);
    if (!W->broken && sl_wire_send(W->fd, type, w) != SL_OK) {
        sl_error("DP channel: sending to rank 0 failed: %s", strerror(errno));
        W->broken = true;
    }
    pthread_mutex_unlock(&W->send_lock);
}

static void sl_worker_send(sl_worker_t *W, sl_wire_type_t type)
{
    sl_worker_send_frame(W, type, &W->w);
}

/* Sends ENTRY's delta; returns whether the ticket is done. */
static bool sl_worker_forward(sl_worker_t *W, sl_worker_entry_t *en)
{
    sl_server_ticket_t *t = en->ticket;

    if (sl_server_ticket_take(t, &en->cursor, 0, &en->delta) != SL_OK) {
        /* Out of memory: end it on both sides rather than lose its end. */
        sl_server_out_reset(&en->delta);
        sl_server_out_set_error(&en->delta, 500, "the worker ran out of memory");
    }
    if (!sl_server_out_has_news(&en->delta))
        return false;
    sl_wire_begin(&W->w);
    sl_io_put_u64(&W->w, t->id);
    sl_wire_put_out(&W->w, &en->delta);
    sl_worker_send(W, SL_WIRE_DELTA);
    return en->delta.done;
}

static void sl_worker_stats(sl_worker_t *W, bool force)
{
    sl_server_stats_t st;

    sl_server_group_stats(W->local, &st);
    if (!force && memcmp(&st, &W->last, sizeof(st)) == 0)
        return;
    W->last = st;
    sl_wire_begin(&W->w);
    sl_wire_put_stats(&W->w, &st);
    sl_worker_send(W, SL_WIRE_STATS);
}

static void *sl_worker_sender(void *arg)
{
    sl_worker_t *W = arg;
    sl_worker_entry_t **batch = NULL;
    size_t cap = 0;
    struct timespec last_stats = {0}, now;

    for (;;) {
        size_t n = 0;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += SL_WORKER_STATS_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&W->lock);
        if (W->num_dirty == 0 && !W->stop)
            pthread_cond_timedwait(&W->wake, &W->lock, &until);
        bool stop = W->stop;
        if (cap < W->num) {
            sl_worker_entry_t **p = realloc(batch, W->num * sizeof(*p));
            if (p != NULL) {
                batch = p;
                cap = W->num;
            }
        }
        for (size_t i = 0; i < W->num && n < cap; i++) {
            if (W->entries[i]->dirty) {
                W->entries[i]->dirty = false;
                batch[n++] = W->entries[i];
            }
        }
        W->num_dirty = 0;
        pthread_mutex_unlock(&W->lock);

        for (size_t i = 0; i < n; i++) {
            if (!sl_worker_forward(W, batch[i]))
                continue;
            pthread_mutex_lock(&W->lock);
            for (size_t k = 0; k < W->num; k++) {
                if (W->entries[k] == batch[i]) {
                    W->entries[k] = W->entries[--W->num];
                    break;
                }
            }
            pthread_mutex_unlock(&W->lock);
            sl_worker_entry_free(batch[i]);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long ms = (now.tv_sec - last_stats.tv_sec) * 1000LL +
                       (now.tv_nsec - last_stats.tv_nsec) / 1000000;
        if (ms >= SL_WORKER_STATS_MS) {
            sl_worker_stats(W, ms >= SL_WORKER_IDLE_MS);
            last_stats = now;
        }
        pthread_mutex_lock(&W->lock);
        bool drained = stop && W->num_dirty == 0;
        pthread_mutex_unlock(&W->lock);
        if (drained)
            break;
    }
    free(batch);
    return NULL;
}

/* ---- the reader --------------------------------------------------------------------- */

/* A SUBMIT frame: a ticket for the local group. */
static bool sl_worker_submit(sl_worker_t *W, sl_io_cursor_t *r)
{
    uint64_t id = sl_io_get_u64(r);
    uint32_t n = sl_wire_get_count(r, 4);
    int32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
    sl_sampling_params_t p;
    sl_worker_entry_t *en = NULL;
    sl_server_ticket_t *t = NULL;
    bool ok = false;

    if (ids == NULL)
        goto out;
    for (uint32_t i = 0; i < n; i++)
        ids[i] = (int32_t)sl_io_get_u32(r);
    if (r->bad || sl_wire_get_params(r, &p) != SL_OK)
        goto out;
    ok = true;
    if (sl_server_ticket_new(id, ids, (int32_t)n, &p, &t) != SL_OK ||
        (en = calloc(1, sizeof(*en))) == NULL ||
        sl_server_cursor_init(&en->cursor, p.n) != SL_OK ||
        sl_server_out_init(&en->delta, p.n, t->out.top_n) != SL_OK)
        goto err_entry;
    en->worker = W;
    en->ticket = t;
    t->notify = sl_worker_notify;
    t->notify_ctx = en;
    pthread_mutex_lock(&W->lock);
    if (W->num == W->cap) {
        size_t cap = W->cap ? 2 * W->cap : 64;
        sl_worker_entry_t **e = realloc(W->entries, cap * sizeof(*e));
        if (e == NULL) {
            pthread_mutex_unlock(&W->lock);
            goto err_entry;
        }
        W->entries = e;
        W->cap = cap;
    }
    W->entries[W->num++] = en;
    pthread_mutex_unlock(&W->lock);
    if (W->local->ops->submit(W->local, t) != SL_OK)
        sl_server_ticket_fail(t, 503, "the DP group is stopping"); /* forwarded as usual */
    sl_sampling_params_release(&p);
    goto out;

err_entry:
    /* The head still waits: answer with an error delta right away. */
    sl_error("DP channel: out of memory for request %llu", (unsigned long long)id);
    if (en != NULL) {
        en->ticket = NULL;
        sl_worker_entry_free(en);
    }
    sl_server_ticket_unref(t);
    sl_sampling_params_release(&p);
    {
        sl_server_out_t d;
        if (sl_server_out_init(&d, p.n, p.logprobs >= 0 ? p.logprobs : -1) == SL_OK &&
            sl_server_out_set_error(&d, 500, "the worker ran out of memory") == SL_OK) {
            sl_io_buf_t w = {0};
            sl_io_put_u64(&w, id);
            sl_wire_put_out(&w, &d);
            sl_worker_send_frame(W, SL_WIRE_DELTA, &w);
            sl_io_buf_free(&w);
        }
        sl_server_out_free(&d);
    }
out:
    free(ids);
    return ok;
}

/* An ABORT frame: cancel the ticket if it is still here. */
static void sl_worker_abort(sl_worker_t *W, uint64_t id)
{
    pthread_mutex_lock(&W->lock);
    for (size_t i = 0; i < W->num; i++) {
        if (W->entries[i]->ticket->id == id) {
            sl_server_ticket_cancel(W->entries[i]->ticket);
            W->local->ops->cancel(W->local, W->entries[i]->ticket);
            break;
        }
    }
    pthread_mutex_unlock(&W->lock);
}

sl_status_t sl_server_worker_run(int fd, sl_server_group_t *local)
{
    sl_worker_t W = {.fd = fd, .local = local};
    uint8_t *buf = NULL;
    size_t cap = 0, len;
    sl_wire_type_t type;
    pthread_t sender;
    sl_status_t s;
    bool bad = false;

    pthread_mutex_init(&W.lock, NULL);
    pthread_mutex_init(&W.send_lock, NULL);
    pthread_cond_init(&W.wake, NULL);
    sl_wire_send(fd, SL_WIRE_READY, NULL);
    if (pthread_create(&sender, NULL, sl_worker_sender, &W) != 0) {
        sl_error("cannot start the DP channel's sender thread");
        close(fd);
        return SL_ERR_INTERNAL;
    }
    while ((s = sl_wire_recv(fd, &buf, &cap, &type, &len)) == SL_OK) {
        sl_io_cursor_t r = {.p = buf, .len = len};
        if (type == SL_WIRE_SHUTDOWN)
            break;
        if (type == SL_WIRE_SUBMIT)
            bad = !sl_worker_submit(&W, &r);
        else if (type == SL_WIRE_ABORT)
            sl_worker_abort(&W, sl_io_get_u64(&r));
        else
            bad = true;
        if (bad || r.bad) {
            sl_error("DP channel: rank 0 sent a malformed frame (type %d, %zu bytes)",
                     (int)type, len);
            s = SL_ERR_FORMAT;
            break;
        }
    }
    if (s == SL_ERR_NOT_FOUND || s == SL_ERR_IO)
        sl_warn("DP channel: rank 0 closed the connection without a shutdown");
    free(buf);
    /* Stopping fails what is left with 503; the sender forwards it, then ends. */
    sl_server_group_stop(local);
    pthread_mutex_lock(&W.lock);
    W.stop = true;
    pthread_cond_signal(&W.wake);
    pthread_mutex_unlock(&W.lock);
    pthread_join(sender, NULL);
    sl_worker_stats(&W, true);
    sl_wire_begin(&W.w);
    sl_worker_send(&W, SL_WIRE_BYE);
    shutdown(fd, SHUT_WR);
    close(fd);
    for (size_t i = 0; i < W.num; i++)
        sl_worker_entry_free(W.entries[i]);
    free(W.entries);
    sl_io_buf_free(&W.w);
    pthread_cond_destroy(&W.wake);
    pthread_mutex_destroy(&W.send_lock);
    pthread_mutex_destroy(&W.lock);
    return s == SL_OK || s == SL_ERR_NOT_FOUND ? SL_OK : s;
}
