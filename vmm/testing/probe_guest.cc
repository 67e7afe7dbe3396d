#include "vmm/testing/probe_guest.h"

#include <cstring>
#include <string>

namespace uvm::vmm::testing {
namespace {

void Put32(std::vector<uint8_t>& code, size_t off, uint32_t v) { std::memcpy(&code[off], &v, 4); }

}  // namespace

std::vector<uint8_t> CountingGuestCode(uint32_t iterations) {
  std::vector<uint8_t> code = {
      0x48, 0xbb, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,  // mov rbx, 0x0123456789abcdef
      0x31, 0xc9,                                                  // xor ecx, ecx
      0xbf, 0x00, 0x00, 0x20, 0x00,                                // mov edi, kCountTableAddr
      // loop:
      0x48, 0x69, 0xdb, 0x2d, 0xf4, 0x51, 0x58,  // imul rbx, rbx, 0x5851f42d
      0x48, 0x01, 0xcb,                          // add rbx, rcx
      0x89, 0xc8,                                // mov eax, ecx
      0x25, 0xff, 0x0f, 0x00, 0x00,              // and eax, 0xfff
      0x48, 0x31, 0x1c, 0xc7,                    // xor [rdi + rax*8], rbx
      0xff, 0xc1,                                // inc ecx
      0x84, 0xc9,                                // test cl, cl
      0x75, 0x04,                                // jnz skip
      0x89, 0xc8,                                // mov eax, ecx
      0xe7, kCheckpointPort,                     // out kCheckpointPort, eax
      // skip:
      0x81, 0xf9, 0x00, 0x00, 0x00, 0x00,  // cmp ecx, iterations
      0x72, 0xd9,                          // jb loop
      0x48, 0x89, 0xd8,                    // mov rax, rbx
      0xe7, kResultPort,                   // out kResultPort, eax
      0x48, 0xc1, 0xe8, 0x20,              // shr rax, 32
      0xe7, kResultPort,                   // out kResultPort, eax
      0xe7, kDonePort,                     // out kDonePort, eax
      0xf4};                               // hlt
  Put32(code, 0x32, iterations);
  return code;
}

std::vector<uint8_t> TouchingGuestCode(uint32_t pages) {
  std::vector<uint8_t> code = {0xbf, 0x00, 0x00, 0x00, 0x01,  // mov edi, 16 MiB
                               0xb9, 0x00, 0x00, 0x00, 0x00,  // mov ecx, pages
                               0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23,
                               0x01,  // mov rax, 0x0123456789abcdef
                               // loop:
                               0x48, 0x89, 0x07,                          // mov [rdi], rax
                               0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00,  // add rdi, 4096
                               0xff, 0xc9,                                // dec ecx
                               0x75, 0xf2,                                // jnz loop
                               0xe6, kCheckpointPort,                     // out kCheckpointPort, al
                               0xe6, kResultPort,                         // out kResultPort, al
                               0xe6, kDonePort,                           // out kDonePort, al
                               0xf4};                                     // hlt
  Put32(code, 6, pages);
  return code;
}

Result<std::optional<PortWrite>> RunUntilPortWrite(Vcpu& vcpu) {
  kvm_run* run = vcpu.run_state();
  while (true) {
    UVM_CHECK(vcpu.Run());
    switch (run->exit_reason) {
      case KVM_EXIT_INTR:
        return std::optional<PortWrite>();
      case KVM_EXIT_IO: {
        auto* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
        if (run->io.direction == KVM_EXIT_IO_IN) {
          std::memset(data, 0, size_t{run->io.size} * run->io.count);
          continue;
        }
        uint32_t v = 0;
        std::memcpy(&v, data, run->io.size < 4 ? run->io.size : 4);
        return std::optional<PortWrite>(PortWrite{run->io.port, v});
      }
      default:
        return Err("tiny guest: unexpected exit reason " + std::to_string(run->exit_reason));
    }
  }
}

}  // namespace uvm::vmm::testing
