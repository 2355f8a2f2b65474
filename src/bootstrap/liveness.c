/* liveness.c - see liveness.h. */
#include "config.h"

#include "bootstrap/liveness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/net.h"

#define SL_LIVENESS_KEY        "sl.liveness"
#define SL_LIVENESS_HELLO      "slinfer-liveness-1"
#define SL_LIVENESS_GOODBYE    'B'
#define SL_LIVENESS_STEP_MS    5000 /* one connect or handshake attempt */
#define SL_LIVENESS_LINE_MAX   512

struct sl_liveness {
    sl_boot_t *boot;
    int *fds;          /* rank 0: [size], -1 once gone; peers: [1], rank 0  */
    char **hosts;      /* rank 0: [size] peer hostnames from the hello      */
    int nfds;
    int wake[2];       /* pipe: stop the watcher                            */
    pthread_t thread;
    int thread_started;
};

static int sl_liveness_connect_timeout(void)
{
    const char *text = getenv("SLINFER_CONNECT_TIMEOUT");
    char *end;
    long value;

    if (text == NULL || text[0] == '\0')
        return SL_LIVENESS_CONNECT_TIMEOUT_DEFAULT;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < 1 || value > 86400) {
        sl_warn("SLINFER_CONNECT_TIMEOUT='%s' is not 1..86400 seconds; using %d", text,
                SL_LIVENESS_CONNECT_TIMEOUT_DEFAULT);
        return SL_LIVENESS_CONNECT_TIMEOUT_DEFAULT;
    }
    return (int)value;
}

/* The job's identity in the handshake: the PMIx namespace is unique per
 * srun step. */
static const char *sl_liveness_job(void)
{
    const char *nspace = getenv("PMIX_NAMESPACE");
    return nspace != NULL && nspace[0] != '\0' ? nspace : "-";
}

/* ---- the watcher thread ---------------------------------------------------- */

static void *sl_liveness_watch(void *arg)
{
    sl_liveness_t *live = arg;
    sl_boot_t *boot = live->boot;
    struct pollfd *p = calloc((size_t)live->nfds + 1, sizeof(*p));

    if (p == NULL) {
        sl_error("liveness: out of memory; this rank no longer watches its peers");
        return NULL;
    }
    for (;;) {
        int watched = 0;
        p[0] = (struct pollfd){.fd = live->wake[0], .events = POLLIN};
        for (int i = 0; i < live->nfds; i++) {
            p[i + 1] = (struct pollfd){.fd = live->fds[i], .events = POLLIN};
            watched += live->fds[i] >= 0;
        }
        if (watched == 0)
            break;
        if (poll(p, (nfds_t)live->nfds + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            sl_error("liveness: poll failed: %s; no longer watching peers", strerror(errno));
            break;
        }
        if (p[0].revents != 0)
            break; /* sl_liveness_stop() */
        for (int i = 0; i < live->nfds; i++) {
            char byte;
            ssize_t n;
            if (live->fds[i] < 0 || p[i + 1].revents == 0)
                continue;
            n = recv(live->fds[i], &byte, 1, 0);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n == 1 && byte == SL_LIVENESS_GOODBYE) {
                /* That rank finished its part cleanly. */
                close(live->fds[i]);
                live->fds[i] = -1;
                continue;
            }
            char why[SL_LIVENESS_LINE_MAX];
            int peer = boot->rank == 0 ? i : 0;
            const char *host = live->hosts[i];
            snprintf(why, sizeof(why),
                     "rank %d on %s died or exited without finishing (its connection %s; %s)",
                     peer, host != NULL ? host : "?",
                     n == 0 ? "closed" : "failed",
                     n == 0 ? "killed, crashed or exited early" : strerror(errno));
            sl_boot_abort(boot, 1, why);
        }
    }
    free(p);
    return NULL;
}

/* ---- rank 0 ------------------------------------------------------------------ */

/* Many ranks need many descriptors on rank 0: raise the soft limit. */
static void sl_liveness_raise_fd_limit(int needed)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < (rlim_t)needed + 64) {
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
            sl_warn("liveness: cannot raise the open-file limit for %d peers: %s", needed,
                    strerror(errno));
    }
}

/* Accepts one connection and reads its hello; returns its rank or -1. */
static int sl_liveness_accept_one(sl_liveness_t *live, int listener, long long deadline_ms)
{
    char line[SL_LIVENESS_LINE_MAX], job[256], host[SL_BOOT_HOSTNAME_MAX];
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC), rank;

    if (fd < 0)
        return -1;
    sl_net_tune(fd);
    long long step = sl_net_now_ms() + SL_LIVENESS_STEP_MS;
    if (sl_net_read_line(fd, line, sizeof(line), step < deadline_ms ? step : deadline_ms) !=
            SL_OK ||
        sscanf(line, SL_LIVENESS_HELLO " %255s %d %255s", job, &rank, host) != 3 ||
        strcmp(job, sl_liveness_job()) != 0 || rank < 1 || rank >= live->boot->size ||
        live->fds[rank] >= 0) {
        sl_debug("liveness: ignoring a connection that is not a peer of this job ('%.60s')",
                 line);
        close(fd);
        return -1;
    }
    snprintf(line, sizeof(line), "ok %s\n", live->boot->my_hostname);
    if (sl_net_write_all(fd, line, strlen(line), SL_LIVENESS_STEP_MS) != SL_OK) {
        close(fd);
        return -1;
    }
    live->fds[rank] = fd;
    live->hosts[rank] = strdup(host);
    return rank;
}

static sl_status_t sl_liveness_serve(sl_liveness_t *live, int timeout_s)
{
    sl_boot_t *boot = live->boot;
    char line[SL_LIVENESS_LINE_MAX];
    sl_status_t status = SL_ERR_BOOTSTRAP;
    int listener, port = 0, missing = boot->size - 1;
    long long deadline = sl_net_now_ms() + 1000LL * timeout_s;

    sl_liveness_raise_fd_limit(boot->size);
    listener = sl_net_listen_any(boot->size, &port);
    if (listener < 0) {
        sl_error("liveness: cannot listen on a TCP port: %s", strerror(errno));
        goto out;
    }
    snprintf(line, sizeof(line), "%d", port);
    if (sl_net_local_addresses(line, sizeof(line)) != SL_OK ||
        boot->ops->publish(boot, SL_LIVENESS_KEY, line) != SL_OK)
        goto out;
    sl_debug("liveness: rank 0 listens at %s", line);

    while (missing > 0) {
        int ready = sl_net_wait(listener, POLLIN, deadline);
        if (ready < 0) {
            sl_error("liveness: waiting for peers failed: %s", strerror(errno));
            goto out;
        }
        if (ready == 0) {
            char ranks[256] = "";
            size_t used = 0;
            for (int r = 1; r < boot->size && used + 16 < sizeof(ranks); r++)
                if (live->fds[r] < 0)
                    used += (size_t)snprintf(ranks + used, sizeof(ranks) - used, "%s%d",
                                             used ? ", " : "", r);
            sl_error("liveness: %d of %d ranks never connected to rank 0 within %d s (ranks "
                     "%s): they died while starting, or start slower than "
                     "SLINFER_CONNECT_TIMEOUT allows",
                     missing, boot->size - 1, timeout_s, ranks);
            goto out;
        }
        if (sl_liveness_accept_one(live, listener, deadline) >= 0)
            missing--;
    }
    status = SL_OK;
out:
    if (listener >= 0)
        close(listener);
    return status;
}

/* ---- the other ranks -------------------------------------------------------- */

static int sl_liveness_try(const char *ip, int port, sl_liveness_t *live)
{
    const sl_boot_t *boot = live->boot;
    char line[SL_LIVENESS_LINE_MAX], host[SL_BOOT_HOSTNAME_MAX];
    long long deadline = sl_net_now_ms() + SL_LIVENESS_STEP_MS;
    int fd = sl_net_connect(ip, port, deadline);

    if (fd < 0) {
        sl_debug("liveness: rank 0 not reachable at %s:%d: %s", ip, port, strerror(errno));
        return -1;
    }
    snprintf(line, sizeof(line), SL_LIVENESS_HELLO " %s %d %s\n", sl_liveness_job(), boot->rank,
             boot->my_hostname);
    if (sl_net_write_all(fd, line, strlen(line), SL_LIVENESS_STEP_MS) != SL_OK ||
        sl_net_read_line(fd, line, sizeof(line), deadline) != SL_OK ||
        sscanf(line, "ok %255s", host) != 1) {
        sl_debug("liveness: no handshake from %s:%d", ip, port);
        close(fd);
        return -1;
    }
    live->hosts[0] = strdup(host);
    return fd;
}

static sl_status_t sl_liveness_join(sl_liveness_t *live, int timeout_s)
{
    sl_boot_t *boot = live->boot;
    char *line = NULL, *save = NULL;
    sl_status_t status = boot->ops->lookup(boot, 0, SL_LIVENESS_KEY, timeout_s, &line);

    if (status != SL_OK)
        return status;
    char *tok = strtok_r(line, " ", &save);
    int port = tok != NULL ? atoi(tok) : 0;
    while (port > 0 && (tok = strtok_r(NULL, " ", &save)) != NULL)
        if ((live->fds[0] = sl_liveness_try(tok, port, live)) >= 0)
            break;
    if (live->fds[0] < 0) {
        sl_error("liveness: cannot reach rank 0 at any of its addresses (port %d); is a "
                 "firewall between the nodes? (SLINFER_LOG_LEVEL=debug shows each try)",
                 port);
        status = SL_ERR_BOOTSTRAP;
    }
    free(line);
    return status;
}

/* ---- start / stop ------------------------------------------------------------ */

sl_status_t sl_liveness_start(sl_boot_t *boot, sl_liveness_t **live_p)
{
    int timeout_s = sl_liveness_connect_timeout();
    long long t0 = sl_net_now_ms();
    sl_liveness_t *live = calloc(1, sizeof(*live));
    sl_status_t status = SL_ERR_NO_MEMORY;

    if (live == NULL)
        goto err_nomem;
    live->boot = boot;
    live->wake[0] = live->wake[1] = -1;
    live->nfds = boot->rank == 0 ? boot->size : 1;
    live->fds = malloc((size_t)live->nfds * sizeof(*live->fds));
    live->hosts = calloc((size_t)live->nfds, sizeof(*live->hosts));
    if (live->fds == NULL || live->hosts == NULL || pipe2(live->wake, O_CLOEXEC) != 0)
        goto err_nomem;
    for (int i = 0; i < live->nfds; i++)
        live->fds[i] = -1;

    status = boot->rank == 0 ? sl_liveness_serve(live, timeout_s)
                              : sl_liveness_join(live, timeout_s);
    if (status != SL_OK)
        goto err_free;
    if (pthread_create(&live->thread, NULL, sl_liveness_watch, live) != 0) {
        sl_error("liveness: cannot start the watcher thread");
        status = SL_ERR_BOOTSTRAP;
        goto err_free;
    }
    live->thread_started = 1;
    sl_debug("liveness: %s in %lld ms",
             boot->rank == 0 ? "every peer connected" : "connected to rank 0",
             sl_net_now_ms() - t0);
    *live_p = live;
    return SL_OK;

err_nomem:
    sl_error("liveness: out of memory");
err_free:
    sl_liveness_stop(live);
    return status;
}

void sl_liveness_stop(sl_liveness_t *live)
{
    static const char goodbye = SL_LIVENESS_GOODBYE;

    if (live == NULL)
        return;
    if (live->thread_started) {
        if (write(live->wake[1], "x", 1) < 0)
            sl_warn("liveness: cannot wake the watcher: %s", strerror(errno));
        pthread_join(live->thread, NULL);
    }
    for (int i = 0; live->fds != NULL && i < live->nfds; i++) {
        if (live->fds[i] < 0)
            continue;
        /* Best effort: a peer that already left does not need it. */
        (void)sl_net_write_all(live->fds[i], &goodbye, 1, SL_LIVENESS_STEP_MS);
        close(live->fds[i]);
    }
    for (int i = 0; live->hosts != NULL && i < live->nfds; i++)
        free(live->hosts[i]);
    if (live->wake[0] >= 0)
        close(live->wake[0]);
    if (live->wake[1] >= 0)
        close(live->wake[1]);
    free(live->hosts);
    free(live->fds);
    free(live);
}
