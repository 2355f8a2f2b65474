/* render.c - the plan as JSON and as a table; see topo.h. The table is printed from the
 * JSON, so a plan gathered from another rank prints exactly like the local one. */
#include "config.h"

#include "topo/topo_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

const char *sl_topo_path_name(sl_topo_path_t path)
{
    static const char *const names[] = {
        [SL_TOPO_PATH_PIX] = "PIX",   [SL_TOPO_PATH_PXB] = "PXB", [SL_TOPO_PATH_PHB] = "PHB",
        [SL_TOPO_PATH_NODE] = "NODE", [SL_TOPO_PATH_SYS] = "SYS", [SL_TOPO_PATH_NONE] = "n/a",
    };
    return path >= SL_TOPO_PATH_PIX && path <= SL_TOPO_PATH_NONE ? names[path] : "n/a";
}

const char *sl_topo_port_state_name(sl_topo_port_state_t state)
{
    static const char *const names[] = {
        [SL_TOPO_PORT_NOP] = "NOP",     [SL_TOPO_PORT_DOWN] = "DOWN",
        [SL_TOPO_PORT_INIT] = "INIT",   [SL_TOPO_PORT_ARMED] = "ARMED",
        [SL_TOPO_PORT_ACTIVE] = "ACTIVE", [SL_TOPO_PORT_ACTIVE_DEFER] = "ACTIVE_DEFER",
    };
    return state >= SL_TOPO_PORT_NOP && state <= SL_TOPO_PORT_ACTIVE_DEFER ? names[state]
                                                                           : "unknown";
}

const char *sl_topo_link_layer_name(sl_topo_link_layer_t link)
{
    switch (link) {
    case SL_TOPO_LINK_INFINIBAND:
        return "InfiniBand";
    case SL_TOPO_LINK_ETHERNET:
        return "Ethernet";
    default:
        return "unknown";
    }
}

/* ---------------------------------------------------------------------------------------- */
/* JSON                                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* New references; NULL only when out of memory (json_null() cannot fail). */
static json_t *sl_topo_json_string_or_null(const char *text)
{
    return text != NULL ? json_string(text) : json_null();
}

static json_t *sl_topo_json_numa(int numa)
{
    return numa >= 0 ? json_integer(numa) : json_null();
}

/* A bitmap as a JSON list string ("0-3,8"); NULL when out of memory (logged). */
static json_t *sl_topo_json_bitmap(hwloc_const_bitmap_t bitmap)
{
    char *text = NULL;
    json_t *json;

    if (sl_topo_bitmap_list(bitmap, &text) != SL_OK)
        return NULL;
    json = json_string(text);
    free(text);
    return json;
}

/* json_object_set_new() steals value even when it fails, and fails on a NULL value, so a
 * chain of them needs one check at the end. */
static int sl_topo_json_set(json_t *object, const char *key, json_t *value)
{
    return json_object_set_new(object, key, value) != 0;
}

static json_t *sl_topo_gpu_json(const sl_topo_placement_t *place)
{
    const sl_topo_hca_t *hca = place->hca;
    json_t *gpu = json_object();
    int failed = gpu == NULL;

    if (failed)
        return NULL;
    failed |= sl_topo_json_set(gpu, "index", json_integer(place->gpu->index));
    failed |= sl_topo_json_set(gpu, "busid", json_string(place->gpu->busid));
    failed |= sl_topo_json_set(gpu, "numa", sl_topo_json_numa(place->gpu->numa));
    failed |= sl_topo_json_set(gpu, "cpuset", sl_topo_json_bitmap(place->cpuset));
    failed |= sl_topo_json_set(gpu, "hca", sl_topo_json_string_or_null(hca ? hca->name : NULL));
    failed |= sl_topo_json_set(gpu, "path", sl_topo_json_string_or_null(
                                                hca ? sl_topo_path_name(place->path) : NULL));
    failed |= sl_topo_json_set(gpu, "hca_port_state",
                               sl_topo_json_string_or_null(
                                   hca ? sl_topo_port_state_name(hca->port_state) : NULL));
    failed |= sl_topo_json_set(gpu, "hca_link_layer",
                               sl_topo_json_string_or_null(
                                   hca ? sl_topo_link_layer_name(hca->link_layer) : NULL));
    if (failed) {
        json_decref(gpu);
        return NULL;
    }
    return gpu;
}

static json_t *sl_topo_hca_json(const sl_topo_hca_t *hca)
{
    json_t *json = json_object();
    int failed = json == NULL;

    if (failed)
        return NULL;
    failed |= sl_topo_json_set(json, "name", json_string(hca->name));
    failed |= sl_topo_json_set(json, "busid",
                               sl_topo_json_string_or_null(hca->busid[0] ? hca->busid : NULL));
    failed |= sl_topo_json_set(json, "numa", sl_topo_json_numa(hca->numa));
    failed |= sl_topo_json_set(json, "port_state",
                               json_string(sl_topo_port_state_name(hca->port_state)));
    failed |= sl_topo_json_set(json, "link_layer",
                               json_string(sl_topo_link_layer_name(hca->link_layer)));
    if (failed) {
        json_decref(json);
        return NULL;
    }
    return json;
}

sl_status_t sl_topo_plan_to_json(const sl_topo_plan_t *plan, json_t **json_p)
{
    const sl_topo_t *topo = plan->topo;
    json_t *root, *gpus, *hcas;
    int failed;

    root = json_object();
    gpus = json_array();
    hcas = json_array();
    failed = root == NULL || gpus == NULL || hcas == NULL;
    for (size_t i = 0; !failed && i < plan->num_gpus; i++)
        failed |= json_array_append_new(gpus, sl_topo_gpu_json(&plan->gpus[i])) != 0;
    for (size_t k = 0; !failed && k < topo->num_hcas; k++)
        failed |= json_array_append_new(hcas, sl_topo_hca_json(&topo->hcas[k])) != 0;
    if (failed)
        goto err_json;
    failed |= sl_topo_json_set(root, "host", sl_topo_json_string_or_null(topo->host));
    failed |= sl_topo_json_set(root, "source", json_string(sl_topo_source(topo)));
    failed |= sl_topo_json_set(root, "gpus", gpus);
    failed |= sl_topo_json_set(root, "hcas", hcas);
    gpus = hcas = NULL; /* root owns them now, even on failure */
    failed |= sl_topo_json_set(root, "io_cpuset", sl_topo_json_bitmap(plan->io_cpuset));
    if (failed)
        goto err_json;
    *json_p = root;
    return SL_OK;

err_json:
    /* A source path that is not UTF-8 also ends here: jansson refuses such strings. */
    sl_error("cannot build the placement plan's JSON (out of memory, or %s is not UTF-8)",
             sl_topo_source(topo));
    json_decref(hcas);
    json_decref(gpus);
    json_decref(root);
    return SL_ERR_NO_MEMORY;
}

sl_status_t sl_topo_plan_to_json_string(const sl_topo_plan_t *plan, char **text_p)
{
    json_t *json;
    char *text;
    sl_status_t status;

    status = sl_topo_plan_to_json(plan, &json);
    if (status != SL_OK)
        return status;
    text = json_dumps(json, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(json);
    if (text == NULL) {
        sl_error("json_dumps: out of memory for the placement plan");
        return SL_ERR_NO_MEMORY;
    }
    *text_p = text;
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Table                                                                                    */
/* ---------------------------------------------------------------------------------------- */

enum { SL_TOPO_COLUMNS = 8 };

static const char *const sl_topo_headings[SL_TOPO_COLUMNS] = {
    "GPU", "BUS ID", "NUMA", "CPUS", "HCA", "PATH", "PORT", "LINK",
};

typedef struct sl_topo_row {
    const char *cell[SL_TOPO_COLUMNS];
    char index[24], numa[24];
} sl_topo_row_t;

/* A string field, or `missing` for null when nullable. NULL: wrong or absent (logged). */
static const char *sl_topo_json_field(const json_t *object, const char *where, size_t i,
                                      const char *key, const char *missing)
{
    const json_t *value = json_object_get(object, key);

    if (json_is_string(value))
        return json_string_value(value);
    if (missing != NULL && json_is_null(value))
        return missing;
    sl_error("placement plan JSON: %s[%zu].%s: %s", where, i, key,
             value == NULL ? "missing" : missing != NULL ? "not a string or null" : "not a string");
    return NULL;
}

/* An integer field formatted into buf ("-" for null when nullable); NULL: wrong (logged). */
static const char *sl_topo_json_int_field(const json_t *object, const char *where, size_t i,
                                          const char *key, int nullable, char *buf, size_t size)
{
    const json_t *value = json_object_get(object, key);

    if (json_is_integer(value)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        return buf;
    }
    if (nullable && json_is_null(value))
        return "-";
    sl_error("placement plan JSON: %s[%zu].%s: %s", where, i, key,
             value == NULL ? "missing" : "not an integer");
    return NULL;
}

static sl_status_t sl_topo_row_from_json(const json_t *gpu, size_t i, sl_topo_row_t *row)
{
    const char **c = row->cell;

    if (!json_is_object(gpu)) {
        sl_error("placement plan JSON: gpus[%zu]: not an object", i);
        return SL_ERR_FORMAT;
    }
    c[0] = sl_topo_json_int_field(gpu, "gpus", i, "index", 0, row->index, sizeof(row->index));
    c[1] = c[0] ? sl_topo_json_field(gpu, "gpus", i, "busid", NULL) : NULL;
    c[2] = c[1] ? sl_topo_json_int_field(gpu, "gpus", i, "numa", 1, row->numa, sizeof(row->numa))
                : NULL;
    c[3] = c[2] ? sl_topo_json_field(gpu, "gpus", i, "cpuset", NULL) : NULL;
    c[4] = c[3] ? sl_topo_json_field(gpu, "gpus", i, "hca", "none") : NULL;
    c[5] = c[4] ? sl_topo_json_field(gpu, "gpus", i, "path", "n/a") : NULL;
    c[6] = c[5] ? sl_topo_json_field(gpu, "gpus", i, "hca_port_state", "-") : NULL;
    c[7] = c[6] ? sl_topo_json_field(gpu, "gpus", i, "hca_link_layer", "-") : NULL;
    return c[7] != NULL ? SL_OK : SL_ERR_FORMAT;
}

static void sl_topo_print_row(FILE *out, const char *const *cells, const int *width)
{
    for (int col = 0; col + 1 < SL_TOPO_COLUMNS; col++)
        fprintf(out, "%-*s  ", width[col], cells[col]);
    fprintf(out, "%s\n", cells[SL_TOPO_COLUMNS - 1]);
}

sl_status_t sl_topo_print_table(const json_t *plan_json, FILE *out)
{
    const json_t *gpus = json_object_get(plan_json, "gpus");
    const json_t *hcas = json_object_get(plan_json, "hcas");
    const char *host, *source, *io;
    int width[SL_TOPO_COLUMNS];
    size_t num_gpus;
    sl_topo_row_t row;

    if (!json_is_object(plan_json) || !json_is_array(gpus)) {
        sl_error("placement plan JSON: %s", json_is_object(plan_json) ? "gpus: missing or not an array"
                                                                     : "not an object");
        return SL_ERR_FORMAT;
    }
    host = sl_topo_json_field(plan_json, "plan", 0, "host", "unknown host");
    source = host ? sl_topo_json_field(plan_json, "plan", 0, "source", NULL) : NULL;
    io = source ? sl_topo_json_field(plan_json, "plan", 0, "io_cpuset", NULL) : NULL;
    if (io == NULL)
        return SL_ERR_FORMAT;
    num_gpus = json_array_size(gpus);
    for (int col = 0; col < SL_TOPO_COLUMNS; col++)
        width[col] = (int)strlen(sl_topo_headings[col]);
    for (size_t i = 0; i < num_gpus; i++) {
        if (sl_topo_row_from_json(json_array_get(gpus, i), i, &row) != SL_OK)
            return SL_ERR_FORMAT;
        for (int col = 0; col < SL_TOPO_COLUMNS; col++)
            if ((int)strlen(row.cell[col]) > width[col])
                width[col] = (int)strlen(row.cell[col]);
    }

    errno = 0;
    fprintf(out, "%s (topology: %s): %zu GPU(s), %zu HCA(s)\n", host, source, num_gpus,
            json_is_array(hcas) ? json_array_size(hcas) : 0);
    if (num_gpus > 0)
        sl_topo_print_row(out, sl_topo_headings, width);
    for (size_t i = 0; i < num_gpus; i++) {
        sl_topo_row_from_json(json_array_get(gpus, i), i, &row); /* checked above */
        sl_topo_print_row(out, row.cell, width);
    }
    fprintf(out, "I/O threads: CPUs %s\n", io);
    if (fflush(out) != 0 || ferror(out)) {
        sl_error("cannot print the placement plan: %s", strerror(errno != 0 ? errno : EIO));
        return SL_ERR_IO;
    }
    return SL_OK;
}

sl_status_t sl_topo_plan_print_table(const sl_topo_plan_t *plan, FILE *out)
{
    json_t *json;
    sl_status_t status;

    status = sl_topo_plan_to_json(plan, &json);
    if (status != SL_OK)
        return status;
    status = sl_topo_print_table(json, out);
    json_decref(json);
    return status;
}
