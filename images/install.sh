#!/bin/bash
# Installs a built uvm: BUILD/uvm as DEST/bin/uvm, uvm-runtime beside it (the same binary, which
# takes runc's command line when called by that name), and the built-in images the binaries
# look for in DEST/lib/uvm/images (the guest kernel and agent initramfs every utility VM runs,
# the busybox image, the lab for hosts whose KVM cannot run Linux). `make install` runs it with
# DEST=$(DESTDIR)$(PREFIX).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: install.sh BUILD DEST" >&2; exit 2; }
build=$1 dest=$2
images=$build/images
for f in "$build/uvm" "$images/vmlinux" "$images/agent-initramfs.cpio.gz" \
  "$images/busybox-rootfs.tar"; do
  [ -f "$f" ] || { echo "install: $f is missing (run \`make build images\`)" >&2; exit 1; }
done
install -d "$dest/bin" "$dest/lib/uvm/images"
install -m 755 "$build/uvm" "$dest/bin/uvm"
ln -sfn uvm "$dest/bin/uvm-runtime"
install -m 644 "$images/vmlinux" "$images/agent-initramfs.cpio.gz" "$images/busybox-rootfs.tar" \
  "$dest/lib/uvm/images/"
if [ -f "$images/lab/vmlinux" ]; then
  install -d "$dest/lib/uvm/images/lab"
  install -m 644 "$images/lab/vmlinux" "$images/lab/initramfs.cpio.gz" "$dest/lib/uvm/images/lab/"
fi
echo "install: uvm and uvm-runtime in $dest/bin, images in $dest/lib/uvm/images"
