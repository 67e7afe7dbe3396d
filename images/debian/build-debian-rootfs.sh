#!/usr/bin/env bash
# Builds a minimal Debian 12 root filesystem as a tar (debootstrap --variant=minbase, with
# python3-minimal): the directory that `uvm run --rootfs` is tested on, and the tree that
# `uvm bench fs` walks and reads. Cached outside the repository like the kernel, keyed by this
# script and the mirror, so a machine downloads it once.
#
# usage: build-debian-rootfs.sh OUTPUT.tar
#   UVM_CACHE           cache root (default: $HOME/.cache/uvm)
#   UVM_DEBIAN_MIRROR   the Debian mirror (default: the first one in apt's sources, else
#                       http://deb.debian.org/debian)
set -euo pipefail
out=$(realpath -m "$1")
cache=${UVM_CACHE:-$HOME/.cache/uvm}
suite=bookworm
if [ -z "${UVM_DEBIAN_MIRROR:-}" ]; then
  UVM_DEBIAN_MIRROR=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 |
    tr -d ' ' || true)
  UVM_DEBIAN_MIRROR=${UVM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi
command -v debootstrap >/dev/null || { echo "build-debian-rootfs: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }

key=$( { cat "$0"; echo "$suite $UVM_DEBIAN_MIRROR"; } | sha256sum | cut -c1-16)
cached="$cache/debian/$suite-minbase-$key.tar"
if [ ! -f "$cached" ]; then
  # debootstrap makes device nodes and root-owned files: it needs root.
  if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
  mkdir -p "$cache/debian"
  work=$(mktemp -d "$cache/debian/work.XXXXXX")
  trap '$sudo rm -rf "$work"' EXIT
  echo "build-debian-rootfs: debootstrap $suite from $UVM_DEBIAN_MIRROR (once per machine)"
  if ! $sudo debootstrap --variant=minbase --include=python3-minimal "$suite" "$work/root" \
      "$UVM_DEBIAN_MIRROR" > "$work/log" 2>&1; then
    tail -n 30 "$work/log" >&2
    exit 1
  fi
  $sudo rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*_Packages
  $sudo tar --numeric-owner -C "$work/root" -cf "$work/rootfs.tar" .
  $sudo chown "$(id -u):$(id -g)" "$work/rootfs.tar"
  mv "$work/rootfs.tar" "$cached"
fi
mkdir -p "$(dirname "$out")"
if [ ! -f "$out" ] || ! cmp -s "$cached" "$out"; then cp -f "$cached" "$out"; fi
echo "build-debian-rootfs: $out"
