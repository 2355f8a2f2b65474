/* cmd_version.c - `slinfer version` (also `slinfer --version`). */
#include "config.h"

#include <stdio.h>

#include "cli/cli.h"
#include "core/version.h"

static int sl_version_run(int argc, char **argv)
{
    if (argc > 1)
        return sl_cli_usage_error("version", "version takes no arguments, got '%s'", argv[1]);
    sl_version_report(stdout);
    return fflush(stdout) == 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;
}

const sl_cli_command_t sl_cmd_version = {
    .name = "version",
    .summary = "print version, git revision, build options and library versions",
    .usage = "Usage: slinfer version\n"
             "\n"
             "Print the slinfer version and git revision, the configure arguments,\n"
             "the compiler, the run-time version of every library slinfer links\n"
             "(PMIx, hwloc, HDF5, ...) and, in a CUDA build, the CUDA runtime,\n"
             "driver, cuBLAS and NCCL versions and the number of visible GPUs.\n",
    .run = sl_version_run,
};
