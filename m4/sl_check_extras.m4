# sl_check_extras.m4 - properties of dependencies that a link test alone does
# not prove.

# SL_CHECK_PCRE2_UTF: the tokenizers' pre-tokenizer regexes use \p{L} and
# friends, so PCRE2 must have been built with Unicode support.
AC_DEFUN([SL_CHECK_PCRE2_UTF], [
sl_save_CPPFLAGS="$CPPFLAGS"; sl_save_LDFLAGS="$LDFLAGS"; sl_save_LIBS="$LIBS"
CPPFLAGS="$CPPFLAGS $PCRE2_CPPFLAGS"; LDFLAGS="$LDFLAGS $PCRE2_LDFLAGS"; LIBS="$PCRE2_LIBS $LIBS"
AC_CACHE_CHECK([whether PCRE2 supports Unicode (UTF-8, \p{...})], [sl_cv_pcre2_unicode], [
    AC_RUN_IFELSE([AC_LANG_PROGRAM([[#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>]], [[uint32_t unicode = 0;
if (pcre2_config(PCRE2_CONFIG_UNICODE, &unicode) < 0) return 2;
return unicode ? 0 : 1;]])],
        [sl_cv_pcre2_unicode=yes], [sl_cv_pcre2_unicode=no],
        [sl_cv_pcre2_unicode="yes (cross compiling: assumed)"])])
CPPFLAGS="$sl_save_CPPFLAGS"; LDFLAGS="$sl_save_LDFLAGS"; LIBS="$sl_save_LIBS"
AS_IF([test "x$sl_cv_pcre2_unicode" = "xno"],
      [AC_MSG_ERROR([PCRE2 was built without Unicode support; the tokenizer needs it])])
])

# SL_CHECK_HDF5_SERIAL: slinfer writes results from one process per file and
# links the serial library; an MPI-parallel HDF5 would drag MPI in.
AC_DEFUN([SL_CHECK_HDF5_SERIAL], [
sl_save_CPPFLAGS="$CPPFLAGS"
CPPFLAGS="$CPPFLAGS $HDF5_CPPFLAGS"
AC_CACHE_CHECK([whether HDF5 is a serial build, version 1.10 or newer], [sl_cv_hdf5_serial], [
    AC_COMPILE_IFELSE([AC_LANG_PROGRAM([[#include <hdf5.h>
#ifdef H5_HAVE_PARALLEL
#error parallel HDF5
#endif
#if !H5_VERSION_GE(1, 10, 0)
#error HDF5 too old
#endif]], [])], [sl_cv_hdf5_serial=yes], [sl_cv_hdf5_serial=no])])
CPPFLAGS="$sl_save_CPPFLAGS"
AS_IF([test "x$sl_cv_hdf5_serial" != "xyes"],
      [AC_MSG_ERROR([HDF5 must be a serial build, 1.10 or newer (Debian: libhdf5-dev provides hdf5-serial); point --with-hdf5 at one])])
])

# SL_PRINT_SUMMARY: what was found and where, last thing configure prints.
AC_DEFUN([SL_PRINT_SUMMARY], [
cat <<SL_EOF

slinfer $PACKAGE_VERSION configuration
---------------------------------------------------------------------------
  prefix        $prefix
  C compiler    $CC $SL_MODE_CFLAGS $CFLAGS $SL_SAN_FLAGS
  build mode    debug=$enable_debug sanitizers=$enable_sanitizers
  PMIx          $sl_summary_PMIX
  hwloc         $sl_summary_HWLOC
  HDF5          $sl_summary_HDF5
  jansson       $sl_summary_JANSSON
  PCRE2         $sl_summary_PCRE2
  xxhash        $sl_summary_XXHASH
  libnuma       $sl_summary_NUMA
  microhttpd    $sl_summary_MICROHTTPD
  libibverbs    $sl_summary_IBVERBS
  Check         $sl_summary_CHECK
  CUDA          $sl_summary_CUDA
  cuBLAS        $sl_summary_CUBLAS
  NCCL          $sl_summary_NCCL
  CUDA archs    $sl_summary_CUDA_ARCH
---------------------------------------------------------------------------
SL_EOF
AS_IF([test "x$sl_summary_CHECK" != "x" && test "x$HAVE_CHECK_TRUE" = "x#"],
      [AC_MSG_WARN([Check is disabled: 'make check' will not build the unit tests])])
])
