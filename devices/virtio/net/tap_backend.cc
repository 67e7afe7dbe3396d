#include "devices/virtio/net/tap_backend.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cstring>

#include "devices/virtio/net/net_config.h"
#include "devices/virtio/net/net_header.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::net {

unsigned TapOffloadFlags(uint64_t features) {
  // TUNSETOFFLOAD says what the reader of the tap (uvm, for the guest) accepts: partial checksums
  // and TSO packets. Without a flag the kernel finishes the work before queueing the frame.
  unsigned flags = 0;
  if (features & Bit(kNetFGuestCsum)) {
    flags |= TUN_F_CSUM;
    // The kernel ignores TSO flags without TUN_F_CSUM; so does the spec (5.1.3.1).
    if (features & Bit(kNetFGuestTso4)) flags |= TUN_F_TSO4;
    if (features & Bit(kNetFGuestTso6)) flags |= TUN_F_TSO6;
  }
  return flags;
}

Result<std::unique_ptr<TapBackend>> TapBackend::Open(const std::string& name) {
  UVM_CHECK(CheckTapName(name));
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr("open /dev/net/tun (is the tun module loaded?)");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    return ErrnoErr("tap " + name +
                        (err == EPERM ? ": creating or attaching needs CAP_NET_ADMIN (or a tap "
                                        "made for this user: ip tuntap add NAME mode tap user U)"
                                      : ": TUNSETIFF"),
                    err);
  }
  int hdr_size = sizeof(VirtioNetHdr);
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr_size) < 0) {
    return ErrnoErr("tap " + name + ": TUNSETVNETHDRSZ");
  }
  auto tap = std::unique_ptr<TapBackend>(new TapBackend(std::move(fd), name));
  UVM_CHECK(tap->SetGuestOffloads(0));
  return tap;
}

Result<void> TapBackend::SetGuestOffloads(uint64_t features) {
  if (::ioctl(fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(TapOffloadFlags(features))) <
      0) {
    return ErrnoErr("tap " + name_ + ": TUNSETOFFLOAD");
  }
  return {};
}

}  // namespace uvm::devices::virtio::net
