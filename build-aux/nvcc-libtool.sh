#!/bin/sh
# nvcc-libtool.sh NVCC ARGS... - run nvcc under `libtool --mode=compile`.
#
# libtool passes host-compiler options (-fPIC, -fno-common, -Wall...) that
# nvcc does not accept itself; hand those to the host compiler through
# --compiler-options=... (libtool swallows a bare -Xcompiler), everything
# else to nvcc unchanged.
nvcc=$1
shift
for arg in "$@"; do
    shift
    case $arg in
        -fPIC | -fpic | -fno-common | -pthread)
            set -- "$@" "--compiler-options=$arg" ;;
        *)
            set -- "$@" "$arg" ;;
    esac
done
exec "$nvcc" "$@"
