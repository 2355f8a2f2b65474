/*
 * cuda_internal.h - the CUDA backend's own structures, shared by its files:
 *
 *   cuda_backend.c  creation, worker threads, step dispatch, failure/abort
 *   cuda_weights.c  device weight layout and loading (pinned staging, dummy)
 *   cuda_step.c     the host-side plan of a step (one packed upload)
 *   cuda_forward.c  the layers of one rank: eager, captured, replayed
 *   cuda_sample.c   forward_sample: the sampler on rank 0 after the logits
 *
 * Not a public header: only src/backend/cuda/ includes it.
 */
#ifndef SL_BACKEND_CUDA_CUDA_INTERNAL_H
#define SL_BACKEND_CUDA_CUDA_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <nccl.h>

#include "backend/batch.h"
#include "backend/cpu/rope.h"
#include "backend/cuda/cuda_backend.h"
#include "cuda_check.h"
#include "model/model.h"
#include "sl_kernels.h"

/* Logs a failed cuBLAS call and returns SL_ERR_CUDA. */
#define SL_CUBLAS_RETURN_IF_ERROR(CALL)                                                 \
    do {                                                                                \
        cublasStatus_t sl_cublas_st_ = (CALL);                                          \
        if (sl_cublas_st_ != CUBLAS_STATUS_SUCCESS) {                                   \
            sl_error("%s failed: %s (%s)", #CALL, cublasGetStatusName(sl_cublas_st_),   \
                     cublasGetStatusString(sl_cublas_st_));                             \
            return SL_ERR_CUDA;                                                         \
        }                                                                               \
    } while (0)

/* Returns S from the enclosing function when it is not SL_OK. */
#define SL_RETURN_IF(S)                                                                 \
    do {                                                                                \
        sl_status_t sl_ret_ = (S);                                                      \
        if (sl_ret_ != SL_OK)                                                           \
            return sl_ret_;                                                             \
    } while (0)

/* Sequences with at least this many new tokens use the prefill kernel. */
#define SL_CUDA_PREFILL_MIN_TOKENS 16

typedef struct sl_cuda_backend sl_cuda_backend_t;

/* One layer's weights in device memory (bf16 unless noted). */
typedef struct sl_cuda_layer {
    uint16_t *w_qkv;     /* [(heads + 2 kv_heads) * head_dim, hidden] q, k, v rows */
    uint16_t *w_o;       /* [hidden, heads * head_dim] (this rank's columns)        */
    uint16_t *w_gu;      /* [2 * inter, hidden] gate rows, then up rows              */
    uint16_t *w_down;    /* [hidden, inter]                                          */
    uint16_t *attn_norm; /* [hidden] */
    uint16_t *mlp_norm;  /* [hidden] */
    uint16_t *q_norm;    /* [head_dim] or NULL */
    uint16_t *k_norm;    /* [head_dim] or NULL */
    float *b_qkv;        /* [(heads + 2 kv_heads) * head_dim] or NULL */
    float *b_o;          /* [hidden] or NULL (after the all-reduce) */
    float *b_gu;         /* [2 * inter] or NULL */
    float *b_down;       /* [hidden] or NULL (after the all-reduce) */
    int64_t window;      /* sliding window; 0: none */
} sl_cuda_layer_t;

typedef struct sl_cuda_weights {
    void *base;             /* one allocation holding everything below */
    size_t bytes;
    uint16_t *embed;        /* [vocab_local, hidden] */
    uint16_t *lm_head;      /* [vocab_local, hidden] (= embed when tied) */
    uint16_t *final_norm;   /* [hidden] */
    sl_cuda_layer_t *layers; /* [num_layers] (host array) */
} sl_cuda_weights_t;

/* Byte offsets of a step's arrays in the packed step buffer (host pinned,
 * uploaded to every rank's copy in one transfer). */
typedef struct sl_cuda_layout {
    size_t tokens;        /* int32 [num_tokens]                         */
    size_t positions;     /* int32 [num_tokens]                         */
    size_t seq_of;        /* int32 [num_tokens]                         */
    size_t slots;         /* int64 [num_tokens]                         */
    size_t block_offset;  /* int32 [num_seqs]                           */
    size_t logit_rows;    /* int32 [num_logits] token of each logits row */
    size_t decode_tokens; /* int32 [num_decode]                         */
    size_t tiles;         /* int32 [num_tiles, 4]                       */
    size_t block_tables;  /* int32 [block entries] (last: grows)        */
    size_t bytes;
} sl_cuda_layout_t;

/* The plan of one step, made on the caller's thread, read by every rank. */
typedef struct sl_cuda_step {
    int32_t num_tokens, num_seqs, num_logits; /* as run (padded for a graph) */
    int32_t real_logits;                      /* rows the caller asked for   */
    int32_t num_decode, num_tiles, splits;
    int64_t block_entries;
    sl_cuda_layout_t layout;
    int graph_bs;        /* > 0: replay (or capture) the graph of this size */
    int greedy;          /* tokens_out instead of logits                    */
    float *logits;       /* [real_logits, vocab] or NULL                    */
    int32_t *tokens_out; /* [real_logits] or NULL                           */
    int sample;          /* forward_sample: logits stay on the device, rank 0
                            samples them (cuda_sample.c) into results       */
    sl_sample_result_t *results; /* [samples of the real rows] or NULL      */
} sl_cuda_step_t;

typedef struct sl_cuda_graph {
    int bs, greedy, splits;
    cudaGraphExec_t exec;
    int sample;          /* no copy of the logits to the host */
} sl_cuda_graph_t;

/* cuda_sample.c's state: packed inputs, rank 0's scratch. */
typedef struct sl_cuda_sampling sl_cuda_sampling_t;

typedef struct sl_cuda_rank {
    sl_cuda_backend_t *be;
    int rank;               /* in the TP group                          */
    int local;              /* in this process: be->ranks[local]        */
    int device;
    pthread_t thread;
    int thread_started;
    sl_status_t status;     /* of the last command */

    /* this rank's geometry */
    int32_t heads, kv_heads, inter, qkv_dim;
    int32_t vocab_begin, vocab_local;

    cudaStream_t stream;
    cudaEvent_t step_ev[2]; /* SLINFER_CUDA_STEP_TIMES, rank 0: a graph step's start, end */
    cublasHandle_t cublas;
    void *cublas_ws;        /* cuBLAS workspace (fixed, so graphs can capture) */
    ncclComm_t nccl;        /* NULL with TP 1 */
    int nccl_aborted;
    int ar_logged;          /* bits: 1 custom all-reduce used, 2 NCCL used, 4 fused with
                               the norm (debug log) */
    int norm_in_gemv;       /* batch 1 runs the layers' norms inside the GEMVs
                               (sl_cuda_rank_plan_fusions) */
    int ar_in_gemv;         /* TP > 1: batch 1 runs the layers' all-reduces and
                               norms inside the GEMVs (sl_cuda_rank_plan_fusions) */

    sl_cuda_weights_t w;
    float *rope_cos, *rope_sin; /* [rope_positions, head_dim / 2] */

    uint16_t *kv;           /* [layers, 2, num_blocks + 1, block_size, kv_heads, head_dim];
                               block num_blocks is scratch for padded graph rows */
    size_t kv_layer_elems;  /* elements of one layer's K (or V) */

    /* activations, [max_tokens, ...] */
    uint16_t *x;            /* [tokens, hidden] sublayer output         */
    uint16_t *residual;     /* [tokens, hidden] residual stream         */
    uint16_t *residual_alt; /* [hidden] with ar_in_gemv: the residual stream of
                               every other sublayer at batch 1 (cuda_forward.c) */
    uint16_t *xn;           /* [tokens, hidden] normalised              */
    uint16_t *qkv;          /* [tokens, qkv_dim]                        */
    uint16_t *attn;         /* [tokens, heads * head_dim]               */
    uint16_t *gu;           /* [tokens, 2 * inter]                      */
    uint16_t *act;          /* [tokens, inter]                          */
    float *attn_ws;         /* decode split workspace                   */
    /* logits, [logit_chunk, ...] */
    uint16_t *xl, *rl;      /* [chunk, hidden] rows that need logits    */
    float *lg;              /* [chunk, vocab_pad] this rank's logits    */
    float *gathered;        /* [tp, chunk, vocab_pad] (TP > 1)          */
    sl_cuda_argmax_t *am;   /* [chunk] this rank's argmax               */
    sl_cuda_argmax_t *am_all; /* [tp, chunk] (TP > 1)                   */
    sl_cuda_argmax_t *am_part; /* [chunk, SL_CUDA_ARGMAX_MAX_PARTS] scratch */

    void *arena;            /* device copy of the step buffer */
    size_t arena_cap;

    sl_cuda_graph_t *graphs;
    int num_graphs;
} sl_cuda_rank_t;

typedef enum {
    SL_CUDA_CMD_INIT,  /* device, stream, cuBLAS, weights, activations */
    SL_CUDA_CMD_KV,    /* the KV cache, be->num_blocks blocks           */
    SL_CUDA_CMD_STEP,  /* run be->step                                  */
    SL_CUDA_CMD_STOP,
} sl_cuda_cmd_t;

struct sl_cuda_backend {
    sl_backend_t base; /* first: an sl_backend_t * is an sl_cuda_backend_t * */
    const sl_model_t *model;
    const sl_model_config_t *config;
    sl_cuda_options_t opt;
    int tp;                /* ranks in the TP group                          */
    int nlocal;            /* of them in this process: tp_first, tp_first + 1, ... */
    sl_cuda_rank_t *ranks; /* [nlocal] */
    struct sl_tp_link *link; /* the group spans processes: its step link; else NULL */
    void *frame;           /* the leader's step frame for the link */
    size_t frame_cap;
    int gemv_max_rows;     /* SLINFER_GEMV_MAX_ROWS, default SL_CUDA_GEMV_MAX_ROWS */
    int ar_push;           /* SLINFER_AR_PUSH=1: the O and down GEMVs push
                              their rows into the Lamport all-reduce's slots */
    int gemv_norm;         /* SLINFER_GEMV_NORM (default 1): at TP 1, batch 1 runs
                              the norms inside the GEMVs after them */
    int ar_gemv;           /* SLINFER_AR_IN_GEMV (default 1): at TP > 1, batch 1
                              runs the all-reduces and norms inside the GEMVs
                              after them */
    int ar_loopback;       /* SLINFER_AR_LOOPBACK=1 at TP 1: a one-shot all-reduce
                              group of one, so that TP > 1's path runs */
    int step_times;        /* SLINFER_CUDA_STEP_TIMES=1: time graph steps on the GPU */
    int spin;              /* SLINFER_CUDA_SPIN (default 1): threads spin before they
                              sleep between and during steps (cuda_backend.c) */
    int prefill_min;       /* SLINFER_PREFILL_MIN_TOKENS */
    double timeout_s;      /* SLINFER_CUDA_TIMEOUT: a step longer than this is a hang */

    /* commands to the rank threads: cmd, then cmd_id + 1 (release) under the
     * mutex; each side spins on its atomic a while before sleeping on the
     * condition (sl_cuda_run_all) */
    pthread_mutex_t mutex;
    pthread_cond_t start, done;
    atomic_ulong cmd_id;
    sl_cuda_cmd_t cmd;
    atomic_int pending;
    atomic_int failed;     /* a rank failed: everyone aborts */
    sl_cuda_ar_t *ar;      /* one-shot all-reduce over peer memory; NULL: NCCL only */

    /* sizes */
    int32_t max_tokens, logit_chunk, vocab_pad, sm_count;
    int32_t attn_resident;  /* decode attention blocks the GPU holds at once */
    int32_t rope_positions;
    int64_t attn_ws_floats;
    int32_t num_blocks, block_size;
    size_t kv_block_bytes;
    int graph_sizes[64];
    int num_graph_sizes;

    /* the step */
    sl_cuda_step_t step;
    void *arena_host;      /* pinned step buffer */
    size_t arena_cap;
    int32_t *seq_of_tmp, *pos_tmp; /* [max_tokens] host scratch */
    int64_t *slots_tmp;
    float *logits_host;    /* pinned [logit_chunk, vocab] */
    sl_cuda_argmax_t *am_host; /* pinned [tp, logit_chunk] */
    sl_cuda_sampling_t *sampling; /* forward_sample's buffers (rank 0's) */

    sl_rope_table_t *rope;
    sl_cuda_backend_info_t info;
};

/* cuda_weights.c: sizes, allocates and fills rank R's weights. */
sl_status_t sl_cuda_weights_load(sl_cuda_rank_t *r);
void sl_cuda_weights_free(sl_cuda_rank_t *r);

/* cuda_step.c */
void sl_cuda_layout(int32_t tokens, int32_t seqs, int32_t logits, int32_t decode,
                    int32_t tiles, int64_t block_entries, sl_cuda_layout_t *layout);
/* Plans BATCH into be->step and the pinned step buffer. */
sl_status_t sl_cuda_plan_step(sl_cuda_backend_t *be, const sl_batch_t *batch, int greedy,
                              float *logits, int32_t *tokens_out);

/* cuda_backend.c: seconds of CLOCK_MONOTONIC, for the backend's timeouts,
 * spins and load time. */
double sl_cuda_clock(void);

/* cuda_forward.c */
sl_status_t sl_cuda_rank_alloc_activations(sl_cuda_rank_t *r);
/* After the weights, activations and the TP group's all-reduce: which
 * kernel fusions the rank's shapes and operands allow (r->norm_in_gemv,
 * r->ar_in_gemv). */
void sl_cuda_rank_plan_fusions(sl_cuda_rank_t *r);
void sl_cuda_rank_free_activations(sl_cuda_rank_t *r);
/* Runs be->step on rank R and (rank 0) writes its results. */
sl_status_t sl_cuda_rank_step(sl_cuda_rank_t *r);
void sl_cuda_rank_free_graphs(sl_cuda_rank_t *r);
/* Waits for R's stream, watching NCCL and the other ranks. */
sl_status_t sl_cuda_rank_wait(sl_cuda_rank_t *r);

/* cuda_sample.c: rank 0's sampler scratch (other ranks: nothing). */
sl_status_t sl_cuda_sample_init(sl_cuda_rank_t *r);
void sl_cuda_sample_free(sl_cuda_rank_t *r);
/* On the caller's thread, after sl_cuda_plan_step: packs the sampling
 * inputs of the step's N logit rows and makes the step a sampling one. */
sl_status_t sl_cuda_sample_plan(sl_cuda_backend_t *be, int32_t n, const sl_sample_row_t *rows,
                                const sl_sample_history_t *hist, sl_sample_result_t *results);
/* Rank 0, after the logits of rows [c0, c0 + cn) are gathered: samples the
 * real ones among them on its stream and copies their results back. */
sl_status_t sl_cuda_sample_enqueue(sl_cuda_rank_t *r, const sl_cuda_step_t *st, int32_t c0,
                                   int32_t cn);
/* Rank 0, once its stream is done: the REAL rows from c0 to st->results. */
void sl_cuda_sample_copy_out(sl_cuda_backend_t *be, const sl_cuda_step_t *st, int32_t c0,
                             int32_t real);

/* cuda_link.c: a TP group across processes. The leader sends the NCCL id
 * (ID_P [NCCL_UNIQUE_ID_BYTES], made here) or a follower receives it. */
sl_status_t sl_cuda_link_nccl_id(sl_cuda_backend_t *be, void *id_p);
/* The leader: be->step's kind and BATCH to the followers. */
sl_status_t sl_cuda_link_send_step(sl_cuda_backend_t *be, const sl_batch_t *batch);
/* The leader, at destruction: tells the followers to stop. */
void sl_cuda_link_send_stop(sl_cuda_backend_t *be);
/* Every process: the smallest *num_blocks_p of the group's ranks. */
sl_status_t sl_cuda_link_min_blocks(sl_cuda_backend_t *be, int32_t *num_blocks_p);

/* cuda_backend.c: runs be->step (planned) on every local rank. */
sl_status_t sl_cuda_run_local_step(sl_cuda_backend_t *be);

/* cuda_backend.c: marks the backend failed and aborts R's communicator. */
void sl_cuda_rank_fail(sl_cuda_rank_t *r);

/* cuda_forward.c: out [n, ldo] = x [n, ldx] . w^T, w [out_dim, in_dim]. */
sl_status_t sl_cuda_linear(sl_cuda_rank_t *r, void *out, int out_f32, int64_t ldo,
                           const uint16_t *x, int64_t ldx, const uint16_t *w, int n,
                           int out_dim, int in_dim);

#endif /* SL_BACKEND_CUDA_CUDA_INTERNAL_H */
