/* bootstrap.c - backend selection, the node layout from hostnames, and the
 * argument checks and fixed-size forms of the collectives (see bootstrap.h).
 * The backends (boot_single.c, boot_pmix.c) implement the variable-size
 * collectives only. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/boot_internal.h"
#include "bootstrap/liveness.h"
#include "core/fault.h"
#include "core/log.h"

/* Slurm's special step ids (batch script, extern, interactive...) are all
 * at or above this; real srun steps are numbered from 0. */
#define SL_BOOT_SLURM_SPECIAL_STEP 0xfffffff0UL

static const char *sl_boot_getenv(const char *name)
{
    const char *value = getenv(name);

    return (value != NULL && value[0] != '\0') ? value : NULL;
}

/* The first of two spellings Slurm uses (SLURM_JOB_ID / SLURM_JOBID). */
static const char *sl_boot_getenv2(const char *name, const char *old_name)
{
    const char *value = sl_boot_getenv(name);

    return value != NULL ? value : sl_boot_getenv(old_name);
}

/* True inside a task of an srun step (not the batch script of an sbatch
 * allocation, which has SLURM_JOB_ID but no SLURM_STEP_ID). */
static int sl_boot_in_srun_step(const char **job_p, const char **step_p)
{
    const char *job = sl_boot_getenv2("SLURM_JOB_ID", "SLURM_JOBID");
    const char *step = sl_boot_getenv2("SLURM_STEP_ID", "SLURM_STEPID");
    char *end;
    unsigned long id;

    if (job == NULL || step == NULL)
        return 0;
    errno = 0;
    id = strtoul(step, &end, 10);
    if (errno == 0 && *end == '\0' && id >= SL_BOOT_SLURM_SPECIAL_STEP)
        return 0;
    *job_p = job;
    *step_p = step;
    return 1;
}

sl_status_t sl_boot_choose(const char *backend_name,
                           const sl_boot_ops_t **ops_p)
{
    const char *nspace = sl_boot_getenv("PMIX_NAMESPACE");
    const char *job, *step, *ntasks, *mpi, *procid;

    if (backend_name == NULL || strcmp(backend_name, "auto") == 0) {
        if (nspace != NULL) {
            sl_debug("bootstrap: PMIX_NAMESPACE=%s, using pmix", nspace);
            *ops_p = &sl_boot_pmix_ops;
            return SL_OK;
        }
        if (sl_boot_getenv("SLINFER_COORDINATOR") != NULL) {
            sl_debug("bootstrap: SLINFER_COORDINATOR is set, using env");
            *ops_p = &sl_boot_env_ops;
            return SL_OK;
        }
        if (sl_boot_in_srun_step(&job, &step)) {
            ntasks = sl_boot_getenv("SLURM_STEP_NUM_TASKS");
            if (ntasks != NULL && strcmp(ntasks, "1") == 0) {
                sl_debug("bootstrap: srun step %s.%s has one task and no "
                         "PMIx, using single", job, step);
                *ops_p = &sl_boot_single_ops;
                return SL_OK;
            }
            mpi = sl_boot_getenv("SLURM_MPI_TYPE");
            procid = sl_boot_getenv("SLURM_PROCID");
            /* Every task fails; only task 0 says why (not 1000 times). */
            sl_log_at(procid == NULL || strcmp(procid, "0") == 0
                          ? SL_LOG_ERROR : SL_LOG_DEBUG,
                      "slinfer runs under srun (job %s, step %s, %s tasks%s%s) "
                      "but PMIx is not set up: run `srun --mpi=pmix ...` (or "
                      "set MpiDefault=pmix in slurm.conf); use --bootstrap "
                      "single to run one rank alone",
                      job, step, ntasks != NULL ? ntasks : "?",
                      mpi != NULL ? ", --mpi=" : "", mpi != NULL ? mpi : "");
            return SL_ERR_BOOTSTRAP;
        }
        sl_debug("bootstrap: no PMIx and no srun step, using single");
        *ops_p = &sl_boot_single_ops;
        return SL_OK;
    }
    if (strcmp(backend_name, "pmix") == 0) {
        if (nspace == NULL) {
            sl_error("bootstrap pmix: PMIX_NAMESPACE is not set, so no PMIx "
                     "launcher started this process: start it with `srun "
                     "--mpi=pmix ...` (or mpirun/prterun), or use --bootstrap "
                     "single");
            return SL_ERR_BOOTSTRAP;
        }
        *ops_p = &sl_boot_pmix_ops;
        return SL_OK;
    }
    if (strcmp(backend_name, "single") == 0) {
        *ops_p = &sl_boot_single_ops;
        return SL_OK;
    }
    if (strcmp(backend_name, "env") == 0) {
        *ops_p = &sl_boot_env_ops;
        return SL_OK;
    }
    sl_error("unknown bootstrap backend '%s' (backends: auto, pmix, env, single)",
             backend_name);
    return SL_ERR_INVALID_ARG;
}

/* SLINFER_BOOT_TIMEOUT: whole seconds, 0 = no timeout. */
static sl_status_t sl_boot_parse_timeout(int *timeout_p)
{
    const char *text = sl_boot_getenv("SLINFER_BOOT_TIMEOUT");
    char *end;
    long value;

    if (text == NULL) {
        *timeout_p = SL_BOOT_TIMEOUT_DEFAULT;
        return SL_OK;
    }
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0 ||
        value > SL_BOOT_TIMEOUT_MAX) {
        sl_error("SLINFER_BOOT_TIMEOUT='%s' is not a number of seconds in "
                 "0..%d (0 = no timeout)", text, SL_BOOT_TIMEOUT_MAX);
        return SL_ERR_INVALID_ARG;
    }
    *timeout_p = (int)value;
    return SL_OK;
}

/* --- blobs ---------------------------------------------------------------- */

sl_status_t sl_boot_blobs_alloc(int count, const size_t lens[],
                                sl_boot_blobs_t **blobs_p)
{
    sl_boot_blobs_t *blobs;
    size_t head, total;
    char *bytes;

    if (count < 0 || (size_t)count > SIZE_MAX / 64) {
        sl_error("bootstrap: %d blobs is out of range", count);
        return SL_ERR_OVERFLOW;
    }
    /* struct | data pointers | lengths | blob bytes (each + '\0') */
    head = sizeof(*blobs) + (size_t)count * (sizeof(void *) + sizeof(size_t));
    total = head;
    for (int r = 0; r < count; r++) {
        if (lens[r] > SIZE_MAX - total - 1) {
            sl_error("bootstrap: blobs of %d ranks overflow size_t", count);
            return SL_ERR_OVERFLOW;
        }
        total += lens[r] + 1;
    }
    blobs = calloc(1, total);
    if (blobs == NULL) {
        sl_error("bootstrap: cannot allocate %zu bytes for %d blobs", total,
                 count);
        return SL_ERR_NO_MEMORY;
    }
    blobs->count = count;
    blobs->data = (const void **)(void *)(blobs + 1);
    blobs->len = (size_t *)(void *)(blobs->data + count);
    bytes = (char *)blobs + head;
    for (int r = 0; r < count; r++) {
        blobs->len[r] = lens[r];
        blobs->data[r] = bytes;
        bytes += lens[r] + 1;
    }
    *blobs_p = blobs;
    return SL_OK;
}

void *sl_boot_blob_ptr(sl_boot_blobs_t *blobs, int r)
{
    return (void *)(uintptr_t)blobs->data[r];
}

void sl_boot_blobs_free(sl_boot_blobs_t *blobs)
{
    free(blobs);
}

/* --- init ----------------------------------------------------------------- */

/* Reconciles one launcher-provided value (or -1) with the derived one. */
static void sl_boot_reconcile(const sl_boot_t *boot, const char *what,
                              int *value, int derived, int warn)
{
    if (*value < 0) {
        *value = derived;
    } else if (*value != derived) {
        if (warn)
            sl_warn("bootstrap: %s says %s is %d but the hostnames give %d; "
                    "using %d (are hostnames unique per node?)",
                    boot->ops->name, what, *value, derived, *value);
        else
            sl_debug("bootstrap: %s says %s is %d, the hostnames give %d; "
                     "using %d", boot->ops->name, what, *value, derived,
                     *value);
    }
}

/* Allgathers the hostnames, derives the node layout, fills what the backend
 * did not provide and checks the result. */
static sl_status_t sl_boot_setup_nodes(sl_boot_t *boot)
{
    const char **names;
    int *ids, num_nodes;
    sl_status_t status;

    boot->seq++;
    status = boot->ops->allgatherv(boot, boot->my_hostname,
                                   strlen(boot->my_hostname), &boot->hostnames);
    if (status != SL_OK)
        return status;

    names = malloc((size_t)boot->size * sizeof(*names));
    ids = malloc(3 * (size_t)boot->size * sizeof(*ids));
    if (names == NULL || ids == NULL) {
        sl_error("bootstrap: out of memory for the hostnames of %d ranks",
                 boot->size);
        status = SL_ERR_NO_MEMORY;
        goto err_free;
    }
    for (int r = 0; r < boot->size; r++) {
        names[r] = boot->hostnames->data[r];
        if (strlen(names[r]) != boot->hostnames->len[r]) {
            sl_error("bootstrap: rank %d sent a malformed hostname (%zu "
                     "bytes with a NUL inside)", r, boot->hostnames->len[r]);
            status = SL_ERR_BOOTSTRAP;
            goto err_free;
        }
    }
    status = sl_boot_nodes_map(boot->size, names, ids, ids + boot->size,
                               ids + 2 * boot->size, &num_nodes);
    if (status != SL_OK)
        goto err_free;

    sl_boot_reconcile(boot, "the node count", &boot->num_nodes, num_nodes, 1);
    sl_boot_reconcile(boot, "the local size", &boot->local_size,
                      ids[2 * boot->size + boot->rank], 1);
    sl_boot_reconcile(boot, "the local rank", &boot->local_rank,
                      ids[boot->size + boot->rank], 1);
    /* Launchers may number nodes differently (e.g. Slurm's node list order). */
    sl_boot_reconcile(boot, "the node id", &boot->node_id,
                      ids[boot->rank], 0);

    if (boot->num_nodes < 1 || boot->num_nodes > boot->size ||
        boot->local_size < 1 || boot->local_size > boot->size ||
        boot->local_rank >= boot->local_size ||
        boot->node_id >= boot->num_nodes) {
        sl_error("bootstrap: inconsistent layout from %s: local rank %d of "
                 "%d, node %d of %d, %d ranks", boot->ops->name,
                 boot->local_rank, boot->local_size, boot->node_id,
                 boot->num_nodes, boot->size);
        status = SL_ERR_BOOTSTRAP;
        goto err_free;
    }
    free(ids);
    free(names);
    return SL_OK;

err_free:
    free(ids);
    free(names);
    sl_boot_blobs_free(boot->hostnames);
    boot->hostnames = NULL;
    return status;
}

sl_status_t sl_boot_init(const char *backend_name, sl_boot_t **boot_p)
{
    const sl_boot_ops_t *ops;
    sl_boot_t *boot;
    sl_status_t status;
    int timeout_s;

    status = sl_boot_choose(backend_name, &ops);
    if (status != SL_OK)
        return status;
    status = sl_boot_parse_timeout(&timeout_s);
    if (status != SL_OK)
        return status;

    boot = calloc(1, sizeof(*boot));
    if (boot == NULL) {
        sl_error("bootstrap: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    boot->ops = ops;
    boot->rank = boot->size = -1;
    boot->local_rank = boot->local_size = -1;
    boot->node_id = boot->num_nodes = -1;
    boot->timeout_s = timeout_s;

    status = ops->init(boot);
    if (status != SL_OK)
        goto err_free;
    sl_log_set_rank(boot->rank, boot->size);
    sl_fault_point("init", boot->rank);

    /* Before the first collective: a rank that dies from here on stops the
     * job instead of hanging it (see liveness.h). */
    if (boot->size > 1 && ops->publish != NULL) {
        status = sl_liveness_start(boot, &boot->liveness);
        if (status != SL_OK)
            goto err_abort;
    }

    status = sl_boot_setup_nodes(boot);
    if (status != SL_OK)
        goto err_abort;

    sl_debug("bootstrap %s: rank %d of %d, local %d of %d, node %d of %d (%s)",
             ops->name, boot->rank, boot->size, boot->local_rank,
             boot->local_size, boot->node_id, boot->num_nodes,
             boot->my_hostname);
    *boot_p = boot;
    return SL_OK;

err_abort:
    /* This rank joined the launcher's job but cannot take part: the others
     * would wait for it, so stop them all. */
    if (boot->size > 1)
        sl_boot_abort(boot, 1, "this rank could not join the job's bootstrap");
    sl_liveness_stop(boot->liveness);
    ops->finalize(boot);
err_free:
    free(boot);
    return status;
}

void sl_boot_finalize(sl_boot_t *boot)
{
    if (boot == NULL)
        return;
    sl_liveness_stop(boot->liveness);
    boot->ops->finalize(boot);
    sl_boot_blobs_free(boot->hostnames);
    free(boot);
}

sl_status_t sl_boot_set_timeout(sl_boot_t *boot, int seconds)
{
    if (seconds < 0 || seconds > SL_BOOT_TIMEOUT_MAX) {
        sl_error("bootstrap: timeout %d s is not in 0..%d (0 = no timeout)",
                 seconds, SL_BOOT_TIMEOUT_MAX);
        return SL_ERR_INVALID_ARG;
    }
    boot->timeout_s = seconds;
    return SL_OK;
}

/* --- accessors ------------------------------------------------------------ */

const char *sl_boot_backend_name(const sl_boot_t *boot)
{
    return boot->ops->name;
}

int sl_boot_rank(const sl_boot_t *boot) { return boot->rank; }
int sl_boot_size(const sl_boot_t *boot) { return boot->size; }
int sl_boot_local_rank(const sl_boot_t *boot) { return boot->local_rank; }
int sl_boot_local_size(const sl_boot_t *boot) { return boot->local_size; }
int sl_boot_node_id(const sl_boot_t *boot) { return boot->node_id; }
int sl_boot_num_nodes(const sl_boot_t *boot) { return boot->num_nodes; }

const char *sl_boot_hostname(const sl_boot_t *boot)
{
    return boot->hostnames->data[boot->rank];
}

const char *sl_boot_hostname_of(const sl_boot_t *boot, int rank)
{
    if (rank < 0 || rank >= boot->size)
        return NULL;
    return boot->hostnames->data[rank];
}

/* --- collectives ---------------------------------------------------------- */

sl_status_t sl_boot_barrier(sl_boot_t *boot)
{
    boot->seq++;
    return boot->ops->barrier(boot);
}

static sl_status_t sl_boot_check_root(const sl_boot_t *boot, int root)
{
    if (root < 0 || root >= boot->size) {
        sl_error("bootstrap: bcast root %d is not a rank (job of %d ranks)",
                 root, boot->size);
        return SL_ERR_INVALID_ARG;
    }
    return SL_OK;
}

sl_status_t sl_boot_bcastv(sl_boot_t *boot, int root, const void *buf,
                           size_t len, void **data_p, size_t *len_p)
{
    sl_status_t status = sl_boot_check_root(boot, root);

    if (status != SL_OK)
        return status;
    if (boot->rank == root && buf == NULL && len > 0) {
        sl_error("bootstrap: bcast of %zu bytes from a NULL buffer", len);
        return SL_ERR_INVALID_ARG;
    }
    boot->seq++;
    return boot->ops->bcastv(boot, root, buf, len, data_p, len_p);
}

sl_status_t sl_boot_bcast(sl_boot_t *boot, void *buf, size_t len, int root)
{
    void *data;
    size_t got;
    sl_status_t status;

    status = sl_boot_bcastv(boot, root, buf, len, &data, &got);
    if (status != SL_OK)
        return status;
    if (got != len) {
        sl_error("bootstrap: bcast #%lu: root %d sent %zu bytes, rank %d "
                 "expected %zu", boot->seq, root, got, boot->rank, len);
        free(data);
        return SL_ERR_MISMATCH;
    }
    if (boot->rank != root && len > 0)
        memcpy(buf, data, len);
    free(data);
    return SL_OK;
}

sl_status_t sl_boot_allgatherv(sl_boot_t *boot, const void *buf, size_t len,
                               sl_boot_blobs_t **blobs_p)
{
    if (buf == NULL && len > 0) {
        sl_error("bootstrap: allgather of %zu bytes from a NULL buffer", len);
        return SL_ERR_INVALID_ARG;
    }
    boot->seq++;
    return boot->ops->allgatherv(boot, buf, len, blobs_p);
}

sl_status_t sl_boot_allgather(sl_boot_t *boot, const void *sendbuf,
                              size_t len, void *recvbuf)
{
    sl_boot_blobs_t *blobs;
    sl_status_t status;

    status = sl_boot_allgatherv(boot, sendbuf, len, &blobs);
    if (status != SL_OK)
        return status;
    for (int r = 0; r < blobs->count; r++) {
        if (blobs->len[r] != len) {
            sl_error("bootstrap: allgather #%lu: rank %d sent %zu bytes, rank "
                     "%d expected %zu", boot->seq, r, blobs->len[r],
                     boot->rank, len);
            sl_boot_blobs_free(blobs);
            return SL_ERR_MISMATCH;
        }
    }
    for (int r = 0; r < blobs->count && len > 0; r++)
        memcpy((char *)recvbuf + (size_t)r * len, blobs->data[r], len);
    sl_boot_blobs_free(blobs);
    return SL_OK;
}

_Noreturn void sl_boot_abort(sl_boot_t *boot, int exit_status,
                             const char *message)
{
    /* A failed collective and the liveness watcher may abort at the same
     * moment: the first ends the process, the second waits for that (two
     * exit()s at once, or a backend freeing what the other thread uses, is
     * undefined). */
    static atomic_flag ending = ATOMIC_FLAG_INIT;

    if (atomic_flag_test_and_set(&ending))
        for (;;)
            pause();
    if (exit_status == 0)
        exit_status = 1;
    sl_error("aborting the job (exit status %d): %s", exit_status,
             message != NULL ? message : "(no reason given)");
    if (boot == NULL)
        exit(exit_status);
    boot->ops->abort(boot, exit_status, message);
    _exit(exit_status); /* backends do not return; be sure */
}
