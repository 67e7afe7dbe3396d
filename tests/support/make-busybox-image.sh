#!/usr/bin/env bash
# Builds a tiny container image for agent tests: an ext4 filesystem holding the host's static
# busybox as /bin/busybox, a relative symlink per applet, and /etc/passwd with `nobody`.
# usage: make-busybox-image.sh WORK_DIR IMAGE
set -euo pipefail
work=$1 image=$2
busybox=/bin/busybox
file -b "$busybox" | grep -q 'statically linked' || { echo "$busybox is not static" >&2; exit 1; }
stage=$work/stage
rm -rf "$stage" && mkdir -p "$stage/bin" "$stage/etc"
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$stage/bin/$applet"
done
echo 'root:x:0:0::/:/bin/sh' > "$stage/etc/passwd"
echo 'nobody:x:65534:65534::/:/bin/sh' >> "$stage/etc/passwd"
mkfs.ext4 -q -d "$stage" "$image" 16M
rm -rf "$stage"
