/* check_topo.c - placement on the hand-made topologies of tests/data/topologies/ (each
 * described in the README there, each expectation worked out next to its test) and binding
 * on the live machine. Real machines are in check_topo_fixtures.c. */
#include "config.h"

#include <errno.h>
#include <unistd.h>

#include "topo_check.h"

/* tests/data/topologies/NAME under $srcdir (set by `make check`). */
static const char *data(const char *name)
{
    static char path[4096];
    const char *srcdir = getenv("srcdir");

#ifdef SL_TEST_SRCDIR
    if (srcdir == NULL)
        srcdir = SL_TEST_SRCDIR;
#endif
    snprintf(path, sizeof(path), "%s/data/topologies/%s", srcdir != NULL ? srcdir : ".", name);
    return path;
}

/* ---------------------------------------------------------------------------------------- */
/* Hand-made topologies                                                                     */
/* ---------------------------------------------------------------------------------------- */

START_TEST(hca_numbering_differs_from_gpu_numbering)
{
    sl_topo_t *topo = topo_load_xml(data("hca-order.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);
    const char *names[] = {"mlx5_0", "mlx5_1", "mlx5_2", "mlx5_3", "mlx5_4"};

    ck_assert_uint_eq(sl_topo_gpu_count(topo), 4);
    ck_assert_uint_eq(sl_topo_hca_count(topo), 5);
    for (size_t k = 0; k < 5; k++) /* natural name order, whatever the bus order */
        ck_assert_str_eq(sl_topo_hca(topo, k)->name, names[k]);
    ck_assert_int_eq(sl_topo_hca(topo, 4)->port_state, SL_TOPO_PORT_DOWN);
    ck_assert_int_eq(sl_topo_hca(topo, 0)->port_state, SL_TOPO_PORT_ACTIVE);
    ck_assert_int_eq(sl_topo_hca(topo, 0)->link_layer, SL_TOPO_LINK_INFINIBAND);
    ck_assert_str_eq(sl_topo_hca(topo, 0)->busid, "0000:24:00.0");
    ck_assert_int_eq(sl_topo_hca(topo, 0)->numa, 1);

    /* 4 cores per NUMA node, 2 GPUs each: 4 < 2*2+1, no I/O core; 2 cores per GPU.
     * GPU 0: mlx5_3 on its switch. GPU 1: mlx5_2 behind a second switch (PXB).
     * GPU 3: mlx5_0 on its switch. GPU 2: mlx5_4 (PHB) is down; mlx5_0 and mlx5_1 are both
     * NODE, mlx5_0 is taken by GPU 3 (assigned first: PIX beats NODE), so mlx5_1. */
    topo_expect_gpu(plan, 0, "0000:03:00.0", 0, "0-1", "mlx5_3", SL_TOPO_PATH_PIX);
    topo_expect_gpu(plan, 1, "0000:07:00.0", 0, "2-3", "mlx5_2", SL_TOPO_PATH_PXB);
    topo_expect_gpu(plan, 2, "0000:11:00.0", 1, "4-5", "mlx5_1", SL_TOPO_PATH_NODE);
    topo_expect_gpu(plan, 3, "0000:23:00.0", 1, "6-7", "mlx5_0", SL_TOPO_PATH_PIX);
    for (size_t i = 0; i < 4; i++)
        topo_expect_list("nodeset", i, sl_topo_plan_gpu(plan, i)->nodeset, i < 2 ? "0" : "1");
    /* the GPUs took every core: I/O threads share all of them */
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan), "0-7");
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(path_classes_between_devices)
{
    sl_topo_t *topo = topo_load_xml(data("hca-order.xml"), NULL, NULL);
    hwloc_obj_t g0 = sl_topo_gpu(topo, 0)->pci, g1 = sl_topo_gpu(topo, 1)->pci;
    hwloc_obj_t g2 = sl_topo_gpu(topo, 2)->pci;
    hwloc_obj_t m0 = sl_topo_hca(topo, 0)->osdev, m2 = sl_topo_hca(topo, 2)->osdev;
    hwloc_obj_t m3 = sl_topo_hca(topo, 3)->osdev, m4 = sl_topo_hca(topo, 4)->osdev;

    ck_assert_int_eq(sl_topo_path_between(g0, m3), SL_TOPO_PATH_PIX);
    ck_assert_int_eq(sl_topo_path_between(m3, g0), SL_TOPO_PATH_PIX); /* symmetric */
    ck_assert_int_eq(sl_topo_path_between(g1, m2), SL_TOPO_PATH_PXB);
    ck_assert_int_eq(sl_topo_path_between(g0, m2), SL_TOPO_PATH_PHB);
    ck_assert_int_eq(sl_topo_path_between(g0, g1), SL_TOPO_PATH_PHB);
    ck_assert_int_eq(sl_topo_path_between(g2, m4), SL_TOPO_PATH_PHB);
    ck_assert_int_eq(sl_topo_path_between(g2, m0), SL_TOPO_PATH_NODE);
    ck_assert_int_eq(sl_topo_path_between(g0, m0), SL_TOPO_PATH_SYS);
    ck_assert_str_eq(sl_topo_path_name(SL_TOPO_PATH_PXB), "PXB");
    ck_assert_str_eq(sl_topo_path_name(SL_TOPO_PATH_NONE), "n/a");
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(shared_switch_and_spread_ties)
{
    sl_topo_t *topo = topo_load_xml(data("shared-switch.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);

    ck_assert_uint_eq(sl_topo_hca_count(topo), 3);
    ck_assert_str_eq(sl_topo_hca(topo, 1)->name, "mlx5_2"); /* before mlx5_10 */
    ck_assert_int_eq(sl_topo_hca(topo, 1)->port_state, SL_TOPO_PORT_UNKNOWN);
    ck_assert_int_eq(sl_topo_hca(topo, 1)->link_layer, SL_TOPO_LINK_UNKNOWN);
    ck_assert_int_eq(sl_topo_hca(topo, 2)->link_layer, SL_TOPO_LINK_ETHERNET);
    /* 8 cores, 4 GPUs: 8 < 9, no I/O core, 2 each.
     * GPUs 0, 1: mlx5_1 on their switch, shared (PIX beats spreading).
     * GPU 2: PHB to all three; mlx5_1 used twice, mlx5_2 and mlx5_10 unused: mlx5_2 (name).
     * GPU 3: PHB to all three; mlx5_10 is now the least used. */
    topo_expect_gpu(plan, 0, "0000:03:00.0", 0, "0-1", "mlx5_1", SL_TOPO_PATH_PIX);
    topo_expect_gpu(plan, 1, "0000:04:00.0", 0, "2-3", "mlx5_1", SL_TOPO_PATH_PIX);
    topo_expect_gpu(plan, 2, "0000:08:00.0", 0, "4-5", "mlx5_2", SL_TOPO_PATH_PHB);
    topo_expect_gpu(plan, 3, "0000:09:00.0", 0, "6-7", "mlx5_10", SL_TOPO_PATH_PHB);

    topo_expect_nccl(plan, 1, "=mlx5_1:1");
    topo_expect_nccl(plan, 3, "=mlx5_10:1");
    topo_expect_nccl(plan, SL_TOPO_ALL_GPUS, "=mlx5_1:1,mlx5_2:1,mlx5_10:1"); /* each once */
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(no_hca_means_none)
{
    sl_topo_t *topo = topo_load_xml(data("no-hca.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);
    const sl_topo_placement_t *place;
    const char *table;
    json_t *json;

    /* Only the NVIDIA display-class device is a GPU; the NIC has no OpenFabrics device. */
    ck_assert_uint_eq(sl_topo_gpu_count(topo), 1);
    ck_assert_uint_eq(sl_topo_hca_count(topo), 0);
    /* 2 cores (PUs 0,2 and 1,3), 1 GPU: 2 < 3, no I/O core: both cores. */
    topo_expect_gpu(plan, 0, "0000:01:00.0", 0, "0-3", NULL, SL_TOPO_PATH_NONE);
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan), "0-3");
    topo_expect_nccl(plan, 0, NULL);
    topo_expect_nccl(plan, SL_TOPO_ALL_GPUS, NULL);

    ck_assert_int_eq(sl_topo_plan_to_json(plan, &json), SL_OK);
    place = sl_topo_plan_gpu(plan, 0);
    ck_assert_ptr_null(place->hca);
    ck_assert(json_is_null(json_object_get(json_array_get(json_object_get(json, "gpus"), 0),
                                           "hca")));
    ck_assert(json_is_null(json_object_get(json_array_get(json_object_get(json, "gpus"), 0),
                                           "path")));
    ck_assert_uint_eq(json_array_size(json_object_get(json, "hcas")), 0);
    json_decref(json);

    table = topo_print_table(plan);
    ck_assert_msg(strstr(table, "0000:01:00.0") != NULL && strstr(table, "none") != NULL &&
                      strstr(table, "n/a") != NULL,
                  "table:\n%s", table);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(gpus_sharing_a_numa_node_split_its_cores)
{
    sl_topo_t *topo = topo_load_xml(data("numa-split.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);

    /* NUMA 0: 8 cores (PUs i, i+12), 3 GPUs: 8 >= 2*3+1, core 0 kept for I/O; 7 left:
     * 7/3 = 2 rem 1, so 3, 2, 2 cores = cores 1-3, 4-5, 6-7.
     * NUMA 1: 4 cores (8-11), 1 GPU: 4 >= 3, core 8 for I/O, cores 9-11 for the GPU.
     * The one HCA is on NUMA 1: SYS for GPUs 0-2, PHB for GPU 3. */
    topo_expect_gpu(plan, 0, "0000:01:00.0", 0, "1-3,13-15", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 1, "0000:02:00.0", 0, "4-5,16-17", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 2, "0000:03:00.0", 0, "6-7,18-19", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 3, "0000:81:00.0", 1, "9-11,21-23", "mlx5_0", SL_TOPO_PATH_PHB);
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan), "0,8,12,20");
    topo_expect_nccl(plan, SL_TOPO_ALL_GPUS, "=mlx5_0:1");
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(allowed_cpuset_narrows_the_split)
{
    sl_topo_t *topo;
    sl_topo_plan_t *plan;

    /* NUMA 0 down to cores 0-5: 6 < 7, no I/O core, 2 cores per GPU. NUMA 1 as before. */
    topo = topo_load_xml(data("numa-split.xml"), NULL, "0-5,12-17,8-11,20-23");
    topo_expect_list("allowed", 0, sl_topo_allowed_cpuset(topo), "0-5,8-17,20-23");
    plan = topo_plan(topo);
    topo_expect_gpu(plan, 0, "0000:01:00.0", 0, "0-1,12-13", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 1, "0000:02:00.0", 0, "2-3,14-15", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 2, "0000:03:00.0", 0, "4-5,16-17", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 3, "0000:81:00.0", 1, "9-11,21-23", "mlx5_0", SL_TOPO_PATH_PHB);
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan), "8,20");
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);

    /* 2 cores for 3 GPUs: GPU k shares core k*2/3 = 0, 0, 1. A half-allowed core (PU 13
     * only) counts with the PU it has. */
    topo = topo_load_xml(data("numa-split.xml"), NULL, "0,1,12,8-11,20-23");
    plan = topo_plan(topo);
    topo_expect_gpu(plan, 0, "0000:01:00.0", 0, "0,12", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 1, "0000:02:00.0", 0, "0,12", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 2, "0000:03:00.0", 0, "1", "mlx5_0", SL_TOPO_PATH_SYS);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(visible_devices_select_and_renumber)
{
    sl_topo_t *topo;
    sl_topo_plan_t *plan;
    FILE *log;
    const char *out;

    /* "3,1": CUDA ordinal 0 is the 4th GPU in bus order, ordinal 1 the 2nd. Each is now
     * alone on its NUMA node: 4 cores >= 2*1+1, the first core goes to I/O. */
    topo = topo_load_xml(data("hca-order.xml"), " 3 , 1", NULL);
    plan = topo_plan(topo);
    ck_assert_uint_eq(sl_topo_gpu_count(topo), 2);
    topo_expect_gpu(plan, 0, "0000:23:00.0", 1, "5-7", "mlx5_0", SL_TOPO_PATH_PIX);
    topo_expect_gpu(plan, 1, "0000:07:00.0", 0, "1-3", "mlx5_2", SL_TOPO_PATH_PXB);
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan), "0,4");
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);

    /* One GPU alone on NUMA 0 of numa-split: 8 >= 3, core 0 for I/O, cores 1-7 for it. */
    topo = topo_load_xml(data("numa-split.xml"), "0,3", NULL);
    plan = topo_plan(topo);
    topo_expect_gpu(plan, 0, "0000:01:00.0", 0, "1-7,13-19", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 1, "0000:81:00.0", 1, "9-11,21-23", "mlx5_0", SL_TOPO_PATH_PHB);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);

    /* "" hides everything: an empty plan, I/O gets every CPU. */
    topo = topo_load_xml(data("hca-order.xml"), "", NULL);
    plan = topo_plan(topo);
    ck_assert_uint_eq(sl_topo_plan_gpu_count(plan), 0);
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan), "0-7");
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);

    /* As CUDA does: stop at the first ordinal out of range or repeated, with a warning. */
    log = topo_capture_begin();
    topo = topo_load_xml(data("hca-order.xml"), "2,7,1", NULL);
    out = topo_capture_end(log);
    ck_assert_uint_eq(sl_topo_gpu_count(topo), 1);
    ck_assert_str_eq(sl_topo_gpu(topo, 0)->busid, "0000:11:00.0");
    ck_assert_msg(strstr(out, "warning: CUDA_VISIBLE_DEVICES=2,7,1: \"7\" is a device that "
                              "does not exist; using the 1 GPU(s) listed before it"),
                  "%s", out);
    sl_topo_destroy(topo);
    topo = topo_load_xml(data("hca-order.xml"), "1,1,2", NULL);
    ck_assert_uint_eq(sl_topo_gpu_count(topo), 1);
    ck_assert_str_eq(sl_topo_gpu(topo, 0)->busid, "0000:07:00.0");
    sl_topo_destroy(topo);
    topo = topo_load_xml(data("hca-order.xml"), "3,,0", NULL); /* an empty entry ends it */
    ck_assert_uint_eq(sl_topo_gpu_count(topo), 1);
    sl_topo_destroy(topo);
    topo = topo_load_xml(data("hca-order.xml"), "-1", NULL); /* the usual "no GPU" idiom */
    ck_assert_uint_eq(sl_topo_gpu_count(topo), 0);
    sl_topo_destroy(topo);

    /* UUIDs cannot be mapped without NVML: a warning and every GPU. */
    log = topo_capture_begin();
    topo = topo_load_xml(data("hca-order.xml"), "GPU-8e1f5d2a-0c4b-4b5e-9a61-0f3c2b7d9e11", NULL);
    out = topo_capture_end(log);
    ck_assert_uint_eq(sl_topo_gpu_count(topo), 4);
    ck_assert_msg(strstr(out, "warning: ") && strstr(out, "not a device ordinal"), "%s", out);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(json_is_one_parseable_line)
{
    sl_topo_t *topo = topo_load_xml(data("hca-order.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);
    json_t *json, *gpu, *hca;
    json_error_t error;
    char *text = NULL;

    ck_assert_int_eq(sl_topo_plan_to_json_string(plan, &text), SL_OK);
    ck_assert_ptr_null(strchr(text, '\n'));
    json = json_loads(text, 0, &error);
    ck_assert_msg(json != NULL, "%s: %s", error.text, text);
    ck_assert_str_eq(json_string_value(json_object_get(json, "host")), "test-hca-order");
    ck_assert_str_eq(json_string_value(json_object_get(json, "source")), data("hca-order.xml"));
    ck_assert_str_eq(json_string_value(json_object_get(json, "io_cpuset")), "0-7");
    ck_assert_uint_eq(json_array_size(json_object_get(json, "gpus")), 4);
    gpu = json_array_get(json_object_get(json, "gpus"), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(gpu, "index")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(gpu, "busid")), "0000:07:00.0");
    ck_assert_int_eq(json_integer_value(json_object_get(gpu, "numa")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(gpu, "cpuset")), "2-3");
    ck_assert_str_eq(json_string_value(json_object_get(gpu, "hca")), "mlx5_2");
    ck_assert_str_eq(json_string_value(json_object_get(gpu, "path")), "PXB");
    ck_assert_str_eq(json_string_value(json_object_get(gpu, "hca_port_state")), "ACTIVE");
    ck_assert_str_eq(json_string_value(json_object_get(gpu, "hca_link_layer")), "InfiniBand");
    hca = json_array_get(json_object_get(json, "hcas"), 4);
    ck_assert_str_eq(json_string_value(json_object_get(hca, "name")), "mlx5_4");
    ck_assert_str_eq(json_string_value(json_object_get(hca, "busid")), "0000:12:00.0");
    ck_assert_int_eq(json_integer_value(json_object_get(hca, "numa")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(hca, "port_state")), "DOWN");

    /* What a rank receives prints like the local plan. */
    {
        FILE *f = tmpfile();
        char buf[4096];
        size_t n;
        const char *local = topo_print_table(plan);

        ck_assert_int_eq(sl_topo_print_table(json, f), SL_OK);
        rewind(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        ck_assert_str_eq(buf, local);
    }
    json_decref(json);
    free(text);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(table_lists_every_gpu)
{
    sl_topo_t *topo = topo_load_xml(data("hca-order.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);
    const char *table = topo_print_table(plan);

    /* Columns are as wide as their widest cell plus two spaces. */
    ck_assert_msg(strncmp(table, "test-hca-order (topology: ", 26) == 0, "%s", table);
    ck_assert_msg(strstr(table, "): 4 GPU(s), 5 HCA(s)\n"), "%s", table);
    ck_assert_msg(strstr(table, "\nGPU  BUS ID        NUMA  CPUS  HCA     PATH  PORT    LINK\n"),
                  "%s", table);
    ck_assert_msg(strstr(table, "\n1    0000:07:00.0  0     2-3   mlx5_2  PXB   ACTIVE  "
                                "InfiniBand\n"),
                  "%s", table);
    ck_assert_msg(strstr(table, "\n2    0000:11:00.0  1     4-5   mlx5_1  NODE  ACTIVE  "
                                "InfiniBand\n"),
                  "%s", table);
    ck_assert_msg(strstr(table, "\nI/O threads: CPUs 0-7\n"), "%s", table);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(table_rejects_malformed_json)
{
    json_t *json = json_loads("{\"host\": null, \"source\": \"x\", \"io_cpuset\": \"0\","
                              " \"gpus\": [{\"index\": 0, \"numa\": 0}]}",
                              0, NULL);
    FILE *log, *sink = fopen("/dev/null", "w");
    const char *out;

    ck_assert_ptr_nonnull(json);
    log = topo_capture_begin();
    ck_assert_int_eq(sl_topo_print_table(json, sink), SL_ERR_FORMAT);
    out = topo_capture_end(log);
    ck_assert_msg(strstr(out, "gpus[0].busid: missing"), "%s", out);
    json_decref(json);
    json = json_loads("{\"gpus\": 3}", 0, NULL);
    ck_assert_int_eq(sl_topo_print_table(json, sink), SL_ERR_FORMAT);
    json_decref(json);
    fclose(sink);
}
END_TEST

START_TEST(load_errors_are_reported)
{
    sl_topo_options_t options = {.xml_path = "/nonexistent/topology.xml"};
    sl_topo_t *topo = (sl_topo_t *)&options; /* must stay untouched on failure */
    char bad[] = "/tmp/check_topo_XXXXXX";
    FILE *log;
    const char *out;
    int fd;

    log = topo_capture_begin();
    ck_assert_int_eq(sl_topo_load(&options, &topo), SL_ERR_NOT_FOUND);
    out = topo_capture_end(log);
    ck_assert_msg(strstr(out, "error: /nonexistent/topology.xml: ") != NULL, "%s", out);
    ck_assert_ptr_eq(topo, (sl_topo_t *)&options);

    fd = mkstemp(bad);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "<topology>not really", 20), 20);
    close(fd);
    options.xml_path = bad;
    ck_assert_int_eq(sl_topo_load(&options, &topo), SL_ERR_FORMAT);
    unlink(bad);

    options.xml_path = data("no-hca.xml");
    options.cpuset = "zero-three";
    ck_assert_int_eq(sl_topo_load(&options, &topo), SL_ERR_INVALID_ARG);
    options.cpuset = "100-200"; /* no such CPU on a 4-PU machine */
    ck_assert_int_eq(sl_topo_load(&options, &topo), SL_ERR_INVALID_ARG);
    ck_assert_ptr_eq(topo, (sl_topo_t *)&options);
}
END_TEST

START_TEST(nccl_env_respects_the_user)
{
    sl_topo_t *topo = topo_load_xml(data("hca-order.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);
    FILE *log;
    const char *out;

    topo_expect_nccl(plan, 0, "=mlx5_3:1");
    topo_expect_nccl(plan, SL_TOPO_ALL_GPUS, "=mlx5_3:1,mlx5_2:1,mlx5_1:1,mlx5_0:1");

    setenv("NCCL_IB_HCA", "mlx5_9", 1);
    log = topo_capture_begin();
    ck_assert_int_eq(sl_topo_nccl_setenv(plan, 0), SL_OK);
    out = topo_capture_end(log);
    ck_assert_str_eq(getenv("NCCL_IB_HCA"), "mlx5_9");
    ck_assert_msg(strstr(out, "NCCL_IB_HCA=mlx5_9 is set: keeping"), "%s", out);

    unsetenv("NCCL_IB_HCA");
    ck_assert_int_eq(sl_topo_nccl_setenv(plan, 3), SL_OK);
    ck_assert_str_eq(getenv("NCCL_IB_HCA"), "=mlx5_0:1");
    unsetenv("NCCL_IB_HCA");

    ck_assert_int_eq(sl_topo_nccl_setenv(plan, 4), SL_ERR_INVALID_ARG);
    ck_assert_ptr_null(getenv("NCCL_IB_HCA"));
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

/* ---------------------------------------------------------------------------------------- */
/* Binding                                                                                  */
/* ---------------------------------------------------------------------------------------- */

START_TEST(bind_mode_names)
{
    sl_topo_bind_mode_t mode = SL_TOPO_BIND_STRICT;

    ck_assert_int_eq(sl_topo_bind_mode_parse("none", &mode), SL_OK);
    ck_assert_int_eq(mode, SL_TOPO_BIND_NONE);
    ck_assert_int_eq(sl_topo_bind_mode_parse("Preferred", &mode), SL_OK);
    ck_assert_int_eq(mode, SL_TOPO_BIND_PREFERRED);
    ck_assert_int_eq(sl_topo_bind_mode_parse("STRICT", &mode), SL_OK);
    ck_assert_int_eq(mode, SL_TOPO_BIND_STRICT);
    ck_assert_int_eq(sl_topo_bind_mode_parse("cores", &mode), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(sl_topo_bind_mode_parse(NULL, &mode), SL_ERR_INVALID_ARG);
    ck_assert_int_eq(mode, SL_TOPO_BIND_STRICT); /* untouched on failure */
    ck_assert_str_eq(sl_topo_bind_mode_name(SL_TOPO_BIND_PREFERRED), "preferred");
}
END_TEST

/* The calling thread's CPU binding (caller frees). */
static hwloc_bitmap_t thread_binding(hwloc_topology_t hwloc)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();

    ck_assert_ptr_nonnull(set);
    ck_assert_int_eq(hwloc_get_cpubind(hwloc, set, HWLOC_CPUBIND_THREAD), 0);
    return set;
}

START_TEST(live_machine_plans)
{
    sl_topo_t *topo = NULL;
    sl_topo_plan_t *plan;
    char *text = NULL;
    json_t *json;

    ck_assert_int_eq(sl_topo_load(NULL, &topo), SL_OK);
    ck_assert(sl_topo_is_live(topo));
    ck_assert_str_eq(sl_topo_source(topo), "live");
    ck_assert_ptr_nonnull(sl_topo_host(topo));
    ck_assert(!hwloc_bitmap_iszero(sl_topo_allowed_cpuset(topo)));
    plan = topo_plan(topo);
    /* Whatever this machine has, every placement is inside the allowed CPUs. */
    for (size_t i = 0; i < sl_topo_plan_gpu_count(plan); i++) {
        hwloc_const_cpuset_t set = sl_topo_plan_gpu(plan, i)->cpuset;
        ck_assert(!hwloc_bitmap_iszero(set));
        ck_assert(hwloc_bitmap_isincluded(set, sl_topo_allowed_cpuset(topo)));
    }
    ck_assert(hwloc_bitmap_isincluded(sl_topo_plan_io_cpuset(plan), sl_topo_allowed_cpuset(topo)));
    ck_assert(!hwloc_bitmap_iszero(sl_topo_plan_io_cpuset(plan)));
    ck_assert_int_eq(sl_topo_plan_to_json_string(plan, &text), SL_OK);
    json = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(json);
    ck_assert_str_eq(json_string_value(json_object_get(json, "source")), "live");
    json_decref(json);
    free(text);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(live_bind_to_one_cpu)
{
    sl_topo_t *topo = NULL;
    hwloc_bitmap_t one, now;
    sl_status_t status;
    FILE *log;
    const char *out;

    ck_assert_int_eq(sl_topo_load(NULL, &topo), SL_OK);
    one = hwloc_bitmap_alloc();
    ck_assert_ptr_nonnull(one);
    /* the last allowed CPU: not where a fresh thread usually starts */
    ck_assert_int_eq(hwloc_bitmap_only(one, (unsigned)hwloc_bitmap_last(
                                                sl_topo_allowed_cpuset(topo))), 0);
    log = topo_capture_begin();
    status = sl_topo_bind_thread(topo, one, NULL, SL_TOPO_BIND_PREFERRED);
    out = topo_capture_end(log);
    if (status == SL_OK) {
        now = thread_binding(sl_topo_hwloc(topo));
        ck_assert(hwloc_bitmap_isequal(now, one));
        hwloc_bitmap_free(now);
    } else { /* a sandbox may forbid it: then it must say so, once */
        ck_assert_int_eq(status, SL_ERR_TOPOLOGY);
        ck_assert_msg(strstr(out, "error: cannot bind thread to CPUs ") != NULL, "%s", out);
        fprintf(stderr, "check_topo: note: this machine refused CPU binding: %s", out);
    }
    ck_assert_int_eq(sl_topo_bind_thread(topo, NULL, NULL, SL_TOPO_BIND_STRICT),
                     SL_ERR_INVALID_ARG);
    hwloc_bitmap_free(one);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(live_bind_with_memory_falls_back_gracefully)
{
    sl_topo_t *topo = NULL;
    sl_topo_plan_t *plan;
    hwloc_bitmap_t one, nodes, now;

    ck_assert_int_eq(sl_topo_load(NULL, &topo), SL_OK);
    plan = topo_plan(topo);
    one = hwloc_bitmap_alloc();
    nodes = hwloc_bitmap_alloc();
    ck_assert_int_eq(hwloc_bitmap_only(one, (unsigned)hwloc_bitmap_first(
                                                sl_topo_allowed_cpuset(topo))), 0);
    ck_assert_int_eq(hwloc_cpuset_to_nodeset(sl_topo_hwloc(topo), one, nodes), 0);
    /* strict memory binding may be refused in a container: a warning, not a failure */
    ck_assert_int_eq(sl_topo_bind_thread(topo, one, nodes, SL_TOPO_BIND_STRICT), SL_OK);
    now = thread_binding(sl_topo_hwloc(topo));
    ck_assert(hwloc_bitmap_isequal(now, one));
    /* the I/O cpuset, memory not bound */
    ck_assert_int_eq(sl_topo_bind_io_thread(plan, SL_TOPO_BIND_PREFERRED), SL_OK);
    ck_assert_int_eq(hwloc_get_cpubind(sl_topo_hwloc(topo), now, HWLOC_CPUBIND_THREAD), 0);
    ck_assert(hwloc_bitmap_isequal(now, sl_topo_plan_io_cpuset(plan)));
    ck_assert_int_eq(sl_topo_bind_gpu_thread(plan, sl_topo_plan_gpu_count(plan),
                                             SL_TOPO_BIND_PREFERRED),
                     SL_ERR_INVALID_ARG);
    hwloc_bitmap_free(now);
    hwloc_bitmap_free(nodes);
    hwloc_bitmap_free(one);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(mode_none_and_foreign_topologies_leave_the_thread_alone)
{
    sl_topo_t *live = NULL, *xml;
    sl_topo_plan_t *plan;
    hwloc_bitmap_t before, after, one;
    FILE *log;
    const char *out;

    ck_assert_int_eq(sl_topo_load(NULL, &live), SL_OK);
    before = thread_binding(sl_topo_hwloc(live));
    one = hwloc_bitmap_alloc();
    ck_assert_int_eq(hwloc_bitmap_only(one, (unsigned)hwloc_bitmap_last(
                                                sl_topo_allowed_cpuset(live))), 0);
    ck_assert_int_eq(sl_topo_bind_thread(live, one, NULL, SL_TOPO_BIND_NONE), SL_OK);

    /* GPU 0 of an XML machine: its cores are not this machine's */
    xml = topo_load_xml(data("hca-order.xml"), NULL, NULL);
    plan = topo_plan(xml);
    ck_assert_int_eq(sl_topo_bind_gpu_thread(plan, 0, SL_TOPO_BIND_NONE), SL_OK);
    log = topo_capture_begin();
    ck_assert_int_eq(sl_topo_bind_gpu_thread(plan, 0, SL_TOPO_BIND_STRICT), SL_OK);
    out = topo_capture_end(log);
    ck_assert_msg(strstr(out, "warning: not binding: the topology (") != NULL, "%s", out);

    after = thread_binding(sl_topo_hwloc(live));
    ck_assert(hwloc_bitmap_isequal(before, after));
    hwloc_bitmap_free(after);
    hwloc_bitmap_free(one);
    hwloc_bitmap_free(before);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(xml);
    sl_topo_destroy(live);
}
END_TEST

static Suite *topo_suite(void)
{
    Suite *s = suite_create("topo");
    TCase *plan = tcase_create("plan");
    TCase *bind = tcase_create("bind");

    tcase_add_test(plan, hca_numbering_differs_from_gpu_numbering);
    tcase_add_test(plan, path_classes_between_devices);
    tcase_add_test(plan, shared_switch_and_spread_ties);
    tcase_add_test(plan, no_hca_means_none);
    tcase_add_test(plan, gpus_sharing_a_numa_node_split_its_cores);
    tcase_add_test(plan, allowed_cpuset_narrows_the_split);
    tcase_add_test(plan, visible_devices_select_and_renumber);
    tcase_add_test(plan, json_is_one_parseable_line);
    tcase_add_test(plan, table_lists_every_gpu);
    tcase_add_test(plan, table_rejects_malformed_json);
    tcase_add_test(plan, load_errors_are_reported);
    tcase_add_test(plan, nccl_env_respects_the_user);
    suite_add_tcase(s, plan);
    tcase_add_test(bind, bind_mode_names);
    tcase_add_test(bind, live_machine_plans);
    tcase_add_test(bind, live_bind_to_one_cpu);
    tcase_add_test(bind, live_bind_with_memory_falls_back_gracefully);
    tcase_add_test(bind, mode_none_and_foreign_topologies_leave_the_thread_alone);
    suite_add_tcase(s, bind);
    return s;
}

SL_CHECK_MAIN(topo_suite)
