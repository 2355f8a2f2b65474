/* job_flags.c - see job_flags.h. */
#include "config.h"

#include "cli/job_flags.h"

#include <string.h>

#include "cli/cli.h"

int sl_cli_job_flag(const char *command, int opt, const char *arg, sl_job_options_t *options)
{
    switch (opt) {
    case SL_CLI_OPT_BOOTSTRAP:
        if (strcmp(arg, "auto") != 0 && strcmp(arg, "pmix") != 0 && strcmp(arg, "single") != 0) {
            sl_cli_usage_error(command, "--bootstrap '%s': expected auto, pmix or single", arg);
            return -1;
        }
        options->bootstrap = arg;
        return 1;
    case SL_CLI_OPT_TOPOLOGY:
        options->topology_xml = arg;
        return 1;
    case SL_CLI_OPT_CPU_BIND:
        if (sl_topo_bind_mode_parse(arg, &options->cpu_bind) != SL_OK) {
            sl_cli_usage_error(command, "--cpu-bind '%s': expected preferred, strict or none",
                               arg);
            return -1;
        }
        return 1;
    }
    return 0;
}

sl_status_t sl_cli_job_preflight(const sl_job_options_t *options, sl_preflight_t *preflight)
{
    return sl_preflight_add(preflight, "--cpu-bind", sl_topo_bind_mode_name(options->cpu_bind));
}
