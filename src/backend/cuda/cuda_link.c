/*
 * cuda_link.c - a TP group that spans processes: what its leader's backend
 * tells the followers' over the step link (comm/tp_link.h), and the
 * followers' loop.
 *
 * Frames, after the NCCL id (the first frame, NCCL_UNIQUE_ID_BYTES):
 *   header  magic u32, kind u32 (step, stop), greedy i32, sample i32
 *   batch   (steps) the batch as sl_batch_pack() writes it
 * A follower plans the batch exactly as the leader did (the plan depends on
 * the batch and the backend's sizes, which the same options give every
 * process), so both run the same graph or the same eager kernels, and their
 * collectives meet. Only TP rank 0 copies results out.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "comm/tp_link.h"
#include "core/log.h"

#define SL_CUDA_LINK_MAGIC 0x4b4c4c53u /* "SLLK" */

typedef enum { SL_CUDA_LINK_STEP = 1, SL_CUDA_LINK_STOP = 2 } sl_cuda_link_kind_t;

typedef struct sl_cuda_link_header {
    uint32_t magic, kind;
    int32_t greedy, sample;
} sl_cuda_link_header_t;

sl_status_t sl_cuda_link_nccl_id(sl_cuda_backend_t *be, void *id_p)
{
    const void *buf;
    size_t len;

    if (sl_tp_link_is_leader(be->link)) {
        SL_NCCL_RETURN_IF_ERROR(ncclGetUniqueId((ncclUniqueId *)id_p));
        return sl_tp_link_send(be->link, id_p, sizeof(ncclUniqueId));
    }
    SL_RETURN_IF(sl_tp_link_recv(be->link, &buf, &len));
    if (len != sizeof(ncclUniqueId)) {
        sl_error("TP link: the leader sent %zu bytes for the NCCL id, not %zu (a different "
                 "slinfer or NCCL?)",
                 len, sizeof(ncclUniqueId));
        return SL_ERR_FORMAT;
    }
    memcpy(id_p, buf, len);
    return SL_OK;
}

sl_status_t sl_cuda_link_send_step(sl_cuda_backend_t *be, const sl_batch_t *batch)
{
    size_t bytes = sl_batch_packed_size(batch);
    size_t total = sizeof(sl_cuda_link_header_t) + bytes;

    if (bytes == 0)
        return SL_ERR_INVALID_ARG; /* sl_batch_validate passed: cannot happen */
    if (total > be->frame_cap) {
        void *p = realloc(be->frame, total);
        if (p == NULL) {
            sl_error("out of memory for a step frame of %zu bytes", total);
            return SL_ERR_NO_MEMORY;
        }
        be->frame = p;
        be->frame_cap = total;
    }
    sl_cuda_link_header_t h = {.magic = SL_CUDA_LINK_MAGIC, .kind = SL_CUDA_LINK_STEP,
                               .greedy = be->step.greedy, .sample = be->step.sample};
    memcpy(be->frame, &h, sizeof(h));
    SL_RETURN_IF(sl_batch_pack(batch, (char *)be->frame + sizeof(h), bytes));
    return sl_tp_link_send(be->link, be->frame, total);
}

void sl_cuda_link_send_stop(sl_cuda_backend_t *be)
{
    sl_cuda_link_header_t h = {.magic = SL_CUDA_LINK_MAGIC, .kind = SL_CUDA_LINK_STOP};

    /* A follower that is already gone has nothing left to stop. */
    if (sl_tp_link_send(be->link, &h, sizeof(h)) != SL_OK)
        sl_debug("TP link: not every follower took the stop");
}

sl_status_t sl_cuda_link_min_blocks(sl_cuda_backend_t *be, int32_t *num_blocks_p)
{
    int64_t mine = *num_blocks_p, least = 0;

    /* The cuBLAS workspaces are idle until the first step: 8 bytes of each
     * carry the value through one all-reduce over the group. */
    for (int i = 0; i < be->nlocal; i++) {
        SL_CUDA_RETURN_IF_ERROR(cudaSetDevice(be->ranks[i].device));
        SL_CUDA_RETURN_IF_ERROR(
            cudaMemcpy(be->ranks[i].cublas_ws, &mine, sizeof(mine), cudaMemcpyHostToDevice));
    }
    SL_NCCL_RETURN_IF_ERROR(ncclGroupStart());
    for (int i = 0; i < be->nlocal; i++) {
        sl_cuda_rank_t *r = &be->ranks[i];
        ncclResult_t n = ncclAllReduce(r->cublas_ws, r->cublas_ws, 1, ncclInt64, ncclMin,
                                       r->nccl, r->stream);
        if (n != ncclSuccess) {
            sl_error("TP rank %d: the all-reduce of the KV cache size: %s", r->rank,
                     ncclGetErrorString(n));
            (void)ncclGroupEnd();
            return SL_ERR_NCCL;
        }
    }
    SL_NCCL_RETURN_IF_ERROR(ncclGroupEnd());
    for (int i = 0; i < be->nlocal; i++) {
        SL_CUDA_RETURN_IF_ERROR(cudaSetDevice(be->ranks[i].device));
        SL_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(be->ranks[i].stream));
    }
    SL_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(&least, be->ranks[0].cublas_ws, sizeof(least), cudaMemcpyDeviceToHost));
    if (least < *num_blocks_p)
        sl_info("CUDA backend: KV cache of %lld blocks, the most every rank of the TP group "
                "holds (this process could hold %d)",
                (long long)least, *num_blocks_p);
    *num_blocks_p = (int32_t)least;
    return SL_OK;
}

/* Receives and runs one frame; *stop_p set at the leader's stop. */
static sl_status_t sl_cuda_follow_one(sl_cuda_backend_t *be, uint64_t steps, int *stop_p)
{
    const void *buf;
    size_t len;
    sl_cuda_link_header_t h;
    sl_batch_t batch;
    sl_batch_seq_t *seqs = NULL;
    sl_status_t s;

    SL_RETURN_IF(sl_tp_link_recv(be->link, &buf, &len));
    if (len >= sizeof(h))
        memcpy(&h, buf, sizeof(h));
    if (len < sizeof(h) || h.magic != SL_CUDA_LINK_MAGIC ||
        (h.kind != SL_CUDA_LINK_STEP && h.kind != SL_CUDA_LINK_STOP)) {
        sl_error("TP link: a frame of %zu bytes that is no step (after %llu steps)", len,
                 (unsigned long long)steps);
        return SL_ERR_FORMAT;
    }
    if (h.kind == SL_CUDA_LINK_STOP) {
        *stop_p = 1;
        return SL_OK;
    }
    s = sl_batch_unpack((const char *)buf + sizeof(h), len - sizeof(h), &batch, &seqs);
    if (s == SL_OK)
        s = sl_cuda_plan_step(be, &batch, h.greedy != 0, NULL, NULL);
    if (s == SL_OK) {
        be->step.sample = h.sample != 0;
        s = sl_cuda_run_local_step(be);
    }
    free(seqs);
    return s;
}

sl_status_t sl_cuda_backend_follow(sl_backend_t *base)
{
    sl_cuda_backend_t *be = (sl_cuda_backend_t *)base;
    uint64_t steps = 0;
    int stop = 0;

    if (base == NULL || strcmp(base->name, "cuda") != 0 || be->link == NULL ||
        be->opt.tp_first == 0) {
        sl_error("sl_cuda_backend_follow: not a follower of a TP group across processes");
        return SL_ERR_INVALID_ARG;
    }
    while (!stop) {
        sl_status_t s = sl_cuda_follow_one(be, steps, &stop);
        if (s != SL_OK) {
            atomic_store(&be->failed, 1);
            return s;
        }
        steps += !stop;
    }
    sl_debug("TP link: the leader stopped after %llu steps", (unsigned long long)steps);
    return SL_OK;
}
