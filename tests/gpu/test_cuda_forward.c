/*
 * test_cuda_forward.c - the whole CUDA backend against the CPU backend (the
 * oracle, itself matched to transformers' float64 goldens) on the same
 * batches: generated bf16 models of each architecture (GQA, QKV bias and
 * tied embeddings, q/k norm with head_dim != hidden / heads, sliding window,
 * attention and MLP biases, head_dim 16..128) and the shared fixture models,
 * at TP 1 and, with two GPUs, TP 2 (the one-shot all-reduce over peer
 * memory, fused with the RMSNorm after it, where the GPUs have it, and once
 * through NCCL alone).
 *
 * Each model runs one scenario of steps, the CUDA and CPU backends fed the
 * same batches and block tables: a mixed prefill (a 100-token prompt over
 * two attention tiles, a 5-token prompt, a 1-token prompt), decode steps
 * (padded to a captured size: the first runs eagerly and captures, the
 * rest replay the CUDA graph), a chunked prefill beside decodes, a sequence
 * sharing another's first two KV blocks (a prefix hit: the prefill reads
 * cached blocks), greedy steps on the GPU (sl_cuda_backend_forward_greedy)
 * checked against the argmax of the GPU's and the CPU's logits, and batch-1
 * decode steps (the fused GEMVs' path). Then the
 * same again with CUDA graphs off, and once with the weights generated on
 * the GPU (dummy) against the CPU on host-generated dummy weights.
 *
 * Bound: relative L2 error of each step's logits <= 2e-2 (the issue's).
 * Why it holds: the CPU computes in float32 from the bf16 weights; the GPU
 * stores every activation in bf16 (unit roundoff 2^-9 = 2e-3), about eight
 * stored intermediates per layer, each a relative perturbation of ~1e-3
 * RMS that propagates roughly linearly and adds in quadrature: for 2-4
 * layers ~5e-3..1e-2 of the logits' norm. Greedy tokens must agree wherever
 * the CPU's top-1/top-2 margin exceeds 0.05 and twice the row's largest
 * logit error (the margin the issue asks for, made safe for random models
 * whose logits are large). TP 2 differs from TP 1 only in the bf16
 * rounding of the partial sums before the all-reduce.
 *
 * Exit 77 without a GPU. SLINFER_FIXTURES (default ../shared/fixtures)
 * names the fixtures; absent, that part is skipped with a message.
 */
#include "config.h"

#include <sys/stat.h>
#include <unistd.h>

#include "backend/cpu/argmax.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "gpu_compare.h"
#include "model/model.h"

#define BS 16
#define NUM_BLOCKS 640
#define MAX_SEQ 8
#define MAX_LEN 1024

typedef struct {
    int32_t len;
    int32_t ids[MAX_LEN];
    int32_t table[MAX_LEN / BS + 1];
} seq_t;

typedef struct {
    const char *name;
    sl_backend_t *cpu, *gpu;
    int vocab;
    uint64_t rng;
    seq_t seqs[MAX_SEQ];
    int nseqs, next_block;
    double worst;
    int steps, greedy_checked, greedy_compared;
} runner_t;

typedef struct {
    int seq, n;
    int logits; /* 0: none, 1: last token, 2: every token */
} part_t;

static int32_t take_block(runner_t *R)
{
    if (R->next_block >= NUM_BLOCKS) {
        fprintf(stderr, "FAIL: test ran out of KV blocks\n");
        exit(EXIT_FAILURE);
    }
    return R->next_block++;
}

/* One step on both backends; compares logits and, with GREEDY, the GPU's
 * greedy tokens. */
static void run_step(runner_t *R, const part_t *parts, int np, const char *label, int greedy)
{
    sl_batch_seq_t bseq[MAX_SEQ];
    int32_t tokens[2048], idx[2048];
    int T = 0, L = 0;

    for (int p = 0; p < np; p++) {
        seq_t *S = &R->seqs[parts[p].seq];
        int start = S->len, n = parts[p].n;
        for (int b = (start + BS - 1) / BS; b < (start + n + BS - 1) / BS; b++)
            S->table[b] = take_block(R);
        for (int k = 0; k < n; k++) {
            S->ids[start + k] = (int32_t)(gpu_test_uniform(&R->rng) * R->vocab);
            if (parts[p].logits == 2 || (parts[p].logits == 1 && k == n - 1))
                idx[L++] = T + k;
            tokens[T + k] = S->ids[start + k];
        }
        bseq[p] = (sl_batch_seq_t){.num_tokens = n, .start_pos = start,
                                   .num_blocks = (start + n + BS - 1) / BS,
                                   .block_table = S->table};
        T += n;
    }
    sl_batch_t b = {.num_seqs = np, .seqs = bseq, .num_tokens = T, .tokens = tokens,
                    .num_logits = L, .logit_indices = idx};
    size_t nl = (size_t)L * R->vocab;
    float *lc = gc_malloc(nl * 4), *lg = gc_malloc(nl * 4);
    for (size_t i = 0; i < nl; i++)
        lg[i] = NAN;
    if (sl_backend_forward(R->cpu, &b, lc) != SL_OK || sl_backend_forward(R->gpu, &b, lg) != SL_OK) {
        printf("FAIL %s %s: forward failed\n", R->name, label);
        gc_failures++;
        free(lc), free(lg);
        return;
    }
    double mx, rel = gc_rel_l2(lg, lc, nl, &mx);
    char what[160];
    snprintf(what, sizeof(what), "%s: %s (%d tokens, %d logit rows)", R->name, label, T, L);
    gc_report(what, rel, mx, 2e-2);
    R->worst = rel > R->worst ? rel : R->worst;
    R->steps++;

    if (greedy) {
        int32_t *tg = gc_malloc((size_t)L * 4), *ag = gc_malloc((size_t)L * 4);
        int32_t *ac = gc_malloc((size_t)L * 4);
        /* The same step again rewrites the same K/V: harmless. */
        if (sl_cuda_backend_forward_greedy(R->gpu, &b, tg) != SL_OK) {
            printf("FAIL %s %s: greedy forward failed\n", R->name, label);
            gc_failures++;
        } else {
            sl_cpu_argmax(lg, (size_t)L, (size_t)R->vocab, 0, ag, NULL);
            sl_cpu_argmax(lc, (size_t)L, (size_t)R->vocab, 0, ac, NULL);
            int bad = 0;
            for (int i = 0; i < L; i++) {
                const float *row = lc + (size_t)i * R->vocab, *grow = lg + (size_t)i * R->vocab;
                float top2 = -INFINITY, err = 0;
                for (int v = 0; v < R->vocab; v++) {
                    if (v != ac[i] && row[v] > top2)
                        top2 = row[v];
                    err = fabsf(grow[v] - row[v]) > err ? fabsf(grow[v] - row[v]) : err;
                }
                float margin = row[ac[i]] - top2;
                /* the GPU's own argmax: exact (its logits and its sampler) */
                bad += tg[i] != ag[i];
                if (margin > 0.05f && margin > 2 * err) {
                    R->greedy_compared++;
                    bad += tg[i] != ac[i];
                }
                R->greedy_checked++;
            }
            snprintf(what, sizeof(what), "%s: %s greedy on GPU = argmax", R->name, label);
            gc_report(what, bad == 0 ? 0 : INFINITY, 0, 0);
        }
        free(tg), free(ag), free(ac);
    }
    for (int p = 0; p < np; p++)
        R->seqs[parts[p].seq].len += parts[p].n;
    free(lc), free(lg);
}

/* The scenario of the header on backends CPU and GPU. */
static void scenario(const char *name, sl_backend_t *cpu, sl_backend_t *gpu, int vocab,
                     uint64_t seed)
{
    runner_t *R = calloc(1, sizeof(*R));
    if (R == NULL)
        exit(EXIT_FAILURE);
    R->name = name, R->cpu = cpu, R->gpu = gpu, R->vocab = vocab, R->rng = seed | 1;
    R->nseqs = 3; /* A, B, C */

    part_t prefill[] = {{0, 100, 1}, {1, 5, 2}, {2, 1, 1}};
    run_step(R, prefill, 3, "prefill 100+5+1", 0);
    part_t decode[] = {{0, 1, 1}, {1, 1, 1}, {2, 1, 1}};
    for (int i = 0; i < 4; i++)
        run_step(R, decode, 3, i == 0 ? "decode x3 (eager, capture)" : "decode x3 (graph)", 0);
    part_t chunk[] = {{0, 1, 1}, {1, 20, 1}, {2, 1, 1}};
    run_step(R, chunk, 3, "chunked prefill 20 + decodes", 0);

    /* D: A's first two blocks as its cached prefix, then its own tokens */
    seq_t *A = &R->seqs[0], *D = &R->seqs[3];
    D->len = 2 * BS;
    memcpy(D->ids, A->ids, (size_t)D->len * 4);
    D->table[0] = A->table[0], D->table[1] = A->table[1];
    R->nseqs = 4;
    part_t prefix[] = {{0, 1, 1}, {1, 1, 1}, {2, 1, 1}, {3, 40, 2}};
    run_step(R, prefix, 4, "prefix hit: 40 after 32 cached + decodes", 0);
    part_t decode4[] = {{0, 1, 1}, {1, 1, 1}, {2, 1, 1}, {3, 1, 1}};
    for (int i = 0; i < 3; i++)
        run_step(R, decode4, 4, "decode x4 + greedy", 1);
    part_t longer[] = {{0, 70, 1}, {3, 1, 1}};
    run_step(R, longer, 2, "chunk of 70 after 109 + decode", 0);
    /* Batch 1, where the GEMVs take the norms, RoPE and SiLU into their
     * kernels (at TP 1 the norms, too: the residual stream then never
     * holds x separately) */
    part_t single[] = {{3, 1, 1}};
    for (int i = 0; i < 3; i++)
        run_step(R, single, 1, i == 0 ? "decode x1 (eager, capture)" : "decode x1 (graph)", 0);
    run_step(R, single, 1, "decode x1 + greedy", 1);
    printf("%s: %d steps, worst logits rel_l2 %.2e; greedy: %d rows, %d with a safe margin\n",
           name, R->steps, R->worst, R->greedy_checked, R->greedy_compared);
    free(R);
}

static void run_model(const char *label, const char *dir, int tp, int graphs,
                      int dummy_on_device, uint64_t seed)
{
    sl_model_options_t mo;
    sl_model_t *m1 = NULL, *mg = NULL;
    sl_backend_t *cpu = NULL, *gpu = NULL;
    char name[160];

    sl_model_options_init(&mo);
    if (dummy_on_device) {
        mo.load_format = SL_LOAD_DUMMY;
        mo.seed = seed;
    }
    if (sl_model_load(dir, &mo, &m1) != SL_OK)
        goto fail;
    mo.tp = tp;
    if (tp == 1)
        mg = m1;
    else if (sl_model_load(dir, &mo, &mg) != SL_OK)
        goto fail;
    sl_backend_options_t co = {.threads = 0, .block_size = BS, .num_blocks = NUM_BLOCKS};
    sl_cuda_options_t go;
    sl_cuda_options_init(&go);
    go.block_size = BS;
    go.num_blocks = NUM_BLOCKS;
    go.max_tokens = 512;
    go.cuda_graph_max_bs = 16;
    go.disable_cuda_graph = !graphs;
    go.dummy_on_device = dummy_on_device;
    go.seed = seed;
    if (sl_cpu_backend_create(m1, &co, &cpu) != SL_OK ||
        sl_cuda_backend_create(mg, &go, &gpu) != SL_OK)
        goto fail;
    snprintf(name, sizeof(name), "%s TP%d%s%s", label, tp, graphs ? "" : " eager",
             dummy_on_device ? " gpu-dummy" : "");
    scenario(name, cpu, gpu, (int)m1->config->vocab_size, seed * 7 + (uint64_t)tp);
    sl_cuda_backend_info_t info;
    sl_cuda_backend_get_info(gpu, &info);
    printf("%s: %lld graph replays, %lld eager steps; all-reduce: %s up to %llu bytes, "
           "%lld enqueued fused with the RMSNorm\n",
           name, (long long)info.graph_replays, (long long)info.eager_steps,
           info.custom_ar_max_bytes > 0 ? "one-shot kernel" : "NCCL only",
           (unsigned long long)info.custom_ar_max_bytes, (long long)info.fused_ar_norms);
    /* The one-shot kernel takes these steps' rows: with it on, the
     * all-reduces followed by a norm must have gone through the fused
     * kernel; with it off (TP 1, NCCL alone) none can. */
    if ((info.custom_ar_max_bytes > 0) != (info.fused_ar_norms > 0)) {
        printf("FAIL %s: %lld all-reduces fused with the RMSNorm, the one-shot kernel %s\n",
               name, (long long)info.fused_ar_norms,
               info.custom_ar_max_bytes > 0 ? "on" : "off");
        gc_failures++;
    }
    if (graphs && info.graph_replays == 0) {
        printf("FAIL %s: no CUDA graph was replayed\n", name);
        gc_failures++;
    }
    int p2p = 0;
    if (tp == 2)
        GPU_CHECK(cudaDeviceCanAccessPeer(&p2p, 0, 1));
    if (p2p && getenv("SLINFER_CUSTOM_ALLREDUCE") == NULL && info.custom_ar_max_bytes == 0) {
        printf("FAIL %s: the GPUs have peer access but the one-shot all-reduce is off\n", name);
        gc_failures++;
    }
    goto out;
fail:
    printf("FAIL %s TP%d: could not load or create the backends\n", label, tp);
    gc_failures++;
out:
    sl_backend_destroy(gpu);
    sl_backend_destroy(cpu);
    if (mg != m1)
        sl_model_free(mg);
    sl_model_free(m1);
}

static const struct {
    const char *name, *json;
} configs[] = {
    {"llama-gqa",
     "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":256,\"intermediate_size\":512,"
     "\"num_hidden_layers\":3,\"num_attention_heads\":8,\"num_key_value_heads\":2,"
     "\"vocab_size\":1000,\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-5,"
     "\"dtype\":\"bfloat16\",\"rope_theta\":500000.0,\"rope_scaling\":{\"rope_type\":\"llama3\","
     "\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,"
     "\"original_max_position_embeddings\":256}}"},
    {"qwen2-bias-tied",
     "{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":256,\"intermediate_size\":384,"
     "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
     "\"vocab_size\":1203,\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-6,"
     "\"tie_word_embeddings\":true,\"torch_dtype\":\"bfloat16\",\"rope_theta\":1000000.0}"},
    {"qwen3-qknorm-hd128",
     "{\"architectures\":[\"Qwen3ForCausalLM\"],\"hidden_size\":256,\"intermediate_size\":512,"
     "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
     "\"head_dim\":128,\"vocab_size\":999,\"max_position_embeddings\":2048,"
     "\"rms_norm_eps\":1e-6,\"dtype\":\"bfloat16\",\"rope_parameters\":{\"rope_type\":\"default\","
     "\"rope_theta\":1000000.0}}"},
    {"mistral-window",
     "{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":128,\"intermediate_size\":256,"
     "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":4,"
     "\"vocab_size\":512,\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-5,"
     "\"sliding_window\":40,\"dtype\":\"bfloat16\",\"rope_theta\":10000.0}"},
    {"llama-bias-kv1",
     "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":512,\"intermediate_size\":1024,"
     "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":1,"
     "\"vocab_size\":2048,\"max_position_embeddings\":2048,\"rms_norm_eps\":1e-5,"
     "\"attention_bias\":true,\"mlp_bias\":true,\"dtype\":\"bfloat16\",\"rope_theta\":10000.0}"},
};
#define NUM_CONFIGS (sizeof(configs) / sizeof(configs[0]))

static const char *const fixtures[] = {"tiny-llama3", "tiny-llama2", "tiny-qwen2",
                                       "tiny-qwen3"};

int main(int argc, char **argv)
{
    int only_tp = argc > 2 && strcmp(argv[1], "--tp") == 0 ? atoi(argv[2]) : 0;
    gpu_test_require_device();
    uint64_t seed = gc_seed();
    int gpus = sl_cuda_device_count();
    char tmpl[] = "/tmp/slinfer-cuda-forward-XXXXXX";
    char *root = mkdtemp(tmpl);
    if (root == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    if (gpus < 2)
        printf("SKIP TP 2 parts: %d GPU here\n", gpus);

    for (size_t i = 0; i < NUM_CONFIGS; i++) {
        char dir[256];
        snprintf(dir, sizeof(dir), "%s/%s", root, configs[i].name);
        if (sl_model_write_random(dir, configs[i].json, seed + i, SL_DTYPE_BF16, 1) != SL_OK) {
            printf("FAIL %s: could not write the model\n", configs[i].name);
            gc_failures++;
            continue;
        }
        for (int tp = 1; tp <= 2; tp++) {
            if ((only_tp && tp != only_tp) || tp > gpus)
                continue;
            run_model(configs[i].name, dir, tp, 1, 0, seed + i);
            if (tp == 1)
                run_model(configs[i].name, dir, tp, 0, 0, seed + i);
            if (tp == 2 && i == 0) {
                /* The default takes the one-shot all-reduce where the GPUs
                 * have peer access; once more through NCCL alone. */
                setenv("SLINFER_CUSTOM_ALLREDUCE", "0", 1);
                run_model("llama-gqa nccl-allreduce", dir, tp, 1, 0, seed + i);
                unsetenv("SLINFER_CUSTOM_ALLREDUCE");
            }
        }
        if (i == 0 && (!only_tp || only_tp == 1))
            run_model(configs[i].name, dir, 1, 1, 1, seed + 100);
    }

    const char *fx = getenv("SLINFER_FIXTURES");
    char base[512];
    snprintf(base, sizeof(base), "%s/models", fx != NULL ? fx : "../shared/fixtures");
    struct stat sb;
    if (stat(base, &sb) != 0) {
        printf("SKIP fixtures: %s not found (set SLINFER_FIXTURES)\n", base);
    } else {
        for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
            char dir[700];
            snprintf(dir, sizeof(dir), "%s/%s", base, fixtures[i]);
            for (int tp = 1; tp <= 2; tp++)
                if ((!only_tp || tp == only_tp) && tp <= gpus)
                    run_model(fixtures[i], dir, tp, 1, 0, seed + 50 + i);
        }
    }
    return gc_finish();
}
