# libFuzzer targets for boot/ (clang only); include()d from tests/ under if(UVM_FUZZ).
#
# Coverage guidance needs the code under test instrumented, not just the fuzzer's entry point, so
# the boot sources are compiled a second time into uvm_boot_fuzz with -fsanitize=fuzzer-no-link.
# The regular uvm_boot (linked by unit tests and the VMM) is left uninstrumented.
set(_uvm_boot_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)

get_target_property(_uvm_boot_sources uvm_boot SOURCES)
get_target_property(_uvm_boot_dir uvm_boot SOURCE_DIR)
list(TRANSFORM _uvm_boot_sources PREPEND "${_uvm_boot_dir}/")
add_library(uvm_boot_fuzz STATIC ${_uvm_boot_sources})
target_compile_options(uvm_boot_fuzz PRIVATE
  -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
target_link_libraries(uvm_boot_fuzz PUBLIC uvm_base uvm_libelf)

add_executable(boot_kernel_fuzz ${CMAKE_CURRENT_LIST_DIR}/boot_kernel_fuzz.cc)
target_compile_options(boot_kernel_fuzz PRIVATE ${_uvm_boot_fuzz_flags})
target_link_options(boot_kernel_fuzz PRIVATE ${_uvm_boot_fuzz_flags})
target_link_libraries(boot_kernel_fuzz PRIVATE uvm_boot_fuzz)
