/*
 * tp_link.h - the step link of a TP group that spans processes.
 *
 * When a model's TP group is larger than one process's GPUs, the group is
 * several consecutive processes: the first (the leader, holding TP rank 0)
 * runs the engine; the others (followers) only run the forward steps the
 * leader's backend sends them, so every rank's NCCL collectives meet. The
 * link is a star (star.h) per group, the leader its hub: the leader sends
 * frames (an 8-byte length, then the bytes) to every follower, in order;
 * what a frame holds is the backend's (backend/cuda: the NCCL id, then one
 * frame per step and a last one that says stop).
 *
 * A follower whose leader dies sees the link close before a stop and fails;
 * a leader whose follower dies fails its next send (and the liveness star of
 * the bootstrap ends the job either way).
 */
#ifndef SL_COMM_TP_LINK_H
#define SL_COMM_TP_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "bootstrap/bootstrap.h"
#include "core/status.h"

/* Frames larger than this are refused (a step of 64K tokens is ~2 MB). */
#define SL_TP_LINK_MAX_FRAME ((size_t)1 << 30)

typedef struct sl_tp_link sl_tp_link_t;

/* Collective over every rank of the job (a rank whose group lives in one
 * process passes LEADER -1 and gets *link_p = NULL). LEADER is the job rank
 * of this rank's group leader (its own rank on the leader). Logs failures. */
sl_status_t sl_tp_link_open(sl_boot_t *boot, int leader, sl_tp_link_t **link_p);

bool sl_tp_link_is_leader(const sl_tp_link_t *link);
int sl_tp_link_followers(const sl_tp_link_t *link); /* on the leader */

/* Leader: one frame of LEN bytes to every follower. SL_ERR_IO (logged,
 * naming the follower) when one cannot take it. */
sl_status_t sl_tp_link_send(sl_tp_link_t *link, const void *buf, size_t len);

/* Follower: the next frame; *buf_p stays valid until the next receive.
 * SL_ERR_IO (logged) when the leader is gone or sent a broken frame. */
sl_status_t sl_tp_link_recv(sl_tp_link_t *link, const void **buf_p, size_t *len_p);

/* Closes the sockets. NULL is a no-op. */
void sl_tp_link_close(sl_tp_link_t *link);

#endif /* SL_COMM_TP_LINK_H */
