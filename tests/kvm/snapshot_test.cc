// Snapshot and restore of a running tiny guest on the host's /dev/kvm: the restored guest, in a new
// VM, must finish with exactly the result of an uninterrupted run; damaged snapshots are refused.
#include "vmm/snapshot/snapshot.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "vmm/snapshot/format.h"
#include "vmm/testing/probe_guest.h"
#include "vmm/tiny_guest.h"
#include "vmm/vcpu_loop.h"

namespace uvm::vmm::snapshot {
namespace {

// The tiny guests these tests snapshot.
using ::uvm::vmm::testing::CountingGuestCode;
using ::uvm::vmm::testing::kCheckpointPort;
using ::uvm::vmm::testing::kCountTableAddr;
using ::uvm::vmm::testing::kCountTableBytes;
using ::uvm::vmm::testing::kDonePort;
using ::uvm::vmm::testing::kResultPort;
using ::uvm::vmm::testing::RunUntilPortWrite;
using ::uvm::vmm::testing::TouchingGuestCode;

constexpr TinyGuestOptions kOptions{.ram = 4ull << 20, .irqchip = true};

struct Outcome {
  uint64_t result = 0;
  std::vector<uint8_t> table;
  std::vector<uint32_t> checkpoints;
};

// Runs to the done port, collecting checkpoints, the result and the guest's table.
Result<Outcome> Finish(Machine& m, Outcome out = {}) {
  std::vector<uint32_t> halves;
  while (true) {
    UVM_TRY(auto w, RunUntilPortWrite(m.vcpus[0]));
    if (!w) return Err("interrupted");
    if (w->port == kCheckpointPort) out.checkpoints.push_back(w->value);
    if (w->port == kResultPort) halves.push_back(w->value);
    if (w->port == kDonePort) break;
  }
  if (halves.size() != 2) return Err("guest did not report its result");
  out.result = halves[0] | (uint64_t{halves[1]} << 32);
  out.table.resize(kCountTableBytes);
  UVM_CHECK(m.memory.Read(kCountTableAddr, out.table));
  return out;
}

class SnapshotKvmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/dev/shm/uvm-snapshot-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Machine> NewGuest(uint32_t iterations) {
    auto m = CreateTinyGuest(CountingGuestCode(iterations), kOptions);
    EXPECT_TRUE(m) << m.error().message;
    return m ? std::move(*m) : nullptr;
  }

  Result<std::unique_ptr<Machine>> Restore() {
    UVM_TRY(EmptyVm empty, CreateEmptyVm(1, {{0, kOptions.ram}}));
    return RestoreSnapshot(dir_, std::move(empty));
  }

  std::string dir_;
};

TEST_F(SnapshotKvmTest, CountingGuestResumesAtTheNextInstructionWithTheSameResult) {
  constexpr uint32_t kIterations = 64 * 256;
  auto reference = NewGuest(kIterations);
  ASSERT_TRUE(reference);
  auto expected = Finish(*reference);
  ASSERT_TRUE(expected) << expected.error().message;
  ASSERT_EQ(expected->checkpoints.size(), 64u);

  auto guest = NewGuest(kIterations);
  ASSERT_TRUE(guest);
  // Stop on the 20th checkpoint: the vCPU sits on an OUT that KVM completes on the next KVM_RUN.
  for (int i = 0; i < 20; ++i) {
    auto w = RunUntilPortWrite(guest->vcpus[0]);
    ASSERT_TRUE(w && *w) << (w ? "interrupted" : w.error().message);
    ASSERT_EQ((*w)->port, kCheckpointPort);
  }
  ASSERT_TRUE(SaveSnapshot(*guest, dir_));
  guest.reset();

  auto restored = Restore();
  ASSERT_TRUE(restored) << restored.error().message;
  auto got = Finish(**restored);
  ASSERT_TRUE(got) << got.error().message;
  // The first checkpoint after the restore is the 21st: the guest neither restarted nor repeated
  // the OUT it was stopped on.
  ASSERT_FALSE(got->checkpoints.empty());
  EXPECT_EQ(got->checkpoints.front(), 21u * 256);
  EXPECT_EQ(got->checkpoints.size(), 44u);
  EXPECT_EQ(got->result, expected->result);
  EXPECT_EQ(got->table, expected->table);
}

TEST_F(SnapshotKvmTest, CountingGuestStoppedAtAnArbitraryInstructionFinishesTheSame) {
  // Long enough that a kick lands mid-loop: calibrated, because guest kernel code is emulated on
  // some hosts (~1 us per instruction) and native on others.
  uint32_t iterations = 64 * 256;
  double reference_ms = 0;
  Outcome expected;
  for (;;) {
    auto reference = NewGuest(iterations);
    ASSERT_TRUE(reference);
    auto start = std::chrono::steady_clock::now();
    auto r = Finish(*reference);
    reference_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(r) << r.error().message;
    expected = *r;
    if (reference_ms >= 40 || iterations >= (1u << 30)) break;
    iterations *= 16;
  }

  InstallKickHandler();
  auto guest = NewGuest(iterations);
  ASSERT_TRUE(guest);
  Outcome before;
  std::atomic<size_t> progress{0};
  std::atomic<bool> interrupted{false}, ended{false};
  std::thread vcpu_thread([&] {
    while (true) {
      auto w = RunUntilPortWrite(guest->vcpus[0]);
      if (!w) break;
      if (!*w) {
        interrupted = true;
        break;
      }
      if ((*w)->port == kCheckpointPort) {
        before.checkpoints.push_back((*w)->value);
        progress = before.checkpoints.size();
      }
      if ((*w)->port == kDonePort) break;
    }
    ended = true;
  });
  // Kick once a quarter of the run is done, wherever the guest then is: the guest keeps running
  // between checkpoints, so the stop lands on an arbitrary instruction, not on a port exit.
  const size_t quarter = expected.checkpoints.size() / 4;
  while (progress < quarter && !ended) std::this_thread::sleep_for(std::chrono::microseconds(100));
  KickVcpu(guest->vcpus[0], vcpu_thread.native_handle());
  vcpu_thread.join();
  ASSERT_TRUE(interrupted) << "the guest finished before the kick";
  guest->vcpus[0].run_state()->immediate_exit = 0;
  ASSERT_TRUE(SaveSnapshot(*guest, dir_));
  guest.reset();

  auto restored = Restore();
  ASSERT_TRUE(restored) << restored.error().message;
  auto got = Finish(**restored, before);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->checkpoints, expected.checkpoints);
  EXPECT_EQ(got->result, expected.result);
  EXPECT_EQ(got->table, expected.table);
}

TEST_F(SnapshotKvmTest, RestoredStateReadsBackAsSaved) {
  auto guest = NewGuest(64 * 256);
  ASSERT_TRUE(guest);
  ASSERT_TRUE(RunUntilPortWrite(guest->vcpus[0]));
  ASSERT_TRUE(SaveSnapshot(*guest, dir_));
  auto restored = Restore();
  ASSERT_TRUE(restored) << restored.error().message;
  // Capturing the restored machine gives the saved state back, section by section, except the
  // clock (it is a running counter) and the TSC (it kept counting too).
  std::ifstream f(dir_ + "/state", std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), {});
  auto saved = ParseState(bytes);
  ASSERT_TRUE(saved) << saved.error().message;
  auto now = CaptureMachine(**restored);
  ASSERT_TRUE(now) << now.error().message;
  const VcpuState &a = saved->vcpus[0], &b = now->vcpus[0];
  EXPECT_EQ(std::memcmp(&a.regs, &b.regs, sizeof a.regs), 0);
  EXPECT_EQ(std::memcmp(&a.sregs, &b.sregs, sizeof a.sregs), 0);
  EXPECT_EQ(a.xsave, b.xsave);
  EXPECT_EQ(std::memcmp(&a.xcrs, &b.xcrs, sizeof a.xcrs), 0);
  EXPECT_EQ(std::memcmp(&a.lapic, &b.lapic, sizeof a.lapic), 0);
  EXPECT_EQ(a.mp_state.mp_state, b.mp_state.mp_state);
  ASSERT_EQ(a.cpuid.size(), b.cpuid.size());
  EXPECT_EQ(std::memcmp(a.cpuid.data(), b.cpuid.data(), a.cpuid.size() * sizeof a.cpuid[0]), 0);
  ASSERT_EQ(a.msrs.size(), b.msrs.size());
  for (size_t i = 0; i < a.msrs.size(); ++i) {
    EXPECT_EQ(a.msrs[i].index, b.msrs[i].index);
    if (a.msrs[i].index != 0x10) {  // IA32_TSC
      EXPECT_EQ(a.msrs[i].data, b.msrs[i].data) << a.msrs[i].index;
    }
  }
  EXPECT_EQ(std::memcmp(&saved->vm.ioapic, &now->vm.ioapic, sizeof now->vm.ioapic), 0);
  EXPECT_EQ(std::memcmp(&saved->vm.pic_master, &now->vm.pic_master, sizeof now->vm.pic_master), 0);
}

// The damaged-snapshot tests start from a real snapshot and must fail with a clear message.
class DamagedSnapshotTest : public SnapshotKvmTest {
 protected:
  void SetUp() override {
    SnapshotKvmTest::SetUp();
    auto guest = NewGuest(64 * 256);
    ASSERT_TRUE(guest);
    ASSERT_TRUE(RunUntilPortWrite(guest->vcpus[0]));
    ASSERT_TRUE(SaveSnapshot(*guest, dir_));
    std::ifstream f(dir_ + "/state", std::ios::binary);
    state_.assign(std::istreambuf_iterator<char>(f), {});
    ASSERT_GT(state_.size(), 100u);
  }
  void WriteState(const std::vector<uint8_t>& bytes) {
    std::ofstream f(dir_ + "/state", std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<long>(bytes.size()));
  }
  std::string RestoreError() {
    auto r = Restore();
    return r ? "" : r.error().message;
  }
  std::vector<uint8_t> state_;
};

TEST_F(DamagedSnapshotTest, IntactSnapshotRestores) { EXPECT_EQ(RestoreError(), ""); }

TEST_F(DamagedSnapshotTest, CorruptedStateIsRefused) {
  auto bytes = state_;
  bytes[bytes.size() / 2] ^= 0x40;
  WriteState(bytes);
  EXPECT_NE(RestoreError().find("CRC mismatch"), std::string::npos) << RestoreError();
}

TEST_F(DamagedSnapshotTest, TruncatedStateIsRefused) {
  WriteState(std::vector<uint8_t>(state_.begin(),
                                  state_.begin() + static_cast<long>(state_.size() - 100)));
  EXPECT_NE(RestoreError().find("corrupted or truncated"), std::string::npos) << RestoreError();
}

TEST_F(DamagedSnapshotTest, WrongVersionIsRefused) {
  auto bytes = state_;
  bytes[8] = 9;  // format version
  uint32_t crc = Crc32(std::span(bytes).first(bytes.size() - 4));
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
  WriteState(bytes);
  EXPECT_NE(RestoreError().find("format version 9 is not supported"), std::string::npos)
      << RestoreError();
}

TEST_F(DamagedSnapshotTest, TruncatedMemoryIsRefused) {
  ASSERT_EQ(::truncate((dir_ + "/memory").c_str(), 2 << 20), 0);
  EXPECT_NE(RestoreError().find("the state says 4194304"), std::string::npos) << RestoreError();
}

TEST_F(DamagedSnapshotTest, MissingMemoryIsRefused) {
  std::filesystem::remove(dir_ + "/memory");
  EXPECT_NE(RestoreError().find("memory"), std::string::npos) << RestoreError();
}

TEST_F(DamagedSnapshotTest, RamLayoutMismatchIsRefused) {
  auto empty = CreateEmptyVm(1, {{0, 8ull << 20}});
  ASSERT_TRUE(empty) << empty.error().message;
  auto r = RestoreSnapshot(dir_, std::move(*empty));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("RAM layout differs"), std::string::npos);
}

TEST_F(DamagedSnapshotTest, VcpuCountMismatchIsRefused) {
  auto empty = CreateEmptyVm(2, {{0, kOptions.ram}});
  ASSERT_TRUE(empty) << empty.error().message;
  auto r = RestoreSnapshot(dir_, std::move(*empty));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("1 vCPUs, the empty VM 2"), std::string::npos);
}

}  // namespace
}  // namespace uvm::vmm::snapshot
