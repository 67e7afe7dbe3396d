#include "bench/exec.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>

#include "bench/util.h"

namespace uvm::bench {
namespace {

TEST(CheckExecRun, AcceptsExitZeroWithTheExpectedOutput) {
  EXPECT_TRUE(CheckExecRun("echo", W_EXITCODE(0, 0), "hi\n", "hi\n"));
  EXPECT_TRUE(CheckExecRun("true", W_EXITCODE(0, 0), "", ""));
}

TEST(CheckExecRun, RejectsANonZeroExit) {
  auto r = CheckExecRun("`uvm run busybox true`", W_EXITCODE(125, 0), "", "");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("`uvm run busybox true` exited 125"), std::string::npos)
      << r.error().message;
}

TEST(CheckExecRun, RejectsDeathBySignal) {
  auto r = CheckExecRun("echo", W_EXITCODE(0, SIGKILL), "hi\n", "hi\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("killed by signal 9"), std::string::npos) << r.error().message;
}

TEST(CheckExecRun, RejectsOtherOutputAndQuotesIt) {
  auto r = CheckExecRun("echo", W_EXITCODE(0, 0), "hi\r\nmore\n", "hi\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(R"(printed "hi\r\nmore\n" (expected "hi\n"))"),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(CheckExecRun("true", W_EXITCODE(0, 0), "x", ""));
  EXPECT_FALSE(CheckExecRun("echo", W_EXITCODE(0, 0), "", "hi\n"));
}

TEST(Percentile, NearestRankOfTheSortedValues) {
  const std::vector<double> v = {10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
  EXPECT_EQ(Percentile(v, 0), 1);
  EXPECT_EQ(Percentile(v, 1), 10);
  EXPECT_EQ(Percentile(v, 0.9), 9);  // rank round(0.9 * 9) = 8
  EXPECT_EQ(Percentile({42}, 0.9), 42);
  EXPECT_EQ(Median(v), 5.5);
  EXPECT_EQ(Median({3, 1, 2}), 2);
}

// The marker is found even when it arrives in pieces (the sleeps make separate reads likely; the
// expectations hold either way).
TEST(TimeRun, RecordsOutputFirstByteMarkerAndExit) {
  auto r =
      TimeRun({"/bin/sh", "-c",
               "printf 'boot log\\n'; sleep 0.05; printf 'text MAR'; sleep 0.05; printf 'KER\\n'"},
              "MARKER");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0);
  EXPECT_EQ(r->output, "boot log\ntext MARKER\n");
  EXPECT_GE(r->first_byte_ms, 0);
  EXPECT_GE(r->marker_ms, r->first_byte_ms);
  EXPECT_GE(r->exit_ms, r->marker_ms);
}

TEST(TimeRun, WhatNeverHappenedIsMinusOne) {
  auto r = TimeRun({"/bin/sh", "-c", "printf MARKE; exit 3"}, "MARKER");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(WEXITSTATUS(r->status), 3);
  EXPECT_EQ(r->marker_ms, -1);
  auto quiet = TimeRun({"/bin/true"});
  ASSERT_TRUE(quiet) << quiet.error().message;
  EXPECT_EQ(quiet->first_byte_ms, -1);
  EXPECT_EQ(quiet->output, "");
}

}  // namespace
}  // namespace uvm::bench
