/*
 * http_internal.h - what http.c (daemon, routes, authentication, bodies)
 * and http_complete.c (the completion routes, streaming) share.
 */
#ifndef SL_SERVER_HTTP_INTERNAL_H
#define SL_SERVER_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <stdarg.h>
#include <time.h>

#include <microhttpd.h>

#include "server/http.h"
#include "server/metrics.h"
#include "server/parse.h"

/* libmicrohttpd before 0.9.71 returned int. */
#if MHD_VERSION < 0x00097002
typedef int sl_mhd_result_t;
#else
typedef enum MHD_Result sl_mhd_result_t;
#endif

struct sl_server_http {
    sl_server_http_config_t cfg;
    struct MHD_Daemon *daemon;
    int port;
    time_t started;
    atomic_bool draining;
    atomic_uint_fast64_t next_id;     /* ticket ids                             */
    atomic_uint rotate;               /* breaks ties between equal groups       */
    atomic_uint_fast64_t responses[6];
    atomic_uint_fast64_t queue_full;
    atomic_uint_fast64_t disconnects;
    atomic_int active;                /* requests between arrival and completion */
};

/* Queues a response of STATUS with BODY (malloc'd, taken; NULL sends an
 * empty body) of content TYPE, plus one extra header when NAME is not
 * NULL. Counts it by status class. */
sl_mhd_result_t sl_server_http_send(sl_server_http_t *http, struct MHD_Connection *conn,
                                    int status, const char *type, char *body,
                                    const char *name, const char *value);

/* An OpenAI error response. */
sl_mhd_result_t sl_server_http_error(sl_server_http_t *http, struct MHD_Connection *conn,
                                     const sl_server_error_t *err);

/* Whether the client closed its end (checked while a request waits). */
bool sl_server_http_client_gone(struct MHD_Connection *conn);

/* POST /v1/completions and /v1/chat/completions with BODY ([len]). */
sl_mhd_result_t sl_server_http_complete(sl_server_http_t *http, struct MHD_Connection *conn,
                                        sl_io_endpoint_t endpoint, const char *body,
                                        size_t len);

#endif /* SL_SERVER_HTTP_INTERNAL_H */
