// Running a remote process (the guest agent's) with its stdio on memory files, for the agent's
// unit tests and e2e tests: stdin holds the given input, stdout and stderr are read back once the
// relay has ended.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "base/unique_fd.h"
#include "runtime/agent/agent_client.h"

namespace uvm::testing {

// A memory file holding `content`, positioned at its start.
inline UniqueFd MemFile(const std::string& content) {
  UniqueFd fd(memfd_create("uvm-test", MFD_CLOEXEC));
  EXPECT_TRUE(agent::WriteAll(fd.get(), content));
  lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

// Everything in the file, from its start.
inline std::string ReadFromStart(int fd) {
  std::string s;
  lseek(fd, 0, SEEK_SET);
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

struct Ran {
  agent::Exit exit;
  std::string out, err;
};

// Relays `p`'s stdio through memory files and waits for its exit status.
inline Ran RelayThroughMemFiles(agent::RemoteProcess& p, const std::string& input,
                                std::chrono::seconds exit_timeout) {
  UniqueFd in = MemFile(input), out = MemFile(""), err = MemFile("");
  auto relayed = agent::RelayStdio(p, in.get(), out.get(), err.get());
  EXPECT_TRUE(relayed) << relayed.error().message;
  auto exit = p.WaitExit(exit_timeout);
  EXPECT_TRUE(exit) << exit.error().message;
  return {exit.value_or(agent::Exit{}), ReadFromStart(out.get()), ReadFromStart(err.get())};
}

}  // namespace uvm::testing
