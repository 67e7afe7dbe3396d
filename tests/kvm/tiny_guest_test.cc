// The kvm tier: tiny hand-written guests on the host's /dev/kvm (which runs them even where it
// cannot run Linux). They exercise the vCPU loop, the buses and the legacy devices for real.
#include "vmm/tiny_guest.h"

#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "base/event_loop.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "vmm/runner.h"
#include "vmm/vcpu_gate.h"
#include "vmm/vcpu_loop.h"

namespace uvm::vmm {
namespace {

class ValueDevice : public devices::BusDevice {
 public:
  explicit ValueDevice(uint64_t v) : value(v) {}
  void Read(uint64_t, std::span<uint8_t> d) override {
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(value >> (8 * i));
  }
  void Write(uint64_t, std::span<const uint8_t> d) override {
    uint64_t v = 0;
    for (size_t i = 0; i < d.size(); ++i) v |= uint64_t{d[i]} << (8 * i);
    writes.push_back(v);
  }
  uint64_t value;
  std::vector<uint64_t> writes;
};

struct TinyGuestTest : ::testing::Test {
  std::string console;
  std::shared_ptr<devices::Serial> serial = std::make_shared<devices::Serial>(
      [this](std::span<const uint8_t> b) { console.append(b.begin(), b.end()); }, [] {});
  std::shared_ptr<ValueDevice> probe = std::make_shared<ValueDevice>(0);
  std::shared_ptr<ValueDevice> mmio_dev = std::make_shared<ValueDevice>(0x1122334455667788ull);
  ExitLatch latch;

  VmExit Run(const std::vector<uint8_t>& code) {
    auto machine = CreateTinyGuest(code);
    EXPECT_TRUE(machine) << machine.error().message;
    if (!machine) return {ExitKind::kError, 0, "no machine"};
    devices::Bus::Builder pio, mmio;
    EXPECT_TRUE(pio.Add(devices::Serial::kCom1Port, 8, serial, "serial"));
    EXPECT_TRUE(pio.Add(0xe0, 8, probe, "probe"));
    EXPECT_TRUE(pio.Add(devices::I8042::kDataPort, 5, std::make_shared<devices::I8042>([this] {
                          latch.Report({ExitKind::kReset, 0, "i8042"});
                        }),
                        "i8042"));
    EXPECT_TRUE(pio.Add(devices::DebugExit::kPort, 1,
                        std::make_shared<devices::DebugExit>([this](uint8_t s) {
                          latch.Report({ExitKind::kPowerOff, s, "debug-exit"});
                        }),
                        "debug-exit"));
    EXPECT_TRUE(mmio.Add(0xd0001000, 0x1000, mmio_dev, "mmio-dev"));
    devices::Bus pio_bus = std::move(pio).Build(), mmio_bus = std::move(mmio).Build();
    RunVcpu((*machine)->vcpus[0], {pio_bus, mmio_bus}, latch);
    return latch.Wait();
  }
};

TEST_F(TinyGuestTest, SerialOutputThroughThePioBus) {
  // mov dx,0x3f8; mov al,'h'; out dx,al; mov al,'i'; out dx,al; mov al,10; out dx,al; hlt
  VmExit e =
      Run({0x66, 0xba, 0xf8, 0x03, 0xb0, 'h', 0xee, 0xb0, 'i', 0xee, 0xb0, '\n', 0xee, 0xf4});
  EXPECT_EQ(e.kind, ExitKind::kHalted) << e.detail;
  EXPECT_EQ(console, "hi\n");
}

TEST_F(TinyGuestTest, RepOutsbDeliversEveryByte) {
  // lea rsi,[rip+12]; mov ecx,3; mov dx,0x3f8; rep outsb; hlt; "abc"
  VmExit e = Run({0x48, 0x8d, 0x35, 12,   0,    0,    0,    0xb9, 3,   0,   0,
                  0,    0x66, 0xba, 0xf8, 0x03, 0xf3, 0x6e, 0xf4, 'a', 'b', 'c'});
  EXPECT_EQ(e.kind, ExitKind::kHalted) << e.detail;
  EXPECT_EQ(console, "abc");
}

TEST_F(TinyGuestTest, UnclaimedMmioReadReturnsZero) {
  // mov rax,-1; movabs rax,[0xd0000000]; mov dx,0xe0; out dx,eax; shr rax,32; out dx,eax; hlt
  VmExit e =
      Run({0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, 0x48, 0xa1, 0x00, 0x00, 0x00, 0xd0, 0,
           0,    0,    0,    0x66, 0xba, 0xe0, 0x00, 0xef, 0x48, 0xc1, 0xe8, 0x20, 0xef, 0xf4});
  EXPECT_EQ(e.kind, ExitKind::kHalted) << e.detail;
  EXPECT_EQ(probe->writes, (std::vector<uint64_t>{0, 0}));
}

TEST_F(TinyGuestTest, ClaimedMmioReadReachesTheDevice) {
  // movabs rax,[0xd0001008]; mov dx,0xe0; out dx,eax; movabs [0xd0001010],rax; hlt
  VmExit e = Run({0x48, 0xa1, 0x08, 0x10, 0x00, 0xd0, 0,    0,    0, 0, 0x66, 0xba, 0xe0,
                  0x00, 0xef, 0x48, 0xa3, 0x10, 0x10, 0x00, 0xd0, 0, 0, 0,    0,    0xf4});
  EXPECT_EQ(e.kind, ExitKind::kHalted) << e.detail;
  EXPECT_EQ(probe->writes, (std::vector<uint64_t>{0x55667788}));
  EXPECT_EQ(mmio_dev->writes, (std::vector<uint64_t>{0x1122334455667788ull}));
}

TEST(IoeventfdTest, MatchingNotifyWriteSignalsTheEventfdWithoutAnExit) {
  // mov eax,1; movabs [0xd0000050],eax; mov eax,7; movabs [0xd0000050],eax; hlt
  const std::vector<uint8_t> code = {0xb8, 1,    0,    0,    0,    0xa3, 0x50, 0x00, 0x00, 0xd0,
                                     0,    0,    0,    0,    0xb8, 7,    0,    0,    0,    0xa3,
                                     0x50, 0x00, 0x00, 0xd0, 0,    0,    0,    0,    0xf4};
  auto machine = CreateTinyGuest(code);
  ASSERT_TRUE(machine) << machine.error().message;
  auto notify = EventFd::Create();
  ASSERT_TRUE(notify);
  ASSERT_TRUE((*machine)->vm.RegisterIoeventfd(notify->fd(), 0xd0000050, 4, 1));
  auto seen = std::make_shared<ValueDevice>(0);
  devices::Bus::Builder mmio;
  ASSERT_TRUE(mmio.Add(0xd0000000, 0x1000, seen, "virtio-mmio"));
  devices::Bus pio_bus, mmio_bus = std::move(mmio).Build();
  ExitLatch latch;
  RunVcpu((*machine)->vcpus[0], {pio_bus, mmio_bus}, latch);
  EXPECT_EQ(latch.Wait().kind, ExitKind::kHalted);
  EXPECT_EQ(notify->Consume(), 1u);                     // the write of 1 went to the eventfd
  EXPECT_EQ(seen->writes, (std::vector<uint64_t>{7}));  // the write of 7 did not match
}

TEST_F(TinyGuestTest, HltEndsTheRun) {
  VmExit e = Run({0xf4});
  EXPECT_EQ(e.kind, ExitKind::kHalted);
}

TEST_F(TinyGuestTest, TripleFaultIsReportedAsSuch) {
  // ud2 with an empty IDT: #UD cannot be delivered -> #DF -> triple fault.
  VmExit e = Run({0x0f, 0x0b});
  EXPECT_EQ(e.kind, ExitKind::kTripleFault) << e.detail;
}

TEST_F(TinyGuestTest, DebugExitPortEndsWithTheGuestsStatus) {
  // mov al,42; out 0xf4,al; hlt
  VmExit e = Run({0xb0, 42, 0xe6, 0xf4, 0xf4});
  EXPECT_EQ(e.kind, ExitKind::kPowerOff);
  EXPECT_EQ(e.status, 42);
}

TEST_F(TinyGuestTest, I8042ResetEndsTheRun) {
  // mov al,0xfe; out 0x64,al; hlt
  VmExit e = Run({0xb0, 0xfe, 0xe6, 0x64, 0xf4});
  EXPECT_EQ(e.kind, ExitKind::kReset);
}

// The PIC's request register as KVM holds it (KVM_GET_IRQCHIP).
uint8_t PicMasterIrr(const Vm& vm) {
  kvm_irqchip chip{};
  chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
  EXPECT_EQ(ioctl(vm.fd(), KVM_GET_IRQCHIP, &chip), 0);
  return chip.chip.pic.irr;
}

TEST(PulseIrqLineTest, TheEdgeIsInTheIrqchipWhenTheCallReturns) {
  // hlt: the guest never runs here; only the irqchip is looked at.
  auto machine = CreateTinyGuest(std::vector<uint8_t>{0xf4}, {.irqchip = true});
  ASSERT_TRUE(machine) << machine.error().message;
  const Vm& vm = (*machine)->vm;
  EXPECT_EQ(PicMasterIrr(vm) & (1u << 5), 0u);
  ASSERT_TRUE(vm.PulseIrqLine(5));
  // No waiting: an irqfd's edge would reach the PIC later, from a kernel worker.
  EXPECT_NE(PicMasterIrr(vm) & (1u << 5), 0u);
  EXPECT_EQ(PicMasterIrr(vm) & (1u << 6), 0u);  // only the line asked for
}

TEST(PulseIrqLineTest, FailsWithoutAnIrqchip) {
  auto machine = CreateTinyGuest(std::vector<uint8_t>{0xf4});
  ASSERT_TRUE(machine) << machine.error().message;
  auto pulsed = (*machine)->vm.PulseIrqLine(5);
  ASSERT_FALSE(pulsed);
  EXPECT_NE(pulsed.error().message.find("KVM_IRQ_LINE"), std::string::npos);
}

// Counts port writes from the vCPU thread, read by the test's.
class CountingDevice : public devices::BusDevice {
 public:
  void Read(uint64_t, std::span<uint8_t> d) override { std::fill(d.begin(), d.end(), 0); }
  void Write(uint64_t, std::span<const uint8_t>) override { ++writes; }
  std::atomic<long> writes = 0;
};

// A guest that writes a port in a loop: paused through the gate, it writes nothing (its vCPU is
// out of KVM_RUN); resumed, it writes again; a stop while paused ends the run.
TEST(VcpuGateKvmTest, APausedGuestRunsNoInstructionUntilResumed) {
  // loop: out 0xe0,al; jmp loop
  auto machine = CreateTinyGuest(std::vector<uint8_t>{0xe6, 0xe0, 0xeb, 0xfc});
  ASSERT_TRUE(machine) << machine.error().message;
  auto counter = std::make_shared<CountingDevice>();
  devices::Bus::Builder pio;
  ASSERT_TRUE(pio.Add(0xe0, 1, counter, "counter"));
  devices::Bus pio_bus = std::move(pio).Build(), mmio_bus;
  auto loop = EventLoop::Create();
  ASSERT_TRUE(loop);
  ExitLatch latch;
  VcpuGate gate;
  std::thread runner([&] { RunMachine(**machine, {pio_bus, mmio_bus}, latch, *loop, {}, &gate); });
  auto wait_for_writes = [&](long at_least) {
    for (int i = 0; i < 500 && counter->writes.load() < at_least; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return counter->writes.load() >= at_least;
  };
  ASSERT_TRUE(wait_for_writes(1000));
  // Attach happens before the vCPU starts, but the runner's thread may be slow to get there.
  Result<void> paused = Err("not tried");
  for (int i = 0; i < 100 && !paused; ++i) paused = gate.Pause(std::chrono::seconds(2));
  ASSERT_TRUE(paused) << paused.error().message;
  const long held = counter->writes.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(counter->writes.load(), held) << "the guest ran while paused";
  gate.Resume();
  EXPECT_TRUE(wait_for_writes(held + 1000)) << "the guest did not run again after resume";
  ASSERT_TRUE(gate.Pause(std::chrono::seconds(2)));
  latch.Report({ExitKind::kHostSignal, 15, "stop while paused"});
  runner.join();
  EXPECT_EQ(latch.Wait().kind, ExitKind::kHostSignal);
}

}  // namespace
}  // namespace uvm::vmm
