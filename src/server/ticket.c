/* ticket.c - a request in flight; see ticket.h. */
#include "config.h"

#include "server/ticket.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

sl_status_t sl_server_ticket_new(uint64_t id, const int32_t *prompt, int32_t prompt_len,
                                 const sl_sampling_params_t *params,
                                 sl_server_ticket_t **ticket_p)
{
    sl_server_ticket_t *t = calloc(1, sizeof(*t));
    pthread_condattr_t attr;
    sl_status_t s = SL_ERR_NO_MEMORY;

    if (t == NULL)
        goto err;
    t->id = id;
    t->created = sl_time_now();
    atomic_init(&t->refs, 1);
    atomic_init(&t->cancelled, false);
    atomic_init(&t->group, -1);
    t->prompt_len = prompt_len;
    t->prompt = malloc((size_t)(prompt_len > 0 ? prompt_len : 1) * sizeof(*t->prompt));
    if (t->prompt == NULL)
        goto err_free;
    if (prompt_len > 0)
        memcpy(t->prompt, prompt, (size_t)prompt_len * sizeof(*prompt));
    if ((s = sl_sampling_params_copy(&t->params, params)) != SL_OK)
        goto err_prompt;
    if ((s = sl_server_out_init(&t->out, params->n,
                                params->logprobs >= 0 ? params->logprobs : -1)) != SL_OK)
        goto err_params;
    /* Timed waits count on the monotonic clock, immune to clock changes. */
    if (pthread_condattr_init(&attr) != 0 ||
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&t->cond, &attr) != 0) {
        sl_error("cannot create a condition variable for a request");
        s = SL_ERR_INTERNAL;
        goto err_out;
    }
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&t->lock, NULL);
    *ticket_p = t;
    return SL_OK;

err_out:
    sl_server_out_free(&t->out);
err_params:
    sl_sampling_params_release(&t->params);
err_prompt:
    free(t->prompt);
err_free:
    free(t);
err:
    if (s == SL_ERR_NO_MEMORY)
        sl_error("out of memory for a request of %d prompt tokens", prompt_len);
    return s;
}

void sl_server_ticket_ref(sl_server_ticket_t *t)
{
    atomic_fetch_add(&t->refs, 1);
}

void sl_server_ticket_unref(sl_server_ticket_t *t)
{
    if (t == NULL || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    sl_server_out_free(&t->out);
    sl_sampling_params_release(&t->params);
    free(t->prompt);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* With the lock held: wake whoever waits. */
static void sl_server_ticket_wake(sl_server_ticket_t *t)
{
    pthread_cond_broadcast(&t->cond);
    if (t->notify != NULL)
        t->notify(t->notify_ctx, t);
}

sl_status_t sl_server_ticket_publish(sl_server_ticket_t *t, const sl_server_out_t *delta)
{
    sl_status_t s = SL_OK;

    pthread_mutex_lock(&t->lock);
    if (!t->out.done) {
        s = sl_server_out_append(&t->out, delta);
        if (s != SL_OK && !t->out.done)
            sl_server_out_set_error(&t->out, 500, "the server ran out of memory");
        sl_server_ticket_wake(t);
    }
    pthread_mutex_unlock(&t->lock);
    return s;
}

void sl_server_ticket_fail(sl_server_ticket_t *t, int status, const char *message)
{
    pthread_mutex_lock(&t->lock);
    if (!t->out.done) {
        if (sl_server_out_set_error(&t->out, status, message) != SL_OK) {
            t->out.done = true; /* without the message: memory is short */
            t->out.status = status;
        }
        t->out.version++;
        sl_server_ticket_wake(t);
    }
    pthread_mutex_unlock(&t->lock);
}

/* The absolute CLOCK_MONOTONIC time TIMEOUT_MS from now. */
static struct timespec sl_server_deadline(int timeout_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

sl_status_t sl_server_ticket_take(sl_server_ticket_t *t, sl_server_cursor_t *cur,
                                  int timeout_ms, sl_server_out_t *delta)
{
    struct timespec until = sl_server_deadline(timeout_ms);
    sl_status_t s;

    pthread_mutex_lock(&t->lock);
    while (t->out.version == cur->version && !(t->out.done && !cur->done)) {
        if (pthread_cond_timedwait(&t->cond, &t->lock, &until) == ETIMEDOUT)
            break;
    }
    s = sl_server_out_slice(&t->out, cur, delta);
    pthread_mutex_unlock(&t->lock);
    return s;
}

bool sl_server_ticket_wait_done(sl_server_ticket_t *t, int timeout_ms)
{
    struct timespec until = sl_server_deadline(timeout_ms);
    bool done;

    pthread_mutex_lock(&t->lock);
    while (!t->out.done) {
        if (pthread_cond_timedwait(&t->cond, &t->lock, &until) == ETIMEDOUT)
            break;
    }
    done = t->out.done;
    pthread_mutex_unlock(&t->lock);
    return done;
}

bool sl_server_ticket_done(sl_server_ticket_t *t)
{
    bool done;

    pthread_mutex_lock(&t->lock);
    done = t->out.done;
    pthread_mutex_unlock(&t->lock);
    return done;
}
