/*
 * cuda_sample.c - forward_sample of the CUDA backend (backend.h): the step
 * runs as for logits, but the gathered float32 logits stay on the GPU and
 * rank 0 runs the whole sampler there (gpu/sampler.cu, the twin of
 * engine/sampler.c); only the results come back, 172 bytes a sample
 * instead of 4 * vocab bytes a row (131 MB a step at 256 x 128256).
 *
 * On the caller's thread, the rows' parameters, where their history ids and
 * results are, and the history ids of the rows that have penalties are
 * packed into one pinned buffer. Rank 0 uploads it with one copy, and after
 * the logits of each chunk of rows are gathered (after the graph replay of
 * a decode step: sampling is not captured) samples the chunk on its stream
 * and copies the chunk's results back into a pinned buffer, from which the
 * caller's array is filled once the stream is done.
 *
 * Rank 0 keeps the sampler's scratch, [logit_chunk, vocab] float32 work rows
 * and int32 marks (zero between steps), allocated with the activations so
 * the KV cache is sized after them.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_internal.h"
#include "core/log.h"

struct sl_cuda_sampling {
    /* the packed inputs of a step, filled on the caller's thread */
    char *host;                  /* pinned: params [n], meta [n], ids [num_ids] */
    size_t host_cap;
    size_t off_meta, off_ids, bytes;
    int32_t num_rows;
    size_t num_results;
    sl_sample_result_t *res_host; /* pinned [num_results]                      */
    size_t res_host_cap;          /* bytes                                     */

    /* rank 0's device copies and scratch */
    char *dev;                   /* [bytes] the packed inputs                    */
    size_t dev_cap;
    sl_sample_result_t *res_dev; /* [num_results]                                */
    size_t res_dev_cap;          /* bytes                                        */
    float *work;                 /* [logit_chunk, vocab]                         */
    int32_t *marks;              /* [logit_chunk, vocab] zero between launches   */
};

static size_t sl_align16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

sl_status_t sl_cuda_sample_init(sl_cuda_rank_t *r)
{
    sl_cuda_backend_t *be = r->be;
    size_t elems = (size_t)be->logit_chunk * (size_t)be->config->vocab_size;
    sl_cuda_sampling_t *sm;

    if (r->rank != 0)
        return SL_OK;
    /* The kernel reads vocab-parallel segments of vocab_pad ids: rank k's
     * vocabulary must start at k * vocab_pad (model_layout.c's split). */
    for (int k = 0; k < be->tp; k++) {
        int64_t begin = be->model->ranks[k].geometry.vocab_begin;
        if (begin != (int64_t)k * be->vocab_pad) {
            sl_error("CUDA backend: rank %d's vocabulary starts at %lld, not %lld: GPU "
                     "sampling needs equal vocabulary shards",
                     k, (long long)begin, (long long)k * be->vocab_pad);
            return SL_ERR_UNSUPPORTED;
        }
    }
    if ((sm = calloc(1, sizeof(*sm))) == NULL) {
        sl_error("out of memory for the GPU sampler");
        return SL_ERR_NO_MEMORY;
    }
    be->sampling = sm;
    cudaError_t e = cudaMalloc((void **)&sm->work, elems * sizeof(float));
    if (e == cudaSuccess)
        e = cudaMalloc((void **)&sm->marks, elems * sizeof(int32_t));
    if (e != cudaSuccess) {
        sl_error("rank 0: cudaMalloc of %.1f MB for the GPU sampler's scratch on GPU %d: %s",
                 (double)elems * 8 / 1e6, r->device, cudaGetErrorString(e));
        return e == cudaErrorMemoryAllocation ? SL_ERR_NO_MEMORY : SL_ERR_CUDA;
    }
    SL_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(sm->marks, 0, elems * sizeof(int32_t), r->stream));
    SL_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(r->stream));
    return SL_OK;
}

void sl_cuda_sample_free(sl_cuda_rank_t *r)
{
    sl_cuda_sampling_t *sm = r->be->sampling;

    if (r->rank != 0 || sm == NULL)
        return;
    void *dev[] = {sm->dev, sm->res_dev, sm->work, sm->marks};
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
        if (dev[i] != NULL)
            (void)cudaFree(dev[i]);
    if (sm->host != NULL)
        (void)cudaFreeHost(sm->host);
    if (sm->res_host != NULL)
        (void)cudaFreeHost(sm->res_host);
    free(sm);
    r->be->sampling = NULL;
}

/* Makes the pinned buffer *P of *CAP bytes hold BYTES (contents dropped). */
static sl_status_t sl_cuda_pinned_reserve(void *p_io, size_t *cap, size_t bytes, const char *what)
{
    void **p = p_io, *fresh;

    if (bytes <= *cap)
        return SL_OK;
    size_t want = bytes + bytes / 2;
    /* Portable: rank 0's device copies from it. */
    cudaError_t e = cudaHostAlloc(&fresh, want, cudaHostAllocPortable);
    if (e != cudaSuccess) {
        sl_error("cudaHostAlloc of %zu bytes for %s: %s", want, what, cudaGetErrorString(e));
        return SL_ERR_NO_MEMORY;
    }
    if (*p != NULL)
        (void)cudaFreeHost(*p);
    *p = fresh;
    *cap = want;
    return SL_OK;
}

/* Which of ROW's history lists its penalties read. */
static void sl_cuda_sample_needs(const sl_sample_row_t *row, int *prompt, int *output,
                                 int *sup)
{
    *prompt = row->repetition_penalty != 1.0f;
    *output = *prompt || row->frequency_penalty != 0.0f || row->presence_penalty != 0.0f;
    *sup = row->suppress_stop != 0;
}

sl_status_t sl_cuda_sample_plan(sl_cuda_backend_t *be, int32_t n, const sl_sample_row_t *rows,
                                const sl_sample_history_t *hist, sl_sample_result_t *results)
{
    sl_cuda_sampling_t *sm = be->sampling;
    size_t ids = 0, nres = 0;
    int wp, wo, ws;
    sl_status_t s;

    if (sm == NULL) {
        sl_error("CUDA backend: the GPU sampler was not set up");
        return SL_ERR_INTERNAL;
    }
    if (n > 0 && (rows == NULL || hist == NULL || results == NULL)) {
        sl_error("forward_sample: %d logit rows but no rows, histories or results", n);
        return SL_ERR_INVALID_ARG;
    }
    for (int32_t i = 0; i < n; i++) {
        const sl_sample_history_t *h = &hist[i];
        sl_cuda_sample_needs(&rows[i], &wp, &wo, &ws);
        if ((wp && h->prompt_len > 0 && h->prompt == NULL) ||
            (wo && h->output_len > 0 && h->output == NULL) ||
            (ws && h->num_suppress > 0 && h->suppress == NULL) || h->prompt_len > INT32_MAX ||
            h->output_len > INT32_MAX || h->num_suppress > INT32_MAX) {
            sl_error("forward_sample: row %d: a history list without its ids, or of 2^31 "
                     "ids or more", i);
            return SL_ERR_INVALID_ARG;
        }
        ids += (wp ? h->prompt_len : 0) + (wo ? h->output_len : 0) + (ws ? h->num_suppress : 0);
        nres += (size_t)(rows[i].num_samples > 0 ? rows[i].num_samples : 1);
    }
    if (nres > INT32_MAX) {
        sl_error("forward_sample: %zu samples in one step", nres);
        return SL_ERR_INVALID_ARG;
    }
    sm->off_meta = sl_align16((size_t)n * sizeof(sl_sample_row_t));
    sm->off_ids = sm->off_meta + sl_align16((size_t)n * sizeof(sl_cuda_sample_meta_t));
    sm->bytes = sm->off_ids + sl_align16(ids * sizeof(int32_t));
    if ((s = sl_cuda_pinned_reserve(&sm->host, &sm->host_cap, sm->bytes,
                                    "the sampling inputs")) != SL_OK ||
        (s = sl_cuda_pinned_reserve(&sm->res_host, &sm->res_host_cap,
                                    (nres > 0 ? nres : 1) * sizeof(sl_sample_result_t),
                                    "the sampling results")) != SL_OK)
        return s;

    sl_sample_row_t *params = (sl_sample_row_t *)sm->host;               /* [n] */
    sl_cuda_sample_meta_t *meta = (sl_cuda_sample_meta_t *)(sm->host + sm->off_meta); /* [n] */
    int32_t *list = (int32_t *)(sm->host + sm->off_ids);                /* [ids] */
    size_t at = 0, res = 0;
    if (n > 0)
        memcpy(params, rows, (size_t)n * sizeof(*params));
    for (int32_t i = 0; i < n; i++) {
        const sl_sample_history_t *h = &hist[i];
        sl_cuda_sample_meta_t *m = &meta[i];
        sl_cuda_sample_needs(&rows[i], &wp, &wo, &ws);
        memset(m, 0, sizeof(*m));
        /* Only what the row's penalties read crosses PCIe. */
        m->prompt = (int64_t)at;
        if (wp && h->prompt_len > 0) {
            memcpy(list + at, h->prompt, h->prompt_len * sizeof(int32_t));
            m->prompt_len = (int32_t)h->prompt_len;
            at += h->prompt_len;
        }
        m->output = (int64_t)at;
        if (wo && h->output_len > 0) {
            memcpy(list + at, h->output, h->output_len * sizeof(int32_t));
            m->output_len = (int32_t)h->output_len;
            at += h->output_len;
        }
        m->suppress = (int64_t)at;
        if (ws && h->num_suppress > 0) {
            memcpy(list + at, h->suppress, h->num_suppress * sizeof(int32_t));
            m->num_suppress = (int32_t)h->num_suppress;
            at += h->num_suppress;
        }
        m->result = (int32_t)res;
        res += (size_t)(rows[i].num_samples > 0 ? rows[i].num_samples : 1);
    }
    sm->num_rows = n;
    sm->num_results = nres;
    be->step.sample = 1;
    be->step.results = results;
    return SL_OK;
}

/* Makes rank 0's device buffer *P of *CAP bytes hold BYTES. Outside graph
 * capture only (cudaFree waits for the device). */
static sl_status_t sl_cuda_dev_reserve(sl_cuda_rank_t *r, void *p_io, size_t *cap, size_t bytes,
                                       const char *what)
{
    void **p = p_io;

    if (bytes <= *cap)
        return SL_OK;
    if (*p != NULL)
        SL_CUDA_RETURN_IF_ERROR(cudaFree(*p));
    *p = NULL;
    *cap = 0;
    size_t want = bytes + bytes / 2;
    cudaError_t e = cudaMalloc(p, want);
    if (e != cudaSuccess) {
        *p = NULL;
        sl_error("rank 0: cudaMalloc of %.1f MB for %s on GPU %d: %s", (double)want / 1e6, what,
                 r->device, cudaGetErrorString(e));
        return e == cudaErrorMemoryAllocation ? SL_ERR_NO_MEMORY : SL_ERR_CUDA;
    }
    *cap = want;
    return SL_OK;
}

sl_status_t sl_cuda_sample_enqueue(sl_cuda_rank_t *r, const sl_cuda_step_t *st, int32_t c0,
                                   int32_t cn)
{
    sl_cuda_backend_t *be = r->be;
    sl_cuda_sampling_t *sm = be->sampling;
    const int32_t real = st->real_logits - c0 < cn ? st->real_logits - c0 : cn;
    const int32_t vp = be->vocab_pad;

    if (real <= 0)
        return SL_OK;
    if (c0 == 0) {
        SL_RETURN_IF(sl_cuda_dev_reserve(r, &sm->dev, &sm->dev_cap, sm->bytes,
                                         "the sampling inputs"));
        SL_RETURN_IF(sl_cuda_dev_reserve(r, &sm->res_dev, &sm->res_dev_cap,
                                         sm->num_results * sizeof(sl_sample_result_t),
                                         "the sampling results"));
        SL_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(sm->dev, sm->host, sm->bytes,
                                                cudaMemcpyHostToDevice, r->stream));
    }
    const sl_cuda_sample_meta_t *meta = (const sl_cuda_sample_meta_t *)(sm->host + sm->off_meta);
    /* The chunk's logits: [cn, vp] at TP 1, else [tp, cn, vp] all-gathered. */
    sl_cuda_sample_args_t a = {
        .logits = be->tp > 1 ? r->gathered : r->lg,
        .ld = vp,
        .seg_stride = (int64_t)cn * vp,
        .seg_vocab = vp,
        .vocab = (int32_t)be->config->vocab_size,
        .rows = real,
        .params = (const sl_sample_row_t *)sm->dev + c0,
        .meta = (const sl_cuda_sample_meta_t *)(sm->dev + sm->off_meta) + c0,
        .ids = (const int32_t *)(sm->dev + sm->off_ids),
        .work = sm->work,
        .marks = sm->marks,
        .results = sm->res_dev,
    };
    SL_RETURN_IF(sl_cuda_sample(&a, r->stream));
    size_t first = (size_t)meta[c0].result;
    size_t end = c0 + real < sm->num_rows ? (size_t)meta[c0 + real].result : sm->num_results;
    SL_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(sm->res_host + first, sm->res_dev + first,
                                            (end - first) * sizeof(sl_sample_result_t),
                                            cudaMemcpyDeviceToHost, r->stream));
    return SL_OK;
}

void sl_cuda_sample_copy_out(sl_cuda_backend_t *be, const sl_cuda_step_t *st, int32_t c0,
                             int32_t real)
{
    const sl_cuda_sampling_t *sm = be->sampling;
    const sl_cuda_sample_meta_t *meta = (const sl_cuda_sample_meta_t *)(sm->host + sm->off_meta);
    size_t first = (size_t)meta[c0].result;
    size_t end = c0 + real < sm->num_rows ? (size_t)meta[c0 + real].result : sm->num_results;

    memcpy(st->results + first, sm->res_host + first, (end - first) * sizeof(*st->results));
}
