/* net.c - see net.h. */
#include "config.h"

#include "core/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

long long sl_net_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sl_net_tune(int fd)
{
    int on = 1, idle = 10, interval = 5, count = 3;

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

int sl_net_wait(int fd, short events, long long deadline_ms)
{
    for (;;) {
        long long left = deadline_ms - sl_net_now_ms();
        struct pollfd p = {.fd = fd, .events = events};
        if (left <= 0)
            return 0;
        int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

sl_status_t sl_net_read_line(int fd, char *line, size_t size, long long deadline_ms)
{
    size_t used = 0;

    while (used + 1 < size) {
        if (sl_net_wait(fd, POLLIN, deadline_ms) <= 0)
            return SL_ERR_BOOTSTRAP;
        ssize_t n = read(fd, line + used, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return SL_ERR_BOOTSTRAP;
        if (line[used] == '\n') {
            line[used] = '\0';
            return SL_OK;
        }
        used++;
    }
    return SL_ERR_BOOTSTRAP;
}

sl_status_t sl_net_read_all(int fd, void *buf, size_t len, long long deadline_ms)
{
    char *p = buf;

    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            if (sl_net_wait(fd, POLLIN, deadline_ms) <= 0)
                return SL_ERR_BOOTSTRAP;
            continue;
        }
        if (n <= 0)
            return SL_ERR_BOOTSTRAP;
        p += n;
        len -= (size_t)n;
    }
    return SL_OK;
}

sl_status_t sl_net_recv_all(int fd, void *buf, size_t len, size_t *got_p)
{
    char *p = buf;
    size_t got = 0;

    while (got < len) {
        ssize_t n = recv(fd, p + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got_p != NULL)
        *got_p = got;
    return got == len ? SL_OK : SL_ERR_IO;
}

sl_status_t sl_net_write_all(int fd, const void *buf, size_t len, int step_ms)
{
    const struct iovec one = {.iov_base = (void *)buf, .iov_len = len};
    return sl_net_writev_all(fd, &one, 1, step_ms);
}

sl_status_t sl_net_writev_all(int fd, const struct iovec *iov, int count, int step_ms)
{
    struct iovec part[SL_NET_MAX_IOV];
    int n_part = 0;

    if (count < 0 || count > SL_NET_MAX_IOV)
        return SL_ERR_INVALID_ARG;
    for (int i = 0; i < count; i++) /* empty pieces left out */
        if (iov[i].iov_len > 0)
            part[n_part++] = iov[i];
    struct iovec *next = part;
    while (n_part > 0) {
        struct msghdr msg = {.msg_iov = next, .msg_iovlen = (size_t)n_part};
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (sl_net_wait(fd, POLLOUT, sl_net_now_ms() + step_ms) <= 0)
                return SL_ERR_BOOTSTRAP;
            continue;
        }
        if (n <= 0)
            return SL_ERR_BOOTSTRAP;
        /* Past what went out: whole pieces dropped, the next one trimmed. */
        size_t sent = (size_t)n;
        while (n_part > 0 && sent >= next->iov_len) {
            sent -= next->iov_len;
            next++;
            n_part--;
        }
        if (n_part > 0) {
            next->iov_base = (char *)next->iov_base + sent;
            next->iov_len -= sent;
        }
    }
    return SL_OK;
}

int sl_net_listen_any(int backlog, int *port_p)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY)};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(fd, backlog < 4096 ? backlog : 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    *port_p = ntohs(addr.sin_port);
    return fd;
}

sl_status_t sl_net_local_addresses(char *line, size_t size)
{
    struct ifaddrs *ifs, *ifa;
    size_t used = strlen(line);

    if (getifaddrs(&ifs) != 0) {
        sl_error("getifaddrs failed: %s", strerror(errno));
        return SL_ERR_BOOTSTRAP;
    }
    for (int loopback = 0; loopback <= 1; loopback++) {
        for (ifa = ifs; ifa != NULL; ifa = ifa->ifa_next) {
            char text[INET_ADDRSTRLEN];
            if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET ||
                !(ifa->ifa_flags & IFF_UP) || !!(ifa->ifa_flags & IFF_LOOPBACK) != loopback)
                continue;
            inet_ntop(AF_INET, &((struct sockaddr_in *)ifa->ifa_addr)->sin_addr, text,
                      sizeof(text));
            if (used + strlen(text) + 2 < size)
                used += (size_t)snprintf(line + used, size - used, " %s", text);
        }
    }
    freeifaddrs(ifs);
    return SL_OK;
}

int sl_net_connect(const char *ip, int port, long long deadline_ms)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd, err = 0;
    socklen_t err_len = sizeof(err);

    if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sl_net_tune(fd);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS)
        goto fail;
    if (sl_net_wait(fd, POLLOUT, deadline_ms) <= 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0 || err != 0) {
        errno = err != 0 ? err : ETIMEDOUT;
        goto fail;
    }
    return fd;
fail:
    err = errno;
    close(fd);
    errno = err;
    return -1;
}
