#include "devices/virtio/net/net_config.h"

#include <gtest/gtest.h>
#include <linux/if_tun.h>

#include "devices/virtio/net/net_header.h"
#include "devices/virtio/net/tap_backend.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::net {
namespace {

TEST(NetConfigTest, ParsesMac) {
  auto mac = ParseMac("52:54:00:Ab:cD:0f");
  ASSERT_TRUE(mac);
  EXPECT_EQ(*mac, (MacAddress{0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f}));
  EXPECT_EQ(FormatMac(*mac), "52:54:00:ab:cd:0f");
  for (const char* bad :
       {"", "52:54:00:ab:cd", "52:54:00:ab:cd:0f:00", "52-54-00-ab-cd-0f", "52:54:00:ab:cd:0g",
        "01:00:5e:00:00:01", "00:00:00:00:00:00", "52:54:00:ab:cd:0"}) {
    EXPECT_FALSE(ParseMac(bad)) << bad;
  }
}

TEST(NetConfigTest, DefaultMacIsLocalUnicastAndStable) {
  const MacAddress a = DefaultMac("uvm0");
  EXPECT_EQ(a, DefaultMac("uvm0"));
  EXPECT_NE(a, DefaultMac("uvm1"));
  EXPECT_EQ(a[0] & 1, 0);  // unicast
  EXPECT_EQ(a[0] & 2, 2);  // locally administered
}

TEST(NetConfigTest, ChecksTapNames) {
  EXPECT_TRUE(CheckTapName("tap0"));
  EXPECT_TRUE(CheckTapName("fifteen-chars-x"));
  for (const char* bad : {"", "a/b", "sixteen-chars-xx", "..", ".", "ta p", "a:b"}) {
    EXPECT_FALSE(CheckTapName(bad)) << bad;
  }
}

TEST(NetConfigTest, TapOffloadsFollowGuestFeatures) {
  EXPECT_EQ(TapOffloadFlags(0), 0u);
  // TSO without GUEST_CSUM is meaningless to the kernel and to the spec.
  EXPECT_EQ(TapOffloadFlags(Bit(kNetFGuestTso4)), 0u);
  EXPECT_EQ(TapOffloadFlags(Bit(kNetFGuestCsum)), unsigned{TUN_F_CSUM});
  EXPECT_EQ(TapOffloadFlags(Bit(kNetFGuestCsum) | Bit(kNetFGuestTso4) | Bit(kNetFGuestTso6)),
            unsigned{TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6});
  // HOST_* features are about the other direction: no tap flag.
  EXPECT_EQ(TapOffloadFlags(Bit(kNetFCsum) | Bit(kNetFHostTso4)), 0u);
}

}  // namespace
}  // namespace uvm::devices::virtio::net
