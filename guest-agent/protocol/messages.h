// The agent protocol (ARCHITECTURE.md "The agent"): one definition of every message, shared by the
// in-guest agent and the host's agent client. A message is a JSON object with a "type" member; on
// the wire it is carried in a frame (frame.h). Decoding ignores members it does not know (a newer
// peer may add some) but refuses wrong types, out-of-range numbers and unknown message types.
//
// Conversation on one control connection (ARCHITECTURE.md, "The agent"):
//   host Hello{control} -> agent Hello        versions must match, else agent Error and close
//   host Exec           -> agent ExecAccepted{exec_id}   or Exit{error=setup}
//   host opens stdin, stdout, stderr connections, each starting with Hello{stream, exec_id, kind}
//   agent Started{pid}  or Exit{error}        (exec failures are reported, never a bare 127)
//   host Signal / Resize, any number of times
//   agent Exit          only after stdout and stderr were read to their end by the host
//
// A template VM (runtime/template_store.h) is prepared for one image before it is saved:
//   host PrepareImage{rootfs, warm_bytes} -> agent ImagePrepared{files, bytes}  or Error
// The agent mounts the image and reads its files into the page cache; an Exec whose rootfs is that
// device then reuses the mount, and every clone of the template shares those pages.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace uvm::agent {

inline constexpr uint32_t kProtocolVersion = 1;
// The vsock port the agent listens on; every connection (control and stdio) goes there.
inline constexpr uint32_t kAgentPort = 1024;

enum class Role { kControl, kStream };
enum class StreamKind { kStdin, kStdout, kStderr };

struct Hello {
  uint32_t version = kProtocolVersion;
  Role role = Role::kControl;
  uint64_t exec_id = 0;                    // kStream only
  StreamKind stream = StreamKind::kStdin;  // kStream only
};

// A host directory the VM has as a virtio-fs share (`uvm run -v HOSTDIR:TARGET[:ro]`), mounted at
// `target` inside the container's root.
struct Volume {
  std::string tag;     // the share's virtio-fs tag
  std::string target;  // absolute, inside the container; missing directories are made
  bool read_only = false;
};

// The container's root filesystem: a read-only image on a block device, with a writable overlay
// whose upper layer lives on a tmpfs of `overlay_mib` MiB; or, with fstype "virtiofs", the share
// whose tag is `device`, mounted read-write as it is (`uvm run --rootfs DIR`: the container's
// writes land in DIR). Then the volumes, in order.
inline constexpr size_t kMaxVolumes = 64;

struct Rootfs {
  std::string device;  // e.g. /dev/vdb, or a virtio-fs tag
  std::string fstype = "ext4";
  uint64_t overlay_mib = 256;
  std::vector<Volume> volumes;
};

// The VM's network interface for the container (uvm run --net tap): an IPv4 address on a
// point-to-point subnet whose other end, the gateway, is the host's tap. The container shares the
// VM's network namespace (the VM is the isolation boundary), so this configures the VM.
struct Network {
  std::string interface = "eth0";
  std::string address;  // dotted IPv4
  int prefix = 30;      // 1..32
  std::string gateway;  // dotted IPv4, inside address/prefix
  // "xx:xx:xx:xx:xx:xx", set on the interface before it comes up; "": keep the one the driver
  // read from the device. A clone's eth0 kept its template's MAC from the driver's probe, while
  // its tap is its own: without this, every clone of a template would share one MAC.
  std::string mac;
};

// Both addresses parse, lie in one subnet of `prefix` bits and differ; the interface name is a
// valid Linux one (1-15 characters, no '/', ':' or spaces); the MAC, if any, is a unicast one.
Result<void> ValidateNetwork(const Network& net);

// "xx:xx:xx:xx:xx:xx" (either case) as 6 bytes; refuses multicast and all-zero addresses, which
// Linux refuses for an interface (is_valid_ether_addr).
Result<std::array<uint8_t, 6>> ParseMacAddress(std::string_view text);

// An OCI bundle the agent runs under crun (uvm-runtime's VM-isolated containers): `config` is the
// bundle's config.json as the host rewrote it for the VM, its root and bind-mount sources under
// kBundleShareDir/TAG. The agent mounts each share there and runs `crun run` with the config as
// the container `name`. With `process` (a runtime-spec process object, JSON) instead of a
// config, the agent runs `crun exec` of that process in the container `name` started before.
// The request's argv, env, cwd, user and hostname are unused (the config or process has them).
struct BundleShare {
  std::string tag;
  bool read_only = false;
};
struct OciBundle {
  std::vector<BundleShare> shares;
  std::string config;   // JSON text, at most kMaxBundleConfigBytes
  std::string name;     // crun's container name: 1-64 of [A-Za-z0-9_.-]
  std::string process;  // JSON text, at most kMaxBundleConfigBytes; set: exec, not run
};
inline constexpr char kBundleShareDir[] = "/run/uvm/shares";
inline constexpr size_t kMaxBundleConfigBytes = 768 << 10;  // within one frame, with the rest
inline constexpr size_t kMaxBundleShares = 16;

struct ExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "K=V"; PATH gets a default when absent
  std::string cwd = "/";
  std::string user;  // "", "uid[:gid]" or names from the image's /etc/passwd and /etc/group
  bool tty = false;
  uint16_t rows = 0, cols = 0;      // initial window size with tty
  std::string hostname;             // with rootfs only (needs its own UTS namespace)
  std::optional<Rootfs> rootfs;     // absent: run in the agent's own root, no namespaces
  std::optional<Network> network;   // absent: loopback only
  std::optional<OciBundle> bundle;  // present: crun runs this bundle (no rootfs then)
  // The clone's identity, applied before the process starts (a clone of a template would
  // otherwise keep the template's clock and random-number state): the host's CLOCK_REALTIME
  // in ns when it sent the request (0: leave the guest's clock alone), and host random bytes,
  // lowercase hex, kMinEntropyBytes..kMaxEntropyBytes of them ("": none).
  uint64_t realtime_ns = 0;
  std::string entropy;
};

inline constexpr size_t kMinEntropyBytes = 32;  // 256 bits: a full reseed of the kernel's CRNG
inline constexpr size_t kMaxEntropyBytes = 512;

// Lowercase hex of `bytes`, and back. DecodeEntropy refuses odd lengths, other characters and
// (for a non-empty string) sizes outside kMinEntropyBytes..kMaxEntropyBytes.
std::string EncodeEntropy(std::string_view bytes);
Result<std::string> DecodeEntropy(std::string_view hex);

struct ExecAccepted {
  uint64_t exec_id = 0;
};

struct Started {
  int64_t pid = 0;  // in the agent's PID namespace
};

struct SignalRequest {
  int signal = 0;
};

struct ResizeRequest {
  uint16_t rows = 0, cols = 0;
};

enum class ExecError { kNone, kNotFound, kCannotExecute, kSetup };

// How an exec ended: exactly one of exit_code >= 0, signal > 0, error != kNone.
struct Exit {
  int exit_code = -1;
  int signal = 0;
  ExecError error = ExecError::kNone;
  int error_errno = 0;
  std::string message;  // for errors: what failed, one line
};

// Mount `rootfs` read-only for the execs to come and read up to `warm_bytes` of its files, whole
// files only, smallest directories first (see guest-agent/image_cache.h).
struct PrepareImage {
  Rootfs rootfs;
  uint64_t warm_bytes = 0;
};

struct ImagePrepared {
  uint64_t files = 0;  // files read
  uint64_t bytes = 0;  // their bytes
};

// What kind of refusal an ErrorReply is, so the host decides by it and not by the text.
enum class ErrorKind { kFailed, kUnsupported };

struct ErrorReply {
  std::string message;
  ErrorKind kind = ErrorKind::kFailed;  // kUnsupported: asking again cannot help (a version)
};

using Message = std::variant<Hello, ExecRequest, ExecAccepted, Started, SignalRequest,
                             ResizeRequest, Exit, ErrorReply, PrepareImage, ImagePrepared>;

// JSON text of a message. Fails only for strings that are not valid UTF-8 (JSON cannot carry them).
Result<std::string> EncodeMessage(const Message& message);
Result<Message> DecodeMessage(std::string_view json);

// The shell's view of an Exit: n, 128+signal, 127 not found, 126 cannot execute, 125 setup.
int ShellExitCode(const Exit& exit);
std::string Describe(const Exit& exit);

}  // namespace uvm::agent
