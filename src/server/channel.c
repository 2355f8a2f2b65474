/* channel.c - connecting rank 0 with every other rank; see channel.h. */
#include "config.h"

#include "server/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"
#include "server/wire.h"

#define SL_CHANNEL_LINE_MAX 1024
#define SL_CHANNEL_STEP_MS 5000 /* one connect or hello */

static int sl_channel_timeout_s(void)
{
    const char *text = getenv("SLINFER_CONNECT_TIMEOUT");
    long v = text != NULL ? strtol(text, NULL, 10) : 0;
    return v >= 1 && v <= 86400 ? (int)v : 120;
}

/* Frames are read and written blocking, by threads of their own (core/net
 * tunes sockets non-blocking, for the deadlines of the handshake). */
static void sl_channel_blocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
}

/* "NONCE PORT ADDR...": rank 0's addresses as core/net lists them. */
static sl_status_t sl_channel_line(uint64_t nonce, int port, char *line, size_t size)
{
    snprintf(line, size, "%llu %d", (unsigned long long)nonce, port);
    return sl_net_local_addresses(line, size);
}

/* ---- rank 0 ------------------------------------------------------------------------- */

/* Sets how long a blocking read may wait (0: forever). */
static void sl_channel_read_timeout(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Accepts one connection and its HELLO: the peer's rank (*fd_p its socket),
 * or -1. */
static int sl_channel_accept(int listener, int size, uint64_t nonce, const int *fds,
                             long long deadline, int *fd_p)
{
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    uint8_t *buf = NULL;
    size_t cap = 0, len;
    sl_wire_type_t type;
    int rank = -1;

    if (fd < 0)
        return -1;
    sl_net_tune(fd);
    sl_channel_blocking(fd);
    long long step = sl_net_now_ms() + SL_CHANNEL_STEP_MS;
    /* A connection that sends half a hello must not hold rank 0 up. */
    sl_channel_read_timeout(fd, SL_CHANNEL_STEP_MS);
    if (sl_net_wait(fd, POLLIN, step < deadline ? step : deadline) > 0 &&
        sl_wire_recv(fd, &buf, &cap, &type, &len) == SL_OK && type == SL_WIRE_HELLO) {
        sl_io_cursor_t r = {.p = buf, .len = len};
        uint32_t version = sl_io_get_u32(&r), peer = sl_io_get_u32(&r);
        uint64_t their = sl_io_get_u64(&r);
        if (!r.bad && version == SL_WIRE_VERSION && their == nonce && peer >= 1 &&
            peer < (uint32_t)size && fds[peer] < 0)
            rank = (int)peer;
    }
    free(buf);
    if (rank < 0) {
        sl_debug("DP channel: ignoring a connection that is not a peer of this job");
        close(fd);
        return -1;
    }
    sl_channel_read_timeout(fd, 0);
    *fd_p = fd;
    return rank;
}

static sl_status_t sl_channel_serve(sl_boot_t *boot, int **fds_p)
{
    int size = sl_boot_size(boot), missing = size - 1, timeout = sl_channel_timeout_s();
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t alen = sizeof(addr);
    char line[SL_CHANNEL_LINE_MAX];
    uint64_t nonce = 0;
    void *echo = NULL;
    size_t echo_len;
    int *fds = malloc((size_t)size * sizeof(*fds)), listener;
    sl_status_t s = SL_ERR_BOOTSTRAP;

    if (fds == NULL) {
        sl_error("out of memory for %d DP channels", size);
        return SL_ERR_NO_MEMORY;
    }
    for (int r = 0; r < size; r++)
        fds[r] = -1;
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(listener, size < 4096 ? size : 4096) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &alen) != 0) {
        sl_error("DP channel: cannot listen on a TCP port: %s", strerror(errno));
        goto out;
    }
    if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
        nonce = (uint64_t)sl_net_now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    if (sl_channel_line(nonce, ntohs(addr.sin_port), line, sizeof(line)) != SL_OK ||
        sl_boot_bcastv(boot, 0, line, strlen(line) + 1, &echo, &echo_len) != SL_OK)
        goto out;
    sl_debug("DP channel: rank 0 listens on port %d", ntohs(addr.sin_port));
    long long deadline = sl_net_now_ms() + 1000LL * timeout;
    while (missing > 0) {
        int ready = sl_net_wait(listener, POLLIN, deadline);
        if (ready <= 0) {
            sl_error("DP channel: %d of %d ranks did not connect to rank 0 within %d s "
                     "(SLINFER_CONNECT_TIMEOUT)", missing, size - 1, timeout);
            goto out;
        }
        int fd, rank = sl_channel_accept(listener, size, nonce, fds, deadline, &fd);
        if (rank >= 0) {
            fds[rank] = fd;
            missing--;
        }
    }
    s = SL_OK;
out:
    free(echo);
    if (listener >= 0)
        close(listener);
    if (s != SL_OK) {
        for (int r = 1; r < size; r++)
            if (fds[r] >= 0)
                close(fds[r]);
        free(fds);
        return s;
    }
    *fds_p = fds;
    return SL_OK;
}

/* ---- the other ranks ------------------------------------------------------------------ */

static sl_status_t sl_channel_join(sl_boot_t *boot, int *fd_p)
{
    void *data = NULL;
    size_t len;
    unsigned long long nonce;
    int port, used, fd = -1;
    const char *p;
    sl_io_buf_t w = {0};

    if (sl_boot_bcastv(boot, 0, NULL, 0, &data, &len) != SL_OK)
        return SL_ERR_BOOTSTRAP;
    if (sscanf(data, "%llu %d%n", &nonce, &port, &used) != 2) {
        sl_error("DP channel: rank 0 sent a malformed address line '%.60s'", (char *)data);
        free(data);
        return SL_ERR_BOOTSTRAP;
    }
    for (p = (const char *)data + used; fd < 0 && *p != '\0';) {
        char ip[INET_ADDRSTRLEN + 1];
        int n = 0;
        if (sscanf(p, " %16s%n", ip, &n) != 1)
            break;
        p += n;
        fd = sl_net_connect(ip, port, sl_net_now_ms() + SL_CHANNEL_STEP_MS);
    }
    if (fd < 0) {
        sl_error("DP channel: cannot reach rank 0 at any of '%s'", (char *)data);
        free(data);
        return SL_ERR_BOOTSTRAP;
    }
    free(data);
    sl_channel_blocking(fd);
    sl_io_put_u32(&w, SL_WIRE_VERSION);
    sl_io_put_u32(&w, (uint32_t)sl_boot_rank(boot));
    sl_io_put_u64(&w, nonce);
    sl_status_t s = sl_wire_send(fd, SL_WIRE_HELLO, &w);
    sl_io_buf_free(&w);
    if (s != SL_OK) {
        sl_error("DP channel: the hello to rank 0 failed: %s", strerror(errno));
        close(fd);
        return SL_ERR_BOOTSTRAP;
    }
    *fd_p = fd;
    return SL_OK;
}

sl_status_t sl_server_channel_setup(sl_boot_t *boot, int **fds_p, int *fd_p)
{
    return sl_boot_rank(boot) == 0 ? sl_channel_serve(boot, fds_p) : sl_channel_join(boot, fd_p);
}
