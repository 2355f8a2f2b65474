/*
 * wire.h - the DP channel's frames: how rank 0's HTTP server talks to the
 * engine of every other DP group leader over one TCP connection each.
 *
 * A frame is a 4-byte little-endian payload length, a 1-byte type, then
 * the payload; every field little-endian, strings and arrays prefixed with
 * their 32-bit length (io/pack.h). Decoding is bounds-checked throughout (a
 * peer's bug must not become ours): a truncated or oversized field marks
 * the cursor bad and the frame is refused as a whole.
 *
 *   head -> worker                         worker -> head
 *   SUBMIT  id, prompt ids, sampling       (the hello is comm/star.h's)
 *   ABORT   id (the client went away)      READY   (the engine runs)
 *   SHUTDOWN                               DELTA   id, output delta (output.h)
 *                                          STATS   the group's stats (metrics.h)
 *                                          BYE     (it stops; nothing follows)
 *
 * A submission's deltas arrive in order and the last one is done. Frames of
 * one direction are written by one thread at a time (a send lock), so they
 * never interleave.
 */
#ifndef SL_SERVER_WIRE_H
#define SL_SERVER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "engine/request.h"
#include "io/pack.h"
#include "server/metrics.h"
#include "server/output.h"

#define SL_WIRE_VERSION 1
#define SL_WIRE_MAX_FRAME (64u << 20) /* bytes of payload */

typedef enum {
    /* 1: a hello in version 1; the star's own hello took its place */
    SL_WIRE_READY = 2,
    SL_WIRE_SUBMIT = 3,
    SL_WIRE_ABORT = 4,
    SL_WIRE_DELTA = 5,
    SL_WIRE_STATS = 6,
    SL_WIRE_SHUTDOWN = 7,
    SL_WIRE_BYE = 8,
} sl_wire_type_t;

/* Payloads are written into an sl_io_buf_t and read with an sl_io_cursor_t
 * (io/pack.h, the journal's little-endian encoding); the header is added on
 * send. */

/* Empties W for the next frame's payload (keeps its memory). */
void sl_wire_begin(sl_io_buf_t *w);

/* A u32 count whose elements take at least ELEM_BYTES each: marks C bad
 * when the frame cannot hold that many (so no hostile count allocates). */
uint32_t sl_wire_get_count(sl_io_cursor_t *c, size_t elem_bytes);

/* Sampling parameters (every field, stop strings and ids). */
void sl_wire_put_params(sl_io_buf_t *w, const sl_sampling_params_t *p);
/* Into *P (initialised here; release with sl_sampling_params_release). */
sl_status_t sl_wire_get_params(sl_io_cursor_t *c, sl_sampling_params_t *p);

/* An output or a delta (output.h). */
void sl_wire_put_out(sl_io_buf_t *w, const sl_server_out_t *out);
/* Into *OUT (initialised here; free with sl_server_out_free). */
sl_status_t sl_wire_get_out(sl_io_cursor_t *c, sl_server_out_t *out);

void sl_wire_put_stats(sl_io_buf_t *w, const sl_server_stats_t *st);
void sl_wire_get_stats(sl_io_cursor_t *c, sl_server_stats_t *st);

/* Sends one frame of TYPE with W's payload (NULL: none) on the blocking
 * socket FD. */
sl_status_t sl_wire_send(int fd, sl_wire_type_t type, const sl_io_buf_t *w);

/* Receives one frame into *BUF_P (grown as needed, [*cap_p]): its type and
 * payload length. SL_ERR_NOT_FOUND on a clean end of stream before a frame,
 * SL_ERR_IO on a broken or oversized one (not logged: the caller knows the
 * peer). */
sl_status_t sl_wire_recv(int fd, uint8_t **buf_p, size_t *cap_p, sl_wire_type_t *type_p,
                         size_t *len_p);

#endif /* SL_SERVER_WIRE_H */
