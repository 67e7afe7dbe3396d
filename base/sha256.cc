#include "base/sha256.h"

// The one-shot SHA-256 functions, not EVP: EVP brings OpenSSL's provider machinery into the static
// uvm binary (3.3 MB of text, which every start pays for in the lab, where binaries are read over
// 9p), and SHA256_* are the same assembly (SHA extensions where the CPU has them). They are
// deprecated in OpenSSL 3 in favour of EVP but present throughout 3.x.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

namespace uvm {

struct Sha256::Context {
  SHA256_CTX ctx;
};

Sha256::Sha256() : ctx_(std::make_unique<Context>()) { SHA256_Init(&ctx_->ctx); }

Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

void Sha256::Update(std::span<const uint8_t> data) {
  SHA256_Update(&ctx_->ctx, data.data(), data.size());
}

std::string Sha256::FinishHex() {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256_Final(md, &ctx_->ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof md);
  for (unsigned char byte : md) {
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.FinishHex();
}

std::string Sha256Digest(std::string_view data) { return "sha256:" + Sha256Hex(data); }

bool IsSha256Digest(std::string_view digest) {
  constexpr std::string_view kPrefix = "sha256:";
  if (digest.size() != kPrefix.size() + 64 || !digest.starts_with(kPrefix)) return false;
  for (char c : digest.substr(kPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace uvm
