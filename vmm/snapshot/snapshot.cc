#include "vmm/snapshot/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"
#include "vmm/snapshot/format.h"

namespace uvm::vmm::snapshot {
namespace {

constexpr uint64_t kPage = 4096;

Result<void> WriteAll(int fd, const uint8_t* p, size_t n, off_t off, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoErr("writing " + what);
    }
    p += w;
    n -= static_cast<size_t>(w);
    off += w;
  }
  return {};
}

Result<std::vector<uint8_t>> ReadStateFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoErr("opening " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return ErrnoErr("stat " + path);
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > kMaxStateBytes) {
    return Err(path + ": larger than any snapshot state uvm writes");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t r = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoErr("reading " + path);
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  bytes.resize(got);
  return bytes;
}

bool AllZero(const uint8_t* p, size_t n) {
  // Compare against the first byte, then that byte against zero: one pass, no zero buffer.
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

Result<void> WriteMemory(const GuestMemory& memory, const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoErr("creating " + path);
  if (::ftruncate(fd.get(), static_cast<off_t>(memory.total_size())) < 0) {
    return ErrnoErr("sizing " + path);
  }
  // Untouched guest RAM reads as zero: leaving those pages as holes keeps the file (on tmpfs: the
  // RAM it takes) to what the guest used. Runs of non-zero pages go out in one write each.
  uint64_t file_off = 0;
  for (const GuestRegion& r : memory.regions()) {
    uint64_t run_start = 0, run_len = 0;
    for (uint64_t off = 0; off < r.size; off += kPage) {
      if (!AllZero(r.host + off, kPage)) {
        if (run_len == 0) run_start = off;
        run_len += kPage;
        continue;
      }
      if (run_len) {
        UVM_CHECK(WriteAll(fd.get(), r.host + run_start, run_len,
                           static_cast<off_t>(file_off + run_start), path));
        run_len = 0;
      }
    }
    if (run_len) {
      UVM_CHECK(WriteAll(fd.get(), r.host + run_start, run_len,
                         static_cast<off_t>(file_off + run_start), path));
    }
    file_off += r.size;
  }
  if (::fsync(fd.get()) < 0) return ErrnoErr("syncing " + path);
  return {};
}

}  // namespace

Result<SnapshotState> CaptureMachine(Machine& m) {
  SnapshotState s;
  s.machine.vcpus = static_cast<uint32_t>(m.vcpus.size());
  for (const GuestRegion& r : m.memory.regions()) s.machine.regions.push_back({r.gpa, r.size});
  UVM_CHECK(ValidateLayout(s.machine));
  UVM_TRY(HostState host, ProbeHostState(m.kvm, m.vm));
  for (Vcpu& v : m.vcpus) UVM_CHECK(CompletePendingIo(v));
  UVM_TRY(s.vm, CaptureVm(m.vm));
  for (Vcpu& v : m.vcpus) {
    UVM_TRY(VcpuState vs, CaptureVcpu(v, host));
    s.vcpus.push_back(std::move(vs));
  }
  return s;
}

Result<void> SaveSnapshot(Machine& m, const std::string& dir, const DeviceStates& devices) {
  UVM_TRY(SnapshotState s, CaptureMachine(m));
  s.serial = devices.serial;
  s.virtio = devices.virtio;
  if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) return ErrnoErr("creating " + dir);
  // Saving over an existing snapshot: its `state` goes first, so the directory never pairs an old
  // state with new memory. The memory file is written beside and renamed into place, never
  // truncated: a VM restored from this directory (perhaps the one being saved) maps the old file
  // MAP_PRIVATE, and its untouched pages must keep reading the old contents.
  const std::string state_path = dir + "/" + kStateFile;
  if (::unlink(state_path.c_str()) < 0 && errno != ENOENT) {
    return ErrnoErr("removing " + state_path);
  }
  const std::string memory_path = dir + "/" + kMemoryFile;
  UVM_CHECK(WriteMemory(m.memory, memory_path + ".tmp"));
  if (::rename((memory_path + ".tmp").c_str(), memory_path.c_str()) < 0) {
    return ErrnoErr("renaming " + memory_path + ".tmp");
  }
  // The state file is written last and renamed into place: a directory with a `state` file has a
  // complete memory file next to it.
  const std::vector<uint8_t> bytes = SerializeState(s);
  const std::string tmp = dir + "/" + kStateFile + ".tmp";
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoErr("creating " + tmp);
    UVM_CHECK(WriteAll(fd.get(), bytes.data(), bytes.size(), 0, tmp));
    if (::fsync(fd.get()) < 0) return ErrnoErr("syncing " + tmp);
  }
  if (::rename(tmp.c_str(), state_path.c_str()) < 0) return ErrnoErr("renaming " + tmp);
  return {};
}

Result<EmptyVm> CreateEmptyVm(int vcpus, const std::vector<RegionSpec>& ram) {
  if (vcpus < 1 || static_cast<uint32_t>(vcpus) > kMaxVcpus) return Err("empty VM: bad vCPU count");
  UVM_CHECK(ValidateLayout({static_cast<uint32_t>(vcpus), ram}));
  UVM_TRY(Kvm kvm, Kvm::Open());
  UVM_TRY(Vm vm, Vm::Create(kvm));
  // The irqchip exists before the vCPUs so each gets an in-kernel LAPIC (as in CreateMachine).
  UVM_CHECK(vm.CreateIrqchipAndPit());
  UVM_TRY(HostState host, ProbeHostState(kvm, vm));
  UVM_TRY(GuestMemory memory, GuestMemory::CreateAnonymous(ram));
  uint32_t slot = 0;
  for (const GuestRegion& r : memory.regions()) {
    UVM_CHECK(vm.SetMemoryRegion(slot++, r.gpa, r.size, r.host));
  }
  std::vector<Vcpu> list;
  list.reserve(static_cast<size_t>(vcpus));
  for (int i = 0; i < vcpus; ++i) {
    UVM_TRY(Vcpu v, Vcpu::Create(vm, kvm, i));
    list.push_back(std::move(v));
  }
  return EmptyVm{std::move(kvm), std::move(vm), std::move(list), std::move(memory),
                 std::move(host)};
}

Result<MachineLayout> ReadSnapshotLayout(const std::string& dir) {
  UVM_TRY(auto bytes, ReadStateFile(dir + "/" + kStateFile));
  UVM_TRY(SnapshotState s, Context(ParseState(bytes), dir + "/" + kStateFile));
  return s.machine;
}

Result<std::unique_ptr<Machine>> RestoreSnapshot(const std::string& dir, EmptyVm empty,
                                                 DeviceStates* devices) {
  UVM_TRY(auto bytes, ReadStateFile(dir + "/" + kStateFile));
  UVM_TRY(SnapshotState s, Context(ParseState(bytes), dir + "/" + kStateFile));
  if (s.machine.vcpus != empty.vcpus.size()) {
    return Err("snapshot has " + std::to_string(s.machine.vcpus) + " vCPUs, the empty VM " +
               std::to_string(empty.vcpus.size()));
  }
  const auto& have = empty.memory.regions();
  bool same_layout = have.size() == s.machine.regions.size();
  for (size_t i = 0; same_layout && i < have.size(); ++i) {
    same_layout =
        have[i].gpa == s.machine.regions[i].gpa && have[i].size == s.machine.regions[i].size;
  }
  if (!same_layout) return Err("the empty VM's guest RAM layout differs from the snapshot's");
  for (const VcpuState& v : s.vcpus) UVM_CHECK(CheckVcpuFitsHost(v, empty.host));

  const std::string mem_path = dir + "/" + kMemoryFile;
  UniqueFd mem_fd(::open(mem_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!mem_fd.valid()) return ErrnoErr("opening " + mem_path);
  struct stat st {};
  if (::fstat(mem_fd.get(), &st) < 0) return ErrnoErr("stat " + mem_path);
  if (static_cast<uint64_t>(st.st_size) != s.machine.total_bytes()) {
    return Err(mem_path + " is " + std::to_string(st.st_size) + " bytes, the state says " +
               std::to_string(s.machine.total_bytes()));
  }
  // Each region's slice of the file replaces the reservation the memory slot points at, private:
  // the guest's writes go to anonymous copies, its reads come from the shared page cache.
  uint64_t file_off = 0;
  for (const GuestRegion& r : have) {
    UVM_CHECK(empty.memory.MapFile(r.gpa, r.size, mem_fd.get(), file_off));
    file_off += r.size;
  }
  // VM-wide devices before the vCPUs: a vCPU's pending events may refer to an interrupt the PIC or
  // IOAPIC holds. The clock last, so guest time does not run during the restore itself.
  UVM_CHECK(ApplyIrqchipAndPit(empty.vm, s.vm));
  for (size_t i = 0; i < s.vcpus.size(); ++i) {
    UVM_CHECK(Context(ApplyVcpu(empty.vcpus[i], s.vcpus[i]), "vCPU " + std::to_string(i)));
  }
  UVM_CHECK(ApplyClock(empty.vm, s.vm.clock));
  if (devices) *devices = DeviceStates{std::move(s.serial), std::move(s.virtio)};
  return std::unique_ptr<Machine>(new Machine{std::move(empty.kvm), std::move(empty.vm),
                                              std::move(empty.memory), std::move(empty.vcpus)});
}

}  // namespace uvm::vmm::snapshot
