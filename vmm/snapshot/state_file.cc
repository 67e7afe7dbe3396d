#include "vmm/snapshot/state_file.h"

#include <string>
#include <utility>

#include "vmm/snapshot/format.h"

namespace uvm::vmm::snapshot {

std::vector<uint8_t> SerializeState(const SnapshotState& s) {
  std::vector<OwnedSection> sections;
  auto add = [&](SectionId id, std::vector<uint8_t> payload) {
    sections.push_back({id, SectionVersion(id), std::move(payload)});
  };
  add(SectionId::kMachine, EncodeMachine(s.machine));
  add(SectionId::kClock, EncodeClock(s.vm.clock));
  add(SectionId::kIrqchip, EncodeIrqchip(s.vm));
  add(SectionId::kPit, EncodePit(s.vm.pit));
  for (const VcpuState& v : s.vcpus) add(SectionId::kVcpu, EncodeVcpu(v));
  if (s.serial) add(SectionId::kSerial, EncodeSerial(*s.serial));
  for (const VirtioSlotState& v : s.virtio) add(SectionId::kVirtioMmio, EncodeVirtioSlot(v));
  return EncodeStateFile(sections);
}

Result<SnapshotState> ParseState(std::span<const uint8_t> file) {
  UVM_TRY(auto sections, DecodeStateFile(file));
  SnapshotState s;
  bool have_machine = false, have_clock = false, have_irqchip = false, have_pit = false;
  for (const Section& sec : sections) {
    switch (sec.id) {
      case SectionId::kMachine: {
        UVM_TRY(s.machine, DecodeMachine(sec.payload));
        have_machine = true;
        break;
      }
      case SectionId::kClock: {
        UVM_TRY(s.vm.clock, DecodeClock(sec.payload));
        have_clock = true;
        break;
      }
      case SectionId::kIrqchip: {
        UVM_CHECK(DecodeIrqchip(sec.payload, s.vm));
        have_irqchip = true;
        break;
      }
      case SectionId::kPit: {
        UVM_TRY(s.vm.pit, DecodePit(sec.payload));
        have_pit = true;
        break;
      }
      case SectionId::kVcpu: {
        UVM_TRY(VcpuState v, DecodeVcpu(sec.payload));
        if (v.index != s.vcpus.size()) return Err("state file: vCPU sections out of order");
        if (s.vcpus.size() >= kMaxVcpus) return Err("state file: too many vCPU sections");
        s.vcpus.push_back(std::move(v));
        break;
      }
      case SectionId::kSerial: {  // DecodeStateFile() refuses a second one
        UVM_TRY(s.serial, DecodeSerial(sec.payload));
        break;
      }
      case SectionId::kVirtioMmio: {
        UVM_TRY(VirtioSlotState v, DecodeVirtioSlot(sec.payload));
        if (v.slot != s.virtio.size()) return Err("state file: virtio-mmio sections out of order");
        s.virtio.push_back(std::move(v));
        break;
      }
    }
  }
  if (!have_machine || !have_clock || !have_irqchip || !have_pit) {
    return Err("state file: a required section (machine, clock, irqchip, pit) is missing");
  }
  if (s.vcpus.size() != s.machine.vcpus) {
    return Err("state file: " + std::to_string(s.vcpus.size()) + " vCPU sections for a " +
               std::to_string(s.machine.vcpus) + "-vCPU machine");
  }
  return s;
}

}  // namespace uvm::vmm::snapshot
