/*
 * run.h - `slinfer run`: a prompt file through the engine into one HDF5
 * result file, exactly once across kills and resumes.
 *
 * Every rank leads one DP group (the CPU backend runs TP as threads inside
 * the process; a GPU process holds its TP group's GPUs) and takes records k
 * with k % DP == group -- unless --tp outgrows the GPUs of a process: then a
 * TP group is tp / GPUs consecutive processes (job.h's sl_job_span), whose
 * first leads it as below while the others follow its steps.
 *   rank 0  prepares the output (or checks what --resume continues), loads
 *           the committed records and broadcasts them;
 *   each    reads its share, skipping committed records, turns prompts into
 *           token ids (chat template, tokenizer), feeds the engine, and
 *           commits finished results, error records and step records to its
 *           journal every --commit-interval seconds (durable on return);
 *   rank 0  after a barrier, merges every group's journal into the HDF5 file
 *           (and the JSONL files), marked complete when nothing is missing.
 * SIGTERM or SIGUSR1 (sbatch --signal): stop admitting, drop in-flight work
 * (it is not committed, so a resume redoes it), commit, merge what exists,
 * exit SL_RUN_EXIT_INTERRUPTED.
 */
#ifndef SL_JOB_RUN_H
#define SL_JOB_RUN_H

#include "engine/request.h"
#include "job/job.h"
#include "job/runtime.h"

/* Exit status of an interrupted run that --resume will finish (EX_TEMPFAIL). */
#define SL_RUN_EXIT_INTERRUPTED 75

typedef struct sl_run_options {
    sl_runtime_options_t runtime;
    sl_sampling_params_t defaults;  /* for fields a record does not set      */
    const char *input;              /* JSONL file, or FILE.h5:/dataset        */
    const char *output;             /* the HDF5 result file                   */
    const char *output_jsonl;       /* OpenAI batch output lines, or NULL     */
    int resume;                     /* continue what OUTPUT holds             */
    int overwrite;                  /* replace an existing OUTPUT             */
    double commit_interval;         /* seconds between commits (5)            */
    double progress_interval;       /* seconds between log summaries (30)     */
    const char *arguments_json;     /* the command line, for the metadata     */
} sl_run_options_t;

void sl_run_options_init(sl_run_options_t *options);

/* Runs this rank's part of the job; returns the process exit status: 0 when
 * every record is committed, SL_RUN_EXIT_INTERRUPTED after a stop signal, 1
 * on failure (the job is aborted on every rank). */
int sl_run(sl_job_t *job, const sl_run_options_t *options);

#endif /* SL_JOB_RUN_H */
