#include "vmm/vcpu_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace uvm::vmm {
namespace {

using std::chrono::milliseconds;

// Threads standing in for vCPUs: each loops "running" until stopped; a kick sets its flag, and
// it passes the gate whenever it was kicked or a pause is asked for, as RunVcpu does.
struct FakeVcpus {
  explicit FakeVcpus(VcpuGate& gate, int n) : gate(gate), kicked(n), steps_of(n) {
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([this, i] {
        while (!stop.load()) {
          if (kicked[i].load() || this->gate.pause_requested()) {
            this->gate.Pass([this, i] { kicked[i] = false; });
            continue;
          }
          ++steps;  // "in the guest"
          ++steps_of[i];
          std::this_thread::yield();
        }
      });
    }
    gate.Attach({n,
                 [this] {
                   for (auto& k : kicked) k = true;
                 },
                 [this] { ++parked_calls; }});
  }
  ~FakeVcpus() {
    gate.Close();
    stop = true;
    for (auto& k : kicked) k = true;
    for (auto& t : threads) t.join();
    gate.Detach();
  }
  VcpuGate& gate;
  std::vector<std::atomic<bool>> kicked;
  std::atomic<bool> stop = false;
  std::atomic<long> steps = 0;
  std::vector<std::atomic<long>> steps_of;  // each vCPU's own
  std::atomic<int> parked_calls = 0;
  std::vector<std::thread> threads;
};

TEST(VcpuGateTest, PauseHoldsEveryVcpuUntilResume) {
  VcpuGate gate;
  FakeVcpus vcpus(gate, 3);
  while (vcpus.steps.load() < 100) std::this_thread::yield();
  ASSERT_TRUE(gate.Pause(milliseconds(2000)));
  EXPECT_TRUE(gate.paused());
  EXPECT_EQ(vcpus.parked_calls.load(), 1);
  const long held = vcpus.steps.load();
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(vcpus.steps.load(), held) << "a vCPU ran while the VM was paused";
  // Paused twice is paused once.
  ASSERT_TRUE(gate.Pause(milliseconds(2000)));
  EXPECT_EQ(vcpus.parked_calls.load(), 1);
  std::vector<long> before;
  for (const auto& n : vcpus.steps_of) before.push_back(n.load());
  gate.Resume();
  EXPECT_FALSE(gate.paused());
  // Each resumed vCPU had its kick cleared: it runs again, rather than pass the gate forever.
  for (size_t i = 0; i < before.size(); ++i) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (vcpus.steps_of[i].load() < before[i] + 100 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    EXPECT_GE(vcpus.steps_of[i].load(), before[i] + 100) << "vCPU " << i << " did not run again";
  }
}

TEST(VcpuGateTest, APauseThatCannotParkEveryVcpuFailsAndLetsTheOthersRun) {
  VcpuGate gate;
  // Two vCPUs claimed, one thread: the second never parks.
  std::atomic<bool> stop = false, kicked = false;
  std::thread one([&] {
    while (!stop.load()) {
      if (kicked.load() || gate.pause_requested()) gate.Pass([&] { kicked = false; });
    }
  });
  gate.Attach({2, [&] { kicked = true; }, {}});
  auto r = gate.Pause(milliseconds(100));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("did not stop"), std::string::npos) << r.error().message;
  EXPECT_FALSE(gate.paused());
  gate.Close();
  stop = true;
  one.join();
  gate.Detach();
}

TEST(VcpuGateTest, ClosingReleasesParkedVcpusAndKeepsTheirKick) {
  VcpuGate gate;
  std::atomic<bool> kicked = false, left = false;
  gate.Attach({1, [&] { kicked = true; }, {}});
  std::thread vcpu([&] {
    while (!kicked.load()) std::this_thread::yield();
    gate.Pass([&] { kicked = false; });
    left = true;
  });
  ASSERT_TRUE(gate.Pause(milliseconds(2000)));
  EXPECT_FALSE(left.load());
  gate.Close();  // the VM ends while paused
  vcpu.join();
  EXPECT_TRUE(left.load());
  EXPECT_TRUE(kicked.load()) << "a stop's kick was cleared";
  EXPECT_FALSE(gate.paused());
  EXPECT_FALSE(gate.Pause(milliseconds(10)));
  gate.Detach();
}

TEST(VcpuGateTest, PauseWithoutRunningVcpusIsRefused) {
  VcpuGate gate;
  auto r = gate.Pause(milliseconds(10));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "the VM is not running");
}

}  // namespace
}  // namespace uvm::vmm
