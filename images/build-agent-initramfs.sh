#!/usr/bin/env bash
# Builds the utility VM's initramfs: the static uvm-agent as /init (ARCHITECTURE.md "The agent"),
# /dev/console so the kernel can give it standard streams, and Debian's crun with the shared
# libraries it loads (the OCI runtime uvm-runtime's containers start under inside the VM). No
# shell, no busybox.
# usage: build-agent-initramfs.sh AGENT_BINARY OUTPUT.cpio.gz [CRUN_BINARY (default: crun on PATH)]
set -euo pipefail
agent=$1 out=$2 crun=${3:-$(command -v crun || true)}
[ -x "$agent" ] || { echo "build-agent-initramfs: $agent is not an executable (build uvm-agent first)" >&2; exit 1; }
if file -b "$agent" 2>/dev/null | grep -q dynamic; then
  echo "build-agent-initramfs: $agent is dynamically linked; the initramfs has no libraries" >&2; exit 1
fi
[ -n "$crun" ] && [ -x "$crun" ] || { echo "build-agent-initramfs: crun not found (apt-get install crun)" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/dev" "$stage/proc" "$stage/sys" "$stage/run" "$stage/tmp" "$stage/usr/bin" \
  "$(dirname "$out")"
cp "$agent" "$stage/init"
strip "$stage/init"
# crun at the path the agent runs it from, and each library at the path the loader resolves it
# to on this host (the guest's loader finds them there: same paths, no ld.so.cache needed).
cp "$crun" "$stage/usr/bin/crun"
strip "$stage/usr/bin/crun"
for lib in $(ldd "$crun" | grep -oE '/[^ ]+\.so[^ ]*'); do
  mkdir -p "$stage$(dirname "$lib")"
  cp -L "$lib" "$stage$lib"
done
mknod -m 600 "$stage/dev/console" c 5 1
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner 0:0) |
  gzip -9n > "$out.tmp"
mv "$out.tmp" "$out"
