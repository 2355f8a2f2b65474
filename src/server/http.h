/*
 * http.h - the OpenAI-compatible HTTP front end (libmicrohttpd).
 *
 * Routes: POST /v1/completions, POST /v1/chat/completions (stream: true as
 * Server-Sent Events), GET /v1/models[/NAME], GET /health, GET /metrics.
 * Unknown routes are 404, a known route with another method 405, all in
 * OpenAI's error shape.
 *
 * Safety: it binds where it is told (the command's default is 127.0.0.1);
 * with an API key every route but /health needs "Authorization: Bearer KEY"
 * (compared in constant time); a body over max_body is 413 (from its
 * Content-Length before it is read, or as it arrives); more than max_queue
 * requests in flight give 429 with Retry-After; a connection idle for
 * idle_timeout seconds is closed (slow senders); no route touches a file.
 *
 * Threads: libmicrohttpd runs one thread per connection. A request's thread
 * parses, tokenizes, picks the DP group with the fewest requests in flight,
 * submits a ticket and waits on it -- for the end, or, when streaming, for
 * each delta, which it writes as events. While it waits it watches its
 * socket: a client that closes cancels the ticket, and the engine aborts
 * the request (its KV blocks are freed) before its next step.
 */
#ifndef SL_SERVER_HTTP_H
#define SL_SERVER_HTTP_H

#include <stddef.h>

#include "core/status.h"
#include "server/group.h"
#include "server/prompt.h"

typedef struct sl_server_http_config {
    const char *host;            /* address to bind (numeric or a name)          */
    int port;                    /* 0: any free port (sl_server_http_port says)  */
    const char *api_key;         /* NULL: no authentication                      */
    size_t max_body;             /* bytes                                        */
    int max_queue;               /* requests in flight at most                   */
    int idle_timeout;            /* seconds a connection may stay silent         */
    int max_connections;
    const sl_server_model_t *model;
    sl_server_group_t **groups;  /* [num_groups] DP groups, index = group number */
    int num_groups;
} sl_server_http_config_t;

typedef struct sl_server_http sl_server_http_t;

/* Binds and starts serving (CONFIG and what it points to must outlive the
 * server). Logs and returns SL_ERR_IO when the address cannot be bound. */
sl_status_t sl_server_http_start(const sl_server_http_config_t *config,
                                 sl_server_http_t **http_p);

/* The port it listens on. */
int sl_server_http_port(const sl_server_http_t *http);

/* Requests in flight in every group. */
int sl_server_http_inflight(const sl_server_http_t *http);

/* Stops accepting connections; requests that still arrive on open
 * connections get 503. In-flight requests go on. */
void sl_server_http_quiesce(sl_server_http_t *http);

/* Closes every connection and frees the server (tickets must be done or
 * failed first, or their threads wait). NULL is allowed. */
void sl_server_http_stop(sl_server_http_t *http);

/* Whether KEY (NUL-terminated, may be NULL) equals EXPECTED, in a time that
 * depends only on EXPECTED's length. */
int sl_server_key_equal(const char *expected, const char *key);

#endif /* SL_SERVER_HTTP_H */
