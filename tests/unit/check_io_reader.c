/* check_io_reader.c - the JSONL reader: both line shapes, ids, blank lines,
 * every kind of bad line with its exact message, duplicates, DP shares,
 * resume skipping; and the sampling field checks. */
#include "config.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/io_check.h"
#include "core/log.h"
#include "io/idset.h"
#include "io/sampling.h"

/* Writes TEXT as DIR/in.jsonl; returns the path. */
static char *jsonl_file(const char *dir, const char *text)
{
    char *p = io_path(dir, "in.jsonl");
    io_write_file(p, text, strlen(text));
    return p;
}

START_TEST(batch_and_plain_lines)
{
    char *dir = io_tmpdir();
    char *path = jsonl_file(
        dir,
        "{\"custom_id\": \"req-1\", \"method\": \"POST\", \"url\": \"/v1/chat/completions\", "
        "\"body\": {\"model\": \"llama\", \"messages\": [{\"role\": \"system\", \"content\": "
        "\"Be brief.\"}, {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": "
        "\"Hi\"}]}], \"max_tokens\": 16, \"temperature\": 0.5}}\n"
        "{\"custom_id\": \"req-2\", \"method\": \"POST\", \"url\": \"/v1/completions\", "
        "\"body\": {\"prompt\": \"Once upon\", \"stop\": [\"\\n\"], \"logprobs\": 2}}\n"
        "{\"custom_id\": \"req-3\", \"method\": \"POST\", \"url\": \"/v1/completions\", "
        "\"body\": {\"prompt\": [1, 2, 3]}}\n"
        "{\"prompt\": \"plain text\", \"max_tokens\": 8, \"seed\": 7}\n"
        "{\"id\": 42, \"messages\": [{\"role\": \"user\", \"content\": \"yo\"}], \"model\": "
        "\"m2\"}\n"
        "{\"input_ids\": [5, 6], \"id\": \"ids\"}\n"
        "{\"custom_id\": \"plain-custom\", \"prompt\": [\"single\"]}");
    io_records_t rs = io_read_all(path, NULL);
    sl_io_request_t *q;

    ck_assert_uint_eq(rs.n, 7);
    for (size_t i = 0; i < rs.n; i++) {
        ck_assert_msg(rs.recs[i]->type == SL_IO_RECORD_REQUEST, "record %zu: %s", i,
                      rs.recs[i]->type == SL_IO_RECORD_ERROR ? rs.recs[i]->u.error.message : "");
        ck_assert_int_eq(rs.recs[i]->u.request.index, (int64_t)i);
        ck_assert_int_eq(rs.recs[i]->u.request.line, (int64_t)i + 1);
    }
    q = &rs.recs[0]->u.request;
    ck_assert_str_eq(q->id, "req-1");
    ck_assert_int_eq(q->batch_line, 1);
    ck_assert_int_eq(q->endpoint, SL_IO_ENDPOINT_CHAT_COMPLETIONS);
    ck_assert_int_eq(q->kind, SL_IO_PROMPT_MESSAGES);
    ck_assert_uint_eq(json_array_size(q->messages), 2);
    ck_assert_str_eq(q->model, "llama");
    /* params: everything in the body but model and the prompt */
    ck_assert_uint_eq(json_object_size(q->params), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(q->params, "max_tokens")), 16);
    ck_assert(json_real_value(json_object_get(q->params, "temperature")) == 0.5);

    q = &rs.recs[1]->u.request;
    ck_assert_int_eq(q->endpoint, SL_IO_ENDPOINT_COMPLETIONS);
    ck_assert_int_eq(q->kind, SL_IO_PROMPT_TEXT);
    ck_assert_str_eq(q->text, "Once upon");
    ck_assert_uint_eq(q->text_len, 9);
    ck_assert_ptr_null(q->model);
    /* legacy completions take an integer logprobs */
    ck_assert_int_eq(json_integer_value(json_object_get(q->params, "logprobs")), 2);

    q = &rs.recs[2]->u.request;
    ck_assert_int_eq(q->kind, SL_IO_PROMPT_TOKENS);
    ck_assert_uint_eq(q->n_input_ids, 3);
    ck_assert_int_eq(q->input_ids[2], 3);

    q = &rs.recs[3]->u.request;
    ck_assert_str_eq(q->id, "line-4");
    ck_assert_int_eq(q->id_derived, 1);
    ck_assert_int_eq(q->batch_line, 0);
    ck_assert_str_eq(q->text, "plain text");
    ck_assert_uint_eq(json_object_size(q->params), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(q->params, "seed")), 7);

    q = &rs.recs[4]->u.request;
    ck_assert_str_eq(q->id, "42"); /* integer ids are written in decimal */
    ck_assert_int_eq(q->id_derived, 0);
    ck_assert_int_eq(q->endpoint, SL_IO_ENDPOINT_CHAT_COMPLETIONS);
    ck_assert_str_eq(q->model, "m2");
    ck_assert_uint_eq(json_object_size(q->params), 0);

    q = &rs.recs[5]->u.request;
    ck_assert_str_eq(q->id, "ids");
    ck_assert_int_eq(q->kind, SL_IO_PROMPT_TOKENS);
    ck_assert_int_eq(q->input_ids[0], 5);

    q = &rs.recs[6]->u.request; /* last line without a newline */
    ck_assert_str_eq(q->id, "plain-custom");
    ck_assert_str_eq(q->text, "single");

    ck_assert_int_eq(rs.stats.records, 7);
    ck_assert_int_eq(rs.stats.lines, 7);
    ck_assert_int_eq(rs.stats.errors, 0);
    io_records_free(&rs);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(blank_lines_bom_and_crlf)
{
    char *dir = io_tmpdir();
    /* BOM, CRLF endings, blank and whitespace-only lines: blank lines take
     * no record index, but line numbers count every physical line */
    char *path = jsonl_file(dir, "\xEF\xBB\xBF{\"prompt\": \"a\"}\r\n"
                                 "\r\n"
                                 "   \t \n"
                                 "{\"prompt\": \"b\"}\r\n"
                                 "\n"
                                 "{\"prompt\": \"c\"}\n"
                                 "\n");
    io_records_t rs = io_read_all(path, NULL);
    int64_t count = -1;

    ck_assert_uint_eq(rs.n, 3);
    ck_assert_str_eq(rs.recs[0]->u.request.text, "a");
    ck_assert_str_eq(rs.recs[0]->u.request.id, "line-1");
    ck_assert_int_eq(rs.recs[1]->u.request.index, 1);
    ck_assert_int_eq(rs.recs[1]->u.request.line, 4);
    ck_assert_str_eq(rs.recs[1]->u.request.id, "line-4");
    ck_assert_int_eq(rs.recs[2]->u.request.index, 2);
    ck_assert_int_eq(rs.recs[2]->u.request.line, 6);
    ck_assert_int_eq(rs.stats.blank_lines, 4);
    ck_assert_int_eq(rs.stats.lines, 7);
    ck_assert_int_eq(sl_io_count_records(path, &count), SL_OK);
    ck_assert_int_eq(count, 3);
    io_records_free(&rs);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

/* Each bad line and the exact message of its error record. A message
 * ending in "*" is a prefix (the rest is jansson's wording). */
static const struct {
    const char *line;
    sl_io_error_code_t code;
    const char *message;
} bad_lines[] = {
    {"{\"prompt\": \"a\"", SL_IO_ERR_INVALID_JSON, "line 1: invalid JSON: *"},
    {"[1, 2]", SL_IO_ERR_INVALID_REQUEST, "line 2: expected a JSON object, got array"},
    {"\"just a string\"", SL_IO_ERR_INVALID_REQUEST,
     "line 3: expected a JSON object, got string"},
    {"{\"custom_id\": 5, \"method\": \"POST\", \"url\": \"/v1/completions\", \"body\": "
     "{\"prompt\": \"x\"}}",
     SL_IO_ERR_INVALID_REQUEST, "line 4: custom_id: expected a string, got integer"},
    {"{\"custom_id\": \"r5\", \"method\": \"POST\", \"url\": \"/v1/completions\"}",
     SL_IO_ERR_INVALID_REQUEST, "line 5: body: missing"},
    {"{\"custom_id\": \"r6\", \"method\": \"POST\", \"url\": \"/v1/completions\", \"body\": "
     "\"x\"}",
     SL_IO_ERR_INVALID_REQUEST, "line 6: body: expected an object, got string"},
    {"{\"custom_id\": \"r7\", \"method\": \"POST\", \"url\": \"/v1/embeddings\", \"body\": "
     "{\"input\": \"x\"}}",
     SL_IO_ERR_INVALID_REQUEST,
     "line 7: url: \"/v1/embeddings\" is not supported (expected \"/v1/chat/completions\" or "
     "\"/v1/completions\")"},
    {"{\"custom_id\": \"r8\", \"method\": \"GET\", \"url\": \"/v1/completions\", \"body\": "
     "{\"prompt\": \"x\"}}",
     SL_IO_ERR_INVALID_REQUEST, "line 8: method: \"GET\" is not supported (expected \"POST\")"},
    {"{\"custom_id\": \"r9\", \"method\": \"POST\", \"body\": {\"prompt\": \"x\"}}",
     SL_IO_ERR_INVALID_REQUEST,
     "line 9: url: missing (expected \"/v1/chat/completions\" or \"/v1/completions\")"},
    {"{\"custom_id\": \"r10\", \"method\": \"POST\", \"url\": \"/v1/chat/completions\", "
     "\"body\": {\"model\": \"m\"}}",
     SL_IO_ERR_INVALID_REQUEST, "line 10: body.messages: missing"},
    {"{\"custom_id\": \"r11\", \"method\": \"POST\", \"url\": \"/v1/chat/completions\", "
     "\"body\": {\"messages\": \"hi\"}}",
     SL_IO_ERR_INVALID_REQUEST,
     "line 11: body.messages: expected an array of objects, got string"},
    {"{\"messages\": [\"hi\"]}", SL_IO_ERR_INVALID_REQUEST,
     "line 12: messages[0]: expected an object, got string"},
    {"{\"messages\": [{\"content\": \"hi\"}]}", SL_IO_ERR_INVALID_REQUEST,
     "line 13: messages[0].role: missing"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", SL_IO_ERR_INVALID_REQUEST,
     "line 14: messages[0].content: expected a string or an array of parts, got integer"},
    {"{\"messages\": []}", SL_IO_ERR_INVALID_REQUEST,
     "line 15: messages: expected a non-empty array of objects, got an empty array"},
    {"{\"prompt\": 5}", SL_IO_ERR_INVALID_REQUEST,
     "line 16: prompt: expected a string or an array of token ids, got integer"},
    {"{\"prompt\": [1, \"a\"]}", SL_IO_ERR_INVALID_REQUEST,
     "line 17: prompt[1]: expected an integer token id, got string"},
    {"{\"input_ids\": [1, -2]}", SL_IO_ERR_INVALID_REQUEST,
     "line 18: input_ids[1]: token id -2 is outside [0, 2147483647]"},
    {"{\"input_ids\": \"1 2 3\"}", SL_IO_ERR_INVALID_REQUEST,
     "line 19: input_ids: expected an array of token ids, got string"},
    {"{\"id\": \"x20\", \"max_tokens\": 5}", SL_IO_ERR_INVALID_REQUEST,
     "line 20: no prompt: expected one of \"prompt\", \"messages\", \"input_ids\" (or an "
     "OpenAI batch line with \"body\")"},
    {"{\"prompt\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": \"b\"}]}",
     SL_IO_ERR_INVALID_REQUEST,
     "line 21: more than one prompt: give only one of \"prompt\", \"messages\", \"input_ids\""},
    {"{\"id\": \"dup\", \"prompt\": \"first\"}", 0, NULL}, /* fine */
    {"{\"id\": \"dup\", \"prompt\": \"second\"}", SL_IO_ERR_DUPLICATE_ID,
     "line 23: duplicate id \"dup\": ids must be unique"},
    {"{\"prompt\": \"a\", \"temperature\": \"hot\"}", SL_IO_ERR_INVALID_REQUEST,
     "line 24: temperature: expected a number, got string"},
    {"{\"custom_id\": \"r25\", \"method\": \"POST\", \"url\": \"/v1/completions\", \"body\": "
     "{\"prompt\": \"a\", \"max_tokens\": -1}}",
     SL_IO_ERR_INVALID_REQUEST, "line 25: body.max_tokens: expected an integer >= 0, got -1"},
    {"{\"prompt\": \"a\", \"n\": 0}", SL_IO_ERR_INVALID_REQUEST,
     "line 26: n: expected an integer in [1, 1024], got 0"},
    {"{\"prompt\": \"a\", \"stop\": [\"x\", 3]}", SL_IO_ERR_INVALID_REQUEST,
     "line 27: stop[1]: expected a string, got integer"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"logprobs\": 2}",
     SL_IO_ERR_INVALID_REQUEST, "line 28: logprobs: expected a boolean, got integer"},
    {"{\"prompt\": \"a\", \"top_p\": 1.5}", SL_IO_ERR_INVALID_REQUEST,
     "line 29: top_p: expected a number in [0, 1], got 1.5"},
    {"{\"prompt\": \"\"}", SL_IO_ERR_INVALID_REQUEST,
     "line 30: prompt: expected a non-empty string, got an empty string"},
    {"{\"id\": \"\", \"prompt\": \"a\"}", SL_IO_ERR_INVALID_REQUEST,
     "line 31: id: expected a non-empty string"},
    {"{\"id\": \"a\", \"custom_id\": \"b\", \"prompt\": \"x\"}", SL_IO_ERR_INVALID_REQUEST,
     "line 32: id: both \"id\" and \"custom_id\" given; use one"},
    {"{\"prompt\": \"\xff\"}", SL_IO_ERR_INVALID_JSON, "line 33: invalid JSON: *"},
    {"{\"prompt\": \"a\", \"prompt\": \"b\"}", SL_IO_ERR_INVALID_JSON,
     "line 34: invalid JSON: *"},
    {"{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\"}]}]}",
     SL_IO_ERR_INVALID_REQUEST,
     "line 35: messages[0].content[0].type: \"image_url\" is not supported (only \"text\" "
     "parts)"},
    {"{\"prompt\": [\"a\", \"b\"]}", SL_IO_ERR_INVALID_REQUEST,
     "line 36: prompt: a list of 2 prompts; put each prompt on its own line"},
    {"{\"custom_id\": \"r37\", \"method\": \"POST\", \"url\": \"/v1/chat/completions\", "
     "\"body\": {\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"prompt\": \"y\"}}",
     SL_IO_ERR_INVALID_REQUEST,
     "line 37: body.prompt: not allowed with url \"/v1/chat/completions\" (use body.messages)"},
    {"{\"model\": 7, \"prompt\": \"a\"}", SL_IO_ERR_INVALID_REQUEST,
     "line 38: model: expected a string, got integer"},
    {NULL, SL_IO_ERR_LINE_TOO_LONG, "line 39: line longer than 4096 bytes"}, /* built below */
    {"{\"prompt\": \"a\", \"seed\": 1.5}", SL_IO_ERR_INVALID_REQUEST,
     "line 40: seed: expected an integer, got real"},
    {"{\"prompt\": \"a\", \"logit_bias\": {\"5\": \"x\"}}", SL_IO_ERR_INVALID_REQUEST,
     "line 41: logit_bias.5: expected a number, got string"},
    {"{\"prompt\": \"a\", \"top_k\": -2}", SL_IO_ERR_INVALID_REQUEST,
     "line 42: top_k: expected an integer >= -1, got -2"},
    {"{\"custom_id\": \"r43\", \"url\": \"/v1/completions\", \"body\": {\"prompt\": \"x\"}}",
     SL_IO_ERR_INVALID_REQUEST, "line 43: method: missing (expected \"POST\")"},
    {"{\"messages\": [{\"role\": \"assistant\"}, {\"role\": \"user\"}]}",
     SL_IO_ERR_INVALID_REQUEST, "line 44: messages[1].content: missing"},
    {"{\"input_ids\": []}", SL_IO_ERR_INVALID_REQUEST,
     "line 45: input_ids: expected a non-empty array of token ids, got an empty array"},
    {"{\"prompt\": \"a\", \"presence_penalty\": 3}", SL_IO_ERR_INVALID_REQUEST,
     "line 46: presence_penalty: expected a number in [-2, 2], got 3"},
};
#define NUM_BAD (sizeof(bad_lines) / sizeof(bad_lines[0]))

static void check_message(const char *got, const char *want)
{
    size_t n = strlen(want);
    if (n > 0 && want[n - 1] == '*')
        ck_assert_msg(strncmp(got, want, n - 1) == 0, "message '%s' does not start with '%.*s'",
                      got, (int)n - 1, want);
    else
        ck_assert_str_eq(got, want);
}

static char *bad_file(const char *dir)
{
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap), *path;

    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; i < NUM_BAD; i++) {
        if (bad_lines[i].line == NULL) {
            /* a valid line of 5000 bytes, over the 4096-byte limit used */
            len += (size_t)sprintf(text + len, "{\"prompt\": \"");
            memset(text + len, 'x', 5000);
            len += 5000;
            len += (size_t)sprintf(text + len, "\"}\n");
        } else {
            len += (size_t)sprintf(text + len, "%s\n", bad_lines[i].line);
        }
    }
    path = io_path(dir, "bad.jsonl");
    io_write_file(path, text, len);
    free(text);
    return path;
}

START_TEST(every_bad_line_becomes_an_error_record)
{
    char *dir = io_tmpdir(), *path = bad_file(dir);
    sl_io_reader_opts_t opts = {0, 1, 4096, NULL};
    io_records_t rs = io_read_all(path, &opts);
    size_t nerr = 0;

    ck_assert_uint_eq(rs.n, NUM_BAD);
    for (size_t i = 0; i < NUM_BAD; i++) {
        sl_io_record_t *r = rs.recs[i];
        if (bad_lines[i].message == NULL) {
            ck_assert_int_eq(r->type, SL_IO_RECORD_REQUEST);
            continue;
        }
        ck_assert_msg(r->type == SL_IO_RECORD_ERROR, "line %zu was accepted", i + 1);
        nerr++;
        check_message(r->u.error.message, bad_lines[i].message);
        ck_assert_msg(r->u.error.code == bad_lines[i].code, "line %zu: code %s, expected %s",
                      i + 1, sl_io_error_code_name(r->u.error.code),
                      sl_io_error_code_name(bad_lines[i].code));
        ck_assert_int_eq(r->u.error.index, (int64_t)i);
        ck_assert_int_eq(r->u.error.line, (int64_t)i + 1);
    }
    ck_assert_uint_ge(nerr, 40);
    /* the id of an error record: the line's id when it has a usable one */
    ck_assert_str_eq(rs.recs[22]->u.error.id, "dup");
    ck_assert_str_eq(rs.recs[4]->u.error.id, "r5");
    ck_assert_str_eq(rs.recs[0]->u.error.id, "line-1");
    ck_assert_str_eq(rs.recs[3]->u.error.id, "line-4"); /* custom_id was not a string */
    ck_assert_int_eq(rs.stats.errors, (int64_t)nerr);
    io_records_free(&rs);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(engine_errors_carry_the_location)
{
    char *dir = io_tmpdir();
    char *path = jsonl_file(dir, "\n{\"id\": \"long\", \"prompt\": \"a very long prompt\"}\n");
    io_records_t rs = io_read_all(path, NULL);
    sl_io_record_t *err;

    ck_assert_uint_eq(rs.n, 1);
    ck_assert_int_eq(sl_io_error_for_request(&rs.recs[0]->u.request, SL_IO_ERR_PROMPT_TOO_LONG,
                                             &err, "prompt is %d tokens, the context %d", 9000,
                                             8192),
                     SL_OK);
    ck_assert_int_eq(err->type, SL_IO_RECORD_ERROR);
    ck_assert_str_eq(err->u.error.message, "line 2: prompt is 9000 tokens, the context 8192");
    ck_assert_str_eq(err->u.error.id, "long");
    ck_assert_int_eq(err->u.error.index, 0);
    ck_assert_int_eq(err->u.error.code, SL_IO_ERR_PROMPT_TOO_LONG);
    ck_assert_str_eq(sl_io_error_code_name(err->u.error.code), "prompt_too_long");
    sl_io_record_free(err);
    io_records_free(&rs);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

/* N lines: mostly good, every 7th bad, every 11th repeating an earlier id. */
static char *mixed_file(const char *dir, int n)
{
    size_t cap = (size_t)n * 128 + 64, len = 0;
    char *text = malloc(cap), *path;

    ck_assert_ptr_nonnull(text);
    for (int i = 0; i < n; i++) {
        if (i % 7 == 3)
            len += (size_t)sprintf(text + len, "{\"id\": \"r%d\", \"prompt\": 3}\n", i);
        else if (i % 11 == 5)
            len += (size_t)sprintf(text + len, "{\"id\": \"r%d\", \"prompt\": \"dup\"}\n", i / 2);
        else if (i % 13 == 0)
            len += (size_t)sprintf(text + len, "\n{\"prompt\": \"anon %d\"}\n", i);
        else
            len += (size_t)sprintf(text + len, "{\"id\": \"r%d\", \"prompt\": \"p%d\"}\n", i, i);
    }
    path = io_path(dir, "mixed.jsonl");
    io_write_file(path, text, len);
    free(text);
    return path;
}

static const char *rec_id(const sl_io_record_t *r)
{
    return r->type == SL_IO_RECORD_REQUEST ? r->u.request.id : r->u.error.id;
}

static int64_t rec_index(const sl_io_record_t *r)
{
    return r->type == SL_IO_RECORD_REQUEST ? r->u.request.index : r->u.error.index;
}

START_TEST(dp_groups_partition_the_stream)
{
    enum { N = 1000, G = 3 };
    char *dir = io_tmpdir(), *path = mixed_file(dir, N);
    io_records_t all = io_read_all(path, NULL);
    int *owner = calloc(N, sizeof(int));
    size_t total = 0, dups = 0;

    ck_assert_uint_eq(all.n, N);
    for (size_t i = 0; i < all.n; i++) {
        ck_assert_int_eq(rec_index(all.recs[i]), (int64_t)i);
        owner[i] = -1;
        dups += all.recs[i]->type == SL_IO_RECORD_ERROR &&
                all.recs[i]->u.error.code == SL_IO_ERR_DUPLICATE_ID;
    }
    ck_assert_uint_gt(dups, 10);
    for (int g = 0; g < G; g++) {
        sl_io_reader_opts_t opts = {g, G, 0, NULL};
        io_records_t part = io_read_all(path, &opts);
        total += part.n;
        ck_assert_int_eq(part.stats.records, N); /* every group sees every record */
        for (size_t i = 0; i < part.n; i++) {
            const sl_io_record_t *r = part.recs[i], *ref;
            int64_t k = rec_index(r);
            ck_assert_int_eq(k % G, g);
            ck_assert_int_eq(owner[k], -1); /* disjoint */
            owner[k] = g;
            /* the same record, the same verdict, whatever the group count */
            ref = all.recs[k];
            ck_assert_int_eq(r->type, ref->type);
            ck_assert_str_eq(rec_id(r), rec_id(ref));
            if (r->type == SL_IO_RECORD_ERROR) {
                ck_assert_str_eq(r->u.error.message, ref->u.error.message);
                ck_assert_int_eq(r->u.error.dp_group, g);
            } else {
                ck_assert_int_eq(r->u.request.line, ref->u.request.line);
                ck_assert_int_eq(r->u.request.dp_group, g);
            }
        }
        io_records_free(&part);
    }
    ck_assert_uint_eq(total, N); /* the union is everything */
    for (int k = 0; k < N; k++)
        ck_assert_int_ge(owner[k], 0);
    io_records_free(&all);
    free(owner);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(committed_records_are_skipped)
{
    char *dir = io_tmpdir(), *path = mixed_file(dir, 100);
    sl_io_resume_t *skip;
    sl_io_reader_opts_t opts = {1, 2, 0, NULL};
    io_records_t rs;
    void *blob;
    size_t len;
    sl_io_resume_t *copy;

    ck_assert_int_eq(sl_io_resume_create(&skip), SL_OK);
    for (int64_t k = 0; k < 100; k += 3)
        ck_assert_int_eq(sl_io_resume_add(skip, k, NULL), SL_OK);
    /* what rank 0 broadcasts */
    ck_assert_int_eq(sl_io_resume_serialize(skip, &blob, &len), SL_OK);
    ck_assert_int_eq(sl_io_resume_deserialize(blob, len, &copy), SL_OK);
    ck_assert_int_eq(sl_io_resume_count(copy), 34);
    opts.skip = copy;
    rs = io_read_all(path, &opts);
    /* group 1 owns the 50 odd indices; 17 of them are multiples of 3 */
    ck_assert_uint_eq(rs.n, 50 - 17);
    ck_assert_int_eq(rs.stats.skipped, 17);
    for (size_t i = 0; i < rs.n; i++) {
        int64_t k = rec_index(rs.recs[i]);
        ck_assert_int_eq(k % 2, 1);
        ck_assert_int_ne(k % 3, 0);
    }
    io_records_free(&rs);
    sl_io_resume_destroy(skip);
    sl_io_resume_destroy(copy);
    free(blob);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(long_lines_across_blocks)
{
    /* lines longer than the 1 MiB read block, and a line over the limit */
    char *dir = io_tmpdir(), *path = io_path(dir, "long.jsonl");
    size_t big = 3u << 20, len = 0;
    char *text = malloc(3 * big + 256);
    sl_io_reader_opts_t opts = {0, 1, 5u << 20, NULL};
    io_records_t rs;

    ck_assert_ptr_nonnull(text);
    len += (size_t)sprintf(text, "{\"prompt\": \"");
    memset(text + len, 'a', big);
    len += big;
    len += (size_t)sprintf(text + len, "\"}\n{\"prompt\": \"");
    memset(text + len, 'b', 2 * big); /* 6 MiB: over the 5 MiB limit */
    len += 2 * big;
    len += (size_t)sprintf(text + len, "\"}\n{\"prompt\": \"short\"}\n");
    io_write_file(path, text, len);
    free(text);
    rs = io_read_all(path, &opts);
    ck_assert_uint_eq(rs.n, 3);
    ck_assert_int_eq(rs.recs[0]->type, SL_IO_RECORD_REQUEST);
    ck_assert_uint_eq(rs.recs[0]->u.request.text_len, big);
    ck_assert_int_eq(rs.recs[1]->type, SL_IO_RECORD_ERROR);
    ck_assert_int_eq(rs.recs[1]->u.error.code, SL_IO_ERR_LINE_TOO_LONG);
    ck_assert_str_eq(rs.recs[1]->u.error.message, "line 2: line longer than 5242880 bytes");
    ck_assert_str_eq(rs.recs[2]->u.request.text, "short");
    ck_assert_int_eq(rs.recs[2]->u.request.line, 3);
    io_records_free(&rs);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(open_errors)
{
    sl_io_reader_t *r;
    sl_io_reader_opts_t bad = {2, 2, 0, NULL};
    char *dir = io_tmpdir(), *path = jsonl_file(dir, "{\"prompt\": \"a\"}\n");

    sl_log_set_level(SL_LOG_ERROR);
    ck_assert_int_eq(sl_io_reader_open("/nonexistent/x.jsonl", NULL, &r), SL_ERR_NOT_FOUND);
    ck_assert_int_eq(sl_io_reader_open(path, &bad, &r), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_io_reader_open("", NULL, &r), SL_ERR_INVALID_ARG);
    io_rmrf(dir);
    free(path);
    free(dir);
}
END_TEST

START_TEST(id_set_memory)
{
    sl_io_idset_t *set;
    char id[32];
    int added;

    ck_assert_int_eq(sl_io_idset_create(&set), SL_OK);
    for (int i = 0; i < 100000; i++) {
        snprintf(id, sizeof(id), "request-%d", i);
        ck_assert_int_eq(sl_io_idset_add(set, id, strlen(id), &added), SL_OK);
        ck_assert_int_eq(added, 1);
    }
    for (int i = 0; i < 100000; i += 997) {
        snprintf(id, sizeof(id), "request-%d", i);
        ck_assert_int_eq(sl_io_idset_add(set, id, strlen(id), &added), SL_OK);
        ck_assert_int_eq(added, 0);
    }
    ck_assert_uint_eq(sl_io_idset_count(set), 100000);
    /* 100000 / 0.7 -> 262144 slots of 8 bytes: 21 bytes per id */
    ck_assert_uint_eq(sl_io_idset_bytes(set), 262144 * 8);
    sl_io_idset_destroy(set);
}
END_TEST

/* ---- sampling field checks -------------------------------------------- */

static const char *validate(const char *json, sl_io_endpoint_t ep)
{
    static char err[256];
    json_t *p = json_loads(json, 0, NULL);
    sl_status_t st;

    ck_assert_ptr_nonnull(p);
    strcpy(err, "(unchanged)");
    st = sl_io_sampling_validate(p, ep, err, sizeof(err));
    json_decref(p);
    return st == SL_OK ? "ok" : err;
}

START_TEST(sampling_fields)
{
    const sl_io_endpoint_t C = SL_IO_ENDPOINT_COMPLETIONS, H = SL_IO_ENDPOINT_CHAT_COMPLETIONS;

    ck_assert_str_eq(validate("{\"max_tokens\": 0, \"max_completion_tokens\": 9, \"min_tokens\": "
                              "1, \"temperature\": 0, \"top_p\": 1, \"top_k\": -1, \"min_p\": "
                              "0.05, \"n\": 2, \"best_of\": 3, \"stop\": \"x\", \"seed\": -5, "
                              "\"stop_token_ids\": [1, 2], \"presence_penalty\": -2, "
                              "\"frequency_penalty\": 1.5, \"repetition_penalty\": 1.1, "
                              "\"ignore_eos\": true, \"stream\": false, \"user\": \"u\", "
                              "\"logit_bias\": {\"12\": -100}, \"unknown_field\": [1]}",
                              C),
                     "ok");
    ck_assert_str_eq(validate("{\"temperature\": null, \"stop\": null}", C), "ok");
    ck_assert_str_eq(validate("{\"logprobs\": true, \"top_logprobs\": 5}", H), "ok");
    ck_assert_str_eq(validate("{\"logprobs\": 5}", C), "ok");
    ck_assert_str_eq(validate("{\"logprobs\": true}", C),
                     "logprobs: expected an integer, got boolean");
    ck_assert_str_eq(validate("{\"logprobs\": 21}", C),
                     "logprobs: expected an integer in [0, 20], got 21");
    ck_assert_str_eq(validate("{\"top_logprobs\": 21}", H),
                     "top_logprobs: expected an integer in [0, 20], got 21");
    ck_assert_str_eq(validate("{\"max_completion_tokens\": 1.5}", H),
                     "max_completion_tokens: expected an integer, got real");
    ck_assert_str_eq(validate("{\"temperature\": -0.1}", C),
                     "temperature: expected a number >= 0, got -0.1");
    ck_assert_str_eq(validate("{\"repetition_penalty\": 0}", C),
                     "repetition_penalty: expected a number > 0, got 0");
    ck_assert_str_eq(validate("{\"stop\": 7}", C),
                     "stop: expected a string or an array of strings, got integer");
    ck_assert_str_eq(validate("{\"stop_token_ids\": [1, -1]}", C),
                     "stop_token_ids[1]: expected an integer in [0, 2147483647], got -1");
    ck_assert_str_eq(validate("{\"ignore_eos\": 1}", C),
                     "ignore_eos: expected a boolean, got integer");
    ck_assert_str_eq(validate("{\"min_p\": 2}", C), "min_p: expected a number in [0, 1], got 2");
    ck_assert_str_eq(validate("{\"user\": 5}", C), "user: expected a string, got integer");
    ck_assert_str_eq(validate("{\"logit_bias\": []}", C),
                     "logit_bias: expected an object of numbers, got array");
    ck_assert_str_eq(validate("[]", C), "sampling parameters: expected an object, got array");
    ck_assert_int_eq(sl_io_sampling_validate(NULL, C, NULL, 0), SL_OK);
}
END_TEST

START_TEST(utf8_validation)
{
    size_t bad = 99;
    ck_assert_int_eq(sl_io_utf8_valid("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80", 15, NULL), 1);
    ck_assert_int_eq(sl_io_utf8_valid("ab\xC0\xAF", 4, &bad), 0); /* overlong '/' */
    ck_assert_uint_eq(bad, 2);
    ck_assert_int_eq(sl_io_utf8_valid("\xED\xA0\x80", 3, &bad), 0); /* a surrogate */
    ck_assert_int_eq(sl_io_utf8_valid("x\xE2\x82", 3, &bad), 0);    /* truncated */
    ck_assert_uint_eq(bad, 1);
    ck_assert_int_eq(sl_io_utf8_valid("\xF4\x90\x80\x80", 4, &bad), 0); /* > U+10FFFF */
}
END_TEST

static Suite *io_reader_suite(void)
{
    Suite *s = suite_create("io_reader");
    TCase *tc = tcase_create("jsonl");
    tcase_add_test(tc, batch_and_plain_lines);
    tcase_add_test(tc, blank_lines_bom_and_crlf);
    tcase_add_test(tc, every_bad_line_becomes_an_error_record);
    tcase_add_test(tc, engine_errors_carry_the_location);
    tcase_add_test(tc, dp_groups_partition_the_stream);
    tcase_add_test(tc, committed_records_are_skipped);
    tcase_add_test(tc, long_lines_across_blocks);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, id_set_memory);
    suite_add_tcase(s, tc);
    tc = tcase_create("fields");
    tcase_add_test(tc, sampling_fields);
    tcase_add_test(tc, utf8_validation);
    suite_add_tcase(s, tc);
    return s;
}

SL_CHECK_MAIN(io_reader_suite)
