#include "devices/virtio/fs/fs_device.h"

#include <cctype>
#include <cstring>
#include <utility>

#include "devices/virtio/chain.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::fs {

std::string CheckTag(std::string_view tag) {
  if (tag.empty()) return "a share's tag is empty";
  if (tag.size() > kMaxTagBytes) {
    return "tag '" + std::string(tag) + "' is longer than " + std::to_string(kMaxTagBytes) +
           " bytes";
  }
  for (char c : tag) {
    if (!std::isgraph(static_cast<unsigned char>(c)) || c == ',') {
      return "tag '" + std::string(tag) + "' may hold printable characters other than ',' only";
    }
  }
  return "";
}

Result<std::shared_ptr<FsDevice>> FsDevice::Create(const std::string& tag,
                                                   const ShareConfig& config) {
  if (std::string why = CheckTag(tag); !why.empty()) {
    return Err(ErrorCode::kInvalidArgument, "virtio-fs: " + why);
  }
  std::unique_ptr<FuseSession> session;
  if (!config.host_dir.empty()) {
    UVM_TRY(session, Context(FuseSession::Open(config), "virtio-fs " + tag));
  }
  return std::shared_ptr<FsDevice>(new FsDevice(tag, config, std::move(session)));
}

FsDevice::FsDevice(std::string tag, const ShareConfig& config, std::unique_ptr<FuseSession> session)
    : tag_(std::move(tag)), limits_(config), session_(std::move(session)) {}

bool FsDevice::bound() {
  std::lock_guard lock(mu_);
  return session_ != nullptr;
}

Result<void> FsDevice::Bind(const ShareConfig& config) {
  ShareConfig bound = limits_;
  bound.host_dir = config.host_dir;
  bound.read_only = config.read_only;
  if (bound.host_dir.empty()) {
    return Err(ErrorCode::kInvalidArgument, "virtio-fs " + tag_ + ": no directory to bind");
  }
  UVM_TRY(auto session, Context(FuseSession::Open(bound), "virtio-fs " + tag_));
  std::lock_guard lock(mu_);
  if (session_ && session_->initialized()) {
    return Err(ErrorCode::kUnavailable,
               "virtio-fs " + tag_ + " is mounted in the guest: it cannot be bound elsewhere");
  }
  session_ = std::move(session);
  return {};
}

uint64_t FsDevice::Features() const { return Bit(kFeatureIndirectDesc) | Bit(kFeatureEventIdx); }

void FsDevice::ReadConfig(uint64_t offset, std::span<uint8_t> data) {
  VirtioFsConfig config{};
  std::memcpy(config.tag, tag_.data(), tag_.size());  // NUL-padded, not terminated at 36
  config.num_request_queues = 1;
  ReadConfigBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&config), sizeof(config)), offset,
      data);
}

void FsDevice::SetRequeue(std::function<void(size_t)> requeue) { requeue_ = std::move(requeue); }

Result<void> FsDevice::Activate(const GuestMemory& mem, uint64_t, std::span<Queue> queues,
                                InterruptSink& irq) {
  std::lock_guard lock(mu_);
  mem_ = &mem;
  queues_ = queues;
  irq_ = &irq;
  broken_ = false;
  return {};
}

void FsDevice::Reset() {
  std::lock_guard lock(mu_);
  // A new driver starts with FUSE_INIT: what the old one had open is closed.
  if (session_) session_->Reset();
  mem_ = nullptr;
  queues_ = {};
  irq_ = nullptr;
  broken_ = false;
}

void FsDevice::ServeChain(size_t index, const Chain& chain) {
  const ParseResult parsed = ParseFuseRequest(chain, kMaxIoBytes);
  FuseReply reply(chain, parsed.unique);
  if (!session_) {
    // Unbound: there is no directory to mount (the guest's mount fails with ENODEV).
    if (parsed.failure != ParseFailure::kNoHeader && index == kRequestQueue) reply.Error(ENODEV);
  } else if (!parsed.request) {
    if (parsed.failure != ParseFailure::kNoHeader && index == kRequestQueue) {
      reply.Error(parsed.failure == ParseFailure::kTooBig ? E2BIG : EINVAL);
    }
  } else if (index == kHiprioQueue) {
    session_->HandleHiprio(*parsed.request);
  } else {
    session_->Handle(*parsed.request, reply);
  }
  queues_[index].PushUsed(*mem_, chain.head, reply.written());
}

Result<void> FsDevice::ProcessQueue(size_t index) {
  std::lock_guard lock(mu_);
  if (!mem_ || broken_ || index >= queues_.size() || !queues_[index].state().ready) return {};
  Queue& queue = queues_[index];
  Result<void> result;
  size_t served = 0;
  bool more = false;
  for (;;) {
    if (served == kChainsPerKick) {
      more = true;
      break;
    }
    auto popped = queue.PopChain(*mem_);
    if (!popped) {
      broken_ = true;
      result = tl::unexpected<Error>(popped.error());
      break;
    }
    if (!*popped) break;
    ServeChain(index, **popped);
    ++served;
  }
  if (served > 0 && queue.NeedsInterrupt(*mem_)) irq_->SignalUsed();
  if (more && requeue_) requeue_(index);
  return result;
}

Result<void> FsDevice::Quiesce() {
  std::lock_guard lock(mu_);
  if (session_ && session_->initialized()) {
    return Err(ErrorCode::kUnsupported, "virtio-fs share '" + tag_ +
                                            "' is mounted in the guest: its open files and nodes "
                                            "are host descriptors a snapshot cannot hold");
  }
  return {};
}

}  // namespace uvm::devices::virtio::fs
