#!/usr/bin/env bash
# Builds the built-in `busybox` image's root filesystem tar from Debian's busybox-static, so uvm
# runs containers with no registry and no network. `uvm` imports it on first use of "busybox".
# usage: build-busybox-image.sh OUTPUT.tar
set -euo pipefail
out=$(realpath -m "$1")  # absolute: the script works in a temporary directory
busybox=${BUSYBOX:-/bin/busybox}
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked' &&
   ! ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable'; then
  echo "build-busybox-image: $busybox is not a static binary (install busybox-static)" >&2
  exit 1
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$(dirname "$out")"
cd "$stage"
mkdir -p bin sbin usr/bin usr/sbin etc root tmp proc sys dev run var/tmp home
chmod 1777 tmp var/tmp
chmod 700 root
cp "$busybox" bin/busybox
chmod 755 bin/busybox
# One symlink per applet at the path busybox itself reports (bin/sh, usr/bin/env, ...).
"$busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$(dirname "$applet")"
  [ -e "$applet" ] || ln -s /bin/busybox "$applet"
done
cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > etc/group <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP
echo 'hosts: files dns' > etc/nsswitch.conf
: > etc/hosts
# Sorted names, fixed owners and times: the same busybox gives the same tar, so the same digest.
find . -mindepth 1 -print0 | LC_ALL=C sort -z |
  tar --null --no-recursion -T - --numeric-owner --owner=0 --group=0 --mtime=@0 \
      --format=pax --pax-option=delete=atime,delete=ctime -cf "$out.tmp"
mv "$out.tmp" "$out"
