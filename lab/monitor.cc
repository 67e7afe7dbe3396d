#include "lab/monitor.h"

#include <poll.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string_view>

namespace uvm::lab {

namespace fs = std::filesystem;

uint64_t QemuRunNs(pid_t pid) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(task.path() / "schedstat");
    uint64_t ns = 0;
    if (f >> ns) total += ns;
  }
  return total;
}

std::string AskMonitor(int fd, const std::string& command) {
  constexpr std::string_view kPrompt = "(qemu) ";
  std::string out;
  auto read_to_prompt = [&](std::string& into) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (into.size() < kPrompt.size() ||
           into.compare(into.size() - kPrompt.size(), kPrompt.size(), kPrompt) != 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p = {fd, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
      char buf[4096];
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) return;
      into.append(buf, static_cast<size_t>(n));
    }
  };
  // Whatever came before (the greeting, a late answer to an earlier command) is not ours.
  for (pollfd p = {fd, POLLIN, 0}; poll(&p, 1, 0) > 0;) {
    char buf[4096];
    if (read(fd, buf, sizeof buf) <= 0) break;
  }
  std::string line = command + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return {};
  read_to_prompt(out);
  // Readline mode echoes the command with terminal escapes; keep the lines after it.
  size_t body = out.find('\n');
  out = body == std::string::npos ? std::string() : out.substr(body + 1);
  if (out.size() >= kPrompt.size()) out.resize(out.size() - kPrompt.size());
  // The vector registers say nothing about a lost interrupt and are most of `info registers`.
  std::string kept;
  for (size_t at = 0; at < out.size();) {
    size_t end = std::min(out.find('\n', at), out.size() - 1) + 1;
    if (out.compare(at, 3, "YMM") != 0 && out.compare(at, 3, "FPR") != 0) {
      kept.append(out, at, end - at);
    }
    at = end;
  }
  return kept;
}

}  // namespace uvm::lab
