/*
 * cli.h - the slinfer command line: global options and subcommand dispatch.
 *
 * A subcommand is one sl_cli_command_t in its own src/cli/cmd_NAME.c, listed
 * in the table in cli.c. It parses its own flags and returns a process exit
 * status; the logic it runs lives in the layers below (src/job, src/topo...).
 */
#ifndef SL_CLI_CLI_H
#define SL_CLI_CLI_H

/* Process exit statuses, documented in slinfer(1). */
enum {
    SL_EXIT_OK      = 0, /* everything asked for was done            */
    SL_EXIT_FAILURE = 1, /* a runtime error; the log says what       */
    SL_EXIT_USAGE   = 2, /* bad command line; nothing was done       */
};

typedef struct sl_cli_command {
    const char *name;
    const char *summary; /* one line for `slinfer --help`            */
    const char *usage;   /* full text for `slinfer help NAME`         */
    /* argv[0] is the command name; returns an SL_EXIT_* status. */
    int (*run)(int argc, char **argv);
} sl_cli_command_t;

/* The whole program: parses global options, dispatches, returns the exit
 * status. */
int sl_cli_main(int argc, char **argv);

/* The command called NAME, or NULL. */
const sl_cli_command_t *sl_cli_find(const char *name);

/* Prints "slinfer: ..." and the hint to run `slinfer help CMD`; returns
 * SL_EXIT_USAGE, so commands can `return sl_cli_usage_error(...)`. */
int sl_cli_usage_error(const char *command, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* "--NAME VALUE" or "--NAME=VALUE" at argv[*i]: returns 1 with *value_p set
 * (NULL when the value is missing) and *i advanced past the value; 0 when
 * argv[*i] is not NAME (a longer flag with NAME as prefix is not NAME). */
int sl_cli_flag(int argc, char **argv, int *i, const char *name, const char **value_p);

extern const sl_cli_command_t sl_cmd_help;
extern const sl_cli_command_t sl_cmd_version;
extern const sl_cli_command_t sl_cmd_topo;
extern const sl_cli_command_t sl_cmd_chat_template;
extern const sl_cli_command_t sl_cmd_tokenize;
extern const sl_cli_command_t sl_cmd_inspect;
extern const sl_cli_command_t sl_cmd_logits;
extern const sl_cli_command_t sl_cmd_bench;
extern const sl_cli_command_t sl_cmd_generate;
extern const sl_cli_command_t sl_cmd_run;
extern const sl_cli_command_t sl_cmd_make_model;
extern const sl_cli_command_t sl_cmd_serve;

#endif /* SL_CLI_CLI_H */
