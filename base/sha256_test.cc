#include "base/sha256.h"

#include <gtest/gtest.h>

namespace uvm {
namespace {

// FIPS 180-4 examples (NIST CSRC "SHA256.pdf" / "SHA256_2.pdf") and the empty message.
TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Digest(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, MillionAsInUnevenChunks) {
  Sha256 h;
  std::string a(1000000, 'a');
  for (size_t pos = 0, step = 1; pos < a.size(); pos += step, step = step * 3 % 997 + 1) {
    h.Update(std::string_view(a).substr(pos, step));
  }
  EXPECT_EQ(h.FinishHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, AMovedHasherCarriesOn) {
  Sha256 a;
  a.Update("ab");
  Sha256 b(std::move(a));
  b.Update("c");
  EXPECT_EQ("sha256:" + b.FinishHex(), Sha256Digest("abc"));
  EXPECT_EQ(Sha256Hex("abc"), Sha256Digest("abc").substr(7));
}

TEST(Sha256Test, DigestSyntax) {
  EXPECT_TRUE(IsSha256Digest(Sha256Digest("x")));
  EXPECT_FALSE(IsSha256Digest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Digest("sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(IsSha256Digest("sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(IsSha256Digest("sha256:../../../../etc/passwd" + std::string(36, 'a')));
}

}  // namespace
}  // namespace uvm
