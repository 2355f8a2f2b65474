/*
 * channel.h - the DP channel between rank 0 (the HTTP head) and every other
 * DP group leader (every rank, unless TP groups span processes).
 *
 * Set up by every rank at the same point of the start-up, as a star
 * (comm/star.h) whose hub is rank 0 and whose members are the other DP group
 * leaders (the followers of a TP group that spans processes take part in the
 * setup but not in the channel).
 * Then frames (wire.h) flow: remote.c on rank 0, worker.c on the others.
 */
#ifndef SL_SERVER_CHANNEL_H
#define SL_SERVER_CHANNEL_H

#include "bootstrap/bootstrap.h"
#include "core/status.h"
#include "server/group.h"

/* The setup above; LEADER: this rank leads a DP group. Rank 0 gets
 * *fds_p = [size] sockets (fds[r] for each leader r >= 1, -1 for the others;
 * the caller frees the array); the other leaders get *fd_p. A failure is
 * logged; the caller aborts the job. */
sl_status_t sl_server_channel_setup(sl_boot_t *boot, int leader, int **fds_p, int *fd_p);

/* Rank 0: the group of rank RANK (DP group INDEX) over socket FD (taken). It
 * becomes ready when the rank's engine says READY. */
sl_status_t sl_server_remote_create(int index, int rank, const char *host, int fd,
                                    sl_server_group_t **group_p);

/* Rank r > 0: serves the head over FD with LOCAL (this rank's engine group)
 * until the head says SHUTDOWN or goes away; then stops LOCAL, sends the
 * last deltas, stats and BYE, and closes FD. */
sl_status_t sl_server_worker_run(int fd, sl_server_group_t *local);

#endif /* SL_SERVER_CHANNEL_H */
