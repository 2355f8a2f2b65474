/* bench.c - `slinfer bench`; see bench.h. */
#include "config.h"

#include "bench/bench.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cpu/argmax.h"
#include "backend/cpu/cpu_backend.h"
#include "core/log.h"
#include "engine/engine.h"
#include "job/job.h"
#include "engine/sampler.h"
#ifdef SL_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

#define SL_BENCH_DEFAULT_TFLOPS 730.0 /* DESIGN-NOTES.md: bf16 GEMM 8192^3, one H200 */
#define SL_BENCH_DEFAULT_GBS 4100.0   /* DESIGN-NOTES.md: device-to-device copy     */

void sl_bench_options_init(sl_bench_options_t *o)
{
    memset(o, 0, sizeof(*o));
    o->tp = 1;
    o->load_format = SL_LOAD_SAFETENSORS;
#ifdef SL_HAVE_CUDA
    o->backend = "cuda";
#else
    o->backend = "cpu";
#endif
    o->batch_size = 1;
    o->input_len = 128;
    o->output_len = 256;
    o->runs = 3;
    o->warmup_runs = 1;
    o->random_range_ratio = 0.0;
    o->mem_fraction_static = 0.9;
    o->max_tokens = 16384;
    o->top_p = 1.0;
}

typedef struct sl_bench {
    const sl_bench_options_t *o;
    sl_model_t *model;
    sl_backend_t *be;
    int is_cuda;
    sl_tp_link_t *link;           /* the TP group spans processes (--bootstrap) */
    int follower;                 /* this process follows its leader's steps    */
    double peak_tflops, peak_gbs; /* per GPU */
    int vocab;
    float *logits;                /* [max rows, vocab] when sampling on the host */
    int32_t logits_rows;
    /* with a temperature: how each row is drawn, and what came out */
    sl_sampler_t *sampler;        /* the host's, when it samples            */
    sl_sample_row_t *rows;        /* [sample_rows]                          */
    sl_sample_history_t *hist;    /* [sample_rows] empty: no penalties      */
    sl_sample_result_t *results;  /* [sample_rows]                          */
    int32_t sample_rows;
    char sampling[96];            /* "greedy" or the settings, for reports   */
    /* the model's arithmetic */
    double lin_params;            /* linear-layer weights a token multiplies (no embedding/head) */
    double head_params;           /* vocab x hidden */
    double attn_per_key;          /* flops per (token, attended key): 4 L H hd */
    double weight_bytes;          /* per GPU, read by one decode step */
    double kv_bytes_per_token;    /* per GPU */
    uint64_t rng;
} sl_bench_t;

static double sl_bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t sl_bench_rand(sl_bench_t *b)
{
    b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(b->rng >> 33);
}

static int sl_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The P-th percentile (0..100) of V [n], sorted in place (nearest rank). */
static double sl_percentile(double *v, int n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof(double), sl_cmp_double);
    int k = (int)ceil(p / 100.0 * n) - 1;
    return v[k < 0 ? 0 : k >= n ? n - 1 : k];
}

/* ---- model ------------------------------------------------------------------ */

/* What a token costs: FLOPs and bytes (see bench.h). */
static void sl_bench_arithmetic(sl_bench_t *b)
{
    const sl_model_config_t *c = b->model->config;
    const sl_rank_geometry_t *g = &b->model->ranks[0].geometry;
    double embed_local = (double)(g->vocab_end - g->vocab_begin) * (double)c->hidden_size * 2;
    double all = 0;

    b->lin_params = 0;
    for (size_t i = 0; i < b->model->num_specs; i++) {
        const sl_tensor_spec_t *s = &b->model->specs[i];
        double n = (double)s->shape[0] * (s->ndim == 2 ? (double)s->shape[1] : 1);
        all += n;
        if (s->ndim == 2 && s->role != SL_T_EMBED && s->role != SL_T_LM_HEAD)
            b->lin_params += n;
    }
    b->head_params = (double)c->vocab_size * (double)c->hidden_size;
    b->attn_per_key = 4.0 * (double)c->num_layers * (double)c->num_heads * (double)c->head_dim;
    /* A decode step reads every weight of the rank once, except the
     * embedding table (only the batch's rows) unless it is also the head. */
    b->weight_bytes = all * 2 / b->model->tp;
    if (!c->tie_word_embeddings)
        b->weight_bytes -= embed_local;
    b->kv_bytes_per_token = (double)sl_model_kv_bytes_per_token(b->model, 2);
}

/* ---- one step ------------------------------------------------------------- */

/* Sampling rows for a step of N logit rows: row i is sequence OWNER[i]'s (or
 * i's with OWNER NULL), drawing its token at position COUNTER. */
static sl_status_t sl_bench_sample_rows(sl_bench_t *b, int32_t n, const int32_t *owner,
                                        int32_t counter)
{
    const sl_bench_options_t *o = b->o;

    if (n > b->sample_rows) {
        sl_sample_row_t *rows = realloc(b->rows, (size_t)n * sizeof(*rows));
        if (rows != NULL)
            b->rows = rows;
        sl_sample_history_t *hist = realloc(b->hist, (size_t)n * sizeof(*hist));
        if (hist != NULL)
            b->hist = hist;
        sl_sample_result_t *res = realloc(b->results, (size_t)n * sizeof(*res));
        if (res != NULL)
            b->results = res;
        if (rows == NULL || hist == NULL || res == NULL) {
            sl_error("out of memory for %d sampling rows", n);
            return SL_ERR_NO_MEMORY;
        }
        b->sample_rows = n;
    }
    for (int32_t i = 0; i < n; i++) {
        b->rows[i] = (sl_sample_row_t){
            .temperature = (float)o->temperature, .top_p = (float)o->top_p, .top_k = o->top_k,
            .repetition_penalty = 1.0f, .logprobs = -1, .num_samples = 1, .seed = o->seed,
            .stream = (uint64_t)(owner != NULL ? owner[i] : i), .counter = (uint64_t)counter,
        };
        b->hist[i] = (sl_sample_history_t){0};
    }
    return SL_OK;
}

/* One step: next [num_logits] = each logit row's token (see bench.h). */
static sl_status_t sl_bench_forward(sl_bench_t *b, const sl_batch_t *batch, const int32_t *owner,
                                    int32_t counter, int32_t *next)
{
    const int sampled = b->o->temperature >= SL_SAMPLE_GREEDY_EPS;
    sl_status_t s;

    if (sampled && (s = sl_bench_sample_rows(b, batch->num_logits, owner, counter)) != SL_OK)
        return s;
#ifdef SL_HAVE_CUDA
    if (b->is_cuda && !b->o->logits_on_host && !sampled)
        return sl_cuda_backend_forward_greedy(b->be, batch, next);
    if (b->is_cuda && !b->o->logits_on_host) {
        s = b->be->ops->forward_sample(b->be, batch, b->rows, b->hist, b->results);
        for (int32_t i = 0; s == SL_OK && i < batch->num_logits; i++)
            next[i] = b->results[i].token;
        return s;
    }
#endif
    if (batch->num_logits > b->logits_rows) {
        float *p = realloc(b->logits, (size_t)batch->num_logits * b->vocab * sizeof(float));
        if (p == NULL) {
            sl_error("out of memory for %d logits rows", batch->num_logits);
            return SL_ERR_NO_MEMORY;
        }
        b->logits = p;
        b->logits_rows = batch->num_logits;
    }
    if ((s = sl_backend_forward(b->be, batch, b->logits)) != SL_OK)
        return s;
    if (!sampled) {
        sl_cpu_argmax(b->logits, (size_t)batch->num_logits, (size_t)b->vocab, 0, next, NULL);
        return SL_OK;
    }
    if (b->sampler == NULL && (s = sl_sampler_create(b->vocab, &b->sampler)) != SL_OK)
        return s;
    for (int32_t i = 0; i < batch->num_logits; i++) {
        sl_sampler_sample(b->sampler, b->logits + (size_t)i * (size_t)b->vocab, &b->rows[i],
                          &b->hist[i], &b->results[i]);
        next[i] = b->results[i].token;
    }
    return SL_OK;
}

/* ---- static batch ------------------------------------------------------------ */

typedef struct sl_bench_result {
    double total, prefill, decode;   /* seconds */
    double out_tps, total_tps, prefill_tps, decode_tps;
    double ttft50, ttft99, tpot50, tpot99;
    double flops_prefill, flops_decode, bytes_decode;
} sl_bench_result_t;

static sl_status_t sl_bench_static_run(sl_bench_t *b, sl_bench_result_t *res)
{
    const sl_bench_options_t *o = b->o;
    const int B = o->batch_size, I = o->input_len, O = o->output_len;
    const int32_t bs = b->be->limits.block_size;
    const int nb = (I + O + bs - 1) / bs;
    const int cap = o->max_tokens;
    sl_status_t s = SL_ERR_NO_MEMORY;

    int32_t *tables = malloc((size_t)B * nb * sizeof(int32_t));
    int32_t *prompts = malloc((size_t)B * I * sizeof(int32_t));
    int32_t *cur = malloc((size_t)B * sizeof(int32_t)), *progress = calloc((size_t)B, 4);
    int32_t *tokens = malloc((size_t)(cap > B ? cap : B) * sizeof(int32_t));
    int32_t *idx = malloc((size_t)(B > cap ? B : cap) * sizeof(int32_t));
    int32_t *owner = malloc((size_t)B * sizeof(int32_t)), *next = malloc((size_t)B * 4);
    sl_batch_seq_t *seqs = malloc((size_t)B * sizeof(*seqs));
    double *ttft = malloc((size_t)B * sizeof(double)), *tpot = malloc((size_t)B * sizeof(double));

    if (!tables || !prompts || !cur || !progress || !tokens || !idx || !owner || !next || !seqs ||
        !ttft || !tpot) {
        sl_error("out of memory for a batch of %d", B);
        goto out;
    }
    for (int i = 0; i < B * nb; i++)
        tables[i] = i;
    for (size_t i = 0; i < (size_t)B * I; i++)
        prompts[i] = (int32_t)(sl_bench_rand(b) % (uint32_t)b->vocab);

    double t0 = sl_bench_now();
    int done = 0;
    memset(progress, 0, (size_t)B * 4);
    /* Prefill: sequences in order, up to CAP tokens per step (a prompt longer
     * than that is chunked over steps). */
    for (int first = 0; done < B;) {
        int T = 0, ns = 0, nl = 0;
        for (int q = first; q < B && T < cap; q++) {
            int take = I - progress[q] < cap - T ? I - progress[q] : cap - T;
            memcpy(tokens + T, prompts + (size_t)q * I + progress[q], (size_t)take * 4);
            seqs[ns] = (sl_batch_seq_t){.num_tokens = take, .start_pos = progress[q],
                                        .num_blocks = nb, .block_table = tables + (size_t)q * nb};
            if (progress[q] + take == I) {
                idx[nl] = T + take - 1;
                owner[nl++] = q;
            }
            ns++;
            T += take;
        }
        sl_batch_t batch = {.num_seqs = ns, .seqs = seqs, .num_tokens = T, .tokens = tokens,
                            .num_logits = nl, .logit_indices = idx};
        if ((s = sl_bench_forward(b, &batch, owner, I, next)) != SL_OK)
            goto out;
        double now = sl_bench_now();
        for (int k = 0; k < ns; k++)
            progress[first + k] += seqs[k].num_tokens;
        for (int k = 0; k < nl; k++) {
            cur[owner[k]] = next[k];
            ttft[owner[k]] = now - t0;
        }
        done += nl;
        while (first < B && progress[first] == I)
            first++;
    }
    double t_prefill = sl_bench_now();

    /* Decode: the whole batch, one token each, O - 1 steps. */
    for (int q = 0; q < B; q++) {
        seqs[q] = (sl_batch_seq_t){.num_tokens = 1, .num_blocks = nb,
                                   .block_table = tables + (size_t)q * nb};
        idx[q] = q;
    }
    for (int step = 1; step < O; step++) {
        for (int q = 0; q < B; q++) {
            seqs[q].start_pos = I + step - 1;
            tokens[q] = cur[q];
        }
        sl_batch_t batch = {.num_seqs = B, .seqs = seqs, .num_tokens = B, .tokens = tokens,
                            .num_logits = B, .logit_indices = idx};
        if ((s = sl_bench_forward(b, &batch, NULL, I + step, cur)) != SL_OK)
            goto out;
    }
    double t_end = sl_bench_now();

    for (int q = 0; q < B; q++)
        tpot[q] = O > 1 ? (t_end - t0 - ttft[q]) / (O - 1) : 0;
    res->total = t_end - t0;
    res->prefill = t_prefill - t0;
    res->decode = t_end - t_prefill;
    res->out_tps = (double)B * O / res->total;
    res->total_tps = (double)B * (I + O) / res->total;
    res->prefill_tps = (double)B * I / res->prefill;
    res->decode_tps = O > 1 ? (double)B * (O - 1) / res->decode : 0;
    res->ttft50 = sl_percentile(ttft, B, 50);
    res->ttft99 = sl_percentile(ttft, B, 99);
    res->tpot50 = sl_percentile(tpot, B, 50);
    res->tpot99 = sl_percentile(tpot, B, 99);
    /* causal prompt: token p attends to p + 1 keys */
    res->flops_prefill = (double)B * ((double)I * 2 * b->lin_params +
                                      b->attn_per_key * (double)I * (I + 1) / 2 +
                                      2 * b->head_params);
    res->flops_decode = 0;
    res->bytes_decode = 0;
    for (int step = 1; step < O; step++) {
        double ctx = (double)I + step; /* keys of the token at position I + step - 1 */
        res->flops_decode += (double)B * (2 * b->lin_params + b->attn_per_key * ctx +
                                          2 * b->head_params);
        res->bytes_decode += b->weight_bytes + (double)B * ctx * b->kv_bytes_per_token;
    }
    s = SL_OK;
out:
    free(tables), free(prompts), free(cur), free(progress), free(tokens), free(idx);
    free(owner), free(next), free(seqs), free(ttft), free(tpot);
    return s;
}

static void sl_bench_median(sl_bench_result_t *runs, int n, sl_bench_result_t *m)
{
    double v[64];
    size_t fields = sizeof(sl_bench_result_t) / sizeof(double);
    for (size_t f = 0; f < fields; f++) {
        for (int i = 0; i < n; i++)
            v[i] = ((double *)&runs[i])[f];
        ((double *)m)[f] = sl_percentile(v, n, 50);
    }
}

/* With SLINFER_CUDA_STEP_TIMES=1: the GPU time of a graph step on rank 0,
 * from the upload of its inputs to its results, against the TPOT above (the
 * rest is the host's share of a step). */
static void sl_bench_gpu_busy(sl_bench_t *b, FILE *out)
{
#ifdef SL_HAVE_CUDA
    sl_cuda_backend_info_t info;
    if (!b->is_cuda)
        return;
    sl_cuda_backend_get_info(b->be, &info);
    if (info.timed_steps > 0)
        fprintf(out, "  GPU per graph step  %10.3f ms (%lld steps timed on rank 0)\n",
                info.timed_gpu_s / (double)info.timed_steps * 1e3,
                (long long)info.timed_steps);
#else
    (void)b, (void)out;
#endif
}

static sl_status_t sl_bench_static(sl_bench_t *b, FILE *out)
{
    const sl_bench_options_t *o = b->o;
    int runs = o->runs < 1 ? 1 : o->runs > 64 ? 64 : o->runs;
    sl_bench_result_t r[64], m, warm;
    sl_status_t s;
    double peak_f = b->peak_tflops * 1e12 * b->model->tp;

    for (int i = 0; i < o->warmup_runs; i++) /* graphs captured, caches warm */
        if ((s = sl_bench_static_run(b, &warm)) != SL_OK)
            return s;
    for (int i = 0; i < runs; i++) {
        if ((s = sl_bench_static_run(b, &r[i])) != SL_OK)
            return s;
        fprintf(out, "run %d: %.3f s, output %.1f tok/s, prefill %.1f tok/s, TPOT %.3f ms\n",
                i + 1, r[i].total, r[i].out_tps, r[i].prefill_tps, r[i].tpot50 * 1e3);
    }
    sl_bench_median(r, runs, &m);
    double mfu_prefill = m.flops_prefill / m.prefill / peak_f;
    double mfu_all = (m.flops_prefill + m.flops_decode) / m.total / peak_f;
    double hbm = o->output_len > 1 ? m.bytes_decode / m.decode / (b->peak_gbs * 1e9) : 0;
    fprintf(out, "static batch: batch %d, input %d, output %d, TP %d, %s, %d runs (medians)\n",
            o->batch_size, o->input_len, o->output_len, b->model->tp, b->sampling, runs);
    fprintf(out, "  output throughput   %10.1f tok/s\n", m.out_tps);
    fprintf(out, "  total throughput    %10.1f tok/s\n", m.total_tps);
    fprintf(out, "  prefill             %10.1f tok/s (%.3f s)\n", m.prefill_tps, m.prefill);
    fprintf(out, "  decode              %10.1f tok/s (%.3f s, %.3f ms/step)\n", m.decode_tps,
            m.decode, o->output_len > 1 ? m.decode / (o->output_len - 1) * 1e3 : 0.0);
    fprintf(out, "  TTFT p50 / p99      %10.2f / %.2f ms\n", m.ttft50 * 1e3, m.ttft99 * 1e3);
    fprintf(out, "  TPOT p50 / p99      %10.3f / %.3f ms\n", m.tpot50 * 1e3, m.tpot99 * 1e3);
    fprintf(out, "  MFU prefill / all   %9.1f%% / %.1f%% of %.0f TFLOP/s per GPU\n",
            100 * mfu_prefill, 100 * mfu_all, b->peak_tflops);
    fprintf(out, "  HBM (decode)        %9.1f%% of %.0f GB/s per GPU (%.2f GB per step)\n",
            100 * hbm, b->peak_gbs,
            o->output_len > 1 ? m.bytes_decode / (o->output_len - 1) / 1e9 : 0.0);
    sl_bench_gpu_busy(b, out);
    fprintf(out,
            "RESULT mode=static tp=%d bs=%d in=%d out=%d out_tps=%.1f total_tps=%.1f "
            "prefill_tps=%.1f ttft50_ms=%.2f ttft99_ms=%.2f tpot50_ms=%.3f tpot99_ms=%.3f "
            "mfu_prefill=%.3f mfu=%.3f hbm=%.3f temperature=%g top_p=%g top_k=%d\n",
            b->model->tp, o->batch_size, o->input_len, o->output_len, m.out_tps, m.total_tps,
            m.prefill_tps, m.ttft50 * 1e3, m.ttft99 * 1e3, m.tpot50 * 1e3, m.tpot99 * 1e3,
            mfu_prefill, mfu_all, hbm, o->temperature, o->top_p, o->top_k);
    return SL_OK;
}

/* ---- engine mode --------------------------------------------------------------- */

static int32_t sl_bench_len(sl_bench_t *b, int len, double ratio)
{
    int lo = (int)(ratio * len);
    lo = lo < 1 ? 1 : lo;
    return lo >= len ? len : lo + (int32_t)(sl_bench_rand(b) % (uint32_t)(len - lo + 1));
}

static sl_status_t sl_bench_engine(sl_bench_t *b, FILE *out)
{
    const sl_bench_options_t *o = b->o;
    const int N = o->num_prompts;
    sl_engine_options_t eo;
    sl_engine_t *eng = NULL;
    int32_t *prompt = malloc((size_t)o->input_len * sizeof(int32_t));
    double *ttft = malloc((size_t)N * sizeof(double)), *tpot = malloc((size_t)N * sizeof(double));
    int64_t in_tokens = 0, out_tokens = 0;
    int finished = 0, ntpot = 0;
    sl_status_t s = SL_ERR_NO_MEMORY;

    if (prompt == NULL || ttft == NULL || tpot == NULL) {
        sl_error("out of memory for %d prompts", N);
        goto out;
    }
    sl_engine_options_init(&eo);
    eo.max_prefill_tokens = o->max_tokens;
    eo.seed = o->seed;
    eo.host_sampling = o->logits_on_host != 0;
    if (o->batch_size > 1)
        eo.max_running = o->batch_size;
    if ((s = sl_engine_create(b->be, NULL, b->model->config, &eo, &eng)) != SL_OK)
        goto out;
    double t0 = sl_bench_now();
    for (int i = 0; i < N; i++) {
        int32_t in = sl_bench_len(b, o->input_len, o->random_range_ratio);
        int32_t outn = sl_bench_len(b, o->output_len, o->random_range_ratio);
        sl_sampling_params_t p;
        sl_sampling_params_init(&p);
        p.max_tokens = outn;
        p.temperature = (float)o->temperature;
        p.top_p = (float)o->top_p;
        p.top_k = o->top_k;
        p.ignore_eos = true;
        for (int k = 0; k < in; k++)
            prompt[k] = (int32_t)(sl_bench_rand(b) % (uint32_t)b->vocab);
        in_tokens += in;
        if ((s = sl_engine_submit(eng, (uint64_t)i, prompt, in, &p)) != SL_OK)
            goto out;
    }
    if ((s = sl_engine_run(eng)) != SL_OK)
        goto out;
    double total = sl_bench_now() - t0;
    for (sl_request_t *r; (r = sl_engine_poll(eng)) != NULL; sl_request_free(r)) {
        int n = r->seqs[0].num_out;
        out_tokens += n;
        if (finished < N) {
            ttft[finished] = r->timing.first_token - r->timing.arrival;
            if (n > 1)
                tpot[ntpot++] = (r->timing.finish - r->timing.first_token) / (n - 1);
        }
        finished++;
    }
    double ttft50 = sl_percentile(ttft, finished < N ? finished : N, 50);
    double ttft99 = sl_percentile(ttft, finished < N ? finished : N, 99);
    double tpot50 = sl_percentile(tpot, ntpot, 50), tpot99 = sl_percentile(tpot, ntpot, 99);
    fprintf(out, "engine: %d prompts, input <= %d, output <= %d (range ratio %.2f), TP %d, %s\n",
            N, o->input_len, o->output_len, o->random_range_ratio, b->model->tp, b->sampling);
    fprintf(out, "  finished            %10d requests in %.2f s\n", finished, total);
    fprintf(out, "  output throughput   %10.1f tok/s\n", (double)out_tokens / total);
    fprintf(out, "  total throughput    %10.1f tok/s\n",
            (double)(out_tokens + in_tokens) / total);
    fprintf(out, "  TTFT p50 / p99      %10.1f / %.1f ms\n", ttft50 * 1e3, ttft99 * 1e3);
    fprintf(out, "  TPOT p50 / p99      %10.3f / %.3f ms\n", tpot50 * 1e3, tpot99 * 1e3);
    fprintf(out,
            "RESULT mode=engine tp=%d prompts=%d in=%d out=%d out_tps=%.1f total_tps=%.1f "
            "ttft50_ms=%.1f ttft99_ms=%.1f tpot50_ms=%.3f tpot99_ms=%.3f temperature=%g "
            "top_p=%g top_k=%d\n",
            b->model->tp, N, o->input_len, o->output_len, (double)out_tokens / total,
            (double)(out_tokens + in_tokens) / total, ttft50 * 1e3, ttft99 * 1e3, tpot50 * 1e3,
            tpot99 * 1e3, o->temperature, o->top_p, o->top_k);
    s = SL_OK;
out:
    sl_engine_free(eng);
    free(prompt), free(ttft), free(tpot);
    return s;
}

/* ---- the whole run ------------------------------------------------------------- */

#ifndef SL_HAVE_CUDA
sl_status_t sl_bench_ceilings(int device, double *copy_gbs_p, double *gemm_tflops_p)
{
    (void)device, (void)copy_gbs_p, (void)gemm_tflops_p;
    sl_error("bench: measuring the GPU's ceilings needs a CUDA build");
    return SL_ERR_UNSUPPORTED;
}
#endif

static sl_status_t sl_bench_backend(sl_bench_t *b)
{
    const sl_bench_options_t *o = b->o;
    int cuda = strcmp(o->backend, "cuda") == 0;

    if (!cuda && strcmp(o->backend, "cpu") != 0) {
        sl_error("bench: unknown backend '%s' (cuda, cpu)", o->backend);
        return SL_ERR_INVALID_ARG;
    }
#ifdef SL_HAVE_CUDA
    if (cuda) {
        sl_cuda_options_t co;
        sl_status_t s;
        sl_cuda_options_init(&co);
        co.block_size = o->block_size;
        co.mem_fraction_static = o->mem_fraction_static;
        /* The engine's steps hold up to max_prefill_tokens of prefill plus
         * one token of every running request. */
        co.max_tokens = o->max_tokens + (o->num_prompts > 0 ? (o->batch_size > 1 ? o->batch_size
                                                                                 : 256)
                                                            : 0);
        co.cuda_graph_max_bs = o->cuda_graph_max_bs;
        co.disable_cuda_graph = o->disable_cuda_graph;
        co.disable_custom_all_reduce = o->disable_custom_all_reduce;
        co.dummy_on_device = o->load_format == SL_LOAD_DUMMY;
        co.seed = o->seed;
        if (o->job != NULL) {
            /* One TP group, maybe over several processes (job.h's sl_job_span). */
            sl_span_t span;
            int gpus = sl_job_local_gpus(o->job, sl_cuda_device_count());
            if ((s = sl_job_span(o->job, o->tp, gpus, &span, &b->link)) != SL_OK)
                return s;
            if (span.dp != 1) {
                sl_error("bench measures one TP group: --tp %d takes %d process(es) of %d "
                         "GPU(s); the job has %d",
                         o->tp, span.per_group, span.local_tp, span.procs);
                return SL_ERR_INVALID_ARG;
            }
            co.job = o->job;
            co.tp_first = span.tp_first;
            co.local_tp = b->link != NULL ? span.local_tp : 0;
            co.link = b->link;
            b->follower = !span.leader;
        }
        if ((s = sl_cuda_backend_create(b->model, &co, &b->be)) != SL_OK)
            return s;
        b->is_cuda = 1;
        return SL_OK;
    }
#else
    if (cuda) {
        sl_error("bench: this slinfer was built without CUDA (use --backend cpu)");
        return SL_ERR_UNSUPPORTED;
    }
#endif
    /* CPU: a KV cache just large enough for the static batch */
    int32_t bsz = o->block_size > 0 ? o->block_size : 16;
    int64_t per = (o->input_len + o->output_len + bsz - 1) / bsz;
    int64_t seqs = o->num_prompts > 0 ? (o->batch_size > 1 ? o->batch_size : 8) : o->batch_size;
    sl_backend_options_t bo = {.threads = o->threads, .block_size = bsz,
                               .num_blocks = (int32_t)(per * seqs + 1)};
    return sl_cpu_backend_create(b->model, &bo, &b->be);
}

sl_status_t sl_bench_run(const sl_bench_options_t *o, FILE *out)
{
    sl_bench_t b = {.o = o, .rng = o->seed * 2654435761u + 12345};
    sl_model_options_t mo;
    sl_status_t s;
    double t_start = sl_bench_now();

    b.peak_tflops = o->peak_tflops > 0 ? o->peak_tflops : SL_BENCH_DEFAULT_TFLOPS;
    b.peak_gbs = o->peak_gbs > 0 ? o->peak_gbs : SL_BENCH_DEFAULT_GBS;
    if (o->measure_ceilings) {
        double gbs, tflops;
        if ((s = sl_bench_ceilings(0, &gbs, &tflops)) != SL_OK)
            return s;
        fprintf(out, "ceilings (GPU 0): device-to-device copy %.0f GB/s (read + write), bf16 "
                     "GEMM 8192^3 %.1f TFLOP/s\n",
                gbs, tflops);
        fprintf(out, "RESULT mode=ceilings copy_gbs=%.1f gemm_tflops=%.1f\n", gbs, tflops);
        if (o->peak_tflops <= 0)
            b.peak_tflops = tflops;
        if (o->peak_gbs <= 0)
            b.peak_gbs = gbs;
        if (o->model_dir == NULL)
            return SL_OK;
    }
    sl_model_options_init(&mo);
    mo.tp = o->tp;
    mo.load_format = o->load_format;
    mo.seed = o->seed;
    /* The CUDA backend makes dummy weights on the GPUs: no host copy. */
    if (strcmp(o->backend, "cuda") == 0 && o->load_format == SL_LOAD_DUMMY)
        mo.geometry_only = true;
    s = sl_model_load(o->model_dir, &mo, &b.model);
    if (s != SL_OK)
        return s;
    b.vocab = (int)b.model->config->vocab_size;
    if (o->temperature >= SL_SAMPLE_GREEDY_EPS)
        snprintf(b.sampling, sizeof(b.sampling), "sampled (temperature %g, top-p %g, top-k %d) "
                 "on the %s", o->temperature, o->top_p, o->top_k,
                 o->logits_on_host || strcmp(o->backend, "cuda") != 0 ? "host" : "GPU");
    else
        snprintf(b.sampling, sizeof(b.sampling), "greedy");
    sl_bench_arithmetic(&b);
    if ((s = sl_bench_backend(&b)) != SL_OK)
        goto out;
#ifdef SL_HAVE_CUDA
    if (b.follower) {
        s = sl_cuda_backend_follow(b.be);
        goto out;
    }
#endif
    fprintf(out, "model %s (%s), TP %d, backend %s, weights %s; ready in %.1f s\n",
            o->model_dir, b.model->config->arch_name, b.model->tp, b.be->name,
            o->load_format == SL_LOAD_DUMMY ? "dummy" : "safetensors",
            sl_bench_now() - t_start);
#ifdef SL_HAVE_CUDA
    if (b.is_cuda) {
        sl_cuda_backend_info_t info;
        sl_cuda_backend_get_info(b.be, &info);
        fprintf(out, "  %s x%d, %.2f GB weights per GPU, KV cache %lld tokens, CUDA graphs %s\n",
                info.device_name, info.tp, (double)info.weight_bytes / 1e9,
                (long long)info.kv_tokens, info.cuda_graph_max_bs > 0 ? "on" : "off");
    }
#endif
    if (o->num_prompts > 0)
        s = sl_bench_engine(&b, out);
    else
        s = sl_bench_static(&b, out);
out:
    sl_backend_destroy(b.be);
    sl_tp_link_close(b.link);
    sl_model_free(b.model);
    free(b.logits);
    sl_sampler_free(b.sampler);
    free(b.rows), free(b.hist), free(b.results);
    return s;
}
