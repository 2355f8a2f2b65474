#!/bin/sh
# setup.sh - install every Debian package slinfer needs, then configure and
# build it in ./build. Run as root (or with sudo available) on Debian 12.
#
#   ./scripts/setup.sh [--no-install] [--build-dir DIR] [CONFIGURE-ARGS...]
#
#   --no-install     skip apt-get (packages already there)
#   --build-dir DIR  build directory (default: build)
#   CONFIGURE-ARGS   passed to configure, e.g. --without-cuda, --enable-debug
#
# CUDA is not a Debian package: when nvcc is on PATH or in /usr/local/cuda,
# the GPU backend is built as well (see docs/BUILDING.md).
set -eu

# Build tools, the libraries slinfer links, and what the tests run against
# (a real SLURM cluster with munge and PMIx, HDF5's command-line tools).
PACKAGES="
    build-essential autoconf automake libtool pkg-config git
    libpmix-dev libhwloc-dev libhdf5-dev libjansson-dev libpcre2-dev
    libxxhash-dev libnuma-dev libmicrohttpd-dev libibverbs-dev check
    hdf5-tools slurm-wlm munge iproute2 util-linux procps python3
    clang libclang-rt-14-dev python3-h5py
"

install=yes
build_dir=build
while [ $# -gt 0 ]; do
    case $1 in
        --no-install) install=no; shift ;;
        --build-dir) build_dir=${2:?--build-dir needs a directory}; shift 2 ;;
        --build-dir=*) build_dir=${1#--build-dir=}; shift ;;
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        *) break ;;
    esac
done

top=$(cd "$(dirname "$0")/.." && pwd)

if [ "$install" = yes ]; then
    if [ "$(id -u)" -eq 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "setup.sh: installing packages needs root (or sudo); rerun as root or with --no-install" >&2
        exit 1
    fi
    echo "setup.sh: installing Debian packages"
    $sudo apt-get update -q
    # shellcheck disable=SC2086 # the package list is meant to split
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $PACKAGES
fi

echo "setup.sh: generating the build system"
cd "$top"
autoreconf -fi

mkdir -p "$build_dir"
cd "$build_dir"
echo "setup.sh: configuring in $(pwd)"
"$top/configure" "$@"
make -j"$(nproc)"
echo "setup.sh: built $(pwd)/src/slinfer"
