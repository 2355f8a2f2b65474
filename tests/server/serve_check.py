#!/usr/bin/env python3
"""serve_check.py - `slinfer serve` through real HTTP, run by test_serve_http.sh.

  serve_check.py --port N --pid PID --slinfer BIN --model DIR --api-key KEY
                 --loadgen BIN [--requests 2000] [--concurrency 32]

Against a server already started on DIR (with --api-key KEY and
--max-body-size 64K), in this order:
  1. completions and chat completions, streamed and not, equal what
     `slinfer generate` gives for the same seed (text and logprobs);
  2. /metrics parses as Prometheus text under a strict parser;
  3. a list of bad requests each get their status and OpenAI error shape,
     and the server still answers;
  4. loadgen's bounded load (a second process) gets no 5xx and no
     malformed response, and once it is over no KV block is held and the
     hung-up streams were aborted;
  5. SIGTERM: the request in flight still completes, new connections are
     refused (the caller checks the exit status);
  6. (--parts queue, against a server with --max-queue 2 and a short
     --shutdown-timeout) a full queue gives 429, and a drain that runs out of
     time ends the streams in flight with an error event.
Prints one line per failed check and a count; exits 1 on any failure.
"""

import argparse
import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

failures = 0
passes = 0


def check(cond, what):
    global failures, passes
    if cond:
        passes += 1
    else:
        failures += 1
        print("FAIL: " + what, flush=True)
    return cond


def request(method, path, body=None, key=None, headers=None, timeout=60):
    """(status, headers dict, body bytes) of one request on a new connection."""
    conn = http.client.HTTPConnection(args.host, args.port, timeout=timeout)
    h = dict(headers or {})
    if key is not None:
        h["Authorization"] = "Bearer " + key
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def post(path, body, key="default", **kw):
    return request("POST", path, body, key=args.api_key if key == "default" else key, **kw)


def events(data):
    """The JSON objects of an SSE body; checks the framing and the [DONE] end."""
    text = data.decode("utf-8")
    check(text.endswith("data: [DONE]\n\n"), "stream ends with data: [DONE]: " + text[-80:])
    out = []
    for block in text.split("\n\n")[:-1]:
        check(block.startswith("data: "), "event starts with 'data: ': " + block[:80])
        payload = block[6:]
        if payload != "[DONE]":
            out.append(json.loads(payload))
    return out


# ---- 1. the same as `slinfer generate` -------------------------------------------------

def generate(extra):
    cmd = [args.slinfer, "generate", "--model", args.model, "--json", "--threads", "1",
           "--tp", str(args.tp)] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    check(p.returncode == 0, "generate %s: %s" % (extra, p.stderr[-300:]))
    return json.loads(p.stdout)


def choices_of(g):
    return g["choices"] if "choices" in g else [g]


def check_completions(prompt, seed, max_tokens, n=1, logprobs=None, stop=None, temp=None):
    extra = ["--prompt", prompt, "--seed", str(seed), "--max-tokens", str(max_tokens),
             "-n", str(n)]
    body = {"model": "tiny", "prompt": prompt, "seed": seed, "max_tokens": max_tokens, "n": n}
    if logprobs is not None:
        extra += ["--logprobs", str(logprobs)]
        body["logprobs"] = logprobs
    if stop is not None:
        extra += ["--stop", stop]
        body["stop"] = stop
    if temp is not None:
        extra += ["--temperature", str(temp)]
        body["temperature"] = temp
    want = choices_of(generate(extra))
    what = "completions %r seed %d" % (prompt, seed)
    status, _, data = post("/v1/completions", body)
    if not check(status == 200, "%s: status %d %s" % (what, status, data[:200])):
        return
    got = json.loads(data)
    check(got["object"] == "text_completion" and got["model"] == "tiny", what + ": object")
    total = 0
    for i, w in enumerate(want):
        c = got["choices"][i]
        check(c["index"] == i, what + ": index")
        check(c["text"] == w["text"], "%s: text %r, generate %r" % (what, c["text"], w["text"]))
        check(c["finish_reason"] == w["finish_reason"], what + ": finish reason")
        total += len(w["output_ids"])
        if logprobs is not None:
            lp = c["logprobs"]
            check(lp["token_logprobs"] == [x["logprob"] for x in w["logprobs"]],
                  what + ": token logprobs differ from generate's")
            check(all(len(t) <= logprobs for t in lp["top_logprobs"]), what + ": top count")
    u = got["usage"]
    check(u["completion_tokens"] == total and u["total_tokens"] == u["prompt_tokens"] + total,
          what + ": usage " + json.dumps(u))
    # The same streamed, with usage at the end.
    body.update(stream=True, stream_options={"include_usage": True})
    status, h, data = post("/v1/completions", body)
    check(status == 200 and h.get("content-type", "").startswith("text/event-stream"),
          what + ": stream status/type")
    texts, lps, finish, usage = [""] * n, [[] for _ in range(n)], [None] * n, None
    for ev in events(data):
        check(ev["object"] == "text_completion", what + ": chunk object")
        if ev.get("usage"):
            usage = ev["usage"]
            continue
        c = ev["choices"][0]
        texts[c["index"]] += c["text"]
        if c.get("logprobs"):
            lps[c["index"]] += c["logprobs"]["token_logprobs"]
        if c["finish_reason"] is not None:
            check(finish[c["index"]] is None, what + ": one finish per choice")
            finish[c["index"]] = c["finish_reason"]
    for i, w in enumerate(want):
        check(texts[i] == w["text"], "%s: streamed text %r, generate %r" % (what, texts[i],
                                                                          w["text"]))
        check(finish[i] == w["finish_reason"], what + ": streamed finish reason")
        if logprobs is not None:
            check(lps[i] == [x["logprob"] for x in w["logprobs"]], what + ": streamed logprobs")
    check(usage is not None and usage["completion_tokens"] == total, what + ": streamed usage")


def check_chat(messages, seed, max_tokens, top_logprobs=None):
    what = "chat seed %d" % seed
    p = subprocess.run([args.slinfer, "chat-template", "--model", args.model, "--messages", "-",
                        "--add-generation-prompt"], input=json.dumps(messages),
                       capture_output=True, text=True)
    check(p.returncode == 0, what + ": chat-template: " + p.stderr)
    t = subprocess.run([args.slinfer, "tokenize", "--model", args.model, "--no-special"],
                       input=p.stdout, capture_output=True, text=True)
    check(t.returncode == 0, what + ": tokenize: " + t.stderr)
    ids = ",".join(str(i) for i in json.loads(t.stdout))
    extra = ["--ids", ids, "--seed", str(seed), "--max-tokens", str(max_tokens)]
    body = {"messages": messages, "seed": seed, "max_tokens": max_tokens}
    if top_logprobs is not None:
        extra += ["--logprobs", str(top_logprobs)]
        body.update(logprobs=True, top_logprobs=top_logprobs)
    w = generate(extra)
    status, _, data = post("/v1/chat/completions", body)
    if not check(status == 200, "%s: status %d %s" % (what, status, data[:200])):
        return
    got = json.loads(data)
    c = got["choices"][0]
    check(got["object"] == "chat.completion" and c["message"]["role"] == "assistant",
          what + ": object")
    check(c["message"]["content"] == w["text"], "%s: content %r, generate %r" %
          (what, c["message"]["content"], w["text"]))
    check(got["usage"]["prompt_tokens"] == len(ids.split(",")), what + ": prompt tokens")
    if top_logprobs is not None:
        content = c["logprobs"]["content"]
        check([x["logprob"] for x in content] == [x["logprob"] for x in w["logprobs"]],
              what + ": logprobs")
        check(all(len(x["top_logprobs"]) == top_logprobs and isinstance(x["bytes"], list)
                  for x in content), what + ": top_logprobs shape")
    body["stream"] = True
    status, _, data = post("/v1/chat/completions", body)
    text, roles, finish = "", 0, []
    for ev in events(data):
        check(ev["object"] == "chat.completion.chunk", what + ": chunk object")
        d = ev["choices"][0]["delta"]
        roles += d.get("role") == "assistant"
        text += d.get("content") or ""
        if ev["choices"][0]["finish_reason"]:
            finish.append(ev["choices"][0]["finish_reason"])
    check(roles == 1 and finish == [w["finish_reason"]], what + ": stream role/finish")
    check(text == w["text"], "%s: streamed %r, generate %r" % (what, text, w["text"]))


# ---- 2. /metrics as Prometheus text ------------------------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(" + NAME + r")(\{(" + r"[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\"\\n])*\"" +
                    r"(?:,[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\"\\n])*\")*)?\})? " +
                    r"([-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$")
LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\n]|\\[\"\\n])*)\"")


def parse_metrics(text):
    """Strict text format 0.0.4: HELP/TYPE once and before samples, samples of
    declared families only, no duplicate series, histograms cumulative with
    le ascending, +Inf last and equal to _count. Returns {(name, labels): value}."""
    ok = check(text.endswith("\n"), "metrics end with a newline")
    types, helps, samples, order = {}, set(), {}, []
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            ok &= check(re.fullmatch(NAME, name) and name not in helps, "HELP: " + line)
            helps.add(name)
        elif line.startswith("# TYPE "):
            parts = line.split(" ")
            ok &= check(len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram",
                                                         "summary", "untyped") and
                        parts[2] not in types, "TYPE: " + line)
            types[parts[2]] = parts[3]
        elif line.startswith("#") or line == "":
            ok &= check(False, "stray line: %r" % line)
        else:
            m = SAMPLE.match(line)
            if not check(m is not None, "sample syntax: %r" % line):
                ok = False
                continue
            name, labels = m.group(1), tuple(LABEL.findall(m.group(3) or ""))
            family = re.sub(r"_(bucket|sum|count)$", "", name) \
                if types.get(re.sub(r"_(bucket|sum|count)$", "", name)) == "histogram" else name
            ok &= check(family in types, "sample before its TYPE: " + line)
            ok &= check(types.get(family) != "counter" or float(m.group(4)) >= 0,
                        "negative counter: " + line)
            key = (name, labels)
            ok &= check(key not in samples, "duplicate series: " + line)
            samples[key] = float(m.group(4))
            order.append((family, name, labels))
    for fam, t in types.items():
        if t != "histogram":
            continue
        series = {}
        for f, name, labels in order:
            if f == fam and name == fam + "_bucket":
                rest = tuple(l for l in labels if l[0] != "le")
                le = [v for k, v in labels if k == "le"][0]
                series.setdefault(rest, []).append((le, samples[(name, labels)]))
        for rest, buckets in series.items():
            bounds = [math.inf if le == "+Inf" else float(le) for le, _ in buckets]
            counts = [c for _, c in buckets]
            ok &= check(bounds == sorted(bounds) and bounds[-1] == math.inf,
                        fam + ": le ascending, +Inf last")
            ok &= check(counts == sorted(counts), fam + ": cumulative buckets")
            ok &= check(samples.get((fam + "_count", rest)) == counts[-1],
                        fam + ": +Inf bucket equals _count")
            ok &= check((fam + "_sum", rest) in samples, fam + ": has _sum")
    return samples if ok else samples


def metrics():
    status, h, data = request("GET", "/metrics", key=args.api_key)
    check(status == 200 and h.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "metrics status/type")
    return parse_metrics(data.decode("utf-8"))


def total(samples, name, **want):
    return sum(v for (n, labels), v in samples.items()
               if n == name and all((k, str(x)) in labels for k, x in want.items()))


# ---- 3. bad requests --------------------------------------------------------------------

def raw(payload, read=True, timeout=10):
    """Sends bytes on a new connection; returns the status (0: none) and the bytes."""
    s = socket.create_connection((args.host, args.port), timeout=timeout)
    try:
        s.sendall(payload)
        if not read:
            return 0, b""
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and b"content-length" in data.lower():
                head, _, body = data.partition(b"\r\n\r\n")
                m = re.search(rb"content-length: *([0-9]+)", head, re.I)
                if m and len(body) >= int(m.group(1)):
                    break
        m = re.match(rb"HTTP/1\.[01] ([0-9]{3})", data)
        return (int(m.group(1)) if m else 0), data
    finally:
        s.close()


def http_post_raw(path, body, key=None, extra=b""):
    key = args.api_key if key is None else key
    if isinstance(body, str):
        body = body.encode()
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
            key.encode() + b"\r\nContent-Type: application/json\r\nContent-Length: " +
            str(len(body)).encode() + b"\r\nConnection: close\r\n" + extra + b"\r\n" + body)


def bad_requests():
    C, H = "/v1/completions", "/v1/chat/completions"
    msg = [{"role": "user", "content": "hi"}]
    cases = [
        # (description, path, body or raw bytes, expected status)
        ("broken JSON", C, '{"prompt": "x"', 400),
        ("trailing garbage", C, '{"prompt": "x"} x', 400),
        ("not an object", C, '["x"]', 400),
        ("empty body", C, "", 400),
        ("invalid UTF-8", C, b'{"prompt": "\xff\xfe"}', 400),
        ("NUL escape", C, '{"prompt": "a\\u0000b"}', 400),
        ("duplicate keys", C, '{"prompt": "a", "prompt": "b"}', 400),
        ("deep nesting", C, '{"prompt": "x", "user": ' + "[" * 20000 + "]" * 20000 + "}", 400),
        ("deep nesting in messages", H, '{"messages": ' + "[" * 5000 + "]" * 5000 + "}", 400),
        ("huge integer", C, '{"prompt": "x", "max_tokens": 99999999999999999999999}', 400),
        ("huge real", C, '{"prompt": "x", "temperature": 1e999}', 400),
        ("large temperature", C, '{"prompt": "x", "temperature": 1e300}', 400),
        ("max_tokens past the context", C, '{"prompt": "x", "max_tokens": 100000000000}', 400),
        ("negative max_tokens", C, '{"prompt": "x", "max_tokens": -5}', 400),
        ("zero max_tokens", C, '{"prompt": "x", "max_tokens": 0}', 400),
        ("prompt + max_tokens over the context", C, '{"prompt": "x", "max_tokens": 2047}', 400),
        ("string max_tokens", C, '{"prompt": "x", "max_tokens": "8"}', 400),
        ("bool temperature", C, '{"prompt": "x", "temperature": true}', 400),
        ("top_p 0", C, '{"prompt": "x", "top_p": 0}', 400),
        ("top_p 2", C, '{"prompt": "x", "top_p": 2}', 400),
        ("n 0", C, '{"prompt": "x", "n": 0}', 400),
        ("n 5000", C, '{"prompt": "x", "n": 5000}', 400),
        ("logprobs 21", C, '{"prompt": "x", "logprobs": 21}', 400),
        ("stop not strings", C, '{"prompt": "x", "stop": [1]}', 400),
        ("empty stop", C, '{"prompt": "x", "stop": ""}', 400),
        ("stop id outside the vocabulary", C, '{"prompt": "x", "stop_token_ids": [100000]}', 400),
        ("prompt id outside the vocabulary", C, '{"prompt": [1, 2, 999999]}', 400),
        ("negative prompt id", C, '{"prompt": [-1]}', 400),
        ("two prompts", C, '{"prompt": ["a", "b"]}', 400),
        ("unknown field", C, '{"prompt": "x", "frobnicate": 1}', 400),
        ("unknown chat field", H, '{"messages": %s, "prompt": "x"}' % json.dumps(msg), 400),
        ("messages not a list", H, '{"messages": "hi"}', 400),
        ("message without role", H, '{"messages": [{"content": "hi"}]}', 400),
        ("top_logprobs without logprobs", H,
         '{"messages": %s, "top_logprobs": 3}' % json.dumps(msg), 400),
        ("logit_bias", C, '{"prompt": "x", "logit_bias": {"5": 10}}', 400),
        ("stream_options without stream", C,
         '{"prompt": "x", "stream_options": {"include_usage": true}}', 400),
        ("unknown model", C, '{"prompt": "x", "model": "gpt-17"}', 404),
        ("unknown route", "/v1/embeddings", '{"input": "x"}', 404),
        ("path traversal", "/../../etc/passwd", "{}", 404),
        ("oversized body", C, '{"prompt": "' + "a" * 70000 + '"}', 413),
    ]
    for what, path, body, want in cases:
        status, data = raw(http_post_raw(path, body))
        ok = check(status == want, "%s: status %d, expected %d: %r" % (what, status, want,
                                                                      data[:300]))
        if ok:
            doc = json.loads(data.partition(b"\r\n\r\n")[2])
            check(set(doc["error"]) == {"message", "type", "param", "code"} and
                  isinstance(doc["error"]["message"], str), what + ": OpenAI error shape")
    n = len(cases)
    # Authentication: every route but /health.
    for path in ("/v1/models", "/metrics"):
        status, _, _ = request("GET", path)
        check(status == 401, "no key on %s: %d" % (path, status))
        status, _, _ = request("GET", path, key="wrong")
        check(status == 401, "wrong key on %s: %d" % (path, status))
        n += 2
    status, _ = raw(http_post_raw(C, '{"prompt": "x"}', key="not-the-key"))
    check(status == 401, "wrong key on completions: %d" % status)
    status, _, _ = request("GET", "/health")
    check(status == 200, "health without a key: %d" % status)
    status, h, _ = request("GET", "/v1/completions", key=args.api_key)
    check(status == 405 and h.get("allow") == "POST", "GET on a POST route: %d" % status)
    n += 3
    # Oversized without reading the body first, and chunked oversized.
    status, _ = raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    args.api_key.encode() + b"\r\nContent-Length: 999999999\r\n\r\n{")
    check(status == 413, "Content-Length over the limit: %d" % status)
    chunk = b"a" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    status, _ = raw(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                    args.api_key.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    check(status == 413, "chunked body over the limit: %d" % status)
    status, _ = raw(b"GARBAGE\r\n\r\n")
    check(status in (0, 400), "not HTTP: %d" % status)
    n += 3
    # A slow sender: the server serves others meanwhile, and drops it when it goes silent.
    slow = socket.create_connection((args.host, args.port), timeout=30)
    slow.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
    t0 = time.time()
    status, _, _ = request("GET", "/health")
    check(status == 200 and time.time() - t0 < 5, "served while a slow sender waits")
    slow.settimeout(args.idle_timeout + 20)
    try:
        gone = slow.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        gone = True
    check(gone, "a silent connection is closed after the idle timeout")
    slow.close()
    n += 2
    # Clients that leave before the answer.
    for _ in range(5):
        raw(http_post_raw(C, '{"prompt": "x", "max_tokens": 300, "ignore_eos": true}'),
            read=False)
    status, _, _ = request("GET", "/health")
    check(status == 200 and os.path.exists("/proc/%d" % args.pid),
          "the server still answers after %d bad requests" % n)
    return n + 1


# ---- 4. load ------------------------------------------------------------------------------

def load():
    p = subprocess.run([args.loadgen, "--port", str(args.port), "--requests", str(args.requests),
                        "--concurrency", str(args.concurrency), "--api-key", args.api_key,
                        "--model", "tiny", "--disconnect", "0.1"],
                       capture_output=True, text=True)
    sys.stderr.write(p.stderr[-3000:])
    summary = json.loads(p.stdout)
    print("load: " + p.stdout.strip(), flush=True)
    check(p.returncode == 0 and summary["status_5xx"] == 0 and summary["malformed"] == 0 and
          summary["ok"] + summary["disconnected"] == args.requests, "load test: " + p.stdout)
    check(summary["disconnected"] > 0, "some streaming clients hung up")
    # The hung-up streams are aborted and every block comes back.
    deadline = time.time() + 30
    while True:
        m = metrics()
        used = total(m, "slinfer_kv_cache_used_blocks")
        busy = total(m, "slinfer_num_requests_running") + total(m, "slinfer_num_requests_waiting")
        if (used == 0 and busy == 0) or time.time() > deadline:
            break
        time.sleep(0.2)
    check(used == 0 and busy == 0, "KV blocks held after the load: %g, requests %g" % (used, busy))
    check(total(m, "slinfer_request_success_total", finished_reason="abort") > 0,
          "hung-up streams were aborted")
    check(total(m, "slinfer_http_client_disconnects_total") > 0, "disconnects counted")
    check(total(m, "slinfer_http_responses_total", code="5xx") == 0, "no 5xx counted")
    check(total(m, "slinfer_time_to_first_token_seconds_count") >= args.requests / 2,
          "TTFT observed")
    return summary


# ---- 5. SIGTERM ---------------------------------------------------------------------------

def sigterm():
    result = {}

    def long_request():
        result["r"] = post("/v1/completions", {"prompt": "x", "max_tokens": 1500,
                                               "ignore_eos": True, "stream": True}, timeout=120)

    t = threading.Thread(target=long_request)
    t.start()
    time.sleep(0.3)
    os.kill(args.pid, signal.SIGTERM)
    time.sleep(0.3)
    try:
        socket.create_connection((args.host, args.port), timeout=2).close()
        refused = False
    except OSError:
        refused = True
    check(refused, "no new connections while draining")
    t.join(120)
    status, _, data = result.get("r", (0, {}, b""))
    check(status == 200, "the request in flight at SIGTERM: status %d" % status)
    if status == 200:
        evs = events(data)
        check(sum(1 for e in evs if e["choices"] and e["choices"][0]["finish_reason"] == "length")
              == 1, "the request in flight at SIGTERM finished with its whole length")


# ---- 6. a full queue, and a drain that runs out of time ---------------------------------

def queue_and_drain():
    """Against a server with --max-queue 2 and a --shutdown-timeout well below
    the time its two requests need."""
    results = {}

    def long_request(i):
        results[i] = post("/v1/completions", {"prompt": "x", "max_tokens": 2000, "n": 8,
                                              "ignore_eos": True, "stream": True}, timeout=120)

    threads = [threading.Thread(target=long_request, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while time.time() < deadline:
        _, _, data = request("GET", "/health")
        if sum(g["inflight"] for g in json.loads(data)["dp_groups"]) == 2:
            break
        time.sleep(0.02)
    status, h, data = post("/v1/completions", {"prompt": "x", "max_tokens": 1})
    check(status == 429 and h.get("retry-after") == "1" and
          json.loads(data)["error"]["code"] == "queue_full", "a full queue: %d %r" % (status,
                                                                                   data))
    t0 = time.time()
    os.kill(args.pid, signal.SIGTERM)
    for t in threads:
        t.join(120)
    check(time.time() - t0 < 10, "the drain gave up after --shutdown-timeout")
    for i in range(2):
        status, _, data = results.get(i, (0, {}, b""))
        evs = events(data) if status == 200 else []
        check(status == 200 and evs and "error" in evs[-1] and
              "shutting down" in evs[-1]["error"]["message"],
              "a stream cut by the shutdown ends with an error event: %r" % data[-200:])


def main():
    global args
    ap = argparse.ArgumentParser()
    for flag in ("--slinfer", "--model", "--api-key"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--loadgen")
    ap.add_argument("--tp", type=int, default=1, help="the server's --tp (logprobs depend on it)")
    ap.add_argument("--parts", default="match,metrics,bad,load,sigterm",
                    help="which of match, metrics, bad, load, sigterm, queue to run")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--idle-timeout", type=int, default=3)
    args = ap.parse_args()

    parts = args.parts.split(",")
    status, _, data = request("GET", "/v1/models", key=args.api_key)
    check(status == 200 and json.loads(data)["data"][0]["id"] == "tiny", "models: %r" % data)
    if "match" in parts:
        for prompt, seed in (("Hello world", 1), ("The quick brown fox", 7), ("a", 12345)):
            check_completions(prompt, seed, 12)
        check_completions("Hello world", 3, 10, logprobs=3)
        check_completions("Hello world", 4, 6, n=3, logprobs=1)
        check_completions("Hello world", 5, 16, temp=0)
        first = generate(["--prompt", "Sampling", "--seed", "9", "--max-tokens", "16"])["text"]
        if len(first) > 4:
            check_completions("Sampling", 9, 16, stop=first[2:4])
        check_chat([{"role": "user", "content": "Hi there"}], 2, 10)
        check_chat([{"role": "user", "content": "One"}, {"role": "assistant", "content": "Two"},
                    {"role": "user", "content": "Three"}], 8, 8, top_logprobs=2)
    if "metrics" in parts:
        metrics()
    if "bad" in parts:
        print("bad requests: %d" % bad_requests(), flush=True)
    if "load" in parts:
        load()
        metrics()
    if "sigterm" in parts:
        sigterm()
    if "queue" in parts:
        queue_and_drain()
    print("%d passed, %d failed" % (passes, failures), flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
