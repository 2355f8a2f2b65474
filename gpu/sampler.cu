/*
 * sampler.cu - the whole sampler of engine/sampler.c on the GPU, where the
 * logits are: one block per logit row runs the C twin's steps in its order
 * (sl_sampler_sample), each step a device function named after the C
 * function it mirrors, in the same arithmetic (float where sampler.c uses
 * float, double where it uses double, no contracted multiply-adds):
 *
 *   work copy of the raw row            logprobs of the raw row (LSE, top N)
 *   repetition / frequency / presence penalties, suppression of EOS and stops
 *   greedy: argmax | temperature, top-k, top-p, min-p, softmax, the draws
 *
 * Only the results leave the device: 172 bytes a sample instead of 4 * vocab.
 *
 * Filters without a sort: top-k, top-p and the top-N logprobs select on one
 * 64-bit composite per token, the order-preserving bits of its logit (with
 * -0 = +0, as sampler.c's comparisons see them) above ~id, so that larger
 * composites come first exactly in sampler.c's order (larger logit, then
 * lower id). A radix descent, 8 bits a pass, over a histogram of the block
 * finds the cut: for top-k the k-th composite (counts), for top-p the last
 * token whose more likely predecessors hold less than top_p of the mass
 * (masses). Masses are exp(l - max) in 2^-(63 - bits(vocab)) fixed point,
 * summed with integer atomics, so the cut does not depend on the order
 * atomics land in: the GPU sampler is deterministic, and a row's tokens do
 * not depend on the rest of the batch. They differ from sampler.c's double
 * sums (summed in sorted order) by < 1e-9 relative.
 *
 * Draws: the same counter-based RNG (sl_rng_uniform) and rule: the first id
 * in id order whose cumulative probability exceeds u * total, found from
 * each thread's contiguous slice of ids, a block scan of the slices' sums
 * and a rescan of the one slice the target falls in. Tokens equal the host
 * sampler's except where u * total lands within rounding (double sums in
 * another order, fixed point above) of a boundary between two tokens.
 *
 * Scratch: the work rows [rows, vocab] float32 (the logits being filtered,
 * then the probabilities) and marks [rows, vocab] int32, zero between calls,
 * which dedupe the repetition penalty's ids (atomicExch) and count the
 * output ids of the frequency penalty (atomicAdd, taken back with
 * atomicExch: the marks reset themselves).
 */
#include "config.h"

#include <limits.h>
#include <math.h>

#include "sl_device.cuh"
#include "sl_kernels.h"

namespace {

constexpr int kThreads = 512;
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kBins = 256; /* one radix digit: 8 bits */

struct Shared {
    unsigned int count[kBins];          /* radix pass: members per digit            */
    unsigned long long mass[kBins];     /* radix pass: their fixed-point mass       */
    double scan[kThreads];              /* inclusive scan of the slices' mass       */
    double red_d[kWarps];
    float red_f[kWarps];
    int red_i[kWarps];
    unsigned long long pick_prefix, pick_base;
    double pick_thr;
    int pick_done;
    unsigned long long top[SL_MAX_LOGPROBS]; /* composites of the top N, unsorted */
    int top_n;
    int top_ids[SL_MAX_LOGPROBS];       /* the top N, most likely first             */
    float top_lp[SL_MAX_LOGPROBS];
};

/* ---- RNG: twin of sl_rng_mix / sl_rng_uniform ---------------------------------- */

__device__ __forceinline__ unsigned long long rng_mix(unsigned long long x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

__device__ __forceinline__ double rng_uniform(unsigned long long seed, unsigned long long stream,
                                              unsigned long long counter)
{
    unsigned long long x = rng_mix(rng_mix(rng_mix(seed) ^ stream) ^ counter);
    return (double)(x >> 11) * 0x1.0p-53;
}

/* ---- the filters' order ----------------------------------------------------------- */

/* Larger composite = earlier in sampler.c's sl_before order. */
__device__ __forceinline__ unsigned long long composite(float v, int id)
{
    unsigned u = __float_as_uint(v == 0.0f ? 0.0f : v); /* -0 ties +0, as in sl_before */
    unsigned key = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((unsigned long long)key << 32) | (unsigned)~(unsigned)id;
}

/* A cut of that order: composites C with (C >> shift) >= (prefix >> shift)
 * are kept; {0, 0} keeps everything. */
struct Cut {
    unsigned long long prefix;
    int shift;
};

__device__ __forceinline__ bool cut_keep(const Cut &k, unsigned long long c)
{
    return (c >> k.shift) >= (k.prefix >> k.shift);
}

/* ---- block reductions (fixed trees: every thread gets the same bits) --------------- */

__device__ __forceinline__ double warp_sum_d(double v)
{
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
        v += __shfl_xor_sync(kFull, v, off);
    return v;
}

__device__ float block_max(float v, Shared &sh)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = sl::warp_max(v);
    if (lane == 0)
        sh.red_f[warp] = v;
    __syncthreads();
    v = sl::warp_max(lane < kWarps ? sh.red_f[lane] : -INFINITY);
    __syncthreads();
    return v;
}

__device__ int block_max_int(int v, Shared &sh)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
        v = max(v, __shfl_xor_sync(kFull, v, off));
    if (lane == 0)
        sh.red_i[warp] = v;
    __syncthreads();
    v = lane < kWarps ? sh.red_i[lane] : INT_MIN;
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
        v = max(v, __shfl_xor_sync(kFull, v, off));
    __syncthreads();
    return v;
}

__device__ double block_sum(double v, Shared &sh)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    v = warp_sum_d(v);
    if (lane == 0)
        sh.red_d[warp] = v;
    __syncthreads();
    v = warp_sum_d(lane < kWarps ? sh.red_d[lane] : 0.0);
    __syncthreads();
    return v;
}

/* sh.scan[t] = sum of V over threads 0..t. */
__device__ void block_scan(double v, Shared &sh)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
    for (int off = 1; off < 32; off *= 2) {
        double t = __shfl_up_sync(kFull, v, off);
        if (lane >= off)
            v = t + v;
    }
    if (lane == 31)
        sh.red_d[warp] = v;
    __syncthreads();
    if (warp == 0) {
        double s = lane < kWarps ? sh.red_d[lane] : 0.0;
#pragma unroll
        for (int off = 1; off < 32; off *= 2) {
            double t = __shfl_up_sync(kFull, s, off);
            if (lane >= off)
                s = t + s;
        }
        if (lane < kWarps)
            sh.red_d[lane] = s;
    }
    __syncthreads();
    sh.scan[threadIdx.x] = warp > 0 ? sh.red_d[warp - 1] + v : v;
    __syncthreads();
}

/* (value, id) of the better candidate: larger value, then lower id. */
__device__ __forceinline__ void better(float &v, int &i, float ov, int oi)
{
    if (ov > v || (ov == v && oi < i)) {
        v = ov;
        i = oi;
    }
}

/* Twin of sl_sample_argmax: the lowest id of the largest value; 0 when every
 * value is -inf. */
__device__ int block_argmax(const float *w, int vocab, Shared &sh)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float v = -INFINITY;
    int i = vocab; /* past the end: loses every tie */

    for (int c = threadIdx.x; c < vocab; c += kThreads)
        better(v, i, w[c], c);
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
        better(v, i, __shfl_xor_sync(kFull, v, off), __shfl_xor_sync(kFull, i, off));
    if (lane == 0) {
        sh.red_f[warp] = v;
        sh.red_i[warp] = i;
    }
    __syncthreads();
    v = lane < kWarps ? sh.red_f[lane] : -INFINITY;
    i = lane < kWarps ? sh.red_i[lane] : vocab;
#pragma unroll
    for (int off = 16; off > 0; off /= 2)
        better(v, i, __shfl_xor_sync(kFull, v, off), __shfl_xor_sync(kFull, i, off));
    __syncthreads();
    return i < vocab ? i : 0;
}

/* ---- radix descent ------------------------------------------------------------------ */

/* Adds one element per lane (IN) of digit D and mass M to the histogram,
 * one atomic per distinct digit of the warp: most logits share their top
 * bits, and one shared address taking every lane's atomic would serialise. */
template <bool kMass>
__device__ __forceinline__ void hist_add(bool in, unsigned d, unsigned long long m, Shared &sh)
{
    const int lane = threadIdx.x % 32;
    unsigned todo = __ballot_sync(kFull, in);

    while (todo != 0) {
        const int leader = __ffs(todo) - 1;
        const unsigned dl = __shfl_sync(kFull, d, leader);
        const bool mine = in && d == dl;
        const unsigned group = __ballot_sync(kFull, mine);
        if (kMass) {
            unsigned long long s = mine ? m : 0;
#pragma unroll
            for (int off = 16; off > 0; off /= 2)
                s += __shfl_xor_sync(kFull, s, off);
            if (lane == leader)
                atomicAdd(&sh.mass[dl], s);
        }
        if (lane == leader)
            atomicAdd(&sh.count[dl], (unsigned)__popc(group));
        todo &= ~group;
    }
}

/* Warp 0, after a histogram pass at SHIFT: picks the digit the cut lies in:
 * the lowest non-empty digit whose weight above (BASE, the weight above the
 * range, plus the higher digits') is below the threshold. A whole digit is
 * kept (the descent ends) when it holds one member or, counting, when it
 * ends exactly at the threshold. FRAC > 0: the threshold is FRAC times the
 * first pass's total. */
template <bool kMass>
__device__ void pick(Shared &sh, int shift, unsigned long long prefix, unsigned long long base,
                     double thr, double frac, bool first)
{
    const int lane = threadIdx.x % 32;
    unsigned long long own = 0, incl;

    for (int j = 0; j < 8; j++) {
        const int b = 255 - 8 * lane - j; /* lane 0 holds the highest digits */
        own += kMass ? sh.mass[b] : sh.count[b];
    }
    incl = own;
#pragma unroll
    for (int off = 1; off < 32; off *= 2) {
        unsigned long long t = __shfl_up_sync(kFull, incl, off);
        if (lane >= off)
            incl += t;
    }
    if (first && frac > 0)
        thr = frac * (double)__shfl_sync(kFull, incl, 31);
    unsigned long long acc = base + (incl - own), cand_w = 0;
    int cand = -1;
    for (int j = 0; j < 8; j++) {
        const int b = 255 - 8 * lane - j;
        if (sh.count[b] > 0 && (double)acc < thr) {
            cand = b;
            cand_w = acc;
        }
        acc += kMass ? sh.mass[b] : sh.count[b];
    }
    const unsigned has = __ballot_sync(kFull, cand >= 0);
    if (has == 0) {
        /* Cannot happen (the range always holds its first member, whose
         * weight above is BASE < thr); keep the whole range if it does. */
        if (lane == 0) {
            sh.pick_prefix = prefix;
            sh.pick_base = base;
            sh.pick_thr = thr;
            sh.pick_done = 1;
        }
        return;
    }
    const int src = 31 - __clz(has); /* the highest lane: the lowest digit */
    const int b = __shfl_sync(kFull, cand, src);
    const unsigned long long above = __shfl_sync(kFull, cand_w, src);
    if (lane == 0) {
        const unsigned n = sh.count[b];
        sh.pick_prefix = prefix | ((unsigned long long)b << shift);
        sh.pick_base = above;
        sh.pick_thr = thr;
        sh.pick_done = n == 1 || (!kMass && (double)(above + n) <= thr) || shift == 0;
    }
}

/*
 * The cut of W ([vocab]) over its members (MEMBER(value, composite)):
 * counting (kMass false), the THR first members in order are kept; by mass
 * (exp((double)v - mx) in 2^-FX_SHIFT fixed point), member j is kept while
 * the mass of the members before it is below FRAC times their total.
 */
template <bool kMass, class Member>
__device__ Cut radix_cut(const float *w, int vocab, Member member, double thr, double frac,
                         float mx, int fx_shift, Shared &sh)
{
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const double scale = ldexp(1.0, fx_shift);
    unsigned long long prefix = 0, mask = 0, base = 0;

    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < kBins; b += kThreads) {
            sh.count[b] = 0;
            sh.mass[b] = 0;
        }
        __syncthreads();
        /* Whole warps step together: hist_add's ballots need every lane. */
        for (int i0 = warp * 32; i0 < vocab; i0 += kThreads) {
            const int i = i0 + lane;
            bool in = false;
            unsigned d = 0;
            unsigned long long m = 0;
            if (i < vocab) {
                const float v = w[i];
                const unsigned long long c = composite(v, i);
                if ((c & mask) == prefix && member(v, c)) {
                    in = true;
                    d = (unsigned)(c >> shift) & 255u;
                    if (kMass)
                        m = __double2ull_rn(exp((double)v - (double)mx) * scale);
                }
            }
            hist_add<kMass>(in, d, m, sh);
        }
        __syncthreads();
        if (warp == 0)
            pick<kMass>(sh, shift, prefix, base, thr, frac, shift == 56);
        __syncthreads();
        prefix = sh.pick_prefix;
        base = sh.pick_base;
        thr = sh.pick_thr;
        mask |= 0xffull << shift;
        if (sh.pick_done)
            return Cut{prefix, shift};
    }
    return Cut{prefix, 0};
}

struct AllMembers {
    __device__ bool operator()(float, unsigned long long) const { return true; }
};

/* Top-p's members: the tokens top-k left (finite, inside its cut). */
struct Survivors {
    Cut k;
    __device__ bool operator()(float v, unsigned long long c) const
    {
        return v > -INFINITY && cut_keep(k, c);
    }
};

/* ---- the steps of sl_sampler_sample ------------------------------------------------- */

/* Twin of sl_sample_logsumexp, around MX (the row's maximum). */
__device__ double logsumexp(const float *w, int vocab, float mx, Shared &sh)
{
    double acc = 0;

    if (mx == -INFINITY)
        return -INFINITY;
    for (int i = threadIdx.x; i < vocab; i += kThreads)
        acc += exp((double)w[i] - (double)mx);
    return (double)mx + log(block_sum(acc, sh));
}

/* Twin of sl_sample_top_logprobs: sh.top_ids / top_lp = the N most likely
 * tokens of W (raw logits), most likely first, N = sh.top_n <= vocab. */
__device__ void top_logprobs(const float *w, int vocab, int n, double lse, Shared &sh)
{
    if (threadIdx.x == 0)
        sh.top_n = 0;
    __syncthreads();
    if (n <= 0)
        return;
    const Cut cut = radix_cut<false>(w, vocab, AllMembers{}, (double)n, 0.0, 0.0f, 0, sh);
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
        const unsigned long long c = composite(w[i], i);
        if (cut_keep(cut, c)) {
            const int slot = atomicAdd(&sh.top_n, 1);
            if (slot < SL_MAX_LOGPROBS)
                sh.top[slot] = c;
        }
    }
    __syncthreads();
    const int got = min(sh.top_n, SL_MAX_LOGPROBS);
    if ((int)threadIdx.x < got) {
        const unsigned long long c = sh.top[threadIdx.x];
        int rank = 0;
        for (int k = 0; k < got; k++)
            rank += sh.top[k] > c;
        const int id = (int)~(unsigned)(c & 0xffffffffu);
        sh.top_ids[rank] = id;
        sh.top_lp[rank] = (float)((double)w[id] - lse);
    }
    __syncthreads();
    if (threadIdx.x == 0)
        sh.top_n = got;
    __syncthreads();
}

/* Twin of sl_sample_repetition_penalty: each distinct id of IDS once (the
 * first thread to mark it), then the marks it set cleared. */
__device__ void repetition_penalty(float *w, int vocab, const int32_t *a, int na,
                                   const int32_t *b, int nb, float penalty, int *marks)
{
    for (int k = threadIdx.x; k < na + nb; k += kThreads) {
        const int t = k < na ? a[k] : b[k - na];
        if (t >= 0 && t < vocab && atomicExch(&marks[t], 1) == 0)
            w[t] = w[t] > 0.0f ? __fdiv_rn(w[t], penalty) : __fmul_rn(w[t], penalty);
    }
    __syncthreads();
    for (int k = threadIdx.x; k < na + nb; k += kThreads) {
        const int t = k < na ? a[k] : b[k - na];
        if (t >= 0 && t < vocab)
            marks[t] = 0;
    }
    __syncthreads();
}

/* Twin of sl_sample_frequency_presence: counts, then the one thread whose
 * exchange takes a nonzero count applies it (and leaves the mark zero). */
__device__ void frequency_presence(float *w, int vocab, const int32_t *ids, int n,
                                   float frequency, float presence, int *marks)
{
    for (int k = threadIdx.x; k < n; k += kThreads)
        if (ids[k] >= 0 && ids[k] < vocab)
            atomicAdd(&marks[ids[k]], 1);
    __syncthreads();
    for (int k = threadIdx.x; k < n; k += kThreads) {
        const int t = ids[k];
        if (t < 0 || t >= vocab)
            continue;
        const int count = atomicExch(&marks[t], 0);
        if (count != 0)
            w[t] = __fsub_rn(w[t], __fadd_rn(__fmul_rn(frequency, (float)count), presence));
    }
    __syncthreads();
}

/* Twin of sl_sample_suppress. */
__device__ void suppress(float *w, int vocab, const int32_t *ids, int n)
{
    for (int k = threadIdx.x; k < n; k += kThreads)
        if (ids[k] >= 0 && ids[k] < vocab)
            w[ids[k]] = -INFINITY;
    __syncthreads();
}

/* Raw logit of (ROW, V) in the vocab-parallel layout of the arguments. */
__device__ __forceinline__ float raw_logit(const sl_cuda_sample_args_t &a, int row, int v)
{
    const int s = v / a.seg_vocab;
    return a.logits[(int64_t)s * a.seg_stride + (int64_t)row * a.ld + (v - s * a.seg_vocab)];
}

__device__ __forceinline__ float raw_logprob(const sl_cuda_sample_args_t &a, int row, int v,
                                             double lse)
{
    return (float)((double)raw_logit(a, row, v) - lse);
}

/*
 * Twins of sl_sample_top_k/top_p/min_p, sl_sample_softmax and
 * sl_sample_categorical on W ([vocab], temperature-scaled, maximum MX > -inf):
 * the filters' cuts, then one pass that applies them and takes exp(l - max)
 * (W = the unnormalised probabilities), one over contiguous slices that
 * normalises them (W = probs) and sums each slice, a scan of the sums, and
 * the draws of samples 0..ns-1 (the thread whose slice holds the target
 * rescans it). Row R's sample j gets token and logprob in RES[j].
 */
__device__ void draw(const sl_cuda_sample_args_t &a, int row, const sl_sample_row_t &p, int ns,
                     float *w, float mx, double lse, bool lp, sl_sample_result_t *res,
                     Shared &sh)
{
    const int vocab = a.vocab;
    Cut kcut = {0, 0}, pcut = {0, 0};

    if (p.top_k > 0 && p.top_k < vocab)
        kcut = radix_cut<false>(w, vocab, AllMembers{}, (double)p.top_k, 0.0, 0.0f, 0, sh);
    if (p.top_p < 1.0f)
        pcut = radix_cut<true>(w, vocab, Survivors{kcut}, 0.0, (double)p.top_p, mx,
                               63 - (32 - __clz(vocab)), sh);
    double acc = 0;
    for (int i = threadIdx.x; i < vocab; i += kThreads) {
        const float v = w[i];
        const unsigned long long c = composite(v, i);
        bool alive = v > -INFINITY && cut_keep(kcut, c) && cut_keep(pcut, c);
        if (alive && p.min_p > 0.0f && (float)exp((double)v - (double)mx) < p.min_p)
            alive = false;
        /* expf(l - max) of sampler.c, correctly rounded through double */
        const float e = alive ? (float)exp((double)__fsub_rn(v, mx)) : 0.0f;
        w[i] = e;
        acc += e;
    }
    const double sum = block_sum(acc, sh); /* its barrier publishes W */

    const int slice = (vocab + kThreads - 1) / kThreads;
    const int lo = min((int)threadIdx.x * slice, vocab), hi = min(lo + slice, vocab);
    int last = -1;
    acc = 0;
    for (int i = lo; i < hi; i++) {
        const float pr = (float)((double)w[i] / sum);
        w[i] = pr;
        acc += pr;
        if (pr > 0.0f)
            last = i;
    }
    block_scan(acc, sh);
    const int last_all = block_max_int(last, sh);
    const double total = sh.scan[kThreads - 1];
    const double below = threadIdx.x > 0 ? sh.scan[threadIdx.x - 1] : 0.0;
    const double mine = sh.scan[threadIdx.x];

    for (int j = 0; j < ns; j++) {
        const double u = rng_uniform(p.seed, p.stream + (unsigned long long)j, p.counter);
        const double target = u * total;
        int tok = -1;
        if (below <= target && target < mine) {
            double cum = below;
            for (int i = lo; i < hi; i++) {
                const float pr = w[i];
                if (pr <= 0.0f)
                    continue;
                cum += pr;
                tok = i;
                if (cum > target)
                    break;
            }
        } else if (threadIdx.x == 0 && !(target < total)) {
            tok = last_all; /* rounding left the target at the very end */
        }
        if (tok >= 0) {
            res[j].token = tok;
            res[j].logprob = lp ? raw_logprob(a, row, tok, lse) : 0.0f;
        }
    }
}

__global__ void __launch_bounds__(kThreads) sample_kernel(sl_cuda_sample_args_t a)
{
    __shared__ Shared sh;
    const int row = blockIdx.x, vocab = a.vocab;
    const sl_sample_row_t p = a.params[row];
    const sl_cuda_sample_meta_t m = a.meta[row];
    float *w = a.work + (size_t)row * vocab;   /* [vocab] */
    int *marks = a.marks + (size_t)row * vocab; /* [vocab] */
    sl_sample_result_t *res = a.results + m.result; /* [ns] */
    const int ns = p.num_samples > 0 ? p.num_samples : 1;
    const bool greedy = p.temperature < SL_SAMPLE_GREEDY_EPS;
    const bool pen = p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f ||
                     p.presence_penalty != 0.0f || p.suppress_stop; /* as sample.h's test */
    const bool lp = p.logprobs >= 0;
    /* Nothing reads the unscaled work row: divide while copying. */
    const bool scale_in_copy = !greedy && !pen && !lp;

    /* The work copy, from each rank's vocabulary segment. */
    float tmax = -INFINITY;
    for (int s0 = 0; s0 < vocab; s0 += a.seg_vocab) {
        const float *src = a.logits + (int64_t)(s0 / a.seg_vocab) * a.seg_stride +
                           (int64_t)row * a.ld; /* [min(seg_vocab, vocab - s0)] */
        const int n = min(a.seg_vocab, vocab - s0);
        for (int o = threadIdx.x; o < n; o += kThreads) {
            float v = src[o];
            if (scale_in_copy)
                v = __fdiv_rn(v, p.temperature);
            w[s0 + o] = v;
            tmax = fmaxf(tmax, v);
        }
    }
    float mx = block_max(tmax, sh); /* its barriers publish W */

    /* Logprobs of the raw row, before anything changes it. */
    double lse = 0;
    if (lp) {
        lse = logsumexp(w, vocab, mx, sh);
        top_logprobs(w, vocab, min(min(p.logprobs, SL_MAX_LOGPROBS), vocab), lse, sh);
    }
    if (pen) {
        if (p.repetition_penalty != 1.0f)
            repetition_penalty(w, vocab, a.ids + m.prompt, m.prompt_len, a.ids + m.output,
                               m.output_len, p.repetition_penalty, marks);
        if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f)
            frequency_presence(w, vocab, a.ids + m.output, m.output_len, p.frequency_penalty,
                               p.presence_penalty, marks);
        if (p.suppress_stop)
            suppress(w, vocab, a.ids + m.suppress, m.num_suppress);
    }

    int same = -1; /* the token of every sample: greedy, or nothing left to draw from */
    if (greedy) {
        same = block_argmax(w, vocab, sh);
    } else {
        if (!scale_in_copy) { /* twin of sl_sample_temperature */
            tmax = -INFINITY;
            for (int i = threadIdx.x; i < vocab; i += kThreads) {
                const float v = __fdiv_rn(w[i], p.temperature);
                w[i] = v;
                tmax = fmaxf(tmax, v);
            }
            mx = block_max(tmax, sh);
        }
        if (mx == -INFINITY)
            same = 0; /* sl_sample_softmax: all mass on token 0 */
        else
            draw(a, row, p, ns, w, mx, lse, lp, res, sh);
    }

    for (int j = threadIdx.x; j < ns; j += kThreads) {
        if (same >= 0) {
            res[j].token = same;
            res[j].logprob = lp ? raw_logprob(a, row, same, lse) : 0.0f;
        }
        res[j].num_top = lp ? sh.top_n : 0;
        for (int k = 0; k < SL_MAX_LOGPROBS; k++) {
            const bool have = lp && k < sh.top_n;
            res[j].top_ids[k] = have ? sh.top_ids[k] : 0;
            res[j].top_logprobs[k] = have ? sh.top_lp[k] : 0.0f;
        }
    }
}

} // namespace

extern "C" sl_status_t sl_cuda_sample(const sl_cuda_sample_args_t *a, cudaStream_t stream)
{
    if (a == nullptr || a->rows < 0 || a->vocab < 1 || a->vocab > (1 << 30) ||
        a->seg_vocab < 1 || a->ld < (a->seg_vocab < a->vocab ? a->seg_vocab : a->vocab) ||
        (a->rows > 0 && (a->logits == nullptr || a->params == nullptr || a->meta == nullptr ||
                         a->work == nullptr || a->marks == nullptr || a->results == nullptr))) {
        sl_error("sl_cuda_sample: invalid arguments (rows=%d vocab=%d seg_vocab=%d ld=%lld)",
                 a != nullptr ? a->rows : -1, a != nullptr ? a->vocab : -1,
                 a != nullptr ? a->seg_vocab : -1, a != nullptr ? (long long)a->ld : -1LL);
        return SL_ERR_INVALID_ARG;
    }
    if (a->rows == 0)
        return SL_OK;
    sample_kernel<<<a->rows, kThreads, 0, stream>>>(*a);
    SL_CUDA_CHECK_LAUNCH("sl_cuda_sample");
    return SL_OK;
}
