/* serve.c - a rank's part of `slinfer serve`; see server.h. */
#include "config.h"

#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "server/channel.h"
#include "server/http.h"

#define SL_SERVER_POLL_MS 200

/* Signals reach the main thread through a pipe: poll() wakes on it. */
static int sl_server_signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t sl_server_signals;

static void sl_server_on_signal(int sig)
{
    int saved = errno;
    char byte = (char)sig;

    sl_server_signals++;
    if (sl_server_signal_pipe[1] >= 0 && write(sl_server_signal_pipe[1], &byte, 1) < 0) {
        /* the pipe is full: enough wake-ups are pending */
    }
    errno = saved;
}

static sl_status_t sl_server_signals_install(void)
{
    struct sigaction sa = {.sa_handler = sl_server_on_signal};

    if (pipe2(sl_server_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        sl_error("serve: cannot create a pipe for signals: %s", strerror(errno));
        return SL_ERR_IO;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* A client that hangs up mid-write must not kill the server. */
    signal(SIGPIPE, SIG_IGN);
    return SL_OK;
}

static void sl_server_signals_remove(void)
{
    /* srun's signal reaches every node at its own moment: one that comes
     * after this rank has stopped must not turn its clean exit into a kill. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    for (int i = 0; i < 2; i++) {
        if (sl_server_signal_pipe[i] >= 0)
            close(sl_server_signal_pipe[i]);
        sl_server_signal_pipe[i] = -1;
    }
}

/* Waits up to MS for a signal; returns how many have arrived in all. */
static int sl_server_wait_signal(int ms)
{
    struct pollfd p = {.fd = sl_server_signal_pipe[0], .events = POLLIN};
    char buf[16];

    if (poll(&p, 1, ms) > 0)
        while (read(sl_server_signal_pipe[0], buf, sizeof(buf)) > 0)
            ;
    return (int)sl_server_signals;
}

void sl_server_options_init(sl_server_options_t *o)
{
    memset(o, 0, sizeof(*o));
    sl_runtime_options_init(&o->runtime);
    o->host = "127.0.0.1";
    o->port = 30000;
    o->max_body = 8u << 20;
    o->max_queue = 1024;
    o->shutdown_timeout = 30;
    o->idle_timeout = 60;
    o->max_connections = 1024;
}

/* The model name clients use: --served-model-name, else the folder's name. */
static const char *sl_server_name(const sl_server_options_t *o, char *buf, size_t size)
{
    size_t n;

    if (o->served_name != NULL)
        return o->served_name;
    snprintf(buf, size, "%s", o->runtime.model_dir);
    while ((n = strlen(buf)) > 1 && buf[n - 1] == '/')
        buf[n - 1] = '\0';
    const char *slash = strrchr(buf, '/');
    return slash != NULL && slash[1] != '\0' ? slash + 1 : buf;
}

/* Rank 0: until a signal, then drain and stop. Returns the exit status. */
static int sl_server_head(const sl_server_options_t *o, sl_runtime_t *rt,
                          sl_server_group_t **groups, int num_groups)
{
    char namebuf[256];
    sl_server_model_t model = {
        .name = sl_server_name(o, namebuf, sizeof(namebuf)), .tok = rt->tok, .tpl = rt->chat,
        .vocab = rt->backend->limits.vocab_size, .context = rt->model->config->max_position,
        .block_size = o->runtime.page_size, .num_blocks = rt->num_blocks,
    };
    sl_server_http_config_t hc = {
        .host = o->host, .port = o->port, .api_key = o->api_key, .max_body = o->max_body,
        .max_queue = o->max_queue, .idle_timeout = o->idle_timeout,
        .max_connections = o->max_connections, .model = &model, .groups = groups,
        .num_groups = num_groups,
    };
    sl_server_http_t *http;
    int status = 0;

    if (sl_server_http_start(&hc, &http) != SL_OK)
        return 1;
    sl_info("serving %s on http://%s:%d with %d DP group(s) of TP %d%s", model.name, o->host,
            sl_server_http_port(http), num_groups, rt->model->tp,
            o->api_key != NULL ? "; an API key is required" : "");
    if (o->api_key == NULL && strcmp(o->host, "127.0.0.1") != 0 &&
        strcmp(o->host, "localhost") != 0 && strcmp(o->host, "::1") != 0)
        sl_warn("serve: listening on %s without --api-key: anyone who reaches this address "
                "can use the model", o->host);

    /* (a signal during the model load counts too) */
    int seen = 0;
    while (sl_server_wait_signal(SL_SERVER_POLL_MS) == seen) {
        if (atomic_load(&groups[0]->failed)) {
            sl_error("serve: the engine of DP group 0 failed; stopping");
            status = 1;
            break;
        }
    }
    /* Drain: no new connections; in-flight requests finish or time out. */
    sl_server_http_quiesce(http);
    seen = sl_server_signals;
    double deadline = sl_time_now() + o->shutdown_timeout;
    int left = sl_server_http_inflight(http);
    if (status == 0)
        sl_info("serve: stopping; draining %d request(s) for up to %g s", left,
                o->shutdown_timeout);
    while ((left = sl_server_http_inflight(http)) > 0 && sl_time_now() < deadline &&
           sl_server_signals == seen)
        sl_server_wait_signal(50);
    if (left > 0)
        sl_warn("serve: %d request(s) still running after the drain; they fail with 503", left);
    for (int g = num_groups - 1; g >= 0; g--)
        sl_server_group_stop(groups[g]);
    sl_server_http_stop(http);
    sl_info("serve: stopped");
    return status;
}

/* A follower of a TP group across processes: runs its leader's steps until
 * the leader's engine stops. Returns the exit status. */
static int sl_server_follow(sl_job_t *job, const sl_runtime_options_t *o)
{
    sl_runtime_t *rt = NULL;

    if (sl_runtime_open(o, &rt) != SL_OK)
        sl_job_abort(job, 1, "serve: the model could not be opened");
    if (sl_runtime_follow(rt) != SL_OK)
        sl_job_abort(job, 1, "serve: following the TP group's leader failed");
    sl_runtime_close(rt);
    sl_tp_link_close(o->link);
    sl_server_signals_remove();
    return 0;
}

int sl_server_serve(sl_job_t *job, const sl_server_options_t *o)
{
    int rank = sl_boot_rank(job->boot), size = sl_boot_size(job->boot), status = 1;
    sl_server_options_t opt = *o;
    sl_runtime_t *rt = NULL;
    sl_server_group_t **groups = NULL;
    sl_span_t span;
    int *fds = NULL, fd = -1;

    if (sl_server_signals_install() != SL_OK)
        sl_job_abort(job, 1, "serve: cannot handle signals");
    if (sl_runtime_span(&opt.runtime, job, &span) != SL_OK)
        sl_job_abort(job, 1, "serve: the TP groups cannot be laid out");
    /* Every rank joins the channel before loading, so nobody waits for the
     * slowest load to connect. */
    if (size > 1 && sl_server_channel_setup(job->boot, span.leader, &fds, &fd) != SL_OK)
        sl_job_abort(job, 1, "serve: the DP channel could not be set up");
    if (!span.leader)
        return sl_server_follow(job, &opt.runtime);
    /* Inter-token latencies need every token's time. */
    opt.runtime.engine.record_token_times = true;
    if (sl_runtime_open(&opt.runtime, &rt) != SL_OK)
        sl_job_abort(job, 1, "serve: the model could not be opened");
    if ((groups = calloc((size_t)(rank == 0 ? span.dp : 1), sizeof(*groups))) == NULL ||
        sl_server_local_create(span.dp_rank, rt->engine, &groups[0]) != SL_OK)
        sl_job_abort(job, 1, "serve: the engine thread could not start");

    if (rank == 0) {
        for (int g = 1; g < span.dp; g++) {
            int r = g * span.per_group; /* the group's leader */
            if (sl_server_remote_create(g, r, sl_boot_hostname_of(job->boot, r), fds[r],
                                        &groups[g]) != SL_OK)
                sl_job_abort(job, 1, "serve: the DP channel could not start");
        }
        status = sl_server_head(&opt, rt, groups, span.dp);
        if (status != 0 && size > 1)
            sl_job_abort(job, status, "serve: rank 0 failed");
    } else {
        status = sl_server_worker_run(fd, groups[0]) == SL_OK ? 0 : 1;
    }
    for (int g = 0; g < (rank == 0 ? span.dp : 1); g++)
        sl_server_group_destroy(groups[g]);
    free(groups);
    free(fds);
    sl_runtime_close(rt);
    sl_tp_link_close(opt.runtime.link);
    sl_server_signals_remove();
    return status;
}
