#!/usr/bin/env bash
# Builds an x86-64 kernel from Debian's linux-source-6.1 with `allnoconfig` plus config fragments, and
# copies vmlinux and bzImage to OUT_DIR. The build is cached outside the repository, keyed by a hash
# of everything that determines it (fragments, this script, the source package version, the compiler),
# so a machine builds each kernel once.
#
# usage: build-kernel.sh NAME OUT_DIR FRAGMENT...
#   UVM_CACHE   cache root (default: $HOME/.cache/uvm)
#   UVM_JOBS    make -j (default: nproc)
set -euo pipefail

name=$1 out=$2
shift 2
[ $# -ge 1 ] || { echo "usage: $0 NAME OUT_DIR FRAGMENT..." >&2; exit 2; }

cache=${UVM_CACHE:-$HOME/.cache/uvm}
tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$tarball" ] || { echo "build-kernel: $tarball missing (apt-get install linux-source-6.1)" >&2; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)

key=$( { cat "$0" "$@"; echo "$srcver"; gcc --version | head -n1; } | sha256sum | cut -c1-16)
dest="$cache/kernel/$name-$key"
mkdir -p "$out"
if [ -f "$dest/vmlinux" ] && [ -f "$dest/bzImage" ]; then
  cp -f "$dest/vmlinux" "$dest/bzImage" "$dest/config" "$out/"
  echo "build-kernel: $name cached ($dest)"
  exit 0
fi

# One extracted source tree per source package version; out-of-tree builds keep it clean.
src="$cache/src/linux-source-6.1-$srcver"
if [ ! -f "$src/.uvm-extracted" ]; then
  echo "build-kernel: extracting $tarball (once per machine)"
  rm -rf "$src" && mkdir -p "$src"
  tar -xf "$tarball" -C "$src" --strip-components=1
  touch "$src/.uvm-extracted"
fi

work="$cache/build/$name-$key"
rm -rf "$work" && mkdir -p "$work"
cat "$@" > "$work/fragment.config"
kmake() { make -C "$src" O="$work" ARCH=x86_64 -j"${UVM_JOBS:-$(nproc)}" "$@"; }
echo "build-kernel: configuring $name ($key)"
KCONFIG_ALLCONFIG="$work/fragment.config" kmake -s allnoconfig >/dev/null

# A fragment line that Kconfig silently dropped (unmet dependency, renamed symbol) is a bug here:
# fail loudly instead of shipping a kernel without it.
missing=0
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=n) sym=${line%%=*}
      if grep -q "^$sym=" "$work/.config"; then echo "build-kernel: $sym is set, fragment wants it off" >&2; missing=1; fi ;;
    CONFIG_*=*) grep -qxF "$line" "$work/.config" || { echo "build-kernel: '$line' not in the final config" >&2; missing=1; } ;;
  esac
done < "$work/fragment.config"
[ $missing -eq 0 ] || exit 1

echo "build-kernel: building $name (several minutes, once per machine)"
kmake -s vmlinux bzImage > "$work/build.log" 2>&1 || { tail -n 40 "$work/build.log" >&2; exit 1; }

tmp="$dest.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
cp "$work/vmlinux" "$tmp/vmlinux"
cp "$work/arch/x86/boot/bzImage" "$tmp/bzImage"
cp "$work/.config" "$tmp/config"
rm -rf "$dest" && mv "$tmp" "$dest"
rm -rf "$work"
cp -f "$dest/vmlinux" "$dest/bzImage" "$dest/config" "$out/"
echo "build-kernel: $name built ($dest)"
