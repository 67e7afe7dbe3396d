// The anchor of the precompiled header every test target reuses (CMakeLists.txt, uvm_test_pch).
