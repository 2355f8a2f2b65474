/*
 * comm.h - tensor-parallel collectives between the rank threads of one
 * process (the CPU backend's TP).
 *
 * A group of SIZE ranks is created once; each rank thread takes its handle
 * with sl_comm_group_rank() and every rank calls the same collectives in the
 * same order (as with MPI or NCCL). Collectives are barrier-based over shared
 * memory: ranks publish their buffer pointers, wait for each other, then each
 * reduces or copies a disjoint part.
 *
 * Results are deterministic and identical on every rank: all-reduce sums in
 * rank order 0, 1, ..., SIZE-1 for every element, whichever rank computes it.
 * With SIZE 1 every collective is a no-op (or a copy).
 *
 * The CUDA backend will have the same set of operations over NCCL on device
 * buffers; the engine only ever needs these four.
 */
#ifndef SL_COMM_COMM_H
#define SL_COMM_COMM_H

#include <stddef.h>

#include "core/status.h"

typedef struct sl_comm_group sl_comm_group_t;
typedef struct sl_comm sl_comm_t;

/* A group of SIZE (1..4096) ranks. Free it after every rank is done. */
sl_status_t sl_comm_group_create(int size, sl_comm_group_t **group_p);
void sl_comm_group_free(sl_comm_group_t *group);

/* Rank RANK's handle (owned by the group). */
sl_comm_t *sl_comm_group_rank(sl_comm_group_t *group, int rank);

int sl_comm_rank(const sl_comm_t *comm);
int sl_comm_size(const sl_comm_t *comm);

/* Returns when every rank has called it. */
void sl_comm_barrier(sl_comm_t *comm);

/*
 * buf: [n] in place; on return every rank's buf holds the element-wise sum of
 * all ranks' bufs. Every rank must pass the same N: otherwise every rank gets
 * SL_ERR_MISMATCH (logged by rank 0) and the buffers are unchanged.
 */
sl_status_t sl_comm_all_reduce_sum_f32(sl_comm_t *comm, float *buf, size_t n);

/*
 * counts: [size] elements each rank contributes (the same array on all ranks)
 * send:   [counts[rank]]
 * recv:   [sum(counts)] rank 0's elements, then rank 1's, ...; or NULL on a
 *         rank that does not need the result (a gather to the others).
 */
sl_status_t sl_comm_all_gatherv_f32(sl_comm_t *comm, const float *send, const size_t *counts,
                                    float *recv);

/* buf: [bytes]; ROOT's bytes are copied to every other rank's buf. */
sl_status_t sl_comm_broadcast(sl_comm_t *comm, int root, void *buf, size_t bytes);

#endif /* SL_COMM_COMM_H */
