#!/usr/bin/env bash
# Builds the utility VM's initramfs: the static uvm-agent as /init (ARCHITECTURE.md "The agent") and
# /dev/console so the kernel can give it standard streams. Nothing else: no shell, no busybox.
# usage: build-agent-initramfs.sh AGENT_BINARY OUTPUT.cpio.gz
set -euo pipefail
agent=$1 out=$2
[ -x "$agent" ] || { echo "build-agent-initramfs: $agent is not an executable (build uvm-agent first)" >&2; exit 1; }
if file -b "$agent" 2>/dev/null | grep -q dynamic; then
  echo "build-agent-initramfs: $agent is dynamically linked; the initramfs has no libraries" >&2; exit 1
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/dev" "$stage/proc" "$stage/sys" "$stage/run" "$stage/tmp" "$(dirname "$out")"
cp "$agent" "$stage/init"
strip "$stage/init"
mknod -m 600 "$stage/dev/console" c 5 1
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner 0:0) |
  gzip -9n > "$out.tmp"
mv "$out.tmp" "$out"
