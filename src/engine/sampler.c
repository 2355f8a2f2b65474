/* sampler.c - logits to tokens; see sampler.h. */
#include "config.h"

#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* ---- RNG ------------------------------------------------------------------ */

uint64_t sl_rng_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

double sl_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter)
{
    /* Each word goes through its own finaliser before the next is mixed in,
     * so (seed, stream, counter) triples that differ in any word give
     * unrelated outputs (a plain xor of the words would not). */
    uint64_t x = sl_rng_mix(sl_rng_mix(sl_rng_mix(seed) ^ stream) ^ counter);
    return (double)(x >> 11) * 0x1.0p-53;
}

/* ---- penalties --------------------------------------------------------------- */

static void sl_rep_apply(float *logits, const int32_t *ids, size_t n, float penalty,
                         uint8_t *seen)
{
    for (size_t i = 0; i < n; i++) {
        int32_t t = ids[i];
        if (seen[t])
            continue;
        seen[t] = 1;
        logits[t] = logits[t] > 0.0f ? logits[t] / penalty : logits[t] * penalty;
    }
}

void sl_sample_repetition_penalty(float *logits, const int32_t *a, size_t na, const int32_t *b,
                                  size_t nb, float penalty, uint8_t *seen)
{
    sl_rep_apply(logits, a, na, penalty, seen);
    sl_rep_apply(logits, b, nb, penalty, seen);
    /* Reset only what was touched: O(tokens), not O(vocab), per row. */
    for (size_t i = 0; i < na; i++)
        seen[a[i]] = 0;
    for (size_t i = 0; i < nb; i++)
        seen[b[i]] = 0;
}

void sl_sample_frequency_presence(float *logits, const int32_t *ids, size_t n, float frequency,
                                  float presence, int32_t *counts)
{
    for (size_t i = 0; i < n; i++)
        counts[ids[i]]++;
    for (size_t i = 0; i < n; i++) {
        int32_t t = ids[i];
        if (counts[t] == 0)
            continue; /* already applied for an earlier occurrence */
        logits[t] -= frequency * (float)counts[t] + presence;
        counts[t] = 0;
    }
}

void sl_sample_suppress(float *logits, int32_t vocab, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < vocab)
            logits[ids[i]] = -INFINITY;
}

void sl_sample_temperature(float *logits, int32_t vocab, float temperature)
{
    for (int32_t i = 0; i < vocab; i++)
        logits[i] /= temperature;
}

/* ---- filters ------------------------------------------------------------------ */

/* The strict total order of the filters: larger logit first, then lower id. */
static inline int sl_before(const float *logits, int32_t a, int32_t b)
{
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
}

/* Moves the K first tokens of ORDER[lo, hi) in sl_before order to its front
 * (unsorted): quickselect, O(vocab) on average. */
static void sl_select(const float *logits, int32_t *order, int32_t lo, int32_t hi, int32_t k)
{
    while (hi - lo > 1) {
        int32_t mid = lo + (hi - lo) / 2, tmp;
        /* median of three as the pivot, moved to hi - 1 */
        int32_t a = order[lo], b = order[mid], c = order[hi - 1], pivot;
        if (sl_before(logits, a, b) == sl_before(logits, b, c))
            pivot = mid;
        else if (sl_before(logits, b, a) == sl_before(logits, a, c))
            pivot = lo;
        else
            pivot = hi - 1;
        tmp = order[pivot], order[pivot] = order[hi - 1], order[hi - 1] = tmp;
        int32_t p = order[hi - 1], store = lo;
        for (int32_t i = lo; i < hi - 1; i++) {
            if (sl_before(logits, order[i], p)) {
                tmp = order[i], order[i] = order[store], order[store] = tmp;
                store++;
            }
        }
        tmp = order[store], order[store] = order[hi - 1], order[hi - 1] = tmp;
        /* order[lo, store) precede p, order[store] = p */
        if (k == store)
            return;
        if (k < store)
            hi = store;
        else
            lo = store + 1;
    }
}

void sl_sample_top_k(float *logits, int32_t vocab, int32_t k, int32_t *order)
{
    for (int32_t i = 0; i < vocab; i++)
        order[i] = i;
    sl_select(logits, order, 0, vocab, k);
    /* order[k..] are the tokens to drop: -inf only after selection is done. */
    for (int32_t i = k; i < vocab; i++)
        logits[order[i]] = -INFINITY;
}

static int sl_cmp_desc(const void *pa, const void *pb, void *ctx)
{
    const float *logits = ctx;
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    return sl_before(logits, a, b) ? -1 : sl_before(logits, b, a) ? 1 : 0;
}

void sl_sample_top_p(float *logits, int32_t vocab, float top_p, int32_t *order)
{
    int32_t n = 0;
    double total = 0, cum = 0, max;

    for (int32_t i = 0; i < vocab; i++)
        if (logits[i] > -INFINITY)
            order[n++] = i;
    if (n == 0)
        return;
    /* Only the surviving tokens are sorted: after top-k that is k of them. */
    qsort_r(order, (size_t)n, sizeof(*order), sl_cmp_desc, logits);
    max = logits[order[0]];
    for (int32_t i = 0; i < n; i++)
        total += exp((double)logits[order[i]] - max);
    /* Keep token i while the more likely tokens before it sum to < top_p. */
    int32_t keep = 0;
    while (keep < n && cum < (double)top_p * total)
        cum += exp((double)logits[order[keep++]] - max);
    for (int32_t i = keep; i < n; i++)
        logits[order[i]] = -INFINITY;
}

void sl_sample_min_p(float *logits, int32_t vocab, float min_p)
{
    float max = -INFINITY;

    for (int32_t i = 0; i < vocab; i++)
        max = logits[i] > max ? logits[i] : max;
    if (max == -INFINITY)
        return;
    /* p_i / p_max = exp(l_i - max): the normalisation cancels. */
    for (int32_t i = 0; i < vocab; i++)
        if (logits[i] > -INFINITY && (float)exp((double)logits[i] - max) < min_p)
            logits[i] = -INFINITY;
}

/* ---- distributions --------------------------------------------------------- */

int32_t sl_sample_argmax(const float *logits, int32_t vocab)
{
    int32_t best = 0;

    for (int32_t i = 1; i < vocab; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

void sl_sample_softmax(const float *logits, int32_t vocab, float *probs)
{
    float max = logits[sl_sample_argmax(logits, vocab)];
    double sum = 0;

    if (max == -INFINITY) { /* nothing left: all mass on token 0 */
        memset(probs, 0, (size_t)vocab * sizeof(*probs));
        probs[0] = 1.0f;
        return;
    }
    for (int32_t i = 0; i < vocab; i++) {
        float e = logits[i] > -INFINITY ? expf(logits[i] - max) : 0.0f;
        probs[i] = e;
        sum += e;
    }
    for (int32_t i = 0; i < vocab; i++)
        probs[i] = (float)(probs[i] / sum);
}

int32_t sl_sample_categorical(const float *probs, int32_t vocab, double u)
{
    double total = 0, cum = 0, target;
    int32_t last = 0;

    for (int32_t i = 0; i < vocab; i++)
        total += probs[i];
    target = u * total;
    for (int32_t i = 0; i < vocab; i++) {
        if (probs[i] <= 0.0f)
            continue;
        cum += probs[i];
        last = i;
        if (cum > target)
            return i;
    }
    return last; /* rounding left target at the very end */
}

double sl_sample_logsumexp(const float *logits, int32_t vocab)
{
    double max = logits[sl_sample_argmax(logits, vocab)], sum = 0;

    if (max == -INFINITY)
        return -INFINITY;
    for (int32_t i = 0; i < vocab; i++)
        sum += exp((double)logits[i] - max);
    return max + log(sum);
}

int32_t sl_sample_top_logprobs(const float *logits, int32_t vocab, double lse, int32_t n,
                               int32_t *ids, float *logprobs)
{
    int32_t count = 0;

    n = n < vocab ? n : vocab;
    if (n <= 0)
        return 0; /* logprobs 0: the chosen token's only (and no ids[n - 1] to compare) */
    /* Insertion into a sorted list of at most n (<= 20): O(vocab * n) worst
     * case, O(vocab) in practice since most tokens fail the first compare. */
    for (int32_t t = 0; t < vocab; t++) {
        if (count == n && !sl_before(logits, t, ids[n - 1]))
            continue;
        int32_t j = count < n ? count++ : n - 1;
        while (j > 0 && sl_before(logits, t, ids[j - 1])) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = t;
    }
    for (int32_t i = 0; i < count; i++)
        logprobs[i] = (float)((double)logits[ids[i]] - lse);
    return count;
}

/* ---- the whole draw ------------------------------------------------------------ */

struct sl_sampler {
    int32_t vocab;
    float *work;     /* [vocab] logits being processed */
    float *probs;    /* [vocab] final distribution      */
    int32_t *order;  /* [vocab] filter scratch          */
    int32_t *counts; /* [vocab] zero between calls      */
    uint8_t *seen;   /* [vocab] zero between calls      */
};

sl_status_t sl_sampler_create(int32_t vocab, sl_sampler_t **sampler_p)
{
    sl_sampler_t *s = calloc(1, sizeof(*s));

    if (s == NULL || vocab < 1)
        goto err;
    s->vocab = vocab;
    s->work = malloc((size_t)vocab * sizeof(*s->work));
    s->probs = malloc((size_t)vocab * sizeof(*s->probs));
    s->order = malloc((size_t)vocab * sizeof(*s->order));
    s->counts = calloc((size_t)vocab, sizeof(*s->counts));
    s->seen = calloc((size_t)vocab, 1);
    if (s->work == NULL || s->probs == NULL || s->order == NULL || s->counts == NULL ||
        s->seen == NULL)
        goto err;
    *sampler_p = s;
    return SL_OK;
err:
    sl_error("out of memory for a sampler over %d tokens", vocab);
    sl_sampler_free(s);
    return SL_ERR_NO_MEMORY;
}

void sl_sampler_free(sl_sampler_t *s)
{
    if (s == NULL)
        return;
    free(s->work);
    free(s->probs);
    free(s->order);
    free(s->counts);
    free(s->seen);
    free(s);
}

void sl_sampler_sample(sl_sampler_t *s, const float *logits, const sl_sample_row_t *row,
                       const sl_sample_history_t *h, sl_sample_result_t *results)
{
    int32_t vocab = s->vocab, ns = row->num_samples > 0 ? row->num_samples : 1;
    float *w = s->work; /* [vocab] */
    int greedy = row->temperature < SL_SAMPLE_GREEDY_EPS;

    memcpy(w, logits, (size_t)vocab * sizeof(*w));
    if (row->repetition_penalty != 1.0f)
        sl_sample_repetition_penalty(w, h->prompt, h->prompt_len, h->output, h->output_len,
                                     row->repetition_penalty, s->seen);
    if (row->frequency_penalty != 0.0f || row->presence_penalty != 0.0f)
        sl_sample_frequency_presence(w, h->output, h->output_len, row->frequency_penalty,
                                     row->presence_penalty, s->counts);
    if (row->suppress_stop)
        sl_sample_suppress(w, vocab, h->suppress, h->num_suppress);
    if (greedy) {
        int32_t t = sl_sample_argmax(w, vocab);
        for (int32_t j = 0; j < ns; j++)
            results[j].token = t;
    } else {
        sl_sample_temperature(w, vocab, row->temperature);
        if (row->top_k > 0 && row->top_k < vocab)
            sl_sample_top_k(w, vocab, row->top_k, s->order);
        if (row->top_p < 1.0f)
            sl_sample_top_p(w, vocab, row->top_p, s->order);
        if (row->min_p > 0.0f)
            sl_sample_min_p(w, vocab, row->min_p);
        sl_sample_softmax(w, vocab, s->probs);
        for (int32_t j = 0; j < ns; j++) {
            double u = sl_rng_uniform(row->seed, row->stream + (uint64_t)j, row->counter);
            results[j].token = sl_sample_categorical(s->probs, vocab, u);
        }
    }
    if (row->logprobs < 0) {
        for (int32_t j = 0; j < ns; j++)
            results[j].logprob = 0.0f, results[j].num_top = 0;
        return;
    }
    double lse = sl_sample_logsumexp(logits, vocab);
    int32_t ntop = row->logprobs < SL_MAX_LOGPROBS ? row->logprobs : SL_MAX_LOGPROBS;
    for (int32_t j = 0; j < ns; j++)
        results[j].logprob = (float)((double)logits[results[j].token] - lse);
    /* The alternatives are the row's, the same for every sample of it. */
    results[0].num_top = sl_sample_top_logprobs(logits, vocab, lse, ntop, results[0].top_ids,
                                                results[0].top_logprobs);
    for (int32_t j = 1; j < ns; j++) {
        results[j].num_top = results[0].num_top;
        memcpy(results[j].top_ids, results[0].top_ids, sizeof(results[0].top_ids));
        memcpy(results[j].top_logprobs, results[0].top_logprobs,
               sizeof(results[0].top_logprobs));
    }
}
