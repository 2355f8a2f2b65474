/*
 * liveness.h - every rank knows within moments when another rank dies.
 *
 * Launchers do not tell a rank that a peer died: under Slurm a PMIx fence
 * simply waits for a node whose only task was killed, forever. So at start-up
 * every rank opens a TCP connection to rank 0 (a star), and a thread on each
 * side watches it:
 *   - rank 0 sees a peer's connection close without a goodbye: the peer died
 *     (SIGKILL, segfault, OOM killer, exit without finishing); it aborts the
 *     job, so srun ends every rank with a non-zero status;
 *   - a peer sees rank 0's connection close without a goodbye: it aborts too.
 * TCP keepalive (about 25 s) covers a node that vanishes without closing its
 * sockets (power loss, kernel panic, cable).
 *
 * Rank 0 listens on an ephemeral port and publishes "PORT ADDR..." (its IPv4
 * addresses, loopback last) through the launcher without a collective, so a
 * rank that is already dead cannot make the exchange hang; peers try each
 * address and identify themselves with the job's namespace, so a stray
 * listener on another node is never mistaken for rank 0. Rank 0 waits
 * SLINFER_CONNECT_TIMEOUT seconds (default 120) for every peer, then stops
 * the job naming the ranks that never came.
 *
 * Internal to the bootstrap: sl_boot_init() starts it for jobs of more than
 * one rank, sl_boot_finalize() says goodbye and stops it.
 */
#ifndef SL_BOOTSTRAP_LIVENESS_H
#define SL_BOOTSTRAP_LIVENESS_H

#include "bootstrap/boot_internal.h"

#define SL_LIVENESS_CONNECT_TIMEOUT_DEFAULT 120 /* seconds */

typedef struct sl_liveness sl_liveness_t;

/* Connects this rank into the star and starts its watcher thread. Needs the
 * backend's publish/lookup. Logs and returns SL_ERR_BOOTSTRAP when rank 0
 * cannot be reached or peers never connect. */
sl_status_t sl_liveness_start(sl_boot_t *boot, sl_liveness_t **live_p);

/* Says goodbye (the others stop watching this rank), stops the thread,
 * closes the connections. NULL is a no-op. */
void sl_liveness_stop(sl_liveness_t *live);

#endif /* SL_BOOTSTRAP_LIVENESS_H */
