/*
 * cuda_backend.c - creating the CUDA backend, its rank threads (one per GPU),
 * the NCCL communicator of the TP group, the KV cache, and handing steps to
 * the ranks; see cuda_backend.h.
 *
 * Every CUDA call of a rank happens on its own thread (its device current),
 * except the NCCL group initialisation and the teardown, which the creating
 * thread does device by device. Commands go to all rank threads at once
 * (mutex + condition, like the CPU backend) and the caller waits for all.
 */
#include "config.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cuda/cuda_internal.h"
#include "comm/tp_link.h"
#include "core/log.h"
#include "job/job.h"

#define SL_CUBLAS_WORKSPACE ((size_t)32 << 20)

void sl_cuda_options_init(sl_cuda_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->mem_fraction_static = 0.9;
}

int sl_cuda_device_count(void)
{
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

void sl_cuda_rank_fail(sl_cuda_rank_t *r)
{
    atomic_store(&r->be->failed, 1);
    if (r->nccl != NULL && !r->nccl_aborted) {
        /* Releases this rank's NCCL kernels that wait on a dead peer. */
        (void)ncclCommAbort(r->nccl);
        r->nccl_aborted = 1;
    }
    /* Likewise the one-shot all-reduce kernels spinning for a dead peer. */
    sl_cuda_ar_abort(r->be->ar);
}

double sl_cuda_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- rank commands ------------------------------------------------------------ */

static sl_status_t sl_cuda_rank_init(sl_cuda_rank_t *r)
{
    sl_cuda_backend_t *be = r->be;
    size_t table = (size_t)be->rope_positions * (size_t)be->rope->half * sizeof(float);

    SL_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&r->stream, cudaStreamNonBlocking));
    if (be->step_times && r->local == 0)
        for (int i = 0; i < 2; i++)
            SL_CUDA_RETURN_IF_ERROR(cudaEventCreate(&r->step_ev[i]));
    SL_CUBLAS_RETURN_IF_ERROR(cublasCreate(&r->cublas));
    SL_CUBLAS_RETURN_IF_ERROR(cublasSetStream(r->cublas, r->stream));
    /* A fixed workspace: cuBLAS must not allocate while a graph is captured. */
    SL_CUDA_RETURN_IF_ERROR(cudaMalloc(&r->cublas_ws, SL_CUBLAS_WORKSPACE));
    SL_CUBLAS_RETURN_IF_ERROR(cublasSetWorkspace(r->cublas, r->cublas_ws, SL_CUBLAS_WORKSPACE));
    SL_RETURN_IF(sl_cuda_weights_load(r));
    SL_RETURN_IF(sl_cuda_rank_alloc_activations(r));
    SL_RETURN_IF(sl_cuda_sample_init(r));
    SL_CUDA_RETURN_IF_ERROR(cudaMalloc((void **)&r->rope_cos, table));
    SL_CUDA_RETURN_IF_ERROR(cudaMalloc((void **)&r->rope_sin, table));
    SL_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(r->rope_cos, be->rope->cos, table, cudaMemcpyHostToDevice));
    SL_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(r->rope_sin, be->rope->sin, table, cudaMemcpyHostToDevice));
    return SL_OK;
}

static sl_status_t sl_cuda_rank_kv(sl_cuda_rank_t *r)
{
    sl_cuda_backend_t *be = r->be;
    const sl_model_config_t *c = be->config;
    /* + 1: the scratch block of padded graph rows */
    size_t blocks = (size_t)be->num_blocks + 1;
    size_t bytes = (size_t)c->num_layers * blocks * be->kv_block_bytes;

    r->kv_layer_elems = blocks * (size_t)be->block_size * (size_t)r->kv_heads *
                        (size_t)c->head_dim;
    cudaError_t e = cudaMalloc((void **)&r->kv, bytes);
    if (e != cudaSuccess) {
        r->kv = NULL;
        sl_error("rank %d: cudaMalloc of %.2f GB for the KV cache on GPU %d: %s", r->rank,
                 (double)bytes / 1e9, r->device, cudaGetErrorString(e));
        return SL_ERR_NO_MEMORY;
    }
    /* Slots never written read as zero, as in the CPU backend. */
    SL_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(r->kv, 0, bytes, r->stream));
    SL_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(r->stream));
    return SL_OK;
}

/* How long a rank thread waiting for the next command, and the caller
 * waiting for the ranks, spin before sleeping on a condition. A futex
 * wake-up costs tens of microseconds on each side of a step, all of it idle
 * GPU time at small batches: the gap between two decode steps is a few
 * hundred microseconds of host work (the ranks' wait), a step a few
 * milliseconds (the caller's, which yields its core while it spins, as the
 * ranks do while they poll their streams). */
#define SL_CUDA_SPIN_NEXT_S 1e-3
#define SL_CUDA_SPIN_DONE_S 50e-3

/* Spins up to SECONDS until *ID differs from SEEN (acquire): 1 if it did, 0
 * if the caller must sleep. */
static int sl_cuda_spin_changed(const atomic_ulong *id, unsigned long seen, double seconds)
{
    const double until = sl_cuda_clock() + seconds;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(id, memory_order_acquire) != seen)
            return 1;
        if (i % 64 == 0 && sl_cuda_clock() > until)
            return 0;
    }
}

/* Spins (yielding the core) up to SECONDS until *N is 0: 1 if it is, 0 if
 * the caller must sleep. */
static int sl_cuda_spin_zero(const atomic_int *n, double seconds)
{
    const double until = sl_cuda_clock() + seconds;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(n, memory_order_acquire) == 0)
            return 1;
        if (i % 64 == 0) {
            if (sl_cuda_clock() > until)
                return 0;
            sched_yield();
        }
    }
}

/* A rank thread is done with its command: the last one wakes the caller. */
static void sl_cuda_rank_done(sl_cuda_backend_t *be)
{
    if (atomic_fetch_sub_explicit(&be->pending, 1, memory_order_acq_rel) == 1) {
        pthread_mutex_lock(&be->mutex);
        pthread_cond_signal(&be->done);
        pthread_mutex_unlock(&be->mutex);
    }
}

static void *sl_cuda_rank_main(void *arg)
{
    sl_cuda_rank_t *r = arg;
    sl_cuda_backend_t *be = r->be;
    unsigned long seen = 0;
    cudaError_t e = cudaSetDevice(r->device);

    if (e != cudaSuccess)
        sl_error("rank %d: cudaSetDevice(%d): %s", r->rank, r->device, cudaGetErrorString(e));
    if (be->opt.job != NULL && sl_job_bind_gpu_thread(be->opt.job, (size_t)r->local) != SL_OK)
        sl_warn("rank %d: could not bind to GPU %d's cores; running unbound", r->rank,
                r->device);
    for (;;) {
        if (!sl_cuda_spin_changed(&be->cmd_id, seen, be->spin ? SL_CUDA_SPIN_NEXT_S : 0)) {
            pthread_mutex_lock(&be->mutex);
            while (atomic_load(&be->cmd_id) == seen)
                pthread_cond_wait(&be->start, &be->mutex);
            pthread_mutex_unlock(&be->mutex);
        }
        seen = atomic_load_explicit(&be->cmd_id, memory_order_acquire);
        sl_cuda_cmd_t cmd = be->cmd; /* written before cmd_id: see the acquire */
        if (cmd == SL_CUDA_CMD_STOP)
            break;
        sl_status_t s = SL_ERR_CUDA;
        if (e == cudaSuccess) {
            switch (cmd) {
            case SL_CUDA_CMD_INIT: s = sl_cuda_rank_init(r); break;
            case SL_CUDA_CMD_KV: s = sl_cuda_rank_kv(r); break;
            case SL_CUDA_CMD_STEP: s = sl_cuda_rank_step(r); break;
            default: s = SL_ERR_INTERNAL; break;
            }
        }
        r->status = s;
        if (s != SL_OK)
            sl_cuda_rank_fail(r);
        sl_cuda_rank_done(be);
    }
    sl_cuda_rank_done(be);
    return NULL;
}

/* Runs CMD on every rank thread; returns the first rank's failure. */
static sl_status_t sl_cuda_run_all(sl_cuda_backend_t *be, sl_cuda_cmd_t cmd)
{
    pthread_mutex_lock(&be->mutex);
    be->cmd = cmd;
    atomic_store(&be->pending, be->nlocal);
    atomic_fetch_add_explicit(&be->cmd_id, 1, memory_order_release);
    pthread_cond_broadcast(&be->start);
    pthread_mutex_unlock(&be->mutex);
    if (!sl_cuda_spin_zero(&be->pending, be->spin ? SL_CUDA_SPIN_DONE_S : 0)) {
        pthread_mutex_lock(&be->mutex);
        while (atomic_load(&be->pending) > 0)
            pthread_cond_wait(&be->done, &be->mutex);
        pthread_mutex_unlock(&be->mutex);
    }
    for (int i = 0; i < be->nlocal; i++)
        if (be->ranks[i].status != SL_OK)
            return be->ranks[i].status;
    return SL_OK;
}

/* ---- steps ------------------------------------------------------------------ */

sl_status_t sl_cuda_run_local_step(sl_cuda_backend_t *be)
{
    return sl_cuda_run_all(be, SL_CUDA_CMD_STEP);
}

/* Runs the planned step of BATCH: first to the followers when the group
 * spans processes (this is its leader: only the leader has callers). */
static sl_status_t sl_cuda_run_planned(sl_cuda_backend_t *be, const sl_batch_t *batch)
{
    if (be->link != NULL) {
        sl_status_t s = sl_cuda_link_send_step(be, batch);
        if (s != SL_OK) {
            atomic_store(&be->failed, 1);
            return s;
        }
    }
    return sl_cuda_run_all(be, SL_CUDA_CMD_STEP);
}

/* Steps come from the engine on the leader only. */
static sl_status_t sl_cuda_check_usable(const sl_cuda_backend_t *be)
{
    if (atomic_load(&be->failed)) {
        sl_error("CUDA backend: unusable after an earlier failure");
        return SL_ERR_CUDA;
    }
    if (be->opt.tp_first != 0) {
        sl_error("CUDA backend: TP ranks %d.. follow the leader's steps "
                 "(sl_cuda_backend_follow); they take none of their own",
                 be->opt.tp_first);
        return SL_ERR_INVALID_ARG;
    }
    return SL_OK;
}

static sl_status_t sl_cuda_step(sl_cuda_backend_t *be, const sl_batch_t *batch, int greedy,
                                float *logits, int32_t *tokens_out)
{
    sl_status_t s;

    if ((s = sl_cuda_check_usable(be)) != SL_OK ||
        (s = sl_cuda_plan_step(be, batch, greedy, logits, tokens_out)) != SL_OK)
        return s;
    return sl_cuda_run_planned(be, batch);
}

static sl_status_t sl_cuda_forward(sl_backend_t *base, const sl_batch_t *batch, float *logits)
{
    return sl_cuda_step((sl_cuda_backend_t *)base, batch, 0, logits, NULL);
}

sl_status_t sl_cuda_backend_forward_greedy(sl_backend_t *base, const sl_batch_t *batch,
                                           int32_t *tokens_out)
{
    if (base == NULL || strcmp(base->name, "cuda") != 0) {
        sl_error("sl_cuda_backend_forward_greedy: not a CUDA backend");
        return SL_ERR_INVALID_ARG;
    }
    return sl_cuda_step((sl_cuda_backend_t *)base, batch, 1, NULL, tokens_out);
}

sl_status_t sl_cuda_backend_forward_sample(sl_backend_t *base, const sl_batch_t *batch,
                                           const sl_sample_row_t *rows,
                                           const sl_sample_history_t *hist,
                                           sl_sample_result_t *results)
{
    sl_cuda_backend_t *be = (sl_cuda_backend_t *)base;
    sl_status_t s;

    if (base == NULL || strcmp(base->name, "cuda") != 0) {
        sl_error("sl_cuda_backend_forward_sample: not a CUDA backend");
        return SL_ERR_INVALID_ARG;
    }
    if ((s = sl_cuda_check_usable(be)) != SL_OK ||
        (s = sl_cuda_plan_step(be, batch, 0, NULL, NULL)) != SL_OK ||
        (s = sl_cuda_sample_plan(be, batch->num_logits, rows, hist, results)) != SL_OK)
        return s;
    return sl_cuda_run_planned(be, batch);
}

void sl_cuda_backend_get_info(const sl_backend_t *base, sl_cuda_backend_info_t *info)
{
    *info = ((const sl_cuda_backend_t *)base)->info;
}

/* ---- teardown ----------------------------------------------------------------- */

static void sl_cuda_rank_release(sl_cuda_rank_t *r)
{
    if (cudaSetDevice(r->device) != cudaSuccess)
        return;
    if (r->stream != NULL)
        (void)cudaStreamSynchronize(r->stream);
    sl_cuda_rank_free_graphs(r);
    sl_cuda_rank_free_activations(r);
    sl_cuda_sample_free(r);
    sl_cuda_weights_free(r);
    if (r->nccl != NULL && !r->nccl_aborted)
        (void)ncclCommDestroy(r->nccl);
    r->nccl = NULL;
    void *bufs[] = {r->kv, r->rope_cos, r->rope_sin, r->arena, r->cublas_ws};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++)
        if (bufs[i] != NULL)
            (void)cudaFree(bufs[i]);
    if (r->cublas != NULL)
        (void)cublasDestroy(r->cublas);
    for (int i = 0; i < 2; i++)
        if (r->step_ev[i] != NULL)
            (void)cudaEventDestroy(r->step_ev[i]);
    if (r->stream != NULL)
        (void)cudaStreamDestroy(r->stream);
}

static void sl_cuda_destroy(sl_backend_t *base)
{
    sl_cuda_backend_t *be = (sl_cuda_backend_t *)base;
    int started = 0;

    if (be->link != NULL && be->opt.tp_first == 0)
        sl_cuda_link_send_stop(be);
    for (int i = 0; be->ranks != NULL && i < be->nlocal; i++)
        started += be->ranks[i].thread_started;
    if (started > 0) {
        pthread_mutex_lock(&be->mutex);
        be->cmd = SL_CUDA_CMD_STOP;
        atomic_store(&be->pending, started);
        atomic_fetch_add_explicit(&be->cmd_id, 1, memory_order_release);
        pthread_cond_broadcast(&be->start);
        pthread_mutex_unlock(&be->mutex);
        for (int i = 0; i < be->nlocal; i++)
            if (be->ranks[i].thread_started)
                pthread_join(be->ranks[i].thread, NULL);
    }
    for (int i = 0; be->ranks != NULL && i < be->nlocal; i++)
        sl_cuda_rank_release(&be->ranks[i]);
    sl_cuda_ar_destroy(be->ar);
    if (be->arena_host != NULL)
        (void)cudaFreeHost(be->arena_host);
    if (be->logits_host != NULL)
        (void)cudaFreeHost(be->logits_host);
    if (be->am_host != NULL)
        (void)cudaFreeHost(be->am_host);
    free(be->pos_tmp);
    free(be->seq_of_tmp);
    free(be->slots_tmp);
    free(be->frame);
    free(be->ranks);
    sl_rope_table_free(be->rope);
    pthread_cond_destroy(&be->done);
    pthread_cond_destroy(&be->start);
    pthread_mutex_destroy(&be->mutex);
    free(be);
}

static const sl_backend_ops_t sl_cuda_ops = {
    .forward = sl_cuda_forward,
    .forward_greedy = sl_cuda_backend_forward_greedy,
    .forward_sample = sl_cuda_backend_forward_sample,
    .destroy = sl_cuda_destroy,
};

/* ---- creation --------------------------------------------------------------- */

static int sl_env_int(const char *name, int fallback)
{
    const char *v = getenv(name);
    char *end;
    long x = v != NULL ? strtol(v, &end, 10) : 0;
    return v != NULL && *v != '\0' && *end == '\0' && x >= 0 && x < (1 << 30) ? (int)x
                                                                               : fallback;
}

/* Checks what the kernels take and fills sizes that do not need a GPU. */
static sl_status_t sl_cuda_sizes(sl_cuda_backend_t *be)
{
    const sl_model_config_t *c = be->config;
    const sl_cuda_options_t *o = &be->opt;

    if (!sl_cuda_attention_decode_supported((int)c->head_dim)) {
        sl_error("CUDA backend: head_dim %lld is not supported (16, 32, 64, 128, 256)",
                 (long long)c->head_dim);
        return SL_ERR_UNSUPPORTED;
    }
    if (c->rope.rotary_dim != c->head_dim) {
        sl_error("CUDA backend: partial rotary embeddings are not supported");
        return SL_ERR_UNSUPPORTED;
    }
    if (c->hidden_size > (1 << 20) || c->intermediate_size > (1 << 24) ||
        c->vocab_size > INT32_MAX / 2) {
        sl_error("CUDA backend: model dimensions beyond what the kernels index");
        return SL_ERR_UNSUPPORTED;
    }
    be->block_size = o->block_size > 0 ? o->block_size : 16;
    be->max_tokens = o->max_tokens > 0 ? o->max_tokens : 8192;
    if (o->block_size < 0 || o->max_tokens < 0 || o->num_blocks < 0 ||
        o->mem_fraction_static <= 0 || o->mem_fraction_static > 1 ||
        o->cuda_graph_max_bs < 0) {
        sl_error("CUDA backend: invalid options (block_size %d, max_tokens %d, num_blocks %d, "
                 "mem_fraction_static %g, cuda_graph_max_bs %d)",
                 o->block_size, o->max_tokens, o->num_blocks, o->mem_fraction_static,
                 o->cuda_graph_max_bs);
        return SL_ERR_INVALID_ARG;
    }
    int graph_max = o->disable_cuda_graph ? 0
                    : o->cuda_graph_max_bs > 0 ? o->cuda_graph_max_bs
                                               : 256;
    graph_max = graph_max > be->max_tokens ? be->max_tokens : graph_max;
    /* 1, 2, 4, 8, then every 8 (as SGLang), at most 64 sizes */
    be->num_graph_sizes = 0;
    for (int bs = 1; bs <= graph_max && be->num_graph_sizes < 64;
         bs = bs < 8 ? bs * 2 : bs + 8)
        be->graph_sizes[be->num_graph_sizes++] = bs;
    if (graph_max > 0 && be->graph_sizes[be->num_graph_sizes - 1] < graph_max &&
        be->num_graph_sizes < 64)
        be->graph_sizes[be->num_graph_sizes++] = graph_max;
    be->info.cuda_graph_max_bs = graph_max;
    be->logit_chunk = be->max_tokens < 256 ? be->max_tokens : 256;
    if (be->logit_chunk < graph_max)
        be->logit_chunk = graph_max;

    /* every rank's vocabulary: the gathered logits are padded to the largest */
    be->vocab_pad = 0;
    for (int r = 0; r < be->tp; r++) {
        const sl_rank_geometry_t *g = &be->model->ranks[r].geometry;
        int64_t vocab_local = g->vocab_end - g->vocab_begin;
        if (vocab_local < 1) {
            sl_error("CUDA backend: TP %d leaves rank %d no vocabulary rows", be->tp, r);
            return SL_ERR_UNSUPPORTED;
        }
        if (vocab_local > be->vocab_pad)
            be->vocab_pad = (int32_t)vocab_local;
    }
    for (int i = 0; i < be->nlocal; i++) {
        sl_cuda_rank_t *rk = &be->ranks[i];
        const sl_rank_geometry_t *g = &be->model->ranks[rk->rank].geometry;
        rk->heads = (int32_t)g->num_heads;
        rk->kv_heads = (int32_t)g->num_kv_heads;
        rk->inter = (int32_t)g->intermediate;
        rk->qkv_dim = (int32_t)((g->num_heads + 2 * g->num_kv_heads) * c->head_dim);
        rk->vocab_begin = (int32_t)g->vocab_begin;
        rk->vocab_local = (int32_t)(g->vocab_end - g->vocab_begin);
    }
    be->kv_block_bytes = 2 * (size_t)be->block_size * (size_t)be->ranks[0].kv_heads *
                         (size_t)c->head_dim * 2;

    /* The decode kernel's split workspace for the worst token count. */
    int64_t worst = be->max_tokens;
    for (int t = 1; t <= be->max_tokens && t <= 4096; t++) {
        int sp = sl_cuda_attention_splits(t, be->ranks[0].heads, be->ranks[0].kv_heads,
                                          (int)c->head_dim, INT64_MAX, be->attn_resident);
        int pow2 = 1;
        while (pow2 < sp) /* graphs round the split count up (cuda_step.c) */
            pow2 *= 2;
        sp = pow2;
        if ((int64_t)t * sp > worst)
            worst = (int64_t)t * sp;
    }
    be->attn_ws_floats = worst * be->ranks[0].heads * ((int64_t)c->head_dim + 2);
    be->rope_positions = c->max_position < (1 << 22) ? (int32_t)c->max_position : (1 << 22);

    be->gemv_max_rows = sl_env_int("SLINFER_GEMV_MAX_ROWS", SL_CUDA_GEMV_MAX_ROWS);
    if (be->gemv_max_rows > SL_CUDA_GEMV_MAX_ROWS)
        be->gemv_max_rows = SL_CUDA_GEMV_MAX_ROWS;
    /* Off until measured on two GPUs (docs/PERFORMANCE.md, session 4). */
    be->ar_push = sl_env_int("SLINFER_AR_PUSH", 0) != 0;
    be->gemv_norm = sl_env_int("SLINFER_GEMV_NORM", 1) != 0;
    /* On: TP 2 batch 1 384.1 tok/s against 361.4 with the all-reduce kernels
     * on two H200s, 1.60x TP 1 (docs/PERFORMANCE.md, session 8). */
    be->ar_gemv = sl_env_int("SLINFER_AR_IN_GEMV", 1) != 0;
    /* TP 1 running TP > 1's all-reduce kernels in a group of one: the path
     * of a TP rank measured and tested on one GPU. */
    be->ar_loopback = be->tp == 1 && sl_env_int("SLINFER_AR_LOOPBACK", 0) != 0;
    /* Balanced batch-1 GEMV launches: measured faster on a TP 2 rank's shapes,
     * slower on TP 1's (docs/PERFORMANCE.md, session 6). */
    sl_cuda_gemv_set_balance(be->tp > 1);
    be->spin = sl_env_int("SLINFER_CUDA_SPIN", 1) != 0;
    be->step_times = sl_env_int("SLINFER_CUDA_STEP_TIMES", 0) != 0;
    be->prefill_min = sl_env_int("SLINFER_PREFILL_MIN_TOKENS", SL_CUDA_PREFILL_MIN_TOKENS);
    if (be->prefill_min < 1)
        be->prefill_min = 1;
    be->timeout_s = sl_env_int("SLINFER_CUDA_TIMEOUT", 300);
    return SL_OK;
}

/* The TP group's communicator: one per rank, made together from one id. */
static sl_status_t sl_cuda_nccl_init(sl_cuda_backend_t *be)
{
    ncclUniqueId id;

    if (be->tp == 1)
        return SL_OK;
    if (be->link != NULL)
        SL_RETURN_IF(sl_cuda_link_nccl_id(be, &id));
    else
        SL_NCCL_RETURN_IF_ERROR(ncclGetUniqueId(&id));
    SL_NCCL_RETURN_IF_ERROR(ncclGroupStart());
    for (int i = 0; i < be->nlocal; i++) {
        sl_cuda_rank_t *r = &be->ranks[i];
        cudaError_t e = cudaSetDevice(r->device);
        ncclResult_t n = e == cudaSuccess ? ncclCommInitRank(&r->nccl, be->tp, id, r->rank)
                                          : ncclInvalidUsage;
        if (n != ncclSuccess) {
            sl_error("ncclCommInitRank for rank %d on GPU %d: %s", r->rank, r->device,
                     e != cudaSuccess ? cudaGetErrorString(e) : ncclGetErrorString(n));
            (void)ncclGroupEnd();
            return SL_ERR_NCCL;
        }
    }
    SL_NCCL_RETURN_IF_ERROR(ncclGroupEnd());
    return SL_OK;
}

/* The one-shot all-reduce (gpu/allreduce.cu) for the TP group's messages of
 * up to SLINFER_CUSTOM_ALLREDUCE_MAX_BYTES, when every pair of its GPUs has
 * peer access and neither the option nor SLINFER_CUSTOM_ALLREDUCE=0 turns it
 * off; NCCL takes the rest. Its buffers come before the KV cache is sized. */
static sl_status_t sl_cuda_custom_ar_init(sl_cuda_backend_t *be)
{
    int devices[SL_CUDA_AR_MAX_RANKS], p2p = 0;
    int max_bytes = sl_env_int("SLINFER_CUSTOM_ALLREDUCE_MAX_BYTES",
                               (int)SL_CUDA_AR_DEFAULT_MAX_BYTES);

    if (be->tp == 1 && !be->ar_loopback)
        return SL_OK;
    if (be->opt.disable_custom_all_reduce || sl_env_int("SLINFER_CUSTOM_ALLREDUCE", 1) == 0 ||
        max_bytes < 2) {
        sl_debug("CUDA backend: custom all-reduce off (--disable-custom-all-reduce, "
                 "SLINFER_CUSTOM_ALLREDUCE=0 or SLINFER_CUSTOM_ALLREDUCE_MAX_BYTES=0): NCCL "
                 "for every all-reduce");
        return SL_OK;
    }
    if (be->nlocal < be->tp) {
        sl_debug("CUDA backend: the TP group spans processes: NCCL for every all-reduce");
        return SL_OK;
    }
    if (be->tp > SL_CUDA_AR_MAX_RANKS) {
        sl_debug("CUDA backend: custom all-reduce takes at most %d GPUs: NCCL for TP %d",
                 SL_CUDA_AR_MAX_RANKS, be->tp);
        return SL_OK;
    }
    for (int r = 0; r < be->tp; r++)
        devices[r] = be->ranks[r].device;
    SL_RETURN_IF(sl_cuda_ar_p2p_ok(devices, be->tp, &p2p)); /* 1 for a group of one */
    if (!p2p) {
        sl_debug("CUDA backend: no peer access between every pair of GPUs: NCCL for every "
                 "all-reduce");
        return SL_OK;
    }
    const char *name = getenv("SLINFER_CUSTOM_ALLREDUCE_PROTOCOL");
    sl_cuda_ar_protocol_t protocol = SL_CUDA_AR_DEFAULT_PROTOCOL;
    if (name != NULL && strcmp(name, "barrier") == 0)
        protocol = SL_CUDA_AR_BARRIER;
    else if (name != NULL && strcmp(name, "lamport") == 0)
        protocol = SL_CUDA_AR_LAMPORT;
    else if (name != NULL && *name != '\0')
        sl_warn("SLINFER_CUSTOM_ALLREDUCE_PROTOCOL=%s: not barrier or lamport; the default",
                name);
    SL_RETURN_IF(sl_cuda_ar_create(devices, be->tp, (size_t)max_bytes,
                                   be->timeout_s > 0 ? be->timeout_s : 1.0, protocol, &be->ar));
    be->info.custom_ar_max_bytes = sl_cuda_ar_max_bytes(be->ar);
    /* SLINFER_AR_IN_GEMV: a static set for each all-reduce between two
     * layers' GEMVs at batch 1 (cuda_forward.c, sl_cuda_plan_ar_in_gemv). */
    const int64_t layers = be->config->num_layers, h = be->config->hidden_size;
    if (be->ar_gemv && protocol == SL_CUDA_AR_LAMPORT && layers >= 2 && h % 8 == 0)
        SL_RETURN_IF(sl_cuda_ar_sets_create(be->ar, (int)(2 * layers - 1), (size_t)h));
    sl_debug("CUDA backend: one-shot all-reduce over peer memory (%s protocol) for messages "
             "up to %zu bytes, NCCL above",
             protocol == SL_CUDA_AR_LAMPORT ? "Lamport" : "barrier",
             sl_cuda_ar_max_bytes(be->ar));
    return SL_OK;
}

/* KV blocks that fit every rank's free memory after weights and buffers. */
static sl_status_t sl_cuda_kv_blocks(sl_cuda_backend_t *be)
{
    const sl_model_config_t *c = be->config;
    size_t per_block = (size_t)c->num_layers * be->kv_block_bytes;
    size_t min_free = SIZE_MAX;

    for (int r = 0; r < be->nlocal; r++) {
        size_t free_b = 0, total_b = 0;
        SL_CUDA_RETURN_IF_ERROR(cudaSetDevice(be->ranks[r].device));
        SL_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free_b, &total_b));
        min_free = free_b < min_free ? free_b : min_free;
    }
    if (be->opt.num_blocks > 0) {
        be->num_blocks = be->opt.num_blocks;
    } else {
        double want = (double)min_free * be->opt.mem_fraction_static / (double)per_block - 1;
        if (want < 1) {
            sl_error("CUDA backend: no room for a KV cache: %.2f GB free after the weights, "
                     "%.1f MB per block",
                     (double)min_free / 1e9, (double)per_block / 1e6);
            return SL_ERR_NO_MEMORY;
        }
        be->num_blocks = want > INT32_MAX / 2 ? INT32_MAX / 2 : (int32_t)want;
        /* block ids index every rank's cache alike */
        if (be->link != NULL)
            SL_RETURN_IF(sl_cuda_link_min_blocks(be, &be->num_blocks));
    }
    if ((int64_t)be->num_blocks * be->block_size > INT32_MAX) {
        sl_error("CUDA backend: %d KV blocks of %d exceed 2^31 slots", be->num_blocks,
                 be->block_size);
        return SL_ERR_UNSUPPORTED;
    }
    return SL_OK;
}

sl_status_t sl_cuda_backend_create(const sl_model_t *model, const sl_cuda_options_t *options,
                                   sl_backend_t **backend_p)
{
    sl_cuda_backend_t *be = calloc(1, sizeof(*be));
    int ndev = 0, caller_dev = 0;
    double t0 = sl_cuda_clock();
    sl_status_t s;

    if (be == NULL) {
        sl_error("out of memory creating the CUDA backend");
        return SL_ERR_NO_MEMORY;
    }
    pthread_mutex_init(&be->mutex, NULL);
    pthread_cond_init(&be->start, NULL);
    pthread_cond_init(&be->done, NULL);
    atomic_init(&be->failed, 0);
    be->base.ops = &sl_cuda_ops;
    be->base.name = "cuda";
    be->model = model;
    be->config = model->config;
    be->tp = model->tp;
    if (options != NULL)
        be->opt = *options;
    else
        sl_cuda_options_init(&be->opt);
    if (be->opt.mem_fraction_static == 0)
        be->opt.mem_fraction_static = 0.9;
    be->nlocal = be->opt.local_tp > 0 ? be->opt.local_tp : be->tp;
    if (be->opt.tp_first < 0 || be->nlocal > be->tp || be->opt.tp_first > be->tp - be->nlocal ||
        (be->nlocal < be->tp) != (be->opt.link != NULL) ||
        (be->opt.link != NULL &&
         sl_tp_link_is_leader(be->opt.link) != (be->opt.tp_first == 0))) {
        sl_error("CUDA backend: TP ranks %d..%d of a group of %d%s: not a slice of the group, "
                 "or a group that spans processes without its step link",
                 be->opt.tp_first, be->opt.tp_first + be->nlocal - 1, be->tp,
                 be->opt.link != NULL ? " over a link" : "");
        s = SL_ERR_INVALID_ARG;
        goto err;
    }
    be->link = be->opt.link;
    /* NVLink SHARP / multicast is not needed and can take shared GPUs out of
     * service on some hosts: off unless the user says otherwise. */
    setenv("NCCL_NVLS_ENABLE", "0", 0);

    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev < be->nlocal) {
        sl_error("CUDA backend: TP %d needs %d GPUs in this process; %d usable here%s%s",
                 be->tp, be->nlocal, e == cudaSuccess ? ndev : 0, e != cudaSuccess ? ": " : "",
                 e != cudaSuccess ? cudaGetErrorString(e) : "");
        s = SL_ERR_NO_DEVICE;
        goto err;
    }
    (void)cudaGetDevice(&caller_dev);
    be->ranks = calloc((size_t)be->nlocal, sizeof(*be->ranks));
    if (be->ranks == NULL) {
        s = SL_ERR_NO_MEMORY;
        sl_error("out of memory creating the CUDA backend");
        goto err;
    }
    /* The job's share of the node's GPUs, whose cores the rank threads bind
     * to (several processes per node drive different ones). */
    int *job_devices = NULL;
    if (be->opt.devices == NULL && be->opt.job != NULL &&
        (job_devices = malloc((size_t)be->nlocal * sizeof(int))) == NULL) {
        sl_error("out of memory creating the CUDA backend");
        s = SL_ERR_NO_MEMORY;
        goto err;
    }
    if (job_devices != NULL && !sl_job_gpu_ordinals(be->opt.job, be->nlocal, job_devices)) {
        free(job_devices);
        job_devices = NULL;
    }
    for (int i = 0; i < be->nlocal; i++) {
        sl_cuda_rank_t *r = &be->ranks[i];
        r->be = be;
        r->rank = be->opt.tp_first + i;
        r->local = i;
        r->device = be->opt.devices != NULL ? be->opt.devices[i]
                    : job_devices != NULL   ? job_devices[i]
                                            : i;
        if (r->device < 0 || r->device >= ndev) {
            sl_error("CUDA backend: rank %d on GPU %d, but there are %d", r->rank, r->device,
                     ndev);
            free(job_devices);
            s = SL_ERR_INVALID_ARG;
            goto err;
        }
    }
    free(job_devices);
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, be->ranks[0].device) != cudaSuccess) {
        sl_error("cudaGetDeviceProperties(%d) failed", be->ranks[0].device);
        s = SL_ERR_CUDA;
        goto err;
    }
    be->sm_count = prop.multiProcessorCount;
    /* The decode attention's split counts keep its grid within one wave. */
    be->attn_resident = sl_cuda_attention_resident_blocks(
        be->ranks[0].device, (int)be->config->num_heads, (int)be->config->num_kv_heads,
        (int)be->config->head_dim);
    if (be->attn_resident <= 0)
        be->attn_resident = 2 * be->sm_count; /* the runtime could not say: two a SM */
    snprintf(be->info.device_name, sizeof(be->info.device_name), "%.63s", prop.name);
    be->info.tp = be->tp;
    if ((s = sl_cuda_sizes(be)) != SL_OK ||
        (s = sl_rope_table_create(&be->config->rope, be->rope_positions, &be->rope)) != SL_OK)
        goto err;

    be->pos_tmp = malloc((size_t)be->max_tokens * sizeof(int32_t));
    be->seq_of_tmp = malloc((size_t)be->max_tokens * sizeof(int32_t));
    be->slots_tmp = malloc((size_t)be->max_tokens * sizeof(int64_t));
    if (be->pos_tmp == NULL || be->seq_of_tmp == NULL || be->slots_tmp == NULL) {
        sl_error("out of memory for the step tables of %d tokens", be->max_tokens);
        s = SL_ERR_NO_MEMORY;
        goto err;
    }
    e = cudaHostAlloc((void **)&be->logits_host,
                      (size_t)be->logit_chunk * (size_t)be->config->vocab_size * 4,
                      cudaHostAllocPortable);
    if (e == cudaSuccess)
        e = cudaHostAlloc((void **)&be->am_host,
                          (size_t)be->tp * be->logit_chunk * sizeof(sl_cuda_argmax_t),
                          cudaHostAllocPortable);
    if (e != cudaSuccess) {
        sl_error("cudaHostAlloc for the logits: %s", cudaGetErrorString(e));
        s = SL_ERR_NO_MEMORY;
        goto err;
    }

    for (int i = 0; i < be->nlocal; i++) {
        int err = pthread_create(&be->ranks[i].thread, NULL, sl_cuda_rank_main, &be->ranks[i]);
        if (err != 0) {
            sl_error("pthread_create for CUDA rank %d: %s", be->ranks[i].rank, strerror(err));
            s = SL_ERR_NO_MEMORY;
            goto err;
        }
        be->ranks[i].thread_started = 1;
    }
    if ((s = sl_cuda_run_all(be, SL_CUDA_CMD_INIT)) != SL_OK)
        goto err;
    be->info.load_seconds = sl_cuda_clock() - t0;
    be->info.weight_bytes = be->ranks[0].w.bytes;
    if ((s = sl_cuda_nccl_init(be)) == SL_OK && (s = sl_cuda_custom_ar_init(be)) == SL_OK)
        for (int i = 0; i < be->nlocal; i++)
            sl_cuda_rank_plan_fusions(&be->ranks[i]);
    if (s != SL_OK ||
        (s = sl_cuda_kv_blocks(be)) != SL_OK ||
        (s = sl_cuda_run_all(be, SL_CUDA_CMD_KV)) != SL_OK)
        goto err;
    (void)cudaSetDevice(caller_dev);

    be->base.limits.block_size = be->block_size;
    be->base.limits.num_blocks = be->num_blocks;
    be->base.limits.vocab_size = (int32_t)be->config->vocab_size;
    int64_t capacity = (int64_t)be->num_blocks * be->block_size;
    be->base.limits.max_position = (int32_t)(be->rope_positions < capacity ? be->rope_positions
                                                                           : capacity);
    be->info.kv_tokens = capacity;
    be->info.kv_bytes = (uint64_t)be->config->num_layers * ((uint64_t)be->num_blocks + 1) *
                        be->kv_block_bytes;
    char graphs[32] = "off";
    if (be->info.cuda_graph_max_bs > 0)
        snprintf(graphs, sizeof(graphs), "up to batch %d", be->info.cuda_graph_max_bs);
    char span[64] = "";
    if (be->link != NULL)
        snprintf(span, sizeof(span), " (ranks %d..%d in this process)", be->opt.tp_first,
                 be->opt.tp_first + be->nlocal - 1);
    sl_info("CUDA backend: TP %d%s on %s x%d; weights %.2f GB per GPU in %.1f s%s; KV cache "
            "%lld tokens (%d blocks of %d, %.1f GB per GPU); CUDA graphs %s",
            be->tp, span, be->info.device_name, be->nlocal, (double)be->info.weight_bytes / 1e9,
            be->info.load_seconds, be->opt.dummy_on_device ? " (dummy, generated on GPU)" : "",
            (long long)capacity, be->num_blocks, be->block_size,
            (double)be->info.kv_bytes / 1e9, graphs);
    *backend_p = &be->base;
    return SL_OK;
err:
    (void)cudaSetDevice(caller_dev);
    sl_cuda_destroy(&be->base);
    return s;
}
