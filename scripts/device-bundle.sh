#!/bin/sh
# device-bundle.sh DEST PROGRAM... - copy PROGRAMs and the shared libraries
# they need that a bare CUDA machine lacks (HDF5, hwloc, PMIx, microhttpd,
# jansson, pcre2, ... as listed by ldd) into DEST/bin and DEST/lib, so the
# build can run on a GPU machine that has the CUDA toolkit and NCCL but none
# of the Debian packages. Run there with LD_LIBRARY_PATH=DEST/lib.
#
# Left out: the C runtime (the target has its own, newer one) and the CUDA
# libraries (they must match the target's driver).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DEST PROGRAM..." >&2; exit 2; }
dest=$1
shift
mkdir -p "$dest/bin" "$dest/lib"
for prog in "$@"; do
    cp -L "$prog" "$dest/bin/"
    ldd "$prog" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | while read -r name path; do
        case $name in
            libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | \
            libresolv.so.* | libstdc++.so.* | libgcc_s.so.* | ld-linux*) ;;
            libcuda.so.* | libcudart.so.* | libcublas*.so.* | libnccl.so.* | libnvidia*) ;;
            *) cp -L "$path" "$dest/lib/$name" ;;
        esac
    done
done
echo "device-bundle: $(ls "$dest/bin" | wc -l) programs, $(ls "$dest/lib" | wc -l) libraries, $(du -sh "$dest" | cut -f1) in $dest"
