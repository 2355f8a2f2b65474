/* check_topo_fixtures.c - placement on hwloc topologies of real machines, from the shared
 * fixtures ($SLINFER_FIXTURES/topologies). Skips (exit 77) when they are absent;
 * check_topo.c covers the same rules on hand-made topologies either way. */
#include "config.h"


#include "topo_check.h"

static const char *fixture(const char *name)
{
    static char path[4096];

    snprintf(path, sizeof(path), "%s/topologies/%s", getenv("SLINFER_FIXTURES"), name);
    return path;
}

START_TEST(hgx_matches_expected_json)
{
    sl_topo_t *topo = topo_load_xml(fixture("hgx-8gpu-8hca.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);
    json_error_t error;
    json_t *expected = json_load_file(fixture("hgx-8gpu-8hca.expected.json"), 0, &error);
    json_t *gpus = json_object_get(expected, "gpus");

    ck_assert_msg(expected != NULL, "expected.json: %s", error.text);
    ck_assert_uint_eq(json_object_size(gpus), 8);
    ck_assert_uint_eq(sl_topo_plan_gpu_count(plan), 8);
    for (size_t i = 0; i < 8; i++) {
        char key[8];
        json_t *want;
        const sl_topo_placement_t *place = sl_topo_plan_gpu(plan, i);

        snprintf(key, sizeof(key), "%zu", i);
        want = json_object_get(gpus, key);
        ck_assert_msg(want != NULL, "expected.json has no GPU %zu", i);
        ck_assert_str_eq(place->gpu->busid, json_string_value(json_object_get(want, "busid")));
        ck_assert_int_eq(place->gpu->numa, json_integer_value(json_object_get(want, "numa")));
        ck_assert_ptr_nonnull(place->hca);
        ck_assert_str_eq(place->hca->name, json_string_value(json_object_get(want, "hca")));
        ck_assert_int_eq(place->path, SL_TOPO_PATH_PIX); /* each HCA shares its GPU's switch */
    }
    json_decref(expected);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(hgx_cores_hcas_and_nccl)
{
    sl_topo_t *topo = topo_load_xml(fixture("hgx-8gpu-8hca.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);
    const sl_topo_hca_t *storage;

    /* 9 OpenFabrics devices: 8 ConnectX-7 next to the GPUs, and the storage ConnectX-6 Dx
     * (RoCE, Ethernet) on its own host bridge of NUMA 0: NODE from GPUs 0-3, never chosen. */
    ck_assert_uint_eq(sl_topo_hca_count(topo), 9);
    storage = sl_topo_hca(topo, 8);
    ck_assert_str_eq(storage->name, "mlx5_8");
    ck_assert_str_eq(storage->busid, "0000:51:00.0");
    ck_assert_int_eq(storage->link_layer, SL_TOPO_LINK_ETHERNET);
    ck_assert_int_eq(storage->port_state, SL_TOPO_PORT_ACTIVE);
    ck_assert_int_eq(sl_topo_path_between(sl_topo_gpu(topo, 0)->pci, storage->osdev),
                     SL_TOPO_PATH_NODE);
    ck_assert_int_eq(sl_topo_path_between(sl_topo_gpu(topo, 4)->pci, storage->osdev),
                     SL_TOPO_PATH_SYS);

    /* 16 cores per NUMA node (core i = PUs i, i+32), 4 GPUs: 16 >= 9, first core for I/O;
     * 15 left = 4+4+4+3. */
    topo_expect_gpu(plan, 0, "0000:13:00.0", 0, "1-4,33-36", "mlx5_0", SL_TOPO_PATH_PIX);
    topo_expect_gpu(plan, 1, "0000:23:00.0", 0, "5-8,37-40", "mlx5_1", SL_TOPO_PATH_PIX);
    topo_expect_gpu(plan, 2, "0000:33:00.0", 0, "9-12,41-44", "mlx5_2", SL_TOPO_PATH_PIX);
    topo_expect_gpu(plan, 3, "0000:43:00.0", 0, "13-15,45-47", "mlx5_3", SL_TOPO_PATH_PIX);
    topo_expect_gpu(plan, 4, "0000:63:00.0", 1, "17-20,49-52", "mlx5_4", SL_TOPO_PATH_PIX);
    topo_expect_gpu(plan, 7, "0000:93:00.0", 1, "29-31,61-63", "mlx5_7", SL_TOPO_PATH_PIX);
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan), "0,16,32,48");

    topo_expect_nccl(plan, 5, "=mlx5_5:1");
    topo_expect_nccl(plan, SL_TOPO_ALL_GPUS,
                     "=mlx5_0:1,mlx5_1:1,mlx5_2:1,mlx5_3:1,mlx5_4:1,mlx5_5:1,mlx5_6:1,mlx5_7:1");
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(hgx_one_process_per_gpu)
{
    /* srun --gpus-per-task=1 style: this process drives physical GPU 6 only. Alone on
     * NUMA 1: 16 >= 3, core 16 for I/O, the other 15 cores for it. */
    sl_topo_t *topo = topo_load_xml(fixture("hgx-8gpu-8hca.xml"), "6", NULL);
    sl_topo_plan_t *plan = topo_plan(topo);

    topo_expect_gpu(plan, 0, "0000:83:00.0", 1, "17-31,49-63", "mlx5_6", SL_TOPO_PATH_PIX);
    topo_expect_nccl(plan, 0, "=mlx5_6:1");
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(dgx2_sixteen_gpus_two_cpus)
{
    sl_topo_t *topo = topo_load_xml(fixture("nvidiaDGX2.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);
    static const char *const busids[16] = {
        "0000:34:00.0", "0000:36:00.0", "0000:39:00.0", "0000:3b:00.0",
        "0000:57:00.0", "0000:59:00.0", "0000:5c:00.0", "0000:5e:00.0",
        "0000:b7:00.0", "0000:b9:00.0", "0000:bc:00.0", "0000:be:00.0",
        "0000:e0:00.0", "0000:e2:00.0", "0000:e5:00.0", "0000:e7:00.0",
    };
    hwloc_obj_t g[16];

    /* The NVSwitches are NVIDIA PCI devices of class 0680: not GPUs. No HCA in the file. */
    ck_assert_uint_eq(sl_topo_gpu_count(topo), 16);
    ck_assert_uint_eq(sl_topo_hca_count(topo), 0);
    /* The file keeps 2 CPUs per socket (PUs 0, 1 and 24, 25) for 8 GPUs: GPU k of a socket
     * shares core k*2/8, i.e. GPUs 0-3 on the first CPU, 4-7 on the second. */
    for (size_t i = 0; i < 16; i++) {
        static const char *const cpus[4] = {"0", "1", "24", "25"};
        topo_expect_gpu(plan, i, busids[i], i < 8 ? 0 : 1, cpus[i / 4], NULL, SL_TOPO_PATH_NONE);
        g[i] = sl_topo_gpu(topo, i)->pci;
    }
    /* Two GPUs per PLX switch, two switches under a bigger one, two of those per socket. */
    ck_assert_int_eq(sl_topo_path_between(g[0], g[1]), SL_TOPO_PATH_PIX);
    ck_assert_int_eq(sl_topo_path_between(g[0], g[2]), SL_TOPO_PATH_PXB);
    ck_assert_int_eq(sl_topo_path_between(g[0], g[4]), SL_TOPO_PATH_NODE);
    ck_assert_int_eq(sl_topo_path_between(g[0], g[8]), SL_TOPO_PATH_SYS);
    ck_assert_int_eq(sl_topo_path_between(g[14], g[15]), SL_TOPO_PATH_PIX);
    topo_expect_nccl(plan, SL_TOPO_ALL_GPUS, NULL);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(power8_pci_domains_and_smt)
{
    sl_topo_t *topo = topo_load_xml(fixture("power8gpudistances.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);

    /* 4 cores of 2 PUs per socket, 2 GPUs each: 4 < 5, no I/O core, 2 cores per GPU. Each
     * GPU has its own PCI domain (host bridge). */
    topo_expect_gpu(plan, 0, "0002:01:00.0", 0, "0-1,8-9", NULL, SL_TOPO_PATH_NONE);
    topo_expect_gpu(plan, 1, "0003:01:00.0", 0, "16-17,24-25", NULL, SL_TOPO_PATH_NONE);
    topo_expect_gpu(plan, 2, "000a:01:00.0", 1, "80-81,88-89", NULL, SL_TOPO_PATH_NONE);
    topo_expect_gpu(plan, 3, "000b:01:00.0", 1, "96-97,104-105", NULL, SL_TOPO_PATH_NONE);
    ck_assert_int_eq(sl_topo_path_between(sl_topo_gpu(topo, 0)->pci, sl_topo_gpu(topo, 1)->pci),
                     SL_TOPO_PATH_NODE);
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan),
                     "0-1,8-9,16-17,24-25,80-81,88-89,96-97,104-105");
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(two_sockets_gpu_and_infiniband_on_socket_1)
{
    sl_topo_t *topo = topo_load_xml(fixture("32em64t-2n8c2t-pci-wholeio.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);

    /* Tesla GPUs at 03:00.0 (socket 0), 83:00.0 and 84:00.0 (socket 1); mlx5_0 (port 1
     * ACTIVE, link layer not recorded) on 84:00.0's root port. The Matrox VGA and the Radeon are
     * not NVIDIA; the I350 NICs are not OpenFabrics.
     * Socket 0: 8 cores (core i = PUs i, i+16), 1 GPU: core 0 for I/O, cores 1-7.
     * Socket 1: 8 cores (PUs 8-15, 24-31), 2 GPUs: core 8 for I/O, 7 left = 4+3. */
    ck_assert_uint_eq(sl_topo_hca_count(topo), 1);
    ck_assert_int_eq(sl_topo_hca(topo, 0)->port_state, SL_TOPO_PORT_ACTIVE);
    ck_assert_int_eq(sl_topo_hca(topo, 0)->link_layer, SL_TOPO_LINK_UNKNOWN);
    ck_assert_int_eq(sl_topo_hca(topo, 0)->numa, 1);
    topo_expect_gpu(plan, 0, "0000:03:00.0", 0, "1-7,17-23", "mlx5_0", SL_TOPO_PATH_SYS);
    topo_expect_gpu(plan, 1, "0000:83:00.0", 1, "9-12,25-28", "mlx5_0", SL_TOPO_PATH_PHB);
    topo_expect_gpu(plan, 2, "0000:84:00.0", 1, "13-15,29-31", "mlx5_0", SL_TOPO_PATH_PIX);
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan), "0,8,16,24");
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

START_TEST(four_numa_nodes_without_gpus)
{
    sl_topo_t *topo = topo_load_xml(fixture("96em64t-4n4d3ca2co-pci.xml"), NULL, NULL);
    sl_topo_plan_t *plan = topo_plan(topo);
    const char *table;

    /* Its only VGA is an ATI ES1000: no GPU, no HCA, every CPU for I/O. */
    ck_assert_uint_eq(sl_topo_gpu_count(topo), 0);
    ck_assert_uint_eq(sl_topo_hca_count(topo), 0);
    topo_expect_list("io cpuset", 0, sl_topo_plan_io_cpuset(plan), "0-95");
    table = topo_print_table(plan);
    ck_assert_msg(strstr(table, ": 0 GPU(s), 0 HCA(s)\nI/O threads: CPUs 0-95\n"), "%s", table);
    sl_topo_plan_destroy(plan);
    sl_topo_destroy(topo);
}
END_TEST

static Suite *topo_fixtures_suite(void)
{
    Suite *s = suite_create("topo_fixtures");
    TCase *tc = tcase_create("machines");

    tcase_add_test(tc, hgx_matches_expected_json);
    tcase_add_test(tc, hgx_cores_hcas_and_nccl);
    tcase_add_test(tc, hgx_one_process_per_gpu);
    tcase_add_test(tc, dgx2_sixteen_gpus_two_cpus);
    tcase_add_test(tc, power8_pci_domains_and_smt);
    tcase_add_test(tc, two_sockets_gpu_and_infiniband_on_socket_1);
    tcase_add_test(tc, four_numa_nodes_without_gpus);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    /* check_topo covers the placement rules without the fixtures */
    if (sl_check_fixtures("topologies/hgx-8gpu-8hca.xml") == NULL)
        return 77;
    return sl_check_run(topo_fixtures_suite());
}
