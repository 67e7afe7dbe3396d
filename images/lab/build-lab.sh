#!/usr/bin/env bash
# Builds the lab: the L1 kernel (guest.config + lab-kernel.config, cached by build-kernel.sh) and the
# lab initramfs whose only file is /init, a static binary built from lab/l1_init.cc.
#
# usage: build-lab.sh OUT_DIR      -> OUT_DIR/{vmlinux,bzImage,initramfs.cpio.gz}
#   CXX   C++ compiler for /init (default: g++)
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
images=$(dirname "$here")
lab_src=$(dirname "$images")/lab
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)

"$images/kernel/build-kernel.sh" lab "$out" "$images/kernel/guest.config" "$here/lab-kernel.config"

# /init is quick to build, so there is no cache beyond "newer than its inputs".
initramfs="$out/initramfs.cpio.gz"
if [ -f "$initramfs" ] && [ "$initramfs" -nt "$lab_src/l1_init.cc" ] &&
   [ "$initramfs" -nt "$lab_src/protocol.h" ] && [ "$initramfs" -nt "$0" ]; then
  echo "build-lab: initramfs up to date"
  exit 0
fi
command -v cpio >/dev/null || { echo "build-lab: cpio missing (apt-get install cpio)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
"${CXX:-g++}" -std=c++20 -static -O2 -Wall -Wextra -Werror -o "$root/init" "$lab_src/l1_init.cc"
strip "$root/init"
# Fixed owner and mtime so the archive only changes when /init does.
(cd "$root" && touch -d @0 init && echo init | cpio -o -H newc -R 0:0 --reproducible --quiet) |
  gzip -9n > "$initramfs.tmp"
mv "$initramfs.tmp" "$initramfs"
echo "build-lab: built $initramfs"
