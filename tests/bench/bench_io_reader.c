/* bench_io_reader.c - memory and speed of the streaming JSONL reader. Built
 * by `make check` but not run as a test:
 *
 *   tests/bench/bench_io_reader [LINES [FILE [NGROUPS]]]
 *
 * Writes LINES (default 2,000,000) JSONL lines to FILE (default
 * /tmp/slinfer-bench-io.jsonl; an existing file of that name is reused if it
 * has the right size), a mix of OpenAI batch chat lines, plain prompts and
 * token-id prompts with 1% bad lines, then reads it as group 0 of NGROUPS
 * (default 1), freeing each record, and prints records/s, MB/s, the id set's
 * size and the peak resident memory (getrusage ru_maxrss) before and after
 * the read. The file is removed afterwards unless FILE was given. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/reader.h"

static double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* KiB on Linux */
}

static int generate(const char *path, long lines)
{
    FILE *f = fopen(path, "w");
    static char buf[1 << 20];

    if (f == NULL) {
        perror(path);
        return -1;
    }
    setvbuf(f, buf, _IOFBF, sizeof(buf));
    for (long i = 0; i < lines; i++) {
        switch (i % 100 == 99 ? 3 : i % 3) {
        case 0:
            fprintf(f, "{\"custom_id\": \"request-%ld\", \"method\": \"POST\", \"url\": "
                       "\"/v1/chat/completions\", \"body\": {\"model\": \"llama\", "
                       "\"messages\": [{\"role\": \"system\", \"content\": \"You are a helpful "
                       "assistant.\"}, {\"role\": \"user\", \"content\": \"Summarize document "
                       "number %ld in three sentences, please.\"}], \"max_tokens\": 256, "
                       "\"temperature\": 0.7}}\n", i, i);
            break;
        case 1:
            fprintf(f, "{\"id\": \"request-%ld\", \"prompt\": \"The quick brown fox %ld jumps "
                       "over the lazy dog and keeps running far away.\", \"max_tokens\": 64}\n",
                    i, i);
            break;
        case 2:
            fprintf(f, "{\"id\": \"request-%ld\", \"input_ids\": [128000, %ld, 220, 1234, 5678, "
                       "91011, 1213, 1415, 1617, 1819, 2021, 2223]}\n", i, i % 100000);
            break;
        default:
            fprintf(f, "{\"id\": \"request-%ld\", \"prompt\": 42}\n", i);
        }
    }
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long lines = argc > 1 ? atol(argv[1]) : 2000000;
    const char *path = argc > 2 ? argv[2] : "/tmp/slinfer-bench-io.jsonl";
    int ngroups = argc > 3 ? atoi(argv[3]) : 1;
    sl_io_reader_opts_t opts = {0, ngroups, 0, NULL};
    sl_io_reader_stats_t stats;
    sl_io_reader_t *r;
    struct stat sb;
    double t0, t1;
    long rss0, rss1;
    int64_t n = 0, errors = 0, count = 0;

    if (lines <= 0 || ngroups <= 0) {
        fprintf(stderr, "usage: %s [LINES [FILE [NGROUPS]]]\n", argv[0]);
        return 2;
    }
    t0 = bench_now();
    if (generate(path, lines) != 0)
        return 1;
    stat(path, &sb);
    printf("generated %ld lines, %.1f MB in %.1f s: %s\n", lines, (double)sb.st_size / 1e6,
           bench_now() - t0, path);
    rss0 = peak_rss_kib();
    t0 = bench_now();
    if (sl_io_count_records(path, &count) != SL_OK)
        return 1;
    printf("counted %" PRId64 " records in %.2f s\n", count, bench_now() - t0);
    t0 = bench_now();
    if (sl_io_reader_open(path, &opts, &r) != SL_OK)
        return 1;
    for (;;) {
        sl_io_record_t *rec;
        if (sl_io_reader_next(r, &rec) != SL_OK)
            return 1;
        if (rec == NULL)
            break;
        n++;
        errors += rec->type == SL_IO_RECORD_ERROR;
        sl_io_record_free(rec);
    }
    t1 = bench_now();
    sl_io_reader_stats(r, &stats);
    sl_io_reader_close(r);
    rss1 = peak_rss_kib();
    printf("read %" PRId64 " records (%" PRId64 " errors) of %" PRId64 " as group 0 of %d in "
           "%.2f s: %.0f records/s, %.0f MB/s\n", n, errors, stats.records, ngroups, t1 - t0,
           (double)stats.records / (t1 - t0), (double)sb.st_size / 1e6 / (t1 - t0));
    printf("id set: %zu bytes = %.1f bytes per record\n", stats.id_set_bytes,
           (double)stats.id_set_bytes / (double)stats.records);
    printf("peak RSS: %.1f MiB before the read, %.1f MiB after (file %.1f MiB)\n",
           (double)rss0 / 1024, (double)rss1 / 1024, (double)sb.st_size / 1048576);
    if (argc <= 2)
        unlink(path);
    return 0;
}
