// The virtio-fs device (virtio 1.2, 5.11): one host directory shared with the guest, served by a
// FUSE session inside the VMM process (fuse_session.h).
//
// Why in-process: a clone's memory is its template's file mapped MAP_PRIVATE, so only the VMM sees
// the clone's own pages; an external daemon (virtiofsd) mapping the same file would read the
// template's. Queues: 0 is hiprio (FORGET and BATCH_FORGET, no replies), 1 the one request queue.
// Every request is answered before ProcessQueue() returns, so the device never holds a chain
// between kicks; a kick serves at most kChainsPerKick chains and asks for another kick for the
// rest (SetRequeue), and each request's own work is bounded (1 MiB reads and writes, listings of
// at most the guest's buffer, 64 MiB per copy_file_range).
//
// Threads: the transport calls in under its own lock; the device's mutex guards the session, so
// a reset from a vCPU thread waits for the request being served.
//
// Snapshots: a share the guest has not mounted (no FUSE_INIT yet) holds no state and saves as
// any idle device; a mounted one refuses the snapshot (its open files and node ids are host
// descriptors) with one line that says so.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "base/result.h"
#include "devices/virtio/device.h"
#include "devices/virtio/fs/fuse_session.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::fs {

// struct virtio_fs_config (5.11.4), without notify_buf_size (VIRTIO_FS_F_NOTIFICATION is not
// offered).
struct __attribute__((packed)) VirtioFsConfig {
  char tag[36];
  uint32_t num_request_queues;
};

inline constexpr size_t kMaxTagBytes = sizeof(VirtioFsConfig::tag);

class FsDevice final : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 1024;
  static constexpr size_t kHiprioQueue = 0;
  static constexpr size_t kRequestQueue = 1;
  static constexpr size_t kChainsPerKick = 64;

  // An empty config.host_dir makes the device unbound: the guest sees the tag but cannot mount
  // it (a template's share slot, bound to each clone's directory when the clone is restored).
  static Result<std::shared_ptr<FsDevice>> Create(const std::string& tag,
                                                  const ShareConfig& config);
  static Result<std::shared_ptr<FsDevice>> Create(const ShareSpec& spec) {
    return Create(spec.tag, spec.config);
  }

  uint32_t DeviceType() const override { return kDeviceIdFs; }
  uint64_t Features() const override;
  size_t NumQueues() const override { return 2; }
  uint16_t QueueMaxSize(size_t) const override { return kQueueSize; }
  void ReadConfig(uint64_t offset, std::span<uint8_t> data) override;
  void WriteConfig(uint64_t, std::span<const uint8_t>) override {}
  Result<void> Activate(const GuestMemory& mem, uint64_t features, std::span<Queue> queues,
                        InterruptSink& irq) override;
  void Reset() override;
  Result<void> ProcessQueue(size_t index) override;
  Result<void> Quiesce() override;
  void SetRequeue(std::function<void(size_t)> requeue) override;

  const std::string& tag() const { return tag_; }
  // Binds an unbound device (or rebinds one the guest has not mounted) to `config.host_dir`,
  // `config.read_only`; the caps on nodes and open files stay the device's. Any thread: a pooled
  // VM's share is bound when the VM is lent, while it runs.
  Result<void> Bind(const ShareConfig& config);
  bool bound();
  // For tests: the session's tables (a bound device only).
  const FuseSession& session() const { return *session_; }

 private:
  FsDevice(std::string tag, const ShareConfig& config, std::unique_ptr<FuseSession> session);
  void ServeChain(size_t index, const Chain& chain);  // mu_ held

  const std::string tag_;
  const ShareConfig limits_;  // the caps Create() was given, kept by Bind()
  std::function<void(size_t)> requeue_;

  std::mutex mu_;
  std::unique_ptr<FuseSession> session_;
  const GuestMemory* mem_ = nullptr;
  std::span<Queue> queues_;
  InterruptSink* irq_ = nullptr;
  bool broken_ = false;
};

}  // namespace uvm::devices::virtio::fs
