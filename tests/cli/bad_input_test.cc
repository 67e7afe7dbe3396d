// `uvm boot` with bad input: one clear line on stderr, exit 125, and no guest started. These need
// no Linux-capable KVM: every case is refused before a vCPU runs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "tests/support/process.h"

namespace {

using uvm::testing::ProcessResult;
using uvm::testing::RunProcess;

const std::string kUvm = UVM_BINARY;
const std::string kImages = UVM_IMAGES;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/uvm-badinput-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string File(const std::string& name, const std::string& content, off_t size = -1) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << content;
    if (size >= 0) {
      EXPECT_EQ(truncate(path.c_str(), size), 0);
    }
    return path;
  }
  static void ExpectOneLineError(const ProcessResult& r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 125) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
  std::string dir_;
};

TEST_F(BadInputTest, MissingKernel) {
  ExpectOneLineError(RunProcess({kUvm, "boot", "--kernel", dir_ + "/nope"}), "cannot open");
}

TEST_F(BadInputTest, NotAKernel) {
  std::string junk = File("junk", std::string(8192, 'x'));
  ExpectOneLineError(RunProcess({kUvm, "boot", "--kernel", junk}),
                     "not an ELF vmlinux or a bzImage");
}

TEST_F(BadInputTest, TruncatedKernel) {
  std::ifstream in(kImages + "/bzImage", std::ios::binary);
  std::string head(4096, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  ASSERT_TRUE(in) << "build/images/bzImage missing: run make images";
  ExpectOneLineError(RunProcess({kUvm, "boot", "--kernel", File("trunc", head)}), "kernel");
}

TEST_F(BadInputTest, InitrdThatDoesNotFit) {
  std::string big = File("big.initrd", "", 200 << 20);
  ExpectOneLineError(RunProcess({kUvm, "boot", "--kernel", kImages + "/vmlinux", "--initrd", big,
                                 "--memory", "128"}),
                     "initrd");
}

TEST_F(BadInputTest, MemoryTooSmall) {
  ExpectOneLineError(RunProcess({kUvm, "boot", "--kernel", kImages + "/vmlinux", "--memory", "16"}),
                     "--memory 16");
}

TEST_F(BadInputTest, ZeroCpus) {
  ExpectOneLineError(RunProcess({kUvm, "boot", "--kernel", kImages + "/vmlinux", "--cpus", "0"}),
                     "--cpus 0");
  ExpectOneLineError(RunProcess({kUvm, "boot", "--kernel", kImages + "/vmlinux", "--cpus", "17"}),
                     "--cpus 17");
}

TEST_F(BadInputTest, CommandLineTooLong) {
  ExpectOneLineError(RunProcess({kUvm, "boot", "--kernel", kImages + "/vmlinux", "--cmdline",
                                 std::string(3000, 'a')}),
                     "--cmdline");
}

TEST_F(BadInputTest, AbsentKvmDevice) {
  ExpectOneLineError(RunProcess({"env", "UVM_KVM_DEVICE=" + dir_ + "/kvm", kUvm, "boot", "--kernel",
                                 kImages + "/vmlinux"}),
                     "does not exist");
}

TEST_F(BadInputTest, MissingDisk) {
  ExpectOneLineError(
      RunProcess({kUvm, "boot", "--kernel", kImages + "/vmlinux", "--disk", dir_ + "/nope.img"}),
      "--disk");
}

TEST_F(BadInputTest, BadDiskOption) {
  std::string img = File("d.img", "", 1 << 20);
  ExpectOneLineError(
      RunProcess({kUvm, "boot", "--kernel", kImages + "/vmlinux", "--disk", img + ",bogus"}),
      "--disk");
}

TEST_F(BadInputTest, UnknownFlag) {
  ProcessResult r = RunProcess({kUvm, "boot", "--kernle", "x"});
  EXPECT_EQ(r.exit_code, 125);
}

}  // namespace
