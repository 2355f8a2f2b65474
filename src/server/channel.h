/*
 * channel.h - the DP channel between rank 0 (the HTTP head) and every other
 * rank, each of which leads its own DP group on the CPU backend.
 *
 * Setup, called by every rank at the same point of the start-up:
 *   1. rank 0 listens on an ephemeral TCP port of every address and draws a
 *      random 64-bit job nonce;
 *   2. the bootstrap broadcasts "NONCE PORT ADDR ADDR..." (rank 0's IPv4
 *      addresses, loopback last, as the liveness star does);
 *   3. every other rank connects to the first address that answers and
 *      sends HELLO (protocol version, its rank, the nonce), so a stray
 *      connection to the port can never pose as a peer;
 *   4. rank 0 accepts until every rank has said hello, or
 *      SLINFER_CONNECT_TIMEOUT seconds (default 120) pass.
 * Then frames (wire.h) flow: remote.c on rank 0, worker.c on the others.
 */
#ifndef SL_SERVER_CHANNEL_H
#define SL_SERVER_CHANNEL_H

#include "bootstrap/bootstrap.h"
#include "core/status.h"
#include "server/group.h"

/* The setup above. Rank 0 gets *fds_p = [size] sockets (fds[r] for rank
 * r >= 1, fds[0] = -1; the caller frees the array); the others get *fd_p.
 * A failure is logged; the caller aborts the job. */
sl_status_t sl_server_channel_setup(sl_boot_t *boot, int **fds_p, int *fd_p);

/* Rank 0: the group of rank RANK (DP group INDEX) over socket FD (taken). It
 * becomes ready when the rank's engine says READY. */
sl_status_t sl_server_remote_create(int index, int rank, const char *host, int fd,
                                    sl_server_group_t **group_p);

/* Rank r > 0: serves the head over FD with LOCAL (this rank's engine group)
 * until the head says SHUTDOWN or goes away; then stops LOCAL, sends the
 * last deltas, stats and BYE, and closes FD. */
sl_status_t sl_server_worker_run(int fd, sl_server_group_t *local);

#endif /* SL_SERVER_CHANNEL_H */
