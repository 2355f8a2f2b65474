/*
 * group.h - a DP group as the HTTP server sees it: somewhere to send a
 * ticket (ticket.h) that runs it on an engine and publishes the output back.
 *
 * Two kinds, behind one small vtable:
 *   local   (local_group.c) the engine of this process, driven by its own
 *           thread: rank 0's group 0, and every worker rank's only group;
 *   remote  (remote.c) another rank's engine, reached over the DP channel
 *           (wire.h): submissions and aborts go out as frames, deltas and
 *           stats come back.
 * The dispatcher (http.c) gives each request to the ready group with the
 * fewest requests in flight.
 *
 * Thread-safe: submit and cancel come from HTTP threads.
 */
#ifndef SL_SERVER_GROUP_H
#define SL_SERVER_GROUP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "core/status.h"
#include "server/metrics.h"
#include "server/ticket.h"

typedef struct sl_server_group sl_server_group_t;

typedef struct sl_server_group_ops {
    /* Queues TICKET (the group takes a reference and publishes into it until
     * it is done). SL_ERR_INTERRUPTED when the group is stopping or failed. */
    sl_status_t (*submit)(sl_server_group_t *group, sl_server_ticket_t *ticket);
    /* TICKET was cancelled (sl_server_ticket_cancel): abort it promptly. */
    void (*cancel)(sl_server_group_t *group, sl_server_ticket_t *ticket);
    /* Stops the group: every ticket not done yet fails with 503; returns
     * when its threads have ended. */
    void (*stop)(sl_server_group_t *group);
    void (*destroy)(sl_server_group_t *group);
} sl_server_group_ops_t;

struct sl_server_group {
    const sl_server_group_ops_t *ops;
    int index;                   /* DP group number                              */
    atomic_int inflight;         /* tickets submitted and not done               */
    atomic_bool ready;           /* the engine runs and takes requests           */
    atomic_bool failed;          /* the engine or the channel broke              */
    pthread_mutex_t stats_lock;
    sl_server_stats_t stats;     /* guarded by stats_lock                        */
};

/* Fills the common part (not ready, nothing in flight). */
void sl_server_group_init(sl_server_group_t *group, const sl_server_group_ops_t *ops,
                          int index);

/* A copy of the group's stats. */
void sl_server_group_stats(sl_server_group_t *group, sl_server_stats_t *stats);

/* Whether the group takes requests now. */
static inline bool sl_server_group_usable(sl_server_group_t *group)
{
    return atomic_load(&group->ready) && !atomic_load(&group->failed);
}

/* NULL is allowed for both. */
void sl_server_group_stop(sl_server_group_t *group);
void sl_server_group_destroy(sl_server_group_t *group);

/* ---- the local group (local_group.c) ------------------------------------------- */

typedef struct sl_engine sl_engine_t;

/* Group INDEX over ENGINE (which must outlive the group and is driven only
 * by the group's thread from now on). The thread starts at once; the group
 * is ready when it runs. */
sl_status_t sl_server_local_create(int index, sl_engine_t *engine, sl_server_group_t **group_p);

#endif /* SL_SERVER_GROUP_H */
