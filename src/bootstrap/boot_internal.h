/*
 * boot_internal.h - what the bootstrap front end (bootstrap.c) and its
 * backends (boot_single.c, boot_pmix.c, boot_env.c) share; not for other
 * layers.
 *
 * A backend fills rank and size in init(), plus whatever of local rank/size,
 * node id and node count its launcher provides (-1 where it does not) and
 * this rank's hostname. The front end then allgathers the hostnames through
 * the backend, derives the node layout from them (sl_boot_nodes_map) and
 * fills in what the backend left at -1.
 */
#ifndef SL_BOOTSTRAP_BOOT_INTERNAL_H
#define SL_BOOTSTRAP_BOOT_INTERNAL_H

#include <stddef.h>

#include "bootstrap/bootstrap.h"

#define SL_BOOT_HOSTNAME_MAX 256
#define SL_BOOT_TIMEOUT_DEFAULT 300           /* seconds */
#define SL_BOOT_TIMEOUT_MAX     (7 * 24 * 3600)

typedef struct sl_boot_ops {
    const char *name;
    /* Fills boot->rank, size, the launcher-provided layout (or -1) and
     * my_hostname; sets boot->priv. */
    sl_status_t (*init)(sl_boot_t *boot);
    void (*finalize)(sl_boot_t *boot);
    sl_status_t (*barrier)(sl_boot_t *boot);
    sl_status_t (*bcastv)(sl_boot_t *boot, int root, const void *buf,
                          size_t len, void **data_p, size_t *len_p);
    sl_status_t (*allgatherv)(sl_boot_t *boot, const void *buf, size_t len,
                              sl_boot_blobs_t **blobs_p);
    /* Must not return. */
    void (*abort)(sl_boot_t *boot, int exit_status, const char *message);
    /* Point-to-point start-up exchange without a collective (liveness.c):
     * this rank makes `value` visible under `key`; lookup() waits up to
     * timeout_s for rank `rank`'s value (*value_p: malloc'ed string).
     * NULL in backends of one rank. */
    sl_status_t (*publish)(sl_boot_t *boot, const char *key, const char *value);
    sl_status_t (*lookup)(sl_boot_t *boot, int rank, const char *key, int timeout_s,
                          char **value_p);
} sl_boot_ops_t;

struct sl_boot {
    const sl_boot_ops_t *ops;
    void *priv;                 /* backend state                          */
    int rank;
    int size;
    int local_rank;             /* -1 until known                         */
    int local_size;
    int node_id;
    int num_nodes;
    char my_hostname[SL_BOOT_HOSTNAME_MAX];
    sl_boot_blobs_t *hostnames; /* every rank's hostname (allgathered)    */
    unsigned long seq;          /* collectives so far (unique PMIx keys)  */
    int timeout_s;              /* collective deadline; 0 = none          */
    struct sl_liveness *liveness; /* connections watching peers (size > 1) */
};

extern const sl_boot_ops_t sl_boot_single_ops;
extern const sl_boot_ops_t sl_boot_env_ops;
extern const sl_boot_ops_t sl_boot_pmix_ops;

/* The backend "auto"/"pmix"/"env"/"single"/NULL resolves to in this
 * environment (PMIX_NAMESPACE, SLINFER_COORDINATOR, SLURM_JOB_ID,
 * SLURM_STEP_ID, SLURM_STEP_NUM_TASKS), without
 * starting it. Logs why when it fails: SL_ERR_INVALID_ARG (unknown name),
 * SL_ERR_BOOTSTRAP (srun step without PMIx, "pmix" without PMIx). */
sl_status_t sl_boot_choose(const char *backend_name,
                           const sl_boot_ops_t **ops_p);

/* One block holding the sl_boot_blobs_t, its arrays and count blobs of
 * lens[r] bytes (+1 '\0' each, zeroed); the caller fills the data. */
sl_status_t sl_boot_blobs_alloc(int count, const size_t lens[],
                                sl_boot_blobs_t **blobs_p);

/* Writable pointer to blob r of a block from sl_boot_blobs_alloc(). */
void *sl_boot_blob_ptr(sl_boot_blobs_t *blobs, int r);

/* The node layout implied by the hostnames of ranks 0..size-1 (nodes.c):
 * node_id[r] = index of rank r's host in order of first appearance by rank,
 * local_rank[r] = number of lower ranks on the same host, local_size[r] =
 * ranks on that host, *num_nodes_p = distinct hosts. Hostnames compare
 * exactly (bytewise). O(size log size). The arrays have size entries.
 * SL_ERR_INVALID_ARG if size < 1 or a hostname is NULL or empty;
 * SL_ERR_NO_MEMORY. */
sl_status_t sl_boot_nodes_map(int size, const char *const hostnames[],
                              int node_id[], int local_rank[],
                              int local_size[], int *num_nodes_p);

#endif /* SL_BOOTSTRAP_BOOT_INTERNAL_H */
