/*
 * cuda_backend.h - the CUDA backend: bf16 weights and paged KV cache in GPU
 * memory, cuBLAS and the kernels of gpu/, tensor parallelism over NCCL with
 * one worker thread per GPU, CUDA graphs for decode steps.
 *
 * sl_cuda_backend_create() starts one worker thread per TP rank (bound to
 * its GPU's cores and memory when a job placement is given), loads each
 * rank's shard of the model into its GPU (bf16, through pinned staging
 * buffers with the host copies of the next chunk overlapping the device copy
 * of the last; or generated in place with dummy_on_device), creates one NCCL
 * communicator for the TP group -- and, when every pair of its GPUs has peer
 * access, the one-shot all-reduce of gpu/allreduce.cu, which takes the
 * all-reduces of up to SLINFER_CUSTOM_ALLREDUCE_MAX_BYTES (512 KiB) -- then
 * sizes the KV cache from what is left: mem_fraction_static of the free
 * memory after weights and activations.
 *
 * A TP group larger than one process's GPUs spans consecutive processes
 * (local_tp GPUs each): every process creates the backend for its TP ranks;
 * the leader (TP rank 0) sends the NCCL id over the group's step link, the
 * KV cache takes the smallest size any rank can hold, and each step the
 * leader runs is first sent to the followers (its batch, packed, and whether
 * it is greedy, sampled or returns logits), which run it in
 * sl_cuda_backend_follow(). The one-shot all-reduce needs the whole group in
 * one process; a spanning group reduces through NCCL.
 *
 * A forward step (backend.h) is planned on the caller's thread (token and
 * block tables packed into one pinned buffer), then every rank uploads it
 * with one copy and runs the layers: decode batches of at most
 * cuda_graph_max_bs sequences replay a captured CUDA graph (padded to the
 * next captured size), anything else runs eagerly. Results are the CPU
 * backend's up to bf16 rounding of the activations (tests/gpu/test_cuda_forward.c
 * states the bound and holds it to it).
 *
 * Errors: every CUDA, cuBLAS and NCCL call is checked; a step waits for its
 * GPU work by polling, watching NCCL's asynchronous error and the other
 * ranks, so a failed or hung peer makes every rank abort its communicator
 * (ncclCommAbort, and sl_cuda_ar_abort for the one-shot kernel, whose
 * cross-GPU wait also gives up by itself after SLINFER_CUDA_TIMEOUT) and the
 * step return SL_ERR_NCCL / SL_ERR_CUDA instead of hanging. After such an
 * error the backend refuses further steps.
 */
#ifndef SL_BACKEND_CUDA_CUDA_BACKEND_H
#define SL_BACKEND_CUDA_CUDA_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "model/model.h"

typedef struct sl_job sl_job_t;

typedef struct sl_cuda_options {
    int32_t block_size;          /* KV slots per block (default 16)                   */
    int32_t num_blocks;          /* KV blocks per rank; 0: from mem_fraction_static    */
    double mem_fraction_static;  /* of the free memory after weights (default 0.9)     */
    int32_t max_tokens;          /* most tokens in one step (default 8192)             */
    int32_t cuda_graph_max_bs;   /* largest decode batch replayed as a graph (256)     */
    int disable_cuda_graph;      /* run every step eagerly                             */
    int disable_custom_all_reduce; /* NCCL for every all-reduce, not the one-shot kernel
                                    over peer memory (also SLINFER_CUSTOM_ALLREDUCE=0)  */
    const int *devices;          /* [local ranks] CUDA device of each; NULL: the job's
                                    GPUs (sl_job_gpu_ordinals), else 0, 1, ...          */
    const sl_job_t *job;         /* bind local rank r's thread with
                                    sl_job_bind_gpu_thread(job, r); NULL: no binding     */
    int dummy_on_device;         /* generate --load-format dummy weights on the GPUs
                                    (the model's own views are then not read)           */
    uint64_t seed;               /* of those weights                                   */
    int tp_first;                /* TP rank of this process's first GPU (0)          */
    int local_tp;                /* TP ranks (GPUs) in this process; 0: the whole
                                    group. Fewer: the group spans processes, and    */
    struct sl_tp_link *link;     /* is its step link (comm/tp_link.h): the process
                                    with TP rank 0 (the leader) sends every step to
                                    the others, which run sl_cuda_backend_follow()   */
} sl_cuda_options_t;

/* The defaults above (all zero / NULL but mem_fraction_static). */
void sl_cuda_options_init(sl_cuda_options_t *options);

/*
 * Creates the backend for MODEL (which must outlive it) over model->tp GPUs,
 * or over this process's local_tp of them when the group spans processes
 * (every process of the group calls it; MODEL has every rank's geometry,
 * the weights of the local ranks are read).
 * Errors: SL_ERR_NO_DEVICE (fewer GPUs than ranks), SL_ERR_UNSUPPORTED
 * (a shape the kernels do not take), SL_ERR_CUDA, SL_ERR_NCCL,
 * SL_ERR_INVALID_ARG, SL_ERR_NO_MEMORY (host or device).
 */
sl_status_t sl_cuda_backend_create(const sl_model_t *model, const sl_cuda_options_t *options,
                                   sl_backend_t **backend_p);

/*
 * A forward step that samples greedily on the GPU instead of returning
 * logits: tokens_out [batch->num_logits] = the argmax of each requested row
 * (ties: lowest id). Only 8 bytes per row cross PCIe, against 4 * vocab for
 * the logits. BACKEND must be a CUDA backend.
 */
sl_status_t sl_cuda_backend_forward_greedy(sl_backend_t *backend, const sl_batch_t *batch,
                                           int32_t *tokens_out);

/*
 * A forward step that samples on the GPU (backend.h's forward_sample): the
 * gathered logits stay on the device and rank 0 runs gpu/sampler.cu, the
 * twin of engine/sampler.c, on each requested row; only the results cross
 * PCIe. rows, hist: [batch->num_logits]; results: [sum of num_samples], row
 * by row. BACKEND must be a CUDA backend.
 */
sl_status_t sl_cuda_backend_forward_sample(sl_backend_t *backend, const sl_batch_t *batch,
                                           const sl_sample_row_t *rows,
                                           const sl_sample_history_t *hist,
                                           sl_sample_result_t *results);

/*
 * A follower of a TP group that spans processes (options.tp_first > 0): runs
 * every step the leader's backend sends over the link -- the same layers,
 * the same collectives, no results -- until the leader's backend is
 * destroyed (SL_OK) or something fails (the error, logged; the backend is
 * then unusable). The leader's sl_backend_destroy() sends the stop.
 */
sl_status_t sl_cuda_backend_follow(sl_backend_t *backend);

/* What the backend holds, for reports. */
typedef struct sl_cuda_backend_info {
    int tp;
    char device_name[64];
    int sm_count;
    uint64_t weight_bytes;     /* per rank (rank 0) */
    uint64_t kv_bytes;         /* per rank */
    int64_t kv_tokens;         /* num_blocks * block_size */
    double load_seconds;       /* weights to device */
    int cuda_graph_max_bs;     /* 0: graphs off */
    uint64_t custom_ar_max_bytes; /* all-reduces up to this size use the one-shot
                                     kernel over peer memory; 0: NCCL for all */
    int64_t graph_replays, eager_steps;
    int64_t fused_ar_norms;    /* all-reduces enqueued as one kernel with the RMSNorm
                                  after them (rank 0; a captured graph counts once) */
    int64_t timed_steps;       /* with SLINFER_CUDA_STEP_TIMES=1: graph replays timed */
    double timed_gpu_s;        /* on rank 0's GPU, upload to results, summed */
} sl_cuda_backend_info_t;

void sl_cuda_backend_get_info(const sl_backend_t *backend, sl_cuda_backend_info_t *info);

/* Number of CUDA devices usable here (0 without a driver or GPU). */
int sl_cuda_device_count(void);

#endif /* SL_BACKEND_CUDA_CUDA_BACKEND_H */
