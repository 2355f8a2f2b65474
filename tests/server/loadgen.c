/*
 * loadgen.c - a bounded load test for `slinfer serve`, from a second
 * process, over plain sockets and HTTP/1.1 (no client library between the
 * test and the server's bytes).
 *
 *   loadgen --port N [--host ADDR] [--requests 2000] [--concurrency 32]
 *           [--stream 0.5] [--chat 0.3] [--disconnect 0.1] [--max-tokens 16]
 *           [--api-key KEY] [--model NAME]
 *
 * CONCURRENCY threads share REQUESTS requests. Each request is a completion
 * or (a --chat fraction) a chat completion with its own prompt, seed and
 * max_tokens; a --stream fraction streams, and a --disconnect fraction of
 * the streaming ones hangs up after the first event (the server must abort
 * them). Connections are kept alive between requests.
 *
 * Every response is checked strictly: the status line, the headers, the
 * body's framing (Content-Length, or chunked), and the JSON -- a completion
 * object with its choices, finish reasons and usage within max_tokens, or a
 * stream of "data: {chunk}" events ending with "data: [DONE]". Prints one
 * JSON line: counts, requests/s, p50 and p99 latency. Exit status 0 only
 * when every request got 200 and a well-formed response.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef struct lg_config {
    const char *host, *api_key, *model;
    int port, requests, concurrency, max_tokens;
    double stream, chat, disconnect;
} lg_config_t;

static lg_config_t cfg = {.host = "127.0.0.1", .requests = 2000, .concurrency = 32,
                          .max_tokens = 16, .stream = 0.5, .chat = 0.3, .disconnect = 0.1};

static atomic_int next_request;
static atomic_int n_ok, n_5xx, n_other, n_malformed, n_disconnected, n_conn_errors;
static double *latencies; /* [requests] ms; NaN where none */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* splitmix64: the request's choices depend only on its number. */
static uint64_t mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static double frac(uint64_t k, uint64_t salt)
{
    return (double)(mix(k * 4 + salt) >> 11) / 9007199254740992.0;
}

static void report(int k, const char *what, const char *detail)
{
    pthread_mutex_lock(&report_lock);
    fprintf(stderr, "loadgen: request %d: %s: %.300s\n", k, what, detail != NULL ? detail : "");
    pthread_mutex_unlock(&report_lock);
}

/* ---- one connection ---------------------------------------------------------------- */

typedef struct lg_conn {
    int fd;
    char buf[65536];
    size_t len, off;   /* buffered bytes [off, len) */
} lg_conn_t;

static int lg_connect(lg_conn_t *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port)};
    struct timeval tv = {.tv_sec = 120};
    int on = 1;

    c->len = c->off = 0;
    if (inet_pton(AF_INET, cfg.host, &a.sin_addr) != 1)
        return -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void lg_close(lg_conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static int lg_send(lg_conn_t *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Makes at least one more byte available; -1 at the end of the stream. */
static int lg_fill(lg_conn_t *c)
{
    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->len == sizeof(c->buf))
        return -1;
    ssize_t k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
    if (k <= 0)
        return -1;
    c->len += (size_t)k;
    return 0;
}

/* One CRLF-terminated line into LINE (without the CRLF); -1 when malformed. */
static int lg_line(lg_conn_t *c, char *line, size_t size)
{
    for (;;) {
        char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);
        if (nl != NULL) {
            size_t n = (size_t)(nl - (c->buf + c->off));
            if (n == 0 || nl[-1] != '\r' || n - 1 >= size)
                return -1;
            memcpy(line, c->buf + c->off, n - 1);
            line[n - 1] = '\0';
            c->off += n + 1;
            return 0;
        }
        if (lg_fill(c) != 0)
            return -1;
    }
}

static int lg_bytes(lg_conn_t *c, char *dst, size_t n)
{
    while (c->len - c->off < n) {
        size_t have = c->len - c->off;
        memcpy(dst, c->buf + c->off, have);
        dst += have;
        n -= have;
        c->off = c->len;
        if (lg_fill(c) != 0)
            return -1;
    }
    memcpy(dst, c->buf + c->off, n);
    c->off += n;
    return 0;
}

typedef struct lg_response {
    int status;
    bool chunked, close;
    long long length;      /* -1: none */
    char type[128];
    char *body;
    size_t body_len;
} lg_response_t;

/* Status line and headers; -1 when malformed. */
static int lg_head(lg_conn_t *c, lg_response_t *r)
{
    char line[8192];

    memset(r, 0, sizeof(*r));
    r->length = -1;
    if (lg_line(c, line, sizeof(line)) != 0 || strncmp(line, "HTTP/1.1 ", 9) != 0 ||
        sscanf(line + 9, "%3d", &r->status) != 1)
        return -1;
    for (;;) {
        if (lg_line(c, line, sizeof(line)) != 0)
            return -1;
        if (line[0] == '\0') /* the end of the head */
            break;
        char *colon = strchr(line, ':');
        if (colon == NULL)
            return -1;
        *colon = '\0';
        const char *v = colon + 1 + strspn(colon + 1, " ");
        if (strcasecmp(line, "Content-Length") == 0)
            r->length = atoll(v);
        else if (strcasecmp(line, "Transfer-Encoding") == 0)
            r->chunked = strcasecmp(v, "chunked") == 0;
        else if (strcasecmp(line, "Connection") == 0)
            r->close = strcasecmp(v, "close") == 0;
        else if (strcasecmp(line, "Content-Type") == 0)
            snprintf(r->type, sizeof(r->type), "%s", v);
    }
    return r->chunked == (r->length >= 0) ? -1 : 0;
}

static int lg_append(lg_response_t *r, size_t n, lg_conn_t *c)
{
    char *p = realloc(r->body, r->body_len + n + 1);
    if (p == NULL)
        return -1;
    r->body = p;
    if (lg_bytes(c, r->body + r->body_len, n) != 0)
        return -1;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

/* The body. With STOP_AFTER_EVENT, returns 1 as soon as one whole SSE event
 * has arrived (the caller hangs up). */
static int lg_body(lg_conn_t *c, lg_response_t *r, bool stop_after_event)
{
    char line[64];

    if (!r->chunked)
        return lg_append(r, (size_t)r->length, c);
    for (;;) {
        unsigned long n;
        char *end;
        if (lg_line(c, line, sizeof(line)) != 0)
            return -1;
        n = strtoul(line, &end, 16);
        if (end == line || (*end != '\0' && *end != ';'))
            return -1;
        if (n == 0) /* the last chunk, then an empty trailer */
            return lg_line(c, line, sizeof(line)) == 0 && line[0] == '\0' ? 0 : -1;
        if (lg_append(r, n, c) != 0 || lg_line(c, line, sizeof(line)) != 0 || line[0] != '\0')
            return -1;
        if (stop_after_event && strstr(r->body, "\n\n") != NULL)
            return 1;
    }
}

/* ---- checks ------------------------------------------------------------------------- */

static bool lg_check_body(int k, const char *body, bool chat, int max_tokens)
{
    json_error_t e;
    json_t *o = json_loads(body, JSON_ALLOW_NUL, &e), *choices, *c, *usage;
    bool ok = false;
    size_t i;

    if (o == NULL) {
        report(k, "body is not JSON", e.text);
        return false;
    }
    const char *object = json_string_value(json_object_get(o, "object"));
    choices = json_object_get(o, "choices");
    usage = json_object_get(o, "usage");
    if (!json_is_string(json_object_get(o, "id")) || object == NULL ||
        strcmp(object, chat ? "chat.completion" : "text_completion") != 0 ||
        json_array_size(choices) != 1 || !json_is_object(usage) ||
        json_integer_value(json_object_get(usage, "completion_tokens")) > max_tokens ||
        json_integer_value(json_object_get(usage, "completion_tokens")) < 1 ||
        json_integer_value(json_object_get(usage, "total_tokens")) !=
            json_integer_value(json_object_get(usage, "prompt_tokens")) +
                json_integer_value(json_object_get(usage, "completion_tokens")))
        goto out;
    json_array_foreach(choices, i, c) {
        const char *f = json_string_value(json_object_get(c, "finish_reason"));
        json_t *text = chat ? json_object_get(json_object_get(c, "message"), "content")
                            : json_object_get(c, "text");
        if (f == NULL || (strcmp(f, "stop") != 0 && strcmp(f, "length") != 0) ||
            !json_is_string(text))
            goto out;
    }
    ok = true;
out:
    if (!ok)
        report(k, "malformed completion", body);
    json_decref(o);
    return ok;
}

/* A whole stream: data events of chunks, one finish reason, then [DONE]. */
static bool lg_check_stream(int k, char *body, bool chat)
{
    int finishes = 0, events = 0;
    bool done = false;
    char *save = NULL;

    if (strncmp(body, "data: ", 6) != 0 || strlen(body) < 2 ||
        strcmp(body + strlen(body) - 2, "\n\n") != 0) {
        report(k, "malformed stream", body);
        return false;
    }
    for (char *ev = strtok_r(body, "\n", &save); ev != NULL; ev = strtok_r(NULL, "\n", &save)) {
        if (done || strncmp(ev, "data: ", 6) != 0) {
            report(k, "malformed event", ev);
            return false;
        }
        if (strcmp(ev + 6, "[DONE]") == 0) {
            done = true;
            continue;
        }
        json_t *o = json_loads(ev + 6, JSON_ALLOW_NUL, NULL);
        json_t *c = json_array_get(json_object_get(o, "choices"), 0);
        const char *obj = json_string_value(json_object_get(o, "object"));
        /* a chunk of one choice, or the usage chunk of no choices */
        bool ok = o != NULL && obj != NULL &&
                  strcmp(obj, chat ? "chat.completion.chunk" : "text_completion") == 0 &&
                  (c != NULL ? (chat ? json_is_object(json_object_get(c, "delta"))
                                     : json_is_string(json_object_get(c, "text")))
                             : json_is_object(json_object_get(o, "usage")));
        finishes += json_is_string(json_object_get(c, "finish_reason"));
        json_decref(o);
        if (!ok) {
            report(k, "malformed chunk", ev + 6);
            return false;
        }
        events++;
    }
    if (!done || finishes != 1 || events < 1) {
        report(k, "stream without exactly one finish and [DONE]", "");
        return false;
    }
    return true;
}

/* ---- one request -------------------------------------------------------------------- */

static void lg_request(lg_conn_t *c, int k)
{
    bool chat = frac((uint64_t)k, 1) < cfg.chat, stream = frac((uint64_t)k, 2) < cfg.stream;
    bool hang_up = stream && frac((uint64_t)k, 3) < cfg.disconnect;
    /* A stream the client will hang up on runs long enough to be aborted. */
    int max_tokens = hang_up ? 1000 : 1 + (int)(mix((uint64_t)k) % (uint64_t)cfg.max_tokens);
    char body[1024], head[1024], model[160] = "";
    lg_response_t r;
    int n, got;

    if (cfg.model != NULL)
        snprintf(model, sizeof(model), "\"model\":\"%s\",", cfg.model);
    if (chat)
        n = snprintf(body, sizeof(body), "{%s\"messages\":[{\"role\":\"user\",\"content\":"
                     "\"Question %d: how are you?\"}],\"max_tokens\":%d,\"seed\":%d,"
                     "\"ignore_eos\":%s,\"stream\":%s}", model, k, max_tokens, k,
                     hang_up ? "true" : "false", stream ? "true" : "false");
    else
        n = snprintf(body, sizeof(body), "{%s\"prompt\":\"Request %d says hello to the server "
                     "and\",\"max_tokens\":%d,\"seed\":%d,\"temperature\":0.8,"
                     "\"ignore_eos\":%s,\"stream\":%s}", model, k, max_tokens, k,
                     hang_up ? "true" : "false", stream ? "true" : "false");
    int h = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                     "application/json\r\nContent-Length: %d\r\n%s%s%s\r\n",
                     chat ? "/v1/chat/completions" : "/v1/completions", cfg.host, n,
                     cfg.api_key != NULL ? "Authorization: Bearer " : "",
                     cfg.api_key != NULL ? cfg.api_key : "", cfg.api_key != NULL ? "\r\n" : "");
    double t0 = now_s();
    for (int attempt = 0;; attempt++) {
        if (c->fd < 0 && lg_connect(c) != 0) {
            atomic_fetch_add(&n_conn_errors, 1);
            report(k, "cannot connect", strerror(errno));
            return;
        }
        if (lg_send(c, head, (size_t)h) == 0 && lg_send(c, body, (size_t)n) == 0 &&
            lg_head(c, &r) == 0)
            break;
        /* A kept-alive connection the server closed meanwhile: once more. */
        lg_close(c);
        if (attempt == 1) {
            atomic_fetch_add(&n_malformed, 1);
            report(k, "no well-formed response head", "");
            return;
        }
    }
    got = lg_body(c, &r, hang_up);
    if (got < 0) {
        atomic_fetch_add(&n_malformed, 1);
        report(k, "malformed body framing", r.body);
        lg_close(c);
    } else if (got == 1) {
        atomic_fetch_add(&n_disconnected, 1);
        lg_close(c); /* mid-stream: the server must abort the request */
    } else if (r.status >= 500) {
        atomic_fetch_add(&n_5xx, 1);
        report(k, "server error", r.body);
    } else if (r.status != 200) {
        atomic_fetch_add(&n_other, 1);
        report(k, "unexpected status", r.body);
    } else if (stream ? strncmp(r.type, "text/event-stream", 17) == 0 &&
                            lg_check_stream(k, r.body, chat)
                      : strncmp(r.type, "application/json", 16) == 0 &&
                            lg_check_body(k, r.body, chat, max_tokens)) {
        atomic_fetch_add(&n_ok, 1);
        latencies[k] = 1e3 * (now_s() - t0);
    } else {
        atomic_fetch_add(&n_malformed, 1);
    }
    if (r.close)
        lg_close(c);
    free(r.body);
}

static void *lg_worker(void *arg)
{
    lg_conn_t *c = calloc(1, sizeof(*c));
    int k;

    (void)arg;
    if (c == NULL)
        return NULL;
    c->fd = -1;
    while ((k = atomic_fetch_add(&next_request, 1)) < cfg.requests)
        lg_request(c, k);
    lg_close(c);
    free(c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *f = argv[i], *v = argv[i + 1];
        if (strcmp(f, "--host") == 0) cfg.host = v;
        else if (strcmp(f, "--port") == 0) cfg.port = atoi(v);
        else if (strcmp(f, "--requests") == 0) cfg.requests = atoi(v);
        else if (strcmp(f, "--concurrency") == 0) cfg.concurrency = atoi(v);
        else if (strcmp(f, "--stream") == 0) cfg.stream = atof(v);
        else if (strcmp(f, "--chat") == 0) cfg.chat = atof(v);
        else if (strcmp(f, "--disconnect") == 0) cfg.disconnect = atof(v);
        else if (strcmp(f, "--max-tokens") == 0) cfg.max_tokens = atoi(v);
        else if (strcmp(f, "--api-key") == 0) cfg.api_key = v;
        else if (strcmp(f, "--model") == 0) cfg.model = v;
        else {
            fprintf(stderr, "loadgen: unknown flag %s\n", f);
            return 2;
        }
    }
    if (cfg.port <= 0 || cfg.requests < 1 || cfg.concurrency < 1 || cfg.max_tokens < 1) {
        fprintf(stderr, "usage: loadgen --port N [--requests N] [--concurrency N] ...\n");
        return 2;
    }
    latencies = malloc((size_t)cfg.requests * sizeof(*latencies));
    pthread_t *threads = calloc((size_t)cfg.concurrency, sizeof(*threads));
    if (latencies == NULL || threads == NULL)
        return 1;
    for (int i = 0; i < cfg.requests; i++)
        latencies[i] = -1;
    double t0 = now_s();
    for (int i = 0; i < cfg.concurrency; i++)
        pthread_create(&threads[i], NULL, lg_worker, NULL);
    for (int i = 0; i < cfg.concurrency; i++)
        pthread_join(threads[i], NULL);
    double elapsed = now_s() - t0;

    int m = 0;
    for (int i = 0; i < cfg.requests; i++)
        if (latencies[i] >= 0)
            latencies[m++] = latencies[i];
    qsort(latencies, (size_t)m, sizeof(*latencies), cmp_double);
    double p50 = m ? latencies[(m - 1) / 2] : 0, p99 = m ? latencies[(m * 99 - 1) / 100] : 0;
    printf("{\"requests\": %d, \"ok\": %d, \"disconnected\": %d, \"status_5xx\": %d, "
           "\"status_other\": %d, \"malformed\": %d, \"connect_errors\": %d, "
           "\"seconds\": %.3f, \"requests_per_s\": %.1f, \"p50_ms\": %.1f, \"p99_ms\": %.1f}\n",
           cfg.requests, n_ok, n_disconnected, n_5xx, n_other, n_malformed, n_conn_errors,
           elapsed, cfg.requests / elapsed, p50, p99);
    free(latencies);
    free(threads);
    return n_ok + n_disconnected == cfg.requests ? 0 : 1;
}
