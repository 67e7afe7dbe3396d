// The VM pool's bookkeeping, apart from the VMs themselves: which template shapes it serves, the
// ready VMs of each, what each has served and missed, and the refill policy. Pure: `Vm` is the
// pool's VM (runtime/pool/server.cc) or a stand-in in the unit tests; it needs `bool finished()`
// (the VM ended by itself). The table never destroys a VM: everything it lets go of is handed
// back for the caller to destroy outside its lock.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/pool/protocol.h"
#include "runtime/template_shape.h"

namespace uvm::runtime {

struct ShapeTablePolicy {
  int size = 2;        // VMs kept ready per shape
  int max_shapes = 4;  // shapes served at once; the one claimed longest ago gives way
  // A replacement is made only once no VM of its shape has been claimed for this long, or when
  // none is left: restoring one competes for the CPU with the container just started, and on a
  // small host that container is what the user waits for.
  std::chrono::milliseconds refill_quiet{250};
  // A shape whose VMs cannot be made (a broken template, no memory) is tried again after this.
  std::chrono::milliseconds retry_after_failure{30000};
};

template <class Vm>
class ShapeTable {
 public:
  using Clock = std::chrono::steady_clock;
  using VmPtr = std::unique_ptr<Vm>;

  explicit ShapeTable(ShapeTablePolicy policy) : policy_(policy) {}

  bool Serves(const std::string& key) const { return shapes_.count(key) != 0; }
  const TemplateShape* Shape(const std::string& key) const {
    auto it = shapes_.find(key);
    return it == shapes_.end() ? nullptr : &it->second.shape;
  }

  // Starts serving `key` (no-op if it already does). When the table is full, the shape claimed
  // longest ago gives way: its ready VMs are returned, and its key in `evicted` if given.
  std::vector<VmPtr> Add(const TemplateShape& shape, const std::string& key,
                         std::string* evicted = nullptr) {
    std::vector<VmPtr> out;
    if (shapes_.count(key)) return out;
    while (!shapes_.empty() && static_cast<int>(shapes_.size()) >= policy_.max_shapes) {
      auto oldest = shapes_.begin();
      for (auto it = shapes_.begin(); it != shapes_.end(); ++it) {
        if (it->second.last_claim < oldest->second.last_claim) oldest = it;
      }
      if (evicted) *evicted = oldest->first;
      Append(out, Drop(oldest->first));
    }
    shapes_[key].shape = shape;
    return out;
  }

  // Stops serving `key`; returns its ready VMs.
  std::vector<VmPtr> Drop(const std::string& key) {
    std::vector<VmPtr> out;
    auto it = shapes_.find(key);
    if (it == shapes_.end()) return out;
    for (auto& vm : it->second.ready) out.push_back(std::move(vm));
    shapes_.erase(it);
    return out;
  }

  // A claim for `key` at `now`: the oldest ready VM still running (null when none; the claim
  // then counts as missed), and in `ended` the ready VMs found to have ended meanwhile.
  VmPtr Claim(const std::string& key, Clock::time_point now, std::vector<VmPtr>& ended) {
    auto it = shapes_.find(key);
    if (it == shapes_.end()) return nullptr;
    Entry& s = it->second;
    s.last_claim = now;
    while (!s.ready.empty()) {
      VmPtr next = std::move(s.ready.front());
      s.ready.pop_front();
      if (!next->finished()) {
        s.served++;
        return next;
      }
      ended.push_back(std::move(next));
    }
    s.missed++;
    return nullptr;
  }

  // Counts a claim for a shape not served yet (it is added by the caller).
  void Missed(const std::string& key) {
    if (auto it = shapes_.find(key); it != shapes_.end()) it->second.missed++;
  }

  // The error of the last failure to make a VM of `key` ("" when the last one worked).
  std::string Error(const std::string& key) const {
    auto it = shapes_.find(key);
    return it == shapes_.end() ? std::string() : it->second.error;
  }

  // The shape most in need of a VM that may get one at `now`: fewer than `size` ready, not
  // waiting out a failure, and either none left or none claimed in the last refill_quiet. Ties
  // go to the one with fewer ready.
  std::optional<std::pair<std::string, TemplateShape>> NextToFill(Clock::time_point now) const {
    const Entry* best = nullptr;
    std::string best_key;
    for (const auto& [key, s] : shapes_) {
      if (static_cast<int>(s.ready.size()) >= policy_.size || now < s.retry_at) continue;
      if (!s.ready.empty() && now - s.last_claim < policy_.refill_quiet) continue;
      if (!best || s.ready.size() < best->ready.size()) {
        best = &s;
        best_key = key;
      }
    }
    if (!best) return std::nullopt;
    return std::make_pair(best_key, best->shape);
  }

  // A VM made for `key`; returned when the shape was dropped meanwhile.
  VmPtr Filled(const std::string& key, VmPtr vm) {
    auto it = shapes_.find(key);
    if (it == shapes_.end()) return vm;
    it->second.error.clear();
    it->second.ready.push_back(std::move(vm));
    return nullptr;
  }

  // Making a VM for `key` failed at `now`: the shape waits retry_after_failure.
  void FillFailed(const std::string& key, const std::string& error, Clock::time_point now) {
    auto it = shapes_.find(key);
    if (it == shapes_.end()) return;
    it->second.error = error;
    it->second.retry_at = now + policy_.retry_after_failure;
  }

  // The ready VMs that ended while waiting, each with its key.
  std::vector<std::pair<std::string, VmPtr>> TakeEnded() {
    std::vector<std::pair<std::string, VmPtr>> out;
    for (auto& [key, s] : shapes_) {
      for (auto it = s.ready.begin(); it != s.ready.end();) {
        if ((*it)->finished()) {
          out.emplace_back(key, std::move(*it));
          it = s.ready.erase(it);
        } else {
          ++it;
        }
      }
    }
    return out;
  }

  // Every ready VM (the pool is stopping); the shapes stay, empty.
  std::vector<VmPtr> TakeAllReady() {
    std::vector<VmPtr> out;
    for (auto& [key, s] : shapes_) {
      for (auto& vm : s.ready) out.push_back(std::move(vm));
      s.ready.clear();
    }
    return out;
  }

  // Each shape's line of `uvm pool status`; `in_use` is counted by the caller, who holds leases.
  std::vector<PoolShapeStatus> Status(const std::map<std::string, int>& in_use) const {
    std::vector<PoolShapeStatus> out;
    for (const auto& [key, s] : shapes_) {
      PoolShapeStatus p;
      p.key = key;
      p.image = s.shape.image_name;
      p.memory_mib = s.shape.memory_mib;
      p.cpus = s.shape.cpus;
      p.ready = static_cast<int>(s.ready.size());
      auto used = in_use.find(key);
      p.in_use = used == in_use.end() ? 0 : used->second;
      p.served = s.served;
      p.missed = s.missed;
      p.error = s.error;
      out.push_back(std::move(p));
    }
    return out;
  }

 private:
  struct Entry {
    TemplateShape shape;
    std::deque<VmPtr> ready;
    uint64_t served = 0;
    uint64_t missed = 0;
    std::string error;
    Clock::time_point retry_at{};
    Clock::time_point last_claim{};
  };

  static void Append(std::vector<VmPtr>& to, std::vector<VmPtr> from) {
    for (auto& vm : from) to.push_back(std::move(vm));
  }

  const ShapeTablePolicy policy_;
  std::map<std::string, Entry> shapes_;  // by template key
};

}  // namespace uvm::runtime
