# libFuzzer targets (clang only); include()d from tests/CMakeLists.txt under if(UVM_FUZZ).
#
# Coverage guidance needs the code under test instrumented, not just the fuzzer's entry point, so
# each library a target exercises is compiled a second time with -fsanitize=fuzzer-no-link into a
# "<library>_fuzz" twin. The regular libraries (linked by unit tests and by uvm) stay uninstrumented.
set(UVM_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)

# uvm_fuzz_twin(LIBRARY [SOURCES file...] LINKS lib...): the instrumented twin LIBRARY_fuzz of
# LIBRARY, from all its sources or only the ones listed (relative to its folder).
function(uvm_fuzz_twin library)
  cmake_parse_arguments(F "" "" "SOURCES;LINKS" ${ARGN})
  get_target_property(dir ${library} SOURCE_DIR)
  if(F_SOURCES)
    set(sources ${F_SOURCES})
  else()
    get_target_property(sources ${library} SOURCES)
  endif()
  list(TRANSFORM sources PREPEND "${dir}/")
  add_library(${library}_fuzz STATIC ${sources})
  target_compile_options(${library}_fuzz PRIVATE -fsanitize=fuzzer-no-link ${UVM_FUZZ_SANITIZERS})
  target_link_libraries(${library}_fuzz PUBLIC ${F_LINKS})
endfunction()

# uvm_fuzz_target(NAME LIBS lib...): tests/fuzz/NAME.cc as a libFuzzer binary.
function(uvm_fuzz_target name)
  cmake_parse_arguments(F "" "" "LIBS" ${ARGN})
  add_executable(${name} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/${name}.cc)
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer ${UVM_FUZZ_SANITIZERS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer ${UVM_FUZZ_SANITIZERS})
  target_link_libraries(${name} PRIVATE ${F_LIBS})
endfunction()

uvm_fuzz_twin(uvm_boot LINKS uvm_base uvm_libelf)
uvm_fuzz_twin(uvm_virtio LINKS uvm_base uvm_devices)
# ParseRequest is the block device's parser of guest data; it walks chains with uvm_virtio's cursors.
uvm_fuzz_twin(uvm_virtio_block SOURCES request.cc LINKS uvm_virtio_fuzz uvm_base)
uvm_fuzz_twin(uvm_virtio_vsock LINKS uvm_virtio_fuzz uvm_base)
# ParseTxChain/SanitizeRxHeader are the net device's parsers of guest (and tap) data.
uvm_fuzz_twin(uvm_virtio_net SOURCES net_header.cc LINKS uvm_virtio_fuzz uvm_base)
# virtio-fs: the request parser, the reply writer and the passthrough session behind them.
uvm_fuzz_twin(uvm_virtio_fs SOURCES fuse_request.cc fuse_reply.cc node_table.cc fuse_session.cc
              passthrough_node.cc passthrough_file.cc passthrough_dir.cc
              LINKS uvm_virtio_fuzz uvm_base)

# The JSON reader of untrusted documents (image manifests and configs, the pool's requests).
uvm_fuzz_twin(uvm_base SOURCES json.cc result.cc LINKS tl::expected nlohmann_json::nlohmann_json)
uvm_fuzz_twin(uvm_store LINKS uvm_base_fuzz uvm_base nlohmann_json::nlohmann_json uvm_libarchive)
# The snapshot state-file parser: pure code, without the KVM side of uvm_snapshot.
uvm_fuzz_twin(uvm_snapshot SOURCES device_state.cc format.cc state_file.cc vcpu_state.cc
              vm_state.cc LINKS uvm_virtio_fuzz uvm_base uvm_libz)
# The control socket's request parser (uvm boot --api-sock).
uvm_fuzz_twin(uvm_linux_vm SOURCES control_socket.cc LINKS uvm_base)
uvm_fuzz_twin(uvm_agent_protocol LINKS uvm_base nlohmann_json::nlohmann_json)
# The OCI runtime's parsers of what engines hand it: its command line, the bundle's config.json
# (and its rewrite for a VM), and the state record it reads back.
uvm_fuzz_twin(uvm_oci SOURCES bundle_isolation.cc hooks.cc runtime_args.cc vm_bundle.cc vm_state.cc
              LINKS uvm_base_fuzz uvm_base uvm_agent_protocol_fuzz nlohmann_json::nlohmann_json)
# The VM pool's request and reply parsers (uvm pool's socket).
uvm_fuzz_twin(uvm_runtime SOURCES pool/protocol.cc template_shape.cc paths.cc
              LINKS uvm_base_fuzz uvm_base nlohmann_json::nlohmann_json)

uvm_fuzz_target(boot_kernel_fuzz LIBS uvm_boot_fuzz)
uvm_fuzz_target(virtio_chain_fuzz LIBS uvm_virtio_fuzz)
uvm_fuzz_target(virtio_mmio_fuzz LIBS uvm_virtio_fuzz)
uvm_fuzz_target(block_request_fuzz LIBS uvm_virtio_block_fuzz)
uvm_fuzz_target(vsock_packet_fuzz LIBS uvm_virtio_vsock_fuzz)
uvm_fuzz_target(net_tx_fuzz LIBS uvm_virtio_net_fuzz)
uvm_fuzz_target(fs_request_fuzz LIBS uvm_virtio_fs_fuzz)
uvm_fuzz_target(store_json_fuzz LIBS uvm_store_fuzz)
uvm_fuzz_target(store_layer_fuzz LIBS uvm_store_fuzz)
uvm_fuzz_target(snapshot_state_fuzz LIBS uvm_snapshot_fuzz)
uvm_fuzz_target(agent_frame_fuzz LIBS uvm_agent_protocol_fuzz)
uvm_fuzz_target(control_request_fuzz LIBS uvm_linux_vm_fuzz)
uvm_fuzz_target(pool_request_fuzz LIBS uvm_runtime_fuzz)
uvm_fuzz_target(oci_config_fuzz LIBS uvm_oci_fuzz)
