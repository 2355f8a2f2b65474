/*
 * server.h - `slinfer serve`: every rank runs the engine of one DP group
 * (the CPU backend runs TP as threads of the process), and rank 0 answers
 * an OpenAI-compatible HTTP API for all of them.
 *
 *   rank 0   the HTTP server (http.h); its own engine thread (group 0); for
 *            every other rank a remote group (remote.c) over the DP channel
 *   rank r   its engine thread (group r), served to rank 0 over the DP
 *            channel (worker.c) until rank 0 says shutdown
 *
 * SIGTERM or SIGINT on rank 0: stop accepting connections (requests that
 * still arrive on open ones get 503), let the requests in flight finish for
 * up to the shutdown timeout (a second signal cuts it short), fail what is
 * left with 503, stop every group, exit 0. Other ranks ignore the signal
 * (srun sends it to every task) and stop when rank 0 tells them.
 */
#ifndef SL_SERVER_SERVER_H
#define SL_SERVER_SERVER_H

#include <stddef.h>

#include "job/job.h"
#include "job/runtime.h"

typedef struct sl_server_options {
    sl_runtime_options_t runtime;   /* the model and the engine                   */
    const char *served_name;        /* NULL: the model folder's last component    */
    const char *host;               /* address to bind (127.0.0.1)                */
    int port;                       /* (30000, SGLang's; 0: any free port)        */
    const char *api_key;            /* NULL: no authentication                    */
    size_t max_body;                /* request body bytes at most (8 MiB)         */
    int max_queue;                  /* requests in flight at most (1024)          */
    double shutdown_timeout;        /* seconds to drain on SIGTERM (30)           */
    int idle_timeout;               /* seconds a connection may stay silent (60)  */
    int max_connections;            /* open connections at most (1024)            */
} sl_server_options_t;

void sl_server_options_init(sl_server_options_t *options);

/* Runs this rank's part of the server until it is told to stop; returns the
 * process exit status (0, or 1 after a failure, the job then aborted). */
int sl_server_serve(sl_job_t *job, const sl_server_options_t *options);

#endif /* SL_SERVER_SERVER_H */
