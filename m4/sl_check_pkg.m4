# sl_check_pkg.m4 - find one dependency, publish its flags, leave the global
# flags untouched.
#
# SL_CHECK_PKG(NAME, PKG-MODULE, HEADER, LIBRARY, FUNCTION, MODE, [PROLOGUE])
#
#   NAME      upper-case variable stem: publishes NAME_CPPFLAGS, NAME_LDFLAGS,
#             NAME_LIBS (AC_SUBST), the automake conditional HAVE_NAME and the
#             C macro SL_HAVE_NAME.
#   MODE      "required":   configure stops when it is not found;
#             "default-on": looked for unless --without-x; when missing
#                           configure stops with a message naming the package
#                           and the --without-x switch, so nothing is silently
#                           dropped.
#   PROLOGUE  C text placed before #include <HEADER> (some headers are not
#             self-contained).
#
# Where the library lives:
#   --with-x=DIR  DIR/include and DIR/lib64 or DIR/lib (and DIR/lib*/pkgconfig
#                 when it holds PKG-MODULE's .pc file);
#   otherwise     pkg-config PKG-MODULE when it answers, else the compiler's
#                 default paths.
# Either way the header and the library are then really compiled and linked
# against with the candidate flags, so a stale .pc file cannot pass the check.
AC_DEFUN([SL_CHECK_PKG], [
m4_pushdef([sl_lc], m4_translit([$1], [A-Z_], [a-z-]))dnl
m4_pushdef([sl_module], m4_bpatsubst([$2], [ .*], []))dnl
AC_ARG_WITH(sl_lc,
    [AS_HELP_STRING([--with-]sl_lc[@<:@=DIR@:>@],
        m4_if([$6], [required],
              [$2 installation prefix (required; default: pkg-config, then system paths)],
              [use $2 from DIR (default: yes; --without-]sl_lc[ to build without it)]))],
    [], [with_[]m4_translit(sl_lc, [-], [_])=yes])
sl_with="$with_[]m4_translit(sl_lc, [-], [_])"
$1_CPPFLAGS=""
$1_LDFLAGS=""
$1_LIBS=""
sl_found=no
sl_where=""
AS_IF([test "x$sl_with" = "xno"], [
    m4_if([$6], [required],
          [AC_MSG_ERROR([$2 is required: --without-]sl_lc[ is not possible])])
], [
    sl_pc_path="$PKG_CONFIG_PATH"
    AS_IF([test "x$sl_with" != "xyes"], [
        AS_IF([test ! -d "$sl_with"],
              [AC_MSG_ERROR([--with-]sl_lc[=$sl_with: no such directory])])
        sl_libdir="$sl_with/lib"
        AS_IF([test -d "$sl_with/lib64"], [sl_libdir="$sl_with/lib64"])
        AS_IF([test -f "$sl_libdir/pkgconfig/]sl_module[.pc"],
              [sl_pc_path="$sl_libdir/pkgconfig"],
              [sl_pc_path=""
               $1_CPPFLAGS="-I$sl_with/include"
               $1_LDFLAGS="-L$sl_libdir -Wl,-rpath,$sl_libdir"
               $1_LIBS="-l$4"
               sl_where="$sl_with"])
    ])
    AS_IF([test "x$sl_where" = "x" && test "x$PKG_CONFIG" != "x"], [
        AC_MSG_CHECKING([pkg-config for $2])
        AS_IF([PKG_CONFIG_PATH="$sl_pc_path" $PKG_CONFIG --exists "$2" 2>/dev/null], [
            $1_CPPFLAGS=`PKG_CONFIG_PATH="$sl_pc_path" $PKG_CONFIG --cflags "sl_module"`
            $1_LIBS=`PKG_CONFIG_PATH="$sl_pc_path" $PKG_CONFIG --libs "sl_module"`
            sl_version=`PKG_CONFIG_PATH="$sl_pc_path" $PKG_CONFIG --modversion "sl_module"`
            sl_where="pkg-config ]sl_module[ $sl_version"
            AC_MSG_RESULT([$sl_version])
        ], [AC_MSG_RESULT([no])])
    ])
    AS_IF([test "x$sl_where" = "x"], [
        $1_LIBS="-l$4"
        sl_where="system paths"
    ])

    sl_save_CPPFLAGS="$CPPFLAGS"
    sl_save_LDFLAGS="$LDFLAGS"
    sl_save_LIBS="$LIBS"
    CPPFLAGS="$CPPFLAGS $$1_CPPFLAGS"
    LDFLAGS="$LDFLAGS $$1_LDFLAGS"
    LIBS="$$1_LIBS $LIBS"
    AC_MSG_CHECKING([for $5 in $3 with $$1_LIBS])
    AC_LINK_IFELSE([AC_LANG_PROGRAM([[$7
#include <$3>
]], [[void *sl_probe = (void *)&$5; return sl_probe == 0;]])],
        [sl_found=yes], [sl_found=no])
    AC_MSG_RESULT([$sl_found])
    CPPFLAGS="$sl_save_CPPFLAGS"
    LDFLAGS="$sl_save_LDFLAGS"
    LIBS="$sl_save_LIBS"

    AS_IF([test "x$sl_found" != "xyes"], [
        AC_MSG_ERROR(m4_if([$6], [required],
            [$2 not found (header $3, library -l$4). Install its development package (Debian: see scripts/setup.sh) or pass --with-]sl_lc[=DIR. See config.log for the failed test.],
            [$2 not found (header $3, library -l$4). Install its development package (Debian: see scripts/setup.sh), pass --with-]sl_lc[=DIR, or build without it using --without-]sl_lc[.]))
    ])
])
AS_IF([test "x$sl_found" = "xyes"], [
    AC_DEFINE([SL_HAVE_$1], [1], [Define to 1 when $2 is available.])
    sl_summary_$1="yes ($sl_where)"
], [
    $1_CPPFLAGS=""
    $1_LDFLAGS=""
    $1_LIBS=""
    sl_summary_$1="no (--without-]sl_lc[)"
])
AC_SUBST([$1_CPPFLAGS])
AC_SUBST([$1_LDFLAGS])
AC_SUBST([$1_LIBS])
AM_CONDITIONAL([HAVE_$1], [test "x$sl_found" = "xyes"])
m4_popdef([sl_module])dnl
m4_popdef([sl_lc])dnl
])

# SL_CHECK_PTHREAD: POSIX threads through -pthread, published as
# PTHREAD_CFLAGS/PTHREAD_LIBS.
AC_DEFUN([SL_CHECK_PTHREAD], [
sl_save_CFLAGS="$CFLAGS"
sl_save_LIBS="$LIBS"
CFLAGS="$CFLAGS -pthread"
LIBS="-pthread $LIBS"
AC_MSG_CHECKING([whether $CC builds threaded programs with -pthread])
AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>
static void *sl_run(void *arg) { return arg; }]],
    [[pthread_t t; if (pthread_create(&t, 0, sl_run, 0)) return 1; return pthread_join(t, 0);]])],
    [AC_MSG_RESULT([yes])],
    [AC_MSG_RESULT([no])
     AC_MSG_ERROR([POSIX threads are required and $CC -pthread cannot link them])])
CFLAGS="$sl_save_CFLAGS"
LIBS="$sl_save_LIBS"
PTHREAD_CFLAGS="-pthread"
PTHREAD_LIBS="-pthread"
AC_SUBST([PTHREAD_CFLAGS])
AC_SUBST([PTHREAD_LIBS])
])
