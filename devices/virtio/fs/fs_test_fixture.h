// A virtio-fs device driven by the fake driver over a scratch share: FUSE requests go in as the
// Linux driver builds them (header + arguments readable, fuse_out_header + reply writable) and
// the reply comes back decoded. Beside the share lies a canary file the hostile tests check was
// never touched.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fuse.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fs.h"
#include "devices/virtio/fs/fs_device.h"
#include "devices/virtio/testing/fake_driver.h"
#include "devices/virtio/virtio_spec.h"

namespace uvm::devices::virtio::fs::testing {

struct FuseAnswer {
  uint32_t used_len = 0;  // what the device put in the used ring
  fuse_out_header header{};
  std::vector<uint8_t> body;
  int error() const { return -header.error; }
  template <class T>
  T As() const {
    T value{};
    std::memcpy(&value, body.data(), std::min(sizeof(T), body.size()));
    return value;
  }
};

// Argument bytes, appended in order.
class Args {
 public:
  template <class T>
  Args& Struct(const T& value) {
    const auto* p = reinterpret_cast<const uint8_t*>(&value);
    bytes.insert(bytes.end(), p, p + sizeof(T));
    return *this;
  }
  Args& Name(const std::string& name) {
    bytes.insert(bytes.end(), name.begin(), name.end());
    bytes.push_back(0);
    return *this;
  }
  Args& Raw(const std::vector<uint8_t>& raw) {
    bytes.insert(bytes.end(), raw.begin(), raw.end());
    return *this;
  }
  std::vector<uint8_t> bytes;
};

class FsFixture : public ::testing::Test {
 protected:
  static constexpr uint16_t kRing = 256;

  void SetUp() override { Start(ShareConfig{}); }

  void Start(ShareConfig config) {
    auto dir = TempDir::Create("/tmp", "uvm-fs-test");
    ASSERT_TRUE(dir) << dir.error().message;
    scratch_ = std::make_unique<TempDir>(std::move(*dir));
    share_ = scratch_->path() + "/share";
    canary_ = scratch_->path() + "/canary";
    ASSERT_EQ(::mkdir(share_.c_str(), 0755), 0);
    WriteHostFile(canary_, "canary");
    struct stat st;
    ASSERT_EQ(::stat(canary_.c_str(), &st), 0);
    canary_mtime_ = st.st_mtim;
    config.host_dir = share_;
    Restart(config);
  }

  // A new device on the same share (after changing `config`).
  void Restart(ShareConfig config) {
    config.host_dir = share_;
    auto dev = FsDevice::Create("share", config);
    ASSERT_TRUE(dev) << dev.error().message;
    dev_ = *dev;
    ram_ = std::make_unique<virtio::testing::FakeRam>(64 << 20);
    hiprio_ = std::make_unique<virtio::testing::FakeDriver>(ram_->mem(), kRing, 0x1000, 0x100000);
    request_ = std::make_unique<virtio::testing::FakeDriver>(ram_->mem(), kRing, 0x8000, 0x1000000);
    queues_.clear();
    queues_.emplace_back(kRing);
    queues_.emplace_back(kRing);
    queues_[0].state() = hiprio_->ReadyState();
    queues_[1].state() = request_->ReadyState();
    ASSERT_TRUE(dev_->Activate(ram_->mem(), 0, queues_, irq_));
  }

  void TearDown() override {
    if (!canary_.empty()) {
      EXPECT_EQ(ReadHostFile(canary_), "canary") << "a file outside the share was changed";
      struct stat st;
      ASSERT_EQ(::stat(canary_.c_str(), &st), 0);
      EXPECT_EQ(st.st_mtim.tv_sec, canary_mtime_.tv_sec);
      EXPECT_EQ(st.st_mtim.tv_nsec, canary_mtime_.tv_nsec);
    }
  }

  // A request's readable bytes as the driver lays them out: header, arguments, data.
  std::vector<uint8_t> Request(uint32_t opcode, uint64_t nodeid, const Args& args,
                               const std::vector<uint8_t>& payload = {}) {
    fuse_in_header h{};
    h.len = static_cast<uint32_t>(sizeof(h) + args.bytes.size() + payload.size());
    h.opcode = opcode;
    h.unique = ++unique_;
    h.nodeid = nodeid;
    h.uid = uid;
    h.gid = gid;
    std::vector<uint8_t> in(sizeof(h));
    std::memcpy(in.data(), &h, sizeof(h));
    in.insert(in.end(), args.bytes.begin(), args.bytes.end());
    in.insert(in.end(), payload.begin(), payload.end());
    return in;
  }

  // One request on the request queue with `out_room` writable bytes for the reply.
  FuseAnswer Call(uint32_t opcode, uint64_t nodeid, const Args& args, uint32_t out_room = 4096,
                  const std::vector<uint8_t>& payload = {}) {
    return Raw(Request(opcode, nodeid, args, payload), out_room);
  }

  // Raw request bytes on the hiprio queue (with `out_room` writable bytes); the used length.
  uint32_t Hiprio(const std::vector<uint8_t>& in, uint32_t out_room = 0) {
    const uint64_t gpa = hiprio_->Alloc(static_cast<uint32_t>(in.size()));
    hiprio_->WriteBytes(gpa, in);
    if (out_room) {
      hiprio_->Post({{gpa, static_cast<uint32_t>(in.size()), false},
                     {hiprio_->Alloc(out_room), out_room, true}});
    } else {
      hiprio_->Post({{gpa, static_cast<uint32_t>(in.size()), false}});
    }
    EXPECT_TRUE(dev_->ProcessQueue(FsDevice::kHiprioQueue));
    auto used = hiprio_->PopUsed();
    EXPECT_TRUE(used.has_value());
    return used ? used->len : ~0u;
  }

  // Raw request bytes (a hostile header, say) in one readable buffer.
  FuseAnswer Raw(const std::vector<uint8_t>& in, uint32_t out_room) {
    const uint64_t in_gpa = request_->Alloc(static_cast<uint32_t>(in.size() ? in.size() : 1));
    request_->WriteBytes(in_gpa, in);
    uint64_t out_gpa = 0;
    if (out_room) {
      out_gpa = request_->Alloc(out_room);
      request_->Post(
          {{in_gpa, static_cast<uint32_t>(in.size()), false}, {out_gpa, out_room, true}});
    } else {
      request_->Post({{in_gpa, static_cast<uint32_t>(in.size()), false}});
    }
    EXPECT_TRUE(dev_->ProcessQueue(FsDevice::kRequestQueue));
    FuseAnswer answer;
    auto used = request_->PopUsed();
    EXPECT_TRUE(used.has_value());
    if (!used) return answer;
    answer.used_len = used->len;
    if (used->len >= sizeof(fuse_out_header)) {
      auto bytes = request_->ReadBytes(out_gpa, used->len);
      std::memcpy(&answer.header, bytes.data(), sizeof(answer.header));
      answer.body.assign(bytes.begin() + sizeof(fuse_out_header), bytes.end());
      EXPECT_EQ(answer.header.len, used->len);
      EXPECT_EQ(answer.header.unique, unique_in(in));
    }
    return answer;
  }

  static uint64_t unique_in(const std::vector<uint8_t>& in) {
    fuse_in_header h{};
    std::memcpy(&h, in.data(), std::min(in.size(), sizeof(h)));
    return h.unique;
  }

  void Forget(uint64_t nodeid, uint64_t n) {
    fuse_forget_in f{};
    f.nlookup = n;
    EXPECT_EQ(Hiprio(Request(FUSE_FORGET, nodeid, Args().Struct(f))), 0u);
  }

  FuseAnswer Init(uint32_t minor = 37) {
    fuse_init_in in{};
    in.major = FUSE_KERNEL_VERSION;
    in.minor = minor;
    in.max_readahead = 128 * 1024;
    in.flags = FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_MAX_PAGES | FUSE_POSIX_LOCKS;
    return Call(FUSE_INIT, 0, Args().Struct(in));
  }

  // LOOKUP that must succeed: the entry.
  fuse_entry_out Lookup(uint64_t parent, const std::string& name) {
    auto a = Call(FUSE_LOOKUP, parent, Args().Name(name));
    EXPECT_EQ(a.error(), 0) << name;
    return a.As<fuse_entry_out>();
  }

  uint64_t Open(uint64_t node, uint32_t flags, bool dir = false) {
    fuse_open_in in{};
    in.flags = flags;
    auto a = Call(dir ? FUSE_OPENDIR : FUSE_OPEN, node, Args().Struct(in));
    EXPECT_EQ(a.error(), 0);
    return a.As<fuse_open_out>().fh;
  }

  FuseAnswer Read(uint64_t node, uint64_t fh, uint64_t offset, uint32_t size,
                  uint32_t opcode = FUSE_READ, uint32_t room = 0) {
    fuse_read_in in{};
    in.fh = fh;
    in.offset = offset;
    in.size = size;
    return Call(opcode, node, Args().Struct(in), room ? room : size + 16);
  }

  FuseAnswer Write(uint64_t node, uint64_t fh, uint64_t offset, const std::string& data) {
    fuse_write_in in{};
    in.fh = fh;
    in.offset = offset;
    in.size = static_cast<uint32_t>(data.size());
    return Call(FUSE_WRITE, node, Args().Struct(in), 4096,
                std::vector<uint8_t>(data.begin(), data.end()));
  }

  std::string HostPath(const std::string& rel) const { return share_ + "/" + rel; }
  static void WriteHostFile(const std::string& path, const std::string& data) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd.valid()) << path;
    ASSERT_EQ(::write(fd.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  }
  static std::string ReadHostFile(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return "<missing>";
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    return out;
  }

  struct NullIrq : InterruptSink {
    void SignalUsed() override { ++used; }
    void SignalConfigChange() override {}
    void SignalNeedsReset(const uvm::Error&) override {}
    int used = 0;
  };

  uint32_t uid = 0;
  uint32_t gid = 0;
  std::unique_ptr<TempDir> scratch_;
  std::string share_, canary_;
  timespec canary_mtime_{};
  std::shared_ptr<FsDevice> dev_;
  std::unique_ptr<virtio::testing::FakeRam> ram_;
  std::unique_ptr<virtio::testing::FakeDriver> hiprio_, request_;
  std::vector<Queue> queues_;
  NullIrq irq_;
  uint64_t unique_ = 0;
};

}  // namespace uvm::devices::virtio::fs::testing
