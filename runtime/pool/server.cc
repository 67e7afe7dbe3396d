#include "runtime/pool/server.h"

#include <dirent.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "base/event_loop.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/unix_socket.h"
#include "runtime/agent_vm.h"
#include "runtime/paths.h"
#include "runtime/pool/protocol.h"
#include "runtime/pool/shape_table.h"
#include "runtime/template_store.h"

namespace uvm::runtime {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kAgentTimeout = std::chrono::seconds(60);
constexpr int kRequestTimeoutMs = 2000;
constexpr size_t kConsoleTail = 4000;

std::string RootHash(const std::string& root) {
  char resolved[PATH_MAX];
  const std::string canonical = ::realpath(root.c_str(), resolved) ? resolved : root;
  return Sha256Hex(canonical).substr(0, 16);
}

// One clone, restored and with its agent answering.
struct PooledVm {
  std::string key;
  std::vector<pid_t> threads;  // the VM's threads, made at nice 10, set to 0 when it is lent
  std::unique_ptr<AgentVm> vm;

  bool finished() const { return vm->vm().finished(); }
  std::string id() const { return vm->dir().substr(vm->dir().rfind('/') + 1); }
  std::string console() const { return FileTail(vm->console_log(), kConsoleTail); }
};

// The process's threads now (/proc/self/task).
std::set<pid_t> Threads() {
  std::set<pid_t> out;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') out.insert(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    ::closedir(d);
  }
  return out;
}

// Thread niceness: on Linux, setpriority on a thread id applies to that thread only. Failure
// only costs latency.
void SetThreadNice(pid_t tid, int nice) {
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice);
}

class PoolServer {
 public:
  PoolServer(PoolServerOptions options, EventLoop loop, UniqueFd listener, UniqueFd sigfd,
             std::string socket_path)
      : options_(std::move(options)),
        loop_(std::move(loop)),
        listener_(std::move(listener)),
        sigfd_(std::move(sigfd)),
        socket_path_(std::move(socket_path)),
        table_(ShapeTablePolicy{options_.size, options_.max_shapes}) {}

  Result<void> AddPrefill() {
    std::lock_guard lk(mu_);
    for (const TemplateShape& shape : options_.prefill) {
      UVM_TRY(std::string key, TemplateKey(shape));
      AddShapeLocked(shape, key);
    }
    return {};
  }

  Result<void> Run() {
    UVM_CHECK(loop_.Add(listener_.get(), EPOLLIN, [this](uint32_t) { OnAccept(); }));
    UVM_CHECK(loop_.Add(sigfd_.get(), EPOLLIN, [this](uint32_t) {
      signalfd_siginfo info{};
      if (::read(sigfd_.get(), &info, sizeof info) == sizeof info) {
        Log(LogLevel::kInfo, "pool: signal " + std::to_string(info.ssi_signo) + ", stopping");
        BeginStop();
      }
    }));
    std::thread filler([this] { FillerMain(); });
    auto ran = loop_.Run();
    if (!ran) {
      // A dead loop releases no lease any more: end them here, so the filler can finish.
      BeginStop();
      for (auto& [fd, lease] : leases_) Release(std::move(lease.vm));
    }
    filler.join();
    leases_.clear();
    return ran;
  }

 private:
  struct Lease {
    UniqueFd conn;
    std::unique_ptr<PooledVm> vm;
  };

  void Destroy(std::vector<std::unique_ptr<PooledVm>> vms) {
    for (auto& vm : vms) to_destroy_.push_back(std::move(vm));
    cv_.notify_all();
  }

  void AddShapeLocked(const TemplateShape& shape, const std::string& key) {
    if (table_.Serves(key)) return;
    std::string evicted;
    Destroy(table_.Add(shape, key, &evicted));
    if (!evicted.empty()) {
      Log(LogLevel::kInfo, "pool: no longer serving " + evicted + " (room for " + key + ")");
    }
    Log(LogLevel::kInfo, "pool: serving " + key + " (" +
                             (shape.image_name.empty() ? "no image" : shape.image_name) + ", " +
                             std::to_string(shape.memory_mib) + " MiB, " +
                             std::to_string(shape.cpus) + " vCPUs)");
    cv_.notify_all();
  }

  void OnAccept() {
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) return;
    // One short line from a local client; the wait is bounded, so a client that connects and
    // says nothing delays the others by at most that.
    auto line = ReadPoolLine(conn.get(), kRequestTimeoutMs);
    if (!line) {
      (void)WritePoolLine(conn.get(), EncodeFailure("bad request: " + line.error().message));
      return;
    }
    auto request = ParsePoolRequest(*line);
    if (!request) {
      (void)WritePoolLine(conn.get(), EncodeFailure("bad request: " + request.error().message));
      return;
    }
    switch (request->op) {
      case PoolOp::kStatus:
        (void)WritePoolLine(conn.get(), EncodePoolStatus(Status()));
        return;
      case PoolOp::kStop:
        BeginStop();
        (void)WritePoolLine(conn.get(), EncodePoolStatus(Status()));
        return;
      case PoolOp::kClaim:
        Claim(std::move(conn), *request);
        return;
    }
  }

  // Hands out a ready VM of the request's shape, or says why there is none (and starts making
  // VMs of a shape it has not seen).
  void Claim(UniqueFd conn, const PoolRequest& request) {
    auto refuse = [&](const std::string& why) {
      (void)WritePoolLine(conn.get(), EncodeFailure(why));
    };
    std::unique_ptr<PooledVm> vm;
    {
      std::lock_guard lk(mu_);
      if (stopping_) return refuse("the pool is stopping");
      const TemplateShape* shape = table_.Shape(request.key);
      if (!shape) {
        auto key = TemplateKey(request.shape);
        if (!key) return refuse(key.error().message);
        if (*key != request.key) return refuse("the key does not match the shape");
        AddShapeLocked(request.shape, request.key);
        table_.Missed(request.key);
        return refuse("no VM of this shape yet (the pool starts making them now)");
      }
      // The template's files as they are now: a rebuilt kernel or agent or a re-imported image
      // gives another key, and the VMs made from the old files must not run the container.
      auto now_key = TemplateKey(*shape);
      if (!now_key || *now_key != request.key) {
        Log(LogLevel::kInfo, "pool: " + request.key + " is stale (its kernel, agent or image " +
                                 "changed); its VMs go");
        Destroy(table_.Drop(request.key));
        return refuse("the template's kernel, agent or image changed");
      }
      std::vector<std::unique_ptr<PooledVm>> ended;
      vm = table_.Claim(request.key, Clock::now(), ended);
      Destroy(std::move(ended));
      if (!vm) {
        const std::string error = table_.Error(request.key);
        return refuse(error.empty() ? "no VM of this shape ready (more are being made)"
                                    : "no VM of this shape ready (" + error + ")");
      }
      leased_++;
      cv_.notify_all();
    }
    // Its share devices were made unbound; the claimant's directories go in before it is lent.
    for (size_t i = 0; i < request.shares.size(); ++i) {
      if (auto bound = vm->vm->vm().BindShare(i, request.shares[i]); !bound) {
        refuse(bound.error().message);
        Release(std::move(vm));
        return;
      }
    }
    PoolClaimReply reply;
    reply.ok = true;
    reply.vm = vm->id();
    reply.vsock_uds = vm->vm->vsock_uds();
    const int fd = conn.get();
    if (auto sent = WritePoolLine(fd, EncodeClaimReply(reply)); !sent) {
      Release(std::move(vm));
      return;
    }
    if (auto added = loop_.Add(fd, EPOLLIN | EPOLLRDHUP, [this, fd](uint32_t) { OnLease(fd); });
        !added) {
      Log(LogLevel::kWarn, "pool: " + added.error().message);
      Release(std::move(vm));
      return;
    }
    // It was made at the filler's nice 10 (below): a container runs at the normal priority.
    for (pid_t tid : vm->threads) SetThreadNice(tid, 0);
    Log(LogLevel::kDebug, "pool: lent " + vm->id());
    leases_[fd] = Lease{std::move(conn), std::move(vm)};
  }

  // The lease's connection became readable: the client ended (closed, or died). Anything it sends
  // is not part of the protocol and ends the lease too.
  void OnLease(int fd) {
    auto it = leases_.find(fd);
    if (it == leases_.end()) return;
    char c;
    if (::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN) return;  // spurious
    loop_.Remove(fd);
    std::unique_ptr<PooledVm> vm = std::move(it->second.vm);
    leases_.erase(it);
    Log(LogLevel::kDebug, "pool: " + vm->id() + " released");
    Release(std::move(vm));
  }

  void Release(std::unique_ptr<PooledVm> vm) {
    if (vm->finished()) {
      // The VM ended while lent (a guest panic, a triple fault): its console says why.
      Log(LogLevel::kWarn,
          "pool: " + vm->id() + " ended while in use; its console:\n" + vm->console());
    }
    std::lock_guard lk(mu_);
    to_destroy_.push_back(std::move(vm));
    leased_--;
    cv_.notify_all();
  }

  void BeginStop() {
    {
      std::lock_guard lk(mu_);
      if (stopping_) return;
      stopping_ = true;
      cv_.notify_all();
    }
    // The socket goes at once, so a new pool can start while leased VMs finish their containers.
    loop_.Remove(listener_.get());
    listener_.Reset();
    ::unlink(socket_path_.c_str());
  }

  PoolStatus Status() {
    PoolStatus st;
    st.pid = static_cast<int>(::getpid());
    st.size = options_.size;
    std::map<std::string, int> in_use;
    for (const auto& [fd, lease] : leases_) in_use[lease.vm->key]++;
    std::lock_guard lk(mu_);
    st.shapes = table_.Status(in_use);
    return st;
  }

  void FillerMain() {
    // Making and destroying VMs yields the CPU to the containers in lent ones: on a small host a
    // restore would otherwise slow the run that just took a VM. The threads a VM is made with
    // inherit this; Claim() sets them back.
    SetThreadNice(static_cast<pid_t>(::gettid()), 10);
    std::unique_lock lk(mu_);
    for (;;) {
      if (!to_destroy_.empty()) {
        auto batch = std::move(to_destroy_);
        to_destroy_.clear();
        lk.unlock();
        batch.clear();  // each VM stops and is waited for; its directory goes
        lk.lock();
        continue;
      }
      if (stopping_) {
        Destroy(table_.TakeAllReady());
        if (!to_destroy_.empty()) continue;
        if (leased_ == 0) break;
        cv_.wait(lk);
        continue;
      }
      for (auto& [key, vm] : table_.TakeEnded()) {
        Log(LogLevel::kWarn,
            "pool: " + vm->id() + " ended while waiting; its console:\n" + vm->console());
        to_destroy_.push_back(std::move(vm));
      }
      if (!to_destroy_.empty()) continue;
      auto next = table_.NextToFill(Clock::now());
      if (!next) {
        cv_.wait_for(lk, std::chrono::milliseconds(200));
        continue;
      }
      const auto [key, shape] = *next;
      lk.unlock();
      auto made = MakeVm(shape, key);
      lk.lock();
      if (!made) {
        Log(LogLevel::kWarn, "pool: making a VM of " + key + ": " + made.error().message);
        table_.FillFailed(key, made.error().message, Clock::now());
        continue;
      }
      const std::string id = (*made)->id();
      if (auto dropped = table_.Filled(key, std::move(*made))) {
        to_destroy_.push_back(std::move(dropped));  // the shape was dropped meanwhile
      } else {
        Log(LogLevel::kDebug, "pool: " + id + " ready");
      }
    }
    lk.unlock();
    loop_.Stop();
  }

  Result<std::unique_ptr<PooledVm>> MakeVm(const TemplateShape& shape, const std::string& key) {
    UVM_TRY(std::string now_key, TemplateKey(shape));
    if (now_key != key) return Err("the template's kernel, agent or image changed");
    // Found again for each VM: a template removed meanwhile is made again, as `uvm run` would.
    UVM_TRY(std::string template_dir, TemplateStore(options_.root).FindOrCreate(shape, key));
    auto p = std::make_unique<PooledVm>();
    p->key = key;
    UVM_TRY(TempDir dir, TempDir::Create(kRunDir, "pool-vm-"));
    // Only this thread makes threads while the VM starts: the new ones are the VM's.
    const std::set<pid_t> before = Threads();
    // The agent's answer is the proof the clone restored and runs; the connection closes again
    // (the agent serves each request on a connection of its own).
    std::string console;
    auto vm = AgentVm::Start(std::move(dir), ContainerVmSpec(shape, template_dir), kAgentTimeout,
                             &console);
    if (!vm) {
      if (vm.error().code == ErrorCode::kInterrupted) return Err("the pool is stopping");
      Log(LogLevel::kWarn, "pool: a VM of " + key + " did not come up; its console:\n" + console);
      return tl::unexpected(vm.error());
    }
    p->vm = std::move(*vm);
    p->vm->CloseAgent();
    for (pid_t tid : Threads()) {
      if (!before.count(tid)) p->threads.push_back(tid);
    }
    return p;
  }

  const PoolServerOptions options_;
  EventLoop loop_;
  UniqueFd listener_;
  UniqueFd sigfd_;
  const std::string socket_path_;

  std::mutex mu_;
  std::condition_variable cv_;
  ShapeTable<PooledVm> table_;                         // under mu_
  std::vector<std::unique_ptr<PooledVm>> to_destroy_;  // for the filler; under mu_
  int leased_ = 0;                                     // under mu_
  bool stopping_ = false;                              // under mu_
  std::map<int, Lease> leases_;                        // main thread only
};

}  // namespace

std::string PoolSocketPath(const std::string& root) {
  return std::string(kRunDir) + "/pool-" + RootHash(root) + ".sock";
}

std::string PoolLogPath(const std::string& root) {
  return std::string(kRunDir) + "/pool-" + RootHash(root) + ".log";
}

Result<void> ServePool(const PoolServerOptions& options, const std::function<void()>& listening) {
  if (options.size < 1 || options.max_shapes < 1) return Err("the pool needs room for a VM");
  UVM_CHECK(EnsureRunDir());
  // The VMs' threads inherit this mask: the signals reach the loop's signalfd only.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd.valid()) return ErrnoErr("signalfd");
  const std::string path = PoolSocketPath(options.root);
  // A pool that answers there is alive; a socket nobody answers on is a dead pool's leftover.
  // 0600: only root lends VMs.
  auto listener = ListenUnix(path, {.mode = 0600, .refuse_live = true});
  if (!listener && listener.error().code == ErrorCode::kExists) {
    return Err(ErrorCode::kExists,
               "a pool is already running on " + path + " (`uvm pool stop` stops it)");
  }
  if (!listener) return tl::unexpected(listener.error());
  UVM_TRY(EventLoop loop, EventLoop::Create());
  PoolServer server(options, std::move(loop), std::move(*listener), std::move(sigfd), path);
  if (auto added = server.AddPrefill(); !added) {
    ::unlink(path.c_str());
    return added;
  }
  Log(LogLevel::kInfo, "pool: listening on " + path + " (pid " + std::to_string(::getpid()) + ", " +
                           std::to_string(options.size) + " VMs per shape)");
  if (listening) listening();
  return server.Run();
}

}  // namespace uvm::runtime
