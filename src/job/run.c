/* run.c - see run.h. */
#include "config.h"

#include "job/run.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/log.h"
#include "core/version.h"
#include "engine/params_json.h"
#include "io/io.h"
#include "model/fingerprint.h"

/* Requests kept queued in the engine beyond those it runs: enough that the
 * scheduler always has prompts to prefill while others decode. */
#define SL_RUN_QUEUE_FACTOR 2

static volatile sig_atomic_t sl_run_stop_signal;

static void sl_run_on_signal(int sig)
{
    sl_run_stop_signal = sig;
}

void sl_run_options_init(sl_run_options_t *o)
{
    memset(o, 0, sizeof(*o));
    sl_runtime_options_init(&o->runtime);
    sl_sampling_params_init(&o->defaults);
    o->commit_interval = 5.0;
    o->progress_interval = 30.0;
}

/* ---- the clock: the engine's is monotonic, the file's is the epoch ----- */

typedef struct sl_run_clock {
    double mono0, epoch0;
} sl_run_clock_t;

static void sl_run_clock_init(sl_run_clock_t *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->epoch0 = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    c->mono0 = sl_time_now();
}

static double sl_run_epoch(const sl_run_clock_t *c, double mono)
{
    return mono > 0 ? c->epoch0 + (mono - c->mono0) : NAN;
}

/* ---- the state of one DP group --------------------------------------------- */

typedef struct sl_run_group {
    const sl_run_options_t *o;
    sl_job_t *job;
    sl_runtime_t *rt;
    sl_io_reader_t *reader;
    sl_io_writer_t *writer;
    sl_run_clock_t clock;
    sl_io_request_t **inflight; /* [cap] by slot; engine id = record index */
    size_t ninflight, cap;
    int eof;
    int64_t committed_at_start, total;
    int64_t done, errors, tokens; /* this run, committed or pending */
    uint64_t step_counter;
} sl_run_group_t;

static sl_status_t sl_run_track(sl_run_group_t *g, sl_io_request_t *req)
{
    if (g->ninflight == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 64;
        sl_io_request_t **more = realloc(g->inflight, cap * sizeof(*more));
        if (more == NULL) {
            sl_error("run: out of memory tracking requests");
            return SL_ERR_NO_MEMORY;
        }
        g->inflight = more;
        g->cap = cap;
    }
    g->inflight[g->ninflight++] = req;
    return SL_OK;
}

/* Removes and returns the request of record INDEX. */
static sl_io_request_t *sl_run_untrack(sl_run_group_t *g, int64_t index)
{
    for (size_t i = 0; i < g->ninflight; i++) {
        if (g->inflight[i]->index == index) {
            sl_io_request_t *req = g->inflight[i];
            g->inflight[i] = g->inflight[--g->ninflight];
            return req;
        }
    }
    return NULL;
}

static void sl_run_free_request(sl_io_request_t *req)
{
    sl_io_record_t *rec = (sl_io_record_t *)((char *)req - offsetof(sl_io_record_t, u));
    sl_io_record_free(rec);
}

/* An error record for REQ (code, formatted reason) into the journal. */
static sl_status_t sl_run_error(sl_run_group_t *g, const sl_io_request_t *req,
                                sl_io_error_code_t code, const char *why)
{
    sl_io_record_t *rec = NULL;
    sl_status_t status = sl_io_error_for_request(req, code, &rec, "%s", why);

    if (status == SL_OK)
        status = sl_io_writer_add_error(g->writer, &rec->u.error);
    sl_io_record_free(rec);
    g->done++;
    g->errors++;
    return status;
}

/* A record from the reader: an error record goes to the journal, a request
 * to the engine (or to the journal as an error when it cannot run). */
static sl_status_t sl_run_admit(sl_run_group_t *g, sl_io_record_t *rec)
{
    const sl_io_request_t *req = &rec->u.request;
    sl_sampling_params_t params;
    int32_t *ids = NULL;
    size_t n = 0;
    char why[512];
    sl_status_t status;

    if (rec->type == SL_IO_RECORD_ERROR) {
        status = sl_io_writer_add_error(g->writer, &rec->u.error);
        g->done++;
        g->errors++;
        sl_io_record_free(rec);
        return status;
    }
    if (sl_sampling_params_from_json(req->params,
                                     req->endpoint == SL_IO_ENDPOINT_CHAT_COMPLETIONS,
                                     &g->o->defaults, &params, why, sizeof(why)) != SL_OK) {
        status = sl_run_error(g, req, SL_IO_ERR_INVALID_REQUEST, why);
        sl_io_record_free(rec);
        return status;
    }
    if (sl_runtime_prompt(g->rt, req, &ids, &n, why, sizeof(why)) != SL_OK) {
        status = sl_run_error(g, req, SL_IO_ERR_INVALID_REQUEST, why);
        goto out;
    }
    if (n == 0 || n > INT32_MAX) {
        status = sl_run_error(g, req, SL_IO_ERR_INVALID_REQUEST, "the prompt is empty");
        goto out;
    }
    status = sl_engine_submit(g->rt->engine, (uint64_t)req->index, ids, (int32_t)n, &params);
    if (status == SL_ERR_INVALID_ARG) {
        status = sl_run_error(g, req, SL_IO_ERR_INVALID_REQUEST,
                              "sampling parameters the engine refuses (see the log)");
        goto out;
    }
    if (status == SL_OK) {
        status = sl_run_track(g, &rec->u.request);
        rec = NULL; /* owned by the in-flight list now */
    }
out:
    free(ids);
    sl_sampling_params_release(&params);
    if (rec != NULL)
        sl_io_record_free(rec);
    return status;
}

static sl_io_finish_t sl_run_finish(sl_finish_reason_t reason)
{
    switch (reason) {
    case SL_FINISH_STOP: return SL_IO_FINISH_STOP;
    case SL_FINISH_LENGTH: return SL_IO_FINISH_LENGTH;
    case SL_FINISH_ABORT: return SL_IO_FINISH_ABORT;
    default: return SL_IO_FINISH_NONE;
    }
}

/* A finished engine request into a result (or an error record). */
static sl_status_t sl_run_finished(sl_run_group_t *g, sl_request_t *r)
{
    sl_io_request_t *req = sl_run_untrack(g, (int64_t)r->id);
    sl_io_choice_t *choices = NULL;
    sl_status_t status = SL_OK;
    sl_boot_t *boot = g->job->boot;

    if (req == NULL) {
        sl_error("run: the engine finished request %llu, which this group did not submit",
                 (unsigned long long)r->id);
        return SL_ERR_INTERNAL;
    }
    if (r->seqs[0].finish_reason == SL_FINISH_ERROR) {
        int too_long = r->prompt_len >= g->rt->model->config->max_position;
        status = sl_run_error(g, req, too_long ? SL_IO_ERR_PROMPT_TOO_LONG : SL_IO_ERR_ENGINE,
                              r->error != NULL ? r->error : "the engine could not run it");
        goto out;
    }
    choices = calloc((size_t)r->params.n, sizeof(*choices));
    if (choices == NULL) {
        sl_error("run: out of memory for a result");
        status = SL_ERR_NO_MEMORY;
        goto out;
    }
    for (int32_t i = 0; i < r->params.n; i++) {
        const sl_sequence_t *q = &r->seqs[i];
        sl_io_choice_t *c = &choices[i];
        c->finish_reason = sl_run_finish(q->finish_reason);
        c->completion_tokens = q->num_out;
        c->output_ids = q->out;
        c->n_output_ids = (size_t)q->num_out;
        c->logprobs = r->params.logprobs >= 0 ? q->logprobs : NULL;
        c->text = q->stop.text != NULL ? q->stop.text : "";
        c->text_len = q->stop.len;
        c->first_token_time = sl_run_epoch(&g->clock, r->timing.first_token);
        c->finish_time = sl_run_epoch(&g->clock, r->timing.finish);
        c->itl_mean = q->itl_count > 0 ? q->itl_sum / (double)q->itl_count : NAN;
        c->itl_max = q->itl_count > 0 ? q->itl_max : NAN;
        g->tokens += q->num_out;
    }
    sl_io_result_t res = {
        .index = req->index,
        .line = req->line,
        .id = req->id,
        .endpoint = req->endpoint,
        .status = SL_IO_STATUS_OK,
        .prompt_tokens = r->prompt_len,
        .cached_tokens = r->cached_tokens,
        .arrival_time = sl_run_epoch(&g->clock, r->timing.arrival),
        .first_scheduled_time = sl_run_epoch(&g->clock, r->timing.first_scheduled),
        .node = sl_boot_node_id(boot),
        .rank = sl_boot_rank(boot),
        .dp_group = sl_boot_rank(boot),
        .n_choices = (size_t)r->params.n,
        .choices = choices,
    };
    status = sl_io_writer_add_result(g->writer, &res);
    g->done++;
out:
    free(choices);
    sl_run_free_request(req);
    return status;
}

/* The engine's step records into the journal. */
static sl_status_t sl_run_steps(sl_run_group_t *g)
{
    size_t n;
    const sl_step_record_t *recs = sl_engine_step_records(g->rt->engine, &n);
    sl_status_t status = SL_OK;

    for (size_t i = 0; i < n && status == SL_OK; i++) {
        sl_io_step_t s = {
            .step = (int64_t)g->step_counter++,
            .dp_group = sl_boot_rank(g->job->boot),
            .batch_size = recs[i].num_seqs,
            .prefill_tokens = recs[i].prefill_tokens,
            .decode_tokens = recs[i].decode_tokens,
            .time = sl_run_epoch(&g->clock, recs[i].start),
            .duration = recs[i].duration,
        };
        status = sl_io_writer_add_step(g->writer, &s);
    }
    sl_engine_clear_step_records(g->rt->engine);
    return status;
}

static void sl_run_progress(sl_run_group_t *g, int final, double *last_p)
{
    static int use_bar = -1;
    double now = sl_time_now();
    sl_io_progress_t p = {
        .total = g->total,
        .done = g->committed_at_start + g->done,
        .done_at_start = g->committed_at_start,
        .errors = g->errors,
        .tokens = g->tokens,
        .elapsed = now - g->clock.mono0,
    };
    char line[256];

    if (use_bar < 0)
        use_bar = sl_boot_size(g->job->boot) == 1 && sl_io_progress_use_bar(STDERR_FILENO);
    if (use_bar) {
        if (!final && now - *last_p < 0.2)
            return;
        sl_io_progress_bar(&p, 40, line, sizeof(line));
        fprintf(stderr, "\r%s%s", line, final ? "\n" : "");
        fflush(stderr);
    } else {
        if (!final && now - *last_p < g->o->progress_interval)
            return;
        sl_io_progress_line(&p, line, sizeof(line));
        sl_info("group %d: %s", sl_boot_rank(g->job->boot), line);
    }
    *last_p = now;
}

/* Admit, step, collect, commit until the share is done or a stop signal. */
static sl_status_t sl_run_loop(sl_run_group_t *g)
{
    sl_engine_t *eng = g->rt->engine;
    size_t max_queued = (size_t)g->o->runtime.engine.max_running * SL_RUN_QUEUE_FACTOR;
    double last_commit = sl_time_now(), last_progress = 0;
    sl_status_t status = SL_OK;
    sl_request_t *r;

    while (status == SL_OK) {
        if (sl_run_stop_signal)
            break;
        while (!g->eof && g->ninflight < max_queued && status == SL_OK) {
            sl_io_record_t *rec;
            if ((status = sl_io_reader_next(g->reader, &rec)) != SL_OK)
                break;
            if (rec == NULL)
                g->eof = 1;
            else
                status = sl_run_admit(g, rec);
        }
        if (status != SL_OK)
            break;
        if (sl_engine_has_work(eng) && (status = sl_engine_step(eng)) != SL_OK)
            break;
        while (status == SL_OK && (r = sl_engine_poll(eng)) != NULL) {
            status = sl_run_finished(g, r);
            sl_request_free(r);
        }
        if (status == SL_OK)
            status = sl_run_steps(g);
        int finished = g->eof && !sl_engine_has_work(eng) && g->ninflight == 0;
        if (status == SL_OK && (finished || sl_time_now() - last_commit >= g->o->commit_interval)) {
            status = sl_io_writer_commit(g->writer);
            last_commit = sl_time_now();
        }
        sl_run_progress(g, 0, &last_progress);
        if (finished)
            break;
    }
    if (status == SL_OK)
        status = sl_io_writer_commit(g->writer);
    sl_run_progress(g, 1, &last_progress);
    return status;
}

/* ---- set-up shared by the ranks ------------------------------------------------ */

/* What must not change across a resume: the input, the model. */
static char *sl_run_identity(const sl_run_options_t *o, const char *model_hash)
{
    struct stat st;
    json_t *id = json_pack("{s:s, s:I, s:s, s:s}", "input", o->input, "input_bytes",
                           (json_int_t)(stat(o->input, &st) == 0 ? st.st_size : -1), "model",
                           o->runtime.model_dir, "model_hash", model_hash);
    char *text = id != NULL ? json_dumps(id, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(id);
    return text;
}

/* Rank 0 prepares the output and finds what is committed; every rank gets
 * the resume index. */
static sl_status_t sl_run_prepare(sl_job_t *job, const sl_run_options_t *o,
                                  const char *identity, sl_io_resume_t **done_p)
{
    sl_boot_t *boot = job->boot;
    void *buf = NULL, *got = NULL;
    size_t len = 0, got_len = 0;
    sl_io_resume_t *done = NULL;
    int64_t duplicates = 0;
    char ok = 1;
    sl_status_t status = SL_OK;

    if (sl_boot_rank(boot) == 0) {
        sl_io_output_opts_t oo = {.resume = o->resume, .overwrite = o->overwrite,
                                  .identity_json = identity};
        status = sl_io_output_prepare(o->output, &oo);
        if (status == SL_OK)
            status = sl_io_resume_load(o->output, &done, &duplicates);
        if (status == SL_OK)
            status = sl_io_resume_serialize(done, &buf, &len);
        ok = status == SL_OK;
        if (ok && sl_io_resume_count(done) > 0)
            sl_info("resume: %lld records already committed", (long long)sl_io_resume_count(done));
        sl_io_resume_destroy(done);
        done = NULL;
    }
    /* Everyone learns whether rank 0 could prepare before waiting for data. */
    if (sl_boot_bcast(boot, &ok, 1, 0) != SL_OK || !ok) {
        free(buf);
        return SL_ERR_IO;
    }
    status = sl_boot_bcastv(boot, 0, buf, len, &got, &got_len);
    free(buf);
    if (status != SL_OK)
        return status;
    status = sl_io_resume_deserialize(got, got_len, &done);
    free(got);
    if (status == SL_OK)
        *done_p = done;
    return status;
}

/* A DP group's leader: its share of the input through the engine into its
 * journal. Returns whether it stopped before the end (a signal). Failures
 * abort the job. */
static int sl_run_lead(sl_run_group_t *g, const sl_span_t *span, const sl_runtime_options_t *rto,
                       sl_io_resume_t *done)
{
    sl_job_t *job = g->job;
    sl_boot_t *boot = job->boot;
    const sl_run_options_t *o = g->o;

    if (sl_boot_rank(boot) == 0 && sl_io_count_records(o->input, &g->total) != SL_OK)
        g->total = -1;
    if (g->total > 0)
        g->total = (g->total + span->dp - 1 - span->dp_rank) / span->dp;
    sl_io_reader_opts_t ro = {.group = span->dp_rank, .ngroups = span->dp, .skip = done};
    sl_io_writer_opts_t wo = {.group = span->dp_rank, .ngroups = span->dp,
                              .host = sl_boot_hostname(boot)};
    if (sl_runtime_open(rto, &g->rt) != SL_OK ||
        sl_io_reader_open(o->input, &ro, &g->reader) != SL_OK ||
        sl_io_writer_open(o->output, &wo, &g->writer) != SL_OK)
        sl_job_abort(job, 1, "this DP group cannot start (see the log above)");

    if (sl_run_loop(g) != SL_OK)
        sl_job_abort(job, 1, "the run failed on this DP group (see the log above)");
    int interrupted = sl_run_stop_signal != 0 || !g->eof || g->ninflight > 0;
    if (interrupted)
        sl_warn("stopped by signal %d: %lld records committed by this group; in-flight work "
                "is dropped and will be redone by --resume",
                (int)sl_run_stop_signal, (long long)g->done);
    for (size_t i = 0; i < g->ninflight; i++)
        sl_run_free_request(g->inflight[i]);
    free(g->inflight);
    if (sl_io_writer_close(g->writer) != SL_OK)
        sl_job_abort(job, 1, "the journal of this DP group cannot be closed");
    sl_io_reader_close(g->reader);
    return interrupted;
}

/* A follower of a TP group across processes: the leader's steps until it
 * stops (its signal handling decides when). Returns 0; failures abort. */
static int sl_run_follow(sl_run_group_t *g, const sl_runtime_options_t *rto)
{
    if (sl_runtime_open(rto, &g->rt) != SL_OK)
        sl_job_abort(g->job, 1, "this TP rank cannot start (see the log above)");
    if (sl_runtime_follow(g->rt) != SL_OK)
        sl_job_abort(g->job, 1, "following the TP group's leader failed (see the log above)");
    return 0;
}

int sl_run(sl_job_t *job, const sl_run_options_t *o)
{
    sl_boot_t *boot = job->boot;
    sl_run_group_t g = {.o = o, .job = job};
    sl_io_resume_t *done = NULL;
    sl_model_fingerprint_t fp = {0};
    char model_hash[17] = "dummy", *identity = NULL, *plan = NULL;
    struct sigaction sa = {.sa_handler = sl_run_on_signal};
    double start_epoch;

    sl_run_clock_init(&g.clock);
    start_epoch = g.clock.epoch0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (o->runtime.model.load_format != SL_LOAD_DUMMY) {
        if (sl_model_fingerprint(o->runtime.model_dir, &fp) != SL_OK)
            sl_job_abort(job, 1, "the model folder cannot be read");
        snprintf(model_hash, sizeof(model_hash), "%016llx", (unsigned long long)fp.hash);
        sl_model_fingerprint_release(&fp);
    }
    identity = sl_run_identity(o, model_hash);
    if (identity == NULL || sl_run_prepare(job, o, identity, &done) != SL_OK)
        sl_job_abort(job, 1, "the output cannot be prepared (see the log of rank 0)");

    g.committed_at_start = sl_io_resume_count(done);
    sl_runtime_options_t rto = o->runtime;
    sl_span_t span;
    if (sl_runtime_span(&rto, job, &span) != SL_OK)
        sl_job_abort(job, 1, "the TP groups cannot be laid out (see the log above)");

    int interrupted = span.leader ? sl_run_lead(&g, &span, &rto, done)
                                  : sl_run_follow(&g, &rto);
    /* The leader's closing stops its followers: before the exchange below. */
    sl_runtime_close(g.rt);
    g.rt = NULL;
    sl_tp_link_close(rto.link);

    /* Was every group done? Rank 0 merges either way (what exists is kept). */
    char all_done = !interrupted, mine = all_done;
    char *all = malloc((size_t)sl_boot_size(boot));
    if (all == NULL || sl_boot_allgather(boot, &mine, 1, all) != SL_OK)
        sl_job_abort(job, 1, "the end-of-run exchange failed");
    for (int r = 0; r < sl_boot_size(boot); r++)
        all_done = all_done && all[r];
    free(all);

    int exit_status = all_done ? 0 : SL_RUN_EXIT_INTERRUPTED;
    if (sl_boot_rank(boot) == 0) {
        sl_io_merge_stats_t ms;
        if (sl_job_describe(job, &plan) != SL_OK)
            plan = NULL;
        sl_io_merge_opts_t mo = {
            .meta = {.arguments_json = o->arguments_json,
                     .model_path = o->runtime.model_dir,
                     .model_hash = model_hash,
                     .model_name = o->runtime.model_dir,
                     .topology_plan_json = plan,
                     .start_time = start_epoch,
                     .tp_size = o->runtime.model.tp,
                     .dp_size = span.dp,
                     .world_size = span.dp * o->runtime.model.tp,
                     .nodes = sl_boot_num_nodes(boot)},
            .complete = all_done,
            .remove_parts = all_done,
            .jsonl_path = o->output_jsonl,
        };
        if (sl_io_merge(o->output, &mo, &ms) != SL_OK) {
            exit_status = 1;
        } else {
            sl_info("%s: %lld results, %lld errors, %lld completion tokens%s", o->output,
                    (long long)ms.requests, (long long)ms.errors,
                    (long long)ms.completion_tokens,
                    all_done ? "" : "; interrupted: run again with --resume to finish");
        }
        free(plan);
    }
    sl_io_resume_destroy(done);
    free(identity);
    return exit_status;
}
