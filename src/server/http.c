/*
 * http.c - the libmicrohttpd daemon: binding, routing, authentication,
 * request bodies, and the small routes (/health, /metrics, /v1/models).
 * The completion routes are in http_complete.c.
 */
#include "config.h"

#include "server/http_internal.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "server/respond.h"

typedef enum {
    SL_ROUTE_NONE = 0,
    SL_ROUTE_COMPLETIONS,
    SL_ROUTE_CHAT,
    SL_ROUTE_MODELS,
    SL_ROUTE_MODEL,       /* /v1/models/NAME */
    SL_ROUTE_HEALTH,
    SL_ROUTE_METRICS,
} sl_route_t;

/* One request's state across the access handler's calls. */
typedef struct sl_server_http_req {
    sl_route_t route;
    sl_server_buf_t body;
    bool too_large;
    size_t discarded;           /* bytes of an oversized body thrown away      */
    bool answered;              /* an early response is queued                 */
} sl_server_http_req_t;

/* Past this much of an oversized body the connection is closed instead of
 * reading on to answer 413: a sender that never stops gets no more time. */
#define SL_SERVER_DISCARD_MAX (8u << 20)

/* How long stopping waits for responses still being written. */
#define SL_SERVER_FLUSH_MS 5000

int sl_server_key_equal(const char *expected, const char *key)
{
    size_t n = strlen(expected), m = key != NULL ? strlen(key) : 0;
    unsigned char diff = n != m;

    /* Every byte of EXPECTED is compared, whatever KEY is. */
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(expected[i] ^ (m > 0 ? key[i % m] : 0));
    return diff == 0;
}

/* ---- responses ------------------------------------------------------------------- */

sl_mhd_result_t sl_server_http_send(sl_server_http_t *h, struct MHD_Connection *c, int status,
                                    const char *type, char *body, const char *name,
                                    const char *value)
{
    struct MHD_Response *r;
    sl_mhd_result_t ret;

    r = MHD_create_response_from_buffer(body != NULL ? strlen(body) : 0, body,
                                        body != NULL ? MHD_RESPMEM_MUST_FREE
                                                     : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    if (type != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (name != NULL)
        MHD_add_response_header(r, name, value);
    if (atomic_load(&h->draining))
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    if (status >= 100 && status < 600)
        atomic_fetch_add(&h->responses[status / 100], 1);
    return ret;
}

sl_mhd_result_t sl_server_http_error(sl_server_http_t *h, struct MHD_Connection *c,
                                     const sl_server_error_t *e)
{
    const char *name = NULL, *value = NULL;

    if (e->status == 401) {
        name = MHD_HTTP_HEADER_WWW_AUTHENTICATE;
        value = "Bearer";
    } else if (e->status == 429 || e->status == 503) {
        name = MHD_HTTP_HEADER_RETRY_AFTER;
        value = "1";
    }
    sl_debug("http: %d %s", e->status, e->message);
    return sl_server_http_send(h, c, e->status, "application/json", sl_server_error_body(e),
                               name, value);
}

bool sl_server_http_client_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct pollfd p;

    if (ci == NULL)
        return false;
    p = (struct pollfd){.fd = ci->connect_fd, .events = POLLRDHUP};
    /* The client sent its whole request and waits: any hang-up is a close. */
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* ---- the small routes ------------------------------------------------------------------ */

static sl_mhd_result_t sl_server_http_health(sl_server_http_t *h, struct MHD_Connection *c)
{
    json_t *groups = json_array();
    bool ok = !atomic_load(&h->draining);
    char *body;

    for (int g = 0; g < h->cfg.num_groups; g++) {
        sl_server_group_t *grp = h->cfg.groups[g];
        bool ready = sl_server_group_usable(grp);
        ok = ok && ready;
        json_array_append_new(groups, json_pack("{s:i, s:b, s:b, s:i}", "dp_group", g, "ready",
                                                ready, "failed", atomic_load(&grp->failed),
                                                "inflight", atomic_load(&grp->inflight)));
    }
    json_t *o = json_pack("{s:s, s:o}", "status",
                          ok ? "ok" : atomic_load(&h->draining) ? "shutting down" : "not ready",
                          "dp_groups", groups);
    body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return sl_server_http_send(h, c, ok ? 200 : 503, "application/json", body, NULL, NULL);
}

static json_t *sl_server_model_json(const sl_server_http_t *h)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:I}", "id", h->cfg.model->name, "object", "model",
                     "created", (json_int_t)h->started, "owned_by", "slinfer", "max_model_len",
                     (json_int_t)h->cfg.model->context);
}

static sl_mhd_result_t sl_server_http_models(sl_server_http_t *h, struct MHD_Connection *c,
                                             const char *url, bool one)
{
    sl_server_error_t e;
    json_t *o;
    char *body;

    if (one) {
        const char *name = url + strlen("/v1/models/");
        if (strcmp(name, h->cfg.model->name) != 0) {
            sl_server_error_set(&e, 404, "model", "model_not_found",
                                "The model `%.200s` does not exist.", name);
            return sl_server_http_error(h, c, &e);
        }
        o = sl_server_model_json(h);
    } else {
        o = json_pack("{s:s, s:[o]}", "object", "list", "data", sl_server_model_json(h));
    }
    body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return sl_server_http_send(h, c, 200, "application/json", body, NULL, NULL);
}

static sl_mhd_result_t sl_server_http_metrics(sl_server_http_t *h, struct MHD_Connection *c)
{
    int n = h->cfg.num_groups;
    sl_server_stats_t *st = calloc((size_t)n, sizeof(*st));
    int *ready = calloc((size_t)n, sizeof(*ready));
    sl_server_http_counts_t counts = {0};
    char *text = NULL;

    for (int g = 0; st != NULL && ready != NULL && g < n; g++) {
        sl_server_group_stats(h->cfg.groups[g], &st[g]);
        ready[g] = sl_server_group_usable(h->cfg.groups[g]);
    }
    for (int k = 0; k < 6; k++)
        counts.responses[k] = atomic_load(&h->responses[k]);
    counts.rejected_queue_full = atomic_load(&h->queue_full);
    counts.disconnects = atomic_load(&h->disconnects);
    if (st != NULL && ready != NULL)
        sl_server_metrics_render(st, ready, n, &counts, h->cfg.model->name, &text);
    free(st);
    free(ready);
    if (text == NULL) {
        sl_server_error_t e;
        sl_server_error_set(&e, 500, NULL, NULL, "out of memory");
        return sl_server_http_error(h, c, &e);
    }
    return sl_server_http_send(h, c, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                               NULL, NULL);
}

/* ---- routing ------------------------------------------------------------------------ */

/* The route of URL, and the method it wants in *method_p. */
static sl_route_t sl_server_http_route(const char *url, const char **method_p)
{
    static const struct {
        const char *url, *method;
        sl_route_t route;
    } routes[] = {
        {"/v1/completions", "POST", SL_ROUTE_COMPLETIONS},
        {"/v1/chat/completions", "POST", SL_ROUTE_CHAT},
        {"/v1/models", "GET", SL_ROUTE_MODELS},
        {"/health", "GET", SL_ROUTE_HEALTH},
        {"/metrics", "GET", SL_ROUTE_METRICS},
    };

    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(url, routes[i].url) == 0) {
            *method_p = routes[i].method;
            return routes[i].route;
        }
    }
    if (strncmp(url, "/v1/models/", 11) == 0 && url[11] != '\0') {
        *method_p = "GET";
        return SL_ROUTE_MODEL;
    }
    return SL_ROUTE_NONE;
}

/* The first call for a request: route, method, key, size. Returns true with
 * an error response queued when the request is refused before its body. */
static bool sl_server_http_screen(sl_server_http_t *h, struct MHD_Connection *c,
                                  sl_server_http_req_t *rq, const char *url, const char *method,
                                  sl_mhd_result_t *ret_p)
{
    const char *want = NULL;
    sl_server_error_t e;

    rq->route = sl_server_http_route(url, &want);
    if (rq->route == SL_ROUTE_NONE) {
        sl_server_error_set(&e, 404, NULL, "not_found", "Unknown request URL: %s %.200s. "
                            "Routes: POST /v1/completions, POST /v1/chat/completions, GET "
                            "/v1/models, GET /health, GET /metrics.", method, url);
    } else if (strcmp(method, want) != 0 &&
               !(strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0)) {
        sl_server_error_set(&e, 405, NULL, "method_not_allowed", "%s %.200s: use %s", method,
                            url, want);
        *ret_p = sl_server_http_send(h, c, 405, "application/json", sl_server_error_body(&e),
                                     MHD_HTTP_HEADER_ALLOW, want);
        return true;
    } else if (rq->route != SL_ROUTE_HEALTH && h->cfg.api_key != NULL) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_AUTHORIZATION);
        const char *key = auth != NULL && strncmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
        if (sl_server_key_equal(h->cfg.api_key, key))
            return false;
        sl_server_error_set(&e, 401, NULL, "invalid_api_key",
                            key == NULL ? "You didn't provide an API key: send \"Authorization: "
                                          "Bearer KEY\"."
                                        : "Incorrect API key provided.");
    } else {
        return false;
    }
    *ret_p = sl_server_http_error(h, c, &e);
    return true;
}

/* A Content-Length over the limit is refused before the body is read. */
static bool sl_server_http_oversized(sl_server_http_t *h, struct MHD_Connection *c)
{
    const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_CONTENT_LENGTH);
    char *end;

    if (len == NULL)
        return false;
    errno = 0;
    unsigned long long n = strtoull(len, &end, 10);
    return errno != 0 || *end != '\0' || n > h->cfg.max_body;
}

static sl_mhd_result_t sl_server_http_too_large(sl_server_http_t *h, struct MHD_Connection *c)
{
    sl_server_error_t e;

    sl_server_error_set(&e, 413, NULL, "request_too_large",
                        "The request body is larger than the server's limit of %zu bytes "
                        "(--max-body-size).", h->cfg.max_body);
    return sl_server_http_error(h, c, &e);
}

static sl_mhd_result_t sl_server_http_access(void *cls, struct MHD_Connection *c,
                                             const char *url, const char *method,
                                             const char *version, const char *upload_data,
                                             size_t *upload_size, void **con_cls)
{
    sl_server_http_t *h = cls;
    sl_server_http_req_t *rq = *con_cls;
    sl_mhd_result_t ret;

    (void)version;
    if (rq == NULL) {
        if ((rq = calloc(1, sizeof(*rq))) == NULL)
            return MHD_NO;
        *con_cls = rq;
        atomic_fetch_add(&h->active, 1);
        if (sl_server_http_screen(h, c, rq, url, method, &ret)) {
            rq->answered = true;
            return ret;
        }
        if ((rq->route == SL_ROUTE_COMPLETIONS || rq->route == SL_ROUTE_CHAT) &&
            sl_server_http_oversized(h, c)) {
            rq->answered = true;
            return sl_server_http_too_large(h, c);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->answered)
            return MHD_YES;
        if (rq->too_large || rq->body.len + n > h->cfg.max_body) {
            rq->too_large = true;
            rq->discarded += n;
            return rq->discarded > SL_SERVER_DISCARD_MAX ? MHD_NO : MHD_YES;
        }
        return sl_server_buf_add(&rq->body, upload_data, n) == SL_OK ? MHD_YES : MHD_NO;
    }
    if (rq->answered)
        return MHD_YES;
    rq->answered = true;
    if (rq->too_large)
        return sl_server_http_too_large(h, c);
    switch (rq->route) {
    case SL_ROUTE_COMPLETIONS:
        return sl_server_http_complete(h, c, SL_IO_ENDPOINT_COMPLETIONS,
                                       rq->body.data != NULL ? rq->body.data : "", rq->body.len);
    case SL_ROUTE_CHAT:
        return sl_server_http_complete(h, c, SL_IO_ENDPOINT_CHAT_COMPLETIONS,
                                       rq->body.data != NULL ? rq->body.data : "", rq->body.len);
    case SL_ROUTE_MODELS:
    case SL_ROUTE_MODEL:
        return sl_server_http_models(h, c, url, rq->route == SL_ROUTE_MODEL);
    case SL_ROUTE_HEALTH:
        return sl_server_http_health(h, c);
    case SL_ROUTE_METRICS:
        return sl_server_http_metrics(h, c);
    default:
        return MHD_NO;
    }
}

static void sl_server_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                                     enum MHD_RequestTerminationCode toe)
{
    sl_server_http_t *h = cls;
    sl_server_http_req_t *rq = *con_cls;

    (void)toe;
    if (rq != NULL) {
        sl_server_buf_free(&rq->body);
        free(rq);
        *con_cls = NULL;
        atomic_fetch_sub(&h->active, 1);
    }
    /* A generation may keep a connection silent for long; the idle timeout
     * (switched off meanwhile, http_complete.c) counts again from here. */
    MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
                              (unsigned)h->cfg.idle_timeout);
}

/* ---- the daemon ------------------------------------------------------------------------ */

static void sl_server_http_log(void *cls, const char *format, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof(line), format, ap);
    line[strcspn(line, "\n")] = '\0';
    sl_debug("libmicrohttpd: %s", line);
}

sl_status_t sl_server_http_start(const sl_server_http_config_t *cfg, sl_server_http_t **http_p)
{
    sl_server_http_t *h = calloc(1, sizeof(*h));
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    char port[16];
    int rc;

    if (h == NULL) {
        sl_error("out of memory for the HTTP server");
        return SL_ERR_NO_MEMORY;
    }
    h->cfg = *cfg;
    h->started = time(NULL);
    atomic_init(&h->draining, false);
    atomic_init(&h->next_id, 1);
    atomic_init(&h->active, 0);
    snprintf(port, sizeof(port), "%d", cfg->port);
    if ((rc = getaddrinfo(cfg->host, port, &hints, &ai)) != 0) {
        sl_error("--host %s: %s", cfg->host, gai_strerror(rc));
        free(h);
        return SL_ERR_INVALID_ARG;
    }
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, sl_server_http_access, h,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_NOTIFY_COMPLETED, sl_server_http_completed, h,
        MHD_OPTION_EXTERNAL_LOGGER, sl_server_http_log, h,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->daemon == NULL) {
        sl_error("cannot listen on %s port %d: %s (in use, or not an address of this host?)",
                 cfg->host, cfg->port, strerror(errno));
        free(h);
        return SL_ERR_IO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di != NULL ? di->port : cfg->port;
    *http_p = h;
    return SL_OK;
}

int sl_server_http_port(const sl_server_http_t *h)
{
    return h->port;
}

int sl_server_http_inflight(const sl_server_http_t *h)
{
    int n = 0;

    for (int g = 0; g < h->cfg.num_groups; g++)
        n += atomic_load(&h->cfg.groups[g]->inflight);
    return n;
}

void sl_server_http_quiesce(sl_server_http_t *h)
{
    atomic_store(&h->draining, true);
    MHD_socket fd = MHD_quiesce_daemon(h->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

void sl_server_http_stop(sl_server_http_t *h)
{
    if (h == NULL)
        return;
    atomic_store(&h->draining, true);
    /* Every ticket is done by now; let the responses finish writing (the
     * last events of a stream, an error body) before the sockets close. A
     * client that does not read gets SL_SERVER_FLUSH_MS. */
    for (int ms = 0; atomic_load(&h->active) > 0 && ms < SL_SERVER_FLUSH_MS; ms += 10)
        usleep(10000);
    MHD_stop_daemon(h->daemon);
    free(h);
}
