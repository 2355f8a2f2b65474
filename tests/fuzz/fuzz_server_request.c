/*
 * fuzz_server_request.c - libFuzzer target for what `slinfer serve` reads
 * from the network before anything else looks at it.
 *
 * The first byte picks the reader, the rest is its input:
 *   0  a POST /v1/completions body      (sl_server_parse_request, then
 *   1  a POST /v1/chat/completions body  sl_server_prepare on a model of
 *                                        ids only, then the reply objects)
 *   2  a DELTA frame payload of the DP channel (sl_wire_get_out)
 *   3  a SUBMIT frame's sampling parameters   (sl_wire_get_params)
 * Every input must be accepted or refused cleanly: a refusal of a body has
 * a status and a message; nothing crashes, leaks, overflows or reads out of
 * bounds.
 *
 * Build and run: tests/fuzz/run_server.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "server/parse.h"
#include "server/prompt.h"
#include "server/respond.h"
#include "server/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* respond.c builds bodies with io/jsonl_writer.c, whose file functions call
 * into io/output.c (and so HDF5); the target never writes files, so these
 * stand in for them. */
char *sl_io_path_with(const char *output_path, const char *suffix);
sl_status_t sl_io_fsync_dir(const char *dir);
char *sl_io_dirname(const char *path);

char *sl_io_path_with(const char *output_path, const char *suffix)
{
    (void)output_path;
    (void)suffix;
    abort();
}

sl_status_t sl_io_fsync_dir(const char *dir)
{
    (void)dir;
    abort();
}

char *sl_io_dirname(const char *path)
{
    (void)path;
    abort();
}

/* An accepted body goes on as the server takes it: the prompt against a
 * small model, then a finished output of one token per choice rendered. */
static void sl_fuzz_body(const char *body, size_t len, sl_io_endpoint_t endpoint)
{
    sl_server_model_t model = {.name = "fuzz", .vocab = 300, .context = 256, .block_size = 16,
                               .num_blocks = 8};
    sl_server_req_t req;
    sl_server_error_t err;
    int32_t *ids = NULL, n = 0;
    char *echo = NULL, *text = NULL;

    memset(&err, 0, sizeof(err));
    if (sl_server_parse_request(body, len, endpoint, &req, &err) != SL_OK) {
        if (err.status < 400 || err.message[0] == '\0')
            abort(); /* every refusal must say why */
        free(sl_server_error_body(&err));
        return;
    }
    if (sl_server_prepare(&model, &req, &ids, &n, &echo, &err) == SL_OK) {
        sl_server_out_t out;
        sl_server_reply_t reply;
        sl_server_buf_t buf = {0};
        int32_t top_n = req.params.logprobs >= 0 ? req.params.logprobs : -1;
        if (sl_server_out_init(&out, req.params.n, top_n) == SL_OK) {
            int32_t id = ids[0], num_top = top_n > 0 ? 1 : 0, tid[SL_MAX_LOGPROBS] = {0};
            float lp = -1.5f, tlp[SL_MAX_LOGPROBS] = {0};
            for (int32_t i = 0; i < out.n; i++) {
                sl_server_out_add_tokens(&out, i, &id, &lp, &num_top, tid, tlp, 1);
                sl_server_out_add_text(&out, i, "x\xff", 2);
                out.seqs[i].finish = SL_FINISH_LENGTH;
            }
            out.done = true;
            out.prompt_tokens = n;
            if (sl_server_reply_init(&reply, &model, endpoint, 1, out.n, top_n,
                                     req.include_usage, echo) == SL_OK) {
                if (sl_server_reply_body(&reply, &out, &text) == SL_OK)
                    free(text);
                sl_server_reply_events(&reply, &out, &buf);
            }
            sl_server_reply_free(&reply);
            sl_server_buf_free(&buf);
            sl_server_out_free(&out);
        }
        free(ids);
        free(echo);
    } else if (err.status < 400 || err.message[0] == '\0') {
        abort();
    }
    sl_server_req_release(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet;
    sl_io_cursor_t r;

    if (!quiet) {
        sl_log_set_level(SL_LOG_ERROR);
        quiet = 1;
    }
    if (size < 1)
        return 0;
    r = (sl_io_cursor_t){.p = data + 1, .len = size - 1};
    switch (data[0] % 4) {
    case 0:
    case 1:
        sl_fuzz_body((const char *)data + 1, size - 1,
                     data[0] % 4 ? SL_IO_ENDPOINT_CHAT_COMPLETIONS : SL_IO_ENDPOINT_COMPLETIONS);
        break;
    case 2: {
        sl_server_out_t out;
        sl_io_get_u64(&r);
        if (sl_wire_get_out(&r, &out) == SL_OK)
            sl_server_out_free(&out);
        break;
    }
    case 3: {
        sl_sampling_params_t p;
        if (sl_wire_get_params(&r, &p) == SL_OK)
            sl_sampling_params_release(&p);
        break;
    }
    }
    return 0;
}
