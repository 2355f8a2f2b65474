/* check_cpu_forward.c - the CPU backend on generated models (not in the
 * fixtures): against a dense float64 reference forward written here from the
 * HuggingFace definitions, TP 1 = 2 = 4, and the paged-cache invariants the
 * engine relies on (chunked prefill + decode = one prefill, a batch = its
 * sequences alone, shared prefix blocks). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_check.h"
#include "sl_check.h"

/* float32 weights and config dtype, so that the reference sees exact values */
static const char *const configs[] = {
    /* Llama: GQA 4:2, attention and MLP biases, llama3 RoPE (old spelling) */
    "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":48,\"intermediate_size\":40,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
    "\"head_dim\":12,\"vocab_size\":101,\"max_position_embeddings\":128,\"rms_norm_eps\":1e-5,"
    "\"attention_bias\":true,\"mlp_bias\":true,\"dtype\":\"float32\",\"rope_theta\":500.0,"
    "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":4.0,\"low_freq_factor\":1.0,"
    "\"high_freq_factor\":2.0,\"original_max_position_embeddings\":16}}",
    /* Qwen2: one KV head (replicated for TP 2 and 4), qkv bias, tied, YaRN */
    "{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":32,\"intermediate_size\":24,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":1,"
    "\"vocab_size\":67,\"max_position_embeddings\":64,\"rms_norm_eps\":1e-6,"
    "\"tie_word_embeddings\":true,\"torch_dtype\":\"float32\",\"rope_theta\":10000.0,"
    "\"rope_scaling\":{\"type\":\"yarn\",\"factor\":2.0,"
    "\"original_max_position_embeddings\":16}}",
    /* Qwen3: q/k norm, head_dim 16 != 32 / 4, linear RoPE (new spelling) */
    "{\"architectures\":[\"Qwen3ForCausalLM\"],\"hidden_size\":32,\"intermediate_size\":32,"
    "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
    "\"head_dim\":16,\"vocab_size\":80,\"max_position_embeddings\":64,\"rms_norm_eps\":1e-6,"
    "\"dtype\":\"float32\",\"rope_parameters\":{\"rope_type\":\"linear\",\"factor\":2.0,"
    "\"rope_theta\":1000.0}}",
    /* Mistral: sliding window of 5 positions, 3 layers */
    "{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":32,\"intermediate_size\":32,"
    "\"num_hidden_layers\":3,\"num_attention_heads\":4,\"num_key_value_heads\":4,"
    "\"vocab_size\":64,\"max_position_embeddings\":64,\"rms_norm_eps\":1e-5,"
    "\"sliding_window\":5,\"dtype\":\"float32\",\"rope_theta\":10000.0}",
};
#define NUM_CONFIGS (sizeof(configs) / sizeof(configs[0]))
#define PROMPT 21

static void make_prompt(int32_t *ids, int n, int vocab, int salt)
{
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)((i * 37 + salt * 11 + 5) % vocab);
}

/* ---- the float64 reference ------------------------------------------------------- */

static double wat(const sl_weight_t *w, int64_t r, int64_t c)
{
    float v;
    sl_dtype_to_f32(&v, (const char *)w->data + (size_t)(r * w->ld + c) * sl_dtype_size(w->dtype),
                    w->dtype, 1);
    return v;
}

/* y [n, w->rows] = x [n, w->cols] . W^T + b */
static void ref_linear(double *y, const double *x, int n, const sl_weight_t *w, const float *b)
{
    for (int t = 0; t < n; t++)
        for (int64_t o = 0; o < w->rows; o++) {
            double s = b != NULL ? b[o] : 0.0;
            for (int64_t k = 0; k < w->cols; k++)
                s += x[t * w->cols + k] * wat(w, o, k);
            y[t * w->rows + o] = s;
        }
}

static void ref_rmsnorm(double *y, const double *x, int rows, int dim, const float *w, double eps)
{
    for (int r = 0; r < rows; r++) {
        double ss = 0;
        for (int i = 0; i < dim; i++)
            ss += x[r * dim + i] * x[r * dim + i];
        double inv = 1.0 / sqrt(ss / dim + eps);
        for (int i = 0; i < dim; i++)
            y[r * dim + i] = x[r * dim + i] * inv * w[i];
    }
}

/* transformers' _compute_*_parameters, in double */
static void ref_inv_freq(const sl_rope_config_t *c, int dim, double *inv, double *scale)
{
    *scale = 1.0;
    for (int i = 0; i < dim / 2; i++)
        inv[i] = 1.0 / pow(c->theta, 2.0 * i / dim);
    if (c->type == SL_ROPE_LINEAR)
        for (int i = 0; i < dim / 2; i++)
            inv[i] /= c->factor;
    if (c->type == SL_ROPE_LLAMA3) {
        double lo = c->original_max_position / c->low_freq_factor;
        double hi = c->original_max_position / c->high_freq_factor;
        for (int i = 0; i < dim / 2; i++) {
            double wl = 2 * M_PI / inv[i];
            if (wl > lo) {
                inv[i] /= c->factor;
            } else if (wl >= hi) {
                double s = (c->original_max_position / wl - c->low_freq_factor) /
                           (c->high_freq_factor - c->low_freq_factor);
                inv[i] = (1 - s) * inv[i] / c->factor + s * inv[i];
            }
        }
    }
    if (c->type == SL_ROPE_YARN) {
        double lo = floor(dim * log(c->original_max_position / (c->beta_fast * 2 * M_PI)) /
                          (2 * log(c->theta)));
        double hi = ceil(dim * log(c->original_max_position / (c->beta_slow * 2 * M_PI)) /
                         (2 * log(c->theta)));
        lo = lo < 0 ? 0 : lo;
        hi = hi > dim - 1 ? dim - 1 : hi;
        for (int i = 0; i < dim / 2; i++) {
            double ramp = fmin(1.0, fmax(0.0, (i - lo) / (hi - lo)));
            inv[i] = inv[i] / c->factor * ramp + inv[i] * (1 - ramp);
        }
        *scale = 0.1 * log(c->factor) + 1.0;
    }
}

static void ref_rope(double *x, int n, int heads, int hd, const sl_rope_config_t *c)
{
    double inv[64], scale;
    ref_inv_freq(c, hd, inv, &scale);
    for (int t = 0; t < n; t++)
        for (int h = 0; h < heads; h++) {
            double *v = x + (t * heads + h) * hd;
            for (int i = 0; i < hd / 2; i++) {
                double cs = cos(t * inv[i]) * scale, sn = sin(t * inv[i]) * scale;
                double a = v[i], b = v[i + hd / 2];
                v[i] = a * cs - b * sn;
                v[i + hd / 2] = b * cs + a * sn;
            }
        }
}

/* Logits [n, vocab] of a prompt (positions 0..n-1), from the TP 1 weights. */
static void ref_forward(const sl_model_t *m, const int32_t *ids, int n, double *logits)
{
    const sl_model_config_t *c = m->config;
    const sl_rank_weights_t *w = &m->ranks[0];
    int H = (int)c->hidden_size, nh = (int)c->num_heads, kvh = (int)c->num_kv_heads;
    int hd = (int)c->head_dim, I = (int)c->intermediate_size, V = (int)c->vocab_size;
    double *x = calloc((size_t)n * H, 8), *xn = calloc((size_t)n * H, 8);
    double *q = calloc((size_t)n * nh * hd, 8), *k = calloc((size_t)n * kvh * hd, 8);
    double *v = calloc((size_t)n * kvh * hd, 8), *att = calloc((size_t)n * nh * hd, 8);
    double *o = calloc((size_t)n * H, 8), *g = calloc((size_t)n * I, 8);
    double *u = calloc((size_t)n * I, 8);

    for (int t = 0; t < n; t++)
        for (int i = 0; i < H; i++)
            x[t * H + i] = wat(&w->embed, ids[t], i);
    for (int l = 0; l < c->num_layers; l++) {
        const sl_layer_weights_t *L = &w->layers[l];
        ref_rmsnorm(xn, x, n, H, L->attn_norm, c->rms_norm_eps);
        ref_linear(q, xn, n, &L->wq, L->bq);
        ref_linear(k, xn, n, &L->wk, L->bk);
        ref_linear(v, xn, n, &L->wv, L->bv);
        if (L->q_norm != NULL) {
            ref_rmsnorm(q, q, n * nh, hd, L->q_norm, c->rms_norm_eps);
            ref_rmsnorm(k, k, n * kvh, hd, L->k_norm, c->rms_norm_eps);
        }
        ref_rope(q, n, nh, hd, &c->rope);
        ref_rope(k, n, kvh, hd, &c->rope);
        for (int t = 0; t < n; t++)
            for (int h = 0; h < nh; h++) {
                int kh = h / (nh / kvh), lo = 0;
                double sc[PROMPT], mx = -INFINITY, sum = 0;
                if (L->window > 0 && t - L->window + 1 > 0)
                    lo = t - (int)L->window + 1;
                for (int s = lo; s <= t; s++) {
                    double d = 0;
                    for (int i = 0; i < hd; i++)
                        d += q[(t * nh + h) * hd + i] * k[(s * kvh + kh) * hd + i];
                    sc[s] = d / sqrt(hd);
                    mx = fmax(mx, sc[s]);
                }
                for (int i = 0; i < hd; i++)
                    att[(t * nh + h) * hd + i] = 0;
                for (int s = lo; s <= t; s++) {
                    double e = exp(sc[s] - mx);
                    sum += e;
                    for (int i = 0; i < hd; i++)
                        att[(t * nh + h) * hd + i] += e * v[(s * kvh + kh) * hd + i];
                }
                for (int i = 0; i < hd; i++)
                    att[(t * nh + h) * hd + i] /= sum;
            }
        ref_linear(o, att, n, &L->wo, L->bo);
        for (int i = 0; i < n * H; i++)
            x[i] += o[i];
        ref_rmsnorm(xn, x, n, H, L->mlp_norm, c->rms_norm_eps);
        ref_linear(g, xn, n, &L->w_gate, L->b_gate);
        ref_linear(u, xn, n, &L->w_up, L->b_up);
        for (int i = 0; i < n * I; i++)
            g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        ref_linear(o, g, n, &L->w_down, L->b_down);
        for (int i = 0; i < n * H; i++)
            x[i] += o[i];
    }
    ref_rmsnorm(xn, x, n, H, w->final_norm, c->rms_norm_eps);
    for (int t = 0; t < n; t++)
        for (int r = 0; r < V; r++) {
            double s = 0;
            for (int i = 0; i < H; i++)
                s += xn[t * H + i] * wat(&w->lm_head, r, i);
            logits[t * V + r] = s;
        }
    free(x); free(xn); free(q); free(k); free(v); free(att); free(o); free(g); free(u);
}

START_TEST(matches_reference_at_every_tp)
{
    const char *config = configs[_i];
    char dir[256];
    int32_t ids[PROMPT];
    double ref[PROMPT * 101];
    float ref32[PROMPT * 101];

    mc_write_model(dir, config, 100 + (uint64_t)_i, SL_DTYPE_F32, _i == 3 ? 3 : 1);
    sl_model_t *m1 = mc_load(dir, 1);
    int vocab = (int)m1->config->vocab_size;
    size_t count = (size_t)PROMPT * (size_t)vocab;
    make_prompt(ids, PROMPT, vocab, (int)_i);
    ref_forward(m1, ids, PROMPT, ref);
    for (size_t i = 0; i < count; i++)
        ref32[i] = (float)ref[i];
    float *l1 = mc_prompt_logits(m1, ids, PROMPT, 2);
    double e1 = mc_rel_error(l1, ref32, count);
    printf("%s: TP 1 vs float64 reference: max rel error %.3g\n", m1->config->arch_name, e1);
    ck_assert_msg(e1 <= 1e-5, "TP 1 differs from the reference by %g", e1);
    for (int tp = 2; tp <= 4; tp *= 2) {
        sl_model_t *m = mc_load(dir, tp);
        float *l = mc_prompt_logits(m, ids, PROMPT, tp);
        double e = mc_rel_error(l, l1, count), er = mc_rel_error(l, ref32, count);
        printf("%s: TP %d vs TP 1: %.3g, vs reference: %.3g\n", m->config->arch_name, tp, e, er);
        ck_assert_msg(e <= 1e-5, "TP %d differs from TP 1 by %g", tp, e);
        free(l);
        sl_model_free(m);
    }
    free(l1);
    sl_model_free(m1);
    mc_rmdir(dir);
}
END_TEST

/* Feeds PROMPT tokens in steps of CHUNKS[i] tokens (then 1 at a time) into one
 * backend; returns the logits of every position. */
static float *stepwise_logits(const sl_model_t *m, const int32_t *ids, const int *chunks,
                              int nchunks, int threads)
{
    int vocab = (int)m->config->vocab_size;
    float *all = malloc((size_t)PROMPT * (size_t)vocab * sizeof(float));
    int32_t table[8] = {5, 0, 7, 2, 6, 1, 3, 4}; /* 8 blocks of 4 = 32 positions */
    int32_t idx[PROMPT];
    sl_backend_t *be = mc_backend(m, 4, 8, threads);

    for (int done = 0, c = 0; done < PROMPT; c++) {
        int n = c < nchunks ? chunks[c] : 1;
        if (n > PROMPT - done)
            n = PROMPT - done;
        for (int i = 0; i < n; i++)
            idx[i] = i;
        sl_batch_seq_t seq = {.num_tokens = n, .start_pos = done, .num_blocks = 8,
                              .block_table = table};
        sl_batch_t b = {.num_seqs = 1, .seqs = &seq, .num_tokens = n, .tokens = ids + done,
                        .num_logits = n, .logit_indices = idx};
        ck_assert_int_eq(sl_backend_forward(be, &b, all + (size_t)done * vocab), SL_OK);
        done += n;
    }
    sl_backend_destroy(be);
    return all;
}

START_TEST(chunked_prefill_and_decode_equal_one_prefill)
{
    static const int chunks[] = {7, 1, 5, 2};
    char dir[256];
    int32_t ids[PROMPT];

    mc_write_model(dir, configs[_i], 7, SL_DTYPE_BF16, 1);
    for (int tp = 1; tp <= 2; tp++) {
        sl_model_t *m = mc_load(dir, tp);
        size_t count = (size_t)PROMPT * (size_t)m->config->vocab_size;
        make_prompt(ids, PROMPT, (int)m->config->vocab_size, 3);
        float *once = mc_prompt_logits(m, ids, PROMPT, 1);
        float *steps = stepwise_logits(m, ids, chunks, 4, 2);
        double e = mc_rel_error(steps, once, count);
        printf("%s TP %d: chunked prefill + decode vs one prefill: %.3g\n",
               m->config->arch_name, tp, e);
        ck_assert_msg(e <= 1e-6, "chunked differs by %g", e);
        free(once);
        free(steps);
        sl_model_free(m);
    }
    mc_rmdir(dir);
}
END_TEST

START_TEST(batch_equals_sequences_alone_and_prefix_sharing)
{
    char dir[256];
    int32_t a[11], b[13], c[6];

    mc_write_model(dir, configs[_i], 9, SL_DTYPE_BF16, 1);
    sl_model_t *m = mc_load(dir, _i % 2 ? 2 : 1);
    int vocab = (int)m->config->vocab_size;
    make_prompt(a, 11, vocab, 1);
    make_prompt(b, 13, vocab, 1); /* b shares a's first 8 tokens (2 blocks) */
    for (int i = 8; i < 13; i++)
        b[i] = (b[i] + 1) % vocab;
    make_prompt(c, 6, vocab, 2);
    float *la = mc_prompt_logits(m, a, 11, 1), *lb = mc_prompt_logits(m, b, 13, 1);
    float *lc = mc_prompt_logits(m, c, 6, 1);

    sl_backend_t *be = mc_backend(m, 4, 16, 2);
    /* step 1: a whole, c's first 5 tokens */
    int32_t ta[3] = {3, 9, 4}, tc[2] = {12, 0}, tb[4] = {3, 9, 7, 15};
    int32_t tok1[16], idx1[2] = {10, 15};
    memcpy(tok1, a, sizeof(a));
    memcpy(tok1 + 11, c, 5 * sizeof(int32_t));
    sl_batch_seq_t s1[2] = {{.num_tokens = 11, .start_pos = 0, .num_blocks = 3,
                             .block_table = ta},
                            {.num_tokens = 5, .start_pos = 0, .num_blocks = 2,
                             .block_table = tc}};
    sl_batch_t b1 = {.num_seqs = 2, .seqs = s1, .num_tokens = 16, .tokens = tok1,
                     .num_logits = 2, .logit_indices = idx1};
    float out1[2 * 101];
    ck_assert_int_eq(sl_backend_forward(be, &b1, out1), SL_OK);
    ck_assert(mc_rel_error(out1, la + 10 * vocab, (size_t)vocab) <= 1e-6);
    ck_assert(mc_rel_error(out1 + vocab, lc + 4 * vocab, (size_t)vocab) <= 1e-6);

    /* step 2: c decodes its 6th token; b reuses a's first two blocks (positions
     * 0..7 are the same tokens) and prefills its 5 own tokens */
    int32_t tok2[6], idx2[3] = {0, 1, 5};
    tok2[0] = c[5];
    memcpy(tok2 + 1, b + 8, 5 * sizeof(int32_t));
    sl_batch_seq_t s2[2] = {{.num_tokens = 1, .start_pos = 5, .num_blocks = 2,
                             .block_table = tc},
                            {.num_tokens = 5, .start_pos = 8, .num_blocks = 4,
                             .block_table = tb}};
    sl_batch_t b2 = {.num_seqs = 2, .seqs = s2, .num_tokens = 6, .tokens = tok2,
                     .num_logits = 3, .logit_indices = idx2};
    float out2[3 * 101];
    ck_assert_int_eq(sl_backend_forward(be, &b2, out2), SL_OK);
    double ec = mc_rel_error(out2, lc + 5 * vocab, (size_t)vocab);
    double eb1 = mc_rel_error(out2 + vocab, lb + 8 * vocab, (size_t)vocab);
    double eb = mc_rel_error(out2 + 2 * vocab, lb + 12 * vocab, (size_t)vocab);
    printf("%s: batched vs alone: %.3g, shared prefix: %.3g %.3g\n", m->config->arch_name, ec,
           eb1, eb);
    ck_assert(ec <= 1e-6 && eb1 <= 1e-6 && eb <= 1e-6);

    /* a bad batch is refused before any work */
    tb[3] = 16;
    mc_log_begin();
    ck_assert_int_eq(sl_backend_forward(be, &b2, out2), SL_ERR_INVALID_ARG);
    mc_assert_logged(mc_log_end(), "sequence 1 block_table[3] = 16, the cache has 16 blocks");

    sl_backend_destroy(be);
    free(la);
    free(lb);
    free(lc);
    sl_model_free(m);
    mc_rmdir(dir);
}
END_TEST

START_TEST(indivisible_tp_is_refused)
{
    char dir[256];
    sl_model_options_t opt;
    sl_model_t *m = NULL;

    mc_write_model(dir, configs[0], 1, SL_DTYPE_BF16, 1);
    sl_model_options_init(&opt);
    opt.tp = 3;
    mc_log_begin();
    ck_assert_int_eq(sl_model_load(dir, &opt, &m), SL_ERR_INVALID_ARG);
    mc_assert_logged(mc_log_end(), "--tp 3 does not divide num_attention_heads 4");
    ck_assert_ptr_null(m);
    mc_rmdir(dir);
}
END_TEST

static Suite *cpu_forward_suite(void)
{
    Suite *s = suite_create("cpu_forward");
    TCase *tc = tcase_create("generated");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, matches_reference_at_every_tp, 0, NUM_CONFIGS);
    tcase_add_loop_test(tc, chunked_prefill_and_decode_equal_one_prefill, 0, NUM_CONFIGS);
    tcase_add_loop_test(tc, batch_equals_sequences_alone_and_prefix_sharing, 0, NUM_CONFIGS);
    tcase_add_test(tc, indivisible_tp_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(cpu_forward_suite)
