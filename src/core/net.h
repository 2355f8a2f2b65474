/*
 * net.h - the few TCP pieces slinfer's own connections share (the liveness
 * star of the bootstrap, the DP channel of the server): deadlines, whole
 * lines and whole writes on non-blocking sockets, keepalive, this host's
 * addresses. IPv4; the connections are between nodes of one cluster.
 */
#ifndef SL_CORE_NET_H
#define SL_CORE_NET_H

#include <stddef.h>
#include <sys/uio.h>

#include "core/status.h"

/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
long long sl_net_now_ms(void);

/* Non-blocking, no Nagle, keepalive tuned so that a peer that vanishes
 * without closing (power loss, kernel panic, cable) is noticed in about
 * 10 + 3 x 5 s. */
void sl_net_tune(int fd);

/* Waits until FD is ready for EVENTS (poll's) or DEADLINE_MS passes: 1
 * ready, 0 timed out, -1 error (errno). */
int sl_net_wait(int fd, short events, long long deadline_ms);

/* Reads one '\n'-terminated line into LINE[SIZE] (without the newline)
 * before the deadline. SL_ERR_BOOTSTRAP on timeout, EOF, error or a line
 * that does not fit. */
sl_status_t sl_net_read_line(int fd, char *line, size_t size, long long deadline_ms);

/* Reads exactly LEN bytes into BUF before the deadline. SL_ERR_BOOTSTRAP on
 * timeout, EOF or error. */
sl_status_t sl_net_read_all(int fd, void *buf, size_t len, long long deadline_ms);

/* Blocking sockets: reads exactly LEN bytes into BUF, retrying
 * interruptions. SL_OK when all came; SL_ERR_IO on an end of stream or an
 * error, with *got_p (may be NULL) telling how many bytes came before it. */
sl_status_t sl_net_recv_all(int fd, void *buf, size_t len, size_t *got_p);

/* Writes all of BUF (never raising SIGPIPE), waiting up to STEP_MS for room
 * each time the socket is full. SL_ERR_BOOTSTRAP on failure. */
sl_status_t sl_net_write_all(int fd, const void *buf, size_t len, int step_ms);

/* The same for the COUNT (at most SL_NET_MAX_IOV) pieces of IOV in order, in
 * as few system calls as the socket allows (one for a frame's header and
 * payload that fit). */
#define SL_NET_MAX_IOV 4
sl_status_t sl_net_writev_all(int fd, const struct iovec *iov, int count, int step_ms);

/* Appends " ADDR" for every up IPv4 address of this host, non-loopback first
 * and loopback last (so peers try routable addresses first), to the
 * NUL-terminated LINE[SIZE]; addresses that do not fit are left out. */
sl_status_t sl_net_local_addresses(char *line, size_t size);

/* A non-blocking socket listening on an ephemeral TCP port of every IPv4
 * address, for up to BACKLOG pending connections (at most 4096): the fd and
 * *port_p, or -1 (errno) on failure. */
int sl_net_listen_any(int backlog, int *port_p);

/* A tuned, connected socket to IP:PORT, or -1 (errno) after DEADLINE_MS. */
int sl_net_connect(const char *ip, int port, long long deadline_ms);

#endif /* SL_CORE_NET_H */
