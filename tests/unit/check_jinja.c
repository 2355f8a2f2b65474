/* check_jinja.c - the Jinja interpreter on its own: every construct the
 * issue lists, with outputs that Python's jinja2 gave for the same template
 * and variables (transformers' settings); errors with their line and
 * column; the limits that stop hostile templates; the chat layer's
 * tokenizer_config.json reading and the `slinfer chat-template` command. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "sl_check.h"
#include "template/chat_template.h"
#include "template/jinja.h"

/* 2024-07-26 12:00:00 UTC, as in tests/data/templates/cases.json. */
#define NOW 1721995200

static const char vars_json[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", "
    "\"content\": \" hi \"}], \"n\": 7, \"s\": \"Hello\", \"d\": {\"b\": 1, \"a\": [1, 2]}, "
    "\"e\": \"\\u00e9\\\"\\n\"}";

/* Renders TEMPLATE with VARS (JSON text) and the limits of OPTS (NULL:
 * defaults, with `now` pinned); returns the status, the text in *TEXT_P. */
static sl_status_t render(const char *tpl_text, const char *vars,
                          const sl_jinja_render_opts_t *opts, sl_jinja_error_t *err,
                          char **text_p)
{
    sl_jinja_render_opts_t o;
    sl_jinja_template_t *tpl;
    json_error_t jerr;
    json_t *v = NULL;
    sl_status_t status;

    if (vars != NULL) {
        v = json_loads(vars, 0, &jerr);
        ck_assert_msg(v != NULL, "bad test JSON: %s", jerr.text);
    }
    if (opts == NULL) {
        sl_jinja_render_opts_default(&o);
        o.now = NOW;
        opts = &o;
    }
    status = sl_jinja_parse(tpl_text, strlen(tpl_text), err, &tpl);
    if (status == SL_OK) {
        status = sl_jinja_render(tpl, v, opts, err, text_p, NULL);
        sl_jinja_free(tpl);
    }
    json_decref(v);
    return status;
}

/* ---- constructs, against jinja2 ------------------------------------------------------ */

static const struct {
    const char *name, *tpl, *want;
} cases[] = {
    {"arith",
     "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ "
     "7 / 2 }} {{ 2 ** 3 ** 2 }} {{ 10 - 2 - 3 }}",
     "7 9 3 -4 1 2 3.5 64 5"},
    {"floats",
     "{{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e-5 }} {{ 2.0 }} {{ 1 / 3 }} {{ -0.0 }} {{ 3.0 * 2 }}",
     "0.30000000000000004 1e+16 1e-05 2.0 0.3333333333333333 -0.0 6.0"},
    {"compare",
     "{{ n > 3 }} {{ n == 7.0 }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1"
     ", 3] }} {{ none == none }} {{ 1 != 1 }}",
     "True True True False True True True False"},
    {"in_not",
     "{{ 'ell' in s }} {{ 'a' in d }} {{ 2 in d.a }} {{ 'z' not in s }} {{ not n }} {{ not not "
     "n }}",
     "True True True True False True"},
    {"and_or",
     "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ none or [] }} {{ '' and 1 }}|{{ true and false or 'z' }"
     "}",
     "x y [] |z"},
    {"ternary",
     "{{ 'big' if n > 5 else 'small' }} {{ 'a' if false }}|{{ 1 if false else 2 if false else 3"
     " }}",
     "big |3"},
    {"slicing",
     "{{ s[1:3] }} {{ s[-2:] }} {{ s[::-1] }} {{ s[::2] }} {{ d.a[1:] }} {{ messages[1:]|length"
     " }} {{ s[10] }}|",
     "el lo olleH Hlo [2] 1 |"},
    {"access",
     "{{ messages[0].role }} {{ messages[0]['content'] }} {{ messages.1.content }} {{ d.b }} {{"
     " d['a'][0] }} {{ d.missing }}|{{ d.items()|list }}",
     "system S  hi  1 1 |[('b', 1), ('a', [1, 2])]"},
    {"concat",
     "{{ 'a' ~ 1 ~ none ~ true }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 'ab' * 2 }}",
     "a1NoneTrue ab [1, 2] abab"},
    /* Empty sequences repeated any number of times, at once. */
    {"repeat empty", "{{ () * 2 ** 44 }}|{{ '' * 2 ** 62 }}|{{ [] * (2 ** 40) }}|{{ [1] * 0 }}",
     "()||[]|[]"},
    {"literals",
     "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': [1]} }} {{ (1,) }} {{ (1, 2) }} {{ () "
     "}}",
     "[1, 'a', None, True, 1.5] {'k': 'v', 'n': [1]} (1,) (1, 2) ()"},
    {"str_repr",
     "{{ ['it\\'s', \"q\\\"\", 'tab\\t', '\xc3\xa9""'] }}",
     "[\"it's\", 'q\"', 'tab\\t', '\xc3\xa9""']"},
    {"if_elif",
     "{% for x in [1, 2, 3] %}{% if x == 1 %}one{% elif x == 2 %}two{% else %}many{% endif %} {"
     "% endfor %}",
     "one two many "},
    {"for_loop",
     "{% for m in messages %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{"
     " loop.length }}{{ loop.revindex }} {% endfor %}",
     "01TrueFalse22 12FalseTrue21 "},
    {"for_else_filter",
     "{% for m in messages if m.role == 'tool' %}x{% else %}none{% endfor %} {% for m in messag"
     "es if m.role != 'system' %}{{ m.role }}{{ loop.length }}{% endfor %}",
     "none user1"},
    {"for_unpack",
     "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {% for k in d %}{{ k }}{% endfor "
     "%}",
     "b=1;a=[1, 2]; ba"},
    {"loop_controls",
     "{% for i in range(10) %}{% if i is odd %}{% continue %}{% endif %}{% if i > 6 %}{% break "
     "%}{% endif %}{{ i }}{% endfor %}",
     "0246"},
    {"loop_scope",
     "{% set x = 0 %}{% for i in range(3) %}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}",
     "1110"},
    {"namespace",
     "{% set ns = namespace(n=0, found=false) %}{% for m in messages %}{% set ns.n = ns.n + 1 %"
     "}{% if m.role == 'user' %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.n }} {{ n"
     "s.found }}",
     "2 True"},
    {"set_block",
     "{% set t %}[{{ n }}]{% endset %}{{ t }}{{ t|length }} {% set a, b = 1, 2 %}{{ a + b }}",
     "[7]3 3"},
    {"macro",
     "{% macro tag(name, cls='x') %}<{{ name }} class=\"{{ cls }}\">{% endmacro %}{{ tag('a') }"
     "}{{ tag('b', cls='y') }}{{ tag(cls='z', name='c') }}",
     "<a class=\"x\"><b class=\"y\"><c class=\"z\">"},
    {"macro_call",
     "{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}in {{ n }}{% endcall %}",
     "[in 7]"},
    {"macro_recursive",
     "{% macro f(k) %}{% if k > 0 %}{{ k }}{{ f(k - 1) }}{% endif %}{% endmacro %}{{ f(4) }}",
     "4321"},
    {"whitespace",
     "a\n  {% if true %}\n    b\n  {% endif %}\nc {{- ' d ' -}} e\n{#- c -#}\nf {%+ if true +%}"
     " g {% endif %}\n",
     "a\n    b\nc d ef  g "},
    {"raw_with_filter",
     "{% raw %}{{ x }}{% endraw %} {% with y = 2 %}{{ y }}{% endwith %} {% filter upper %}up{% "
     "endfilter %}",
     "{{ x }} 2 UP"},
    {"f_strings",
     "{{ '  x  '|trim }}|{{ s|upper }}|{{ s|lower }}|{{ 'hello world'|capitalize }}|{{ 'hello w"
     "orld'|title }}|{{ 'a b'|replace(' ', '_') }}",
     "x|HELLO|hello|Hello world|Hello World|a_b"},
    {"f_seq",
     "{{ d.a|length }} {{ s|length }} {{ d.a|join('-') }} {{ d.a|first }} {{ d.a|last }} {{ d|i"
     "tems|list }} {{ s|list }} {{ [3, 1, 2]|sort }} {{ [1, 2]|reverse|list }}",
     "2 5 1-2 1 2 [('b', 1), ('a', [1, 2])] ['H', 'e', 'l', 'l', 'o'] [1, 2, 3] [2, 1]"},
    {"f_default",
     "{{ nope|default('d') }} {{ ''|default('e', true) }} {{ none|default('n') }} {{ n|d(1) }}",
     "d e None 7"},
    {"f_select",
     "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|list }} {{ mes"
     "sages|rejectattr('role', 'eq', 'user')|map(attribute='role')|join }} {{ [1, 2, 3]|select("
     "'odd')|list }} {{ [1, 2]|map('string')|list }}",
     "[' hi '] system [1, 3] ['1', '2']"},
    {"f_numbers",
     "{{ '42'|int }} {{ 3.9|int }} {{ 'x'|int }} {{ 2.5|round }} {{ 2.675|round(2) }} {{ 3|roun"
     "d }} {{ '2.5'|float }} {{ -3|abs }} {{ 7|string }}",
     "42 3 0 2.0 2.67 3 2.5 3 7"},
    {"f_indent",
     "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(4, true) }}",
     "a\n  b\n\n  c|    a\n    b"},
    {"f_tojson",
     "{{ d|tojson }} {{ e|tojson }} {{ [1, none, true, 1.5]|tojson }} {{ d|tojson(indent=2) }} "
     "{{ d|tojson(sort_keys=true) }} {{ e|tojson(ensure_ascii=true) }}",
     "{\"b\": 1, \"a\": [1, 2]} \"\xc3\xa9""\\\"\\n\" [1, null, true, 1.5] {\n  \"b\": 1,\n  \""
     "a\": [\n    1,\n    2\n  ]\n} {\"a\": [1, 2], \"b\": 1} \"\\u00e9\\\"\\n\""},
    {"f_safe_string",
     "{{ '<b>'|safe }} {{ none|string }} {{ [1]|string }}",
     "<b> None [1]"},
    {"tests",
     "{{ nope is defined }} {{ nope is undefined }} {{ none is none }} {{ s is string }} {{ d i"
     "s mapping }} {{ d.a is iterable }} {{ s is sequence }} {{ n is number }} {{ true is boole"
     "an }} {{ n is integer }} {{ 1.5 is float }}",
     "False True True True True True True True True True True"},
    {"tests2",
     "{{ n is odd }} {{ n is even }} {{ n is divisibleby 7 }} {{ n is equalto 7 }} {{ n is eq(7"
     ") }} {{ n is not ne 7 }} {{ 'a' is in 'abc' }} {{ 'A' is upper }} {{ true is true }}",
     "True False True True True True True True True"},
    {"methods",
     "{{ s.upper() }} {{ ' x '.strip() }} {{ 'a,b'.split(',') }} {{ s.startswith('He') }} {{ s."
     "endswith('lo') }} {{ s.replace('l', 'L') }} {{ d.get('b') }} {{ d.get('z', 0) }} {{ d.key"
     "s()|list }}",
     "HELLO x ['a', 'b'] True True HeLLo 1 0 ['b', 'a']"},
    {"globals",
     "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ dict(a=1) }} {{ namespace(x=1).x }} {{ s"
     "trftime_now('%Y-%m-%d %H:%M, %A %d %B') }}",
     "[0, 1, 2] [1, 3, 5] {'a': 1} 1 2024-07-26 12:00, Friday 26 July"},
};

START_TEST(renders_like_jinja2)
{
    sl_jinja_error_t err;
    char *text = NULL;
    sl_status_t status = render(cases[_i].tpl, vars_json, NULL, &err, &text);

    ck_assert_msg(status == SL_OK, "%s: %d:%d: %s", cases[_i].name, err.line, err.column,
                  err.message);
    ck_assert_msg(strcmp(text, cases[_i].want) == 0, "%s:\n got: [%s]\nwant: [%s]",
                  cases[_i].name, text, cases[_i].want);
    free(text);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------ */

static void expect_error(const char *tpl, sl_status_t want_status, int line, int column,
                         const char *fragment)
{
    sl_jinja_error_t err;
    char *text = NULL;
    sl_status_t status = render(tpl, vars_json, NULL, &err, &text);

    ck_assert_msg(status == want_status, "[%s]: status %d, want %d (%s)", tpl, status,
                  want_status, status == SL_OK ? text : err.message);
    ck_assert_msg(err.line == line && err.column == column, "[%s]: at %d:%d, want %d:%d (%s)",
                  tpl, err.line, err.column, line, column, err.message);
    ck_assert_msg(strstr(err.message, fragment) != NULL, "[%s]: '%s' lacks '%s'", tpl,
                  err.message, fragment);
}

START_TEST(syntax_errors_have_line_and_column)
{
    expect_error("line one\n{{ 1 + }}", SL_ERR_FORMAT, 2, 8, "expected an expression");
    expect_error("{% if true %}\nx", SL_ERR_FORMAT, 2, 2,
                 "expected 'elif' or 'else' or 'endif'");
    expect_error("a\n  b {% for %}", SL_ERR_FORMAT, 2, 12, "expected a name");
    expect_error("{{ x|nosuchfilter }}", SL_ERR_FORMAT, 1, 6, "no filter named 'nosuchfilter'");
    expect_error("{{ x is nosuchtest }}", SL_ERR_FORMAT, 1, 6, "no test named 'nosuchtest'");
    expect_error("{% frobnicate %}", SL_ERR_FORMAT, 1, 4, "unknown tag 'frobnicate'");
    expect_error("\n\n{% break %}", SL_ERR_FORMAT, 3, 4, "outside of a loop");
    expect_error("{{ 'unterminated }}", SL_ERR_FORMAT, 1, 4, "unterminated string");
    expect_error("{# open comment", SL_ERR_FORMAT, 1, 1, "missing end of comment");
    expect_error("{{ (1, 2] }}", SL_ERR_FORMAT, 1, 9, "expected ')'");
    expect_error("{% include 'x' %}", SL_ERR_UNSUPPORTED, 1, 4, "not supported");
    expect_error("{% for x in y recursive %}{% endfor %}", SL_ERR_UNSUPPORTED, 1, 15,
                 "recursive");
    expect_error("é {{ x|truncate }}", SL_ERR_UNSUPPORTED, 1, 8, "'truncate' filter");
}
END_TEST

START_TEST(runtime_errors_have_line_and_column)
{
    expect_error("{% for m in messages %}\n  {{ m.content.nope.deeper }}\n{% endfor %}",
                 SL_ERR_FORMAT, 2, 20, "'str object' has no attribute 'nope'");
    expect_error("x\n{{ undefined_name + 1 }}", SL_ERR_FORMAT, 2, 19,
                 "'undefined_name' is undefined");
    expect_error("{{ 'a' + 1 }}", SL_ERR_FORMAT, 1, 8, "unsupported operand");
    expect_error("{{ 1 // 0 }}", SL_ERR_FORMAT, 1, 6, "division or modulo by zero");
    expect_error("{{ d.a.append(3) }}", SL_ERR_FORMAT, 1, 7, "unsafe");
    expect_error("{% set s.x = 1 %}", SL_ERR_FORMAT, 1, 4, "non-namespace");
    expect_error("{% for a, b in [1] %}{% endfor %}", SL_ERR_FORMAT, 1, 4, "not iterable");
    expect_error("{{ none|tojson }}{{ nope|tojson }}", SL_ERR_FORMAT, 1, 26,
                 "not JSON serializable");
}
END_TEST

START_TEST(raise_exception_is_the_templates_message)
{
    sl_jinja_error_t err;
    char *text = NULL;

    ck_assert_int_eq(render("ok\n{% if messages|length > 1 %}{{ raise_exception('Roles must "
                            "alternate: ' ~ messages[0].role) }}{% endif %}",
                            vars_json, NULL, &err, &text),
                     SL_ERR_FORMAT);
    ck_assert(err.raised);
    ck_assert_str_eq(err.message, "Roles must alternate: system");
    ck_assert_int_eq(err.line, 2);
    ck_assert_int_eq(err.column, 32);
    /* Other errors are not raise_exception's. */
    ck_assert_int_eq(render("{{ 1 / 0 }}", NULL, NULL, &err, &text), SL_ERR_FORMAT);
    ck_assert(!err.raised);
}
END_TEST

/* ---- limits --------------------------------------------------------------------------------- */

static void expect_limit(const char *tpl, const char *fragment)
{
    sl_jinja_render_opts_t opts;
    sl_jinja_error_t err;
    char *text = NULL;
    sl_status_t status;

    sl_jinja_render_opts_default(&opts);
    opts.limits.max_output = 1 << 20;
    opts.limits.max_memory = 32 << 20;
    opts.limits.max_steps = 2000000;
    opts.limits.max_iterations = 100000;
    opts.limits.max_depth = 200;
    status = render(tpl, vars_json, &opts, &err, &text);
    ck_assert_msg(status == SL_ERR_OVERFLOW, "[%s]: status %d (%s)", tpl, status,
                  status == SL_OK ? "rendered" : err.message);
    ck_assert_msg(strstr(err.message, fragment) != NULL, "[%s]: '%s' lacks '%s'", tpl,
                  err.message, fragment);
    ck_assert_int_gt(err.line, 0);
}

START_TEST(hostile_templates_hit_limits)
{
    expect_limit("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
                 "longer than the limit");
    expect_limit("{{ 'x' * 100000000 }}", "longer than the limit");
    expect_limit("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
                 "loop iterations");
    expect_limit("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "deeper than the limit");
    expect_limit("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(100000) %}"
                 "{% set ns.s = ns.s ~ 'xxxxxxxxxxxxxxxx' %}{% endfor %}",
                 "memory");
    expect_limit("{% for i in range(90000) %}{% set x = i + i + i + i + i + i + i + i + i + i + i"
                 " + i + i + i + i + i + i + i + i + i %}{% endfor %}",
                 "steps");
    expect_limit("{{ range(1000000)|length }}", "Range too big");
    /* A namespace holding itself, and lists nested a thousand deep. */
    expect_limit("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", "nested too deeply");
    expect_limit("{% set ns = namespace(l=[]) %}{% for i in range(5000) %}{% set ns.l = [ns.l] %}"
                 "{% endfor %}{{ ns.l|tojson }}",
                 "nested too deeply");
}
END_TEST

START_TEST(deep_nesting_is_refused_at_parse_time)
{
    char *tpl = malloc(60000);
    sl_jinja_template_t *t;
    sl_jinja_error_t err;
    size_t n = 0;

    ck_assert_ptr_nonnull(tpl);
    n += (size_t)sprintf(tpl + n, "{{ ");
    for (int i = 0; i < 10000; i++)
        tpl[n++] = '(';
    tpl[n++] = '1';
    for (int i = 0; i < 10000; i++)
        tpl[n++] = ')';
    n += (size_t)sprintf(tpl + n, " }}");
    ck_assert_int_eq(sl_jinja_parse(tpl, n, &err, &t), SL_ERR_OVERFLOW);
    ck_assert_ptr_nonnull(strstr(err.message, "nested"));
    n = 0;
    for (int i = 0; i < 5000; i++)
        n += (size_t)sprintf(tpl + n, "{%% if x %%}");
    ck_assert_int_eq(sl_jinja_parse(tpl, n, &err, &t), SL_ERR_OVERFLOW);
    free(tpl);
}
END_TEST

START_TEST(invalid_utf8_is_refused)
{
    sl_jinja_template_t *t;
    sl_jinja_error_t err;

    ck_assert_int_eq(sl_jinja_parse("a\xff", 2, &err, &t), SL_ERR_FORMAT);
    ck_assert_int_eq(sl_jinja_parse("{{ '\xc3' }}", 7, &err, &t), SL_ERR_FORMAT);
}
END_TEST

/* ---- threads -------------------------------------------------------------------------------- */

static sl_jinja_template_t *shared_tpl;
static json_t *shared_vars;

static void *render_many(void *arg)
{
    char *first = NULL;

    for (int i = 0; i < 200; i++) {
        char *text;
        sl_jinja_render_opts_t o;
        sl_jinja_render_opts_default(&o);
        o.now = NOW;
        if (sl_jinja_render(shared_tpl, shared_vars, &o, NULL, &text, NULL) != SL_OK)
            return (void *)1;
        if (first == NULL)
            first = text;
        else if (strcmp(first, text) != 0)
            return (void *)2;
        else
            free(text);
    }
    free(first);
    return arg;
}

START_TEST(one_template_renders_in_parallel)
{
    const char *tpl = "{% set ns = namespace(c=0) %}{% for m in messages %}"
                      "{% set ns.c = ns.c + 1 %}"
                      "{{ m.role|upper }}:{{ m.content|trim|tojson }}{% endfor %}{{ ns.c }}";
    pthread_t th[4];
    json_error_t jerr;

    ck_assert_int_eq(sl_jinja_parse(tpl, strlen(tpl), NULL, &shared_tpl), SL_OK);
    shared_vars = json_loads(vars_json, 0, &jerr);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, render_many, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        ck_assert_ptr_null(rc);
    }
    json_decref(shared_vars);
    sl_jinja_free(shared_tpl);
}
END_TEST

/* ---- chat layer ------------------------------------------------------------------------------ */

static char model_dir[] = "/tmp/slinfer-jinja-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", model_dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", model_dir, name);
    unlink(path);
}

static char *render_dir(const json_t *messages, bool gen)
{
    sl_chat_template_t *tpl;
    sl_chat_request_t req = {.messages = messages, .add_generation_prompt = gen, .now = NOW};
    char *text = NULL;

    if (sl_chat_template_load(model_dir, NULL, &tpl) != SL_OK)
        return NULL;
    if (sl_chat_template_render(tpl, &req, NULL, &text) != SL_OK)
        text = NULL;
    sl_chat_template_free(tpl);
    return text;
}

START_TEST(tokenizer_config_and_chat_template_jinja)
{
    json_t *msgs = json_loads("[{\"role\": \"user\", \"content\": \"hi\"}]", 0, NULL);
    char *text;

    ck_assert_ptr_nonnull(mkdtemp(model_dir));
    /* A string template; tokens as strings and as AddedToken objects. */
    write_file("tokenizer_config.json",
               "{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": \"</s>\","
               " \"pad_token\": null, \"chat_template\": \"{{ bos_token }}{% for m in messages %}"
               "[{{ m.content }}]{% endfor %}{{ eos_token }}{{ pad_token is defined }}"
               "{% if add_generation_prompt %}>{% endif %}\"}");
    text = render_dir(msgs, true);
    ck_assert_str_eq(text, "<s>[hi]</s>False>");
    free(text);
    /* A list of named templates: "default" is used. */
    write_file("tokenizer_config.json",
               "{\"eos_token\": \"E\", \"chat_template\": [{\"name\": \"tool_use\", \"template\": "
               "\"tools\"}, {\"name\": \"default\", \"template\": \"default{{ eos_token }}\"}]}");
    text = render_dir(msgs, false);
    ck_assert_str_eq(text, "defaultE");
    free(text);
    /* chat_template.jinja wins over tokenizer_config.json; its trailing
     * newline goes, as in jinja2. */
    write_file("chat_template.jinja", "file {{ messages[0].content }}\n");
    text = render_dir(msgs, false);
    ck_assert_str_eq(text, "file hi");
    free(text);
    remove_file("chat_template.jinja");
    /* Named templates without a default, and no template at all, fail. */
    write_file("tokenizer_config.json",
               "{\"chat_template\": [{\"name\": \"rag\", \"template\": \"x\"}]}");
    ck_assert_ptr_null(render_dir(msgs, false));
    write_file("tokenizer_config.json", "{\"eos_token\": \"E\"}");
    ck_assert_ptr_null(render_dir(msgs, false));
    write_file("tokenizer_config.json", "{\"chat_template\": 5");
    ck_assert_ptr_null(render_dir(msgs, false));
    remove_file("tokenizer_config.json");
    rmdir(model_dir);
    json_decref(msgs);
}
END_TEST

START_TEST(one_shot_render_and_requests)
{
    json_t *conv = json_loads("{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}], "
                              "\"tools\": [{\"name\": \"f\"}], \"add_generation_prompt\": true, "
                              "\"enable_thinking\": false}", 0, NULL);
    json_t *extra;
    sl_chat_request_t req;
    sl_jinja_error_t err;
    char *text;

    ck_assert_int_eq(sl_chat_request_from_json(conv, &req, &extra), SL_OK);
    ck_assert(req.add_generation_prompt);
    ck_assert_int_eq(sl_chat_render("{{ bos_token }}|{{ eos_token is defined }}|"
                                    "{{ tools|tojson }}|{{ documents }}|{{ enable_thinking }}|"
                                    "{{ add_generation_prompt }}",
                                    "<s>", NULL, &req, &err, &text),
                     SL_OK);
    ck_assert_str_eq(text, "<s>|False|[{\"name\": \"f\"}]|None|False|True");
    free(text);
    /* A syntax error reports where. */
    ck_assert_int_eq(sl_chat_render("ok\n {% if %}", NULL, NULL, &req, &err, &text), SL_ERR_FORMAT);
    ck_assert_int_eq(err.line, 2);
    ck_assert_int_eq(err.column, 8);
    json_decref(extra);
    json_decref(conv);
}
END_TEST

/* `slinfer chat-template` on a golden model folder and conversation. */
START_TEST(chat_template_command)
{
    const char *slinfer = getenv("SLINFER");
    char cmd[2048], out[8192];
    FILE *p;
    size_t n;

    if (slinfer == NULL || access(slinfer, X_OK) != 0)
        return; /* only under `make check` */
    snprintf(cmd, sizeof(cmd),
             "'%s' chat-template --model '%s/models/qwen3-chatml' --messages "
             "'%s/conversations/c02_system_user.json' --now %d 2>&1",
             slinfer, SL_TEMPLATE_DATA, SL_TEMPLATE_DATA, NOW);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_str_eq(out, "<|im_start|>system\nYou are a concise assistant.\nAnswer in one "
                          "sentence.<|im_end|>\n<|im_start|>user\n  What is the capital of "
                          "France?  <|im_end|>\n<|im_start|>assistant\n");
    /* A template error fails with status 1 and says where. */
    snprintf(cmd, sizeof(cmd),
             "'%s' chat-template --model '%s/models/gemma3' --messages "
             "'%s/conversations/c09_bad_alternation.json' 2>&1",
             slinfer, SL_TEMPLATE_DATA, SL_TEMPLATE_DATA);
    p = popen(cmd, "r");
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    ck_assert_int_eq(WEXITSTATUS(pclose(p)), 1);
    ck_assert_ptr_nonnull(strstr(out, "chat_template.jinja:15:12: raise_exception: "));
    ck_assert_ptr_nonnull(strstr(out, "Conversation roles must alternate"));
    snprintf(cmd, sizeof(cmd), "'%s' chat-template --model x 2>&1", slinfer);
    p = popen(cmd, "r");
    n = fread(out, 1, sizeof(out) - 1, p);
    ck_assert_int_eq(WEXITSTATUS(pclose(p)), 2);
}
END_TEST

static Suite *jinja_suite(void)
{
    Suite *s = suite_create("jinja");
    TCase *tc = tcase_create("constructs");
    TCase *te = tcase_create("errors");
    TCase *tl = tcase_create("limits");
    TCase *tchat = tcase_create("chat");

    tcase_add_loop_test(tc, renders_like_jinja2, 0, sizeof(cases) / sizeof(cases[0]));
    tcase_add_test(te, syntax_errors_have_line_and_column);
    tcase_add_test(te, runtime_errors_have_line_and_column);
    tcase_add_test(te, raise_exception_is_the_templates_message);
    tcase_add_test(te, invalid_utf8_is_refused);
    tcase_add_test(tl, hostile_templates_hit_limits);
    tcase_add_test(tl, deep_nesting_is_refused_at_parse_time);
    tcase_add_test(tl, one_template_renders_in_parallel);
    tcase_add_test(tchat, tokenizer_config_and_chat_template_jinja);
    tcase_add_test(tchat, one_shot_render_and_requests);
    tcase_add_test(tchat, chat_template_command);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, te);
    suite_add_tcase(s, tl);
    suite_add_tcase(s, tchat);
    return s;
}

SL_CHECK_MAIN(jinja_suite)
