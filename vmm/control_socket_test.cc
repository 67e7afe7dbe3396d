#include "vmm/control_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

namespace uvm::vmm {
namespace {

TEST(ParseControlRequestTest, SaveTakesTheRestOfTheLineAsTheDirectory) {
  auto r = ParseControlRequest("SAVE /tmp/my snap");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->save_dir, "/tmp/my snap");
  auto crlf = ParseControlRequest("SAVE d\r");
  ASSERT_TRUE(crlf);
  EXPECT_EQ(crlf->save_dir, "d");
}

TEST(ParseControlRequestTest, PauseAndResumeAreWholeLines) {
  auto pause = ParseControlRequest("PAUSE");
  ASSERT_TRUE(pause);
  EXPECT_EQ(pause->kind, ControlRequest::Kind::kPause);
  auto resume = ParseControlRequest("RESUME\r");
  ASSERT_TRUE(resume);
  EXPECT_EQ(resume->kind, ControlRequest::Kind::kResume);
  EXPECT_FALSE(ParseControlRequest("PAUSE now"));
  EXPECT_FALSE(ParseControlRequest("pause"));
  EXPECT_FALSE(ParseControlRequest("RESUME "));
}

TEST(ParseControlRequestTest, RefusesAnythingElse) {
  EXPECT_FALSE(ParseControlRequest(""));
  EXPECT_FALSE(ParseControlRequest("SAVE"));
  EXPECT_FALSE(ParseControlRequest("SAVE "));
  EXPECT_FALSE(ParseControlRequest("save /tmp/x"));
  EXPECT_FALSE(ParseControlRequest("RESTORE /tmp/x"));
  EXPECT_FALSE(ParseControlRequest(std::string("SAVE a\0b", 8)));
  EXPECT_FALSE(ParseControlRequest("SAVE a\tb"));
  EXPECT_FALSE(ParseControlRequest("SAVE " + std::string(5000, 'x')));
}

ControlSocket::Handlers Saves(std::function<bool()> stop) {
  ControlSocket::Handlers h;
  h.stop_for_save = std::move(stop);
  return h;
}

int Connect(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// One request through a real socket and loop: the stop callback runs, the directory is pending,
// and the client's answer comes only with FinishSave.
class ControlSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/uvm-control-test-" + std::to_string(::getpid());
    loop_ = std::make_unique<EventLoop>(EventLoop::Create().value());
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  // Runs the loop on a thread until `done` says so (or 5 s). Stopped once, by this thread only: a
  // second stop would stay pending in the loop's eventfd and end the next run at once (a test
  // that asks twice then waited forever for an answer no loop served).
  template <typename Done>
  void RunLoopUntil(Done done) {
    std::thread t([&] { (void)loop_->Run(10, [] {}); });
    for (int i = 0; i < 500 && !done(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    loop_->Stop();
    t.join();
  }
  // Sends `request` and returns the whole answer (the socket answers at once and closes).
  std::string AnswerTo(const std::string& request) {
    int fd = Connect(path_);
    EXPECT_GE(fd, 0);
    if (fd < 0) return "";
    EXPECT_EQ(::write(fd, request.data(), request.size()), ssize_t(request.size()));
    std::string answer;
    std::atomic<bool> answered = false;
    std::thread reader([&] {
      answer = ReadAll(fd);
      answered = true;
    });
    RunLoopUntil([&] { return answered.load(); });
    reader.join();
    ::close(fd);
    return answer;
  }
  std::string path_;
  std::unique_ptr<EventLoop> loop_;
};

TEST_F(ControlSocketTest, SaveRequestStopsTheVmAndGetsTheOutcome) {
  std::atomic<int> stops = 0;
  auto sock = ControlSocket::Create(path_, *loop_, Saves([&] {
                                      ++stops;
                                      return true;
                                    }));
  ASSERT_TRUE(sock) << sock.error().message;
  int fd = Connect(path_);
  ASSERT_GE(fd, 0);
  const std::string req = "SAVE /some/dir\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()), ssize_t(req.size()));
  RunLoopUntil([&] { return stops.load() > 0; });
  EXPECT_EQ(stops.load(), 1);
  EXPECT_EQ((*sock)->pending_save_dir(), std::optional<std::string>("/some/dir"));
  (*sock)->FinishSave(Err("disk full\nsecond line"));
  EXPECT_EQ(ReadAll(fd), "ERROR disk full second line\n");
  ::close(fd);
}

TEST_F(ControlSocketTest, BadRequestIsAnsweredWithAnErrorAndDoesNotStopTheVm) {
  std::atomic<int> stops = 0;
  auto sock = ControlSocket::Create(path_, *loop_, Saves([&] {
                                      ++stops;
                                      return true;
                                    }));
  ASSERT_TRUE(sock);
  const std::string answer = AnswerTo("HELLO\n");
  EXPECT_EQ(answer.rfind("ERROR unknown request", 0), 0u) << answer;
  EXPECT_EQ(stops.load(), 0);
  EXPECT_FALSE((*sock)->pending_save_dir());
}

TEST_F(ControlSocketTest, SaveOfAVmAlreadyStoppingIsRefused) {
  auto sock = ControlSocket::Create(path_, *loop_, Saves([] { return false; }));
  ASSERT_TRUE(sock);
  EXPECT_EQ(AnswerTo("SAVE /x\n"), "ERROR the VM is already stopping\n");
  EXPECT_FALSE((*sock)->pending_save_dir());
}

TEST_F(ControlSocketTest, PauseAndResumeAreAnsweredWithTheirOutcome) {
  ControlSocket::Handlers h = Saves([] { return true; });
  int pauses = 0, resumes = 0;
  h.pause = [&]() -> Result<void> {
    if (++pauses > 1) return Err("the vCPUs did not stop\nat all");
    return {};
  };
  h.resume = [&]() -> Result<void> {
    ++resumes;
    return {};
  };
  auto sock = ControlSocket::Create(path_, *loop_, std::move(h));
  ASSERT_TRUE(sock);
  EXPECT_EQ(AnswerTo("PAUSE\n"), "OK\n");
  EXPECT_EQ(AnswerTo("PAUSE\n"), "ERROR the vCPUs did not stop at all\n");
  EXPECT_EQ(AnswerTo("RESUME\n"), "OK\n");
  EXPECT_EQ(pauses, 2);
  EXPECT_EQ(resumes, 1);
  EXPECT_FALSE((*sock)->pending_save_dir()) << "a pause is not a save";
}

TEST_F(ControlSocketTest, AVmThatCannotPauseSaysSo) {
  auto sock = ControlSocket::Create(path_, *loop_, Saves([] { return true; }));
  ASSERT_TRUE(sock);
  EXPECT_EQ(AnswerTo("PAUSE\n"), "ERROR this VM cannot be paused\n");
}

}  // namespace
}  // namespace uvm::vmm
