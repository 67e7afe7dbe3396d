#!/usr/bin/env bash
# Runs every test tier and prints one line per tier, then "N passed, M failed". A tier that did not
# run (no tests found, or tests skipped because the environment could not run them) fails the run:
# it is reported as not run, never as passed.
#
# usage: tests/run-tiers.sh BUILD_DIR [-- PREPARE...]
#
# The tiers that run in the lab (the lab's own tier, and e2e where this host's KVM cannot run
# Linux) start first, in the background, each in a lab boot of its own: each keeps one emulated
# CPU busy. Meanwhile the host tiers run: unit and kvm, then PREPARE (the sanitizer and fuzz
# builds, from `make test`), then unit-asan-ubsan and fuzz from BUILD_DIR-asan and BUILD_DIR-fuzz
# if they exist, each with as many tests at a time as there are CPUs. Background tiers stream
# their output with a [tier] prefix.
set -uo pipefail
build=${1:-build}
shift || true
prepare=()
if [ "${1:-}" = "--" ]; then
  shift
  prepare=("$@")
fi
uvm="$build/uvm"
work=$(mktemp -d /tmp/uvm-tiers-XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$SECONDS

# ctest_tier LOG DIR LABEL JOBS [runner...]: ctest for one label, JOBS tests at a time (optionally
# through a runner), its output in LOG. The lab itself (L1, not a test) has wedged in long e2e tiers: QEMU idle, L1
# halted with no interrupt coming, ctest's own timeouts never firing. The lab's stall watchdog
# (or, failing that, its --timeout) ends such a run; the tier then runs once more and says so. A
# test that fails is never retried: only a run with no ctest summary and a lab-level failure line.
ctest_tier() {
  local log=$1 dir=$2 label=$3 jobs=$4
  shift 4
  "$@" ctest --test-dir "$dir" -L "^${label}\$" -j "$jobs" --output-on-failure --timeout 600 2>&1 |
    tee "$log"
  if [ -n "${RETRY_WEDGED_LAB:-}" ] && ! grep -qE '[0-9]+% tests passed' "$log" &&
    grep -qE '^uvm: lab: (the command did not finish|L1 ended without|L1 stalled)' "$log"; then
    echo "=== the lab ended without a result (above); running the tier once more"
    echo retried >"$log.retried"
    "$@" ctest --test-dir "$dir" -L "^${label}\$" -j "$jobs" --output-on-failure --timeout 600 \
      2>&1 | tee "$log"
  fi
}

# count_ctest LOG: "total failed skipped" from ctest's summary, or nothing without one.
count_ctest() {
  local line total fail skipped
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n1)
  [ -n "$line" ] || return 0
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  fail=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  # Skipped tests are listed under "The following tests did not run" and are not in the failed
  # count; tests ctest could not start ("Not Run": no executable) are failures already.
  skipped=$(grep -cE '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$1")
  echo "$total $fail $skipped"
}

# count_gtest_xml DIR: "total failed skipped" summed over the gtest XML reports in DIR (one per
# suite, see uvm_suite_tests in CMakeLists.txt), or nothing without any.
count_gtest_xml() {
  local total=0 fail=0 skipped=0 any="" attrs
  for xml in "$1"/*.xml; do
    [ -f "$xml" ] || continue
    any=1
    while read -r attrs; do
      total=$((total + $(sed -nE 's/.* tests="([0-9]+)".*/\1/p' <<<"$attrs")))
      fail=$((fail + $(sed -nE 's/.* failures="([0-9]+)".*/\1/p' <<<"$attrs") +
        $(sed -nE 's/.* errors="([0-9]+)".*/\1/p' <<<"$attrs")))
      skipped=$((skipped + $(sed -nE 's/.* skipped="([0-9]+)".*/\1/p' <<<"$attrs")))
    done < <(grep -o '<testsuite [^>]*' "$xml")
  done
  [ -n "$any" ] && echo "$total $fail $skipped"
}

# list_failures LOG DIR: the failed tests, a line each with the start of gtest's message (from the
# XML reports in DIR), then ctest's list of failed tests, so that a summary seen without the
# streamed output still names what failed.
list_failures() {
  local xml
  for xml in "$2"/*.xml; do
    [ -f "$xml" ] || continue
    awk '/<testcase /{match($0, / name="[^"]*"/); n=substr($0, RSTART+7, RLENGTH-8);
                      match($0, / classname="[^"]*"/); c=substr($0, RSTART+12, RLENGTH-13)}
         /<failure message="/{match($0, /message="[^"]*"/); m=substr($0, RSTART+9, RLENGTH-10);
                              gsub(/&#x0A;/, " | ", m); gsub(/&quot;/, "\"", m);
                              gsub(/&lt;/, "<", m); gsub(/&gt;/, ">", m); gsub(/&amp;/, "\\&", m);
                              print "  " c "." n ": " substr(m, 1, 400)}' "$xml"
  done
  sed -n '/The following tests FAILED:/,/^Errors while running CTest/p' "$1" | grep -E '^[[:space:]]+[0-9]+ - ' |
    sed 's/^[[:space:]]*/  ctest: /'
}

# run_tier NAME DIR LABEL JOBS [runner...]: runs the tier and writes its one-line result to
# $work/NAME.result as "passed failed summary".
run_tier() {
  local name=$1 dir=$2 label=$3 jobs=$4
  shift 4
  local log="$work/$name.log" results="$dir/gtest-results/$label"
  rm -rf "$results"
  local t0=$SECONDS
  ctest_tier "$log" "$dir" "$label" "$jobs" "$@"
  local counts suites xml total fail skipped
  counts=$(count_ctest "$log")
  if [ -z "$counts" ] || [ "${counts%% *}" -eq 0 ]; then
    echo "0 1 $name: NOT RUN (no test result)" >"$work/$name.result"
    return
  fi
  read -r total fail skipped <<<"$counts"
  # Suites run as one ctest test each: count their tests from the reports. A suite that failed
  # without a failing test in its report (it crashed or hung) counts as one failure more.
  if xml=$(count_gtest_xml "$results") && [ -n "$xml" ]; then
    suites=$fail
    read -r total fail skipped <<<"$xml"
    [ "$suites" -gt "$fail" ] && fail=$suites
  fi
  [ "$fail" -gt 0 ] && list_failures "$log" "$results" >"$work/$name.failures"
  local ok=$((total - fail - skipped)) took=$((SECONDS - t0)) line
  line="$name: $ok passed, $fail failed"
  [ "$skipped" -gt 0 ] && line="$line, $skipped NOT RUN (skipped)"
  [ -f "$log.retried" ] && line="$line (retried after the lab wedged)"
  echo "$ok $((fail + skipped)) $line, ${took} s" >"$work/$name.result"
}

# The e2e tier in the lab, retried once if the lab itself wedged (ctest_tier).
run_tier_in_lab() { RETRY_WEDGED_LAB=1 run_tier "$@"; }

# In the background, each streaming its output with a [name] prefix.
background() {
  local name=$1
  shift
  ("$@" 2>&1 | sed -u "s/^/[$name] /") &
  pids+=($!)
}

echo "=== lab-hosted tiers start in the background"
pids=()
background lab run_tier lab "$build" lab 1
e2e=e2e
if [ "$("$uvm" doctor --verdict)" = direct ]; then
  background e2e run_tier e2e "$build" e2e 1
else
  e2e=e2e-in-lab
  background e2e-in-lab run_tier_in_lab e2e-in-lab "$build" e2e 1 "$uvm" lab --timeout 1500 --
fi

# host_tier NAME DIR LABEL: a tier on this host, as many tests at a time as there are CPUs.
host_tier() {
  [ -d "$2" ] || return 0
  echo "=== tier $1 ($3 in $2, $(nproc) at a time)"
  run_tier "$1" "$2" "$3" "$(nproc)"
}

host_tier unit "$build" unit
host_tier kvm "$build" kvm
prepared=0
if [ "${#prepare[@]}" -gt 0 ]; then
  echo "=== preparing: ${prepare[*]}"
  "${prepare[@]}" || prepared=$?
fi
host_tier unit-asan-ubsan "$build-asan" unit
host_tier fuzz "$build-fuzz" fuzz
echo "=== waiting for the lab-hosted tiers"
wait "${pids[@]}"

echo
echo "=== summary ($((SECONDS - start)) s)"
passed=0 failed=0
[ "$prepared" -ne 0 ] && echo "preparing (${prepare[*]}) failed: status $prepared" && failed=1
expected=(unit kvm lab "$e2e")
[ -d "$build-asan" ] && expected+=(unit-asan-ubsan)
[ -d "$build-fuzz" ] && expected+=(fuzz)
for name in unit unit-asan-ubsan kvm lab "$e2e" fuzz; do
  if [ ! -f "$work/$name.result" ]; then
    if [[ " ${expected[*]} " == *" $name "* ]]; then
      echo "$name: NOT RUN (the tier ended without a result)"
      failed=$((failed + 1))
    fi
    continue
  fi
  read -r ok bad line <"$work/$name.result"
  echo "$line"
  passed=$((passed + ok))
  failed=$((failed + bad))
done
for name in unit unit-asan-ubsan kvm lab "$e2e" fuzz; do
  [ -s "$work/$name.failures" ] || continue
  echo "=== $name: what failed"
  cat "$work/$name.failures"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
