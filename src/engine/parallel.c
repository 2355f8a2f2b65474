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
