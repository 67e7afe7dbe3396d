#include "guest-agent/stream_table.h"

namespace uvm::agent {
namespace {
bool Complete(const StdioFds& fds) { return fds[0].valid() && fds[1].valid() && fds[2].valid(); }
}  // namespace

void StreamTable::Expect(uint64_t exec_id) {
  std::lock_guard lock(mu_);
  pending_[exec_id];
}

bool StreamTable::Attach(uint64_t exec_id, StreamKind kind, UniqueFd fd) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(exec_id);
  if (it == pending_.end()) return false;
  UniqueFd& slot = it->second[static_cast<size_t>(kind)];
  if (slot.valid()) return false;
  slot = std::move(fd);
  cv_.notify_all();
  return true;
}

Result<StdioFds> StreamTable::Take(uint64_t exec_id, Deadline deadline) {
  std::unique_lock lock(mu_);
  auto ready = [&] { return Complete(pending_[exec_id]); };
  bool ok = cv_.wait_until(lock, deadline, ready);
  StdioFds fds = std::move(pending_[exec_id]);
  pending_.erase(exec_id);
  if (!ok) return Err("the stdin, stdout and stderr connections did not all arrive in time");
  return fds;
}

}  // namespace uvm::agent
