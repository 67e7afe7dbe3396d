// The VM pool (`uvm pool start`): a long-lived process that keeps, for each template shape it is
// asked for, a few clones restored ahead of time with their agent already answering, and lends
// them to `uvm run` (runtime/pool/client.h). A run that gets one skips the restore and the wait for
// the agent; its container still starts in a fresh copy-on-write clone that nothing ran in
// before. KVM ties a VM to the process that made it, which is why the pool is a process of its
// own: the VM stays in it, and `uvm run` talks to the VM's agent over the VM's vsock socket.
//
// Threads: the main thread serves the socket (claims, status, stop) and watches the leases; one
// filler thread makes VMs (restore, wait for the agent) and destroys released ones, so a claim
// never waits for either.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/result.h"
#include "runtime/template_store.h"

namespace uvm::runtime {

struct PoolServerOptions {
  std::string root;    // the state root whose templates the pool clones (--root)
  int size = 2;        // VMs kept ready per shape
  int max_shapes = 4;  // shapes served at once; the one claimed longest ago gives way
  // Shapes to fill from the start (`uvm pool start IMAGE`); others are added on their first
  // claim, which misses.
  std::vector<TemplateShape> prefill;
};

// The socket and log of the pool serving `root`: /run/uvm/pool-<hash of root>.{sock,log}.
std::string PoolSocketPath(const std::string& root);
std::string PoolLogPath(const std::string& root);

// Serves until a stop request or SIGINT/SIGTERM/SIGHUP. Then the socket goes at once (a new pool
// can start), ready VMs are destroyed, and the call returns once every leased VM is released.
// `listening` runs once the socket accepts connections.
Result<void> ServePool(const PoolServerOptions& options, const std::function<void()>& listening);

}  // namespace uvm::runtime
