/* tp_link.c - a TP group's leader to its followers; see tp_link.h. */
#include "config.h"

#include "comm/tp_link.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "comm/star.h"
#include "core/log.h"
#include "core/net.h"

#define SL_TP_LINK_SEND_MS 60000 /* a follower that takes nothing for this long is stuck */

struct sl_tp_link {
    sl_star_t star;
    bool leader;
    void *buf; /* a follower's last frame */
    size_t cap;
};

sl_status_t sl_tp_link_open(sl_boot_t *boot, int leader, sl_tp_link_t **link_p)
{
    sl_tp_link_t *link = NULL;
    sl_star_t star;

    if (sl_star_setup(boot, "TP link", leader, &star) != SL_OK)
        return SL_ERR_BOOTSTRAP;
    if (leader < 0) {
        sl_star_close(&star);
        *link_p = NULL;
        return SL_OK;
    }
    if ((link = calloc(1, sizeof(*link))) == NULL) {
        sl_error("TP link: out of memory");
        sl_star_close(&star);
        return SL_ERR_NO_MEMORY;
    }
    link->star = star;
    link->leader = leader == sl_boot_rank(boot);
    *link_p = link;
    return SL_OK;
}

bool sl_tp_link_is_leader(const sl_tp_link_t *link)
{
    return link->leader;
}

int sl_tp_link_followers(const sl_tp_link_t *link)
{
    return link->leader ? link->star.members : 0;
}

sl_status_t sl_tp_link_send(sl_tp_link_t *link, const void *buf, size_t len)
{
    uint64_t head = len;
    const struct iovec frame[2] = {{.iov_base = &head, .iov_len = sizeof(head)},
                                   {.iov_base = (void *)buf, .iov_len = len}};

    for (int r = 0; r < link->star.size; r++) {
        int fd = link->star.fds[r];
        if (fd < 0)
            continue;
        if (sl_net_writev_all(fd, frame, 2, SL_TP_LINK_SEND_MS) != SL_OK) {
            sl_error("TP link: rank %d does not take the step (%s): it died or hangs", r,
                     errno != 0 ? strerror(errno) : "closed");
            return SL_ERR_IO;
        }
    }
    return SL_OK;
}

sl_status_t sl_tp_link_recv(sl_tp_link_t *link, const void **buf_p, size_t *len_p)
{
    uint64_t head;
    size_t got;

    if (sl_net_recv_all(link->star.fd, &head, sizeof(head), &got) != SL_OK) {
        sl_error("TP link: the leader (rank %d) went away%s", link->star.hub,
                 got == 0 ? " without saying stop" : " in the middle of a frame");
        return SL_ERR_IO;
    }
    if (head > SL_TP_LINK_MAX_FRAME) {
        sl_error("TP link: a frame of %llu bytes from rank %d (at most %zu)",
                 (unsigned long long)head, link->star.hub, SL_TP_LINK_MAX_FRAME);
        return SL_ERR_IO;
    }
    if (head > link->cap) {
        void *p = realloc(link->buf, (size_t)head);
        if (p == NULL) {
            sl_error("TP link: out of memory for a frame of %llu bytes",
                     (unsigned long long)head);
            return SL_ERR_NO_MEMORY;
        }
        link->buf = p;
        link->cap = (size_t)head;
    }
    if (sl_net_recv_all(link->star.fd, link->buf, (size_t)head, NULL) != SL_OK) {
        sl_error("TP link: the leader (rank %d) went away in the middle of a frame",
                 link->star.hub);
        return SL_ERR_IO;
    }
    *buf_p = link->buf;
    *len_p = (size_t)head;
    return SL_OK;
}

void sl_tp_link_close(sl_tp_link_t *link)
{
    if (link == NULL)
        return;
    sl_star_close(&link->star);
    free(link->buf);
    free(link);
}
