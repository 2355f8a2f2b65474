/*
 * test_cuda_attention.c - the CUDA paged attention (gpu/attention.cu)
 * against its C twin sl_cpu_paged_attention on random caches and a mixed
 * batch: whole prompts over several 64-token tiles, chunked prefills reading
 * cached prefix blocks, short chunks and single decode tokens with long
 * contexts; block tables are shuffled so nothing is contiguous. Each shape
 * runs the batch as the backend splits it (prefill kernel for sequences of
 * >= 16 new tokens, decode kernel for the rest), then every token through
 * the decode kernel, with one split and with several (flash-decoding), with
 * and without a sliding window. Outputs are NaN-poisoned. Exit 77 without a
 * GPU. --quick: one case per head_dim (and the small pages), for the
 * sanitizers, under which the whole set takes minutes; --bench-splits: the
 * decode kernel at 8-32 tokens x 1000-4000 keys and 1-8 splits; --bench: all cases,
 * then timings; --bench-prefill: only the prefill timing (one kernel to profile).
 *
 * Limit: relative L2 1e-2. The twin is float32 throughout on the same bf16
 * inputs; the GPU rounds the output to bf16 (2^-9) and, in the prefill
 * kernel, the softmax weights to bf16 before P.V (another 2^-9 per weight,
 * averaging out over the keys): measured errors are a few 1e-3.
 */
#include "config.h"

#include "backend/cpu/attention.h"
#include "gpu_compare.h"
#include "sl_kernels.h"

typedef struct {
    int32_t start, count;
} seq_shape_t;

static const seq_shape_t seqs_def[] = {
    {0, 100}, {37, 20}, {200, 1}, {1500, 1}, {5, 3}, {64, 64}, {0, 16}, {911, 1}, {0, 1},
    {300, 70}, {0, 300}, {400, 200}, /* three and two prefill tiles */
};
#define NSEQ ((int)(sizeof(seqs_def) / sizeof(seqs_def[0])))

static void run_case(uint64_t *rng, int heads, int kv_heads, int hd, int bs, int64_t window)
{
    const int num_blocks = 1024;
    size_t slots_n = (size_t)num_blocks * bs, cache = slots_n * kv_heads * hd;
    int32_t tables[NSEQ][256], nb[NSEQ];
    int32_t *perm = gc_malloc((size_t)num_blocks * 4);
    int T = 0;

    for (int s = 0; s < NSEQ; s++)
        T += seqs_def[s].count;
    /* shuffled blocks, each sequence its own */
    for (int i = 0; i < num_blocks; i++)
        perm[i] = i;
    for (int i = num_blocks - 1; i > 0; i--) {
        int j = (int)(gpu_test_uniform(rng) * (i + 1));
        int32_t t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    int used = 0;
    sl_batch_seq_t seqs[NSEQ];
    for (int s = 0; s < NSEQ; s++) {
        nb[s] = (seqs_def[s].start + seqs_def[s].count + bs - 1) / bs;
        for (int k = 0; k < nb[s]; k++)
            tables[s][k] = perm[used++];
        seqs[s] = (sl_batch_seq_t){.num_tokens = seqs_def[s].count,
                                   .start_pos = seqs_def[s].start, .num_blocks = nb[s],
                                   .block_table = tables[s]};
    }

    /* inputs */
    int q_ld = (heads + 2 * kv_heads) * hd; /* q inside a fused QKV row */
    size_t qn = (size_t)T * heads * hd, on = qn;
    sl_bf16_t *kc = gc_malloc(cache * 2), *vc = gc_malloc(cache * 2);
    sl_bf16_t *qb = gc_malloc((size_t)T * q_ld * 2), *got = gc_malloc(on * 2);
    float *kcf = gc_malloc(cache * 4), *vcf = gc_malloc(cache * 4), *qf = gc_malloc(qn * 4);
    float *want = gc_malloc(on * 4), *gotf = gc_malloc(on * 4);
    gc_random_bf16(rng, kc, kcf, cache, -2, 2);
    gc_random_bf16(rng, vc, vcf, cache, -1, 1);
    gc_random_bf16(rng, qb, NULL, (size_t)T * q_ld, -2, 2);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < heads * hd; i++)
            qf[(size_t)t * heads * hd + i] = sl_bf16_to_float(qb[(size_t)t * q_ld + i]);

    int32_t *tokens = gc_malloc((size_t)T * 4), *pos = gc_malloc((size_t)T * 4);
    int32_t *seq_of = gc_malloc((size_t)T * 4);
    sl_batch_t batch = {.num_seqs = NSEQ, .seqs = seqs, .num_tokens = T, .tokens = tokens};
    for (int t = 0; t < T; t++)
        tokens[t] = 0;
    sl_batch_positions(&batch, pos, seq_of);
    sl_attn_params_t p = {.num_heads = heads, .num_kv_heads = kv_heads, .head_dim = hd,
                          .block_size = bs, .scale = (float)(1.0 / sqrt((double)hd)),
                          .window = window};
    sl_cpu_paged_attention(NULL, want, qf, kcf, vcf, &batch, pos, seq_of, &p);

    /* device tables */
    int32_t offs[NSEQ], flat[NSEQ * 256], nflat = 0;
    for (int s = 0; s < NSEQ; s++) {
        offs[s] = nflat;
        for (int k = 0; k < nb[s]; k++)
            flat[nflat++] = tables[s][k];
    }
    int32_t *dec_split = gc_malloc((size_t)T * 4), *dec_all = gc_malloc((size_t)T * 4);
    int32_t *tiles = gc_malloc((size_t)(T / SL_CUDA_ATTN_TILE + NSEQ + 1) * 16);
    int nd = 0, ntile = 0, t0 = 0, max_keys = 1;
    for (int s = 0; s < NSEQ; s++) {
        int n = seqs_def[s].count;
        if (n >= 16 && sl_cuda_attention_prefill_supported(hd)) {
            for (int k = 0; k < n; k += SL_CUDA_ATTN_TILE, ntile++) {
                tiles[ntile * 4] = t0 + k;
                tiles[ntile * 4 + 1] = n - k < SL_CUDA_ATTN_TILE ? n - k : SL_CUDA_ATTN_TILE;
                tiles[ntile * 4 + 2] = s;
                tiles[ntile * 4 + 3] = 0;
            }
        } else {
            for (int k = 0; k < n; k++)
                dec_split[nd++] = t0 + k;
        }
        for (int k = 0; k < n; k++)
            dec_all[t0 + k] = t0 + k;
        if (seqs_def[s].start + n > max_keys)
            max_keys = seqs_def[s].start + n;
        t0 += n;
    }
    void *d_kc = gc_upload(kc, cache * 2), *d_vc = gc_upload(vc, cache * 2);
    void *d_q = gc_upload(qb, (size_t)T * q_ld * 2), *d_out = gc_device(on * 2);
    void *d_pos = gc_upload(pos, (size_t)T * 4), *d_seq = gc_upload(seq_of, (size_t)T * 4);
    void *d_off = gc_upload(offs, sizeof(offs)), *d_flat = gc_upload(flat, (size_t)nflat * 4);
    void *d_ds = gc_upload(dec_split, (size_t)(nd > 0 ? nd : 1) * 4);
    void *d_da = gc_upload(dec_all, (size_t)T * 4);
    void *d_tiles = gc_upload(tiles, (size_t)(ntile > 0 ? ntile : 1) * 16);
    size_t ws_floats = sl_cuda_attention_workspace_floats(T, heads, hd, SL_CUDA_ATTN_MAX_SPLITS);
    float *d_ws = gc_device(ws_floats * 4);
    sl_cuda_attn_shape_t sh = {.num_heads = heads, .num_kv_heads = kv_heads, .head_dim = hd,
                               .block_size = bs, .scale = p.scale, .window = window};

    for (int variant = 0; variant < 4; variant++) {
        int all_decode = variant >= 2;
        int splits = variant % 2 == 0 ? 1
                                      : sl_cuda_attention_splits(all_decode ? T : nd, heads,
                                                                 kv_heads, hd, max_keys, 132);
        if (variant % 2 == 1 && splits < 3)
            splits = 7; /* exercise the merge even when few blocks would do */
        sl_cuda_attn_meta_t m = {.positions = d_pos, .seq_of = d_seq, .block_offset = d_off,
                                 .block_tables = d_flat,
                                 .decode_tokens = all_decode ? d_da : d_ds,
                                 .num_decode = all_decode ? T : nd, .splits = splits,
                                 .tiles = d_tiles, .num_tiles = all_decode ? 0 : ntile};
        if (!all_decode && ntile == 0 && variant == 0)
            continue;
        GPU_CHECK(cudaMemset(d_out, 0xff, on * 2));
        if (sl_cuda_paged_attention_bf16(d_out, d_q, q_ld, d_kc, d_vc, &m, &sh, d_ws, 0) != SL_OK)
            exit(EXIT_FAILURE);
        gc_download(got, d_out, on * 2);
        gc_bf16_to_float(gotf, got, on);
        double mx, rel = gc_rel_l2(gotf, want, on, &mx);
        char what[128];
        snprintf(what, sizeof(what), "attention h=%d kv=%d hd=%d bs=%d win=%lld %s splits=%d",
                 heads, kv_heads, hd, bs, (long long)window,
                 all_decode ? "all-decode" : (ntile > 0 ? "prefill+decode" : "decode"), splits);
        gc_report(what, rel, mx, 1e-2);
    }

    void *dev[] = {d_kc, d_vc, d_q, d_out, d_pos, d_seq, d_off, d_flat, d_ds, d_da, d_tiles, d_ws};
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
        cudaFree(dev[i]);
    free(perm), free(kc), free(vc), free(qb), free(got), free(kcf), free(vcf), free(qf);
    free(want), free(gotf), free(tokens), free(pos), free(seq_of), free(dec_split);
    free(dec_all), free(tiles);
}

/* Seconds per call of the attention on M, SH (one warm-up call, then REPS
 * timed back to back); the buffers as sl_cuda_paged_attention_bf16 takes them. */
static double time_attention(void *out, const void *q, int q_ld, const void *kc, const void *vc,
                             const sl_cuda_attn_meta_t *m, const sl_cuda_attn_shape_t *sh,
                             float *ws, int reps)
{
    cudaEvent_t a, b;
    float ms;

    GPU_CHECK(cudaEventCreate(&a));
    GPU_CHECK(cudaEventCreate(&b));
    (void)sl_cuda_paged_attention_bf16(out, q, q_ld, kc, vc, m, sh, ws, 0);
    GPU_CHECK(cudaEventRecord(a, 0));
    for (int i = 0; i < reps; i++)
        (void)sl_cuda_paged_attention_bf16(out, q, q_ld, kc, vc, m, sh, ws, 0);
    GPU_CHECK(cudaEventRecord(b, 0));
    GPU_CHECK(cudaEventSynchronize(b));
    GPU_CHECK(cudaEventElapsedTime(&ms, a, b));
    GPU_CHECK(cudaEventDestroy(a));
    GPU_CHECK(cudaEventDestroy(b));
    return ms / 1e3 / reps;
}

/* Time of the prefill kernel on 8 x 4096 causal tokens, Llama-3.1-8B's
 * attention shape (information, not a test). */
static void bench_prefill(int seqs, int len)
{
    const int heads = 32, kv = 8, hd = 128, bs = 16;
    int T = seqs * len, nbps = len / bs, q_ld = (heads + 2 * kv) * hd;
    size_t cache = (size_t)seqs * nbps * bs * kv * hd;
    int32_t *pos = gc_malloc((size_t)T * 4), *seq_of = gc_malloc((size_t)T * 4);
    int32_t *offs = gc_malloc((size_t)seqs * 4), *flat = gc_malloc((size_t)seqs * nbps * 4);
    int32_t *tiles = gc_malloc(((size_t)T / SL_CUDA_ATTN_TILE + 1) * 16);
    int nt = 0;
    for (int s = 0; s < seqs; s++) {
        offs[s] = s * nbps;
        for (int k = 0; k < nbps; k++)
            flat[s * nbps + k] = s * nbps + k;
        for (int i = 0; i < len; i++) {
            pos[s * len + i] = i;
            seq_of[s * len + i] = s;
        }
        for (int k = 0; k < len; k += SL_CUDA_ATTN_TILE, nt++) {
            tiles[nt * 4] = s * len + k;
            tiles[nt * 4 + 1] = SL_CUDA_ATTN_TILE;
            tiles[nt * 4 + 2] = s;
            tiles[nt * 4 + 3] = 0;
        }
    }
    void *d_kc = gc_device(cache * 2), *d_vc = gc_device(cache * 2);
    void *d_q = gc_device((size_t)T * q_ld * 2), *d_out = gc_device((size_t)T * heads * hd * 2);
    GPU_CHECK(cudaMemset(d_kc, 0x3c, cache * 2));
    GPU_CHECK(cudaMemset(d_vc, 0x3c, cache * 2));
    GPU_CHECK(cudaMemset(d_q, 0x3c, (size_t)T * q_ld * 2));
    sl_cuda_attn_meta_t m = {.positions = gc_upload(pos, (size_t)T * 4),
                             .seq_of = gc_upload(seq_of, (size_t)T * 4),
                             .block_offset = gc_upload(offs, (size_t)seqs * 4),
                             .block_tables = gc_upload(flat, (size_t)seqs * nbps * 4),
                             .splits = 1, .tiles = gc_upload(tiles, (size_t)nt * 16),
                             .num_tiles = nt};
    sl_cuda_attn_shape_t sh = {.num_heads = heads, .num_kv_heads = kv, .head_dim = hd,
                               .block_size = bs, .scale = 0.08838834764f};
    double s = time_attention(d_out, d_q, q_ld, d_kc, d_vc, &m, &sh, NULL, 5);
    /* causal: QK^T and PV over half the square, 2 flops per multiply-add */
    double flops = 4.0 * seqs * (double)len * len / 2 * hd * heads;
    printf("bench prefill attention %d x %d (32 heads, GQA 4, hd 128, %s): %.2f ms, %.0f TFLOP/s\n",
           seqs, len, sl_cuda_attention_prefill_kernel(hd), s * 1e3, flops / s / 1e12);
}

/* Bandwidth of the decode kernel: SEQS tokens, each attending to CTX cached
 * positions, Llama-3.1-8B's attention shape (information, not a test);
 * SPLITS 0: as sl_cuda_attention_splits chooses. */
static void bench_decode(int seqs, int ctx, int splits)
{
    const int heads = 32, kv = 8, hd = 128, bs = 16, q_ld = (heads + 2 * kv) * hd;
    int nbps = (ctx + bs - 1) / bs;
    size_t cache = (size_t)seqs * nbps * bs * kv * hd;
    int32_t *pos = gc_malloc((size_t)seqs * 4), *seq_of = gc_malloc((size_t)seqs * 4);
    int32_t *offs = gc_malloc((size_t)seqs * 4), *flat = gc_malloc((size_t)seqs * nbps * 4);
    int32_t *dec = gc_malloc((size_t)seqs * 4);
    for (int s = 0; s < seqs; s++) {
        offs[s] = s * nbps;
        for (int k = 0; k < nbps; k++)
            flat[s * nbps + k] = s * nbps + k;
        pos[s] = ctx - 1;
        seq_of[s] = s;
        dec[s] = s;
    }
    if (splits <= 0)
        splits = sl_cuda_attention_splits(seqs, heads, kv, hd, ctx,
                                          sl_cuda_attention_resident_blocks(0, heads, kv, hd));
    void *d_kc = gc_device(cache * 2), *d_vc = gc_device(cache * 2);
    void *d_q = gc_device((size_t)seqs * q_ld * 2);
    void *d_out = gc_device((size_t)seqs * heads * hd * 2);
    float *d_ws = gc_device(sl_cuda_attention_workspace_floats(seqs, heads, hd, splits) * 4 + 16);
    GPU_CHECK(cudaMemset(d_kc, 0x3c, cache * 2));
    GPU_CHECK(cudaMemset(d_vc, 0x3c, cache * 2));
    GPU_CHECK(cudaMemset(d_q, 0x3c, (size_t)seqs * q_ld * 2));
    sl_cuda_attn_meta_t m = {.positions = gc_upload(pos, (size_t)seqs * 4),
                             .seq_of = gc_upload(seq_of, (size_t)seqs * 4),
                             .block_offset = gc_upload(offs, (size_t)seqs * 4),
                             .block_tables = gc_upload(flat, (size_t)seqs * nbps * 4),
                             .decode_tokens = gc_upload(dec, (size_t)seqs * 4),
                             .num_decode = seqs, .splits = splits};
    sl_cuda_attn_shape_t sh = {.num_heads = heads, .num_kv_heads = kv, .head_dim = hd,
                               .block_size = bs, .scale = 0.08838834764f};
    double t = time_attention(d_out, d_q, q_ld, d_kc, d_vc, &m, &sh, d_ws, 10);
    double bytes = (double)seqs * ctx * kv * hd * 2 * 2;
    printf("bench decode attention %d tokens x %d keys (GQA 4, hd 128, %d splits): %.1f us, "
           "%.0f GB/s of K/V\n",
           seqs, ctx, splits, t * 1e6, bytes / t / 1e9);
    const void *dev[] = {d_kc, d_vc, d_q, d_out, d_ws, m.positions, m.seq_of, m.block_offset,
                         m.block_tables, m.decode_tokens};
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
        cudaFree((void *)dev[i]);
    free(pos), free(seq_of), free(offs), free(flat), free(dec);
}

int main(int argc, char **argv)
{
    gpu_test_require_device();
    uint64_t rng = gc_seed();

    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (argc > 1 && strcmp(argv[1], "--bench-prefill") == 0) { /* the kernel alone, for ncu */
        bench_prefill(8, 4096);
        return gc_finish();
    }
    printf("prefill kernel at head_dim 128: %s\n", sl_cuda_attention_prefill_kernel(128));
    run_case(&rng, 8, 4, 16, 16, 0);
    run_case(&rng, 8, 2, 32, 16, 0);
    run_case(&rng, 4, 4, 64, 32, 0);
    if (!quick) {
        run_case(&rng, 32, 8, 128, 16, 0);
        run_case(&rng, 32, 8, 128, 16, 24);
        run_case(&rng, 28, 4, 128, 16, 0); /* GQA 7: one head per decode block */
        run_case(&rng, 8, 1, 64, 8, 100);
    }
    run_case(&rng, 4, 2, 256, 16, 0); /* decode kernel only */
    /* pages smaller than a thread's row step in the tile loads (8 rows at
     * head_dim 128), and not powers of two */
    run_case(&rng, 8, 2, 128, 7, 0);
    if (!quick)
        run_case(&rng, 8, 4, 32, 24, 40);
    if (argc > 1 && strcmp(argv[1], "--bench-splits") == 0) {
        /* decode batches of 8-32 at 1000-4000 keys, every split count up to
         * 8, and the one the engine picks (0): the data for the split rule */
        const int tokens[] = {8, 16, 32}, keys[] = {1000, 2000, 4000};
        for (int t = 0; t < 3; t++)
            for (int k = 0; k < 3; k++)
                for (int sp = 0; sp <= 8; sp = sp == 0 ? 1 : sp * 2)
                    bench_decode(tokens[t], keys[k], sp);
    }
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench_prefill(8, 4096);
        bench_decode(256, 1500, 0);
        bench_decode(64, 384, 0);
        bench_decode(1, 4096, 0);
        /* the split counts around the chosen ones */
        for (int sp = 1; sp <= 8; sp *= 2) {
            bench_decode(64, 384, sp);
            bench_decode(32, 1000, sp);
            bench_decode(128, 1000, sp);
            bench_decode(512, 700, sp);
        }
    }
    return gc_finish();
}
