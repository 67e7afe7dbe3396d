# libFuzzer targets for devices/virtio (clang only); include()d from tests/ under if(UVM_FUZZ).
#
# As for boot/, the code under test is compiled a second time with -fsanitize=fuzzer-no-link into
# uvm_virtio_fuzz so coverage guidance sees the chain walker and the register file; the regular
# uvm_virtio stays uninstrumented.
set(_uvm_virtio_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)

get_target_property(_uvm_virtio_sources uvm_virtio SOURCES)
get_target_property(_uvm_virtio_dir uvm_virtio SOURCE_DIR)
list(TRANSFORM _uvm_virtio_sources PREPEND "${_uvm_virtio_dir}/")
add_library(uvm_virtio_fuzz STATIC ${_uvm_virtio_sources})
target_compile_options(uvm_virtio_fuzz PRIVATE
  -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
target_link_libraries(uvm_virtio_fuzz PUBLIC uvm_base uvm_devices)

foreach(_target virtio_chain_fuzz virtio_mmio_fuzz)
  add_executable(${_target} ${CMAKE_CURRENT_LIST_DIR}/${_target}.cc)
  target_compile_options(${_target} PRIVATE ${_uvm_virtio_fuzz_flags})
  target_link_options(${_target} PRIVATE ${_uvm_virtio_fuzz_flags})
  target_link_libraries(${_target} PRIVATE uvm_virtio_fuzz)
endforeach()
