// The network `uvm bench io` measures over: a fresh network namespace for the bench process (and
// so for the VMMs it starts) holding one persistent tap with the host's address, which each VMM
// in turn attaches to (uvm `--net TAP`, QEMU `-netdev tap,ifname=TAP`). Nothing outside the
// namespace is touched; the tap is deleted and the original namespace restored at the end.
#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace uvm::bench {

// Addresses on the tap's /24 (the guest's is given on its command line, iobench_mode.h).
inline constexpr char kBenchTap[] = "uvmbench0";
inline constexpr char kBenchHostIp[] = "10.0.2.1";
inline constexpr char kBenchGuestIp[] = "10.0.2.15";

class BenchNetwork {
 public:
  // Needs CAP_SYS_ADMIN and CAP_NET_ADMIN (root in the lab). Must be called before the process
  // starts threads that should share the namespace: it moves the calling thread only, and
  // threads and processes started from it afterwards.
  static Result<BenchNetwork> Create();
  BenchNetwork(BenchNetwork&& o) noexcept : original_ns_(std::move(o.original_ns_)) {}
  BenchNetwork& operator=(BenchNetwork&&) = delete;
  ~BenchNetwork();

 private:
  explicit BenchNetwork(UniqueFd original_ns) : original_ns_(std::move(original_ns)) {}
  UniqueFd original_ns_;  // valid while this object owns the namespace switch
};

// Whether QEMU could use the in-kernel vhost-net data path here.
bool VhostNetAvailable();

}  // namespace uvm::bench
