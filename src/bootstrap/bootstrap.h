/*
 * bootstrap.h - who am I, who are my peers, and small collectives among them.
 *
 * The bootstrap runs once at start-up: it tells each process its rank, the
 * job size, its node and its place on that node, the hostname of every rank,
 * and exchanges small blobs (version strings, NCCL unique ids, addresses)
 * with bcast/allgather/barrier. It is not a data path: every collective is a
 * launcher round trip (about a millisecond, growing with the number of
 * collectives before it under PMIx), meant for tens of calls per run.
 *
 * Backends (one file each, behind a vtable):
 *   pmix    the process was started by a PMIx launcher (`srun --mpi=pmix`,
 *           mpirun/prterun); chosen by "auto" when PMIX_NAMESPACE is set.
 *   env     ranks started without a launcher: SLINFER_RANK, SLINFER_WORLD_SIZE
 *           and SLINFER_COORDINATOR=HOST:PORT (rank 0 listens there); chosen
 *           by "auto" when SLINFER_COORDINATOR is set and PMIx is not.
 *   single  one rank alone (no launcher, or `--bootstrap single`).
 * "auto" refuses to guess inside an srun step without PMIx (several tasks
 * would each think they are rank 0): it fails with a message telling the user
 * to add `--mpi=pmix`. A one-task step (SLURM_STEP_NUM_TASKS=1) runs single.
 *
 * Node ids number the distinct hostnames in order of first appearance by
 * rank (rank 0's node is 0); local rank/size count the ranks sharing a node.
 * The launcher's own values (PMIX_NODEID, PMIX_LOCAL_RANK, ...) are used
 * where it provides them, the hostname-derived ones otherwise.
 *
 * Collectives must be called by every rank, in the same order, with the same
 * root. A collective that fails (a peer died, the launcher gave up, the
 * timeout SLINFER_BOOT_TIMEOUT - default 300 s - expired) logs what happened
 * and returns SL_ERR_BOOTSTRAP; the caller should then sl_boot_abort().
 *
 * Not thread-safe: one thread uses the bootstrap at a time.
 */
#ifndef SL_BOOTSTRAP_BOOTSTRAP_H
#define SL_BOOTSTRAP_BOOTSTRAP_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_boot sl_boot_t;

/* What sl_boot_allgatherv() returns: rank r's blob is data[r], len[r] bytes,
 * followed by one extra '\0' (not counted in len[r]) so text blobs can be
 * used as strings. One allocation; free it with sl_boot_blobs_free(). */
typedef struct sl_boot_blobs {
    int          count; /* number of ranks          */
    size_t      *len;   /* [count]                  */
    const void **data;  /* [count], never NULL      */
} sl_boot_blobs_t;

/* Starts the bootstrap. backend_name is "auto", "pmix", "env" or "single" (NULL
 * means "auto"). On success *boot_p is set and the log prefix carries the
 * rank (sl_log_set_rank). Errors: SL_ERR_INVALID_ARG (unknown backend name,
 * bad SLINFER_BOOT_TIMEOUT), SL_ERR_BOOTSTRAP (no PMIx where needed, PMIx
 * failure, inconsistent job information), SL_ERR_NO_MEMORY. A failure after
 * this rank joined a job of several ranks aborts the whole job (the others
 * would otherwise wait for it) and does not return. */
sl_status_t sl_boot_init(const char *backend_name, sl_boot_t **boot_p);

/* Leaves the launcher's job (PMIx_Finalize) and frees everything. NULL is a
 * no-op. Call it on every rank, after the last collective. */
void sl_boot_finalize(sl_boot_t *boot);

/* Name of the backend in use: "pmix", "env" or "single". */
const char *sl_boot_backend_name(const sl_boot_t *boot);

int sl_boot_rank(const sl_boot_t *boot);
int sl_boot_size(const sl_boot_t *boot);
int sl_boot_local_rank(const sl_boot_t *boot); /* 0 .. local_size-1      */
int sl_boot_local_size(const sl_boot_t *boot); /* ranks on this node     */
int sl_boot_node_id(const sl_boot_t *boot);    /* 0 .. num_nodes-1       */
int sl_boot_num_nodes(const sl_boot_t *boot);

/* Hostname of this rank / of rank `rank` (NULL when out of range). The
 * strings live as long as the bootstrap. */
const char *sl_boot_hostname(const sl_boot_t *boot);
const char *sl_boot_hostname_of(const sl_boot_t *boot, int rank);

/* Sets how long a collective waits for the slowest rank (0 = forever;
 * initially SLINFER_BOOT_TIMEOUT, default 300 s). Raise it around phases
 * where ranks legitimately drift apart (e.g. a barrier after loading a model
 * from a slow file system). Local: every rank should set the same value.
 * SL_ERR_INVALID_ARG outside 0..604800. */
sl_status_t sl_boot_set_timeout(sl_boot_t *boot, int seconds);

/* Blocks until every rank has entered the barrier. With pmix it also checks
 * that every rank is still alive (a fence alone completes without a rank
 * that died; see boot_pmix.c). */
sl_status_t sl_boot_barrier(sl_boot_t *boot);

/* Copies root's len bytes at buf into buf on every rank. Every rank passes
 * the same len; a rank whose len differs from root's gets SL_ERR_MISMATCH
 * (and buf untouched). */
sl_status_t sl_boot_bcast(sl_boot_t *boot, void *buf, size_t len, int root);

/* Variable-size broadcast: root passes buf/len (others pass NULL/0, ignored);
 * every rank, root included, gets a malloc'ed copy in *data_p (with one
 * extra '\0' past the end, not counted) and its size in *len_p. The caller
 * free()s *data_p. */
sl_status_t sl_boot_bcastv(sl_boot_t *boot, int root, const void *buf,
                           size_t len, void **data_p, size_t *len_p);

/* Fixed-size allgather: every rank passes len bytes; recvbuf (size * len
 * bytes) receives rank r's bytes at offset r * len. A rank that passed a
 * different len makes the others fail with SL_ERR_MISMATCH. */
sl_status_t sl_boot_allgather(sl_boot_t *boot, const void *sendbuf,
                              size_t len, void *recvbuf);

/* Variable-size allgather: each rank contributes len bytes at buf (len may
 * be 0); *blobs_p receives every rank's blob (see sl_boot_blobs_t). */
sl_status_t sl_boot_allgatherv(sl_boot_t *boot, const void *buf, size_t len,
                               sl_boot_blobs_t **blobs_p);

/* Frees what sl_boot_allgatherv() returned; NULL is a no-op. */
void sl_boot_blobs_free(sl_boot_blobs_t *blobs);

/* Ends the whole job promptly with a non-zero status: logs `message`, asks
 * the launcher to kill every rank (PMIx_Abort) and exits with exit_status
 * (1 if exit_status is 0). boot may be NULL (exits this process only).
 * Does not return. */
_Noreturn void sl_boot_abort(sl_boot_t *boot, int exit_status,
                             const char *message);

#ifdef __cplusplus
}
#endif

#endif /* SL_BOOTSTRAP_BOOTSTRAP_H */
