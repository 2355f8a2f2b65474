/*
 * ticket.h - one request in flight between the thread that received it and
 * the thread that runs it.
 *
 * The HTTP thread (or, on a worker rank, the channel reader) creates a
 * ticket with the prompt ids and sampling parameters, hands it to a DP group
 * (group.h) and waits on it; the group's engine thread (or the channel
 * reader of a remote group) publishes what the engine produces into it, a
 * delta at a time, and finally marks it done with the usage counts or an
 * error. Consumers keep a cursor and take what is new (sl_server_ticket_take),
 * so one thread can stream tokens as they come while nothing is copied for a
 * consumer that only wants the end.
 *
 * A consumer that goes away (the client disconnected) cancels the ticket:
 * the group sees the flag on its next step and aborts the request, which
 * frees its KV blocks.
 *
 * Thread-safe; reference counted (the creator holds one reference, a group
 * takes one while the request runs).
 */
#ifndef SL_SERVER_TICKET_H
#define SL_SERVER_TICKET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "engine/request.h"
#include "server/output.h"

typedef struct sl_server_ticket sl_server_ticket_t;

/* Called with the ticket's lock held after each publish (keep it short: e.g.
 * queue the ticket for a sender thread). */
typedef void (*sl_server_ticket_notify_fn)(void *ctx, sl_server_ticket_t *ticket);

struct sl_server_ticket {
    /* immutable after creation */
    uint64_t id;                  /* unique in the job; the engine's request id   */
    int32_t *prompt;              /* [prompt_len]                                 */
    int32_t prompt_len;
    sl_sampling_params_t params;
    double created;               /* sl_time_now() at creation                    */

    pthread_mutex_t lock;
    pthread_cond_t cond;          /* broadcast on every publish                   */
    sl_server_out_t out;          /* guarded by lock                              */
    sl_server_ticket_notify_fn notify; /* set before the ticket is submitted      */
    void *notify_ctx;

    atomic_bool cancelled;        /* the consumer went away: abort the request    */
    atomic_int group;             /* DP group it was given to, -1 before          */
    atomic_int refs;
};

/* A ticket for PROMPT ([prompt_len], copied) and PARAMS (deep-copied), with
 * one reference. Its output has params->n choices and logprobs as asked. */
sl_status_t sl_server_ticket_new(uint64_t id, const int32_t *prompt, int32_t prompt_len,
                                 const sl_sampling_params_t *params,
                                 sl_server_ticket_t **ticket_p);

void sl_server_ticket_ref(sl_server_ticket_t *ticket);
/* Drops a reference; the last one frees the ticket. NULL is allowed. */
void sl_server_ticket_unref(sl_server_ticket_t *ticket);

/* Merges DELTA into the output and wakes the consumers. Nothing is merged
 * once the ticket is done. */
sl_status_t sl_server_ticket_publish(sl_server_ticket_t *ticket, const sl_server_out_t *delta);

/* Ends the ticket with an error (an HTTP STATUS and its MESSAGE) unless it
 * is already done. */
void sl_server_ticket_fail(sl_server_ticket_t *ticket, int status, const char *message);

/* Waits up to TIMEOUT_MS for output past CUR (or the end); then takes it
 * into DELTA (see sl_server_out_slice). Returns SL_OK with DELTA possibly
 * empty on a timeout. */
sl_status_t sl_server_ticket_take(sl_server_ticket_t *ticket, sl_server_cursor_t *cur,
                                  int timeout_ms, sl_server_out_t *delta);

/* Waits up to TIMEOUT_MS for the ticket to be done; returns whether it is. */
bool sl_server_ticket_wait_done(sl_server_ticket_t *ticket, int timeout_ms);

/* Whether the ticket is done (its output no longer changes once true). */
bool sl_server_ticket_done(sl_server_ticket_t *ticket);

/* The consumer is gone: the group aborts the request at its next step. */
static inline void sl_server_ticket_cancel(sl_server_ticket_t *ticket)
{
    atomic_store(&ticket->cancelled, true);
}

static inline bool sl_server_ticket_cancelled(sl_server_ticket_t *ticket)
{
    return atomic_load(&ticket->cancelled);
}

#endif /* SL_SERVER_TICKET_H */
