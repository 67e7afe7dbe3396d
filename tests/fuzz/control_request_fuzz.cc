// Fuzzes the control socket's request parser (vmm/control_socket.h): a line from a local client
// of a VM's control socket. What is accepted is PAUSE, RESUME, or a SAVE of a non-empty directory
// without control characters that parses back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "vmm/control_socket.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto request = uvm::vmm::ParseControlRequest(line);
  if (!request) {
    if (request.error().message.empty()) abort();
    return 0;
  }
  using Kind = uvm::vmm::ControlRequest::Kind;
  if (request->kind != Kind::kSave) {
    std::string_view bare = line;
    if (!bare.empty() && bare.back() == '\r') bare.remove_suffix(1);
    if (bare != (request->kind == Kind::kPause ? "PAUSE" : "RESUME")) abort();
    return 0;
  }
  const std::string& dir = request->save_dir;
  if (dir.empty() || dir.size() > 4096) abort();
  for (char c : dir) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) abort();
  }
  auto again = uvm::vmm::ParseControlRequest("SAVE " + dir);
  if (!again || again->save_dir != dir) abort();
  return 0;
}
