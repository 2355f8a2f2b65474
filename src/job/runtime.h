/*
 * runtime.h - a model ready to serve requests in this process: the weights
 * (src/model), the tokenizer and chat template, generation_config.json's EOS
 * ids, a backend with its KV cache and the engine over it. `slinfer run`
 * and `slinfer serve` open one per DP group.
 */
#ifndef SL_JOB_RUNTIME_H
#define SL_JOB_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "comm/tp_link.h"
#include "core/status.h"
#include "engine/engine.h"
#include "engine/gen_config.h"
#include "engine/parallel.h"
#include "io/record.h"
#include "model/model.h"
#include "template/chat_template.h"
#include "tokenizer/tokenizer.h"

/* --kv-cache-memory when not given (CPU). */
#define SL_RUNTIME_DEFAULT_KV_BYTES (256ull << 20)

typedef struct sl_runtime_options {
    const char *model_dir;      /* --model, --model-path                  */
    sl_model_options_t model;   /* --tp, --load-format                    */
    sl_engine_options_t engine; /* --max-running-requests, ...            */
    int32_t page_size;          /* --page-size (16)                       */
    int32_t threads;            /* --threads (0: default)                 */
    uint64_t kv_bytes;          /* --kv-cache-memory (0: default above;
                                   on GPUs --mem-fraction-static decides) */
    const char *device;         /* --device: "auto" (NULL), "cpu", "cuda" */
    double mem_fraction_static; /* GPU: of free memory after weights (0.9) */
    int32_t cuda_graph_max_bs;  /* --cuda-graph-max-bs (0: default)       */
    int disable_cuda_graph;     /* --disable-cuda-graph                   */
    int disable_custom_all_reduce; /* --disable-custom-all-reduce: NCCL only */
    const struct sl_job *job;   /* binds GPU worker threads and picks their GPUs
                                   (its share of the node's); NULL: none, GPUs
                                   0, 1, ...                              */
    int tp_first, local_tp;     /* a TP group that spans processes (job.h's
                                   sl_job_span): this process's TP ranks;
                                   0, 0: the whole group                  */
    sl_tp_link_t *link;         /* and its step link                       */
} sl_runtime_options_t;

typedef struct sl_runtime {
    bool follower;               /* follows its group leader's steps: no
                                    engine, tokenizer or template          */
    sl_model_t *model;
    sl_tok_t *tok;               /* NULL: the folder has no tokenizer.json */
    sl_chat_template_t *chat;    /* NULL: no chat template                 */
    sl_gen_config_t gen;         /* EOS ids                                */
    sl_backend_t *backend;
    sl_engine_t *engine;
    int32_t num_blocks;          /* KV blocks of the cache                 */
} sl_runtime_t;

void sl_runtime_options_init(sl_runtime_options_t *options);

/* GPUs a runtime of OPTIONS would drive in this process: 0 for the CPU
 * backend (--device cpu, a build without CUDA, no GPU), else the job's share
 * of the node's GPUs (or every GPU the process sees, without a job). */
int sl_runtime_local_gpus(const sl_runtime_options_t *options);

/* Joins the job's DP x TP layout (job.h's sl_job_span, a collective) for
 * OPTIONS' --tp and this process's GPUs; sets options->job, and where the
 * TP group spans processes tp_first, local_tp and link (which the caller
 * closes with sl_tp_link_close after the runtime). Logs failures. */
sl_status_t sl_runtime_span(sl_runtime_options_t *options, const struct sl_job *job,
                            sl_span_t *span_p);

/* Loads everything; errors are logged where they happen. The backend is
 * CUDA with --device cuda, or with auto when this build has CUDA and the
 * process sees a GPU; the CPU otherwise. A follower (tp_first > 0) loads
 * only the model's weights of its TP ranks into its backend. */
sl_status_t sl_runtime_open(const sl_runtime_options_t *options, sl_runtime_t **rt_p);
void sl_runtime_close(sl_runtime_t *rt);

/* A follower: runs its leader's steps until the leader's runtime closes
 * (SL_OK) or something fails (logged). */
sl_status_t sl_runtime_follow(sl_runtime_t *rt);

/* The prompt of REQUEST as token ids: text is tokenized (special tokens as
 * the tokenizer's post-processor adds them), chat messages are rendered with
 * the chat template (generation prompt added) and tokenized without adding
 * special tokens again, token ids are checked against the vocabulary. On
 * failure: SL_ERR_INVALID_ARG and why in ERR (not logged: the caller makes
 * it an error record). *ids_p is malloc'ed. */
sl_status_t sl_runtime_prompt(const sl_runtime_t *rt, const sl_io_request_t *request,
                              int32_t **ids_p, size_t *n_p, char *err, size_t err_size);

#endif /* SL_JOB_RUNTIME_H */
