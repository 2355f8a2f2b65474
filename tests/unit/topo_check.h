/*
 * topo_check.h - helpers shared by check_topo.c (hand-made topologies, the live machine)
 * and check_topo_fixtures.c (real machines from the shared fixtures).
 */
#ifndef SL_TESTS_TOPO_CHECK_H
#define SL_TESTS_TOPO_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "topo/topo.h"
#include "sl_check.h"

/* Loads an XML topology that must load. */
static inline sl_topo_t *topo_load_xml(const char *path, const char *visible, const char *cpuset)
{
    sl_topo_options_t options = {.xml_path = path, .visible_devices = visible, .cpuset = cpuset};
    sl_topo_t *topo = NULL;
    sl_status_t status = sl_topo_load(&options, &topo);

    ck_assert_msg(status == SL_OK, "%s: %s", path, sl_status_string(status));
    ck_assert_ptr_nonnull(topo);
    return topo;
}

static inline sl_topo_plan_t *topo_plan(const sl_topo_t *topo)
{
    sl_topo_plan_t *plan = NULL;
    sl_status_t status = sl_topo_plan_create(topo, &plan);

    ck_assert_msg(status == SL_OK, "plan: %s", sl_status_string(status));
    ck_assert_uint_eq(sl_topo_plan_gpu_count(plan), sl_topo_gpu_count(topo));
    return plan;
}

/* A bitmap in hwloc list syntax ("0-3,8"), compared with `expect`. */
static inline void topo_expect_list(const char *what, size_t i, hwloc_const_bitmap_t bitmap,
                                    const char *expect)
{
    char *text = NULL;

    ck_assert_int_ge(hwloc_bitmap_list_asprintf(&text, bitmap), 0);
    ck_assert_msg(strcmp(text, expect) == 0, "GPU %zu: %s is \"%s\", expected \"%s\"", i, what,
                  text, expect);
    free(text);
}

/* Everything the plan says about GPU i; hca NULL: none (and path must be NONE). */
static inline void topo_expect_gpu(const sl_topo_plan_t *plan, size_t i, const char *busid,
                                   int numa, const char *cpuset, const char *hca,
                                   sl_topo_path_t path)
{
    const sl_topo_placement_t *place = sl_topo_plan_gpu(plan, i);

    ck_assert_msg(place != NULL, "no GPU %zu in the plan", i);
    ck_assert_uint_eq(place->gpu->index, i);
    ck_assert_msg(strcmp(place->gpu->busid, busid) == 0, "GPU %zu: bus id %s, expected %s", i,
                  place->gpu->busid, busid);
    ck_assert_msg(place->gpu->numa == numa, "GPU %zu: NUMA %d, expected %d", i, place->gpu->numa,
                  numa);
    topo_expect_list("cpuset", i, place->cpuset, cpuset);
    if (hca == NULL) {
        ck_assert_msg(place->hca == NULL, "GPU %zu: HCA %s, expected none", i,
                      place->hca ? place->hca->name : "");
    } else {
        ck_assert_msg(place->hca != NULL, "GPU %zu: no HCA, expected %s", i, hca);
        ck_assert_msg(strcmp(place->hca->name, hca) == 0, "GPU %zu: HCA %s, expected %s", i,
                      place->hca->name, hca);
    }
    ck_assert_msg(place->path == path, "GPU %zu: path %s, expected %s", i,
                  sl_topo_path_name(place->path), sl_topo_path_name(path));
}

/* NCCL_IB_HCA for gpu, compared with expect (NULL: SL_ERR_NOT_FOUND). */
static inline void topo_expect_nccl(const sl_topo_plan_t *plan, size_t gpu, const char *expect)
{
    char *value = NULL;
    sl_status_t status = sl_topo_nccl_ib_hca(plan, gpu, &value);

    if (expect == NULL) {
        ck_assert_int_eq(status, SL_ERR_NOT_FOUND);
        ck_assert_ptr_null(value);
        return;
    }
    ck_assert_int_eq(status, SL_OK);
    ck_assert_str_eq(value, expect);
    free(value);
}

/* Log lines written between topo_capture_begin() and topo_capture_end(). */
static char topo_captured[16384] __attribute__((unused));

static inline FILE *topo_capture_begin(void)
{
    FILE *f = tmpfile();

    ck_assert_ptr_nonnull(f);
    sl_log_set_level(SL_LOG_INFO);
    sl_log_set_fd(fileno(f));
    return f;
}

static inline const char *topo_capture_end(FILE *f)
{
    size_t n;

    sl_log_set_fd(-1);
    rewind(f);
    n = fread(topo_captured, 1, sizeof(topo_captured) - 1, f);
    topo_captured[n] = '\0';
    fclose(f);
    return topo_captured;
}

/* What print_table wrote, NUL-terminated (static buffer). */
static char topo_table[16384] __attribute__((unused));

static inline const char *topo_print_table(const sl_topo_plan_t *plan)
{
    FILE *f = tmpfile();
    size_t n;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(sl_topo_plan_print_table(plan, f), SL_OK);
    rewind(f);
    n = fread(topo_table, 1, sizeof(topo_table) - 1, f);
    topo_table[n] = '\0';
    fclose(f);
    return topo_table;
}

#endif /* SL_TESTS_TOPO_CHECK_H */
