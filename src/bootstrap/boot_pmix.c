/* boot_pmix.c - the "pmix" bootstrap backend (srun --mpi=pmix, prterun...).
 *
 * Job facts come from PMIx keys, each checked for its type: any integer type
 * is accepted (launchers differ: uint32, uint16, int...), anything else is an
 * error naming the key. Keys the launcher does not provide are left to the
 * front end, which derives them from the allgathered hostnames.
 *
 * Collectives: PMIx_Put(PMIX_GLOBAL) + PMIx_Commit + PMIx_Fence(collect
 * data) + PMIx_Get from each peer, under a key unique to the call
 * ("sl.boot.SEQ"): reusing a key was measured to return the previous call's
 * value (and to upset the PMIx 4.2 server). A value is the blob plus one
 * '\0' byte, so zero-length blobs are never empty byte objects.
 *
 * Facts measured with Slurm 22.05 + OpenPMIx 4.2 (tests/integration):
 *   - A fence completes without a rank that has died (the server drops lost
 *     clients from the collective), so the barrier is an allgather of empty
 *     values: the dead rank's missing value fails the Get (NOT-FOUND) within
 *     milliseconds.
 *   - Every fence re-collects all values committed so far, so a collective
 *     costs more the more collectives came before it (4 ranks on 2 nodes:
 *     about 1 ms after 30 calls, 9 ms on average over 900 calls). Fine for
 *     set-up, not for a data path.
 *   - PMIX_TIMEOUT on the fence is honoured (the fence returns
 *     PMIX_ERR_TIMEOUT). In case a launcher ignores it, the fence is run
 *     non-blocking and abandoned one second after the deadline.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pmix.h>

#include "bootstrap/boot_internal.h"
#include "core/log.h"

/* Extra time given to the launcher to report its own timeout first. */
#define SL_BOOT_PMIX_GRACE_S         1
#define SL_BOOT_PMIX_KEY_PREFIX      "sl.boot."

typedef struct {
    pmix_proc_t me;
    pmix_proc_t wild; /* my namespace, PMIX_RANK_WILDCARD: job-level keys */
} sl_boot_pmix_t;

/* A non-blocking fence in flight. Heap-allocated: when the waiter gives up
 * (timeout) it marks the fence abandoned and the PMIx callback, if it ever
 * runs, frees it. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    bool abandoned;
    pmix_status_t status;
    pmix_info_t info[2];
    size_t ninfo;
} sl_boot_pmix_fence_t;

/* --- typed key reads ------------------------------------------------------ */

/* Any PMIx integer type into an int in 0..INT_MAX. */
static sl_status_t sl_boot_pmix_value_int(const char *key,
                                          const pmix_value_t *v, int *value_p)
{
    long long s = 0;
    unsigned long long u = 0;
    bool is_signed = true;

    switch (v->type) {
    case PMIX_INT:       s = v->data.integer; break;
    case PMIX_INT8:      s = v->data.int8; break;
    case PMIX_INT16:     s = v->data.int16; break;
    case PMIX_INT32:     s = v->data.int32; break;
    case PMIX_INT64:     s = v->data.int64; break;
    case PMIX_UINT:      u = v->data.uint; is_signed = false; break;
    case PMIX_UINT8:     u = v->data.uint8; is_signed = false; break;
    case PMIX_UINT16:    u = v->data.uint16; is_signed = false; break;
    case PMIX_UINT32:    u = v->data.uint32; is_signed = false; break;
    case PMIX_UINT64:    u = v->data.uint64; is_signed = false; break;
    case PMIX_SIZE:      u = v->data.size; is_signed = false; break;
    case PMIX_PROC_RANK: u = v->data.rank; is_signed = false; break;
    default:
        sl_error("bootstrap: PMIx key %s has type %s, expected an integer",
                 key, PMIx_Data_type_string(v->type));
        return SL_ERR_BOOTSTRAP;
    }
    if (is_signed) {
        if (s < 0 || s > INT_MAX) {
            sl_error("bootstrap: PMIx key %s = %lld is out of range", key, s);
            return SL_ERR_BOOTSTRAP;
        }
        *value_p = (int)s;
    } else {
        if (u > INT_MAX) {
            sl_error("bootstrap: PMIx key %s = %llu is out of range", key, u);
            return SL_ERR_BOOTSTRAP;
        }
        *value_p = (int)u;
    }
    return SL_OK;
}

/* PMIx_Get from the local store only (PMIX_OPTIONAL: job facts are all
 * there after PMIx_Init; never wait on the server for a missing one).
 * *value_p = NULL when the launcher does not provide the key. */
static sl_status_t sl_boot_pmix_get_local(const pmix_proc_t *proc,
                                          const char *key,
                                          pmix_value_t **value_p)
{
    pmix_info_t info;
    pmix_value_t *value = NULL;
    bool optional = true;
    pmix_status_t rc;

    PMIX_INFO_CONSTRUCT(&info);
    rc = PMIx_Info_load(&info, PMIX_OPTIONAL, &optional, PMIX_BOOL);
    if (rc != PMIX_SUCCESS) {
        sl_error("bootstrap: PMIx_Info_load(PMIX_OPTIONAL) failed: %s",
                 PMIx_Error_string(rc));
        PMIX_INFO_DESTRUCT(&info);
        return SL_ERR_BOOTSTRAP;
    }
    rc = PMIx_Get(proc, key, &info, 1, &value);
    PMIX_INFO_DESTRUCT(&info);
    if (rc == PMIX_ERR_NOT_FOUND || rc == PMIX_ERR_NOT_SUPPORTED) {
        sl_debug("bootstrap: PMIx key %s (rank %s) not provided: %s", key,
                 proc->rank == PMIX_RANK_WILDCARD ? "wildcard" : "self",
                 PMIx_Error_string(rc));
        *value_p = NULL;
        return SL_OK;
    }
    if (rc != PMIX_SUCCESS) {
        sl_warn("bootstrap: PMIx_Get(%s) failed: %s; deriving it instead", key,
                PMIx_Error_string(rc));
        *value_p = NULL;
        return SL_OK;
    }
    if (value == NULL) {
        sl_error("bootstrap: PMIx_Get(%s) succeeded without a value", key);
        return SL_ERR_BOOTSTRAP;
    }
    *value_p = value;
    return SL_OK;
}

/* An integer key; *value_p = -1 when not provided. */
static sl_status_t sl_boot_pmix_get_int(const pmix_proc_t *proc,
                                        const char *key, int *value_p)
{
    pmix_value_t *value;
    sl_status_t status;
    int result;

    status = sl_boot_pmix_get_local(proc, key, &value);
    if (status != SL_OK)
        return status;
    if (value == NULL) {
        *value_p = -1;
        return SL_OK;
    }
    status = sl_boot_pmix_value_int(key, value, &result);
    PMIX_VALUE_RELEASE(value);
    if (status != SL_OK)
        return status;
    *value_p = result;
    return SL_OK;
}

/* A string key into buf; buf[0] = '\0' when not provided. */
static sl_status_t sl_boot_pmix_get_string(const pmix_proc_t *proc,
                                           const char *key, char *buf,
                                           size_t size)
{
    pmix_value_t *value;
    sl_status_t status;

    status = sl_boot_pmix_get_local(proc, key, &value);
    if (status != SL_OK)
        return status;
    if (value == NULL) {
        buf[0] = '\0';
        return SL_OK;
    }
    if (value->type != PMIX_STRING || value->data.string == NULL) {
        sl_error("bootstrap: PMIx key %s has type %s, expected a string", key,
                 PMIx_Data_type_string(value->type));
        PMIX_VALUE_RELEASE(value);
        return SL_ERR_BOOTSTRAP;
    }
    if (strlen(value->data.string) >= size) {
        sl_error("bootstrap: PMIx key %s is longer than %zu bytes", key,
                 size - 1);
        PMIX_VALUE_RELEASE(value);
        return SL_ERR_BOOTSTRAP;
    }
    snprintf(buf, size, "%s", value->data.string);
    PMIX_VALUE_RELEASE(value);
    return SL_OK;
}

/* --- init / finalize ------------------------------------------------------ */

static sl_status_t sl_boot_pmix_read_job(sl_boot_t *boot, sl_boot_pmix_t *pm)
{
    sl_status_t status;
    int size;

    if (pm->me.rank > INT_MAX) {
        sl_error("bootstrap: PMIx rank %u is out of range", pm->me.rank);
        return SL_ERR_BOOTSTRAP;
    }
    status = sl_boot_pmix_get_int(&pm->wild, PMIX_JOB_SIZE, &size);
    if (status == SL_OK && size < 0) {
        sl_debug("bootstrap: no PMIX_JOB_SIZE, trying PMIX_UNIV_SIZE");
        status = sl_boot_pmix_get_int(&pm->wild, PMIX_UNIV_SIZE, &size);
    }
    if (status != SL_OK)
        return status;
    if (size < 1) {
        sl_error("bootstrap: the PMIx launcher provides neither "
                 "PMIX_JOB_SIZE nor PMIX_UNIV_SIZE (namespace %s)",
                 pm->me.nspace);
        return SL_ERR_BOOTSTRAP;
    }
    if ((int)pm->me.rank >= size) {
        sl_error("bootstrap: PMIx rank %u is not below the job size %d",
                 pm->me.rank, size);
        return SL_ERR_BOOTSTRAP;
    }
    boot->rank = (int)pm->me.rank;
    boot->size = size;

    status = sl_boot_pmix_get_int(&pm->me, PMIX_LOCAL_RANK, &boot->local_rank);
    if (status != SL_OK)
        return status;
    status = sl_boot_pmix_get_int(&pm->wild, PMIX_LOCAL_SIZE,
                                  &boot->local_size);
    if (status != SL_OK)
        return status;
    status = sl_boot_pmix_get_int(&pm->me, PMIX_NODEID, &boot->node_id);
    if (status != SL_OK)
        return status;
    status = sl_boot_pmix_get_int(&pm->wild, PMIX_NUM_NODES, &boot->num_nodes);
    if (status != SL_OK)
        return status;
    status = sl_boot_pmix_get_string(&pm->me, PMIX_HOSTNAME, boot->my_hostname,
                                     sizeof(boot->my_hostname));
    if (status != SL_OK)
        return status;
    if (boot->my_hostname[0] == '\0') {
        if (gethostname(boot->my_hostname, sizeof(boot->my_hostname)) != 0) {
            sl_error("bootstrap: no PMIX_HOSTNAME and gethostname failed: %s",
                     strerror(errno));
            return SL_ERR_BOOTSTRAP;
        }
        boot->my_hostname[sizeof(boot->my_hostname) - 1] = '\0';
    }
    sl_debug("bootstrap: PMIx %s namespace %s rank %d/%d: PMIX_LOCAL_RANK %d "
             "PMIX_LOCAL_SIZE %d PMIX_NODEID %d PMIX_NUM_NODES %d (-1: not "
             "provided) host %s", PMIx_Get_version(), pm->me.nspace,
             boot->rank, boot->size, boot->local_rank, boot->local_size,
             boot->node_id, boot->num_nodes, boot->my_hostname);
    return SL_OK;
}

static sl_status_t sl_boot_pmix_init(sl_boot_t *boot)
{
    sl_boot_pmix_t *pm;
    sl_status_t status;
    pmix_status_t rc;

    pm = calloc(1, sizeof(*pm));
    if (pm == NULL) {
        sl_error("bootstrap: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    rc = PMIx_Init(&pm->me, NULL, 0);
    if (rc != PMIX_SUCCESS) {
        sl_error("bootstrap: PMIx_Init failed: %s (PMIX_NAMESPACE=%s; the "
                 "launcher's PMIx server cannot be reached)",
                 PMIx_Error_string(rc), getenv("PMIX_NAMESPACE"));
        status = SL_ERR_BOOTSTRAP;
        goto err_free;
    }
    PMIX_LOAD_PROCID(&pm->wild, pm->me.nspace, PMIX_RANK_WILDCARD);

    status = sl_boot_pmix_read_job(boot, pm);
    if (status != SL_OK)
        goto err_finalize;
    boot->priv = pm;
    return SL_OK;

err_finalize:
    rc = PMIx_Finalize(NULL, 0);
    if (rc != PMIX_SUCCESS)
        sl_warn("bootstrap: PMIx_Finalize failed: %s", PMIx_Error_string(rc));
err_free:
    free(pm);
    return status;
}

static void sl_boot_pmix_finalize(sl_boot_t *boot)
{
    pmix_status_t rc = PMIx_Finalize(NULL, 0);

    if (rc != PMIX_SUCCESS)
        sl_warn("bootstrap: PMIx_Finalize failed: %s", PMIx_Error_string(rc));
    free(boot->priv);
    boot->priv = NULL;
}

/* --- fence with a deadline ------------------------------------------------ */

static void sl_boot_pmix_fence_free(sl_boot_pmix_fence_t *f)
{
    for (size_t i = 0; i < f->ninfo; i++)
        PMIX_INFO_DESTRUCT(&f->info[i]);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* Runs in the PMIx progress thread. */
static void sl_boot_pmix_fence_done(pmix_status_t status, void *cbdata)
{
    sl_boot_pmix_fence_t *f = cbdata;
    bool abandoned;

    pthread_mutex_lock(&f->lock);
    f->status = status;
    f->done = true;
    abandoned = f->abandoned;
    pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->lock);
    if (abandoned)
        sl_boot_pmix_fence_free(f);
}

static sl_status_t sl_boot_pmix_fence_new(const int *timeout_s,
                                          bool collect,
                                          sl_boot_pmix_fence_t **fence_p)
{
    sl_boot_pmix_fence_t *f;
    pthread_condattr_t attr;
    pmix_status_t rc;

    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        sl_error("bootstrap: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    if (pthread_condattr_init(&attr) != 0)
        goto err_free;
    if (pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&f->cond, &attr) != 0) {
        pthread_condattr_destroy(&attr);
        goto err_free;
    }
    pthread_condattr_destroy(&attr);
    if (pthread_mutex_init(&f->lock, NULL) != 0)
        goto err_cond;

    if (collect) {
        PMIX_INFO_CONSTRUCT(&f->info[f->ninfo]);
        rc = PMIx_Info_load(&f->info[f->ninfo], PMIX_COLLECT_DATA, &collect,
                            PMIX_BOOL);
        f->ninfo++;
        if (rc != PMIX_SUCCESS)
            goto err_info;
    }
    if (*timeout_s > 0) {
        PMIX_INFO_CONSTRUCT(&f->info[f->ninfo]);
        rc = PMIx_Info_load(&f->info[f->ninfo], PMIX_TIMEOUT, timeout_s,
                            PMIX_INT);
        f->ninfo++;
        if (rc != PMIX_SUCCESS)
            goto err_info;
    }
    *fence_p = f;
    return SL_OK;

err_info:
    sl_error("bootstrap: PMIx_Info_load for the fence failed: %s",
             PMIx_Error_string(rc));
    sl_boot_pmix_fence_free(f);
    return SL_ERR_BOOTSTRAP;
err_cond:
    pthread_cond_destroy(&f->cond);
err_free:
    free(f);
    sl_error("bootstrap: cannot create a fence condition variable");
    return SL_ERR_INTERNAL;
}

/* PMIx_Fence over the whole namespace, waited for at most timeout_s (+1 s).
 * `what` names the collective in messages ("allgather", "bcast", ...). */
static sl_status_t sl_boot_pmix_fence(sl_boot_t *boot, const char *what,
                                      bool collect)
{
    sl_boot_pmix_fence_t *f;
    struct timespec deadline;
    sl_status_t status;
    pmix_status_t rc;
    int err = 0;

    status = sl_boot_pmix_fence_new(&boot->timeout_s, collect, &f);
    if (status != SL_OK)
        return status;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += boot->timeout_s + SL_BOOT_PMIX_GRACE_S;

    rc = PMIx_Fence_nb(NULL, 0, f->info, f->ninfo, sl_boot_pmix_fence_done, f);
    if (rc == PMIX_OPERATION_SUCCEEDED) {
        sl_boot_pmix_fence_free(f);
        return SL_OK;
    }
    if (rc != PMIX_SUCCESS) {
        sl_error("bootstrap: PMIx_Fence_nb for %s #%lu failed: %s", what,
                 boot->seq, PMIx_Error_string(rc));
        sl_boot_pmix_fence_free(f);
        return SL_ERR_BOOTSTRAP;
    }

    pthread_mutex_lock(&f->lock);
    while (!f->done && err == 0) {
        if (boot->timeout_s > 0)
            err = pthread_cond_timedwait(&f->cond, &f->lock, &deadline);
        else
            err = pthread_cond_wait(&f->cond, &f->lock);
    }
    if (!f->done) {
        /* The callback may still run: it frees the fence then. */
        f->abandoned = true;
        pthread_mutex_unlock(&f->lock);
        if (err == ETIMEDOUT)
            sl_error("bootstrap: %s #%lu timed out after %d s: PMIx_Fence did "
                     "not complete (a rank died or hangs; set "
                     "SLINFER_BOOT_TIMEOUT to wait longer)",
                     what, boot->seq, boot->timeout_s);
        else
            sl_error("bootstrap: %s #%lu: waiting for PMIx_Fence failed: %s",
                     what, boot->seq, strerror(err));
        return SL_ERR_BOOTSTRAP;
    }
    rc = f->status;
    pthread_mutex_unlock(&f->lock);
    sl_boot_pmix_fence_free(f);

    if (rc == PMIX_ERR_TIMEOUT) {
        sl_error("bootstrap: %s #%lu timed out after %d s: the PMIx fence "
                 "reported %s (a rank died or hangs; set SLINFER_BOOT_TIMEOUT "
                 "to wait longer)", what, boot->seq, boot->timeout_s,
                 PMIx_Error_string(rc));
        return SL_ERR_BOOTSTRAP;
    }
    if (rc != PMIX_SUCCESS) {
        sl_error("bootstrap: PMIx_Fence for %s #%lu failed: %s (a rank may "
                 "have died)", what, boot->seq, PMIx_Error_string(rc));
        return SL_ERR_BOOTSTRAP;
    }
    return SL_OK;
}

/* --- put / get ------------------------------------------------------------ */

static void sl_boot_pmix_key(const sl_boot_t *boot, char *key, size_t size)
{
    snprintf(key, size, SL_BOOT_PMIX_KEY_PREFIX "%lu", boot->seq);
}

/* Puts buf (+ '\0') under key and commits. */
static sl_status_t sl_boot_pmix_put(sl_boot_t *boot, const char *what,
                                    const char *key, const void *buf,
                                    size_t len)
{
    pmix_value_t value;
    pmix_status_t rc;
    char *bytes;

    if (len > SIZE_MAX - 1 || (bytes = malloc(len + 1)) == NULL) {
        sl_error("bootstrap: %s #%lu: cannot allocate %zu bytes", what,
                 boot->seq, len);
        return SL_ERR_NO_MEMORY;
    }
    if (len > 0)
        memcpy(bytes, buf, len);
    bytes[len] = '\0';

    /* PMIx_Put copies the value; bytes stays ours. */
    PMIX_VALUE_CONSTRUCT(&value);
    value.type = PMIX_BYTE_OBJECT;
    value.data.bo.bytes = bytes;
    value.data.bo.size = len + 1;
    rc = PMIx_Put(PMIX_GLOBAL, key, &value);
    free(bytes);
    if (rc != PMIX_SUCCESS) {
        sl_error("bootstrap: %s #%lu: PMIx_Put(%s, %zu bytes) failed: %s",
                 what, boot->seq, key, len, PMIx_Error_string(rc));
        return SL_ERR_BOOTSTRAP;
    }
    rc = PMIx_Commit();
    if (rc != PMIX_SUCCESS) {
        sl_error("bootstrap: %s #%lu: PMIx_Commit failed: %s", what,
                 boot->seq, PMIx_Error_string(rc));
        return SL_ERR_BOOTSTRAP;
    }
    return SL_OK;
}

/* Gets rank `rank`'s value of key, waiting up to timeout_s (0: forever);
 * on success *value_p is a byte object of at least 1 byte (release it with
 * PMIX_VALUE_RELEASE). */
static sl_status_t sl_boot_pmix_get_blob(sl_boot_t *boot, const char *what,
                                         const char *key, int rank, int timeout_s,
                                         pmix_value_t **value_p)
{
    sl_boot_pmix_t *pm = boot->priv;
    pmix_value_t *value = NULL;
    pmix_info_t info;
    pmix_proc_t proc;
    pmix_status_t rc;
    size_t ninfo = 0;

    PMIX_LOAD_PROCID(&proc, pm->me.nspace, (pmix_rank_t)rank);
    PMIX_INFO_CONSTRUCT(&info);
    if (timeout_s > 0) {
        rc = PMIx_Info_load(&info, PMIX_TIMEOUT, &timeout_s, PMIX_INT);
        if (rc != PMIX_SUCCESS) {
            sl_error("bootstrap: PMIx_Info_load(PMIX_TIMEOUT) failed: %s",
                     PMIx_Error_string(rc));
            PMIX_INFO_DESTRUCT(&info);
            return SL_ERR_BOOTSTRAP;
        }
        ninfo = 1;
    }
    rc = PMIx_Get(&proc, key, ninfo > 0 ? &info : NULL, ninfo, &value);
    PMIX_INFO_DESTRUCT(&info);
    if (rc != PMIX_SUCCESS) {
        sl_error("bootstrap: %s #%lu: PMIx_Get(%s) from rank %d failed: %s",
                 what, boot->seq, key, rank, PMIx_Error_string(rc));
        return SL_ERR_BOOTSTRAP;
    }
    if (value == NULL || value->type != PMIX_BYTE_OBJECT ||
        value->data.bo.size < 1 || value->data.bo.bytes == NULL) {
        sl_error("bootstrap: %s #%lu: rank %d's %s is not a blob (type %s)",
                 what, boot->seq, rank, key,
                 value != NULL ? PMIx_Data_type_string(value->type) : "none");
        if (value != NULL)
            PMIX_VALUE_RELEASE(value);
        return SL_ERR_BOOTSTRAP;
    }
    *value_p = value;
    return SL_OK;
}

/* --- collectives ---------------------------------------------------------- */

static sl_status_t sl_boot_pmix_bcastv(sl_boot_t *boot, int root,
                                       const void *buf, size_t len,
                                       void **data_p, size_t *len_p)
{
    char key[64];
    pmix_value_t *value = NULL;
    sl_status_t status;
    const void *src;
    char *data;

    sl_boot_pmix_key(boot, key, sizeof(key));
    if (boot->rank == root) {
        status = sl_boot_pmix_put(boot, "bcast", key, buf, len);
        if (status != SL_OK)
            return status;
    }
    status = sl_boot_pmix_fence(boot, "bcast", true);
    if (status != SL_OK)
        return status;
    if (boot->rank == root) {
        src = buf;
    } else {
        status = sl_boot_pmix_get_blob(boot, "bcast", key, root, boot->timeout_s,
                                       &value);
        if (status != SL_OK)
            return status;
        len = value->data.bo.size - 1;
        src = value->data.bo.bytes;
    }
    data = malloc(len + 1);
    if (data == NULL) {
        sl_error("bootstrap: bcast #%lu: cannot allocate %zu bytes", boot->seq,
                 len + 1);
        status = SL_ERR_NO_MEMORY;
        goto out;
    }
    if (len > 0)
        memcpy(data, src, len);
    data[len] = '\0';
    *data_p = data;
    *len_p = len;
    status = SL_OK;
out:
    if (value != NULL)
        PMIX_VALUE_RELEASE(value);
    return status;
}

/* Put + fence + get from every peer. With blobs_p NULL (barrier) only
 * checks that every peer's value is there: PMIx servers complete a fence
 * without a participant that has died (they drop lost clients from the
 * collective), so a fence alone does not prove every rank reached it - the
 * dead rank's missing value does show. */
static sl_status_t sl_boot_pmix_gather(sl_boot_t *boot, const char *what,
                                       const void *buf, size_t len,
                                       sl_boot_blobs_t **blobs_p)
{
    char key[64];
    pmix_value_t **values;
    sl_boot_blobs_t *blobs;
    sl_status_t status;
    size_t *lens;

    sl_boot_pmix_key(boot, key, sizeof(key));
    status = sl_boot_pmix_put(boot, what, key, buf, len);
    if (status != SL_OK)
        return status;
    status = sl_boot_pmix_fence(boot, what, true);
    if (status != SL_OK)
        return status;

    values = calloc((size_t)boot->size, sizeof(*values));
    lens = calloc((size_t)boot->size, sizeof(*lens));
    if (values == NULL || lens == NULL) {
        sl_error("bootstrap: %s #%lu: out of memory", what, boot->seq);
        status = SL_ERR_NO_MEMORY;
        goto out;
    }
    for (int r = 0; r < boot->size; r++) {
        if (r == boot->rank) {
            lens[r] = len;
            continue;
        }
        status = sl_boot_pmix_get_blob(boot, what, key, r, boot->timeout_s,
                                       &values[r]);
        if (status != SL_OK)
            goto out;
        lens[r] = values[r]->data.bo.size - 1;
        if (blobs_p == NULL)
            PMIX_VALUE_RELEASE(values[r]);
    }
    if (blobs_p == NULL) {
        status = SL_OK;
        goto out;
    }
    status = sl_boot_blobs_alloc(boot->size, lens, &blobs);
    if (status != SL_OK)
        goto out;
    for (int r = 0; r < boot->size; r++) {
        const void *src = r == boot->rank ? buf : values[r]->data.bo.bytes;
        if (lens[r] > 0)
            memcpy(sl_boot_blob_ptr(blobs, r), src, lens[r]);
    }
    *blobs_p = blobs;
    status = SL_OK;
out:
    for (int r = 0; values != NULL && r < boot->size; r++) {
        if (values[r] != NULL)
            PMIX_VALUE_RELEASE(values[r]);
    }
    free(lens);
    free(values);
    return status;
}

static sl_status_t sl_boot_pmix_allgatherv(sl_boot_t *boot, const void *buf,
                                           size_t len,
                                           sl_boot_blobs_t **blobs_p)
{
    return sl_boot_pmix_gather(boot, "allgather", buf, len, blobs_p);
}

static sl_status_t sl_boot_pmix_barrier(sl_boot_t *boot)
{
    return sl_boot_pmix_gather(boot, "barrier", NULL, 0, NULL);
}

static void sl_boot_pmix_abort(sl_boot_t *boot, int exit_status,
                               const char *message)
{
    pmix_status_t rc;

    (void)boot;
    /* NULL procs: every process of my namespace. */
    rc = PMIx_Abort(exit_status, message != NULL ? message : "slinfer abort",
                    NULL, 0);
    /* Slurm's server returns once srun has been told; srun then kills the
     * step. Exit without waiting for that. */
    if (rc != PMIX_SUCCESS)
        sl_error("bootstrap: PMIx_Abort failed: %s; exiting this rank only "
                 "with status %d", PMIx_Error_string(rc), exit_status);
    _exit(exit_status);
}

/* --- point-to-point start-up exchange (liveness.c) ------------------------ */

static sl_status_t sl_boot_pmix_publish(sl_boot_t *boot, const char *key,
                                        const char *value)
{
    return sl_boot_pmix_put(boot, "publish", key, value, strlen(value));
}

/* No fence: the launcher fetches the value from rank's node on demand
 * (direct modex), so a dead third rank cannot stall it. A rank on the same
 * node is answered from the local store, which says NOT-FOUND (instead of
 * waiting) until that rank has committed: poll until the deadline. */
static sl_status_t sl_boot_pmix_lookup(sl_boot_t *boot, int rank,
                                       const char *key, int timeout_s,
                                       char **value_p)
{
    sl_boot_pmix_t *pm = boot->priv;
    pmix_value_t *value = NULL;
    pmix_proc_t proc;
    pmix_status_t rc;
    struct timespec now, delay = {0, 1000000}; /* 1 ms, doubling to 256 ms */
    time_t deadline;
    char *copy;

    PMIX_LOAD_PROCID(&proc, pm->me.nspace, (pmix_rank_t)rank);
    clock_gettime(CLOCK_MONOTONIC, &now);
    deadline = now.tv_sec + timeout_s;
    while ((rc = PMIx_Get(&proc, key, NULL, 0, &value)) == PMIX_ERR_NOT_FOUND) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec >= deadline)
            break;
        nanosleep(&delay, NULL);
        if (delay.tv_nsec < 256000000)
            delay.tv_nsec *= 2;
    }
    if (rc != PMIX_SUCCESS || value == NULL || value->type != PMIX_BYTE_OBJECT ||
        value->data.bo.size < 1 || value->data.bo.bytes == NULL) {
        sl_error("bootstrap: PMIx_Get(%s) from rank %d failed after %d s: %s", key,
                 rank, timeout_s,
                 rc != PMIX_SUCCESS ? PMIx_Error_string(rc) : "not a blob");
        if (value != NULL)
            PMIX_VALUE_RELEASE(value);
        return SL_ERR_BOOTSTRAP;
    }
    copy = strndup(value->data.bo.bytes, value->data.bo.size);
    PMIX_VALUE_RELEASE(value);
    if (copy == NULL) {
        sl_error("bootstrap: lookup of %s: out of memory", key);
        return SL_ERR_NO_MEMORY;
    }
    *value_p = copy;
    return SL_OK;
}

const sl_boot_ops_t sl_boot_pmix_ops = {
    .name       = "pmix",
    .init       = sl_boot_pmix_init,
    .finalize   = sl_boot_pmix_finalize,
    .barrier    = sl_boot_pmix_barrier,
    .bcastv     = sl_boot_pmix_bcastv,
    .allgatherv = sl_boot_pmix_allgatherv,
    .abort      = sl_boot_pmix_abort,
    .publish    = sl_boot_pmix_publish,
    .lookup     = sl_boot_pmix_lookup,
};
