# uvm's entry points. `make demo` and `make test` are the README's two commands for a fresh Debian 12
# machine: each installs missing packages, builds uvm and the images, then runs.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
UVM := $(BUILD)/uvm
IMAGES := $(BUILD)/images

PACKAGES := cmake make g++ clang pkg-config libelf-dev libfdt-dev libexpected-dev libaio-dev \
  zlib1g-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev \
  libarchive-dev libclang-rt-14-dev linux-source-6.1 flex bison bc libssl-dev libelf-dev cpio \
  xz-utils kmod qemu-system-x86 libacl1-dev e2fsprogs busybox-static umoci skopeo file \
  debootstrap podman runc crun containerd

.PHONY: all deps build images demo test bench fuzz asan install clean

all: build

# Installs only what is missing; `apt-get update` only when something is.
deps:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	  grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	fi

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Guest kernel (cached per machine), the test initramfs, the lab (L1 kernel + init), the
# built-in busybox image's rootfs tar (from busybox-static), and a minimal Debian root filesystem
# tar (debootstrap, cached per machine) for the --rootfs e2e test and `uvm bench fs`.
images: deps
	images/kernel/build-kernel.sh guest $(IMAGES) images/kernel/guest.config
	images/build-initramfs.sh images/test-init/test_init.cc $(IMAGES)/test-initramfs.cpio.gz
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS) --target uvm-agent
	images/build-agent-initramfs.sh $(BUILD)/guest-agent/uvm-agent $(IMAGES)/agent-initramfs.cpio.gz
	images/lab/build-lab.sh $(IMAGES)/lab
	images/busybox/build-busybox-image.sh $(IMAGES)/busybox-rootfs.tar
	images/debian/build-debian-rootfs.sh $(IMAGES)/debian-rootfs.tar

# The main job on the built-in image: `uvm run busybox -- echo hi` prints `hi` from inside a utility
# VM (inside the lab where this host's KVM cannot run Linux).
demo: build images
	@where=$$($(UVM) doctor --verdict); echo "demo: Linux guests run $$where on this host (uvm doctor)"; \
	cmd=($(UVM) run busybox -- echo hi); echo "demo: $${cmd[*]}"; \
	if [ "$$where" = direct ]; then "$${cmd[@]}"; else $(UVM) lab -- "$${cmd[@]}"; fi

# Every tier: unit (plus an ASan/UBSan build of it), kvm, lab, e2e (in the lab where needed), fuzz.
# The lab-hosted tiers start as soon as uvm and the images are built; the sanitizer and fuzz
# builds run meanwhile (tests/run-tiers.sh).
test: build images
	tests/run-tiers.sh $(BUILD) -- $(MAKE) --no-print-directory asan fuzz

asan: deps
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DUVM_SANITIZE=ON >/dev/null
	cmake --build $(BUILD)-asan -j$(JOBS) --target base_unit_tests boot_unit_tests \
	  devices_unit_tests vmm_unit_tests virtio_unit_tests virtio_block_unit_tests \
	  virtio_vsock_unit_tests virtio_fs_unit_tests store_unit_tests snapshot_unit_tests \
	  virtio_net_unit_tests agent_protocol_unit_tests agent_core_unit_tests agent_unit_tests runtime_unit_tests \
	  bench_unit_tests cli_unit_tests control_socket_test

FUZZ_SECONDS ?= 20
fuzz: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DUVM_FUZZ=ON -DUVM_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	cmake --build $(BUILD)-fuzz -j$(JOBS) --target fuzz_targets

bench: build images
	$(BUILD)/bench/virtio_bench
	@if [ "$$($(UVM) doctor --verdict)" = direct ]; then \
	  $(UVM) bench boot && $(UVM) bench exec && $(UVM) bench clone && $(UVM) bench io && \
	  $(UVM) bench fs && $(UVM) bench engine; \
	else $(UVM) lab -- $(UVM) bench boot && $(UVM) lab -- $(UVM) bench exec && \
	  $(UVM) lab -- $(UVM) bench clone && $(UVM) lab -- $(UVM) bench io && \
	  $(UVM) lab -- $(UVM) bench fs && $(UVM) lab --timeout 3000 -- $(UVM) bench engine; fi

# `make install [PREFIX=/usr/local] [DESTDIR=...]`: uvm and uvm-runtime in PREFIX/bin, the images
# they run in PREFIX/lib/uvm/images.
PREFIX ?= /usr/local
install: build images
	images/install.sh $(BUILD) $(DESTDIR)$(PREFIX)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
