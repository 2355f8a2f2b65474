/* cmd_serve.c - `slinfer serve`: the OpenAI-compatible HTTP server (see
 * server/server.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/engine_flags.h"
#include "cli/job_flags.h"
#include "core/log.h"
#include "server/server.h"

typedef struct sl_serve_args {
    sl_server_options_t server;
    sl_job_options_t job;
} sl_serve_args_t;

#define sl_serve_usage(...) sl_cli_usage_error("serve", __VA_ARGS__)

/* The server's own integer flags: 1 taken, 0 not one, -1 bad value (said). */
static int sl_serve_int(int argc, char **argv, int *i, sl_serve_args_t *a)
{
    const struct {
        const char *name;
        int *dst;
        long long min, max;
    } ints[] = {
        {"--port", &a->server.port, 0, 65535},
        {"--max-queue", &a->server.max_queue, 1, 1 << 24},
        {"--idle-timeout", &a->server.idle_timeout, 1, 86400},
        {"--max-connections", &a->server.max_connections, 1, 1 << 20},
    };
    const char *v;
    long long x;

    for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
        if (!sl_cli_flag(argc, argv, i, ints[k].name, &v))
            continue;
        if (!sl_cli_parse_long(v, ints[k].min, ints[k].max, &x)) {
            sl_serve_usage("%s needs a whole number from %lld to %lld", ints[k].name,
                           ints[k].min, ints[k].max);
            return -1;
        }
        *ints[k].dst = (int)x;
        return 1;
    }
    return 0;
}

static int sl_serve_parse(int argc, char **argv, sl_serve_args_t *a)
{
    const char *v;
    uint64_t bytes;
    float seconds;

    sl_server_options_init(&a->server);
    sl_job_options_init(&a->job);
    for (int i = 1; i < argc; i++) {
        int taken = sl_cli_engine_flag("serve", argc, argv, &i, &a->server.runtime);
        if (taken == 0)
            taken = sl_serve_int(argc, argv, &i, a);
        if (taken == 0)
            taken = sl_cli_job_flag_argv("serve", argc, argv, &i, &a->job);
        if (taken < 0)
            return SL_EXIT_USAGE;
        if (taken > 0)
            continue;
        if (sl_cli_flag(argc, argv, &i, "--host", &v)) {
            if ((a->server.host = v) == NULL || v[0] == '\0')
                return sl_serve_usage("--host needs an address, e.g. 0.0.0.0");
        } else if (sl_cli_flag(argc, argv, &i, "--api-key", &v)) {
            if ((a->server.api_key = v) == NULL || v[0] == '\0')
                return sl_serve_usage("--api-key needs a key");
        } else if (sl_cli_flag(argc, argv, &i, "--served-model-name", &v)) {
            if ((a->server.served_name = v) == NULL || v[0] == '\0')
                return sl_serve_usage("--served-model-name needs a name");
        } else if (sl_cli_flag(argc, argv, &i, "--max-body-size", &v)) {
            if (!sl_cli_parse_bytes(v, &bytes) || bytes > (1ull << 32))
                return sl_serve_usage("--max-body-size needs a size up to 4G, e.g. 1M");
            a->server.max_body = (size_t)bytes;
        } else if (sl_cli_flag(argc, argv, &i, "--shutdown-timeout", &v)) {
            if (!sl_cli_parse_float(v, &seconds) || seconds < 0)
                return sl_serve_usage("--shutdown-timeout needs seconds >= 0");
            a->server.shutdown_timeout = seconds;
        } else {
            return sl_serve_usage("unknown argument '%s'", argv[i]);
        }
    }
    if (a->server.runtime.model_dir == NULL)
        return sl_serve_usage("--model is required");
    if (a->server.api_key == NULL) {
        const char *env = getenv("SLINFER_API_KEY");
        if (env != NULL && env[0] != '\0')
            a->server.api_key = env;
    }
    return SL_EXIT_OK;
}

static int sl_serve_cmd(int argc, char **argv)
{
    sl_serve_args_t a;
    sl_preflight_t *pf = NULL;
    sl_job_t *job = NULL;
    int status = sl_serve_parse(argc, argv, &a);
    const sl_runtime_options_t *rt = &a.server.runtime;

    if (status != SL_EXIT_OK)
        return status;
    status = SL_EXIT_FAILURE;
    /* What every rank must agree on (--threads and --topology are per node;
     * the HTTP flags matter on rank 0 only). */
    if (sl_preflight_create(&pf) != SL_OK || sl_cli_job_preflight(&a.job, pf) != SL_OK ||
        sl_preflight_add(pf, "command", "serve") != SL_OK ||
        sl_preflight_add_int(pf, "--tp", rt->model.tp) != SL_OK ||
        sl_preflight_add_int(pf, "--page-size", rt->page_size) != SL_OK ||
        sl_preflight_add_int(pf, "--kv-cache-memory", (long long)rt->kv_bytes) != SL_OK ||
        sl_preflight_add_int(pf, "--max-running-requests", rt->engine.max_running) != SL_OK ||
        sl_preflight_add_int(pf, "--chunked-prefill-size", rt->engine.chunked_prefill_size) !=
            SL_OK ||
        sl_preflight_add_int(pf, "--max-prefill-tokens", rt->engine.max_prefill_tokens) !=
            SL_OK ||
        sl_preflight_add_int(pf, "--disable-prefix-cache", !rt->engine.prefix_cache) != SL_OK ||
        sl_preflight_add_int(pf, "--load-format", rt->model.load_format) != SL_OK ||
        sl_preflight_add_model(pf, rt->model_dir, rt->model.load_format == SL_LOAD_DUMMY) !=
            SL_OK)
        goto out;
    if (sl_job_start(&a.job, pf, &job) != SL_OK)
        goto out;
    status = sl_server_serve(job, &a.server);
out:
    sl_job_end(job);
    sl_preflight_destroy(pf);
    return status;
}

const sl_cli_command_t sl_cmd_serve = {
    .name = "serve",
    .summary = "answer an OpenAI-compatible HTTP API on the head node",
    .usage =
        "Usage: slinfer serve --model DIR [--host ADDR] [--port N] [OPTIONS]\n"
        "       srun --mpi=pmix slinfer serve --model DIR --host 0.0.0.0 ...\n"
        "\n"
        "Run the engine on every rank -- each is one data-parallel group, TP runs as\n"
        "threads inside it -- and answer HTTP on rank 0 for all of them, sending each\n"
        "request to the group with the fewest requests in flight:\n"
        "  POST /v1/completions, POST /v1/chat/completions   (\"stream\": true for SSE)\n"
        "  GET /v1/models, GET /health (200 when every rank is ready), GET /metrics\n"
        "SIGTERM or SIGINT stops accepting, lets requests in flight finish for up to\n"
        "--shutdown-timeout seconds, then exits 0.\n"
        "\n"
        "Server:\n"
        "  --host ADDR               address to bind (default 127.0.0.1: this host only)\n"
        "  --port N                  TCP port (default 30000; 0: any free one, logged)\n"
        "  --api-key KEY             require \"Authorization: Bearer KEY\" on every route\n"
        "                            but /health (default: SLINFER_API_KEY, else none)\n"
        "  --served-model-name NAME  the model's name in the API (default: the folder's)\n"
        "  --max-body-size BYTES     larger request bodies get 413 (default 8M)\n"
        "  --max-queue N             requests in flight at most; more get 429 (default 1024)\n"
        "  --shutdown-timeout SEC    how long SIGTERM waits for requests (default 30)\n"
        "  --idle-timeout SEC        close connections silent this long (default 60)\n"
        "  --max-connections N       open connections at most (default 1024)\n"
        "\n" SL_CLI_ENGINE_USAGE
        "  (--kv-cache-memory defaults to 256M per DP group)\n"
        "\n" SL_CLI_JOB_USAGE
        "\n"
        "Requests take OpenAI's sampling fields plus top_k, min_p, repetition_penalty,\n"
        "min_tokens, ignore_eos, skip_special_tokens and stop_token_ids; unknown fields\n"
        "are refused (400). max_tokens defaults to 128, within the context.\n",
    .run = sl_serve_cmd,
};
