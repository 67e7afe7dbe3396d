#include "bench/net.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>

#include "base/netif.h"

namespace uvm::bench {
namespace {

// Opens the tap (creating it when it does not exist) and sets its persistence; the flags match
// what uvm's tap backend and QEMU ask for, so either can attach afterwards.
Result<void> SetTapPersistent(bool persist) {
  UniqueFd fd(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr("open /dev/net/tun");
  ifreq ifr = netif::Request(kBenchTap);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (ioctl(fd.get(), TUNSETIFF, &ifr) < 0) return ErrnoErr(std::string("tap ") + kBenchTap);
  if (ioctl(fd.get(), TUNSETPERSIST, persist ? 1 : 0) < 0) {
    return ErrnoErr(std::string("tap ") + kBenchTap + ": TUNSETPERSIST");
  }
  return {};
}

}  // namespace

Result<BenchNetwork> BenchNetwork::Create() {
  UniqueFd original(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!original.valid()) return ErrnoErr("open /proc/self/ns/net");
  if (unshare(CLONE_NEWNET) < 0) {
    return ErrnoErr(
        "a network namespace for the net phases (needs root: run `uvm lab -- uvm bench io` as "
        "root, or skip them with --net-mib 0)");
  }
  BenchNetwork net(std::move(original));  // from here on, the destructor switches back
  if (!netif::LoopbackUp()) return ErrnoErr("bringing lo up in the bench namespace");
  UVM_CHECK(SetTapPersistent(true));
  if (!netif::ConfigureIpv4(kBenchTap, kBenchHostIp)) {
    return ErrnoErr(std::string("giving ") + kBenchTap + " the address " + kBenchHostIp);
  }
  return net;
}

BenchNetwork::~BenchNetwork() {
  if (!original_ns_.valid()) return;
  (void)SetTapPersistent(false);  // the last close deletes it
  (void)setns(original_ns_.get(), CLONE_NEWNET);
}

bool VhostNetAvailable() { return access("/dev/vhost-net", R_OK | W_OK) == 0; }

}  // namespace uvm::bench
