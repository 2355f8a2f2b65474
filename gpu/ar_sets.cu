/*
 * ar_sets.cu - the static slot sets of the all-reduce inside the next GEMV
 * (TP > 1, batch 1; sl_kernels.h explains the protocol): one set of one row
 * per all-reduce of a decode step, in every rank's memory, each rank's slot
 * in it written by that rank's projection (sl_cuda_gemv_push_bf16 with a
 * set target) and read by the GEMV after it on every other rank
 * (gemv_fused.cu, gather_norm_row). Here: their memory, and where a call's
 * pushes go and its reads come from.
 */
#include "config.h"

#include <string.h>

#include "ar_group.cuh"
#include "ar_slots.cuh"
#include "sl_kernels.h"

using sl::ar::kPacket;

extern "C" sl_status_t sl_cuda_ar_sets_create(sl_cuda_ar_t *ar, int nsets, size_t count)
{
    int caller = 0;

    if (ar == NULL || ar->protocol != SL_CUDA_AR_LAMPORT || ar->nsets != 0 || nsets < 3 ||
        count == 0 || count % kPacket != 0 || count > ((size_t)1 << 24) || nsets > 4096) {
        sl_error("sl_cuda_ar_sets_create: invalid arguments (%d sets of %zu elements; a Lamport "
                 "group without sets, 3..4096 sets of a multiple of %d elements)",
                 nsets, count, kPacket);
        return SL_ERR_INVALID_ARG;
    }
    const int64_t packets = (int64_t)(count / kPacket);
    const size_t bytes = (size_t)nsets * (size_t)ar->nranks * (size_t)packets * 16;
    SL_CUDA_RETURN_IF_ERROR(cudaGetDevice(&caller));
    for (int i = 0; i < ar->nranks; i++) {
        cudaError_t e = cudaSetDevice(ar->devices[i]);
        if (e == cudaSuccess) {
            e = cudaMalloc((void **)&ar->sets[i], bytes);
            if (e != cudaSuccess)
                ar->sets[i] = NULL;
        }
        if (e == cudaSuccess)
            e = cudaMemset(ar->sets[i], 0xFF, bytes); /* every lane empty */
        if (e == cudaSuccess)
            e = cudaDeviceSynchronize(); /* kernels run on non-blocking streams */
        if (e != cudaSuccess) {
            sl_error("the all-reduce's %d static sets (%.1f MB) on GPU %d: %s", nsets,
                     (double)bytes / 1e6, ar->devices[i], cudaGetErrorString(e));
            for (int j = 0; j <= i; j++) {
                if (ar->sets[j] != NULL && cudaSetDevice(ar->devices[j]) == cudaSuccess)
                    (void)cudaFree(ar->sets[j]);
                ar->sets[j] = NULL;
            }
            (void)cudaSetDevice(caller);
            return e == cudaErrorMemoryAllocation ? SL_ERR_NO_MEMORY : SL_ERR_CUDA;
        }
    }
    SL_CUDA_RETURN_IF_ERROR(cudaSetDevice(caller));
    ar->nsets = nsets;
    ar->set_packets = packets;
    return SL_OK;
}

extern "C" int sl_cuda_ar_sets(const sl_cuda_ar_t *ar, size_t *count_p)
{
    if (ar == NULL || ar->nsets == 0)
        return 0;
    *count_p = (size_t)ar->set_packets * kPacket;
    return ar->nsets;
}

/* Rank K's set SET: [nranks][set_packets] packets. */
static char *sl_cuda_ar_set(const sl_cuda_ar_t *ar, int k, int set)
{
    return ar->sets[k] + (size_t)set * (size_t)ar->nranks * (size_t)ar->set_packets * 16;
}

static int sl_cuda_ar_set_ok(const sl_cuda_ar_t *ar, int rank, int set, size_t count)
{
    return ar != NULL && ar->nsets > 0 && rank >= 0 && rank < ar->nranks && set >= 0 &&
           set < ar->nsets && count > 0 && count % kPacket == 0 &&
           count <= (size_t)ar->set_packets * kPacket;
}

extern "C" int sl_cuda_ar_set_push_target(const sl_cuda_ar_t *ar, int rank, int set,
                                          size_t count, sl_cuda_ar_push_t *push_p)
{
    if (!sl_cuda_ar_set_ok(ar, rank, set, count))
        return 0;
    memset(push_p, 0, sizeof(*push_p));
    for (int i = 0; i < ar->nranks; i++)
        push_p->base[i] = sl_cuda_ar_set(ar, i, set);
    push_p->slot_packets = ar->set_packets;
    push_p->nranks = ar->nranks;
    push_p->rank = rank;
    push_p->set = 1;
    return 1;
}

extern "C" int sl_cuda_ar_set_gather(const sl_cuda_ar_t *ar, int rank, int set, size_t count,
                                     sl_cuda_ar_gather_t *g_p)
{
    if (!sl_cuda_ar_set_ok(ar, rank, set, count))
        return 0;
    memset(g_p, 0, sizeof(*g_p));
    g_p->slots = sl_cuda_ar_set(ar, rank, set);
    g_p->clear = sl_cuda_ar_set(ar, rank, (set + 2) % ar->nsets);
    g_p->abort = &ar->host_dev[rank]->abort;
    g_p->error = &ar->host_dev[rank]->error;
    g_p->timeout_ns = ar->timeout_ns;
    g_p->packets = (int64_t)(count / kPacket);
    g_p->stride = ar->set_packets;
    g_p->nranks = ar->nranks;
    g_p->rank = rank;
    return 1;
}

