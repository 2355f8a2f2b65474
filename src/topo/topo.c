/* topo.c - loading the topology and finding its GPUs and HCAs; see topo.h. */
#include "config.h"

#include "topo/topo_impl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifdef SL_HAVE_IBVERBS
#include <infiniband/verbs.h>
#endif

#include "core/log.h"

#define SL_TOPO_NVIDIA_VENDOR 0x10de
#define SL_TOPO_CLASS_3D      0x0302
#define SL_TOPO_CLASS_DISPLAY 0x0300

/* ---------------------------------------------------------------------------------------- */
/* Helpers shared by the files of src/topo/                                                */
/* ---------------------------------------------------------------------------------------- */

int sl_topo_numa_of(hwloc_obj_t obj)
{
    hwloc_obj_t local = obj;

    while (local != NULL && local->cpuset == NULL) /* I/O objects have no cpuset */
        local = local->parent;
    if (local == NULL || local->nodeset == NULL || hwloc_bitmap_weight(local->nodeset) != 1)
        return -1;
    return hwloc_bitmap_first(local->nodeset);
}

int sl_topo_name_cmp(const char *a, const char *b)
{
    while (*a != '\0' && *b != '\0') {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            const char *ra, *rb;
            size_t la, lb;
            int diff;

            while (*a == '0' && isdigit((unsigned char)a[1]))
                a++;
            while (*b == '0' && isdigit((unsigned char)b[1]))
                b++;
            for (ra = a; isdigit((unsigned char)*ra); ra++)
                ;
            for (rb = b; isdigit((unsigned char)*rb); rb++)
                ;
            la = (size_t)(ra - a);
            lb = (size_t)(rb - b);
            if (la != lb) /* no leading zeros left: the longer number is larger */
                return la < lb ? -1 : 1;
            diff = memcmp(a, b, la);
            if (diff != 0)
                return diff;
            a = ra;
            b = rb;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return (*a != '\0') - (*b != '\0');
}

sl_status_t sl_topo_bitmap_list(hwloc_const_bitmap_t bitmap, char **text_p)
{
    char *text = NULL;

    if (hwloc_bitmap_list_asprintf(&text, bitmap) < 0 || text == NULL) {
        sl_error("hwloc_bitmap_list_asprintf: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    *text_p = text;
    return SL_OK;
}

static void sl_topo_format_busid(hwloc_obj_t pci, char busid[SL_TOPO_BUSID_SIZE])
{
    snprintf(busid, SL_TOPO_BUSID_SIZE, "%04x:%02x:%02x.%x", (unsigned)pci->attr->pcidev.domain,
             (unsigned)pci->attr->pcidev.bus, (unsigned)pci->attr->pcidev.dev,
             (unsigned)pci->attr->pcidev.func);
}

/* ---------------------------------------------------------------------------------------- */
/* Accessors                                                                                */
/* ---------------------------------------------------------------------------------------- */

int sl_topo_is_live(const sl_topo_t *topo)
{
    return topo->xml_path == NULL;
}

const char *sl_topo_source(const sl_topo_t *topo)
{
    return topo->xml_path != NULL ? topo->xml_path : "live";
}

const char *sl_topo_host(const sl_topo_t *topo)
{
    return topo->host;
}

hwloc_topology_t sl_topo_hwloc(const sl_topo_t *topo)
{
    return topo->hwloc;
}

hwloc_const_cpuset_t sl_topo_allowed_cpuset(const sl_topo_t *topo)
{
    return topo->allowed;
}

size_t sl_topo_gpu_count(const sl_topo_t *topo)
{
    return topo->num_gpus;
}

const sl_topo_gpu_t *sl_topo_gpu(const sl_topo_t *topo, size_t i)
{
    return i < topo->num_gpus ? &topo->gpus[i] : NULL;
}

size_t sl_topo_hca_count(const sl_topo_t *topo)
{
    return topo->num_hcas;
}

const sl_topo_hca_t *sl_topo_hca(const sl_topo_t *topo, size_t i)
{
    return i < topo->num_hcas ? &topo->hcas[i] : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* hwloc                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* Checks the file first so that a missing file is reported as such, not as bad XML. */
static sl_status_t sl_topo_check_readable(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        int err = errno;
        sl_error("%s: cannot open the topology file: %s", path, strerror(err));
        return err == ENOENT ? SL_ERR_NOT_FOUND : SL_ERR_IO;
    }
    close(fd);
    return SL_OK;
}

static sl_status_t sl_topo_open_hwloc(const char *xml_path, hwloc_topology_t *hwloc_p)
{
    hwloc_topology_t hwloc;
    sl_status_t status;

    if (xml_path != NULL) {
        status = sl_topo_check_readable(xml_path);
        if (status != SL_OK)
            return status;
    }
    if (hwloc_topology_init(&hwloc) != 0) {
        sl_error("hwloc_topology_init: %s", strerror(errno));
        return SL_ERR_TOPOLOGY;
    }
    /* GPUs, HCAs and the bridges between them; not DMA channels and the like. */
    if (hwloc_topology_set_io_types_filter(hwloc, HWLOC_TYPE_FILTER_KEEP_IMPORTANT) != 0) {
        sl_error("hwloc_topology_set_io_types_filter: %s", strerror(errno));
        status = SL_ERR_TOPOLOGY;
        goto err_destroy;
    }
    if (xml_path != NULL) {
        /* hwloc parses the file here already; it was readable, so the content is wrong */
        if (hwloc_topology_set_xml(hwloc, xml_path) != 0) {
            sl_error("%s: not a valid hwloc XML topology (%s)", xml_path, strerror(errno));
            status = SL_ERR_FORMAT;
            goto err_destroy;
        }
        /* The file's cgroup is not ours: plan with every CPU of the machine. */
        if (hwloc_topology_set_flags(hwloc, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED) != 0) {
            sl_error("%s: hwloc_topology_set_flags: %s", xml_path, strerror(errno));
            status = SL_ERR_TOPOLOGY;
            goto err_destroy;
        }
    } else {
#if HWLOC_API_VERSION >= 0x00020100
        /* Linux's own sysfs discovery finds PCI devices, bridges and OpenFabrics devices.
         * The libpciaccess plugin adds only device names (and leaks a kilobyte per load,
         * which fails sanitizer builds); the OpenCL and GL plugins would start GPU runtimes
         * we do not use. Skipping them is an optimisation: failure is not an error. */
        static const char *const skipped[] = {"pci", "opencl", "gl"};
        for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
            if (hwloc_topology_set_components(hwloc, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST,
                                              skipped[i]) != 0)
                sl_debug("hwloc_topology_set_components(blacklist %s): %s", skipped[i],
                         strerror(errno));
#endif
    }
    if (hwloc_topology_load(hwloc) != 0) {
        if (xml_path != NULL) {
            sl_error("%s: not a valid hwloc XML topology (%s)", xml_path, strerror(errno));
            status = SL_ERR_FORMAT;
        } else {
            sl_error("hwloc_topology_load: cannot discover this machine: %s", strerror(errno));
            status = SL_ERR_TOPOLOGY;
        }
        goto err_destroy;
    }
    *hwloc_p = hwloc;
    return SL_OK;

err_destroy:
    hwloc_topology_destroy(hwloc);
    return status;
}

/* The CPUs plans may use: the cgroup's (live) or all (XML), narrowed by options->cpuset. */
static sl_status_t sl_topo_find_allowed(sl_topo_t *topo, const char *restrict_list)
{
    hwloc_const_cpuset_t base = topo->xml_path == NULL
                                    ? hwloc_topology_get_allowed_cpuset(topo->hwloc)
                                    : hwloc_topology_get_topology_cpuset(topo->hwloc);
    hwloc_bitmap_t allowed, wanted = NULL;
    sl_status_t status;

    allowed = hwloc_bitmap_dup(base);
    if (allowed == NULL) {
        sl_error("hwloc_bitmap_dup: out of memory");
        return SL_ERR_NO_MEMORY;
    }
    if (restrict_list != NULL) {
        wanted = hwloc_bitmap_alloc();
        if (wanted == NULL) {
            sl_error("hwloc_bitmap_alloc: out of memory");
            status = SL_ERR_NO_MEMORY;
            goto err_allowed;
        }
        if (hwloc_bitmap_list_sscanf(wanted, restrict_list) != 0) {
            sl_error("cpuset \"%s\": not a CPU list such as \"0-15,32-47\"", restrict_list);
            status = SL_ERR_INVALID_ARG;
            goto err_wanted;
        }
        if (hwloc_bitmap_and(allowed, allowed, wanted) != 0) {
            sl_error("hwloc_bitmap_and: out of memory");
            status = SL_ERR_NO_MEMORY;
            goto err_wanted;
        }
        hwloc_bitmap_free(wanted);
        wanted = NULL;
    }
    if (hwloc_bitmap_iszero(allowed)) {
        sl_error("%s%s: no CPU of the topology is allowed", sl_topo_source(topo),
                 restrict_list != NULL ? " restricted to the requested cpuset" : "");
        status = SL_ERR_INVALID_ARG;
        goto err_allowed;
    }
    topo->allowed = allowed;
    return SL_OK;

err_wanted:
    hwloc_bitmap_free(wanted);
err_allowed:
    hwloc_bitmap_free(allowed);
    return status;
}

static sl_status_t sl_topo_find_host(sl_topo_t *topo)
{
    const char *name = hwloc_obj_get_info_by_name(hwloc_get_root_obj(topo->hwloc), "HostName");
    char buf[256];

    if (name == NULL && topo->xml_path == NULL && gethostname(buf, sizeof(buf)) == 0) {
        buf[sizeof(buf) - 1] = '\0';
        name = buf;
    }
    if (name == NULL)
        return SL_OK; /* an XML file without a host name: unknown */
    topo->host = strdup(name);
    if (topo->host == NULL) {
        sl_error("out of memory for the host name");
        return SL_ERR_NO_MEMORY;
    }
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* HCAs                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static sl_topo_port_state_t sl_topo_port_state_from(long value)
{
    return value >= SL_TOPO_PORT_NOP && value <= SL_TOPO_PORT_ACTIVE_DEFER
               ? (sl_topo_port_state_t)value
               : SL_TOPO_PORT_UNKNOWN;
}

/* hwloc's Linux backend records port 1 from sysfs as "Port1State" (the number of
 * "4: ACTIVE") and "Port1LinkLayer"; XML files carry them too. */
static void sl_topo_hca_port_from_hwloc(sl_topo_hca_t *hca)
{
    const char *state = hwloc_obj_get_info_by_name(hca->osdev, "Port1State");
    const char *link = hwloc_obj_get_info_by_name(hca->osdev, "Port1LinkLayer");

    if (state != NULL) {
        char *end;
        long value = strtol(state, &end, 10);
        if (end != state)
            hca->port_state = sl_topo_port_state_from(value);
    }
    if (link != NULL) {
        if (strcasecmp(link, "InfiniBand") == 0)
            hca->link_layer = SL_TOPO_LINK_INFINIBAND;
        else if (strcasecmp(link, "Ethernet") == 0)
            hca->link_layer = SL_TOPO_LINK_ETHERNET;
    }
}

#ifdef SL_HAVE_IBVERBS
/* Asks the verbs library for port 1 of each HCA. Only informative: failures leave what
 * hwloc said and never fail the load. */
static void sl_topo_hca_ports_from_verbs(sl_topo_t *topo)
{
    struct ibv_device **list;
    int num = 0;

    list = ibv_get_device_list(&num);
    if (list == NULL) {
        sl_warn("ibv_get_device_list: %s; HCA port states from sysfs only", strerror(errno));
        return;
    }
    for (int i = 0; i < num; i++) {
        const char *name = ibv_get_device_name(list[i]);
        sl_topo_hca_t *hca = NULL;
        struct ibv_context *context;
        struct ibv_port_attr attr;

        for (size_t h = 0; name != NULL && h < topo->num_hcas; h++)
            if (strcmp(topo->hcas[h].name, name) == 0)
                hca = &topo->hcas[h];
        if (hca == NULL)
            continue;
        context = ibv_open_device(list[i]);
        if (context == NULL) {
            sl_warn("%s: ibv_open_device: %s; port state unknown", name, strerror(errno));
            continue;
        }
        memset(&attr, 0, sizeof(attr));
        if (ibv_query_port(context, 1, &attr) == 0) {
            hca->port_state = sl_topo_port_state_from((long)attr.state);
            /* UNSPECIFIED is what InfiniBand drivers older than RoCE report. */
            hca->link_layer = attr.link_layer == IBV_LINK_LAYER_ETHERNET
                                  ? SL_TOPO_LINK_ETHERNET
                                  : SL_TOPO_LINK_INFINIBAND;
        } else {
            sl_warn("%s: ibv_query_port(1) failed; port state unknown", name);
        }
        if (ibv_close_device(context) != 0)
            sl_warn("%s: ibv_close_device: %s", name, strerror(errno));
    }
    ibv_free_device_list(list);
}
#endif

static int sl_topo_hca_order(const void *a, const void *b)
{
    return sl_topo_name_cmp(((const sl_topo_hca_t *)a)->name, ((const sl_topo_hca_t *)b)->name);
}

static sl_status_t sl_topo_find_hcas(sl_topo_t *topo)
{
    hwloc_obj_t obj = NULL;
    size_t count = 0, n = 0;

    while ((obj = hwloc_get_next_osdev(topo->hwloc, obj)) != NULL)
        count += obj->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS;
    if (count == 0)
        return SL_OK;
    topo->hcas = calloc(count, sizeof(*topo->hcas));
    if (topo->hcas == NULL) {
        sl_error("out of memory for %zu HCAs", count);
        return SL_ERR_NO_MEMORY;
    }
    while ((obj = hwloc_get_next_osdev(topo->hwloc, obj)) != NULL && n < count) {
        sl_topo_hca_t *hca = &topo->hcas[n];
        hwloc_obj_t pci;

        if (obj->attr->osdev.type != HWLOC_OBJ_OSDEV_OPENFABRICS)
            continue;
        snprintf(hca->name, sizeof(hca->name), "%s", obj->name != NULL ? obj->name : "?");
        for (pci = obj->parent; pci != NULL && pci->type != HWLOC_OBJ_PCI_DEVICE &&
                                pci->cpuset == NULL;
             pci = pci->parent)
            ;
        if (pci != NULL && pci->type == HWLOC_OBJ_PCI_DEVICE)
            sl_topo_format_busid(pci, hca->busid);
        hca->numa = sl_topo_numa_of(obj);
        hca->port_state = SL_TOPO_PORT_UNKNOWN;
        hca->link_layer = SL_TOPO_LINK_UNKNOWN;
        hca->osdev = obj;
        sl_topo_hca_port_from_hwloc(hca);
        n++;
    }
    topo->num_hcas = n;
    qsort(topo->hcas, n, sizeof(*topo->hcas), sl_topo_hca_order);
#ifdef SL_HAVE_IBVERBS
    if (topo->xml_path == NULL)
        sl_topo_hca_ports_from_verbs(topo);
#endif
    return SL_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* GPUs                                                                                     */
/* ---------------------------------------------------------------------------------------- */

static int sl_topo_pci_order(const void *a, const void *b)
{
    const struct hwloc_pcidev_attr_s *x = &(*(const hwloc_obj_t *)a)->attr->pcidev;
    const struct hwloc_pcidev_attr_s *y = &(*(const hwloc_obj_t *)b)->attr->pcidev;

    if (x->domain != y->domain)
        return x->domain < y->domain ? -1 : 1;
    if (x->bus != y->bus)
        return x->bus < y->bus ? -1 : 1;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    if (x->func != y->func)
        return x->func < y->func ? -1 : 1;
    return 0;
}

/* Every NVIDIA GPU on the PCI bus, in bus order. *objs_p is the caller's (NULL when none). */
static sl_status_t sl_topo_scan_pci_gpus(hwloc_topology_t hwloc, hwloc_obj_t **objs_p,
                                         size_t *count_p)
{
    hwloc_obj_t obj = NULL, *objs;
    size_t count = 0, n = 0;

    while ((obj = hwloc_get_next_pcidev(hwloc, obj)) != NULL)
        count++;
    objs = calloc(count > 0 ? count : 1, sizeof(*objs));
    if (objs == NULL) {
        sl_error("out of memory for %zu PCI devices", count);
        return SL_ERR_NO_MEMORY;
    }
    while ((obj = hwloc_get_next_pcidev(hwloc, obj)) != NULL && n < count) {
        if (obj->attr->pcidev.vendor_id == SL_TOPO_NVIDIA_VENDOR &&
            (obj->attr->pcidev.class_id == SL_TOPO_CLASS_3D ||
             obj->attr->pcidev.class_id == SL_TOPO_CLASS_DISPLAY))
            objs[n++] = obj;
    }
    qsort(objs, n, sizeof(*objs), sl_topo_pci_order);
    *objs_p = objs;
    *count_p = n;
    return SL_OK;
}

/* A CUDA_VISIBLE_DEVICES entry (spaces around it ignored): 1 and *value_p for an integer,
 * -1 for an empty entry, 0 for anything else. */
static int sl_topo_parse_ordinal(const char *text, size_t len, long *value_p)
{
    char buf[32], *end;
    long value;

    while (len > 0 && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    if (len == 0)
        return -1;
    if (len >= sizeof(buf))
        return 0;
    memcpy(buf, text, len);
    buf[len] = '\0';
    errno = 0;
    value = strtol(buf, &end, 10);
    if (*end != '\0' || errno != 0)
        return 0;
    *value_p = value;
    return 1;
}

static int sl_topo_is_blank(const char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    return *text == '\0';
}

/* Keeps the GPUs `list` names (CUDA_VISIBLE_DEVICES syntax, see topo.h), compacting objs[]
 * in list order; *count_p is updated. */
static sl_status_t sl_topo_apply_visible(const char *list, hwloc_obj_t *objs, size_t *count_p)
{
    size_t count = *count_p, kept = 0;
    hwloc_obj_t *chosen;
    const char *p;
    long value;

    if (sl_topo_is_blank(list)) {
        sl_info("CUDA_VISIBLE_DEVICES=\"%s\" hides every GPU", list);
        *count_p = 0;
        return SL_OK;
    }
    for (p = list;; p++) { /* GPU-UUID / MIG forms need NVML to map: keep everything */
        size_t len = strcspn(p, ",");
        if (sl_topo_parse_ordinal(p, len, &value) == 0) {
            sl_warn("CUDA_VISIBLE_DEVICES=%s: \"%.*s\" is not a device ordinal (UUIDs cannot be "
                    "matched to PCI devices without NVML); planning for all %zu GPUs",
                    list, (int)len, p, count);
            return SL_OK;
        }
        p += len;
        if (*p == '\0')
            break;
    }
    chosen = calloc(count > 0 ? count : 1, sizeof(*chosen));
    if (chosen == NULL) {
        sl_error("out of memory for %zu GPUs", count);
        return SL_ERR_NO_MEMORY;
    }
    /* As CUDA does, the devices listed before an invalid entry are visible, the rest not. */
    for (p = list;; p++) {
        size_t len = strcspn(p, ",");
        const char *why = NULL;

        value = -1;
        if (sl_topo_parse_ordinal(p, len, &value) != 1)
            why = "an empty entry";
        else if (value < 0 || (size_t)value >= count)
            why = "a device that does not exist";
        for (size_t k = 0; why == NULL && k < kept; k++)
            if (chosen[k] == objs[value])
                why = "a device listed twice";
        if (why != NULL) {
            sl_warn("CUDA_VISIBLE_DEVICES=%s: \"%.*s\" is %s; using the %zu GPU(s) listed "
                    "before it", list, (int)len, p, why, kept);
            break;
        }
        chosen[kept++] = objs[value];
        p += len;
        if (*p == '\0')
            break;
    }
    memcpy(objs, chosen, kept * sizeof(*objs));
    free(chosen);
    *count_p = kept;
    return SL_OK;
}

static sl_status_t sl_topo_find_gpus(sl_topo_t *topo, const char *visible)
{
    hwloc_obj_t *objs = NULL;
    size_t count = 0;
    sl_status_t status = SL_ERR_NO_DEVICE;

#ifdef SL_HAVE_CUDA
    if (topo->xml_path == NULL)
        status = sl_topo_cuda_gpus(topo->hwloc, &objs, &count);
#endif
    if (status != SL_OK) { /* no CUDA here: the PCI bus, filtered as CUDA would */
        status = sl_topo_scan_pci_gpus(topo->hwloc, &objs, &count);
        if (status != SL_OK)
            return status;
        if (visible == NULL && topo->xml_path == NULL)
            visible = getenv("CUDA_VISIBLE_DEVICES");
        if (visible != NULL) {
            status = sl_topo_apply_visible(visible, objs, &count);
            if (status != SL_OK)
                goto err_objs;
        }
    }
    if (count > 0) {
        topo->gpus = calloc(count, sizeof(*topo->gpus));
        if (topo->gpus == NULL) {
            sl_error("out of memory for %zu GPUs", count);
            status = SL_ERR_NO_MEMORY;
            goto err_objs;
        }
    }
    for (size_t i = 0; i < count; i++) {
        sl_topo_gpu_t *gpu = &topo->gpus[i];
        gpu->index = (unsigned)i;
        gpu->pci = objs[i];
        gpu->numa = sl_topo_numa_of(objs[i]);
        sl_topo_format_busid(objs[i], gpu->busid);
    }
    topo->num_gpus = count;
    free(objs);
    return SL_OK;

err_objs:
    free(objs);
    return status;
}

/* ---------------------------------------------------------------------------------------- */
/* Load and destroy                                                                         */
/* ---------------------------------------------------------------------------------------- */

sl_status_t sl_topo_load(const sl_topo_options_t *options, sl_topo_t **topo_p)
{
    static const sl_topo_options_t defaults = {0};
    sl_topo_t *topo;
    sl_status_t status;

    if (options == NULL)
        options = &defaults;
    topo = calloc(1, sizeof(*topo));
    if (topo == NULL) {
        sl_error("out of memory for the topology");
        return SL_ERR_NO_MEMORY;
    }
    if (options->xml_path != NULL) {
        topo->xml_path = strdup(options->xml_path);
        if (topo->xml_path == NULL) {
            sl_error("out of memory for the topology path");
            status = SL_ERR_NO_MEMORY;
            goto err_topo;
        }
    }
    status = sl_topo_open_hwloc(topo->xml_path, &topo->hwloc);
    if (status != SL_OK)
        goto err_path;
    status = sl_topo_find_allowed(topo, options->cpuset);
    if (status != SL_OK)
        goto err_hwloc;
    status = sl_topo_find_host(topo);
    if (status != SL_OK)
        goto err_allowed;
    status = sl_topo_find_hcas(topo);
    if (status != SL_OK)
        goto err_host;
    status = sl_topo_find_gpus(topo, options->visible_devices);
    if (status != SL_OK)
        goto err_hcas;
    sl_debug("topology %s: %zu GPU(s), %zu HCA(s)", sl_topo_source(topo), topo->num_gpus,
             topo->num_hcas);
    *topo_p = topo;
    return SL_OK;

err_hcas:
    free(topo->hcas);
err_host:
    free(topo->host);
err_allowed:
    hwloc_bitmap_free(topo->allowed);
err_hwloc:
    hwloc_topology_destroy(topo->hwloc);
err_path:
    free(topo->xml_path);
err_topo:
    free(topo);
    return status;
}

void sl_topo_destroy(sl_topo_t *topo)
{
    if (topo == NULL)
        return;
    free(topo->gpus);
    free(topo->hcas);
    free(topo->host);
    hwloc_bitmap_free(topo->allowed);
    hwloc_topology_destroy(topo->hwloc);
    free(topo->xml_path);
    free(topo);
}
