// The protocol between `uvm lab` on the host (lab/runner.cc) and PID 1 of the lab's L1 kernel
// (images/lab/lab_init.cc). One definition, included by both; it has no dependencies because
// lab_init is built on its own as a static binary.
//
// Host -> L1:
//   - the job: a private directory on the host holding the files argv, env (NUL-terminated strings)
//     and cwd; its host path is on the L1 kernel command line as uvm.lab.job=PATH and L1 reads it
//     through the 9p share of the host's root.
//   - stdin: raw bytes on the virtio-serial port kStdinPort; the host closing its end is EOF.
// L1 -> host, on the virtio-serial port kCtlPort: frames {type: u8, length: u32 little endian,
//   payload}. The command's stdout and stderr travel as frames on this one port, so everything the
//   command wrote is ordered before the final frame: kExit (payload: the status, i32 LE) or
//   kLabFailure (payload: one line). When the host has read the final frame it writes kAck back on
//   the same port, and only then does L1 end QEMU through isa-debug-exit; QEMU discards data it has
//   not yet written to its chardev when it exits, so ending without the ack could lose output.
//
// Host -> L1, also on kCtlPort: kPoke, a byte L1 reads and throws away, written every
// kPokeEveryMs whatever L1 is doing. It exists for a lost wake-up in the lab's QEMU (Debian 12's
// 7.2, TCG with nested SVM): L1 can end up halted with interrupts enabled and a deliverable
// vector (its LAPIC timer's) pending in IRR, which QEMU never notices, so L1 sleeps for good.
// Any new interrupt makes QEMU look at the LAPIC again and deliver what is pending; the byte
// arriving on the port is such an interrupt. Before kPoke, 7 of 7 `uvm bench fs` runs in the lab
// and one CI e2e tier wedged this way.
//
// QEMU's exit code is not the channel for the status: isa-debug-exit exits with (N << 1) | 1, which
// the process exit status truncates to 8 bits, so statuses >= 128 would collide with others.
#pragma once

#include <cstddef>
#include <cstdint>

namespace uvm::lab {

inline constexpr char kJobParam[] = "uvm.lab.job=";
inline constexpr char kArgvFile[] = "argv";
inline constexpr char kEnvFile[] = "env";
inline constexpr char kCwdFile[] = "cwd";

inline constexpr char kStdinPort[] = "uvm.lab.stdin";
inline constexpr char kCtlPort[] = "uvm.lab.ctl";

enum class Frame : uint8_t { kStdout = 1, kStderr = 2, kExit = 3, kLabFailure = 4 };
inline constexpr size_t kFrameHeaderSize = 5;
inline constexpr uint32_t kMaxFramePayload = 64 * 1024;
inline constexpr char kAck = 'A';
inline constexpr char kPoke = 'P';
inline constexpr int kPokeEveryMs = 500;

// Printed on the L1 console before L1 gives up, for failures that happen before kCtlPort is open.
inline constexpr char kConsoleFailurePrefix[] = "uvm-lab: lab failure: ";
// The isa-debug-exit value L1 writes after a lab failure (QEMU then exits with 255). A run the host
// sees end without a kExit frame is a lab failure whatever QEMU's exit code is.
inline constexpr uint8_t kDebugExitLabFailure = 0xff;
inline constexpr uint16_t kDebugExitPort = 0xf4;

}  // namespace uvm::lab
