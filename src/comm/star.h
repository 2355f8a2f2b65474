/*
 * star.h - TCP connections between hub ranks and their members, set up
 * through the bootstrap: the DP channel of `slinfer serve` (rank 0 the hub of
 * every DP group leader) and the step link of a TP group that spans
 * processes (the group's leader the hub of its followers) are both stars.
 *
 * Setup, one collective of every rank of the job at the same point of the
 * start-up (a rank in no star takes part with hub -1):
 *   1. a hub listens on an ephemeral TCP port of every address and draws a
 *      random 64-bit nonce;
 *   2. one variable-size allgather carries each rank's hub, and for hubs
 *      "NONCE PORT ADDR ADDR..." (its IPv4 addresses, loopback last, as the
 *      liveness star lists them);
 *   3. every member connects to the first of its hub's addresses that
 *      answers and sends a hello (magic, version, its rank, the nonce), so a
 *      stray connection to the port can never pose as a member;
 *   4. a hub accepts until every rank that named it has said hello, or
 *      SLINFER_CONNECT_TIMEOUT seconds (default 120) pass.
 * The sockets are then blocking, without read timeouts; what flows over them
 * is the caller's.
 */
#ifndef SL_COMM_STAR_H
#define SL_COMM_STAR_H

#include "bootstrap/bootstrap.h"
#include "core/status.h"

typedef struct sl_star {
    int hub;     /* this rank's hub: itself on a hub, -1 in no star          */
    int members; /* on a hub: how many members connected                     */
    int size;    /* ranks in the job                                          */
    int *fds;    /* on a hub: [size] socket of each member, -1 elsewhere      */
    int fd;      /* on a member: its socket to the hub; -1 elsewhere          */
} sl_star_t;

/* The setup above; NAME ("DP channel", "TP link") prefixes its messages.
 * HUB is this rank's hub (its own rank makes it one, -1 keeps it out); the
 * same hub may serve any set of ranks. A failure is logged; the caller aborts
 * the job. */
sl_status_t sl_star_setup(sl_boot_t *boot, const char *name, int hub, sl_star_t *star_p);

/* Closes every socket of STAR and frees it (not STAR itself). */
void sl_star_close(sl_star_t *star);

#endif /* SL_COMM_STAR_H */
