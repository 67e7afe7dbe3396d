#include "devices/legacy/serial.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace uvm::devices {
namespace {

struct SerialFixture : ::testing::Test {
  std::string out;
  int irqs = 0;
  Serial serial{[this](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); },
                [this] { ++irqs; }};
  uint8_t In(uint64_t off) {
    uint8_t v = 0xee;
    serial.Read(off, {&v, 1});
    return v;
  }
  void Out(uint64_t off, uint8_t v) { serial.Write(off, {&v, 1}); }
};

TEST_F(SerialFixture, TransmitsToSinkAndReportsEmptyTransmitter) {
  for (char c : std::string("hi\n")) Out(0, static_cast<uint8_t>(c));
  EXPECT_EQ(out, "hi\n");
  EXPECT_EQ(In(5) & 0x60, 0x60);  // THRE and TEMT
  EXPECT_EQ(irqs, 0);             // no interrupt enabled
}

TEST_F(SerialFixture, ReceivesInputWithInterruptAndDataReady) {
  Out(1, 0x01);  // IER: rx available
  const uint8_t in[] = {'a', 'b'};
  EXPECT_EQ(serial.EnqueueInput(in), 2u);
  EXPECT_EQ(irqs, 1);
  EXPECT_EQ(In(2) & 0x0f, 0x04);  // IIR: rx data available
  EXPECT_EQ(In(5) & 0x01, 0x01);
  EXPECT_EQ(In(0), 'a');
  EXPECT_EQ(In(0), 'b');
  EXPECT_EQ(In(5) & 0x01, 0x00);
  EXPECT_EQ(In(2) & 0x0f, 0x01);  // nothing pending
}

TEST_F(SerialFixture, ThrEmptyInterruptRaisedOnEnableAndClearedByIirRead) {
  Out(1, 0x02);
  EXPECT_EQ(irqs, 1);
  EXPECT_EQ(In(2) & 0x0f, 0x02);
  EXPECT_EQ(In(2) & 0x0f, 0x01);  // acknowledged by the previous read
  Out(0, 'x');                    // transmitting empties THR again: a new interrupt
  EXPECT_EQ(irqs, 2);
}

TEST_F(SerialFixture, DivisorLatchDoesNotTransmit) {
  Out(3, 0x80);  // DLAB
  Out(0, 0x01);
  Out(1, 0x00);
  EXPECT_EQ(In(0), 0x01);
  Out(3, 0x03);
  EXPECT_TRUE(out.empty());
}

TEST_F(SerialFixture, InputWaitsUntilTheGuestListens) {
  const uint8_t in[] = {'a'};
  EXPECT_EQ(serial.EnqueueInput(in), 0u);
  EXPECT_EQ(In(5) & 0x01, 0x00);
  Out(1, 0x01);
  EXPECT_EQ(serial.EnqueueInput(in), 1u);
  EXPECT_EQ(In(0), 'a');
}

TEST_F(SerialFixture, RxFifoIsBounded) {
  Out(1, 0x01);
  std::string big(Serial::kRxCapacity + 10, 'z');
  size_t n = serial.EnqueueInput(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(big.data()), big.size()));
  EXPECT_EQ(n, Serial::kRxCapacity);
  EXPECT_EQ(serial.RxSpace(), 0u);
  In(0);
  EXPECT_EQ(serial.RxSpace(), 1u);
}

TEST_F(SerialFixture, FifoEnabledShowsInIir) {
  Out(2, 0x01);
  EXPECT_EQ(In(2) & 0xc0, 0xc0);
}

TEST_F(SerialFixture, WideAccessesAreIgnored) {
  uint8_t w[2] = {'a', 'b'};
  serial.Write(0, {w, 2});
  EXPECT_TRUE(out.empty());
}

TEST_F(SerialFixture, StateRoundTripsIntoAFreshUart) {
  Out(3, 0x80);  // DLAB: divisor 0x0201
  Out(0, 0x01);
  Out(1, 0x02);
  Out(3, 0x1b);  // 8 bits, 1 stop, even parity
  Out(4, 0x0b);  // DTR, RTS, OUT2
  Out(7, 0x5a);
  Out(2, 0x01);
  Out(1, 0x01);
  const uint8_t in[] = {'a', 'b', 'c'};
  ASSERT_EQ(serial.EnqueueInput(in), 3u);
  EXPECT_EQ(In(0), 'a');
  const SerialState saved = serial.SaveState();
  EXPECT_EQ(saved.rx, (std::vector<uint8_t>{'b', 'c'}));

  int irqs2 = 0;
  Serial fresh{[](std::span<const uint8_t>) {}, [&] { ++irqs2; }};
  ASSERT_TRUE(fresh.RestoreState(saved));
  EXPECT_EQ(fresh.SaveState(), saved);
  EXPECT_EQ(irqs2, 0);  // the pending interrupt lives in the restored interrupt controller
  auto in2 = [&](uint64_t off) {
    uint8_t v = 0;
    fresh.Read(off, {&v, 1});
    return v;
  };
  EXPECT_EQ(in2(3), 0x1b);
  EXPECT_EQ(in2(4), 0x0b);
  EXPECT_EQ(in2(7), 0x5a);
  EXPECT_EQ(in2(2), 0xc4);  // FIFO enabled, receive data available
  EXPECT_EQ(in2(0), 'b');
  EXPECT_EQ(in2(0), 'c');
  EXPECT_EQ(in2(2) & 0x0f, 0x01);
  // The line was seen as asserted and has now dropped: new input is a new edge.
  ASSERT_EQ(fresh.EnqueueInput(in), 3u);
  EXPECT_EQ(irqs2, 1);
}

TEST_F(SerialFixture, StateNoGuestCanProduceIsRefused) {
  const SerialState before = serial.SaveState();
  SerialState s;
  s.ier = 0x10;
  EXPECT_FALSE(serial.RestoreState(s));
  s = {};
  s.mcr = 0x20;
  EXPECT_FALSE(serial.RestoreState(s));
  s = {};
  s.rx.assign(Serial::kRxCapacity + 1, 'x');
  auto r = serial.RestoreState(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("4097 received bytes"), std::string::npos);
  EXPECT_EQ(serial.SaveState(), before);
  s.rx.resize(Serial::kRxCapacity);  // a full FIFO is fine
  EXPECT_TRUE(serial.RestoreState(s));
}

}  // namespace
}  // namespace uvm::devices
