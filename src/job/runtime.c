/* runtime.c - see runtime.h. */
#include "config.h"

#include "job/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/cpu/cpu_backend.h"
#include "core/log.h"
#include "job/job.h"
#ifdef SL_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

void sl_runtime_options_init(sl_runtime_options_t *options)
{
    memset(options, 0, sizeof(*options));
    sl_model_options_init(&options->model);
    sl_engine_options_init(&options->engine);
    options->page_size = 16;
}

/* The tokenizer when DIR has one; a model without is usable with ids. */
static sl_status_t sl_runtime_tokenizer(const char *dir, sl_tok_t **tok_p)
{
    char path[4096];
    struct stat st;

    *tok_p = NULL;
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    if (stat(path, &st) != 0) {
        sl_warn("%s has no tokenizer.json: only token-id prompts can run", dir);
        return SL_OK;
    }
    return sl_tok_load(dir, tok_p);
}

int sl_runtime_local_gpus(const sl_runtime_options_t *o)
{
    if (o->device != NULL && strcmp(o->device, "cpu") == 0)
        return 0;
#ifdef SL_HAVE_CUDA
    return sl_job_local_gpus(o->job, sl_cuda_device_count());
#else
    return 0;
#endif
}

sl_status_t sl_runtime_span(sl_runtime_options_t *o, const sl_job_t *job, sl_span_t *span_p)
{
    sl_tp_link_t *link = NULL;
    sl_status_t s;

    o->job = job;
    if ((s = sl_job_span(job, o->model.tp, sl_runtime_local_gpus(o), span_p, &link)) != SL_OK)
        return s;
    o->tp_first = span_p->tp_first;
    o->local_tp = link != NULL ? span_p->local_tp : 0;
    o->link = link;
    return SL_OK;
}

/* 1 for CUDA, 0 for the CPU; -1 (logged) when --device cannot be had. */
static int sl_runtime_use_cuda(const sl_runtime_options_t *o)
{
    const char *device = o->device != NULL ? o->device : "auto";

    if (strcmp(device, "cpu") == 0)
        return 0;
#ifdef SL_HAVE_CUDA
    int gpus = sl_runtime_local_gpus(o);
    int need = o->local_tp > 0 ? o->local_tp : o->model.tp;
    /* auto falls back to the CPU only where there is no GPU at all: a GPU
     * job whose --tp outgrows its process must not quietly load the model
     * into host memory instead. */
    if ((strcmp(device, "cuda") == 0 || gpus > 0) && gpus < need) {
        sl_error("--tp %d: this process drives %d GPU(s), and the TP group needs %d of them "
                 "here: a TP group spans processes when every process drives the same "
                 "number of GPUs and --tp is a multiple of it; use --tp %d or less, or "
                 "--device cpu",
                 o->model.tp, gpus, need, gpus);
        return -1;
    }
    return gpus > 0 && gpus >= need;
#else
    if (strcmp(device, "cuda") == 0) {
        sl_error("--device cuda: this slinfer was built without CUDA");
        return -1;
    }
    return 0;
#endif
}

/* The backend over the loaded model: KV blocks from --kv-cache-memory (CPU:
 * float32, every TP rank) or, on GPUs without it, --mem-fraction-static. */
static sl_status_t sl_runtime_backend(const sl_runtime_options_t *o, sl_runtime_t *rt,
                                      int cuda)
{
    size_t elem = cuda ? 2 : sizeof(float);
    uint64_t per_token = sl_model_kv_bytes_per_token(rt->model, elem) * (uint64_t)rt->model->tp;
    sl_status_t status;

    if (!cuda || o->kv_bytes != 0) {
        status = sl_kv_blocks_for_bytes(o->kv_bytes ? o->kv_bytes : SL_RUNTIME_DEFAULT_KV_BYTES,
                                        per_token, o->page_size, &rt->num_blocks);
        if (status != SL_OK)
            return status;
    }
#ifdef SL_HAVE_CUDA
    if (cuda) {
        sl_cuda_options_t co;
        sl_cuda_options_init(&co);
        co.block_size = o->page_size;
        co.num_blocks = o->kv_bytes != 0 ? rt->num_blocks : 0;
        if (o->mem_fraction_static > 0)
            co.mem_fraction_static = o->mem_fraction_static;
        co.max_tokens = o->engine.max_prefill_tokens + o->engine.max_running;
        co.cuda_graph_max_bs = o->cuda_graph_max_bs;
        co.disable_cuda_graph = o->disable_cuda_graph;
        co.disable_custom_all_reduce = o->disable_custom_all_reduce;
        co.job = o->job;
        co.tp_first = o->tp_first;
        co.local_tp = o->local_tp;
        co.link = o->link;
        co.dummy_on_device = o->model.load_format == SL_LOAD_DUMMY;
        co.seed = o->model.seed;
        if ((status = sl_cuda_backend_create(rt->model, &co, &rt->backend)) != SL_OK)
            return status;
        rt->num_blocks = rt->backend->limits.num_blocks;
        return SL_OK;
    }
#endif
    sl_backend_options_t bo = {.threads = o->threads, .block_size = o->page_size,
                               .num_blocks = rt->num_blocks};
    return sl_cpu_backend_create(rt->model, &bo, &rt->backend);
}

sl_status_t sl_runtime_open(const sl_runtime_options_t *o, sl_runtime_t **rt_p)
{
    sl_runtime_t *rt = calloc(1, sizeof(*rt));
    sl_engine_options_t eo = o->engine;
    sl_model_options_t mo = o->model;
    sl_status_t status;
    int cuda = sl_runtime_use_cuda(o);

    if (rt == NULL || cuda < 0) {
        if (rt == NULL)
            sl_error("out of memory opening the model");
        free(rt);
        return rt == NULL ? SL_ERR_NO_MEMORY : SL_ERR_NO_DEVICE;
    }
    /* The GPUs make dummy weights themselves: no host copy to fill. */
    mo.geometry_only = cuda && mo.load_format == SL_LOAD_DUMMY;
    if (o->tp_first > 0) {
        /* A follower: its backend runs what the leader's engine plans. */
        rt->follower = true;
        if (!cuda) {
            sl_error("TP ranks %d..: following a TP group across processes needs the CUDA "
                     "backend",
                     o->tp_first);
            status = SL_ERR_UNSUPPORTED;
            goto err;
        }
        if ((status = sl_model_load(o->model_dir, &mo, &rt->model)) != SL_OK ||
            (status = sl_runtime_backend(o, rt, cuda)) != SL_OK)
            goto err;
        *rt_p = rt;
        return SL_OK;
    }
    if ((status = sl_model_load(o->model_dir, &mo, &rt->model)) != SL_OK ||
        (status = sl_runtime_tokenizer(o->model_dir, &rt->tok)) != SL_OK ||
        (status = sl_gen_config_load(o->model_dir, &rt->gen)) != SL_OK)
        goto err;
    if (rt->tok != NULL && sl_tok_chat_template(rt->tok) != NULL &&
        (status = sl_chat_template_load(o->model_dir, NULL, &rt->chat)) != SL_OK)
        goto err;
    if (rt->tok != NULL)
        sl_gen_config_add_eos(&rt->gen, sl_tok_eos_id(rt->tok));

    eo.eos = rt->gen.eos;
    eo.num_eos = rt->gen.num_eos;
    if ((status = sl_runtime_backend(o, rt, cuda)) != SL_OK ||
        (status = sl_engine_create(rt->backend, rt->tok, rt->model->config, &eo,
                                   &rt->engine)) != SL_OK)
        goto err;
    sl_info("model %s: %s backend, TP %d, KV cache %d blocks of %d tokens (%lld tokens)",
            o->model_dir, rt->backend->name, rt->model->tp, rt->num_blocks, o->page_size,
            (long long)rt->num_blocks * o->page_size);
    *rt_p = rt;
    return SL_OK;
err:
    sl_runtime_close(rt);
    return status;
}

sl_status_t sl_runtime_follow(sl_runtime_t *rt)
{
#ifdef SL_HAVE_CUDA
    if (rt->follower)
        return sl_cuda_backend_follow(rt->backend);
#endif
    sl_error("this runtime leads its group: it has no leader to follow");
    return SL_ERR_INVALID_ARG;
}

void sl_runtime_close(sl_runtime_t *rt)
{
    if (rt == NULL)
        return;
    sl_engine_free(rt->engine);
    sl_backend_destroy(rt->backend);
    sl_chat_template_free(rt->chat);
    sl_tok_free(rt->tok);
    sl_model_free(rt->model);
    free(rt);
}

sl_status_t sl_runtime_prompt(const sl_runtime_t *rt, const sl_io_request_t *req,
                              int32_t **ids_p, size_t *n_p, char *err, size_t err_size)
{
    int32_t vocab = rt->backend->limits.vocab_size;
    char *text = NULL;
    sl_status_t status;

    switch (req->kind) {
    case SL_IO_PROMPT_TOKENS: {
        int32_t *ids = malloc((req->n_input_ids ? req->n_input_ids : 1) * sizeof(*ids));
        if (ids == NULL) {
            snprintf(err, err_size, "out of memory");
            return SL_ERR_NO_MEMORY;
        }
        for (size_t i = 0; i < req->n_input_ids; i++) {
            if (req->input_ids[i] < 0 || req->input_ids[i] >= vocab) {
                snprintf(err, err_size, "input_ids[%zu]: %d is not in the vocabulary (0..%d)",
                         i, req->input_ids[i], vocab - 1);
                free(ids);
                return SL_ERR_INVALID_ARG;
            }
            ids[i] = req->input_ids[i];
        }
        *ids_p = ids;
        *n_p = req->n_input_ids;
        return SL_OK;
    }
    case SL_IO_PROMPT_TEXT:
        if (rt->tok == NULL) {
            snprintf(err, err_size, "the model has no tokenizer: give input_ids");
            return SL_ERR_INVALID_ARG;
        }
        if (sl_tok_encode(rt->tok, req->text, req->text_len, true, ids_p, n_p) != SL_OK) {
            snprintf(err, err_size, "prompt: cannot be tokenized (not UTF-8?)");
            return SL_ERR_INVALID_ARG;
        }
        return SL_OK;
    case SL_IO_PROMPT_MESSAGES: {
        sl_chat_request_t chat = {.messages = req->messages, .add_generation_prompt = true};
        sl_jinja_error_t jerr = {0};
        if (rt->chat == NULL) {
            snprintf(err, err_size, "messages: the model has no chat template");
            return SL_ERR_INVALID_ARG;
        }
        if (sl_chat_template_render(rt->chat, &chat, &jerr, &text) != SL_OK) {
            snprintf(err, err_size, "messages: the chat template failed at %d:%d: %s",
                     jerr.line, jerr.column, jerr.message);
            return SL_ERR_INVALID_ARG;
        }
        /* The template writes BOS and the other special tokens itself. */
        status = sl_tok_encode(rt->tok, text, strlen(text), false, ids_p, n_p);
        free(text);
        if (status != SL_OK) {
            snprintf(err, err_size, "messages: the rendered prompt cannot be tokenized");
            return SL_ERR_INVALID_ARG;
        }
        return SL_OK;
    }
    }
    snprintf(err, err_size, "unknown prompt kind");
    return SL_ERR_INVALID_ARG;
}
