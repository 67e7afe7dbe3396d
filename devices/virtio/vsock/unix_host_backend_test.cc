#include "devices/virtio/vsock/unix_host_backend.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace uvm::devices::virtio::vsock {
namespace {

TEST(UnixHostBackendTest, ParsesTheConnectRequest) {
  EXPECT_EQ(ParseConnectLine("CONNECT 1024"), 1024u);
  EXPECT_EQ(ParseConnectLine("CONNECT 4294967295\r"), 4294967295u);
  for (const char* bad : {"", "CONNECT", "CONNECT ", "CONNECT -1", "CONNECT 4294967296",
                          "CONNECT 12x", "connect 1024", " CONNECT 1024", "CONNECT 1024 "}) {
    EXPECT_FALSE(ParseConnectLine(bad)) << bad;
  }
}

TEST(UnixHostBackendTest, TheAcceptedPrefixNamesTheHostPort) {
  auto backend = UnixHostBackend::Listen("/tmp/uvm-backend-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(backend) << backend.error().message;
  EXPECT_EQ((*backend)->AcceptedPrefix(1025), "OK 1025\n");
  auto none = (*backend)->ConnectToHost(9);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace uvm::devices::virtio::vsock
