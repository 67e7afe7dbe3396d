#include "guest-agent/identity.h"

#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <time.h>

#include <cstring>

#include "base/log.h"
#include "base/unique_fd.h"

namespace uvm::agent {
namespace {

// struct rand_pool_info with room for the largest entropy the protocol allows; <linux/random.h>
// declares the buffer as a flexible array member, which C++ does not have.
struct PoolInfo {
  int entropy_count;  // bits credited
  int buf_size;       // bytes
  unsigned char buf[kMaxEntropyBytes];
};
static_assert(offsetof(PoolInfo, buf) == 2 * sizeof(int));

Result<void> SetRealtime(uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  if (clock_settime(CLOCK_REALTIME, &ts) < 0) return ErrnoErr("setting the clock");
  return {};
}

uint64_t RealtimeNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

Result<UniqueFd> OpenUrandom() {
  UniqueFd fd(open("/dev/urandom", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr("open /dev/urandom");
  return fd;
}

// Mixed into the input pool and credited in full: the bytes come from the host's getrandom().
Result<void> AddEntropy(std::string_view bytes) {
  if (bytes.size() > kMaxEntropyBytes) return Err("entropy: too many bytes");
  UVM_TRY(UniqueFd fd, OpenUrandom());
  PoolInfo info{};
  info.entropy_count = static_cast<int>(bytes.size() * 8);
  info.buf_size = static_cast<int>(bytes.size());
  std::memcpy(info.buf, bytes.data(), bytes.size());
  const int r = ioctl(fd.get(), RNDADDENTROPY, &info);
  explicit_bzero(&info, sizeof info);
  if (r < 0) return ErrnoErr("adding entropy (RNDADDENTROPY)");
  return {};
}

// Makes the CRNG take a new key from the input pool now rather than at its next periodic reseed,
// so the very next read in any clone differs (drivers/char/random.c: -ENODATA while the CRNG is
// not ready yet, which crediting 256 bits has already fixed by reseeding it).
Result<void> ReseedCrng() {
  UVM_TRY(UniqueFd fd, OpenUrandom());
  if (ioctl(fd.get(), RNDRESEEDCRNG) < 0) return ErrnoErr("reseeding the CRNG (RNDRESEEDCRNG)");
  return {};
}

}  // namespace

IdentityOps SystemIdentityOps() {
  return IdentityOps{RealtimeNow, SetRealtime, AddEntropy, ReseedCrng};
}

Result<void> ApplyIdentity(const ExecRequest& request, const IdentityOps& ops) {
  if (request.realtime_ns != 0) {
    const uint64_t now = ops.realtime_now_ns();
    const uint64_t off =
        now > request.realtime_ns ? now - request.realtime_ns : request.realtime_ns - now;
    if (off > kClockToleranceNs) UVM_CHECK(ops.set_realtime(request.realtime_ns));
  }
  if (!request.entropy.empty()) {
    UVM_TRY(std::string bytes, Context(DecodeEntropy(request.entropy), "exec"));
    auto added = ops.add_entropy(bytes);
    explicit_bzero(bytes.data(), bytes.size());
    UVM_CHECK(added);
    if (auto r = ops.reseed_crng(); !r) Log(LogLevel::kWarn, "agent: " + r.error().message);
  }
  return {};
}

}  // namespace uvm::agent
