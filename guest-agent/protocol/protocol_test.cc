#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guest-agent/protocol/frame.h"
#include "guest-agent/protocol/messages.h"

namespace uvm::agent {
namespace {

Message RoundTrip(const Message& m) {
  auto frame = EncodeFrame(m);
  EXPECT_TRUE(frame) << frame.error().message;
  FrameDecoder d;
  d.Feed(*frame);
  auto out = d.Next();
  EXPECT_TRUE(out) << out.error().message;
  EXPECT_TRUE(out->has_value());
  return **out;
}

std::string Frame(std::string_view json) {
  uint32_t n = static_cast<uint32_t>(json.size());
  std::string f = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                   static_cast<char>(n >> 8), static_cast<char>(n)};
  return f + std::string(json);
}

Result<std::optional<Message>> DecodeOne(std::string_view bytes) {
  FrameDecoder d;
  d.Feed(bytes);
  return d.Next();
}

TEST(AgentProtocolTest, ExecRoundTripsEveryField) {
  ExecRequest e;
  e.argv = {"/bin/sh", "-c", "echo \"hi\"\n\t\\"};
  e.env = {"A=1", "PATH=/bin"};
  e.cwd = "/work";
  e.user = "1000:100";
  e.tty = true;
  e.rows = 40;
  e.cols = 132;
  e.hostname = "box";
  e.rootfs = Rootfs{"/dev/vdb", "ext4", 64, {{"uvmfs0", "/data", false}, {"uvmfs1", "/ro", true}}};
  e.network = Network{"eth0", "172.30.0.6", 30, "172.30.0.5", "02:ab:cd:ef:01:23"};
  e.realtime_ns = 1'700'000'000'123'456'789ull;
  e.entropy = EncodeEntropy(std::string(32, '\xa5'));
  auto out = std::get<ExecRequest>(RoundTrip(e));
  EXPECT_EQ(out.realtime_ns, e.realtime_ns);
  ASSERT_EQ(out.rootfs->volumes.size(), 2u);
  EXPECT_EQ(out.rootfs->volumes[1].tag, "uvmfs1");
  EXPECT_EQ(out.rootfs->volumes[1].target, "/ro");
  EXPECT_TRUE(out.rootfs->volumes[1].read_only);
  EXPECT_FALSE(out.rootfs->volumes[0].read_only);
  EXPECT_EQ(out.entropy, e.entropy);
  EXPECT_EQ(out.argv, e.argv);
  EXPECT_EQ(out.env, e.env);
  EXPECT_EQ(out.cwd, "/work");
  EXPECT_EQ(out.user, "1000:100");
  EXPECT_TRUE(out.tty);
  EXPECT_EQ(out.rows, 40);
  EXPECT_EQ(out.cols, 132);
  EXPECT_EQ(out.hostname, "box");
  ASSERT_TRUE(out.rootfs);
  EXPECT_EQ(out.rootfs->device, "/dev/vdb");
  EXPECT_EQ(out.rootfs->overlay_mib, 64u);
  ASSERT_TRUE(out.network);
  EXPECT_EQ(out.network->interface, "eth0");
  EXPECT_EQ(out.network->address, "172.30.0.6");
  EXPECT_EQ(out.network->prefix, 30);
  EXPECT_EQ(out.network->gateway, "172.30.0.5");
  EXPECT_EQ(out.network->mac, "02:ab:cd:ef:01:23");
}

TEST(AgentProtocolTest, BundleRoundTripsAndOversizedConfigsAreRefused) {
  ExecRequest e;
  e.bundle = OciBundle{{{"uvmfs0", false}, {"uvmfs1", true}},
                       R"({"ociVersion":"1.0.2"})",
                       "uvm",
                       R"({"args":["sh"]})"};
  auto out = std::get<ExecRequest>(RoundTrip(e));
  ASSERT_TRUE(out.bundle);
  ASSERT_EQ(out.bundle->shares.size(), 2u);
  EXPECT_EQ(out.bundle->shares[0].tag, "uvmfs0");
  EXPECT_FALSE(out.bundle->shares[0].read_only);
  EXPECT_TRUE(out.bundle->shares[1].read_only);
  EXPECT_EQ(out.bundle->config, e.bundle->config);
  EXPECT_EQ(out.bundle->name, "uvm");
  EXPECT_EQ(out.bundle->process, e.bundle->process);
  EXPECT_FALSE(std::get<ExecRequest>(RoundTrip(ExecRequest{})).bundle);

  e.bundle->config.assign(kMaxBundleConfigBytes + 1, ' ');
  auto frame = EncodeFrame(e);
  ASSERT_TRUE(frame) << frame.error().message;
  FrameDecoder d;
  d.Feed(*frame);
  auto refused = d.Next();
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("too big"), std::string::npos);
}

TEST(AgentProtocolTest, NetworkWithoutMacStaysWithout) {
  ExecRequest e;
  e.argv = {"true"};
  e.network = Network{"eth0", "172.30.0.6", 30, "172.30.0.5", ""};
  auto wire = EncodeMessage(e);
  ASSERT_TRUE(wire);
  EXPECT_EQ(wire->find("\"mac\""), std::string::npos);
  auto out = std::get<ExecRequest>(RoundTrip(e));
  ASSERT_TRUE(out.network);
  EXPECT_EQ(out.network->mac, "");
}

TEST(AgentProtocolTest, MacAddressesParseOnlyWhenUnicast) {
  auto mac = ParseMacAddress("02:AB:cd:00:ff:09");
  ASSERT_TRUE(mac);
  EXPECT_EQ(*mac, (std::array<uint8_t, 6>{0x02, 0xab, 0xcd, 0x00, 0xff, 0x09}));
  for (const char* bad : {"", "02:ab:cd:00:ff", "02:ab:cd:00:ff:09:", "02-ab-cd-00-ff-09",
                          "02:ab:cd:00:ff:0g", "01:00:5e:00:00:01",  // multicast
                          "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", " 2:ab:cd:00:ff:09"}) {
    EXPECT_FALSE(ParseMacAddress(bad)) << bad;
  }
  EXPECT_TRUE(ValidateNetwork({"eth0", "10.0.0.2", 30, "10.0.0.1", "02:00:00:00:00:01"}));
  EXPECT_FALSE(ValidateNetwork({"eth0", "10.0.0.2", 30, "10.0.0.1", "03:00:00:00:00:01"}));
  // The decoder checks the MAC too.
  EXPECT_FALSE(DecodeOne(
      Frame(R"({"type":"exec","argv":["x"],"network":{"interface":"eth0","address":"10.0.0.2",)"
            R"("prefix":30,"gateway":"10.0.0.1","mac":"02:00:00:00:00"}})")));
  EXPECT_FALSE(DecodeOne(
      Frame(R"({"type":"exec","argv":["x"],"network":{"interface":"eth0","address":"10.0.0.2",)"
            R"("prefix":30,"gateway":"10.0.0.1","mac":7}})")));
  auto ok = DecodeOne(
      Frame(R"({"type":"exec","argv":["x"],"network":{"interface":"eth0","address":"10.0.0.2",)"
            R"("prefix":30,"gateway":"10.0.0.1","mac":"02:00:00:00:00:01"}})"));
  ASSERT_TRUE(ok) << ok.error().message;
  ASSERT_TRUE(ok->has_value());
  EXPECT_EQ(std::get<ExecRequest>(**ok).network->mac, "02:00:00:00:00:01");
}

TEST(AgentProtocolTest, NetworksThatCannotWorkAreRefused) {
  EXPECT_TRUE(ValidateNetwork({"eth0", "10.0.0.2", 24, "10.0.0.1", ""}));
  EXPECT_TRUE(ValidateNetwork({"eth0", "10.0.0.2", 31, "10.0.0.3", ""}));
  const Network bad[] = {
      {"eth0", "10.0.0.2", 30, "10.0.0.9", ""},    // gateway outside the subnet
      {"eth0", "10.0.0.2", 30, "10.0.0.2", ""},    // gateway is the address itself
      {"eth0", "10.0.0.256", 30, "10.0.0.1", ""},  // not an address
      {"eth0", "10.0.0.2", 0, "10.0.0.1", ""},     // prefix out of range
      {"eth0", "10.0.0.2", 33, "10.0.0.1", ""},
      {"", "10.0.0.2", 30, "10.0.0.1", ""},  // interface names
      {"a/b", "10.0.0.2", 30, "10.0.0.1", ""},
      {"sixteen-chars-xx", "10.0.0.2", 30, "10.0.0.1", ""},
  };
  for (const Network& n : bad) {
    EXPECT_FALSE(ValidateNetwork(n)) << n.interface << " " << n.address << "/" << n.prefix;
  }
  // The decoder applies the same checks to what arrives on the wire.
  auto r = DecodeOne(
      Frame(R"({"type":"exec","argv":["x"],"network":{"interface":"eth0","address":"1.2.3.4",)"
            R"("prefix":30,"gateway":"9.9.9.9"}})"));
  EXPECT_FALSE(r);
}

TEST(AgentProtocolTest, ExecWithoutRootfsStaysWithout) {
  ExecRequest e;
  e.argv = {"true"};
  EXPECT_FALSE(std::get<ExecRequest>(RoundTrip(e)).rootfs);
}

TEST(AgentProtocolTest, ExecWithoutIdentityLeavesClockAndEntropyAlone) {
  ExecRequest e;
  e.argv = {"true"};
  auto json = EncodeMessage(e);
  ASSERT_TRUE(json);
  // Absent on the wire, so an older agent sees exactly what it saw before.
  EXPECT_EQ(json->find("realtime_ns"), std::string::npos);
  EXPECT_EQ(json->find("entropy"), std::string::npos);
  auto out = std::get<ExecRequest>(RoundTrip(e));
  EXPECT_EQ(out.realtime_ns, 0u);
  EXPECT_TRUE(out.entropy.empty());
}

TEST(AgentProtocolTest, EntropyHexRoundTripsEveryByteValue) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  const std::string hex = EncodeEntropy(bytes);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(hex.size() - 4), "feff");
  auto back = DecodeEntropy(hex);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, bytes);
  EXPECT_EQ(*DecodeEntropy(""), "");
  EXPECT_TRUE(DecodeEntropy(std::string(2 * kMinEntropyBytes, '0')));
  EXPECT_TRUE(DecodeEntropy(std::string(2 * kMaxEntropyBytes, 'f')));
}

TEST(AgentProtocolTest, BadEntropyIsRefusedInOneLine) {
  const std::string bad[] = {
      std::string(2 * kMinEntropyBytes - 2, '0'),        // 31 bytes: too few
      std::string(2 * kMaxEntropyBytes + 2, '0'),        // 513 bytes: too many
      std::string(2 * kMinEntropyBytes + 1, '0'),        // odd length
      std::string(2 * kMinEntropyBytes - 1, '0') + "A",  // upper case
      std::string(2 * kMinEntropyBytes - 1, '0') + "g",  // not hex
      std::string(2 * kMinEntropyBytes - 1, '0') + " ",
  };
  for (const auto& hex : bad) {
    auto r = DecodeEntropy(hex);
    ASSERT_FALSE(r) << hex;
    EXPECT_NE(r.error().message.find("'entropy'"), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos);
    // The decoder applies the same check to what arrives on the wire.
    auto m = DecodeMessage(R"({"type":"exec","argv":["x"],"entropy":")" + hex + R"("})");
    ASSERT_FALSE(m) << hex;
    EXPECT_NE(m.error().message.find("'entropy'"), std::string::npos) << m.error().message;
  }
}

TEST(AgentProtocolTest, SmallMessagesRoundTrip) {
  Hello h{kProtocolVersion, Role::kStream, 7, StreamKind::kStderr};
  auto ho = std::get<Hello>(RoundTrip(h));
  EXPECT_EQ(ho.role, Role::kStream);
  EXPECT_EQ(ho.exec_id, 7u);
  EXPECT_EQ(ho.stream, StreamKind::kStderr);
  EXPECT_EQ(std::get<ExecAccepted>(RoundTrip(ExecAccepted{1ull << 40})).exec_id, 1ull << 40);
  EXPECT_EQ(std::get<Started>(RoundTrip(Started{4242})).pid, 4242);
  EXPECT_EQ(std::get<SignalRequest>(RoundTrip(SignalRequest{9})).signal, 9);
  auto rz = std::get<ResizeRequest>(RoundTrip(ResizeRequest{24, 80}));
  EXPECT_EQ(rz.rows, 24);
  EXPECT_EQ(rz.cols, 80);
  EXPECT_EQ(std::get<ErrorReply>(RoundTrip(ErrorReply{"bad"})).message, "bad");
  EXPECT_EQ(std::get<ErrorReply>(RoundTrip(ErrorReply{"v9", ErrorKind::kUnsupported})).kind,
            ErrorKind::kUnsupported);
  Exit x{-1, 0, ExecError::kNotFound, 2, "sh: not found"};
  auto xo = std::get<Exit>(RoundTrip(x));
  EXPECT_EQ(xo.error, ExecError::kNotFound);
  EXPECT_EQ(xo.error_errno, 2);
  EXPECT_EQ(xo.message, "sh: not found");
  auto po =
      std::get<PrepareImage>(RoundTrip(PrepareImage{Rootfs{"/dev/vda", "ext4", 64, {}}, 1 << 30}));
  EXPECT_EQ(po.rootfs.device, "/dev/vda");
  EXPECT_EQ(po.rootfs.fstype, "ext4");
  EXPECT_EQ(po.rootfs.overlay_mib, 64u);
  EXPECT_EQ(po.warm_bytes, 1u << 30);
  auto io = std::get<ImagePrepared>(RoundTrip(ImagePrepared{12, 3456}));
  EXPECT_EQ(io.files, 12u);
  EXPECT_EQ(io.bytes, 3456u);
}

TEST(AgentProtocolTest, ShellExitCodes) {
  EXPECT_EQ(ShellExitCode(Exit{0, 0, ExecError::kNone, 0, ""}), 0);
  EXPECT_EQ(ShellExitCode(Exit{42, 0, ExecError::kNone, 0, ""}), 42);
  EXPECT_EQ(ShellExitCode(Exit{-1, 9, ExecError::kNone, 0, ""}), 137);
  EXPECT_EQ(ShellExitCode(Exit{-1, 0, ExecError::kNotFound, 2, ""}), 127);
  EXPECT_EQ(ShellExitCode(Exit{-1, 0, ExecError::kCannotExecute, 13, ""}), 126);
  EXPECT_EQ(ShellExitCode(Exit{-1, 0, ExecError::kSetup, 5, ""}), 125);
  EXPECT_EQ(Describe(Exit{-1, 9, ExecError::kNone, 0, ""}), "killed by signal 9 (SIGKILL)");
}

TEST(AgentProtocolTest, FramesSplitAtEveryByteDecode) {
  auto a = EncodeFrame(Started{1});
  auto b = EncodeFrame(Started{2});
  std::string both = *a + *b;
  FrameDecoder d;
  std::vector<int64_t> pids;
  for (char c : both) {
    d.Feed(std::string_view(&c, 1));
    auto m = d.Next();
    ASSERT_TRUE(m) << m.error().message;
    if (m->has_value()) pids.push_back(std::get<Started>(**m).pid);
  }
  EXPECT_EQ(pids, (std::vector<int64_t>{1, 2}));
}

TEST(AgentProtocolTest, TruncatedFrameWaitsForMore) {
  auto f = EncodeFrame(Started{1});
  auto m = DecodeOne(std::string_view(*f).substr(0, f->size() - 1));
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->has_value());
  m = DecodeOne(std::string_view(*f).substr(0, 2));
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->has_value());
}

TEST(AgentProtocolTest, OversizedAndEmptyFramesAreRefusedBeforeTheirPayload) {
  auto m = DecodeOne(std::string("\x00\x10\x00\x01", 4));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("exceeds the limit"), std::string::npos);
  m = DecodeOne(std::string("\xff\xff\xff\xff", 4));
  ASSERT_FALSE(m);
  m = DecodeOne(std::string("\x00\x00\x00\x00", 4));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("empty"), std::string::npos);
}

TEST(AgentProtocolTest, DecoderStaysFailedAfterAnError) {
  FrameDecoder d;
  d.Feed(Frame("nope"));
  EXPECT_FALSE(d.Next());
  d.Feed(*EncodeFrame(Started{1}));
  EXPECT_FALSE(d.Next());
}

TEST(AgentProtocolTest, GarbageIsRefusedWithAReason) {
  struct Case {
    const char* json;
    const char* reason;
  } cases[] = {
      {"not json", "not valid JSON"},
      {"[1,2]", "JSON object"},
      {"{}", "no 'type'"},
      {R"({"type":"launch"})", "unknown message type 'launch'"},
      {R"({"type":7})", "'type' must be a string"},
      {R"({"type":"exec","argv":"ls"})", "'argv' must be an array"},
      {R"({"type":"exec","argv":["ls",1]})", "'argv' must be an array"},
      {R"({"type":"exec","tty":"yes"})", "'tty' must be true or false"},
      {R"({"type":"exec","rows":70000})", "'rows' must be an integer"},
      {R"({"type":"exec","realtime_ns":-1})", "'realtime_ns' must be an integer"},
      {R"({"type":"exec","realtime_ns":1e18})", "'realtime_ns' must be an integer"},
      {R"({"type":"exec","entropy":42})", "'entropy' must be a string"},
      {R"({"type":"exec","rootfs":"/dev/vdb"})", "'rootfs' must be an object"},
      {R"({"type":"exec","rootfs":{"overlay_mib":0}})", "'overlay_mib'"},
      {R"({"type":"prepare_image","warm_bytes":1})", "'rootfs' is missing"},
      {R"({"type":"prepare_image","rootfs":[]})", "'rootfs' must be an object"},
      {R"({"type":"prepare_image","rootfs":{},"warm_bytes":-1})", "'warm_bytes'"},
      {R"({"type":"image_prepared","files":"3"})", "'files'"},
      {R"({"type":"signal","signal":0})", "'signal' must be an integer"},
      {R"({"type":"signal"})", "'signal' is missing"},  // found by agent_frame_fuzz
      {R"({"type":"signal","signal":-9})", "'signal' must be an integer"},
      {R"({"type":"signal","signal":1.5})", "'signal' must be an integer"},
      {R"({"type":"hello","role":"admin"})", "unknown value 'admin'"},
      {R"({"type":"exit","exit_code":256})", "'exit_code'"},
      {R"({"type":"exit","error":"oops"})", "unknown value 'oops'"},
      {R"({"type":"started","pid":-1})", "'pid'"},
      {"{\"type\":\"error\",\"message\":\"\xff\"}", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto m = DecodeMessage(c.json);
    ASSERT_FALSE(m) << c.json;
    EXPECT_NE(m.error().message.find(c.reason), std::string::npos)
        << c.json << " -> " << m.error().message;
  }
}

TEST(AgentProtocolTest, UnknownFieldsAreIgnoredAndTheVersionIsCarried) {
  auto m = DecodeMessage(R"({"type":"hello","version":99,"role":"control","future":{"x":1}})");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(std::get<Hello>(*m).version, 99u);
  m = DecodeMessage(R"({"type":"started","pid":5,"extra":[1]})");
  ASSERT_TRUE(m);
  EXPECT_EQ(std::get<Started>(*m).pid, 5);
}

TEST(AgentProtocolTest, NonUtf8StringsCannotBeEncoded) {
  ExecRequest e;
  e.argv = {"\xff"};
  EXPECT_FALSE(EncodeMessage(e));
}

TEST(AgentProtocolTest, ReadMessageLeavesTheBytesAfterTheFrameInTheSocket) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_TRUE(WriteMessage(sv[0], Hello{}));
  ASSERT_TRUE(WriteAll(sv[0], "payload"));
  auto m = ReadMessage(sv[1]);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_TRUE(std::holds_alternative<Hello>(*m));
  char buf[16];
  EXPECT_EQ(read(sv[1], buf, sizeof buf), 7);
  close(sv[0]);
  close(sv[1]);
}

TEST(AgentProtocolTest, ReadMessageTimesOutAndReportsEof) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  auto m = ReadMessage(sv[1], std::chrono::steady_clock::now() + std::chrono::milliseconds(50));
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("timed out"), std::string::npos);
  ASSERT_TRUE(WriteAll(sv[0], std::string("\x00\x00\x00\x10{", 5)));
  close(sv[0]);
  m = ReadMessage(sv[1]);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("middle of a frame"), std::string::npos);
  close(sv[1]);
}

}  // namespace
}  // namespace uvm::agent
