/* parallel.c - the DP x TP layout; see parallel.h. */
#include "config.h"

#include "engine/parallel.h"

#include "core/log.h"

sl_status_t sl_parallel_layout(int world, int tp, int rank, sl_parallel_t *layout_p)
{
    if (world < 1 || tp < 1 || world % tp != 0 || rank < 0 || rank >= world) {
        sl_error("parallel layout: --tp %d must divide the %d ranks of the job (rank %d)", tp,
                 world, rank);
        return SL_ERR_INVALID_ARG;
    }
    *layout_p = (sl_parallel_t){
        .world = world, .tp = tp, .dp = world / tp, .rank = rank,
        .dp_rank = rank / tp, .tp_rank = rank % tp, .leader = rank % tp == 0,
    };
    return SL_OK;
}

sl_status_t sl_parallel_span(int procs, int rank, int tp, int local_gpus, sl_span_t *span_p)
{
    int per = 1, local = tp;

    if (procs < 1 || rank < 0 || rank >= procs || tp < 1 || local_gpus < 0) {
        sl_error("parallel layout: process %d of %d, --tp %d, %d GPUs each", rank, procs, tp,
                 local_gpus);
        return SL_ERR_INVALID_ARG;
    }
    if (local_gpus > 0 && tp > local_gpus) {
        if (tp % local_gpus != 0) {
            sl_error("--tp %d spans processes of %d GPUs each: it must be a multiple of %d",
                     tp, local_gpus, local_gpus);
            return SL_ERR_INVALID_ARG;
        }
        per = tp / local_gpus;
        local = local_gpus;
        if (procs % per != 0) {
            sl_error("--tp %d takes %d processes of %d GPUs each; the job has %d processes, "
                     "not a multiple of %d",
                     tp, per, local_gpus, procs, per);
            return SL_ERR_INVALID_ARG;
        }
    }
    *span_p = (sl_span_t){
        .procs = procs, .per_group = per, .dp = procs / per, .dp_rank = rank / per,
        .tp_first = (rank % per) * local, .local_tp = local, .leader_rank = rank - rank % per,
        .leader = rank % per == 0,
    };
    return SL_OK;
}
