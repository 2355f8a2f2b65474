#!/usr/bin/python3
"""Render the chat-template goldens with Python's jinja2, as transformers does.

For every model folder and fixture folder listed in
tests/data/templates/cases.json and every conversation in
tests/data/templates/conversations/, render the folder's chat template and
write tests/data/templates/expected/NAME/CONVERSATION.txt (the exact text) or
CONVERSATION.error (when jinja2 raises: first line the exception kind, which
is "raise_exception" for the template's own raise_exception(), then the
message). tests/unit/check_jinja_golden.c compares slinfer's renders with
these files byte for byte.

The environment is transformers' (chat_template_utils / tokenization_utils):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True) with the
loopcontrols extension and the {% generation %} tag, tojson as json.dumps
(ensure_ascii=False, indent, separators, sort_keys), raise_exception and
strftime_now globals; the template sees messages, tools and documents (None
when absent), add_generation_prompt, the tokenizer's special tokens and the
conversation's other keys. strftime_now() is pinned to cases.json's "now"
(UTC) so the goldens do not depend on the date.

Runs under Debian's /usr/bin/python3 with Debian's python3-jinja2
(apt-get install -y python3-jinja2); the goldens were made with 3.1.2.

Usage: render_goldens.py [--check] [--fixtures DIR]
  --check     compare with the committed files instead of writing them;
              exit status 1 when any differs
  --fixtures  the shared fixtures folder (default: $SLINFER_FIXTURES, else
              ../shared/fixtures next to the repository)
"""

import argparse
import json
import os
import sys
from datetime import datetime, timezone

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DATA = os.path.join(REPO, "tests", "data", "templates")

# The conversation keys that are not extra template variables.
REQUEST_KEYS = ("messages", "tools", "documents", "add_generation_prompt")
SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                  "mask_token")


class GenerationTag(Extension):
    """transformers' AssistantTracker tag: {% generation %} renders its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_render"), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def make_env(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(date_format):
        return datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None).strftime(date_format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def token_text(value):
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def load_model(folder):
    """(template source, special tokens) of a model folder."""
    config = {}
    config_path = os.path.join(folder, "tokenizer_config.json")
    if os.path.exists(config_path):
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    tokens = {}
    for name in SPECIAL_TOKENS:
        text = token_text(config.get(name))
        if text is not None:
            tokens[name] = text
    if isinstance(config.get("additional_special_tokens"), list):
        tokens["additional_special_tokens"] = [
            t for t in map(token_text, config["additional_special_tokens"]) if t is not None]
    jinja_path = os.path.join(folder, "chat_template.jinja")
    if os.path.exists(jinja_path):
        with open(jinja_path, encoding="utf-8", newline="") as f:
            return f.read(), tokens
    template = config.get("chat_template")
    if isinstance(template, list):
        template = {t["name"]: t["template"] for t in template}["default"]
    if not isinstance(template, str):
        raise SystemExit(f"{folder}: no chat template")
    return template, tokens


def render(env, source, tokens, conv):
    kwargs = dict(tokens)
    kwargs.update({k: v for k, v in conv.items() if k not in REQUEST_KEYS})
    try:
        text = env.from_string(source).render(
            messages=conv["messages"], tools=conv.get("tools"),
            documents=conv.get("documents"),
            add_generation_prompt=bool(conv.get("add_generation_prompt", False)), **kwargs)
    except jinja2.exceptions.TemplateSyntaxError:
        raise
    except jinja2.exceptions.TemplateError as e:
        kind = "raise_exception" if type(e) is jinja2.exceptions.TemplateError else type(e).__name__
        return ".error", f"{kind}\n{e}"
    except Exception as e:  # a template bug jinja2 reports as a Python error
        return ".error", f"{type(e).__name__}\n{e}"
    return ".txt", text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--fixtures", default=os.environ.get(
        "SLINFER_FIXTURES", os.path.join(os.path.dirname(REPO), "shared", "fixtures")))
    args = ap.parse_args()

    with open(os.path.join(DATA, "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    env = make_env(cases["now"])
    convs = {}
    for name in cases["conversations"]:
        with open(os.path.join(DATA, "conversations", name + ".json"), encoding="utf-8") as f:
            convs[name] = json.load(f)

    folders = [(os.path.join(DATA, "models", m), m) for m in cases["models"]]
    if os.path.isdir(args.fixtures):
        folders += [(os.path.join(args.fixtures, d), n) for d, n in cases["fixtures"].items()]
    else:
        print(f"note: no fixtures at {args.fixtures}; fixture goldens left as they are")

    results = {}
    for folder, name in folders:
        source, tokens = load_model(folder)
        for conv_name, conv in convs.items():
            got = render(env, source, tokens, conv)
            key = (name, conv_name)
            # Fixture folders that share a golden must render identically.
            if key in results and results[key] != got:
                raise SystemExit(f"{folder}: renders {conv_name} differently from another "
                                 f"folder mapped to {name}")
            results[key] = got

    changed = 0
    for (name, conv_name), (ext, text) in sorted(results.items()):
        out_dir = os.path.join(DATA, "expected", name)
        path = os.path.join(out_dir, conv_name + ext)
        other = os.path.join(out_dir, conv_name + (".txt" if ext == ".error" else ".error"))
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8", newline="") as f:
                old = f.read()
        if old == text and not os.path.exists(other):
            continue
        changed += 1
        if args.check:
            print(f"differs: {os.path.relpath(path, REPO)}")
            continue
        os.makedirs(out_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        if os.path.exists(other):
            os.remove(other)
    errors = sum(1 for ext, _ in results.values() if ext == ".error")
    print(f"{len(results)} renders ({errors} expected errors), {changed} "
          f"{'differ' if args.check else 'written'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
