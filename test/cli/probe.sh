#!/usr/bin/env bash
# parc probe: --quick --json parses, its topology agrees with sysfs (cores,
# hardware threads, L1d and L2 sizes), every latency row is there with a
# positive figure and the published one beside it, bad usage exits 2 with
# one line, and the temporary file of the file rows is never left behind
# (after a run, or after SIGINT during it). How long --quick takes is a
# speed, not a behaviour: a loaded machine stretches it, so no test times it.
. "$(dirname "$0")/lib.sh"

mkdir "$T/dir" || exit 1
D=$(cd "$T/dir" && pwd -P) # as /proc/PID/fd shows it

# run_probe ARGS...: `parc probe ARGS`, like run_parc.
run_probe() {
  OUT_FILE=$T/.parc.out
  ERR_FILE=$T/.parc.err
  timeout -k 5 "$PARC_TEST_LIMIT" "$PARC" probe "$@" \
    </dev/null >"$OUT_FILE" 2>"$ERR_FILE"
  RC=$?
  OUT=$(cat "$OUT_FILE")
  ERR=$(cat "$ERR_FILE")
  if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
    fail "parc probe $* did not end within ${PARC_TEST_LIMIT}s"
  fi
}

# ---------------------------------------------------------------- expected

# CPUs this test may see: online ones, within a cgroup cpuset if any.
expand_list() { # "0-3,8" -> one number per line
  tr ',' '\n' <<<"$1" | awk -F- 'NF { for (i = $1; i <= ($2 == "" ? $1 : $2); i++) print i }'
}
cpus=$(expand_list "$(cat /sys/devices/system/cpu/online)")
for f in /sys/fs/cgroup/cpuset.cpus.effective; do
  if [ -r "$f" ] && [ -n "$(cat "$f")" ]; then
    cpus=$(comm -12 <(sort <<<"$cpus") <(expand_list "$(cat "$f")" | sort) | sort -n)
  fi
done
want_pus=$(wc -l <<<"$cpus" | tr -d ' ')
want_cores=$(for c in $cpus; do
  d=/sys/devices/system/cpu/cpu$c/topology
  cat "$d/core_cpus_list" 2>/dev/null || cat "$d/thread_siblings_list"
done | sort -u | wc -l | tr -d ' ')

# size_of LEVEL TYPE: cpu0's cache of that level and type, in bytes.
size_of() {
  local i
  for i in /sys/devices/system/cpu/cpu0/cache/index*; do
    if [ "$(cat "$i/level")" = "$1" ] && [ "$(cat "$i/type")" = "$2" ]; then
      awk '{ n = $1 + 0; u = substr($1, length(n "") + 1)
             if (u == "K") n *= 1024; else if (u == "M") n *= 1048576
             print n }' "$i/size"
      return
    fi
  done
}
want_l1d=$(size_of 1 Data)
want_l2=$(size_of 2 Unified)
has_l3=$(ls -d /sys/devices/system/cpu/cpu0/cache/index* 2>/dev/null |
  while read -r i; do cat "$i/level"; done | grep -c '^3$')

# ---------------------------------------------------------------- --quick --json

run_probe --quick --json --dir "$D"
check_rc "probe --quick --json" 0
check_true "the output is JSON" python3 -m json.tool "$OUT_FILE" /dev/null
check_eq "no temporary file left in --dir" "" "$(ls -A "$D")"

# facts KEY: one line of what the JSON says, flattened by python.
python3 - "$OUT_FILE" >"$T/facts" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
t = d["topology"]
print("cores", t["cores"])
print("pus", t["pus"])
print("packages", t["packages"])
for c in t["caches"]:
    print("cache", c["name"], c["size_bytes"])
for r in d["rows"]:
    m, p, q = r["measured_ns"], r["published_ns"], r["ratio"]
    ratio_ok = (q is None) if (p is None or m is None) else abs(q - m / p) <= 1e-3 * q
    print("row", r["key"], r["status"],
          "positive" if isinstance(m, (int, float)) and m > 0 else "not-positive",
          "-" if p is None else ("%d" % p if p == int(p) else "%g" % p), "ratio-ok" if ratio_ok else "ratio-bad",
          "noted" if r["note"] else "no-note")
print("method", d["method"]["statistic"], d["method"]["min_samples"])
ns = {r["key"]: r["measured_ns"] for r in d["rows"]}
print("staircase", "ok" if ns["l1"] < ns["l2"] < ns["memory"] else
      "broken %s %s %s" % (ns["l1"], ns["l2"], ns["memory"]))
EOF
check_eq "facts extracted" 0 $?
fact() { grep -E "^$1( |$)" "$T/facts" | head -n 1 | sed -e "s/^$1 *//"; }

check_eq "cores = sysfs's cores" "$want_cores" "$(fact cores)"
check_eq "hardware threads = sysfs's online CPUs" "$want_pus" "$(fact pus)"
check_true "at least one package" test "$(fact packages)" -ge 1
check_match "L1d size = sysfs's cpu0 L1d ($want_l1d)" "^cache L1d $want_l1d\$" \
  "$(grep '^cache ' "$T/facts")"
check_match "L2 size = sysfs's cpu0 L2 ($want_l2)" "^cache L2 $want_l2\$" \
  "$(grep '^cache ' "$T/facts")"
check_eq "method: median" "median 5" "$(fact method)"
check_eq "L1 < L2 < main memory" "ok" "$(fact staircase)"

# row KEY PUBLISHED: present, measured and positive, published figure, ratio.
row() {
  local got
  got=$(fact "row $1")
  check_eq "row $1" "ok positive $2 ratio-ok noted" "$got"
}
row l1 0.5
row l2 7
if [ "$has_l3" -gt 0 ]; then row l3 -; fi
row memory 100
row mutex 25
row compress_1k 3000
row thread -
row fork -
row spawn -
row context_switch 3000
if [ "$want_cores" -ge 2 ]; then
  row cacheline -
else
  check_match "cacheline skipped on one core" '^skipped' "$(fact 'row cacheline')"
fi
row memory_read_1m 250000
row file_read_4k 150000
row file_read_1m 1000000
row tcp_loopback 500000
check_eq "15 rows" 15 "$(grep -c '^row ' "$T/facts")"

# ---------------------------------------------------------------- the table

run_probe --quick --dir "$D"
check_rc "probe --quick" 0
for name in "L1 cache reference" "Main memory reference" \
  "Compress 1 KiB with snappy" "Context switch (pipe ping-pong)" \
  "Read 4 KiB at random, file" "Loopback TCP round trip"; do
  check_match "the table has '$name'" "^$(sed 's/[()+]/\\&/g' <<<"$name") " "$OUT"
done
check_match "the table says how it timed" '^Method: .*CLOCK_MONOTONIC' "$OUT"
check_match "the topology names the L3's sharers or the caches" '^    L1d ' "$OUT"
check_eq "--dir is empty after the table run" "" "$(ls -A "$D")"

# ---------------------------------------------------------------- usage

usage_error() { # DESCRIPTION REGEX ARGS...
  local desc=$1 re=$2
  shift 2
  run_probe "$@"
  check_rc "$desc" 2
  check_eq "$desc: nothing on stdout" "" "$OUT"
  check_eq "$desc: one line on stderr" 1 "$(count_lines "$ERR_FILE")"
  check_match "$desc: stderr names the problem" "$re" "$ERR"
  check_eq "$desc: nothing written to --dir" "" "$(ls -A "$D")"
}
usage_error "unknown option" "--frobnicate" --quick --frobnicate --dir "$D"
usage_error "a stray argument" "stray" --quick stray --dir "$D"
usage_error "--dir without a value" "--dir" --quick --dir
usage_error "--dir that is not a directory" "no-such-dir" --quick \
  --dir "$T/no-such-dir"

run_probe --help
check_rc "--help" 0
check_match "--help shows the usage" '^usage: parc probe' "$OUT"

# ---------------------------------------------------------------- SIGINT

# Stop parc probe with SIGINT while it holds its file open (seen in
# /proc/PID/fd), then nothing may be left in --dir. If the run ends between
# the look and the signal (rc 0), try again.
has_file_open() {
  ls -l /proc/"$1"/fd 2>/dev/null | grep -F -- " $D/" >/dev/null
}
open_or_gone() { has_file_open "$1" || gone "$1"; }
OUT_FILE=$T/.parc.out
ERR_FILE=$T/.parc.err
for attempt in 1 2 3 4 5; do
  set -m
  "$PARC" probe --quick --dir "$D" </dev/null >"$OUT_FILE" 2>"$ERR_FILE" &
  pid=$!
  set +m
  BG_PIDS+=("$pid")
  wait_for 60 open_or_gone "$pid" || fail "parc probe hung before its file rows"
  has_file_open "$pid" || { wait "$pid"; fail "parc probe never had a file open in $D (rc $?)"; }
  kill -INT "$pid"
  wait "$pid"
  RC=$?
  [ "$RC" -ne 0 ] && break
done
check_rc "SIGINT while the file is open ends parc probe" 130
check_eq "--dir is empty after SIGINT" "" "$(ls -A "$D")"

done_testing
