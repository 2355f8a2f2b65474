/* star.c - hubs and their members over TCP; see star.h. */
#include "config.h"

#include "comm/star.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"

#define SL_STAR_LINE_MAX 1024
#define SL_STAR_STEP_MS 5000 /* one connect or hello */
#define SL_STAR_MAGIC 0x54534c53u /* "SLST" */
#define SL_STAR_VERSION 1u

/* What a member says first; the host's byte order (one binary per job). */
typedef struct sl_star_hello {
    uint32_t magic, version;
    int32_t rank, hub;
    uint64_t nonce;
} sl_star_hello_t;

static int sl_star_timeout_s(void)
{
    const char *text = getenv("SLINFER_CONNECT_TIMEOUT");
    long v = text != NULL ? strtol(text, NULL, 10) : 0;
    return v >= 1 && v <= 86400 ? (int)v : 120;
}

/* After the handshake the callers read and write blocking, by threads of
 * their own (core/net tunes sockets non-blocking, for the deadlines). */
static void sl_star_blocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
}

/* ---- the hub ------------------------------------------------------------------------ */

/* Accepts one connection and its hello: the member's rank (*fd_p its
 * socket), or -1 for anything that is not an awaited member. */
static int sl_star_accept(int listener, const sl_star_t *star, int self, int size,
                          const int *hub_of, uint64_t nonce, long long deadline, int *fd_p)
{
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    sl_star_hello_t h;
    long long step = sl_net_now_ms() + SL_STAR_STEP_MS;

    if (fd < 0)
        return -1;
    sl_net_tune(fd);
    /* A connection that sends half a hello must not hold the hub up. */
    if (sl_net_read_all(fd, &h, sizeof(h), step < deadline ? step : deadline) != SL_OK ||
        h.magic != SL_STAR_MAGIC || h.version != SL_STAR_VERSION || h.nonce != nonce ||
        h.hub != self || h.rank < 0 || h.rank >= size || hub_of[h.rank] != self ||
        star->fds[h.rank] >= 0) {
        sl_debug("ignoring a connection that is not an awaited member");
        close(fd);
        return -1;
    }
    sl_star_blocking(fd);
    *fd_p = fd;
    return h.rank;
}

/* Listens and publishes this hub's line in the allgather; accepts its members. */
static sl_status_t sl_star_serve(sl_boot_t *boot, const char *name, sl_star_t *star)
{
    const int self = sl_boot_rank(boot), size = sl_boot_size(boot);
    char line[SL_STAR_LINE_MAX];
    uint64_t nonce = 0;
    sl_boot_blobs_t *blobs = NULL;
    int *hub_of = calloc((size_t)size, sizeof(*hub_of)), timeout = sl_star_timeout_s();
    int port = 0, listener = sl_net_listen_any(size, &port);
    int missing = 0;
    sl_status_t s = SL_ERR_BOOTSTRAP;

    if (hub_of == NULL) {
        sl_error("%s: out of memory", name);
        s = SL_ERR_NO_MEMORY;
        goto out;
    }
    if (listener < 0) {
        sl_error("%s: cannot listen on a TCP port: %s", name, strerror(errno));
        goto out;
    }
    if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
        nonce = (uint64_t)sl_net_now_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    snprintf(line, sizeof(line), "%d %llu %d", self, (unsigned long long)nonce, port);
    if (sl_net_local_addresses(line, sizeof(line)) != SL_OK ||
        sl_boot_allgatherv(boot, line, strlen(line), &blobs) != SL_OK)
        goto out;
    for (int r = 0; r < size; r++) {
        hub_of[r] = atoi(blobs->data[r]);
        missing += r != self && hub_of[r] == self;
    }
    sl_debug("%s: rank %d listens on port %d for %d member(s)", name, self, port, missing);
    long long deadline = sl_net_now_ms() + 1000LL * timeout;
    while (missing > 0) {
        if (sl_net_wait(listener, POLLIN, deadline) <= 0) {
            sl_error("%s: %d member(s) did not connect to rank %d within %d s "
                     "(SLINFER_CONNECT_TIMEOUT)",
                     name, missing, self, timeout);
            goto out;
        }
        int fd, rank = sl_star_accept(listener, star, self, size, hub_of, nonce, deadline, &fd);
        if (rank >= 0) {
            star->fds[rank] = fd;
            star->members++;
            missing--;
        }
    }
    s = SL_OK;
out:
    sl_boot_blobs_free(blobs);
    free(hub_of);
    if (listener >= 0)
        close(listener);
    return s;
}

/* ---- a member ----------------------------------------------------------------------- */

/* Takes part in the allgather; a member then connects to its hub. */
static sl_status_t sl_star_join(sl_boot_t *boot, const char *name, sl_star_t *star)
{
    char mine[16];
    sl_boot_blobs_t *blobs = NULL;
    unsigned long long nonce;
    int hub_rank = -1, port, used, fd = -1;
    const char *line, *p;

    snprintf(mine, sizeof(mine), "%d", star->hub);
    if (sl_boot_allgatherv(boot, mine, strlen(mine), &blobs) != SL_OK)
        return SL_ERR_BOOTSTRAP;
    if (star->hub < 0) {
        sl_boot_blobs_free(blobs);
        return SL_OK;
    }
    line = blobs->data[star->hub];
    if (sscanf(line, "%d %llu %d%n", &hub_rank, &nonce, &port, &used) != 3 ||
        hub_rank != star->hub) {
        sl_error("%s: rank %d is not a hub (it sent '%.60s')", name, star->hub, line);
        sl_boot_blobs_free(blobs);
        return SL_ERR_BOOTSTRAP;
    }
    for (p = line + used; fd < 0 && *p != '\0';) {
        char ip[INET_ADDRSTRLEN + 1];
        int n = 0;
        if (sscanf(p, " %16s%n", ip, &n) != 1)
            break;
        p += n;
        fd = sl_net_connect(ip, port, sl_net_now_ms() + SL_STAR_STEP_MS);
    }
    if (fd < 0) {
        sl_error("%s: cannot reach rank %d at any of '%s'", name, star->hub, line);
        sl_boot_blobs_free(blobs);
        return SL_ERR_BOOTSTRAP;
    }
    sl_boot_blobs_free(blobs);
    sl_star_hello_t h = {.magic = SL_STAR_MAGIC, .version = SL_STAR_VERSION,
                         .rank = sl_boot_rank(boot), .hub = star->hub, .nonce = nonce};
    if (sl_net_write_all(fd, &h, sizeof(h), SL_STAR_STEP_MS) != SL_OK) {
        sl_error("%s: the hello to rank %d failed: %s", name, star->hub, strerror(errno));
        close(fd);
        return SL_ERR_BOOTSTRAP;
    }
    sl_star_blocking(fd);
    star->fd = fd;
    return SL_OK;
}

sl_status_t sl_star_setup(sl_boot_t *boot, const char *name, int hub, sl_star_t *star_p)
{
    const int self = sl_boot_rank(boot), size = sl_boot_size(boot);
    sl_star_t star = {.hub = hub >= 0 && hub < size ? hub : -1, .size = size, .fd = -1};
    sl_status_t s;

    if (hub >= size) {
        sl_error("%s: rank %d names hub %d of a job of %d ranks", name, self, hub, size);
        return SL_ERR_INVALID_ARG;
    }
    if (star.hub == self) {
        if ((star.fds = malloc((size_t)size * sizeof(*star.fds))) == NULL) {
            sl_error("%s: out of memory", name);
            return SL_ERR_NO_MEMORY;
        }
        for (int r = 0; r < size; r++)
            star.fds[r] = -1;
        s = sl_star_serve(boot, name, &star);
    } else {
        s = sl_star_join(boot, name, &star);
    }
    if (s != SL_OK) {
        sl_star_close(&star);
        return s;
    }
    *star_p = star;
    return SL_OK;
}

void sl_star_close(sl_star_t *star)
{
    for (int r = 0; star->fds != NULL && r < star->size; r++)
        if (star->fds[r] >= 0)
            close(star->fds[r]);
    free(star->fds);
    star->fds = NULL;
    if (star->fd >= 0)
        close(star->fd);
    star->fd = -1;
    star->members = 0;
}
