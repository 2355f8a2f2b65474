/*
 * fuzz_jinja.c - libFuzzer target for the Jinja chat-template interpreter.
 *
 * The input is a template. sl_jinja_parse() must accept it or refuse it
 * with an error that has a message, never crash, leak, overflow the stack or
 * read out of bounds; an accepted template is rendered with a small chat
 * conversation under tight limits, and must finish (a render that runs
 * into a limit is a clean error too). The limits are lower than the
 * defaults so that each input takes milliseconds.
 *
 * Build and run: tests/fuzz/run_jinja.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template/jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char sl_fuzz_vars[] =
    "{\"messages\": ["
    "{\"role\": \"system\", \"content\": \"Be brief.\"},"
    "{\"role\": \"user\", \"content\": \"Hi \\u00e9 <think>x</think>\"},"
    "{\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"abc123def\", "
    "\"type\": \"function\", \"function\": {\"name\": \"f\", \"arguments\": {\"a\": [1, 2.5, "
    "true, null]}}}]},"
    "{\"role\": \"tool\", \"content\": \"{\\\"ok\\\": 1}\"},"
    "{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"part\"}]}],"
    "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": "
    "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"array\"}}}}}],"
    "\"documents\": null, \"add_generation_prompt\": true, \"bos_token\": \"<s>\", "
    "\"eos_token\": \"</s>\", \"enable_thinking\": false}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *vars;
    sl_jinja_render_opts_t opts;
    sl_jinja_template_t *tpl;
    sl_jinja_error_t err;
    char *text = NULL;
    size_t len = 0;
    sl_status_t status;

    if (vars == NULL) {
        vars = json_loads(sl_fuzz_vars, 0, NULL);
        if (vars == NULL)
            abort();
    }
    status = sl_jinja_parse((const char *)data, size, &err, &tpl);
    if (status != SL_OK) {
        if (err.message[0] == '\0')
            abort(); /* every refusal must say why */
        return 0;
    }
    sl_jinja_render_opts_default(&opts);
    opts.now = 1721995200;
    opts.limits.max_output = 1 << 20;
    opts.limits.max_memory = 64 << 20;
    opts.limits.max_steps = 200000;
    opts.limits.max_iterations = 20000;
    opts.limits.max_depth = 200;
    status = sl_jinja_render(tpl, vars, &opts, &err, &text, &len);
    if (status == SL_OK) {
        if (strlen(text) > len)
            abort();
        free(text);
    } else if (err.message[0] == '\0' && status != SL_ERR_NO_MEMORY && !err.raised) {
        abort();
    }
    sl_jinja_free(tpl);
    return 0;
}
