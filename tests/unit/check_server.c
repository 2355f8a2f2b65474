/*
 * check_server.c - the pieces of `slinfer serve` below HTTP: request
 * parsing and its refusals, the prompt checks against a model, outputs and
 * cursors, the DP channel's frames (round trips and truncations), the
 * Prometheus text, the API key comparison, and a local DP group on a
 * generated model (streaming deltas, a cancelled request freeing its KV
 * blocks). The HTTP layer itself is tested through real HTTP by
 * tests/server/test_serve_http.sh.
 */
#include "config.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "job/runtime.h"
#include "model_check.h"
#include "server/group.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/parse.h"
#include "server/prompt.h"
#include "server/wire.h"
#include "sl_check.h"

/* ---- parsing ---------------------------------------------------------------------- */

static sl_status_t parse(const char *body, sl_io_endpoint_t ep, sl_server_req_t *req,
                         sl_server_error_t *err)
{
    memset(err, 0, sizeof(*err));
    return sl_server_parse_request(body, strlen(body), ep, req, err);
}

/* BODY is refused with 400, a message containing NEEDLE and PARAM ("" none). */
static void refused(const char *body, sl_io_endpoint_t ep, const char *needle, const char *param)
{
    sl_server_req_t req;
    sl_server_error_t err;

    ck_assert_msg(parse(body, ep, &req, &err) == SL_ERR_INVALID_ARG, "accepted: %s", body);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.type, "invalid_request_error");
    ck_assert_msg(strstr(err.message, needle) != NULL, "'%s' lacks '%s'", err.message, needle);
    ck_assert_str_eq(err.param, param);
}

#define CMPL SL_IO_ENDPOINT_COMPLETIONS
#define CHAT SL_IO_ENDPOINT_CHAT_COMPLETIONS

START_TEST(parse_completions)
{
    sl_server_req_t req;
    sl_server_error_t err;

    ck_assert_int_eq(parse("{\"model\":\"m\",\"prompt\":\"Hello\",\"max_tokens\":8,"
                           "\"temperature\":0.5,\"top_p\":0.9,\"top_k\":20,\"seed\":-3,"
                           "\"stop\":[\"a\",\"bc\"],\"stop_token_ids\":[7],\"logprobs\":2,"
                           "\"n\":3,\"best_of\":3,\"stream\":true,"
                           "\"stream_options\":{\"include_usage\":true},\"user\":\"u\","
                           "\"logit_bias\":{}}", CMPL, &req, &err), SL_OK);
    ck_assert_str_eq(req.model, "m");
    ck_assert_str_eq(req.text, "Hello");
    ck_assert(req.stream && req.include_usage && req.has_max_tokens && !req.echo);
    ck_assert_int_eq(req.params.max_tokens, 8);
    ck_assert_int_eq(req.params.n, 3);
    ck_assert_int_eq(req.params.top_k, 20);
    ck_assert_int_eq(req.params.logprobs, 2);
    ck_assert(req.params.has_seed);
    ck_assert_uint_eq(req.params.seed, (uint64_t)-3); /* the seed's bits */
    ck_assert_int_eq(req.params.num_stop, 2);
    ck_assert_str_eq(req.params.stop[1], "bc");
    ck_assert_int_eq(req.params.num_stop_token_ids, 1);
    sl_ck_assert_close(req.params.temperature, 0.5, 0);
    sl_server_req_release(&req);

    /* ids, one nested list of ids, one text in a list; null is absent */
    ck_assert_int_eq(parse("{\"prompt\":[5,6,7],\"max_tokens\":null}", CMPL, &req, &err), SL_OK);
    ck_assert_int_eq(req.num_ids, 3);
    ck_assert_int_eq(req.ids[2], 7);
    ck_assert(!req.has_max_tokens);
    sl_server_req_release(&req);
    ck_assert_int_eq(parse("{\"prompt\":[[1,2]]}", CMPL, &req, &err), SL_OK);
    ck_assert_int_eq(req.num_ids, 2);
    sl_server_req_release(&req);
    ck_assert_int_eq(parse("{\"prompt\":[\"x\"],\"echo\":true}", CMPL, &req, &err), SL_OK);
    ck_assert_str_eq(req.text, "x");
    ck_assert(req.echo);
    sl_server_req_release(&req);
}
END_TEST

START_TEST(parse_chat)
{
    sl_server_req_t req;
    sl_server_error_t err;

    ck_assert_int_eq(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                           "\"max_completion_tokens\":5,\"max_tokens\":9,\"logprobs\":true,"
                           "\"top_logprobs\":4,\"add_generation_prompt\":false,\"tools\":[],"
                           "\"chat_template_kwargs\":{\"enable_thinking\":false},"
                           "\"tool_choice\":\"none\",\"response_format\":{\"type\":\"text\"}}",
                           CHAT, &req, &err), SL_OK);
    ck_assert_int_eq(req.params.max_tokens, 5); /* max_completion_tokens wins */
    ck_assert_int_eq(req.params.logprobs, 4);
    ck_assert(!req.add_generation_prompt);
    ck_assert_int_eq(json_array_size(req.messages), 1);
    ck_assert_ptr_nonnull(req.tools);
    ck_assert_ptr_nonnull(req.template_kwargs);
    sl_server_req_release(&req);
    ck_assert_int_eq(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                           "\"logprobs\":false}", CHAT, &req, &err), SL_OK);
    ck_assert_int_eq(req.params.logprobs, -1);
    ck_assert(req.add_generation_prompt);
    sl_server_req_release(&req);
}
END_TEST

START_TEST(parse_refusals)
{
    sl_server_req_t req;
    sl_server_error_t err;

    ck_assert_int_eq(parse("{\"prompt\":", CMPL, &req, &err), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(err.status, 400);
    ck_assert_str_eq(err.code, "invalid_json");
    ck_assert_int_eq(parse("{\"prompt\":\"a\",\"prompt\":\"b\"}", CMPL, &req, &err),
                     SL_ERR_INVALID_ARG); /* duplicate keys */
    refused("[1,2]", CMPL, "must be a JSON object, got array", "");
    refused("{\"prompt\":\"x\",\"frobnicate\":1}", CMPL,
            "Unrecognized request argument supplied: frobnicate", "frobnicate");
    refused("{\"prompt\":\"x\",\"messages\":[]}", CMPL, "Unrecognized", "messages");
    refused("{\"messages\":[],\"prompt\":\"x\"}", CHAT, "Unrecognized", "prompt");
    refused("{}", CMPL, "prompt: required", "prompt");
    refused("{\"prompt\":[]}", CMPL, "empty", "prompt");
    refused("{\"prompt\":[\"a\",\"b\"]}", CMPL, "only one prompt", "prompt");
    refused("{\"prompt\":[1,-2]}", CMPL, "prompt[1]", "prompt");
    refused("{\"prompt\":[1,2.5]}", CMPL, "prompt[1]", "prompt");
    refused("{\"prompt\":7}", CMPL, "expected a string or an array", "prompt");
    refused("{\"prompt\":\"x\",\"max_tokens\":-1}", CMPL, "max_tokens: expected an integer >= 0",
            "max_tokens");
    refused("{\"prompt\":\"x\",\"max_tokens\":0}", CMPL, "max_tokens: must be at least 1",
            "max_tokens");
    refused("{\"prompt\":\"x\",\"max_tokens\":\"8\"}", CMPL, "expected an integer, got string",
            "max_tokens");
    refused("{\"prompt\":\"x\",\"temperature\":-1}", CMPL, "temperature", "temperature");
    refused("{\"prompt\":\"x\",\"temperature\":1e300}", CMPL, "too large", "temperature");
    refused("{\"prompt\":\"x\",\"top_p\":0}", CMPL, "top_p: must be greater than 0", "top_p");
    refused("{\"prompt\":\"x\",\"top_p\":1.5}", CMPL, "top_p", "top_p");
    refused("{\"prompt\":\"x\",\"n\":0}", CMPL, "n: expected", "n");
    refused("{\"prompt\":\"x\",\"n\":2,\"best_of\":3}", CMPL, "best_of", "best_of");
    refused("{\"prompt\":\"x\",\"logit_bias\":{\"5\":1}}", CMPL, "logit_bias", "logit_bias");
    refused("{\"prompt\":\"x\",\"stop\":[\"\"]}", CMPL, "must not be empty", "stop");
    refused("{\"prompt\":\"x\",\"stop\":[1]}", CMPL, "stop[0]", "stop");
    refused("{\"prompt\":\"x\",\"stream\":1}", CMPL, "stream: expected a boolean", "stream");
    refused("{\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}", CMPL,
            "only allowed with", "stream_options");
    refused("{\"prompt\":\"x\",\"stream\":true,\"stream_options\":{\"x\":1}}", CMPL,
            "unrecognized member", "stream_options");
    refused("{\"prompt\":\"x\",\"echo\":true,\"logprobs\":1}", CMPL, "echo", "echo");
    refused("{\"prompt\":\"x\",\"suffix\":\"y\"}", CMPL, "suffix", "suffix");
    refused("{\"prompt\":\"x\",\"logprobs\":true}", CMPL, "logprobs", "logprobs");
    refused("{\"prompt\":\"x\",\"model\":5}", CMPL, "model: expected a string", "model");
    refused("{\"messages\":\"hi\"}", CHAT, "messages: expected a non-empty array", "messages");
    refused("{\"messages\":[{\"content\":\"hi\"}]}", CHAT, "messages[0]", "messages");
    refused("{\"messages\":[{\"role\":\"user\"}],\"top_logprobs\":2}", CHAT,
            "needs \"logprobs\": true", "top_logprobs");
    refused("{\"messages\":[{\"role\":\"user\"}],\"logprobs\":3}", CHAT,
            "logprobs: expected a boolean", "logprobs");
    refused("{\"messages\":[{\"role\":\"user\"}],\"tool_choice\":\"required\"}", CHAT,
            "tool_choice", "tool_choice");
    refused("{\"messages\":[{\"role\":\"user\"}],\"response_format\":{\"type\":\"json_object\"}}",
            CHAT, "response_format", "response_format");
}
END_TEST

/* ---- the prompt against a model ----------------------------------------------------- */

START_TEST(prepare_checks)
{
    sl_server_model_t m = {.name = "m", .vocab = 100, .context = 64, .block_size = 4,
                           .num_blocks = 10};
    sl_server_req_t req;
    sl_server_error_t err;
    int32_t *ids, n;
    char *echo;

    /* Default max_tokens: 128 capped by the context: 64 - 3 = 61. (61 + 3 - 1
     * tokens need 16 blocks of 4, more than the 10 there are.) */
    ck_assert_int_eq(parse("{\"prompt\":[1,2,3]}", CMPL, &req, &err), SL_OK);
    ck_assert_int_eq(sl_server_prepare(&m, &req, &ids, &n, &echo, &err), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(req.params.max_tokens, 61);
    ck_assert_ptr_nonnull(strstr(err.message, "needs 16 KV blocks"));
    sl_server_req_release(&req);

    m.num_blocks = 16;
    ck_assert_int_eq(parse("{\"prompt\":[1,2,3],\"echo\":true}", CMPL, &req, &err), SL_OK);
    ck_assert_int_eq(sl_server_prepare(&m, &req, &ids, &n, &echo, &err), SL_OK);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[2], 3);
    ck_assert_str_eq(echo, ""); /* no tokenizer: ids have no text */
    free(ids);
    free(echo);
    sl_server_req_release(&req);

    /* 3 + 62 > 64 */
    ck_assert_int_eq(parse("{\"prompt\":[1,2,3],\"max_tokens\":62}", CMPL, &req, &err), SL_OK);
    ck_assert_int_eq(sl_server_prepare(&m, &req, &ids, &n, &echo, &err), SL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.message, "maximum context length is 64 tokens. However, "
                                              "you requested 65 tokens (3 in the prompt, 62"));
    ck_assert_str_eq(err.param, "max_tokens");
    sl_server_req_release(&req);

    const char *bad[][2] = {
        {"{\"prompt\":[1,100]}", "token id 100 is outside the vocabulary of 100"},
        {"{\"prompt\":\"text\"}", "no tokenizer"},
        {"{\"prompt\":[1],\"max_tokens\":4,\"min_tokens\":5}", "min_tokens: 5 is more"},
        {"{\"prompt\":[1],\"stop_token_ids\":[100]}", "stop_token_ids: 100 is outside"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(parse(bad[i][0], CMPL, &req, &err), SL_OK);
        ck_assert_int_eq(sl_server_prepare(&m, &req, &ids, &n, &echo, &err),
                         SL_ERR_INVALID_ARG);
        ck_assert_msg(strstr(err.message, bad[i][1]) != NULL, "%s: %s", bad[i][0], err.message);
        sl_server_req_release(&req);
    }
    ck_assert_int_eq(parse("{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", CHAT, &req,
                           &err), SL_OK);
    ck_assert_int_eq(sl_server_prepare(&m, &req, &ids, &n, &echo, &err), SL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(err.message, "no tokenizer"));
    sl_server_req_release(&req);
}
END_TEST

/* ---- outputs, cursors, frames ------------------------------------------------------- */

/* An output of 2 choices with 2 alternatives per token: choice 0 has tokens
 * 10, 11 and "ab", choice 1 token 20, finished by length. */
static void make_out(sl_server_out_t *o)
{
    const int32_t ids[] = {10, 11}, nt[] = {2, 1}, tid[] = {1, 2, 3, 0};
    const float lp[] = {-0.5f, -1.5f}, tlp[] = {-0.1f, -0.2f, -0.3f, 0};

    ck_assert_int_eq(sl_server_out_init(o, 2, 2), SL_OK);
    ck_assert_int_eq(sl_server_out_add_tokens(o, 0, ids, lp, nt, tid, tlp, 2), SL_OK);
    ck_assert_int_eq(sl_server_out_add_text(o, 0, "ab", 2), SL_OK);
    ck_assert_int_eq(sl_server_out_add_tokens(o, 1, (int32_t[]){20}, lp, nt, tid, tlp, 1),
                     SL_OK);
    o->seqs[1].finish = SL_FINISH_LENGTH;
}

START_TEST(output_slices)
{
    sl_server_out_t full, d;
    sl_server_cursor_t cur;

    make_out(&full);
    ck_assert_int_eq(sl_server_out_init(&d, 2, 2), SL_OK);
    ck_assert_int_eq(sl_server_cursor_init(&cur, 2), SL_OK);
    ck_assert_int_eq(sl_server_out_slice(&full, &cur, &d), SL_OK);
    ck_assert_int_eq(d.seqs[0].num_tokens, 2);
    ck_assert_int_eq(d.seqs[0].top_ids[2], 3); /* token 1's first alternative */
    ck_assert_int_eq(d.seqs[1].finish, SL_FINISH_LENGTH);
    ck_assert(!d.done);
    /* Nothing new: an empty delta; the finish reason is reported once. */
    ck_assert_int_eq(sl_server_out_slice(&full, &cur, &d), SL_OK);
    ck_assert(!sl_server_out_has_news(&d));
    /* More, then the end. */
    ck_assert_int_eq(sl_server_out_add_text(&full, 0, "c", 1), SL_OK);
    full.seqs[0].finish = SL_FINISH_STOP;
    full.done = true;
    full.prompt_tokens = 7;
    ck_assert_int_eq(sl_server_out_slice(&full, &cur, &d), SL_OK);
    ck_assert_int_eq(d.seqs[0].num_tokens, 0);
    ck_assert_uint_eq(d.seqs[0].text_len, 1);
    ck_assert_int_eq(d.seqs[0].finish, SL_FINISH_STOP);
    ck_assert_int_eq(d.seqs[1].finish, SL_FINISH_NONE);
    ck_assert(d.done);
    ck_assert_int_eq(d.prompt_tokens, 7);
    /* Appending the deltas rebuilds the output. */
    sl_server_out_t again;
    sl_server_cursor_t c2;
    ck_assert_int_eq(sl_server_out_init(&again, 2, 2), SL_OK);
    ck_assert_int_eq(sl_server_cursor_init(&c2, 2), SL_OK);
    ck_assert_int_eq(sl_server_out_slice(&full, &c2, &d), SL_OK);
    ck_assert_int_eq(sl_server_out_append(&again, &d), SL_OK);
    ck_assert_int_eq(sl_server_out_completion_tokens(&again), 3);
    ck_assert_str_eq(again.seqs[0].text, "abc");
    ck_assert(again.done);
    sl_server_cursor_free(&c2);
    sl_server_out_free(&again);
    sl_server_cursor_free(&cur);
    sl_server_out_free(&d);
    sl_server_out_free(&full);
}
END_TEST

START_TEST(wire_round_trips)
{
    sl_io_buf_t w = {0};
    sl_io_cursor_t r;
    sl_server_out_t o, back;
    sl_sampling_params_t p, q;
    sl_server_stats_t st = {0}, st2;

    make_out(&o);
    ck_assert_int_eq(sl_server_out_set_error(&o, 503, "gone"), SL_OK);
    sl_wire_put_out(&w, &o);
    r = (sl_io_cursor_t){.p = w.data, .len = w.len};
    ck_assert_int_eq(sl_wire_get_out(&r, &back), SL_OK);
    ck_assert_uint_eq(r.pos, w.len);
    ck_assert_int_eq(back.seqs[0].num_tokens, 2);
    ck_assert_int_eq(back.seqs[0].ids[1], 11);
    ck_assert_int_eq(back.seqs[0].num_top[0], 2);
    sl_ck_assert_close(back.seqs[0].top_logprobs[1], -0.2f, 0);
    ck_assert_str_eq(back.seqs[0].text, "ab");
    ck_assert_int_eq(back.seqs[1].finish, SL_FINISH_LENGTH);
    ck_assert(back.done);
    ck_assert_int_eq(back.status, 503);
    ck_assert_str_eq(back.error, "gone");
    sl_server_out_free(&back);
    /* Every truncation is refused, never read past. */
    for (size_t len = 0; len < w.len; len++) {
        r = (sl_io_cursor_t){.p = w.data, .len = len};
        ck_assert_int_eq(sl_wire_get_out(&r, &back), SL_ERR_FORMAT);
    }
    sl_server_out_free(&o);

    sl_sampling_params_init(&p);
    p.n = 3;
    p.temperature = 0.25f;
    p.has_seed = true;
    p.seed = 1ull << 63;
    p.logprobs = 5;
    ck_assert_int_eq(sl_sampling_params_add_stop(&p, "END"), SL_OK);
    ck_assert_int_eq(sl_sampling_params_add_stop_id(&p, 9), SL_OK);
    sl_wire_begin(&w);
    sl_wire_put_params(&w, &p);
    r = (sl_io_cursor_t){.p = w.data, .len = w.len};
    ck_assert_int_eq(sl_wire_get_params(&r, &q), SL_OK);
    ck_assert_int_eq(q.n, 3);
    sl_ck_assert_close(q.temperature, 0.25, 0);
    ck_assert_uint_eq(q.seed, 1ull << 63);
    ck_assert_int_eq(q.logprobs, 5);
    ck_assert_str_eq(q.stop[0], "END");
    ck_assert_int_eq(q.stop_token_ids[0], 9);
    sl_sampling_params_release(&q);
    for (size_t len = 0; len < w.len; len++) {
        r = (sl_io_cursor_t){.p = w.data, .len = len};
        ck_assert_int_eq(sl_wire_get_params(&r, &q), SL_ERR_FORMAT);
    }
    sl_sampling_params_release(&p);

    st.kv_used = 12;
    st.finished[SL_SERVER_DONE_ABORT] = 4;
    sl_server_hist_observe(&st.hist[SL_SERVER_HIST_ITL], SL_SERVER_HIST_ITL, 0.003);
    sl_wire_begin(&w);
    sl_wire_put_stats(&w, &st);
    r = (sl_io_cursor_t){.p = w.data, .len = w.len};
    sl_wire_get_stats(&r, &st2);
    ck_assert(!r.bad);
    ck_assert_int_eq(memcmp(&st, &st2, sizeof(st)), 0);
    sl_io_buf_free(&w);
}
END_TEST

/* ---- metrics, keys -------------------------------------------------------------------- */

START_TEST(metrics_text)
{
    sl_server_stats_t st[2] = {{0}};
    int ready[2] = {1, 0};
    sl_server_http_counts_t http = {.responses = {0, 0, 5, 0, 2, 1}};
    char *text;

    /* ITL bounds 0.001, 0.005, ...: 0.003 falls in the second bucket, 7 past the
     * last finite one (40). */
    sl_server_hist_observe(&st[1].hist[SL_SERVER_HIST_ITL], SL_SERVER_HIST_ITL, 0.003);
    sl_server_hist_observe(&st[1].hist[SL_SERVER_HIST_ITL], SL_SERVER_HIST_ITL, 70);
    st[1].kv_blocks = 8;
    st[1].kv_used = 2;
    st[0].prefix_query_tokens = 4;
    st[0].prefix_hit_tokens = 1;
    ck_assert_int_eq(sl_server_metrics_render(st, ready, 2, &http, "we\"ird\n", &text), SL_OK);
    ck_assert_ptr_nonnull(strstr(text, "slinfer_model_info{model=\"we\\\"ird\\n\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "slinfer_dp_group_ready{dp_group=\"1\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "slinfer_kv_cache_usage_ratio{dp_group=\"1\"} 0.25\n"));
    ck_assert_ptr_nonnull(strstr(text, "slinfer_prefix_cache_hit_rate{dp_group=\"0\"} 0.25\n"));
    ck_assert_ptr_nonnull(strstr(text, "slinfer_inter_token_latency_seconds_bucket"
                                       "{dp_group=\"1\",le=\"0.001\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(text, "slinfer_inter_token_latency_seconds_bucket"
                                       "{dp_group=\"1\",le=\"0.005\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "slinfer_inter_token_latency_seconds_bucket"
                                       "{dp_group=\"1\",le=\"40\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "slinfer_inter_token_latency_seconds_bucket"
                                       "{dp_group=\"1\",le=\"+Inf\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "slinfer_inter_token_latency_seconds_count"
                                       "{dp_group=\"1\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "slinfer_http_responses_total{code=\"5xx\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE slinfer_e2e_request_latency_seconds "
                                       "histogram\n"));
    free(text);
}
END_TEST

START_TEST(api_keys)
{
    ck_assert(sl_server_key_equal("secret", "secret"));
    ck_assert(!sl_server_key_equal("secret", "secreT"));
    ck_assert(!sl_server_key_equal("secret", "secret2"));
    ck_assert(!sl_server_key_equal("secret", "secre"));
    ck_assert(!sl_server_key_equal("secret", ""));
    ck_assert(!sl_server_key_equal("secret", NULL));
    ck_assert(!sl_server_key_equal("ss", "s")); /* "s" repeated is not "ss"'s length */
}
END_TEST

/* ---- a local group on a generated model ---------------------------------------------- */

static const char tiny_config[] =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 32, "
    "\"intermediate_size\": 48, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
    "\"num_key_value_heads\": 2, \"vocab_size\": 64, \"max_position_embeddings\": 512, "
    "\"rope_theta\": 10000.0, \"dtype\": \"float32\"}";

START_TEST(local_group)
{
    char dir[256];
    sl_runtime_options_t ro;
    sl_runtime_t *rt;
    sl_server_group_t *g;
    sl_sampling_params_t p;
    sl_server_ticket_t *t[3];
    const int32_t prompt[] = {1, 2, 3, 4, 5};

    mc_write_model(dir, tiny_config, 7, SL_DTYPE_F32, 1);
    sl_runtime_options_init(&ro);
    ro.model_dir = dir;
    ro.threads = 1;
    ro.kv_bytes = 1 << 20;
    ro.engine.record_token_times = true;
    mc_log_begin();
    ck_assert_int_eq(sl_runtime_open(&ro, &rt), SL_OK);
    mc_log_end();
    ck_assert_int_eq(sl_server_local_create(0, rt->engine, &g), SL_OK);

    sl_sampling_params_init(&p);
    p.max_tokens = 6;
    p.temperature = 0;
    p.ignore_eos = true;
    p.logprobs = 1;
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(sl_server_ticket_new((uint64_t)i + 1, prompt, 5, &p, &t[i]), SL_OK);
        ck_assert_int_eq(g->ops->submit(g, t[i]), SL_OK);
    }
    /* The third never ends by itself: cancelling it must abort it. */
    p.max_tokens = 400;
    ck_assert_int_eq(sl_server_ticket_new(3, prompt, 5, &p, &t[2]), SL_OK);
    ck_assert_int_eq(g->ops->submit(g, t[2]), SL_OK);

    /* Streamed: deltas add up to the whole output, in order. */
    sl_server_cursor_t cur;
    sl_server_out_t d, sum;
    ck_assert_int_eq(sl_server_cursor_init(&cur, 1), SL_OK);
    ck_assert_int_eq(sl_server_out_init(&d, 1, 1), SL_OK);
    ck_assert_int_eq(sl_server_out_init(&sum, 1, 1), SL_OK);
    while (!cur.done) {
        ck_assert_int_eq(sl_server_ticket_take(t[0], &cur, 1000, &d), SL_OK);
        ck_assert_int_eq(sl_server_out_append(&sum, &d), SL_OK);
    }
    ck_assert_int_eq(sum.status, 0);
    ck_assert_int_eq(sum.seqs[0].num_tokens, 6);
    ck_assert_int_eq(sum.seqs[0].finish, SL_FINISH_LENGTH);
    ck_assert_int_eq(sum.prompt_tokens, 5);
    ck_assert(sl_server_ticket_wait_done(t[1], 10000));
    /* Greedy: the same prompt gives the same tokens and logprobs. */
    ck_assert_int_eq(memcmp(t[1]->out.seqs[0].ids, sum.seqs[0].ids, 6 * sizeof(int32_t)), 0);
    ck_assert_int_eq(memcmp(t[1]->out.seqs[0].logprobs, sum.seqs[0].logprobs, 6 * sizeof(float)),
                     0);

    sl_server_ticket_cancel(t[2]);
    g->ops->cancel(g, t[2]);
    ck_assert(sl_server_ticket_wait_done(t[2], 10000));
    ck_assert_int_eq(t[2]->out.seqs[0].finish, SL_FINISH_ABORT);
    ck_assert_int_lt(t[2]->out.seqs[0].num_tokens, 400);
    /* Stats follow the step that finished the last request. */
    sl_server_stats_t st;
    for (int k = 0; k < 100; k++) {
        sl_server_group_stats(g, &st);
        if (st.finished[SL_SERVER_DONE_ABORT] == 1 && atomic_load(&g->inflight) == 0)
            break;
        usleep(10000);
    }
    ck_assert_int_eq(atomic_load(&g->inflight), 0);
    ck_assert_int_eq(st.kv_used, 0); /* the aborted request's blocks are free */
    ck_assert_uint_eq(st.finished[SL_SERVER_DONE_LENGTH], 2);
    ck_assert_uint_eq(st.finished[SL_SERVER_DONE_ABORT], 1);
    ck_assert_uint_eq(st.hist[SL_SERVER_HIST_TTFT].count, 3);
    ck_assert_uint_ge(st.hist[SL_SERVER_HIST_ITL].count, 10); /* 5 gaps each, and more */

    /* Stopping fails what is left, and refuses more. */
    sl_server_group_stop(g);
    ck_assert_int_eq(g->ops->submit(g, t[0]), SL_ERR_INTERRUPTED);
    for (int i = 0; i < 3; i++)
        sl_server_ticket_unref(t[i]);
    sl_server_cursor_free(&cur);
    sl_server_out_free(&d);
    sl_server_out_free(&sum);
    sl_sampling_params_release(&p);
    sl_server_group_destroy(g);
    sl_runtime_close(rt);
    mc_rmdir(dir);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *tc = tcase_create("server");
    tcase_add_test(tc, parse_completions);
    tcase_add_test(tc, parse_chat);
    tcase_add_test(tc, parse_refusals);
    tcase_add_test(tc, prepare_checks);
    tcase_add_test(tc, output_slices);
    tcase_add_test(tc, wire_round_trips);
    tcase_add_test(tc, metrics_text);
    tcase_add_test(tc, api_keys);
    tcase_add_test(tc, local_group);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(server_suite)
