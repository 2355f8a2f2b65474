/* check_bootstrap.c - the single backend, collective semantics with
 * variable-size blobs, backend selection from the environment, and the
 * hostname -> node id / local rank mapping. The pmix backend itself runs
 * under srun in tests/integration/test_bootstrap.sh. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap/boot_internal.h"
#include "bootstrap/bootstrap.h"
#include "core/log.h"
#include "sl_check.h"

/* --- helpers -------------------------------------------------------------- */

/* LeakSanitizer (--enable-sanitizers): libpmix 4.2 leaks a strdup'ed value
 * inside a PMIx_Init that fails (pmix_without_server_fails); not ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libpmix.so\n";
}

/* No launcher at all: what a login node or a laptop looks like. */
static void clear_launcher_env(void)
{
    static const char *const names[] = {
        "PMIX_NAMESPACE", "PMIX_RANK", "SLURM_JOB_ID", "SLURM_JOBID",
        "SLURM_STEP_ID", "SLURM_STEPID", "SLURM_PROCID",
        "SLURM_STEP_NUM_TASKS", "SLURM_MPI_TYPE", "SLINFER_BOOT_TIMEOUT",
        "SLINFER_COORDINATOR",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        unsetenv(names[i]);
}

/* What srun without --mpi=pmix sets (the relevant part). */
static void set_srun_step_env(const char *ntasks)
{
    clear_launcher_env();
    setenv("SLURM_JOB_ID", "18892730", 1);
    setenv("SLURM_STEP_ID", "0", 1);
    setenv("SLURM_PROCID", "0", 1);
    if (ntasks != NULL)
        setenv("SLURM_STEP_NUM_TASKS", ntasks, 1);
}

static const char *choose(const char *name, sl_status_t want)
{
    const sl_boot_ops_t *ops = NULL;
    FILE *f = sl_check_log_begin();
    sl_status_t status = sl_boot_choose(name, &ops);
    const char *log = sl_check_log_end(f);

    ck_assert_msg(status == want, "choose(%s) = %d (%s), expected %d; log: %s",
                  name ? name : "NULL", status, sl_status_string(status), want,
                  log);
    if (status == SL_OK)
        return ops->name;
    ck_assert_ptr_null(ops); /* untouched on failure */
    return log;
}

/* --- single backend ------------------------------------------------------- */

START_TEST(single_values)
{
    sl_boot_t *boot = NULL;
    char host[SL_BOOT_HOSTNAME_MAX];

    clear_launcher_env();
    ck_assert_int_eq(sl_boot_init("single", &boot), SL_OK);
    ck_assert_ptr_nonnull(boot);
    ck_assert_str_eq(sl_boot_backend_name(boot), "single");
    ck_assert_int_eq(sl_boot_rank(boot), 0);
    ck_assert_int_eq(sl_boot_size(boot), 1);
    ck_assert_int_eq(sl_boot_local_rank(boot), 0);
    ck_assert_int_eq(sl_boot_local_size(boot), 1);
    ck_assert_int_eq(sl_boot_node_id(boot), 0);
    ck_assert_int_eq(sl_boot_num_nodes(boot), 1);
    ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
    ck_assert_str_eq(sl_boot_hostname(boot), host);
    ck_assert_str_eq(sl_boot_hostname_of(boot, 0), host);
    ck_assert_ptr_null(sl_boot_hostname_of(boot, 1));
    ck_assert_ptr_null(sl_boot_hostname_of(boot, -1));
    sl_boot_finalize(boot);
    sl_boot_finalize(NULL); /* no-op */
}
END_TEST

START_TEST(auto_without_launcher_is_single)
{
    sl_boot_t *boot = NULL;

    clear_launcher_env();
    ck_assert_int_eq(sl_boot_init("auto", &boot), SL_OK);
    ck_assert_str_eq(sl_boot_backend_name(boot), "single");
    sl_boot_finalize(boot);
    ck_assert_int_eq(sl_boot_init(NULL, &boot), SL_OK);
    ck_assert_str_eq(sl_boot_backend_name(boot), "single");
    sl_boot_finalize(boot);
}
END_TEST

START_TEST(single_bcast)
{
    sl_boot_t *boot;
    uint64_t word = 0x1122334455667788ULL;
    void *data = NULL;
    size_t len = 99;
    FILE *f;
    const char *log;

    clear_launcher_env();
    ck_assert_int_eq(sl_boot_init("single", &boot), SL_OK);

    /* fixed size: root's buffer stays as it is */
    ck_assert_int_eq(sl_boot_bcast(boot, &word, sizeof(word), 0), SL_OK);
    ck_assert(word == 0x1122334455667788ULL);
    ck_assert_int_eq(sl_boot_bcast(boot, NULL, 0, 0), SL_OK);

    /* variable size: a NUL-terminated copy */
    ck_assert_int_eq(sl_boot_bcastv(boot, 0, "model.safetensors", 17, &data,
                                    &len), SL_OK);
    ck_assert_uint_eq(len, 17);
    ck_assert_str_eq(data, "model.safetensors");
    free(data);
    ck_assert_int_eq(sl_boot_bcastv(boot, 0, NULL, 0, &data, &len), SL_OK);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(data, "");
    free(data);

    /* a root that is not a rank */
    data = NULL;
    len = 99;
    f = sl_check_log_begin();
    ck_assert_int_eq(sl_boot_bcastv(boot, 1, "x", 1, &data, &len),
                     SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_boot_bcast(boot, &word, sizeof(word), -1),
                     SL_ERR_INVALID_ARG);
    log = sl_check_log_end(f);
    ck_assert_ptr_nonnull(strstr(log, "bcast root 1 is not a rank"));
    ck_assert_ptr_null(data);
    ck_assert_uint_eq(len, 99);
    sl_boot_finalize(boot);
}
END_TEST

START_TEST(single_allgather_and_barrier)
{
    sl_boot_t *boot;
    sl_boot_blobs_t *blobs = NULL;
    int32_t mine = 42, all[1] = {0};
    FILE *f;

    clear_launcher_env();
    ck_assert_int_eq(sl_boot_init("single", &boot), SL_OK);

    ck_assert_int_eq(sl_boot_allgatherv(boot, "abc\0def", 7, &blobs), SL_OK);
    ck_assert_int_eq(blobs->count, 1);
    ck_assert_uint_eq(blobs->len[0], 7);
    ck_assert_int_eq(memcmp(blobs->data[0], "abc\0def", 8), 0); /* + '\0' */
    sl_boot_blobs_free(blobs);

    ck_assert_int_eq(sl_boot_allgatherv(boot, NULL, 0, &blobs), SL_OK);
    ck_assert_uint_eq(blobs->len[0], 0);
    ck_assert_str_eq(blobs->data[0], "");
    sl_boot_blobs_free(blobs);
    sl_boot_blobs_free(NULL);

    ck_assert_int_eq(sl_boot_allgather(boot, &mine, sizeof(mine), all), SL_OK);
    ck_assert_int_eq(all[0], 42);

    ck_assert_int_eq(sl_boot_barrier(boot), SL_OK);
    ck_assert_int_eq(sl_boot_barrier(boot), SL_OK);

    blobs = NULL;
    f = sl_check_log_begin();
    ck_assert_int_eq(sl_boot_allgatherv(boot, NULL, 3, &blobs),
                     SL_ERR_INVALID_ARG);
    sl_check_log_end(f);
    ck_assert_ptr_null(blobs);
    sl_boot_finalize(boot);
}
END_TEST

START_TEST(single_abort_exits_with_status)
{
    sl_boot_t *boot;

    clear_launcher_env();
    ck_assert_int_eq(sl_boot_init("single", &boot), SL_OK);
    sl_log_set_fd(open("/dev/null", O_WRONLY)); /* keep the error line quiet */
    sl_boot_abort(boot, 7, "check_bootstrap: testing abort");
}
END_TEST

START_TEST(abort_zero_status_is_failure)
{
    sl_log_set_fd(open("/dev/null", O_WRONLY));
    sl_boot_abort(NULL, 0, "check_bootstrap: status 0 becomes 1");
}
END_TEST

START_TEST(blobs_layout)
{
    size_t lens[4] = {0, 3, 0, 1};
    sl_boot_blobs_t *blobs = NULL;

    ck_assert_int_eq(sl_boot_blobs_alloc(4, lens, &blobs), SL_OK);
    ck_assert_int_eq(blobs->count, 4);
    for (int r = 0; r < 4; r++) {
        ck_assert_uint_eq(blobs->len[r], lens[r]);
        ck_assert_ptr_nonnull(blobs->data[r]);
        ck_assert_int_eq(((const char *)blobs->data[r])[lens[r]], '\0');
    }
    memcpy(sl_boot_blob_ptr(blobs, 1), "xyz", 3);
    memcpy(sl_boot_blob_ptr(blobs, 3), "w", 1);
    ck_assert_str_eq(blobs->data[1], "xyz"); /* neighbours untouched */
    ck_assert_str_eq(blobs->data[2], "");
    ck_assert_str_eq(blobs->data[3], "w");
    sl_boot_blobs_free(blobs);

    ck_assert_int_eq(sl_boot_blobs_alloc(0, lens, &blobs), SL_OK);
    ck_assert_int_eq(blobs->count, 0);
    sl_boot_blobs_free(blobs);
}
END_TEST

/* --- selection ------------------------------------------------------------ */

START_TEST(select_from_environment)
{
    clear_launcher_env();
    ck_assert_str_eq(choose("auto", SL_OK), "single");
    ck_assert_str_eq(choose(NULL, SL_OK), "single");
    ck_assert_str_eq(choose("single", SL_OK), "single");

    /* sbatch's batch script: a job id, no step id -> single */
    setenv("SLURM_JOB_ID", "18892733", 1);
    setenv("SLURM_PROCID", "0", 1);
    ck_assert_str_eq(choose("auto", SL_OK), "single");
    /* Slurm's special step ids (batch, extern) are not srun steps */
    setenv("SLURM_STEP_ID", "4294967291", 1);
    ck_assert_str_eq(choose("auto", SL_OK), "single");

    /* PMIx launcher -> pmix (only chosen here, not started) */
    setenv("PMIX_NAMESPACE", "slurm.pmix.18892731.0", 1);
    ck_assert_str_eq(choose("auto", SL_OK), "pmix");
    ck_assert_str_eq(choose("pmix", SL_OK), "pmix");
    ck_assert_str_eq(choose("single", SL_OK), "single");
    setenv("PMIX_NAMESPACE", "", 1); /* empty counts as unset */
    ck_assert_str_eq(choose("auto", SL_OK), "single");

    /* A coordinator address -> env (PMIx, when there, still wins) */
    setenv("SLINFER_COORDINATOR", "127.0.0.1:29500", 1);
    ck_assert_str_eq(choose("auto", SL_OK), "env");
    ck_assert_str_eq(choose("env", SL_OK), "env");
    ck_assert_str_eq(choose("single", SL_OK), "single");
    setenv("PMIX_NAMESPACE", "slurm.pmix.18892731.0", 1);
    ck_assert_str_eq(choose("auto", SL_OK), "pmix");
    clear_launcher_env();
}
END_TEST

START_TEST(srun_without_pmix_fails_clearly)
{
    const char *log;
    sl_boot_t *boot = (sl_boot_t *)0x1;
    FILE *f;

    set_srun_step_env("2");
    log = choose("auto", SL_ERR_BOOTSTRAP);
    ck_assert_ptr_nonnull(strstr(log, "runs under srun"));
    ck_assert_ptr_nonnull(strstr(log, "`srun --mpi=pmix ...`"));
    ck_assert_ptr_nonnull(strstr(log, "MpiDefault=pmix"));
    ck_assert_ptr_nonnull(strstr(log, "--bootstrap single"));
    ck_assert_ptr_nonnull(strstr(log, "job 18892730, step 0, 2 tasks"));

    /* every task fails, but only task 0 says why */
    setenv("SLURM_PROCID", "5", 1);
    log = choose("auto", SL_ERR_BOOTSTRAP);
    ck_assert_str_eq(log, "");

    /* older spelling SLURM_STEPID, no task count */
    set_srun_step_env(NULL);
    unsetenv("SLURM_STEP_ID");
    setenv("SLURM_STEPID", "3", 1);
    log = choose("auto", SL_ERR_BOOTSTRAP);
    ck_assert_ptr_nonnull(strstr(log, "step 3, ? tasks"));

    /* through sl_boot_init: same error, *boot_p untouched */
    set_srun_step_env("4");
    f = sl_check_log_begin();
    ck_assert_int_eq(sl_boot_init("auto", &boot), SL_ERR_BOOTSTRAP);
    sl_check_log_end(f);
    ck_assert_ptr_eq(boot, (sl_boot_t *)0x1);

    /* srun --mpi=pmi2: named in the message */
    setenv("SLURM_MPI_TYPE", "pmi2", 1);
    log = choose("auto", SL_ERR_BOOTSTRAP);
    ck_assert_ptr_nonnull(strstr(log, "--mpi=pmi2"));

    /* explicit single is allowed inside a step; so is a one-task step */
    ck_assert_str_eq(choose("single", SL_OK), "single");
    set_srun_step_env("1");
    ck_assert_str_eq(choose("auto", SL_OK), "single");
}
END_TEST

START_TEST(explicit_backend_errors)
{
    const char *log;
    sl_boot_t *boot = (sl_boot_t *)0x1;
    FILE *f;

    clear_launcher_env();
    log = choose("pmix", SL_ERR_BOOTSTRAP);
    ck_assert_ptr_nonnull(strstr(log, "PMIX_NAMESPACE is not set"));
    ck_assert_ptr_nonnull(strstr(log, "srun --mpi=pmix"));

    log = choose("mpi", SL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(log, "unknown bootstrap backend 'mpi'"));
    ck_assert_ptr_nonnull(strstr(log, "(backends: auto, pmix, env, single)"));
    choose("", SL_ERR_INVALID_ARG);

    f = sl_check_log_begin();
    ck_assert_int_eq(sl_boot_init("Single", &boot), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_boot_init("pmix", &boot), SL_ERR_BOOTSTRAP);
    sl_check_log_end(f);
    ck_assert_ptr_eq(boot, (sl_boot_t *)0x1);
}
END_TEST

START_TEST(timeout_setting)
{
    sl_boot_t *boot = (sl_boot_t *)0x1;
    const char *log;
    FILE *f;

    clear_launcher_env();
    setenv("SLINFER_BOOT_TIMEOUT", "5min", 1);
    f = sl_check_log_begin();
    ck_assert_int_eq(sl_boot_init("auto", &boot), SL_ERR_INVALID_ARG);
    log = sl_check_log_end(f);
    ck_assert_ptr_nonnull(strstr(log, "SLINFER_BOOT_TIMEOUT='5min'"));
    ck_assert_ptr_eq(boot, (sl_boot_t *)0x1);

    /* checked before PMIx is touched */
    setenv("PMIX_NAMESPACE", "slinfer.check", 1);
    setenv("SLINFER_BOOT_TIMEOUT", "-1", 1);
    f = sl_check_log_begin();
    ck_assert_int_eq(sl_boot_init("auto", &boot), SL_ERR_INVALID_ARG);
    sl_check_log_end(f);
    unsetenv("PMIX_NAMESPACE");

    setenv("SLINFER_BOOT_TIMEOUT", "0", 1); /* no timeout */
    ck_assert_int_eq(sl_boot_init("auto", &boot), SL_OK);
    ck_assert_int_eq(sl_boot_set_timeout(boot, 3600), SL_OK);
    ck_assert_int_eq(sl_boot_set_timeout(boot, 0), SL_OK);
    f = sl_check_log_begin();
    ck_assert_int_eq(sl_boot_set_timeout(boot, -5), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_boot_set_timeout(boot, 604801), SL_ERR_INVALID_ARG);
    sl_check_log_end(f);
    ck_assert_int_eq(sl_boot_barrier(boot), SL_OK);
    sl_boot_finalize(boot);
}
END_TEST

START_TEST(pmix_without_server_fails)
{
    sl_boot_t *boot = (sl_boot_t *)0x1;
    const char *log;
    FILE *f;

    /* A namespace but no server to talk to: PMIx_Init must fail, not hang. */
    clear_launcher_env();
    setenv("PMIX_NAMESPACE", "slinfer.check", 1);
    setenv("PMIX_RANK", "0", 1);
    f = sl_check_log_begin();
    ck_assert_int_eq(sl_boot_init("pmix", &boot), SL_ERR_BOOTSTRAP);
    log = sl_check_log_end(f);
    ck_assert_ptr_nonnull(strstr(log, "PMIx_Init failed"));
    ck_assert_ptr_nonnull(strstr(log, "PMIX_NAMESPACE=slinfer.check"));
    ck_assert_ptr_eq(boot, (sl_boot_t *)0x1);
}
END_TEST

/* --- hostnames -> nodes --------------------------------------------------- */

static void check_map(int size, const char *const hosts[], const int ids[],
                      const int lranks[], const int lsizes[], int nodes)
{
    int id[16], lr[16], ls[16], n = -1;

    ck_assert_int_le(size, 16);
    ck_assert_int_eq(sl_boot_nodes_map(size, hosts, id, lr, ls, &n), SL_OK);
    ck_assert_int_eq(n, nodes);
    for (int r = 0; r < size; r++) {
        ck_assert_msg(id[r] == ids[r] && lr[r] == lranks[r] &&
                      ls[r] == lsizes[r],
                      "rank %d (%s): node %d local %d/%d, expected %d %d/%d", r,
                      hosts[r], id[r], lr[r], ls[r], ids[r], lranks[r],
                      lsizes[r]);
    }
}

START_TEST(nodes_block_and_cyclic)
{
    /* srun -N 2 --ntasks-per-node=2 (block distribution) */
    const char *block[] = {"node1", "node1", "node2", "node2"};
    check_map(4, block, (int[]){0, 0, 1, 1}, (int[]){0, 1, 0, 1},
              (int[]){2, 2, 2, 2}, 2);
    /* --distribution=cyclic */
    const char *cyclic[] = {"node1", "node2", "node1", "node2"};
    check_map(4, cyclic, (int[]){0, 1, 0, 1}, (int[]){0, 0, 1, 1},
              (int[]){2, 2, 2, 2}, 2);
    /* one task per node */
    const char *one[] = {"gpu07", "gpu08", "gpu09"};
    check_map(3, one, (int[]){0, 1, 2}, (int[]){0, 0, 0}, (int[]){1, 1, 1}, 3);
    /* one rank alone */
    const char *single[] = {"login"};
    check_map(1, single, (int[]){0}, (int[]){0}, (int[]){1}, 1);
}
END_TEST

START_TEST(nodes_first_appearance_not_alphabetical)
{
    /* node ids follow the first rank on each host, not the names */
    const char *hosts[] = {"zeta", "alpha", "zeta", "mu", "alpha", "zeta"};
    check_map(6, hosts, (int[]){0, 1, 0, 2, 1, 0}, (int[]){0, 0, 1, 0, 1, 2},
              (int[]){3, 2, 3, 1, 2, 3}, 3);
    /* uneven: 1 + 3 + 1; names compare exactly (case, FQDN) */
    const char *uneven[] = {"a", "b", "b", "b", "B", "b.cluster"};
    check_map(6, uneven, (int[]){0, 1, 1, 1, 2, 3}, (int[]){0, 0, 1, 2, 0, 0},
              (int[]){1, 3, 3, 3, 1, 1}, 4);
}
END_TEST

START_TEST(nodes_many_ranks)
{
    enum { SIZE = 16384, PER_NODE = 8 };
    const char **hosts = malloc(SIZE * sizeof(*hosts));
    char (*names)[32] = malloc(SIZE / PER_NODE * sizeof(*names));
    int *id = malloc(SIZE * sizeof(int)), *lr = malloc(SIZE * sizeof(int));
    int *ls = malloc(SIZE * sizeof(int)), n = 0;

    ck_assert(hosts && names && id && lr && ls);
    for (int i = 0; i < SIZE / PER_NODE; i++)
        snprintf(names[i], sizeof(names[i]), "gpu-%05d", SIZE / PER_NODE - i);
    for (int r = 0; r < SIZE; r++)
        hosts[r] = names[r / PER_NODE];
    ck_assert_int_eq(sl_boot_nodes_map(SIZE, hosts, id, lr, ls, &n), SL_OK);
    ck_assert_int_eq(n, SIZE / PER_NODE);
    for (int r = 0; r < SIZE; r++) {
        ck_assert_int_eq(id[r], r / PER_NODE);
        ck_assert_int_eq(lr[r], r % PER_NODE);
        ck_assert_int_eq(ls[r], PER_NODE);
    }
    free(ls);
    free(lr);
    free(id);
    free(names);
    free(hosts);
}
END_TEST

START_TEST(nodes_bad_input)
{
    const char *hosts[] = {"a", NULL, ""};
    int id[3], lr[3], ls[3], n = 77;
    FILE *f = sl_check_log_begin();

    ck_assert_int_eq(sl_boot_nodes_map(0, hosts, id, lr, ls, &n),
                     SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_boot_nodes_map(2, hosts, id, lr, ls, &n),
                     SL_ERR_INVALID_ARG);
    hosts[1] = "b";
    ck_assert_int_eq(sl_boot_nodes_map(3, hosts, id, lr, ls, &n),
                     SL_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(sl_check_log_end(f), "rank 2 has no hostname"));
    ck_assert_int_eq(n, 77);
}
END_TEST

static Suite *bootstrap_suite(void)
{
    Suite *s = suite_create("bootstrap");
    TCase *single = tcase_create("single");
    TCase *select = tcase_create("select");
    TCase *nodes = tcase_create("nodes");

    tcase_add_test(single, single_values);
    tcase_add_test(single, auto_without_launcher_is_single);
    tcase_add_test(single, single_bcast);
    tcase_add_test(single, single_allgather_and_barrier);
    tcase_add_exit_test(single, single_abort_exits_with_status, 7);
    tcase_add_exit_test(single, abort_zero_status_is_failure, 1);
    tcase_add_test(single, blobs_layout);
    suite_add_tcase(s, single);

    tcase_add_test(select, select_from_environment);
    tcase_add_test(select, srun_without_pmix_fails_clearly);
    tcase_add_test(select, explicit_backend_errors);
    tcase_add_test(select, timeout_setting);
    tcase_add_test(select, pmix_without_server_fails);
    suite_add_tcase(s, select);

    tcase_add_test(nodes, nodes_block_and_cyclic);
    tcase_add_test(nodes, nodes_first_appearance_not_alphabetical);
    tcase_add_test(nodes, nodes_many_ranks);
    tcase_add_test(nodes, nodes_bad_input);
    suite_add_tcase(s, nodes);
    return s;
}

SL_CHECK_MAIN(bootstrap_suite)
