/* cli.c - global options, the command table, `slinfer help`. */
#include "config.h"

#include "cli/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

static const sl_cli_command_t *const sl_commands[] = {
    &sl_cmd_help,
    &sl_cmd_version,
    &sl_cmd_topo,
    &sl_cmd_chat_template,
    &sl_cmd_tokenize,
    &sl_cmd_inspect,
    &sl_cmd_logits,
    &sl_cmd_bench,
    &sl_cmd_generate,
    &sl_cmd_run,
    &sl_cmd_make_model,
    &sl_cmd_serve,
};

#define SL_NUM_COMMANDS (sizeof(sl_commands) / sizeof(sl_commands[0]))

static const char sl_global_usage[] =
    "Usage: slinfer [--log-level LEVEL] COMMAND [ARGS...]\n"
    "       slinfer --help | --version\n"
    "\n"
    "LLM batch inference for SLURM clusters. Start it once per node with\n"
    "  srun --mpi=pmix slinfer COMMAND ...\n"
    "and the ranks find each other through PMIx.\n"
    "\n"
    "Options:\n"
    "  -h, --help             show this help\n"
    "  -V, --version          show version, build and library information\n"
    "      --log-level LEVEL  error, warn, info, debug or trace (default: info,\n"
    "                         or SLINFER_LOG_LEVEL)\n"
    "\n"
    "Commands:\n";

static void sl_print_global_usage(FILE *out)
{
    fputs(sl_global_usage, out);
    for (size_t i = 0; i < SL_NUM_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", sl_commands[i]->name, sl_commands[i]->summary);
    fputs("\nExit status: 0 success, 1 failure, 2 usage error.\n"
          "Run 'slinfer help COMMAND' for a command's options; see also slinfer(1).\n",
          out);
}

const sl_cli_command_t *sl_cli_find(const char *name)
{
    for (size_t i = 0; i < SL_NUM_COMMANDS; i++)
        if (strcmp(sl_commands[i]->name, name) == 0)
            return sl_commands[i];
    return NULL;
}

int sl_cli_usage_error(const char *command, const char *format, ...)
{
    va_list ap;

    fputs("slinfer: ", stderr);
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    if (command != NULL)
        fprintf(stderr, "\nRun 'slinfer help %s' for usage.\n", command);
    else
        fputs("\nRun 'slinfer --help' for usage.\n", stderr);
    return SL_EXIT_USAGE;
}

int sl_cli_flag(int argc, char **argv, int *i, const char *name, const char **value_p)
{
    size_t len = strlen(name);

    if (strncmp(argv[*i], name, len) != 0)
        return 0;
    if (argv[*i][len] == '=') {
        *value_p = argv[*i] + len + 1;
        return 1;
    }
    if (argv[*i][len] != '\0')
        return 0;
    *value_p = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

/* ---- slinfer help [COMMAND] --------------------------------------------- */

static int sl_help_run(int argc, char **argv)
{
    const sl_cli_command_t *cmd;

    if (argc < 2) {
        sl_print_global_usage(stdout);
        return SL_EXIT_OK;
    }
    if (argc > 2)
        return sl_cli_usage_error("help", "help takes one command name, got %d", argc - 1);
    cmd = sl_cli_find(argv[1]);
    if (cmd == NULL)
        return sl_cli_usage_error(NULL, "no command '%s'", argv[1]);
    fputs(cmd->usage, stdout);
    return SL_EXIT_OK;
}

const sl_cli_command_t sl_cmd_help = {
    .name = "help",
    .summary = "show the help of slinfer or of one command",
    .usage = "Usage: slinfer help [COMMAND]\n"
             "\n"
             "Without COMMAND, list the commands; with it, show that command's\n"
             "options. 'slinfer COMMAND --help' shows the same.\n",
    .run = sl_help_run,
};

/* ---- global options and dispatch ------------------------------------------ */

int sl_cli_main(int argc, char **argv)
{
    int i;

    sl_log_init();

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        sl_log_level_t level;

        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            sl_print_global_usage(stdout);
            return SL_EXIT_OK;
        }
        if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0)
            return sl_cmd_version.run(1, (char *[]){(char *)"version", NULL});
        if (strncmp(arg, "--log-level=", 12) == 0) {
            value = arg + 12;
        } else if (strcmp(arg, "--log-level") == 0) {
            if (i + 1 >= argc)
                return sl_cli_usage_error(NULL, "--log-level needs a value");
            value = argv[++i];
        } else {
            return sl_cli_usage_error(NULL, "unknown option '%s'", arg);
        }
        if (sl_log_parse_level(value, &level) != SL_OK)
            return sl_cli_usage_error(NULL,
                                      "--log-level '%s': expected error, warn, info, debug "
                                      "or trace",
                                      value);
        sl_log_set_level(level);
    }

    if (i >= argc) {
        sl_print_global_usage(stderr);
        return SL_EXIT_USAGE;
    }

    const sl_cli_command_t *cmd = sl_cli_find(argv[i]);
    if (cmd == NULL)
        return sl_cli_usage_error(NULL, "'%s' is not a slinfer command", argv[i]);

    /* `slinfer CMD --help` anywhere before a `--` means help. */
    for (int j = i + 1; j < argc && strcmp(argv[j], "--") != 0; j++) {
        if (strcmp(argv[j], "--help") == 0 || strcmp(argv[j], "-h") == 0) {
            fputs(cmd->usage, stdout);
            return SL_EXIT_OK;
        }
    }
    return cmd->run(argc - i, argv + i);
}
