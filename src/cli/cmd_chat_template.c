/* cmd_chat_template.c - `slinfer chat-template`: render a model's chat
 * template for a conversation and print the prompt. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/log.h"
#include "template/chat_template.h"

/* --name VALUE or --name=VALUE at argv[*i]; advances *i past the value. */
static int sl_ct_option(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];

    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

static int sl_chat_template_run(int argc, char **argv)
{
    const char *model = NULL, *messages = NULL, *now_text = NULL;
    bool gen_prompt = false;
    time_t now = 0;
    sl_chat_request_t req = {0};
    sl_chat_template_t *tpl = NULL;
    json_t *conv = NULL, *extra = NULL;
    json_error_t jerr;
    char *text = NULL;
    int rc = SL_EXIT_FAILURE;

    for (int i = 1; i < argc; i++) {
        int got;
        if ((got = sl_ct_option(argc, argv, &i, "--model", &model)) != 0 ||
            (got = sl_ct_option(argc, argv, &i, "--messages", &messages)) != 0 ||
            (got = sl_ct_option(argc, argv, &i, "--now", &now_text)) != 0) {
            if (got < 0)
                return sl_cli_usage_error("chat-template", "%s needs a value", argv[i]);
            continue;
        }
        if (strcmp(argv[i], "--add-generation-prompt") == 0) {
            gen_prompt = true;
            continue;
        }
        return sl_cli_usage_error("chat-template", "unknown argument '%s'", argv[i]);
    }
    if (model == NULL || messages == NULL)
        return sl_cli_usage_error("chat-template", "--model and --messages are required");
    if (now_text != NULL) {
        char *end;
        errno = 0;
        long long v = strtoll(now_text, &end, 10);
        if (errno != 0 || *end != '\0' || end == now_text || v <= 0)
            return sl_cli_usage_error("chat-template",
                                      "--now '%s': expected seconds since the epoch", now_text);
        now = (time_t)v;
    }

    if (strcmp(messages, "-") == 0)
        conv = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
    else
        conv = json_load_file(messages, JSON_REJECT_DUPLICATES, &jerr);
    if (conv == NULL) {
        sl_error("%s:%d:%d: %s", messages, jerr.line, jerr.column, jerr.text);
        return SL_EXIT_FAILURE;
    }
    if (sl_chat_request_from_json(conv, &req, &extra) != SL_OK)
        goto out;
    req.now = now;
    req.add_generation_prompt = req.add_generation_prompt || gen_prompt;
    if (sl_chat_template_load(model, NULL, &tpl) != SL_OK ||
        sl_chat_template_render(tpl, &req, NULL, &text) != SL_OK)
        goto out;
    fputs(text, stdout);
    rc = fflush(stdout) == 0 ? SL_EXIT_OK : SL_EXIT_FAILURE;

out:
    free(text);
    sl_chat_template_free(tpl);
    json_decref(extra);
    json_decref(conv);
    return rc;
}

const sl_cli_command_t sl_cmd_chat_template = {
    .name = "chat-template",
    .summary = "render a model's chat template for a conversation",
    .usage = "Usage: slinfer chat-template --model DIR --messages FILE [--add-generation-prompt]\n"
             "                             [--now SECONDS]\n"
             "\n"
             "Render the chat template of the model in DIR (DIR/chat_template.jinja, else\n"
             "the chat_template of DIR/tokenizer_config.json) for the conversation in\n"
             "FILE, as transformers' apply_chat_template would, and print the prompt\n"
             "exactly: no newline is added.\n"
             "\n"
             "FILE is a JSON array of messages, or an object with \"messages\" and\n"
             "optionally \"tools\", \"documents\", \"add_generation_prompt\" and further\n"
             "template variables (\"enable_thinking\": false, ...). '-' reads stdin.\n"
             "\n"
             "Options:\n"
             "  --model DIR              the model folder\n"
             "  --messages FILE          the conversation\n"
             "  --add-generation-prompt  end with the header of the assistant's turn\n"
             "  --now SECONDS            the time strftime_now() shows, in seconds since\n"
             "                           the epoch, in UTC (default: now, local time)\n",
    .run = sl_chat_template_run,
};
