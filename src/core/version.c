/* version.c - see version.h. */
#include "config.h"

#include "core/version.h"

#include <hdf5.h>
#include <hwloc.h>
#include <jansson.h>
#include <microhttpd.h>
#include <numa.h>
#include <pmix.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <xxhash.h>

#ifdef SL_HAVE_IBVERBS
#include <infiniband/verbs.h>
#endif

#ifdef SL_HAVE_CUDA
#include "backend/cuda/cuda_info.h"
#endif

#include "sl_gitrev.h"

const char *sl_version(void)
{
    return PACKAGE_VERSION;
}

const char *sl_git_revision(void)
{
    return SL_GIT_REVISION;
}

static void sl_report_dependencies(FILE *out)
{
    unsigned h5_major = 0, h5_minor = 0, h5_release = 0;
    unsigned hwloc_api = hwloc_get_api_version();
    unsigned xxh = XXH_versionNumber();
    char pcre2_version[32] = "?";

    if (H5get_libversion(&h5_major, &h5_minor, &h5_release) < 0)
        h5_major = h5_minor = h5_release = 0;
    if (pcre2_config(PCRE2_CONFIG_VERSION, pcre2_version) < 0)
        pcre2_version[0] = '\0';

    fprintf(out, "  PMIx        %s\n", PMIx_Get_version());
    fprintf(out, "  hwloc       %u.%u.%u (API)\n", hwloc_api >> 16, (hwloc_api >> 8) & 0xff,
            hwloc_api & 0xff);
    fprintf(out, "  HDF5        %u.%u.%u\n", h5_major, h5_minor, h5_release);
    fprintf(out, "  jansson     %s\n", jansson_version_str());
    fprintf(out, "  PCRE2       %s\n", pcre2_version);
    fprintf(out, "  xxhash      %u.%u.%u\n", xxh / 10000, (xxh / 100) % 100, xxh % 100);
    fprintf(out, "  libnuma     API %d, NUMA %s\n", LIBNUMA_API_VERSION,
            numa_available() < 0 ? "not available on this machine" : "available");
    fprintf(out, "  microhttpd  %s\n", MHD_get_version());
#ifdef SL_HAVE_IBVERBS
    fprintf(out, "  libibverbs  yes\n");
#else
    fprintf(out, "  libibverbs  no (built --without-ibverbs)\n");
#endif
}

void sl_version_report(FILE *out)
{
    fprintf(out, "slinfer %s (git %s)\n", sl_version(), sl_git_revision());
    fprintf(out, "configured with: %s\n", SL_CONFIGURE_ARGS[0] ? SL_CONFIGURE_ARGS : "(defaults)");
    fprintf(out, "compiler: %s %s\n", SL_BUILD_CC, __VERSION__);
#ifdef NDEBUG
    fprintf(out, "build: release");
#else
    fprintf(out, "build: debug (assertions on)");
#endif
#if defined(__SANITIZE_ADDRESS__)
    fprintf(out, ", AddressSanitizer");
#endif
    fprintf(out, "\nlibraries:\n");
    sl_report_dependencies(out);
#ifdef SL_HAVE_CUDA
    sl_cuda_report(out);
#else
    fprintf(out, "CUDA: not built (CPU backend only)\n");
#endif
}
