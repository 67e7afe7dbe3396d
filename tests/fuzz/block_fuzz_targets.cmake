# libFuzzer targets for devices/virtio/block/ (clang only); include()d from tests/ under
# if(UVM_FUZZ), next to boot_fuzz_targets.cmake.
#
# As for boot/, the code under test is compiled a second time with -fsanitize=fuzzer-no-link so
# coverage reaches inside ParseRequest; the regular uvm_virtio_block stays uninstrumented.
# ParseRequest walks the chain with the cursors of devices/virtio/chain.cc, taken from
# uvm_virtio_fuzz (defined in virtio_fuzz_targets.cmake, which must be include()d as well).
set(_uvm_block_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)

get_target_property(_uvm_block_dir uvm_virtio_block SOURCE_DIR)
add_library(uvm_virtio_block_fuzz STATIC ${_uvm_block_dir}/request.cc)
target_compile_options(uvm_virtio_block_fuzz PRIVATE
  -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
target_link_libraries(uvm_virtio_block_fuzz PUBLIC uvm_virtio_fuzz uvm_base)

add_executable(block_request_fuzz ${CMAKE_CURRENT_LIST_DIR}/block_request_fuzz.cc)
target_compile_options(block_request_fuzz PRIVATE ${_uvm_block_fuzz_flags})
target_link_options(block_request_fuzz PRIVATE ${_uvm_block_fuzz_flags})
target_link_libraries(block_request_fuzz PRIVATE uvm_virtio_block_fuzz)
