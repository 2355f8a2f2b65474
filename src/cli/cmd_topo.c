/* cmd_topo.c - `slinfer topo`: where each GPU's threads, memory and network
 * traffic will go, on every node of the job. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/job_flags.h"
#include "core/log.h"

enum { SL_TOPO_OPT_JSON = SL_CLI_FIRST_COMMAND_OPTION };

/* Rank 0's output: every rank's description, parsed back into one JSON
 * document {"size", "num_nodes", "ranks": [...]} or printed as tables. */
static int sl_topo_print_job(const sl_boot_blobs_t *blobs, int as_json)
{
    json_t *ranks = json_array();
    int status = SL_EXIT_OK;

    if (ranks == NULL)
        return SL_EXIT_FAILURE;
    for (int r = 0; r < blobs->count; r++) {
        json_error_t jerr;
        json_t *rank = json_loadb(blobs->data[r], blobs->len[r], 0, &jerr);
        if (rank == NULL || json_array_append_new(ranks, rank) != 0) {
            sl_error("topo: the description from rank %d is not JSON: %s", r, jerr.text);
            json_decref(ranks);
            return SL_EXIT_FAILURE;
        }
    }

    const json_t *first = json_array_get(ranks, 0);
    if (as_json) {
        json_t *doc = json_pack("{s:O, s:O, s:O}", "size", json_object_get(first, "size"),
                                "num_nodes", json_object_get(first, "num_nodes"), "ranks",
                                ranks);
        if (doc == NULL || json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
            status = SL_EXIT_FAILURE;
        fputc('\n', stdout);
        json_decref(doc);
    } else {
        size_t i;
        json_t *rank;
        printf("%lld rank(s) on %lld node(s)\n",
               (long long)json_integer_value(json_object_get(first, "size")),
               (long long)json_integer_value(json_object_get(first, "num_nodes")));
        json_array_foreach(ranks, i, rank) {
            const json_t *drives = json_object_get(rank, "drives");
            printf("\nrank %lld on %s (node %lld, local rank %lld of %lld), cpu-bind %s, "
                   "drives %zu GPU(s)\n",
                   (long long)json_integer_value(json_object_get(rank, "rank")),
                   json_string_value(json_object_get(rank, "hostname")),
                   (long long)json_integer_value(json_object_get(rank, "node_id")),
                   (long long)json_integer_value(json_object_get(rank, "local_rank")),
                   (long long)json_integer_value(json_object_get(rank, "local_size")),
                   json_string_value(json_object_get(rank, "cpu_bind")),
                   json_array_size(drives));
            if (sl_topo_print_table(json_object_get(rank, "plan"), stdout) != SL_OK)
                status = SL_EXIT_FAILURE;
        }
    }
    json_decref(ranks);
    if (fflush(stdout) != 0)
        status = SL_EXIT_FAILURE;
    return status;
}

static int sl_topo_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, SL_TOPO_OPT_JSON},
        SL_CLI_JOB_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    sl_job_options_t options;
    sl_preflight_t *preflight = NULL;
    sl_job_t *job = NULL;
    sl_boot_blobs_t *blobs = NULL;
    char *mine = NULL;
    int as_json = 0, opt, exit_status = SL_EXIT_FAILURE;

    sl_job_options_init(&options);
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        if (opt == SL_TOPO_OPT_JSON) {
            as_json = 1;
            continue;
        }
        if (opt == '?')
            return sl_cli_usage_error("topo", "unknown option '%s'", argv[optind - 1]);
        if (opt == ':')
            return sl_cli_usage_error("topo", "%s needs a value", argv[optind - 1]);
        int handled = sl_cli_job_flag("topo", opt, optarg, &options);
        if (handled < 0)
            return SL_EXIT_USAGE;
    }
    if (optind < argc)
        return sl_cli_usage_error("topo", "unexpected argument '%s'", argv[optind]);

    if (sl_preflight_create(&preflight) != SL_OK ||
        sl_cli_job_preflight(&options, preflight) != SL_OK ||
        sl_preflight_add(preflight, "--json", as_json ? "yes" : "no") != SL_OK)
        goto out;
    if (sl_job_start(&options, preflight, &job) != SL_OK)
        goto out;
    if (sl_job_describe(job, &mine) != SL_OK)
        sl_job_abort(job, 1, "cannot describe this rank's placement");
    if (sl_boot_allgatherv(job->boot, mine, strlen(mine), &blobs) != SL_OK)
        sl_job_abort(job, 1, "gathering the placement of every rank failed");
    exit_status = sl_boot_rank(job->boot) == 0 ? sl_topo_print_job(blobs, as_json) : SL_EXIT_OK;

out:
    sl_boot_blobs_free(blobs);
    free(mine);
    sl_job_end(job);
    sl_preflight_destroy(preflight);
    return exit_status;
}

const sl_cli_command_t sl_cmd_topo = {
    .name = "topo",
    .summary = "show where each GPU's threads, memory and HCA go, on every node",
    .usage =
        "Usage: slinfer topo [--json] [--topology FILE] [--cpu-bind MODE] [--bootstrap NAME]\n"
        "\n"
        "Plan the placement of this node's GPUs and print it; under\n"
        "srun --mpi=pmix, rank 0 prints the plans of every rank of the job.\n"
        "For each GPU: its PCI bus id, NUMA node, the cores its worker threads\n"
        "get (GPUs sharing a NUMA node split its cores; one core per node is\n"
        "kept for I/O threads when there are enough), the nearest InfiniBand HCA\n"
        "and the PCI path to it: PIX (same PCIe switch), PXB (several bridges),\n"
        "PHB (same host bridge), NODE (same NUMA node), SYS (across sockets).\n"
        "\n"
        "Options:\n"
        "  --json             one JSON document instead of tables\n"
        "\n" SL_CLI_JOB_USAGE
        "\n"
        "Environment: CUDA_VISIBLE_DEVICES selects and orders the GPUs; a user-set\n"
        "NCCL_IB_HCA is kept. Examples:\n"
        "  srun -N 2 --ntasks-per-node=1 --mpi=pmix slinfer topo\n"
        "  slinfer topo --topology node.xml --json\n",
    .run = sl_topo_run,
};
