/* comm_threads.c - collectives between threads of one process; see comm.h. */
#include "config.h"

#include "comm/comm.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

struct sl_comm {
    sl_comm_group_t *group;
    int rank;
};

struct sl_comm_group {
    int size;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int arrived;
    unsigned long generation;
    const void **slots; /* [size] each rank's published pointer     */
    size_t *counts;     /* [size] each rank's published element count */
    sl_comm_t *ranks;   /* [size] */
};

sl_status_t sl_comm_group_create(int size, sl_comm_group_t **group_p)
{
    sl_comm_group_t *g;

    if (size < 1 || size > 4096) {
        sl_error("communicator of %d ranks: must be 1 to 4096", size);
        return SL_ERR_INVALID_ARG;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        goto nomem;
    g->size = size;
    g->slots = calloc((size_t)size, sizeof(*g->slots));
    g->counts = calloc((size_t)size, sizeof(*g->counts));
    g->ranks = calloc((size_t)size, sizeof(*g->ranks));
    if (g->slots == NULL || g->counts == NULL || g->ranks == NULL)
        goto nomem;
    if (pthread_mutex_init(&g->mutex, NULL) != 0)
        goto nomem;
    if (pthread_cond_init(&g->cond, NULL) != 0) {
        pthread_mutex_destroy(&g->mutex);
        goto nomem;
    }
    for (int r = 0; r < size; r++) {
        g->ranks[r].group = g;
        g->ranks[r].rank = r;
    }
    *group_p = g;
    return SL_OK;
nomem:
    if (g != NULL) {
        free(g->slots);
        free(g->counts);
        free(g->ranks);
        free(g);
    }
    sl_error("out of memory creating a communicator of %d ranks", size);
    return SL_ERR_NO_MEMORY;
}

void sl_comm_group_free(sl_comm_group_t *g)
{
    if (g == NULL)
        return;
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->mutex);
    free(g->slots);
    free(g->counts);
    free(g->ranks);
    free(g);
}

sl_comm_t *sl_comm_group_rank(sl_comm_group_t *g, int rank)
{
    return rank >= 0 && rank < g->size ? &g->ranks[rank] : NULL;
}

int sl_comm_rank(const sl_comm_t *comm)
{
    return comm->rank;
}

int sl_comm_size(const sl_comm_t *comm)
{
    return comm->group->size;
}

void sl_comm_barrier(sl_comm_t *comm)
{
    sl_comm_group_t *g = comm->group;

    if (g->size == 1)
        return;
    pthread_mutex_lock(&g->mutex);
    unsigned long gen = g->generation;
    if (++g->arrived == g->size) {
        g->arrived = 0;
        g->generation++;
        pthread_cond_broadcast(&g->cond);
    } else {
        while (gen == g->generation)
            pthread_cond_wait(&g->cond, &g->mutex);
    }
    pthread_mutex_unlock(&g->mutex);
}

/* Publishes PTR and N, waits for all ranks. */
static void sl_comm_publish(sl_comm_t *comm, const void *ptr, size_t n)
{
    comm->group->slots[comm->rank] = ptr;
    comm->group->counts[comm->rank] = n;
    sl_comm_barrier(comm);
}

sl_status_t sl_comm_all_reduce_sum_f32(sl_comm_t *comm, float *buf, size_t n)
{
    sl_comm_group_t *g = comm->group;
    int size = g->size;

    if (size == 1)
        return SL_OK;
    sl_comm_publish(comm, buf, n);
    for (int r = 1; r < size; r++) {
        if (g->counts[r] != g->counts[0]) {
            if (comm->rank == 0)
                sl_error("all-reduce: rank %d has %zu elements, rank 0 has %zu", r, g->counts[r],
                         g->counts[0]);
            sl_comm_barrier(comm);
            return SL_ERR_MISMATCH;
        }
    }
    /* This rank owns elements [lo, hi) of every buffer: it alone reads and
     * writes them, so no element is read after being overwritten. */
    size_t lo = n * (size_t)comm->rank / (size_t)size;
    size_t hi = n * (size_t)(comm->rank + 1) / (size_t)size;
    for (size_t i = lo; i < hi; i++) {
        float sum = ((const float *)g->slots[0])[i];
        for (int r = 1; r < size; r++)
            sum += ((const float *)g->slots[r])[i];
        for (int r = 0; r < size; r++)
            ((float *)g->slots[r])[i] = sum;
    }
    sl_comm_barrier(comm);
    return SL_OK;
}

sl_status_t sl_comm_all_gatherv_f32(sl_comm_t *comm, const float *send, const size_t *counts,
                                    float *recv)
{
    sl_comm_group_t *g = comm->group;
    size_t offset = 0;

    if (g->size == 1) {
        if (recv != NULL && recv != send)
            memmove(recv, send, counts[0] * sizeof(float));
        return SL_OK;
    }
    sl_comm_publish(comm, send, counts[comm->rank]);
    for (int r = 0; r < g->size; r++) {
        if (g->counts[r] != counts[r]) {
            if (comm->rank == 0)
                sl_error("all-gather: rank %d sends %zu elements, %zu expected", r, g->counts[r],
                         counts[r]);
            sl_comm_barrier(comm);
            return SL_ERR_MISMATCH;
        }
    }
    for (int r = 0; recv != NULL && r < g->size; r++) {
        if (counts[r] > 0)
            memcpy(recv + offset, g->slots[r], counts[r] * sizeof(float));
        offset += counts[r];
    }
    sl_comm_barrier(comm);
    return SL_OK;
}

sl_status_t sl_comm_broadcast(sl_comm_t *comm, int root, void *buf, size_t bytes)
{
    sl_comm_group_t *g = comm->group;

    if (g->size == 1)
        return SL_OK;
    sl_comm_publish(comm, buf, bytes);
    if (g->counts[root] != bytes) {
        if (comm->rank == root)
            sl_error("broadcast: ranks disagree on the size (%zu bytes at the root)", bytes);
        sl_comm_barrier(comm);
        return SL_ERR_MISMATCH;
    }
    if (comm->rank != root && bytes > 0)
        memcpy(buf, g->slots[root], bytes);
    sl_comm_barrier(comm);
    return SL_OK;
}
