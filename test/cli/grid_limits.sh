#!/usr/bin/env bash
# --grid ranges at the ends of int64: exact values, no overflow, for steps
# of any size and sign. A grid too big to hold is refused at once: one
# line naming the bad part, exit 255 (a usage error), no job, in little
# time and memory (it is counted before any value is made).
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
# A range that overflows used to run until 10^8 values (gigabytes): fail
# on time rather than wait for it.
PARC_TEST_LIMIT=30
MAX=9223372036854775807
MIN=-9223372036854775808

# grid_values SPEC: the values of axis x=SPEC, one per line (--dry-run).
grid_values() {
  run_parc --dry-run --grid "x=$1" echo '{x}'
  [ "$RC" -eq 0 ] || fail "--grid x=$1 failed with exit $RC"
  printf '%s\n' "$OUT" | sed 's/^echo //'
}

check_eq "the last two int64 values" "$(lines $((MAX - 1)) $MAX)" \
  "$(grid_values $((MAX - 1)):$MAX)"
check_eq "counting down from INT64_MAX" "$(lines $MAX $((MAX - 1)))" \
  "$(grid_values $MAX:$((MAX - 1)):-1)"
check_eq "the first two int64 values" "$(lines $MIN $((MIN + 1)))" \
  "$(grid_values $MIN:$((MIN + 1)))"
check_eq "INT64_MIN to INT64_MAX by INT64_MAX" "$(lines $MIN -1 $((MAX - 1)))" \
  "$(grid_values $MIN:$MAX:$MAX)"
check_eq "INT64_MAX down to INT64_MIN by INT64_MIN" "$(lines $MAX -1)" \
  "$(grid_values $MAX:$MIN:$MIN)"
check_eq "0 to INT64_MAX by INT64_MAX" "$(lines 0 $MAX)" "$(grid_values 0:$MAX:$MAX)"
check_eq "a step larger than the range" "-3" "$(grid_values -3:3:$MAX)"
check_eq "a single value with a step of INT64_MIN" "5" "$(grid_values 5:5:$MIN)"

# measure ARGS...: runs `parc run ARGS` (stdin /dev/null); sets RC, ERR,
# ERR_LINES, SECS and RSS_KB (the most memory it held).
measure() {
  ERR_FILE=$T/.parc.err
  read -r RC SECS RSS_KB < <(python3 - "$PARC" run "$@" 2>"$ERR_FILE" <<'EOF'
import resource, subprocess, sys, time
t = time.monotonic()
try:
    rc = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL, timeout=30).returncode
except subprocess.TimeoutExpired:
    rc = 124
print(rc, "%.2f" % (time.monotonic() - t),
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
EOF
  )
  ERR=$(cat "$ERR_FILE")
  ERR_LINES=$(count_lines "$ERR_FILE")
}

# refused DESCRIPTION REGEX ARGS...: refused at once, the line names REGEX.
refused() {
  local desc=$1 re=$2
  shift 2
  rm -rf ran && mkdir ran
  measure "$@"
  check_eq "$desc (exit status)" 255 "$RC"
  check_eq "$desc: one line on stderr" 1 "$ERR_LINES"
  check_match "$desc: the line names the bad part" "$re" "$ERR"
  check_true "$desc: at once (${SECS}s)" awk -v s="$SECS" 'BEGIN { exit !(s < 5) }'
  check_true "$desc: in little memory (${RSS_KB} KiB)" test "$RSS_KB" -lt 100000
  check_eq "$desc: no job ran" "" "$(ls ran)"
}

refused "2*10^8 values" "'0:200000000'" --grid a=0:200000000 touch 'ran/{a}'
refused "2^64 values (the count itself overflows)" "'$MIN:$MAX'" \
  --grid "a=$MIN:$MAX" touch 'ran/{a}'
refused "2^63 values by a negative step" "'$MAX:0:-1'" \
  --grid "a=$MAX:0:-1" touch 'ran/{a}'
refused "a fractional range of 10^300 values" "'0:1:1e-300'" \
  --grid a=0:1:1e-300 touch 'ran/{a}'
refused "a fractional range wider than a double" "'-1e308:1e308'" \
  --grid a=-1e308:1e308 touch 'ran/{a}'
refused "a log range of 10^9 values" "'1\.\.10x1000000000'" \
  --grid a=1..10x1000000000 touch 'ran/{a}'
refused "two items that together make too many" "--grid a.*'0:6000000'" \
  --grid a=0:6000000,0:6000000 touch 'ran/{a}'
refused "axes whose product is too big" "--grid c" \
  --grid a=0:99999 --grid b=0:99 --grid c=0:99 touch 'ran/{a}'
refused "axes and ::: lists whose product is too big" "too many jobs" \
  --grid a=0:99999 --grid b=0:999 touch 'ran/{a}' ::: x y
refused "a step of 0" "'1:5:0'" --grid a=1:5:0 touch 'ran/{a}'
refused "a step away from the end" "'5:1:1'" --grid a=5:1:1 touch 'ran/{a}'

# The bound itself is accepted (parc plan counts the same grid).
run_parc_cmd plan --grid a=1:10000 --grid b=1:10000 --task-time 1 --deadline 1h
check_rc "10^4 x 10^4 = 10^8 jobs is allowed" 0
check_match "10^4 x 10^4 = 10^8 jobs" '^100000000 tasks' "$OUT"

done_testing
