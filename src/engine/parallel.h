/*
 * parallel.h - the DP x TP layout: which ranks form a tensor-parallel group,
 * which group runs an engine for which records of the input.
 *
 * World ranks (GPUs, or CPU ranks) = DP x TP. Ranks tp * g .. tp * g + tp - 1
 * form DP group g (consecutive ranks, so a group fills a node's GPUs before
 * spanning nodes); each group has one engine and one scheduler, on its TP
 * rank 0, which broadcasts step plans (step_plan.h) to the others. The CPU
 * backend runs a group's TP ranks as threads of one process, so there a
 * process is a whole DP group.
 *
 * Records of the input stream go to groups round robin by their index in the
 * input (record k to group k % dp): the assignment depends on nothing else,
 * so a restarted job (--resume) gives every record to the same group.
 */
#ifndef SL_ENGINE_PARALLEL_H
#define SL_ENGINE_PARALLEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sl_parallel {
    int world, tp, dp;     /* world = dp * tp                     */
    int rank;              /* in the world                         */
    int dp_rank;           /* this rank's DP group, 0..dp-1        */
    int tp_rank;           /* within the group, 0..tp-1            */
    bool leader;           /* tp_rank 0: runs the group's engine   */
} sl_parallel_t;

/* The layout of RANK among WORLD ranks with groups of TP. Logs and returns
 * SL_ERR_INVALID_ARG when TP does not divide WORLD. */
sl_status_t sl_parallel_layout(int world, int tp, int rank, sl_parallel_t *layout_p);

/*
 * Processes and TP groups. A process drives LOCAL_GPUS GPUs (0: the CPU
 * backend, which runs a whole TP group as threads). A TP group of TP ranks
 * lives inside each process when it has the GPUs for it (tp <= local_gpus,
 * or no GPUs); otherwise it spans tp / local_gpus consecutive processes,
 * each holding local_gpus consecutive TP ranks, the first (the leader) the
 * one with TP rank 0, which runs the group's engine and reads and writes its
 * records; the others follow its steps.
 */
typedef struct sl_span {
    int procs;         /* processes in the job                               */
    int per_group;     /* processes per TP group (1: inside each process)     */
    int dp, dp_rank;   /* DP groups = procs / per_group; this process's       */
    int tp_first;      /* TP rank of this process's first GPU                 */
    int local_tp;      /* TP ranks this process holds                         */
    int leader_rank;   /* job rank of this process's group leader             */
    bool leader;       /* this process is it                                  */
} sl_span_t;

/* The layout of process RANK of PROCS with TP and LOCAL_GPUS each. Logs and
 * returns SL_ERR_INVALID_ARG when the GPUs do not divide TP, or the groups
 * do not divide the processes. */
sl_status_t sl_parallel_span(int procs, int rank, int tp, int local_gpus, sl_span_t *span_p);

/* The DP group that owns input record RECORD. */
static inline int sl_parallel_owner(uint64_t record, int dp)
{
    return (int)(record % (uint64_t)dp);
}

#endif /* SL_ENGINE_PARALLEL_H */
