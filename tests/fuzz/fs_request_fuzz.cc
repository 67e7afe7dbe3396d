// libFuzzer target: virtio-fs request chains into the FUSE session, as FsDevice serves them
// (ParseFuseRequest, then FuseSession::Handle or HandleHiprio, the reply into the chain's writable
// buffer). The queue's chain walker is fuzzed on its own (virtio_chain_fuzz); here the chain's
// contents and cut are hostile. Each input runs against a fresh session on a scratch share made
// once per process (beside it a canary file that must never change), after an INIT the harness
// sends so the requests get past the handshake. ASan (each buffer is its own heap block) and the
// checks below turn anything else into a crash: a reply longer than the writable space, a
// header whose len is not what the used ring gets, a changed canary.
//
// FALLOCATE is turned into GETATTR: it would reserve real space on the scratch filesystem
// (tmpfs reserves memory), which is the share's business, not a parser bug.
//
// Input: records of
//   byte 0       bit 0: hiprio queue; bit 1: fix the header's len to the record's length
//   bytes 1-2    writable bytes (LE, mod 8192)
//   bytes 3-4    where the readable bytes are cut into two buffers (LE)
//   bytes 5-6    record length n (LE, mod 4096), then n bytes: the readable part
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "devices/virtio/chain.h"
#include "devices/virtio/fs/fuse_reply.h"
#include "devices/virtio/fs/fuse_request.h"
#include "devices/virtio/fs/fuse_session.h"

namespace {

namespace fs = uvm::devices::virtio::fs;
using uvm::devices::virtio::Chain;

std::string g_scratch;
std::string g_share;
std::string g_canary;

// The scratch share goes when the fuzzer exits (remove_all does not follow the symlinks in it).
void RemoveScratch() {
  std::error_code ec;
  std::filesystem::remove_all(g_scratch, ec);
}

std::string ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[64];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  return n > 0 ? std::string(buf, size_t(n)) : "";
}

void Serve(fs::FuseSession& session, bool hiprio, std::vector<uint8_t> in, uint32_t room) {
  auto readable = std::make_unique<uint8_t[]>(in.size() ? in.size() : 1);
  if (!in.empty()) std::memcpy(readable.get(), in.data(), in.size());
  auto writable = std::make_unique<uint8_t[]>(room ? room : 1);
  Chain chain;
  if (!in.empty()) {
    chain.readable.push_back({0x1000, readable.get(), static_cast<uint32_t>(in.size())});
  }
  if (room) chain.writable.push_back({0x100000, writable.get(), room});
  const fs::ParseResult parsed = fs::ParseFuseRequest(chain, session.max_write());
  fs::FuseReply reply(chain, parsed.unique);
  if (parsed.request) {
    if (hiprio) {
      session.HandleHiprio(*parsed.request);
    } else {
      session.Handle(*parsed.request, reply);
    }
  }
  if (reply.written() > room) __builtin_trap();
  if (reply.written() != 0) {
    fuse_out_header h;
    std::memcpy(&h, writable.get(), sizeof(h));
    if (h.len != reply.written() || h.error > 0 || h.error < -4095) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char tmpl[] = "/tmp/uvm-fs-fuzz-XXXXXX";
  if (!::mkdtemp(tmpl)) __builtin_trap();
  g_scratch = tmpl;
  std::atexit(RemoveScratch);
  g_share = std::string(tmpl) + "/share";
  g_canary = std::string(tmpl) + "/canary";
  if (::mkdir(g_share.c_str(), 0755) < 0) __builtin_trap();
  int fd = ::open(g_canary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, "canary", 6) != 6) __builtin_trap();
  ::close(fd);
  ::symlink(g_canary.c_str(), (g_share + "/out").c_str());
  ::symlink("..", (g_share + "/up").c_str());
  ::mkdir((g_share + "/d").c_str(), 0755);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fs::ShareConfig config;
  config.host_dir = g_share;
  config.max_nodes = 64;
  config.max_handles = 16;
  auto session = fs::FuseSession::Open(config);
  if (!session) __builtin_trap();
  {
    fuse_in_header h{};
    fuse_init_in init{};
    h.len = sizeof(h) + sizeof(init);
    h.opcode = FUSE_INIT;
    init.major = FUSE_KERNEL_VERSION;
    init.minor = 37;
    init.flags = ~0u;
    std::vector<uint8_t> in(h.len);
    std::memcpy(in.data(), &h, sizeof(h));
    std::memcpy(in.data() + sizeof(h), &init, sizeof(init));
    Serve(**session, false, in, 4096);
  }
  size_t at = 0;
  while (at + 7 <= size) {
    const uint8_t flags = data[at];
    const uint32_t room = (data[at + 1] | data[at + 2] << 8) % 8192;
    const size_t n = (data[at + 5] | data[at + 6] << 8) % 4096;
    at += 7;
    std::vector<uint8_t> in(data + at, data + at + std::min(n, size - at));
    at += in.size();
    if (in.size() >= sizeof(fuse_in_header)) {
      fuse_in_header h;
      std::memcpy(&h, in.data(), sizeof(h));
      if (flags & 2) h.len = static_cast<uint32_t>(in.size());
      if (h.opcode == FUSE_FALLOCATE) h.opcode = FUSE_GETATTR;
      std::memcpy(in.data(), &h, sizeof(h));
    }
    Serve(**session, flags & 1, std::move(in), room);
  }
  if (ReadFile(g_canary) != "canary") __builtin_trap();
  return 0;
}
