/* check_model.c - config.json parsing (both RoPE spellings, defaults,
 * refusals), tensor lists and TP shards, and loading generated folders:
 * missing, unexpected, misshapen and FP8 tensors, sharded indexes, dummy
 * weights. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "model/checkpoint.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model_check.h"
#include "sl_check.h"

/* A small Llama: 2 layers, hidden 32, 4 heads of 8, 2 KV heads, vocab 50. */
static const char llama_config[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 32,"
    " \"intermediate_size\": 48, \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
    " \"num_key_value_heads\": 2, \"vocab_size\": 50, \"max_position_embeddings\": 64,"
    " \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0, \"dtype\": \"bfloat16\"}";

static sl_model_config_t *parse(const char *json)
{
    sl_model_config_t *c = NULL;
    ck_assert_int_eq(sl_model_config_parse("config.json", json, strlen(json), &c), SL_OK);
    return c;
}

/* Parses JSON expecting STATUS and NEEDLE in the log. */
static void parse_fails(const char *json, sl_status_t status, const char *needle)
{
    sl_model_config_t *c = NULL;
    mc_log_begin();
    ck_assert_int_eq(sl_model_config_parse("config.json", json, strlen(json), &c), status);
    mc_assert_logged(mc_log_end(), needle);
    ck_assert_ptr_null(c);
}

START_TEST(config_llama_defaults)
{
    sl_model_config_t *c = parse(llama_config);
    ck_assert_int_eq(c->arch, SL_ARCH_LLAMA);
    ck_assert_int_eq(c->head_dim, 8); /* hidden / heads */
    ck_assert_int_eq(c->num_kv_heads, 2);
    ck_assert_int_eq(c->tie_word_embeddings, 0);
    ck_assert_int_eq(c->qkv_bias, 0);
    ck_assert_int_eq(c->rope.type, SL_ROPE_DEFAULT);
    ck_assert_double_eq(c->rope.theta, 10000.0);
    ck_assert_double_eq(c->rope.attention_factor, 1.0);
    ck_assert_int_eq(c->rope.inv_freq_dtype, SL_DTYPE_BF16);
    ck_assert_int_eq(c->sliding_window, 0);
    sl_model_config_free(c);
}
END_TEST

START_TEST(config_rope_spellings_agree)
{
    /* transformers 4: rope_theta + rope_scaling; 5: rope_parameters */
    const char *v4 = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
                     "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                     "\"vocab_size\":8,\"max_position_embeddings\":4096,\"rope_theta\":500000.0,"
                     "\"rope_scaling\":{\"factor\":8.0,\"high_freq_factor\":4.0,"
                     "\"low_freq_factor\":1.0,\"original_max_position_embeddings\":512,"
                     "\"rope_type\":\"llama3\"}}";
    const char *v5 = "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":64,"
                     "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                     "\"vocab_size\":8,\"max_position_embeddings\":4096,"
                     "\"rope_parameters\":{\"rope_theta\":500000.0,\"factor\":8.0,"
                     "\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
                     "\"original_max_position_embeddings\":512,\"rope_type\":\"llama3\"}}";
    sl_model_config_t *a = parse(v4), *b = parse(v5);
    ck_assert_int_eq(a->rope.type, SL_ROPE_LLAMA3);
    ck_assert_int_eq(memcmp(&a->rope, &b->rope, sizeof(a->rope)), 0);
    ck_assert_double_eq(a->rope.original_max_position, 512);
    ck_assert_double_eq(a->rope.factor, 8);
    sl_model_config_free(a);
    sl_model_config_free(b);
}
END_TEST

START_TEST(config_yarn_defaults)
{
    /* Old spelling "type"; factor 4; no attention_factor: 0.1 ln 4 + 1 =
     * 1.138629436; beta_fast/slow 32/1; original context from the dict. */
    sl_model_config_t *c =
        parse("{\"architectures\":[\"Qwen2ForCausalLM\"],\"hidden_size\":32,"
              "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
              "\"num_key_value_heads\":1,\"vocab_size\":8,\"max_position_embeddings\":131072,"
              "\"rope_theta\":1000000.0,\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4.0,"
              "\"original_max_position_embeddings\":32768}}");
    ck_assert_int_eq(c->rope.type, SL_ROPE_YARN);
    ck_assert_double_eq_tol(c->rope.attention_factor, 1.138629436, 1e-9);
    ck_assert_double_eq(c->rope.beta_fast, 32);
    ck_assert_double_eq(c->rope.beta_slow, 1);
    ck_assert_int_eq(c->rope.truncate, 1);
    ck_assert_double_eq(c->rope.original_max_position, 32768);
    ck_assert_int_eq(c->qkv_bias, 1); /* Qwen2 */
    ck_assert_int_eq(c->o_bias, 0);
    sl_model_config_free(c);

    /* mscale / mscale_all_dim (DeepSeek style): (0.1*1*ln 40 + 1) / (0.1*0.5*ln 40 + 1)
     * = 1.368887945 / 1.184443973 = 1.155721990; factor from max/original when absent */
    c = parse("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,"
              "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
              "\"vocab_size\":8,\"max_position_embeddings\":163840,"
              "\"rope_parameters\":{\"rope_type\":\"yarn\",\"rope_theta\":10000,"
              "\"mscale\":1.0,\"mscale_all_dim\":0.5,\"original_max_position_embeddings\":4096,"
              "\"truncate\":false}}");
    ck_assert_double_eq(c->rope.factor, 40);
    ck_assert_double_eq_tol(c->rope.attention_factor, 1.155721990, 1e-8);
    ck_assert_int_eq(c->rope.truncate, 0);
    sl_model_config_free(c);
}
END_TEST

START_TEST(config_qwen3_and_mistral)
{
    sl_model_config_t *c =
        parse("{\"architectures\":[\"Qwen3ForCausalLM\"],\"hidden_size\":32,"
              "\"intermediate_size\":8,\"num_hidden_layers\":3,\"num_attention_heads\":4,"
              "\"num_key_value_heads\":2,\"vocab_size\":8,\"tie_word_embeddings\":true,"
              "\"use_sliding_window\":true,\"sliding_window\":16,\"max_window_layers\":1}");
    ck_assert_int_eq(c->head_dim, 128); /* Qwen3Config's default, not hidden / heads */
    ck_assert_int_eq(c->qk_norm, 1);
    ck_assert_int_eq(c->tie_word_embeddings, 1);
    ck_assert_int_eq(c->sliding_window, 16);
    ck_assert_int_eq(c->layer_sliding[0], 0); /* layers >= max_window_layers slide */
    ck_assert_int_eq(c->layer_sliding[1], 1);
    ck_assert_int_eq(c->layer_sliding[2], 1);
    sl_model_config_free(c);

    /* Mistral: sliding_window 4096 by default, every layer */
    c = parse("{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":32,"
              "\"intermediate_size\":8,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
              "\"num_key_value_heads\":1,\"vocab_size\":8}");
    ck_assert_int_eq(c->sliding_window, 4096);
    ck_assert_int_eq(c->layer_sliding[1], 1);
    sl_model_config_free(c);
    c = parse("{\"architectures\":[\"MistralForCausalLM\"],\"hidden_size\":32,"
              "\"intermediate_size\":8,\"num_hidden_layers\":2,\"num_attention_heads\":4,"
              "\"vocab_size\":8,\"sliding_window\":null}");
    ck_assert_int_eq(c->sliding_window, 0);
    ck_assert_ptr_null(c->layer_sliding);
    sl_model_config_free(c);
}
END_TEST

START_TEST(config_refusals)
{
    parse_fails("{\"architectures\":[\"GPT2LMHeadModel\"]}", SL_ERR_UNSUPPORTED,
                "architecture 'GPT2LMHeadModel' is not supported; supported: LlamaForCausalLM, "
                "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM");
    parse_fails("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32}", SL_ERR_FORMAT,
                "missing field \"intermediate_size\"");
    parse_fails("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":\"big\"}",
                SL_ERR_FORMAT, "\"hidden_size\" is not an integer");
    parse_fails("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,"
                "\"intermediate_size\":8,\"num_hidden_layers\":100000,"
                "\"num_attention_heads\":4,\"vocab_size\":8}",
                SL_ERR_UNSUPPORTED, "\"num_hidden_layers\" = 100000 is outside");
    parse_fails("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,"
                "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                "\"num_key_value_heads\":3,\"vocab_size\":8}",
                SL_ERR_FORMAT, "not a multiple of num_key_value_heads 3");
    parse_fails("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,"
                "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                "\"vocab_size\":8,\"rope_scaling\":{\"rope_type\":\"dynamic\",\"factor\":2}}",
                SL_ERR_UNSUPPORTED, "rope type 'dynamic' is not supported");
    parse_fails("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,"
                "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                "\"vocab_size\":8,\"hidden_act\":\"gelu\"}",
                SL_ERR_UNSUPPORTED, "hidden_act 'gelu'");
    parse_fails("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,"
                "\"intermediate_size\":8,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
                "\"vocab_size\":8,\"rope_scaling\":{\"rope_type\":\"linear\"}}",
                SL_ERR_FORMAT, "missing field \"rope_scaling.factor\"");
    parse_fails("[1, 2]", SL_ERR_FORMAT, "not a JSON object");
    parse_fails("{\"a\": ", SL_ERR_FORMAT, "not valid JSON");
}
END_TEST

START_TEST(tensor_list_and_shards)
{
    sl_model_config_t *c = parse(llama_config);
    sl_tensor_spec_t *specs;
    size_t n;
    sl_rank_geometry_t g;
    sl_shard_t sh;

    ck_assert_int_eq(sl_model_tensor_specs(c, &specs, &n), SL_OK);
    ck_assert_uint_eq(n, 3 + 2 * 9); /* embed, norm, lm_head + 9 per layer */
    ck_assert_str_eq(specs[3].name, "model.layers.0.input_layernorm.weight");
    /* parameters: 2 x 50 x 32 + 32 + 2 x (2 x 32 + q 32x32 + k,v 16x32 x 2 + o 32x32
     * + 3 x 48x32) = 3232 + 2 x (64 + 1024 + 1024 + 1024 + 4608) = 18720 */
    ck_assert_int_eq(sl_model_param_count(specs, n), 18720);

    ck_assert_int_eq(sl_model_check_tp(c, 2), SL_OK);
    ck_assert_int_eq(sl_model_check_tp(c, 4), SL_OK); /* KV heads replicated */
    mc_log_begin();
    ck_assert_int_eq(sl_model_check_tp(c, 3), SL_ERR_INVALID_ARG);
    mc_assert_logged(mc_log_end(), "--tp 3 does not divide num_attention_heads 4");
    mc_log_begin();
    ck_assert_int_eq(sl_model_check_tp(c, 8), SL_ERR_INVALID_ARG);
    mc_assert_logged(mc_log_end(), "--tp 8 does not divide num_attention_heads 4");

    /* TP 4, rank 3: query head 3, KV head 3 / (4 / 2) = 1, vocab rows
     * [39, 50) of ceil(50 / 4) = 13 per rank */
    sl_model_rank_geometry(c, 4, 3, &g);
    ck_assert_int_eq(g.num_heads, 1);
    ck_assert_int_eq(g.head_begin, 3);
    ck_assert_int_eq(g.num_kv_heads, 1);
    ck_assert_int_eq(g.kv_head_begin, 1);
    ck_assert_int_eq(g.intermediate, 12);
    ck_assert_int_eq(g.vocab_begin, 39);
    ck_assert_int_eq(g.vocab_end, 50);
    for (size_t i = 0; i < n; i++) {
        sl_model_shard(c, &g, &specs[i], &sh);
        if (strcmp(specs[i].name, "model.layers.1.self_attn.k_proj.weight") == 0) {
            ck_assert_int_eq(sh.row_begin, 8); /* KV head 1 x head_dim 8 */
            ck_assert_int_eq(sh.rows, 8);
            ck_assert_int_eq(sh.cols, 32);
        } else if (strcmp(specs[i].name, "model.layers.1.self_attn.o_proj.weight") == 0) {
            ck_assert_int_eq(sh.rows, 32);
            ck_assert_int_eq(sh.col_begin, 24);
            ck_assert_int_eq(sh.cols, 8);
        } else if (strcmp(specs[i].name, "model.layers.0.mlp.down_proj.weight") == 0) {
            ck_assert_int_eq(sh.col_begin, 36);
            ck_assert_int_eq(sh.cols, 12);
        } else if (strcmp(specs[i].name, "lm_head.weight") == 0) {
            ck_assert_int_eq(sh.row_begin, 39);
            ck_assert_int_eq(sh.rows, 11);
        }
    }
    free(specs);
    sl_model_config_free(c);
}
END_TEST

START_TEST(load_generated_folder)
{
    char dir[256];
    sl_model_t *m;

    mc_write_model(dir, llama_config, 7, SL_DTYPE_BF16, 1);
    m = mc_load(dir, 2);
    ck_assert_int_eq(m->tp, 2);
    ck_assert_int_eq(m->dtype, SL_DTYPE_BF16);
    /* rank 1's q_proj: rows [16, 32) of the full [32, 32]: a view into the file */
    const sl_weight_t *wq = &m->ranks[1].layers[0].wq;
    ck_assert_int_eq(wq->rows, 16);
    ck_assert_int_eq(wq->cols, 32);
    ck_assert_int_eq(wq->ld, 32);
    /* o_proj of rank 1: the columns [16, 32): strided */
    const sl_weight_t *wo = &m->ranks[1].layers[0].wo;
    ck_assert_int_eq(wo->cols, 16);
    ck_assert_int_eq(wo->ld, 32);
    ck_assert_ptr_nonnull(m->ranks[0].final_norm);
    ck_assert_ptr_null(m->ranks[0].layers[0].bq);
    /* both ranks together read about the whole model once (norms twice) */
    ck_assert_uint_eq(m->ranks[0].bytes + m->ranks[1].bytes, 2 * 18720 + 2 * (32 * 5));
    sl_model_free(m);
    mc_rmdir(dir);
}
END_TEST

/* Rewrites DIR/model.safetensors from the config's tensors with EDIT applied
 * to the tensor called NAME: "drop", "extra", "shape", "i64", "f8". */
static void rewrite(const char *dir, const char *name, const char *edit)
{
    sl_model_config_t *c = parse(llama_config);
    sl_tensor_spec_t *specs;
    size_t n, k = 0;
    sl_st_out_tensor_t out[32];
    static unsigned char zeros[50 * 32 * 8];
    char path[300];

    ck_assert_int_eq(sl_model_tensor_specs(c, &specs, &n), SL_OK);
    for (size_t i = 0; i < n; i++) {
        sl_st_out_tensor_t *t = &out[k];
        t->name = specs[i].name;
        t->dtype = SL_DTYPE_BF16;
        t->ndim = specs[i].ndim;
        t->shape[0] = (uint64_t)specs[i].shape[0];
        t->shape[1] = (uint64_t)specs[i].shape[1];
        t->data = zeros;
        if (strcmp(specs[i].name, name) == 0) {
            if (strcmp(edit, "drop") == 0)
                continue;
            if (strcmp(edit, "shape") == 0)
                t->shape[0]--;
            if (strcmp(edit, "i64") == 0)
                t->dtype = SL_DTYPE_I64;
            if (strcmp(edit, "f8") == 0)
                t->dtype = SL_DTYPE_F8_E4M3;
        }
        k++;
    }
    if (strcmp(edit, "extra") == 0)
        out[k++] = (sl_st_out_tensor_t){.name = name, .dtype = SL_DTYPE_F32, .ndim = 1,
                                        .shape = {4}, .data = zeros};
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    ck_assert_int_eq(sl_st_write(path, out, k), SL_OK);
    free(specs);
    sl_model_config_free(c);
}

static void load_fails(const char *dir, sl_status_t status, const char *needle1,
                       const char *needle2)
{
    sl_model_options_t opt;
    sl_model_t *m = NULL;

    sl_model_options_init(&opt);
    mc_log_begin();
    ck_assert_int_eq(sl_model_load(dir, &opt, &m), status);
    const char *log = mc_log_end();
    ck_assert_ptr_null(m);
    mc_assert_logged(log, needle1);
    if (needle2 != NULL)
        mc_assert_logged(log, needle2);
}

START_TEST(bad_tensors_are_named)
{
    char dir[256];

    mc_write_model(dir, llama_config, 1, SL_DTYPE_BF16, 1);
    rewrite(dir, "model.layers.1.mlp.up_proj.weight", "drop");
    load_fails(dir, SL_ERR_NOT_FOUND, "missing tensor 'model.layers.1.mlp.up_proj.weight'",
               NULL);
    rewrite(dir, "model.layers.0.self_attn.rotary_emb.inv_freq", "extra"); /* ignored */
    sl_model_free(mc_load(dir, 1));
    rewrite(dir, "model.layers.0.mlp.experts.0.weight", "extra");
    load_fails(dir, SL_ERR_FORMAT, "model.safetensors: unexpected tensor "
                                   "'model.layers.0.mlp.experts.0.weight'", NULL);
    rewrite(dir, "model.layers.0.self_attn.k_proj.weight", "shape");
    load_fails(dir, SL_ERR_FORMAT, "tensor 'model.layers.0.self_attn.k_proj.weight': shape "
                                   "[15, 32], but config.json implies [16, 32]", NULL);
    rewrite(dir, "model.norm.weight", "i64");
    load_fails(dir, SL_ERR_UNSUPPORTED, "tensor 'model.norm.weight': dtype I64 is not a weight "
                                        "dtype", NULL);
    rewrite(dir, "model.layers.0.mlp.gate_proj.weight", "f8");
    load_fails(dir, SL_ERR_UNSUPPORTED, "tensor 'model.layers.0.mlp.gate_proj.weight': dtype "
                                        "F8_E4M3 is not supported yet", NULL);
    mc_rmdir(dir);
}
END_TEST

START_TEST(sharded_index_checks)
{
    char dir[256], path[300];
    FILE *f;
    sl_model_t *m;

    mc_write_model(dir, llama_config, 3, SL_DTYPE_F16, 3);
    m = mc_load(dir, 1);
    ck_assert_int_eq(m->dtype, SL_DTYPE_F16);
    sl_model_free(m);

    /* an index naming a file outside the folder */
    snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
    f = fopen(path, "w");
    fputs("{\"weight_map\": {\"lm_head.weight\": \"../etc/passwd\"}}", f);
    fclose(f);
    load_fails(dir, SL_ERR_FORMAT, "weight_map[\"lm_head.weight\"] is not a file name", NULL);

    /* an index that leaves tensors of a file unlisted */
    f = fopen(path, "w");
    fputs("{\"weight_map\": {\"model.layers.1.mlp.down_proj.weight\": "
          "\"model-00003-of-00003.safetensors\"}}", f);
    fclose(f);
    load_fails(dir, SL_ERR_FORMAT, "is not listed for this file", NULL);

    /* an index listing a tensor its file lacks */
    f = fopen(path, "w");
    fputs("{\"weight_map\": {\"nope\": \"model-00001-of-00003.safetensors\"}}", f);
    fclose(f);
    load_fails(dir, SL_ERR_FORMAT, "tensor 'nope' is listed in", NULL);

    unlink(path);
    for (int k = 1; k <= 3; k++) {
        snprintf(path, sizeof(path), "%s/model-%05d-of-00003.safetensors", dir, k);
        unlink(path);
    }
    load_fails(dir, SL_ERR_NOT_FOUND, "no model.safetensors or model.safetensors.index.json",
               NULL);
    mc_rmdir(dir);
}
END_TEST

START_TEST(dummy_weights_match_the_written_ones)
{
    char dir[256], cfg_only[256], path[300];
    sl_model_options_t opt;
    sl_model_t *written, *dummy;
    int32_t ids[] = {1, 7, 3, 49, 0, 22};

    mc_write_model(dir, llama_config, 42, SL_DTYPE_BF16, 1);
    mc_tmpdir(cfg_only);
    snprintf(path, sizeof(path), "%s/config.json", cfg_only);
    FILE *f = fopen(path, "w");
    fputs(llama_config, f);
    fclose(f);

    sl_model_options_init(&opt);
    opt.load_format = SL_LOAD_DUMMY;
    opt.seed = 42;
    opt.tp = 2;
    ck_assert_int_eq(sl_model_load(cfg_only, &opt, &dummy), SL_OK);
    written = mc_load(dir, 2);
    /* same weights, so the same logits, bit for bit */
    float *a = mc_prompt_logits(dummy, ids, 6, 1), *b = mc_prompt_logits(written, ids, 6, 1);
    ck_assert_int_eq(memcmp(a, b, 6 * 50 * sizeof(float)), 0);
    /* never zero */
    const sl_weight_t *w = &dummy->ranks[1].layers[1].w_down;
    for (int64_t r = 0; r < w->rows; r++) {
        float row[24];
        sl_dtype_to_f32(row, (const char *)w->data + (size_t)(r * w->ld) * 2, w->dtype,
                        (size_t)w->cols);
        for (int64_t col = 0; col < w->cols; col++)
            ck_assert(row[col] != 0.0f);
    }
    free(a);
    free(b);
    sl_model_free(dummy);
    sl_model_free(written);
    /* another seed, other weights */
    opt.seed = 43;
    ck_assert_int_eq(sl_model_load(cfg_only, &opt, &dummy), SL_OK);
    float v42[8], v43[8];
    sl_dtype_to_f32(v43, dummy->ranks[0].embed.data, SL_DTYPE_BF16, 8);
    sl_model_free(dummy);
    opt.seed = 42;
    ck_assert_int_eq(sl_model_load(cfg_only, &opt, &dummy), SL_OK);
    sl_dtype_to_f32(v42, dummy->ranks[0].embed.data, SL_DTYPE_BF16, 8);
    ck_assert_int_ne(memcmp(v42, v43, sizeof(v42)), 0);
    sl_model_free(dummy);
    mc_rmdir(dir);
    mc_rmdir(cfg_only);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, config_llama_defaults);
    tcase_add_test(tc, config_rope_spellings_agree);
    tcase_add_test(tc, config_yarn_defaults);
    tcase_add_test(tc, config_qwen3_and_mistral);
    tcase_add_test(tc, config_refusals);
    tcase_add_test(tc, tensor_list_and_shards);
    suite_add_tcase(s, tc);
    tc = tcase_create("load");
    tcase_add_test(tc, load_generated_folder);
    tcase_add_test(tc, bad_tensors_are_named);
    tcase_add_test(tc, sharded_index_checks);
    tcase_add_test(tc, dummy_weights_match_the_written_ones);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(model_suite)
