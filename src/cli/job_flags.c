/* job_flags.c - see job_flags.h. */
#include "config.h"

#include "cli/job_flags.h"

#include <string.h>

#include "cli/cli.h"

int sl_cli_job_flag(const char *command, int opt, const char *arg, sl_job_options_t *options)
{
    switch (opt) {
    case SL_CLI_OPT_BOOTSTRAP:
        if (strcmp(arg, "auto") != 0 && strcmp(arg, "pmix") != 0 && strcmp(arg, "env") != 0 &&
            strcmp(arg, "single") != 0) {
            sl_cli_usage_error(command, "--bootstrap '%s': expected auto, pmix, env or single",
                               arg);
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

int sl_cli_job_flag_argv(const char *command, int argc, char **argv, int *i,
                         sl_job_options_t *options)
{
    static const struct {
        const char *name;
        int opt;
    } flags[] = {
        {"--bootstrap", SL_CLI_OPT_BOOTSTRAP},
        {"--topology", SL_CLI_OPT_TOPOLOGY},
        {"--cpu-bind", SL_CLI_OPT_CPU_BIND},
    };
    const char *value;

    for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
        if (!sl_cli_flag(argc, argv, i, flags[k].name, &value))
            continue;
        if (value == NULL) {
            sl_cli_usage_error(command, "%s needs a value", flags[k].name);
            return -1;
        }
        return sl_cli_job_flag(command, flags[k].opt, value, options);
    }
    return 0;
}

sl_status_t sl_cli_job_preflight(const sl_job_options_t *options, sl_preflight_t *preflight)
{
    return sl_preflight_add(preflight, "--cpu-bind", sl_topo_bind_mode_name(options->cpu_bind));
}
