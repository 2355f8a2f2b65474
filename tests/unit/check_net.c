/* check_net.c - core/net's whole-buffer writes over a real socket pair: a
 * frame of several pieces written with sl_net_writev_all through a
 * non-blocking socket with a small send buffer (so sendmsg takes it in many
 * partial writes, ending inside pieces and between them, and waits for room)
 * arrives whole and in order through sl_net_recv_all; empty pieces are
 * skipped; a closed peer is an error, not a SIGPIPE. */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/net.h"
#include "sl_check.h"

#define STEP_MS 10000

typedef struct {
    int fd;
    struct iovec iov[SL_NET_MAX_IOV];
    int count;
    sl_status_t status;
} writer_t;

static void *write_frame(void *p)
{
    writer_t *w = p;
    w->status = sl_net_writev_all(w->fd, w->iov, w->count, STEP_MS);
    return NULL;
}

/* Bytes that tell their position: a misplaced or repeated chunk shows. */
static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *b = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
    return b;
}

/* A socket pair whose first end is non-blocking with a small send buffer. */
static void small_pair(int fds[2])
{
    int size = 4096;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
    ck_assert_int_eq(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK), 0);
}

START_TEST(pieces_arrive_whole_and_in_order)
{
    /* header, an empty piece, two large pieces of odd sizes */
    static const size_t sizes[][SL_NET_MAX_IOV] = {
        {8, 0, 300001, 77777}, {5, 1 << 20, 0, 3}, {0, 0, 0, 1}, {16, 65536, 65536, 65536}};
    for (size_t c = 0; c < sizeof(sizes) / sizeof(sizes[0]); c++) {
        int fds[2];
        writer_t w = {.count = SL_NET_MAX_IOV};
        uint8_t *piece[SL_NET_MAX_IOV];
        size_t total = 0;
        pthread_t t;

        small_pair(fds);
        w.fd = fds[0];
        for (int i = 0; i < SL_NET_MAX_IOV; i++) {
            piece[i] = pattern(sizes[c][i], (unsigned)(c * 16 + i));
            w.iov[i] = (struct iovec){.iov_base = piece[i], .iov_len = sizes[c][i]};
            total += sizes[c][i];
        }
        ck_assert_int_eq(pthread_create(&t, NULL, write_frame, &w), 0);
        uint8_t *got = malloc(total);
        ck_assert_ptr_nonnull(got);
        size_t n = 0;
        ck_assert_int_eq(sl_net_recv_all(fds[1], got, total, &n), SL_OK);
        ck_assert_uint_eq(n, total);
        pthread_join(t, NULL);
        ck_assert_int_eq(w.status, SL_OK);
        size_t at = 0;
        for (int i = 0; i < SL_NET_MAX_IOV; i++) {
            ck_assert_msg(memcmp(got + at, piece[i], sizes[c][i]) == 0, "case %zu piece %d", c,
                          i);
            at += sizes[c][i];
            free(piece[i]);
        }
        free(got);
        close(fds[0]);
        close(fds[1]);
    }
}
END_TEST

START_TEST(nothing_to_write_and_limits)
{
    int fds[2];
    struct iovec empty[2] = {{.iov_base = NULL, .iov_len = 0}, {.iov_base = NULL, .iov_len = 0}};
    struct iovec many[SL_NET_MAX_IOV + 1];

    small_pair(fds);
    ck_assert_int_eq(sl_net_writev_all(fds[0], empty, 2, STEP_MS), SL_OK);
    ck_assert_int_eq(sl_net_writev_all(fds[0], empty, 0, STEP_MS), SL_OK);
    memset(many, 0, sizeof(many));
    ck_assert_int_eq(sl_net_writev_all(fds[0], many, SL_NET_MAX_IOV + 1, STEP_MS),
                     SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_net_writev_all(fds[0], many, -1, STEP_MS), SL_ERR_INVALID_ARG);
    close(fds[0]);
    close(fds[1]);
}
END_TEST

START_TEST(closed_peer_is_an_error)
{
    int fds[2];
    uint8_t *big = pattern(1 << 20, 7);
    struct iovec iov[2] = {{.iov_base = big, .iov_len = 8},
                           {.iov_base = big + 8, .iov_len = (1 << 20) - 8}};

    small_pair(fds);
    close(fds[1]); /* a write now raises EPIPE: must come back as a status */
    ck_assert_int_eq(sl_net_writev_all(fds[0], iov, 2, STEP_MS), SL_ERR_BOOTSTRAP);
    ck_assert_int_eq(sl_net_write_all(fds[0], big, 16, STEP_MS), SL_ERR_BOOTSTRAP);
    close(fds[0]);
    free(big);
}
END_TEST

static Suite *net_suite(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("writes");
    tcase_add_test(tc, pieces_arrive_whole_and_in_order);
    tcase_add_test(tc, nothing_to_write_and_limits);
    tcase_add_test(tc, closed_peer_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(net_suite)
