/* channel.c - connecting rank 0 with every DP group leader; see channel.h. */
#include "config.h"

#include "server/channel.h"

#include "comm/star.h"

sl_status_t sl_server_channel_setup(sl_boot_t *boot, int leader, int **fds_p, int *fd_p)
{
    sl_star_t star;
    sl_status_t s = sl_star_setup(boot, "DP channel", leader ? 0 : -1, &star);

    if (s != SL_OK)
        return s;
    if (sl_boot_rank(boot) == 0) {
        *fds_p = star.fds; /* the caller's now */
        star.fds = NULL;
    } else {
        *fd_p = star.fd;
        star.fd = -1;
    }
    sl_star_close(&star);
    return SL_OK;
}
