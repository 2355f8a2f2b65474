/* boot_single.c - the "single" bootstrap backend: one rank, no launcher.
 * Collectives are copies; abort exits the process. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/boot_internal.h"
#include "core/log.h"

static sl_status_t sl_boot_single_init(sl_boot_t *boot)
{
    if (gethostname(boot->my_hostname, sizeof(boot->my_hostname)) != 0 ||
        boot->my_hostname[0] == '\0')
        snprintf(boot->my_hostname, sizeof(boot->my_hostname), "localhost");
    boot->my_hostname[sizeof(boot->my_hostname) - 1] = '\0';
    boot->rank = 0;
    boot->size = 1;
    boot->local_rank = 0;
    boot->local_size = 1;
    boot->node_id = 0;
    boot->num_nodes = 1;
    boot->priv = NULL;
    return SL_OK;
}

static void sl_boot_single_finalize(sl_boot_t *boot)
{
    (void)boot;
}

static sl_status_t sl_boot_single_barrier(sl_boot_t *boot)
{
    (void)boot;
    return SL_OK;
}

static sl_status_t sl_boot_single_bcastv(sl_boot_t *boot, int root,
                                         const void *buf, size_t len,
                                         void **data_p, size_t *len_p)
{
    char *data;

    (void)root; /* checked by the front end: 0 */
    data = malloc(len + 1);
    if (data == NULL) {
        sl_error("bootstrap: bcast #%lu: cannot allocate %zu bytes", boot->seq,
                 len + 1);
        return SL_ERR_NO_MEMORY;
    }
    if (len > 0)
        memcpy(data, buf, len);
    data[len] = '\0';
    *data_p = data;
    *len_p = len;
    return SL_OK;
}

static sl_status_t sl_boot_single_allgatherv(sl_boot_t *boot, const void *buf,
                                             size_t len,
                                             sl_boot_blobs_t **blobs_p)
{
    sl_boot_blobs_t *blobs;
    sl_status_t status;

    (void)boot;
    status = sl_boot_blobs_alloc(1, &len, &blobs);
    if (status != SL_OK)
        return status;
    if (len > 0)
        memcpy(sl_boot_blob_ptr(blobs, 0), buf, len);
    *blobs_p = blobs;
    return SL_OK;
}

static void sl_boot_single_abort(sl_boot_t *boot, int exit_status,
                                 const char *message)
{
    (void)boot;
    (void)message; /* logged by the front end */
    exit(exit_status);
}

const sl_boot_ops_t sl_boot_single_ops = {
    .name       = "single",
    .init       = sl_boot_single_init,
    .finalize   = sl_boot_single_finalize,
    .barrier    = sl_boot_single_barrier,
    .bcastv     = sl_boot_single_bcastv,
    .allgatherv = sl_boot_single_allgatherv,
    .abort      = sl_boot_single_abort,
};
