/*
 * job_flags.h - the flags of every command that starts a job (topo, and
 * later run, serve, bench): --bootstrap, --topology, --cpu-bind.
 *
 * A command puts SL_CLI_JOB_LONGOPTS in its getopt_long() table and hands
 * every option it does not know itself to sl_cli_job_flag().
 */
#ifndef SL_CLI_JOB_FLAGS_H
#define SL_CLI_JOB_FLAGS_H

#include <getopt.h>

#include "job/job.h"

/* getopt_long() values of the job flags; commands use values below 0x100
 * (their short options) or from SL_CLI_FIRST_COMMAND_OPTION on. */
enum {
    SL_CLI_OPT_BOOTSTRAP = 0x100,
    SL_CLI_OPT_TOPOLOGY,
    SL_CLI_OPT_CPU_BIND,
    SL_CLI_FIRST_COMMAND_OPTION = 0x180,
};

#define SL_CLI_JOB_LONGOPTS                                              \
    {"bootstrap", required_argument, NULL, SL_CLI_OPT_BOOTSTRAP},        \
    {"topology", required_argument, NULL, SL_CLI_OPT_TOPOLOGY},          \
    {"cpu-bind", required_argument, NULL, SL_CLI_OPT_CPU_BIND}

/* Usage lines for the flags above, for a command's --help. */
#define SL_CLI_JOB_USAGE                                                              \
    "Job options:\n"                                                                  \
    "  --bootstrap NAME   how ranks find each other: auto (default: pmix under\n"     \
    "                     srun --mpi=pmix, env when SLINFER_COORDINATOR is set,\n"    \
    "                     else single), pmix, env, single\n"                          \
    "  --topology FILE    plan placement for the node an hwloc XML file describes\n"  \
    "                     (lstopo --of xml) instead of this one; nothing is bound\n"  \
    "  --cpu-bind MODE    bind each GPU's threads and memory to its NUMA node:\n"     \
    "                     preferred (default; memory preferably local), strict\n"     \
    "                     (memory only local), none (no binding)\n"

/* Applies job flag `opt` with argument `arg` to `options`. Returns 1 when
 * `opt` was a job flag, 0 when it was not, -1 (after printing the usage
 * error) when its argument is invalid. */
int sl_cli_job_flag(const char *command, int opt, const char *arg, sl_job_options_t *options);

/* The same for commands that walk argv themselves (sl_cli_flag style):
 * argv[*i] as a job flag, advancing *i past its value; 1 taken, 0 not a job
 * flag, -1 bad or missing value (usage error printed). */
int sl_cli_job_flag_argv(const char *command, int argc, char **argv, int *i,
                         sl_job_options_t *options);

/* Adds the job flags that must agree across ranks to `preflight`
 * (--topology is per node and may differ). */
sl_status_t sl_cli_job_preflight(const sl_job_options_t *options, sl_preflight_t *preflight);

#endif /* SL_CLI_JOB_FLAGS_H */
