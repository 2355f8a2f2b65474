/*
 * ar_group.cuh - the host's record of a one-shot all-reduce group
 * (sl_cuda_ar_t), shared by allreduce.cu (the group, its buffers and the
 * all-reduce kernels) and ar_sets.cu (the static slot sets of the
 * all-reduce inside the next GEMV). Host code only.
 */
#ifndef SL_GPU_AR_GROUP_CUH
#define SL_GPU_AR_GROUP_CUH

#include <stdint.h>

#include "sl_kernels.h"

namespace sl {
namespace ar {

/* What the host and the kernels share, in mapped pinned host memory. */
struct HostWords {
    int32_t abort; /* set by the host: every spin gives up */
    int32_t error; /* 0, or kTimedOut | rank << 8 | peer (ar_slots.cuh) */
};

} // namespace ar
} // namespace sl

struct sl_cuda_ar {
    int nranks;
    sl_cuda_ar_protocol_t protocol;
    int devices[SL_CUDA_AR_MAX_RANKS];
    char *base[SL_CUDA_AR_MAX_RANKS];          /* each rank's buffer on its GPU */
    sl::ar::HostWords *host;        /* pinned, mapped, portable */
    sl::ar::HostWords *host_dev[SL_CUDA_AR_MAX_RANKS]; /* its device address seen from each GPU */
    size_t max_bytes;
    int64_t slot_packets;
    uint64_t timeout_ns;
    char *sets[SL_CUDA_AR_MAX_RANKS];          /* each rank's static sets (sl_cuda_ar_sets_create):
                                       16-byte packets [nsets][nranks][set_packets] */
    int nsets;
    int64_t set_packets;
};

#endif /* SL_GPU_AR_GROUP_CUH */
