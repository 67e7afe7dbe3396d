#!/usr/bin/env bash
# Builds a gzip'd newc initramfs whose /init is the given static program, with /dev/console so
# the kernel can give init its standard streams.
# usage: build-initramfs.sh INIT_SOURCE.cc OUTPUT.cpio.gz
set -euo pipefail
src=$1 out=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/dev" "$stage/proc" "$stage/sys" "$(dirname "$out")"
repo=$(cd "$(dirname "$0")/.." && pwd)  # for headers shared with the agent (guest-agent/...)
${CXX:-g++} -std=c++20 -O2 -static -Wall -Wextra -Werror -I "$repo" -o "$stage/init" "$src"
strip "$stage/init"
mknod -m 600 "$stage/dev/console" c 5 1
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner 0:0) |
  gzip -9n > "$out.tmp"
mv "$out.tmp" "$out"
