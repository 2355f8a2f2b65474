# sl_check_cuda.m4 - the optional GPU build: nvcc, the CUDA runtime, cuBLAS(Lt)
# and NCCL.
#
#   --with-cuda[=DIR]      default "auto": use the toolkit of the nvcc on PATH,
#                          else /usr/local/cuda; build CPU-only when absent.
#                          "yes" or DIR: a missing piece is an error.
#   --with-nccl=DIR        NCCL outside the CUDA toolkit (default: the toolkit,
#                          then the compiler's default paths).
#   --with-cuda-arch=LIST  compute capabilities, e.g. 80,90 (default 80,90a).
#                          "90a": Hopper's arch-specific code (wgmma), which
#                          defines SL_CUDA_SM90A; the PTX for newer GPUs is
#                          always the plain newest architecture's.
#
# Publishes NVCC, NVCC_ARCH_FLAGS, CUDA_CPPFLAGS/LDFLAGS/LIBS,
# NCCL_CPPFLAGS/LDFLAGS/LIBS, the conditional HAVE_CUDA and SL_HAVE_CUDA.
AC_DEFUN([SL_CHECK_CUDA], [
AC_ARG_WITH([cuda],
    [AS_HELP_STRING([--with-cuda@<:@=DIR@:>@],
        [CUDA toolkit with cuBLAS and NCCL (default: auto, CPU-only build when absent)])],
    [], [with_cuda=auto])
AC_ARG_WITH([nccl],
    [AS_HELP_STRING([--with-nccl=DIR], [NCCL installation prefix (default: the CUDA toolkit)])],
    [], [with_nccl=auto])
AC_ARG_WITH([cuda-arch],
    [AS_HELP_STRING([--with-cuda-arch=LIST],
        [comma-separated compute capabilities to build for; 90a adds Hopper's wgmma kernels (default: 80,90a)])],
    [], [with_cuda_arch=80,90a])

sl_cuda=no
sl_cuda_why=""
CUDA_CPPFLAGS=""; CUDA_LDFLAGS=""; CUDA_LIBS=""
NCCL_CPPFLAGS=""; NCCL_LDFLAGS=""; NCCL_LIBS=""
NVCC=""; NVCC_ARCH_FLAGS=""
sl_summary_CUDA="no (--without-cuda)"
sl_summary_CUBLAS="no"
sl_summary_NCCL="no"
sl_summary_CUDA_ARCH="-"

AS_IF([test "x$with_cuda" != "xno"], [
    # Where is the toolkit?
    sl_cuda_dir=""
    AS_CASE([$with_cuda],
        [yes|auto], [AC_PATH_PROG([SL_NVCC_ON_PATH], [nvcc], [])
                     AS_IF([test "x$SL_NVCC_ON_PATH" != "x"],
                           [sl_cuda_dir=`dirname "$SL_NVCC_ON_PATH"`
                            sl_cuda_dir=`dirname "$sl_cuda_dir"`],
                           [test -x /usr/local/cuda/bin/nvcc],
                           [sl_cuda_dir=/usr/local/cuda])],
        [sl_cuda_dir="$with_cuda"])
    AS_IF([test "x$sl_cuda_dir" = "x"],
          [sl_cuda_why="nvcc not found on PATH or in /usr/local/cuda"],
          [test ! -x "$sl_cuda_dir/bin/nvcc"],
          [sl_cuda_why="no $sl_cuda_dir/bin/nvcc"],
          [sl_cuda=yes])

    AS_IF([test "x$sl_cuda" = "xyes"], [
        NVCC="$sl_cuda_dir/bin/nvcc"
        sl_cuda_libdir="$sl_cuda_dir/lib64"
        AS_IF([test ! -d "$sl_cuda_libdir"], [sl_cuda_libdir="$sl_cuda_dir/lib"])
        CUDA_CPPFLAGS="-isystem $sl_cuda_dir/include"
        CUDA_LDFLAGS="-L$sl_cuda_libdir -Wl,-rpath,$sl_cuda_libdir"
        # nvcc host code is C++: its runtime comes along.
        CUDA_LIBS="-lcublasLt -lcublas -lcudart -lstdc++"

        sl_save_CPPFLAGS="$CPPFLAGS"; sl_save_LDFLAGS="$LDFLAGS"; sl_save_LIBS="$LIBS"
        CPPFLAGS="$CPPFLAGS $CUDA_CPPFLAGS"; LDFLAGS="$LDFLAGS $CUDA_LDFLAGS"
        LIBS="-lcudart $LIBS"
        AC_MSG_CHECKING([for the CUDA runtime in $sl_cuda_dir])
        AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <cuda_runtime_api.h>]],
                           [[int v = 0; return (int)cudaRuntimeGetVersion(&v);]])],
                       [AC_MSG_RESULT([yes])],
                       [AC_MSG_RESULT([no]); sl_cuda=no; sl_cuda_why="cannot link -lcudart from $sl_cuda_libdir"])
        AS_IF([test "x$sl_cuda" = "xyes"], [
            LIBS="-lcublasLt -lcublas $LIBS"
            AC_MSG_CHECKING([for cuBLAS and cuBLASLt])
            AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <cublas_v2.h>
#include <cublasLt.h>]], [[cublasHandle_t h; cublasLtHandle_t lt;
(void)cublasLtCreate(&lt); return (int)cublasCreate(&h);]])],
                           [AC_MSG_RESULT([yes]); sl_summary_CUBLAS="yes ($sl_cuda_libdir)"],
                           [AC_MSG_RESULT([no]); sl_cuda=no; sl_cuda_why="cannot link cuBLAS/cuBLASLt from $sl_cuda_libdir"])
        ])
        CPPFLAGS="$sl_save_CPPFLAGS"; LDFLAGS="$sl_save_LDFLAGS"; LIBS="$sl_save_LIBS"
    ])

    AS_IF([test "x$sl_cuda" = "xyes"], [
        AS_CASE([$with_nccl],
            [auto|yes], [NCCL_CPPFLAGS="$CUDA_CPPFLAGS"; NCCL_LDFLAGS="$CUDA_LDFLAGS"],
            [no], [sl_cuda=no; sl_cuda_why="--without-nccl: tensor parallelism needs NCCL"],
            [sl_nccl_libdir="$with_nccl/lib64"
             AS_IF([test ! -d "$sl_nccl_libdir"], [sl_nccl_libdir="$with_nccl/lib"])
             NCCL_CPPFLAGS="-isystem $with_nccl/include"
             NCCL_LDFLAGS="-L$sl_nccl_libdir -Wl,-rpath,$sl_nccl_libdir"])
    ])
    AS_IF([test "x$sl_cuda" = "xyes"], [
        NCCL_LIBS="-lnccl"
        sl_save_CPPFLAGS="$CPPFLAGS"; sl_save_LDFLAGS="$LDFLAGS"; sl_save_LIBS="$LIBS"
        CPPFLAGS="$CPPFLAGS $CUDA_CPPFLAGS $NCCL_CPPFLAGS"
        LDFLAGS="$LDFLAGS $CUDA_LDFLAGS $NCCL_LDFLAGS"
        LIBS="$NCCL_LIBS -lcudart $LIBS"
        AC_MSG_CHECKING([for NCCL 2.x])
        AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <nccl.h>
#if NCCL_MAJOR < 2
#error NCCL 2 required
#endif]], [[int v = 0; return (int)ncclGetVersion(&v);]])],
                       [AC_MSG_RESULT([yes])
                        sl_summary_NCCL="yes (`AS_ECHO(["$NCCL_LDFLAGS"]) | $SED -n 's/^-L\([[^ ]]*\).*/\1/p'`)"],
                       [AC_MSG_RESULT([no]); sl_cuda=no
                        sl_cuda_why="cannot link NCCL (-lnccl with $NCCL_CPPFLAGS $NCCL_LDFLAGS); use --with-nccl=DIR"])
        CPPFLAGS="$sl_save_CPPFLAGS"; LDFLAGS="$sl_save_LDFLAGS"; LIBS="$sl_save_LIBS"
    ])

    AS_IF([test "x$sl_cuda" = "xyes"], [
        AC_MSG_CHECKING([nvcc code generation flags for $with_cuda_arch])
        sl_archs_text=""
        for sl_arch in `AS_ECHO(["$with_cuda_arch"]) | tr ',' ' '`; do
            AS_CASE([$sl_arch],
                [[[1-9][0-9]]|[[1-9][0-9][0-9]]|[[1-9][0-9]a]], [],
                [AC_MSG_ERROR([--with-cuda-arch: "$sl_arch" is not a compute capability like 80 or 90])])
            NVCC_ARCH_FLAGS="$NVCC_ARCH_FLAGS -gencode arch=compute_$sl_arch,code=sm_$sl_arch"
            AS_IF([test "x$sl_arch" = "x90a"],
                  [AC_DEFINE([SL_CUDA_SM90A], [1],
                             [Define to 1 when the build has sm_90a machine code (wgmma kernels).])])
            sl_last_arch=`AS_ECHO(["$sl_arch"]) | $SED 's/a$//'`
            sl_archs_text="${sl_archs_text:+$sl_archs_text, }sm_$sl_arch"
        done
        # PTX for the newest architecture lets newer GPUs JIT the kernels
        # (without its arch-specific features, which newer GPUs lack).
        NVCC_ARCH_FLAGS="$NVCC_ARCH_FLAGS -gencode arch=compute_$sl_last_arch,code=compute_$sl_last_arch"
        AC_MSG_RESULT([$NVCC_ARCH_FLAGS])
        sl_nvcc_version=`$NVCC --version | $SED -n 's/.*release \([[0-9.]]*\).*/\1/p'`
        AC_DEFINE([SL_HAVE_CUDA], [1], [Define to 1 for a build with the CUDA backend.])
        AC_DEFINE_UNQUOTED([SL_CUDA_ARCHS], ["$sl_archs_text"], [CUDA architectures compiled in.])
        AC_DEFINE_UNQUOTED([SL_NVCC_VERSION], ["$sl_nvcc_version"], [nvcc release used for the build.])
        sl_summary_CUDA="yes (nvcc $sl_nvcc_version, $sl_cuda_dir)"
        sl_summary_CUDA_ARCH="$with_cuda_arch"
    ], [
        AS_IF([test "x$with_cuda" != "xauto"],
              [AC_MSG_ERROR([--with-cuda=$with_cuda: $sl_cuda_why])])
        AC_MSG_NOTICE([building without CUDA: $sl_cuda_why])
        sl_summary_CUDA="no ($sl_cuda_why)"
        CUDA_CPPFLAGS=""; CUDA_LDFLAGS=""; CUDA_LIBS=""
        NCCL_CPPFLAGS=""; NCCL_LDFLAGS=""; NCCL_LIBS=""; NVCC=""
    ])
])
AC_SUBST([NVCC])
AC_SUBST([NVCC_ARCH_FLAGS])
AC_SUBST([CUDA_CPPFLAGS])
AC_SUBST([CUDA_LDFLAGS])
AC_SUBST([CUDA_LIBS])
AC_SUBST([NCCL_CPPFLAGS])
AC_SUBST([NCCL_LDFLAGS])
AC_SUBST([NCCL_LIBS])
AM_CONDITIONAL([HAVE_CUDA], [test "x$sl_cuda" = "xyes"])
])
