#include "devices/virtio/block/io_engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace uvm::devices::virtio::block {
namespace {

// A temporary file of `size` bytes, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(off_t size) {
    char name[] = "/tmp/uvm_blk_test_XXXXXX";
    fd_.Reset(::mkstemp(name));
    path_ = name;
    EXPECT_TRUE(fd_.valid());
    EXPECT_EQ(::ftruncate(fd_.get(), size), 0);
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  UniqueFd fd_;
  std::string path_;
};

enum class Kind { kSync, kAio };

// Runs one engine and records what completed, in order.
class EngineTest : public ::testing::TestWithParam<Kind> {
 protected:
  void Start(int fd, unsigned depth = 8) {
    auto cb = [this](uint64_t id, int error) {
      results_[id] = error;
      order_.push_back(id);
    };
    auto e = GetParam() == Kind::kSync ? MakeSyncEngine(fd, cb) : MakeAioEngine(fd, depth, cb);
    ASSERT_TRUE(e) << e.error().message;
    engine_ = std::move(*e);
  }

  // Polls the engine's eventfd like the device loop would, until `count` completions arrived.
  void WaitFor(size_t count) {
    for (int rounds = 0; order_.size() < count && rounds < 1000; ++rounds) {
      pollfd p{engine_->event_fd(), POLLIN, 0};
      ASSERT_GE(::poll(&p, 1, 5000), 0);
      engine_->ProcessCompletions();
    }
    ASSERT_EQ(order_.size(), count);
  }

  int Run(IoOp op, uint64_t offset, std::vector<iovec> iov) {
    const uint64_t id = next_id_++;
    engine_->Submit(id, op, offset, std::move(iov));
    WaitFor(order_.size() + 1);
    return results_.count(id) ? results_[id] : -1;
  }

  std::unique_ptr<IoEngine> engine_;
  std::map<uint64_t, int> results_;
  std::vector<uint64_t> order_;
  uint64_t next_id_ = 1;
};

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 9));
  return v;
}

TEST_P(EngineTest, WriteFlushReadRoundTrip) {
  TempFile file(1 << 20);
  Start(file.fd());
  std::vector<uint8_t> data = Pattern(3 * 4096, 1);
  // Scatter the write over uneven iovecs, gather the read into different ones.
  std::vector<iovec> w = {{data.data(), 100},
                          {data.data() + 100, 4096},
                          {data.data() + 4196, 0},
                          {data.data() + 4196, data.size() - 4196}};
  EXPECT_EQ(Run(IoOp::kWrite, 8192, w), 0);
  EXPECT_EQ(Run(IoOp::kFlush, 0, {}), 0);
  std::vector<uint8_t> back(data.size());
  EXPECT_EQ(Run(IoOp::kRead, 8192, {{back.data(), 5000}, {back.data() + 5000, back.size() - 5000}}),
            0);
  EXPECT_EQ(back, data);
  // And the bytes really are in the file, where they were put.
  std::vector<uint8_t> raw(data.size());
  ASSERT_EQ(::pread(file.fd(), raw.data(), raw.size(), 8192), static_cast<ssize_t>(raw.size()));
  EXPECT_EQ(raw, data);
}

TEST_P(EngineTest, CompletionsOnlyArriveThroughProcessCompletions) {
  TempFile file(4096);
  Start(file.fd());
  std::vector<uint8_t> buf(512);
  engine_->Submit(7, IoOp::kRead, 0, {{buf.data(), buf.size()}});
  engine_->Submit(8, IoOp::kFlush, 0, {});
  engine_->Submit(9, IoOp::kRead, 0, {});  // empty: finishes at once, still reported later
  EXPECT_TRUE(order_.empty());
  WaitFor(3);
  EXPECT_EQ(results_[7], 0);
  EXPECT_EQ(results_[8], 0);
  EXPECT_EQ(results_[9], 0);
  EXPECT_EQ(engine_->in_flight(), 0u);
}

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// Reads inside a batch are handed to the kernel together at EndBatch(), all of them, and
// ProcessCompletions() leaves no stale wake-up behind for what it delivered itself.
TEST_P(EngineTest, BatchedReadsAllCompleteWithoutStaleWakeups) {
  TempFile file(1 << 20);
  const std::vector<uint8_t> data = Pattern(1 << 20, 3);
  ASSERT_EQ(::pwrite(file.fd(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  Start(file.fd(), 4);  // fewer slots than reads: the rest follow as completions free slots
  std::vector<std::vector<uint8_t>> bufs(10, std::vector<uint8_t>(4096));
  engine_->BeginBatch();
  for (uint64_t i = 0; i < bufs.size(); ++i) {
    engine_->Submit(i, IoOp::kRead, i * 8192, {{bufs[i].data(), 4096}});
  }
  if (GetParam() == Kind::kAio) {
    // Nothing reached the kernel yet, so nothing can have completed (buffered reads of a
    // cached file complete inside io_submit).
    EXPECT_FALSE(Readable(engine_->event_fd()));
  }
  engine_->EndBatch();
  WaitFor(bufs.size());
  for (uint64_t i = 0; i < bufs.size(); ++i) {
    EXPECT_EQ(results_[i], 0);
    EXPECT_TRUE(std::equal(bufs[i].begin(), bufs[i].end(), data.begin() + i * 8192)) << i;
  }
  EXPECT_EQ(engine_->in_flight(), 0u);
  EXPECT_FALSE(Readable(engine_->event_fd()));
}

TEST_P(EngineTest, ManyWritesThenFlushFlushCompletesLast) {
  TempFile file(1 << 20);
  Start(file.fd(), 4);  // far fewer slots than operations: exercises the submit queue
  constexpr int kWrites = 100;
  std::vector<std::vector<uint8_t>> bufs;
  for (int i = 0; i < kWrites; ++i) bufs.push_back(Pattern(4096, static_cast<uint8_t>(i)));
  for (int i = 0; i < kWrites; ++i) {
    engine_->Submit(i, IoOp::kWrite, i * 4096ull, {{bufs[i].data(), 4096}});
  }
  engine_->Submit(1000, IoOp::kFlush, 0, {});
  WaitFor(kWrites + 1);
  EXPECT_EQ(order_.back(), 1000u);
  for (auto [id, error] : results_) EXPECT_EQ(error, 0) << id;
  for (int i = 0; i < kWrites; ++i) {
    std::vector<uint8_t> back(4096);
    ASSERT_EQ(::pread(file.fd(), back.data(), 4096, i * 4096), 4096);
    EXPECT_EQ(back, bufs[i]) << i;
  }
}

TEST_P(EngineTest, MoreIovecsThanIovMaxAreTransferredInPieces) {
  TempFile file(1 << 21);
  Start(file.fd());
  constexpr size_t kSegs = IOV_MAX + 500;
  std::vector<uint8_t> data = Pattern(kSegs * 512, 3), back(kSegs * 512);
  std::vector<iovec> w, r;
  for (size_t i = 0; i < kSegs; ++i) {
    w.push_back({data.data() + i * 512, 512});
    r.push_back({back.data() + i * 512, 512});
  }
  EXPECT_EQ(Run(IoOp::kWrite, 0, w), 0);
  EXPECT_EQ(Run(IoOp::kRead, 0, r), 0);
  EXPECT_EQ(back, data);
}

TEST_P(EngineTest, ReadPastEndOfFileIsAnError) {
  TempFile file(1024);  // shorter than the 2048 bytes asked for: a partial read must not pass
  Start(file.fd());
  std::vector<uint8_t> buf(2048);
  EXPECT_EQ(Run(IoOp::kRead, 0, {{buf.data(), buf.size()}}), EIO);
  EXPECT_EQ(Run(IoOp::kRead, 4096, {{buf.data(), 512}}), EIO);
}

TEST_P(EngineTest, WriteThroughReadOnlyFdIsAnError) {
  TempFile file(4096);
  UniqueFd ro(::open(file.path().c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ro.valid());
  Start(ro.get());
  std::vector<uint8_t> buf(512, 1);
  EXPECT_NE(Run(IoOp::kWrite, 0, {{buf.data(), buf.size()}}), 0);
  EXPECT_EQ(Run(IoOp::kRead, 0, {{buf.data(), buf.size()}}), 0);
}

TEST_P(EngineTest, CallbackMaySubmitAgain) {
  TempFile file(4096);
  std::vector<uint8_t> buf(512);
  int chained = 0;
  IoEngine* engine = nullptr;
  auto cb = [&](uint64_t id, int error) {
    EXPECT_EQ(error, 0);
    order_.push_back(id);
    if (id < 3) engine->Submit(id + 1, IoOp::kRead, 0, {{buf.data(), buf.size()}});
    ++chained;
  };
  auto e =
      GetParam() == Kind::kSync ? MakeSyncEngine(file.fd(), cb) : MakeAioEngine(file.fd(), 2, cb);
  ASSERT_TRUE(e);
  engine_ = std::move(*e);
  engine = engine_.get();
  engine->Submit(1, IoOp::kRead, 0, {{buf.data(), buf.size()}});
  WaitFor(3);
  EXPECT_EQ(chained, 3);
  EXPECT_EQ(order_, (std::vector<uint64_t>{1, 2, 3}));
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineTest, ::testing::Values(Kind::kSync, Kind::kAio),
                         [](const auto& info) {
                           return std::string(info.param == Kind::kSync ? "Sync" : "Aio");
                         });

TEST(AdvanceIovecsTest, TrimsSkipsEmptiesAndDetectsOverrun) {
  uint8_t a[10], b[5];
  std::vector<iovec> iov = {{a, 0}, {a, 10}, {b, 0}, {b, 5}};
  size_t first = 0;
  EXPECT_TRUE(AdvanceIovecs(iov, first, 0));
  EXPECT_EQ(first, 1u);
  EXPECT_TRUE(AdvanceIovecs(iov, first, 4));
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(iov[1].iov_base, a + 4);
  EXPECT_EQ(IovecBytes(iov, first), 11u);
  EXPECT_TRUE(AdvanceIovecs(iov, first, 6));
  EXPECT_EQ(first, 3u);  // the empty iovec is skipped too
  EXPECT_FALSE(AdvanceIovecs(iov, first, 6));
  EXPECT_EQ(first, iov.size());
}

}  // namespace
}  // namespace uvm::devices::virtio::block
