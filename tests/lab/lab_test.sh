#!/usr/bin/env bash
# End-to-end checks of the lab: runs commands through RUNNER (anything that
# takes `RUNNER CMD ARG...` like `uvm lab`) and checks what comes back. Each check boots the lab once.
# usage: lab_test.sh UVM RUNNER [ARG...]      (e.g. lab_test.sh build/uvm build/uvm lab --)
set -u
[ $# -ge 2 ] || { echo "usage: $0 UVM RUNNER [ARG...]" >&2; exit 2; }
uvm=$1
shift
runner=("$@")
tmp=$(mktemp -d /tmp/uvm-lab-test-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

check() {
  local name=$1 start=$SECONDS
  shift
  if "$@"; then
    echo "PASS $name ($((SECONDS - start)) s)"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    failed=$((failed + 1))
  fi
}
lab() { "${runner[@]}" "$@"; }
expect_eq() {  # expect_eq WHAT GOT WANT
  [ "$2" == "$3" ] && return 0
  echo "  $1: got '$2', want '$3'"
  return 1
}

exit_code() {
  lab sh -c 'exit 3'
  expect_eq "exit code" $? 3
}
signal_status() {
  lab sh -c 'kill -9 $$'
  expect_eq "status of a command killed by SIGKILL" $? 137
}
stdout_stderr_separate() {
  lab sh -c 'echo out; echo err >&2' >"$tmp/out" 2>"$tmp/err" &&
    expect_eq stdout "$(cat "$tmp/out")" out && expect_eq stderr "$(cat "$tmp/err")" err
}
stdin_passes() {
  expect_eq stdin "$(printf abc | lab cat)" abc
}
stdin_null_is_eof() {
  expect_eq "stdin from /dev/null" "$(lab cat </dev/null)" "" &&
    expect_eq "closed stdin" "$(lab cat <&-)" ""
}
output_is_complete() {  # more than QEMU and the sockets buffer, so nothing may be dropped at the end
  lab seq 1 300000 >"$tmp/seq" && cmp -s "$tmp/seq" <(seq 1 300000) && return 0
  echo "  output of seq 1 300000 differs: $(wc -c <"$tmp/seq") bytes"
  return 1
}
files_reach_host() {
  mkdir -p "$tmp/cwd" && (cd "$tmp/cwd" && lab sh -c 'echo written-in-lab > result.txt') &&
    expect_eq "file written in the lab's cwd" "$(cat "$tmp/cwd/result.txt" 2>&1)" written-in-lab
}
# uvm's own functional probe inside the lab (tiny guests: CPUID filtering holds, SYSCALL reaches
# ring 0): a Linux guest can run there.
kvm_has_real_semantics() {
  lab test -c /dev/kvm || { echo "  no /dev/kvm inside the lab"; return 1; }
  local out
  out=$(lab "$uvm" doctor 2>&1)
  grep -q 'Verdict: Linux guests can run directly' <<<"$out" && return 0
  echo "  uvm doctor said:" && sed 's/^/    /' <<<"$out"
  return 1
}
not_found_is_127() {
  lab /no/such/command 2>/dev/null
  expect_eq "status of a missing command" $? 127
}
not_executable_is_126() {
  printf 'echo hi\n' >"$tmp/noexec" && chmod 644 "$tmp/noexec"
  lab "$tmp/noexec" 2>/dev/null
  expect_eq "status of a non-executable file" $? 126
}
# The stall watchdog, driven by stopping QEMU (SIGSTOP): to the runner, a stopped QEMU looks like
# a wedged L1 (no CPU used). run_with_qemu_stopped FOR_S OUT ERR CMD...: runs CMD in the lab in the
# background, stops QEMU 8 s in for FOR_S seconds (0: for good), and returns the lab's status.
run_with_qemu_stopped() {
  local for_s=$1 out=$2 err=$3 qemu=""
  shift 3
  "${runner[@]}" "$@" >"$out" 2>"$err" &
  local pid=$!
  sleep 8
  qemu=$(pgrep -P "$pid" qemu-system)
  [ -n "$qemu" ] || { echo "  no QEMU under the runner"; kill "$pid"; wait "$pid"; return 99; }
  kill -STOP "$qemu"
  if [ "$for_s" -gt 0 ]; then sleep "$for_s" && kill -CONT "$qemu"; fi
  wait "$pid"
}
stall_reported_and_revived() {
  run_with_qemu_stopped 28 "$tmp/revived.out" "$tmp/revived.err" sh -c 'sleep 40; echo finished'
  local rc=$?
  expect_eq "status after a 28 s stall" $rc 0 &&
    expect_eq "output after a 28 s stall" "$(cat "$tmp/revived.out")" finished &&
    grep -q 'L1 stalled: QEMU used no CPU' "$tmp/revived.err" && grep -q 'still poking L1' "$tmp/revived.err" &&
    return 0
  sed 's/^/  stderr: /' "$tmp/revived.err" | head -20
  return 1
}
stall_for_good_ends_the_run() {
  run_with_qemu_stopped 0 "$tmp/dead.out" "$tmp/dead.err" sleep 600
  local rc=$?
  [ "$rc" -ne 0 ] && grep -q '^uvm: lab: L1 stalled .* did not recover' "$tmp/dead.err" && return 0
  echo "  status $rc; stderr:" && sed 's/^/  /' "$tmp/dead.err" | tail -20
  return 1
}

# The stall checks mostly wait (QEMU stopped, by the clock): they run beside the others.
check_in_background() {
  (check "$@" >"$tmp/$1.check" 2>&1) &
  background+=($!)
}
background=()
check_in_background stall_reported_and_revived stall_reported_and_revived
check_in_background stall_for_good_ends_the_run stall_for_good_ends_the_run
check exit_code exit_code
check signal_status signal_status
check stdout_stderr_separate stdout_stderr_separate
check stdin_passes stdin_passes
check stdin_null_is_eof stdin_null_is_eof
check output_is_complete output_is_complete
check files_reach_host files_reach_host
check kvm_has_real_semantics kvm_has_real_semantics
check not_found_is_127 not_found_is_127
check not_executable_is_126 not_executable_is_126
wait "${background[@]}"
for name in stall_reported_and_revived stall_for_good_ends_the_run; do
  cat "$tmp/$name.check"
  if grep -q "^PASS $name" "$tmp/$name.check"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
