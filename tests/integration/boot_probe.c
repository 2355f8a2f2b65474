/* boot_probe.c - starts the bootstrap and prints one JSON line per rank:
 *
 *   {"rank":0,"size":4,"local_rank":0,"local_size":2,"node_id":0,
 *    "num_nodes":2,"hostname":"node1","backend":"pmix","hosts":[...],
 *    "allgather_ok":true,"bcast_ok":true,"barrier_ok":true,"layout_ok":true,
 *    "init_ms":..,"barrier_us":..,"allgather_us":..,"bcast_us":..}
 *
 * It checks an allgather of the hostnames (against sl_boot_hostname_of), a
 * variable-size allgather with an empty blob, a fixed-size allgather, a
 * string bcast from rank 0, a fixed-size bcast from the last rank and a
 * barrier, then times --iters rounds of each. Exit 0 when everything agrees.
 *
 *   --bootstrap NAME  auto (default), pmix, env or single
 *   --die-rank R      rank R SIGKILLs itself after init; the others enter a
 *                     barrier and an allgather, and abort the job when one
 *                     fails (to show a dead rank cannot hang the job)
 *   --abort-rank R    rank R calls sl_boot_abort(boot, 3, ...) after init
 *   --hang-rank R     rank R sleeps forever after init (the others must
 *                     time out: run with a short SLINFER_BOOT_TIMEOUT)
 *   --iters N         timed rounds (default 10)
 *   --tp-link N       instead: groups of N consecutive ranks open their TP
 *                     step link (comm/tp_link.h); each leader sends frames of
 *                     0 B, 1 B, 4 KiB and 3 MiB, the followers check every
 *                     byte; prints {"rank","link_ok","leader","followers"}.
 *                     With --die-rank R, leader R dies after the first frame
 *                     (its followers must fail, not hang)
 *
 * Run by tests/integration/test_bootstrap.sh under srun and by
 * tests/cli/test_boot_env.sh with the env bootstrap; built by
 * `make check`. */
#include "config.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "bootstrap/bootstrap.h"
#include "comm/tp_link.h"
#include "core/log.h"

/* LeakSanitizer (--enable-sanitizers): libpmix 4.2 leaks a few strdup'ed
 * strings in PMIx_Init (pmix_rte_init); not ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpmix.so\n";
}

static double probe_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void probe_usage(void)
{
    fprintf(stderr, "usage: boot_probe [--bootstrap auto|pmix|env|single] "
                    "[--die-rank R] [--abort-rank R] [--hang-rank R] "
                    "[--iters N] [--tp-link N]\n");
    exit(2);
}

static int probe_int_arg(const char *text)
{
    char *end;
    long v = strtol(text, &end, 10);

    if (end == text || *end != '\0' || v < 0 || v > 1000000)
        probe_usage();
    return (int)v;
}

/* Fails the probe on this rank: a collective error aborts the whole job. */
static void probe_check(sl_boot_t *boot, sl_status_t status, const char *what)
{
    char msg[256];

    if (status == SL_OK)
        return;
    snprintf(msg, sizeof(msg), "boot_probe: %s failed on rank %d: %s", what,
             sl_boot_rank(boot), sl_status_string(status));
    sl_boot_abort(boot, 1, msg);
}

/* Byte I of frame F from LEADER. */
static unsigned char probe_byte(size_t i, int f, int leader)
{
    return (unsigned char)((i * 7 + (size_t)f * 13 + (size_t)leader) & 255);
}

/* --tp-link GROUP: see the header. Returns the exit status. */
static int probe_tp_link(sl_boot_t *boot, int group, int die_rank)
{
    static const size_t sizes[] = {0, 1, 4096, 3u << 20};
    const int nframes = (int)(sizeof(sizes) / sizeof(sizes[0]));
    int rank = sl_boot_rank(boot), leader = rank - rank % group;
    sl_tp_link_t *link;
    bool ok = true;

    probe_check(boot, sl_tp_link_open(boot, group > 1 ? leader : -1, &link), "tp_link_open");
    for (int f = 0; link != NULL && f < nframes; f++) {
        if (sl_tp_link_is_leader(link)) {
            unsigned char *buf = malloc(sizes[f] + 1);
            for (size_t i = 0; buf != NULL && i < sizes[f]; i++)
                buf[i] = probe_byte(i, f, leader);
            probe_check(boot, buf != NULL ? sl_tp_link_send(link, buf, sizes[f]) : SL_ERR_NO_MEMORY,
                        "tp_link_send");
            free(buf);
            if (rank == die_rank) {
                fprintf(stderr, "boot_probe: leader %d killing itself\n", rank);
                raise(SIGKILL);
            }
        } else {
            const void *buf;
            size_t len;
            probe_check(boot, sl_tp_link_recv(link, &buf, &len), "tp_link_recv");
            ok = ok && len == sizes[f];
            for (size_t i = 0; ok && i < len; i++)
                ok = ((const unsigned char *)buf)[i] == probe_byte(i, f, leader);
        }
    }
    int followers = link != NULL ? sl_tp_link_followers(link) : 0;
    sl_tp_link_close(link);
    probe_check(boot, sl_boot_barrier(boot), "barrier");
    printf("{\"rank\": %d, \"link_ok\": %s, \"leader\": %d, \"followers\": %d}\n", rank,
           ok ? "true" : "false", leader, followers);
    sl_boot_finalize(boot);
    return ok ? 0 : 1;
}

/* Every rank's hostname through a variable-size allgather. */
static bool probe_hostnames(sl_boot_t *boot, json_t *hosts)
{
    sl_boot_blobs_t *blobs;
    const char *me = sl_boot_hostname(boot);
    bool ok = true;

    probe_check(boot, sl_boot_allgatherv(boot, me, strlen(me), &blobs),
                "allgatherv(hostname)");
    ok = blobs->count == sl_boot_size(boot);
    for (int r = 0; ok && r < blobs->count; r++) {
        const char *h = blobs->data[r];
        ok = blobs->len[r] == strlen(h) &&
             strcmp(h, sl_boot_hostname_of(boot, r)) == 0;
        json_array_append_new(hosts, json_string(h));
    }
    sl_boot_blobs_free(blobs);
    return ok;
}

/* Rank r sends r bytes of 'a' + r % 26 (rank 0 an empty blob); then a
 * fixed-size allgather of the ranks. */
static bool probe_allgather(sl_boot_t *boot)
{
    int rank = sl_boot_rank(boot), size = sl_boot_size(boot);
    sl_boot_blobs_t *blobs;
    char *mine = malloc((size_t)rank + 1);
    int32_t me32 = rank, *all = malloc((size_t)size * sizeof(*all));
    bool ok = mine != NULL && all != NULL;

    if (!ok) {
        free(mine);
        free(all);
        return false;
    }
    memset(mine, 'a' + rank % 26, (size_t)rank);
    probe_check(boot, sl_boot_allgatherv(boot, mine, (size_t)rank, &blobs),
                "allgatherv(variable)");
    for (int r = 0; ok && r < size; r++) {
        const char *b = blobs->data[r];
        ok = blobs->len[r] == (size_t)r && b[r] == '\0';
        for (int i = 0; ok && i < r; i++)
            ok = b[i] == 'a' + r % 26;
    }
    sl_boot_blobs_free(blobs);
    probe_check(boot, sl_boot_allgather(boot, &me32, sizeof(me32), all),
                "allgather(fixed)");
    for (int r = 0; ok && r < size; r++)
        ok = all[r] == r;
    free(all);
    free(mine);
    return ok;
}

static bool probe_bcast(sl_boot_t *boot)
{
    int rank = sl_boot_rank(boot), size = sl_boot_size(boot);
    char expected[512];
    void *data;
    size_t len;
    uint64_t word = rank == size - 1 ? 0x5111f3e2d00dULL + (uint64_t)size : 0;
    bool ok;

    snprintf(expected, sizeof(expected), "hello from rank 0 on %s to %d ranks",
             sl_boot_hostname_of(boot, 0), size);
    probe_check(boot, sl_boot_bcastv(boot, 0, rank == 0 ? expected : NULL,
                                     rank == 0 ? strlen(expected) : 0, &data,
                                     &len),
                "bcastv(string)");
    ok = len == strlen(expected) && strcmp(data, expected) == 0;
    free(data);
    probe_check(boot, sl_boot_bcast(boot, &word, sizeof(word), size - 1),
                "bcast(fixed)");
    return ok && word == 0x5111f3e2d00dULL + (uint64_t)size;
}

/* local_size / num_nodes / node ids against the hostname list. */
static bool probe_layout(sl_boot_t *boot)
{
    int size = sl_boot_size(boot), same = 0, distinct = 0, rank_on_node = 0;
    const char *me = sl_boot_hostname(boot);

    for (int r = 0; r < size; r++) {
        const char *h = sl_boot_hostname_of(boot, r);
        bool first = true;
        for (int q = 0; q < r; q++)
            first = first && strcmp(sl_boot_hostname_of(boot, q), h) != 0;
        if (first && strcmp(h, me) == 0 && distinct != sl_boot_node_id(boot))
            return false; /* node id = order of first appearance */
        distinct += first;
        if (strcmp(h, me) == 0) {
            if (r < sl_boot_rank(boot))
                rank_on_node++;
            same++;
        }
    }
    return same == sl_boot_local_size(boot) &&
           distinct == sl_boot_num_nodes(boot) &&
           rank_on_node == sl_boot_local_rank(boot) &&
           sl_boot_node_id(boot) < sl_boot_num_nodes(boot);
}

int main(int argc, char **argv)
{
    const char *backend = "auto";
    int die_rank = -1, abort_rank = -1, hang_rank = -1, iters = 10, tp_link = 0;
    sl_boot_t *boot;
    sl_status_t status;
    double t0, t1, init_ms, barrier_us = 0, allgather_us = 0, bcast_us = 0;
    bool ok_gather, ok_bcast, ok_layout;
    json_t *line, *hosts;
    char *text;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bootstrap") == 0 && i + 1 < argc)
            backend = argv[++i];
        else if (strcmp(argv[i], "--die-rank") == 0 && i + 1 < argc)
            die_rank = probe_int_arg(argv[++i]);
        else if (strcmp(argv[i], "--abort-rank") == 0 && i + 1 < argc)
            abort_rank = probe_int_arg(argv[++i]);
        else if (strcmp(argv[i], "--hang-rank") == 0 && i + 1 < argc)
            hang_rank = probe_int_arg(argv[++i]);
        else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
            iters = probe_int_arg(argv[++i]);
        else if (strcmp(argv[i], "--tp-link") == 0 && i + 1 < argc)
            tp_link = probe_int_arg(argv[++i]);
        else
            probe_usage();
    }

    sl_log_init();
    t0 = probe_now_us();
    status = sl_boot_init(backend, &boot);
    if (status != SL_OK)
        return 1; /* the bootstrap logged why */
    init_ms = (probe_now_us() - t0) / 1e3;
    if (tp_link > 0)
        return probe_tp_link(boot, tp_link, die_rank);

    if (sl_boot_rank(boot) == die_rank) {
        fprintf(stderr, "boot_probe: rank %d killing itself\n", die_rank);
        raise(SIGKILL);
    }
    if (sl_boot_rank(boot) == abort_rank)
        sl_boot_abort(boot, 3, "boot_probe: --abort-rank");
    if (sl_boot_rank(boot) == hang_rank) {
        fprintf(stderr, "boot_probe: rank %d hanging\n", hang_rank);
        for (;;)
            pause();
    }
    if (die_rank >= 0 || abort_rank >= 0 || hang_rank >= 0) {
        const char *event = die_rank >= 0     ? "death"
                            : abort_rank >= 0 ? "abort"
                                              : "hang";
        int who = die_rank >= 0 ? die_rank
                  : abort_rank >= 0 ? abort_rank : hang_rank;
        t0 = probe_now_us();
        status = sl_boot_barrier(boot);
        fprintf(stderr, "boot_probe: rank %d: barrier after the %s of rank "
                "%d returned '%s' after %.3f s\n", sl_boot_rank(boot), event,
                who, sl_status_string(status), (probe_now_us() - t0) / 1e6);
        probe_check(boot, status, "barrier");
        hosts = json_array();
        probe_hostnames(boot, hosts);
        json_decref(hosts);
        fprintf(stderr, "boot_probe: rank %d: collectives succeeded although "
                "a rank is gone\n", sl_boot_rank(boot));
        sl_boot_finalize(boot);
        return 1;
    }

    hosts = json_array();
    ok_gather = probe_hostnames(boot, hosts) && probe_allgather(boot);
    ok_bcast = probe_bcast(boot);
    probe_check(boot, sl_boot_barrier(boot), "barrier");
    ok_layout = probe_layout(boot);

    for (int i = 0; i < iters; i++) {
        int32_t v = i;
        sl_boot_blobs_t *blobs;
        t0 = probe_now_us();
        probe_check(boot, sl_boot_barrier(boot), "barrier");
        t1 = probe_now_us();
        probe_check(boot, sl_boot_allgatherv(boot, &v, sizeof(v), &blobs),
                    "allgatherv");
        sl_boot_blobs_free(blobs);
        barrier_us += t1 - t0;
        t0 = probe_now_us();
        allgather_us += t0 - t1;
        probe_check(boot, sl_boot_bcast(boot, &v, sizeof(v), 0), "bcast");
        bcast_us += probe_now_us() - t0;
    }
    if (iters > 0) {
        barrier_us /= iters;
        allgather_us /= iters;
        bcast_us /= iters;
    }

    line = json_pack("{s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:s, s:o, s:b, s:b,"
                     " s:b, s:b, s:f, s:i, s:f, s:f, s:f}",
                     "rank", sl_boot_rank(boot), "size", sl_boot_size(boot),
                     "local_rank", sl_boot_local_rank(boot),
                     "local_size", sl_boot_local_size(boot),
                     "node_id", sl_boot_node_id(boot),
                     "num_nodes", sl_boot_num_nodes(boot),
                     "hostname", sl_boot_hostname(boot),
                     "backend", sl_boot_backend_name(boot), "hosts", hosts,
                     "allgather_ok", ok_gather, "bcast_ok", ok_bcast,
                     "barrier_ok", 1, "layout_ok", ok_layout,
                     "init_ms", init_ms, "iters", iters,
                     "barrier_us", barrier_us, "allgather_us", allgather_us,
                     "bcast_us", bcast_us);
    text = line != NULL
               ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER)
               : NULL;
    if (text == NULL) {
        fprintf(stderr, "boot_probe: cannot build the JSON line\n");
        sl_boot_abort(boot, 1, "boot_probe: out of memory");
    }
    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(line);

    sl_boot_finalize(boot);
    return ok_gather && ok_bcast && ok_layout ? 0 : 1;
}
