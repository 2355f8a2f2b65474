/* cmd_run.c - `slinfer run`: the batch job (see job/run.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/engine_flags.h"
#include "cli/job_flags.h"
#include "core/log.h"
#include "job/run.h"

typedef struct sl_run_args {
    sl_run_options_t run;
    sl_job_options_t job;
} sl_run_args_t;

#define sl_run_usage(...) sl_cli_usage_error("run", __VA_ARGS__)

static int sl_run_parse(int argc, char **argv, sl_run_args_t *a)
{
    const char *v;
    float seconds;

    sl_run_options_init(&a->run);
    sl_job_options_init(&a->job);
    for (int i = 1; i < argc; i++) {
        int taken = sl_cli_engine_flag("run", argc, argv, &i, &a->run.runtime);
        if (taken == 0)
            taken = sl_cli_sampling_flag("run", argc, argv, &i, &a->run.defaults);
        if (taken < 0)
            return SL_EXIT_USAGE;
        if (taken > 0)
            continue;
        if (sl_cli_flag(argc, argv, &i, "--input", &v)) {
            if ((a->run.input = v) == NULL)
                return sl_run_usage("--input needs a file");
        } else if (sl_cli_flag(argc, argv, &i, "--output", &v)) {
            if ((a->run.output = v) == NULL)
                return sl_run_usage("--output needs a file");
        } else if (sl_cli_flag(argc, argv, &i, "--output-jsonl", &v)) {
            if ((a->run.output_jsonl = v) == NULL)
                return sl_run_usage("--output-jsonl needs a file");
        } else if (sl_cli_flag(argc, argv, &i, "--commit-interval", &v)) {
            if (!sl_cli_parse_float(v, &seconds) || seconds <= 0)
                return sl_run_usage("--commit-interval needs seconds > 0");
            a->run.commit_interval = seconds;
        } else if (sl_cli_flag(argc, argv, &i, "--progress-interval", &v)) {
            if (!sl_cli_parse_float(v, &seconds) || seconds <= 0)
                return sl_run_usage("--progress-interval needs seconds > 0");
            a->run.progress_interval = seconds;
        } else if (strcmp(argv[i], "--resume") == 0) {
            a->run.resume = 1;
        } else if (strcmp(argv[i], "--overwrite") == 0) {
            a->run.overwrite = 1;
        } else if ((taken = sl_cli_job_flag_argv("run", argc, argv, &i, &a->job)) != 0) {
            if (taken < 0)
                return SL_EXIT_USAGE;
        } else {
            return sl_run_usage("unknown argument '%s'", argv[i]);
        }
    }
    if (a->run.runtime.model_dir == NULL || a->run.input == NULL || a->run.output == NULL)
        return sl_run_usage("--model, --input and --output are required");
    if (a->run.resume && a->run.overwrite)
        return sl_run_usage("--resume and --overwrite exclude each other");
    return SL_EXIT_OK;
}

/* The command line as a JSON array, for the run metadata. */
static char *sl_run_argv_json(int argc, char **argv)
{
    json_t *list = json_array();
    char *text;

    json_array_append_new(list, json_string("slinfer"));
    for (int i = 0; i < argc; i++)
        json_array_append_new(list, json_string(argv[i]));
    text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    return text;
}

static int sl_run_cmd(int argc, char **argv)
{
    sl_run_args_t a;
    sl_preflight_t *pf = NULL;
    sl_job_t *job = NULL;
    char *args_json = NULL;
    int status = sl_run_parse(argc, argv, &a);
    const sl_runtime_options_t *rt = &a.run.runtime;

    if (status != SL_EXIT_OK)
        goto out;
    status = SL_EXIT_FAILURE;
    args_json = sl_run_argv_json(argc, argv);
    a.run.arguments_json = args_json;
    /* What every rank must agree on; --topology and --threads are per node. */
    if (sl_preflight_create(&pf) != SL_OK || sl_cli_job_preflight(&a.job, pf) != SL_OK ||
        sl_preflight_add(pf, "--model", rt->model_dir) != SL_OK ||
        sl_preflight_add(pf, "--input", a.run.input) != SL_OK ||
        sl_preflight_add(pf, "--output", a.run.output) != SL_OK ||
        sl_preflight_add(pf, "--output-jsonl", a.run.output_jsonl) != SL_OK ||
        sl_preflight_add_int(pf, "--resume", a.run.resume) != SL_OK ||
        sl_preflight_add_int(pf, "--tp", rt->model.tp) != SL_OK ||
        sl_preflight_add_int(pf, "--page-size", rt->page_size) != SL_OK ||
        sl_preflight_add_int(pf, "--load-format", rt->model.load_format) != SL_OK ||
        sl_preflight_add_int(pf, "--max-tokens", a.run.defaults.max_tokens) != SL_OK ||
        sl_preflight_add_model(pf, rt->model_dir, rt->model.load_format == SL_LOAD_DUMMY) !=
            SL_OK)
        goto out;
    if (sl_job_start(&a.job, pf, &job) != SL_OK)
        goto out;
    status = sl_run(job, &a.run);
out:
    sl_job_end(job);
    sl_preflight_destroy(pf);
    free(args_json);
    sl_sampling_params_release(&a.run.defaults);
    return status;
}

const sl_cli_command_t sl_cmd_run = {
    .name = "run",
    .summary = "run a prompt file through the model into one HDF5 file, resumably",
    .usage =
        "Usage: slinfer run --model DIR --input FILE --output FILE.h5 [OPTIONS]\n"
        "       srun --mpi=pmix slinfer run ...   (one task per node or per GPU)\n"
        "\n"
        "Read prompts (OpenAI batch JSONL, plain JSONL with prompt / messages /\n"
        "input_ids, or FILE.h5:/dataset), run them through the engine and write\n"
        "every result with its timing to one HDF5 file (docs/OUTPUT.md). Each rank\n"
        "is a data-parallel group taking records k with k % groups == its rank.\n"
        "Results are committed to per-group journals in OUTPUT.parts/ every\n"
        "--commit-interval seconds and merged into OUTPUT at the end; a killed run\n"
        "loses nothing committed, and --resume skips it.\n"
        "\n"
        "Input and output:\n"
        "  --input FILE              JSONL, or FILE.h5:/dataset\n"
        "  --output FILE.h5          results (must be on a file system every node sees)\n"
        "  --output-jsonl FILE       also OpenAI batch output lines (errors in\n"
        "                            FILE.errors.jsonl)\n"
        "  --resume                  continue the run OUTPUT holds\n"
        "  --overwrite               replace an existing OUTPUT\n"
        "  --commit-interval SEC     make results durable this often (default 5)\n"
        "  --progress-interval SEC   one log line this often when not on a terminal\n"
        "                            (default 30)\n"
        "\n" SL_CLI_ENGINE_USAGE
        "\n"
        "Sampling defaults (a record's own fields win):\n"
        "  the sampling flags of 'slinfer help generate' (--max-tokens, ...)\n"
        "\n" SL_CLI_JOB_USAGE
        "\n"
        "Exit status: 0 when every record is in OUTPUT; 75 when stopped by SIGTERM,\n"
        "SIGUSR1 or SIGINT (sbatch --signal): committed work is kept, in-flight work\n"
        "is redone by --resume; 1 on errors.\n",
    .run = sl_run_cmd,
};
