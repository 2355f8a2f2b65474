/*
 * io.h - the I/O layer in one include, and how a run uses it.
 *
 *   rank 0:   sl_io_output_prepare(out, {resume, overwrite, identity})    output.h
 *             sl_io_resume_load(out, &done, NULL)                         resume.h
 *             sl_io_resume_serialize(done) -> broadcast -> deserialize
 *   every DP group leader g of G:
 *             sl_io_reader_open(input, {g, G, 0, done}, &reader)         reader.h
 *             sl_io_writer_open(out, {g, G, host}, &writer)               writer.h
 *             loop: sl_io_reader_next(reader, &rec)
 *                   request -> engine; error record -> sl_io_writer_add_error
 *                   engine results -> sl_io_writer_add_result / _add_step
 *                   engine refusals -> sl_io_error_for_request -> _add_error
 *                   every few seconds: sl_io_writer_commit (durable from here)
 *             sl_io_writer_close(writer); sl_io_reader_close(reader)
 *   barrier; rank 0:
 *             sl_io_merge(out, {meta, complete, remove_parts, jsonl}, &stats)   merge.h
 *
 * Progress display: progress.h; sampling field checks: sampling.h; reading
 * a result file back: results.h. docs/OUTPUT.md is the user-facing
 * description of the files and of the exactly-once guarantees.
 *
 * All HDF5 calls happen on the calling thread; use a reader, a writer or a
 * merge from one thread at a time.
 */
#ifndef SL_IO_IO_H
#define SL_IO_IO_H

#include "io/jsonl_writer.h"
#include "io/merge.h"
#include "io/output.h"
#include "io/progress.h"
#include "io/reader.h"
#include "io/record.h"
#include "io/results.h"
#include "io/resume.h"
#include "io/sampling.h"
#include "io/writer.h"

#endif /* SL_IO_IO_H */
