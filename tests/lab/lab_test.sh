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
# The lab hosts engines as a host does. engine_container STATUS SCRIPT: in one lab boot, imports
# the built-in image into podman (no systemd, so cgroupfs and file events; state on the lab's
# tmpfs; `p` runs podman so) and runs SCRIPT, which starts a container that prints "in-container"
# and its cgroup's memory.max, then exits with STATUS. Only a non-root cgroup has memory.max, so
# the line shows the container got a cgroup of its own, with its 64 MiB limit.
engine_container() {
  local want=$1 script=$2 tar out
  tar=$(dirname "$uvm")/images/busybox-rootfs.tar
  [ -f "$tar" ] || { echo "  $tar missing (make images)"; return 1; }
  out=$(lab sh -c '
    mkdir -p /run/tmp && export TMPDIR=/run/tmp
    p() { podman --root /run/podman/root --runroot /run/podman/run --storage-driver overlay \
      --cgroup-manager cgroupfs --events-backend file --runtime runc "$@"; }
    p import --quiet "$1" localhost/busybox >/dev/null || exit 90
  '"$script" sh "$tar" 2>"$tmp/engine.err")
  local rc=$?
  expect_eq "status of the container" $rc "$want" &&
    expect_eq "what the container printed" "$out" "$(printf 'in-container\n67108864')" &&
    return 0
  sed 's/^/  stderr: /' "$tmp/engine.err" | tail -20
  return 1
}
podman_runs_a_container() {
  engine_container 3 '
    p run --rm --network none --memory 64m localhost/busybox \
      sh -c "echo in-container; cat /sys/fs/cgroup/memory.max; exit 3"'
}
# containerd, started by hand as on a host without systemd (state on the lab's tmpfs), imports
# the image (saved by podman as an OCI archive) and runs it through its runc shim.
containerd_runs_a_container() {
  engine_container 4 '
    p save --quiet --format oci-archive -o /run/tmp/busybox.tar localhost/busybox || exit 91
    mkdir -p /run/ctd
    containerd --root /run/ctd/root --state /run/ctd/state --address /run/ctd/sock \
      >/run/ctd/log 2>&1 &
    for i in $(seq 100); do [ -S /run/ctd/sock ] && break; sleep 0.1; done
    c() { ctr --address /run/ctd/sock --namespace lab "$@"; }
    c image import --base-name localhost/busybox /run/tmp/busybox.tar >/dev/null || exit 92
    # The default spec mounts no cgroup filesystem; the hierarchy is bound in to read the limit.
    c run --rm --memory-limit 67108864 \
      --mount type=bind,src=/sys/fs/cgroup,dst=/sys/fs/cgroup,options=rbind:ro \
      localhost/busybox:latest one sh -c \
      "echo in-container; cat /sys/fs/cgroup\$(cut -d: -f3 /proc/self/cgroup)/memory.max; exit 4"'
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
check podman_runs_a_container podman_runs_a_container
check containerd_runs_a_container containerd_runs_a_container
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
