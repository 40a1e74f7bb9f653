#!/usr/bin/env bash
# --memory SIZE: each job under a limit of its own (cgroup v2 or RLIMIT_AS);
# a job that runs out of it is said so on stderr, in the job log's Memory
# column (":oom") and in results.csv (mem_limit, oom). --retry-memory F runs
# such a job again at once with F times the limit, while that is under the
# machine's memory, not counted by --retries.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
if ! command -v python3 >/dev/null 2>&1; then
  echo "# $TEST_NAME: skipped: no python3 to allocate memory with"
  exit 0
fi
MIB=$((1 << 20))

# eat.py N: notes that it ran (in ran), then fills N MiB (every page
# touched: a cgroup charges only what is touched).
cat >eat.py <<'EOF'
import sys
with open("ran", "a") as f:
    f.write(sys.argv[1] + "\n")
b = b"x" * (int(sys.argv[1]) << 20)
EOF

# joblog_field FILE SEQ COLUMN: the field of the job line SEQ under the
# header's COLUMN (so that it holds with or without the Memory column).
joblog_field() {
  awk -F'\t' -v seq="$2" -v col="$3" '
    NR == 1 { for (i = 1; i <= NF; i++) idx[$i] = i; next }
    $1 == seq { print $(idx[col]) }' "$1"
}

# --- usage ----------------------------------------------------------------
run_parc --retry-memory 2 echo ::: 1
check_rc "--retry-memory without --memory is bad usage" 255
check_contains "--retry-memory without --memory: says why" "--retry-memory needs --memory" "$ERR"
run_parc --memory 0 echo ::: 1
check_rc "--memory 0 is bad usage" 255
check_contains "--memory 0: says why" "bad --memory '0'" "$ERR"
run_parc --memory 100M --retry-memory 1 echo ::: 1
check_rc "--retry-memory 1 is bad usage" 255

# --- which mechanism (-t says) ------------------------------------------
run_parc -t --memory 100M echo hi ::: 1
check_rc "a job well under its limit succeeds" 0
check_eq "a job under --memory: its output" "hi 1" "$OUT"
check_contains "-t names the mechanism" "parc run: --memory: " "$ERR"
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]; then
  check_contains "no cgroup v2 at /sys/fs/cgroup: RLIMIT_AS" "(RLIMIT_AS; no cgroup: /sys/fs/cgroup is not cgroup v2)" "$ERR"
fi
case "$ERR" in *RLIMIT_AS*) MECH=rlimit ;; *) MECH=cgroup ;; esac
run_parc --memory 100M echo hi ::: 1
check_not_contains "without -t the mechanism is not named" "parc run: --memory" "$ERR"

# --- a job over its limit -----------------------------------------------
rm -f ran
run_parc --memory 100M --joblog jl1 --results R1 -j2 python3 eat.py ::: 300 10
check_rc "one of two jobs ran out of memory: one failed" 1
check_contains "stderr: the job that ran out, and its limit" \
  "parc run: job 1 ran out of memory (limit 100M)" "$ERR"
check_not_contains "stderr: the job under its limit is not said to" "job 2 ran out" "$ERR"
check_eq "without --retry-memory the job ran once" 1 "$(grep -c '^300$' ran)"
check_eq "job log header: Memory between Signal and Command" \
  "Seq Host Starttime JobRuntime Send Receive Exitval Signal Memory Command" \
  "$(head -n 1 jl1 | tr '\t' ' ')"
check_eq "job log: the job that ran out: its limit and :oom" "$((100 * MIB)):oom" \
  "$(joblog_field jl1 1 Memory)"
check_eq "job log: the job under its limit: its limit alone" "$((100 * MIB))" \
  "$(joblog_field jl1 2 Memory)"
check_eq "job log: Command still last" "python3 eat.py 300" "$(joblog_field jl1 1 Command)"
check_ne "job log: the job that ran out failed" 0 \
  "$(joblog_field jl1 1 Exitval)$(joblog_field jl1 1 Signal | sed 's/^0$//')"
check_eq "results.csv: mem_limit" "$((100 * MIB))" "$(csv_field R1/results.csv job 1 mem_limit)"
check_eq "results.csv: oom of the job that ran out" 1 "$(csv_field R1/results.csv job 1 oom)"
check_eq "results.csv: oom of the job under its limit" 0 "$(csv_field R1/results.csv job 2 oom)"
check_eq "results.csv: the job under its limit succeeded" 0 "$(csv_field R1/results.csv job 2 exit)"

# A failure of another kind is no memory's: not retried larger, no :oom.
run_parc --memory 100M --retry-memory 4 --joblog jl2 --shell 'echo x >> f{}; exit 3' ::: 1
check_rc "a job failing by itself under --memory fails" 1
check_eq "--retry-memory does not retry a failure that is not memory's" 1 "$(count_lines f1)"
check_eq "job log: no :oom for it" "$((100 * MIB))" "$(joblog_field jl2 1 Memory)"
check_not_contains "stderr: no out-of-memory line for it" "ran out of memory" "$ERR"

# --- --retry-memory -------------------------------------------------------
# -j1: one lane, so job 2 runs where job 1 ran with the larger limit; it
# must start again from --memory's.
rm -f ran
run_parc --memory 100M --retry-memory 4 -j1 --joblog jl3 --results R3 \
  python3 eat.py ::: 300 150 10
check_rc "--retry-memory 4: every job succeeds in the end" 0
check_contains "stderr: job 1's retry and its new limit" \
  "parc run: job 1 ran out of memory (limit 100M); again with 400M" "$ERR"
check_contains "the next job on the lane starts again at --memory's limit" \
  "parc run: job 2 ran out of memory (limit 100M); again with 400M" "$ERR"
check_eq "stderr: one line per retry" 2 "$(grep -c 'ran out of memory' "$ERR_FILE")"
check_eq "job 1 ran twice" 2 "$(grep -c '^300$' ran)"
check_eq "job 3 (10 MiB) ran once" 1 "$(grep -c '^10$' ran)"
check_eq "job log: the logged attempt's larger limit" "$((400 * MIB))" "$(joblog_field jl3 1 Memory)"
check_eq "job log: the attempt that succeeded" 0 "$(joblog_field jl3 1 Exitval)"
check_eq "job log: job 3's limit is --memory's" "$((100 * MIB))" "$(joblog_field jl3 3 Memory)"
check_eq "job log: one line per job" 4 "$(count_lines jl3)"
check_eq "results.csv: the larger limit" "$((400 * MIB))" "$(csv_field R3/results.csv job 1 mem_limit)"
check_eq "results.csv: the attempt that counts did not run out" 0 "$(csv_field R3/results.csv job 1 oom)"

# --retries does not count the memory retries, nor they it.
rm -f ran
run_parc --memory 100M --retry-memory 4 --retries 1 -j1 python3 eat.py ::: 300
check_rc "--retries 1 leaves --retry-memory its retry" 0
check_eq "--retries 1: the memory retry ran" 2 "$(grep -c '^300$' ran)"

if [ "$MECH" = rlimit ]; then
  # More than the machine has: larger and larger, the last attempt at
  # MemTotal, then it fails.
  total=$(awk '/^MemTotal:/ { printf "%.0f\n", $2 * 1024 }' /proc/meminfo)
  rm -f ran
  run_parc --memory 100M --retry-memory 100 -j1 --joblog jl4 python3 eat.py ::: 100000000
  check_rc "a job that needs more than the machine fails" 1
  check_eq "its last attempt ran at the machine's memory, and ran out" "$total:oom" \
    "$(joblog_field jl4 1 Memory)"
  check_match "stderr: the last attempt's line says no more" \
    "^parc run: job 1 ran out of memory \(limit [0-9]+[KMG]?\)$" "$ERR"
  check_eq "attempts: 100M, then up to MemTotal" "$(grep -c 'again with' "$ERR_FILE")" \
    "$(( $(grep -c . ran) - 1 ))"

  # SIGSEGV counts as running out under RLIMIT_AS (a failed mmap).
  run_parc --memory 100M --joblog jl5 --shell 'kill -SEGV $$' ::: 1
  check_eq "RLIMIT_AS: a job killed by SIGSEGV is judged out of memory" \
    "$((100 * MIB)):oom" "$(joblog_field jl5 1 Memory)"
fi

# --- resume ---------------------------------------------------------------
# The log of a --memory run: Command is found by the header, so the jobs it
# has are done, and the one that ran out runs again with --resume-failed.
rm -f ran
run_parc --memory 100M --joblog jl6 --results R6 python3 eat.py ::: 300 10
check_rc "resume: the first run has one job that ran out" 1
rm -f ran
run_parc --resume --memory 100M --joblog jl6 --results R6 python3 eat.py ::: 300 10 20
check_rc "--resume of a --memory log" 0
check_eq "--resume: only the new job ran" "20" "$(cat ran)"
check_eq "--resume: the log has each job once" 4 "$(count_lines jl6)"
rm -f ran
run_parc --resume-failed --memory 100M --retry-memory 4 --joblog jl6 --results R6 \
  python3 eat.py ::: 300 10 20
check_rc "--resume-failed of a --memory log" 0
check_eq "--resume-failed: only the job that ran out ran (twice)" "300 300" \
  "$(tr '\n' ' ' < ran | sed 's/ $//')"
check_eq "--resume-failed: its new line has the larger limit" "$((400 * MIB))" \
  "$(joblog_field jl6 1 Memory | tail -n 1)"
# Logged jobs whose results are gone run again, and the repair drops their
# old lines (it finds their Command by the header too).
rm -rf R6 ran
run_parc --resume --memory 100M --retry-memory 4 --joblog jl6 --results R6 \
  python3 eat.py ::: 300 10 20
check_rc "--resume with the results gone" 0
check_eq "--resume with the results gone: every job ran again" "10 20 300" \
  "$(sort -n ran | uniq | tr '\n' ' ' | sed 's/ $//')"
check_eq "--resume: the repair left one line per job" 4 "$(count_lines jl6)"

# --retry-failed reads the commands of such a log.
run_parc --memory 100M --joblog jl7 python3 eat.py ::: 300 10
rm -f ran
run_parc --retry-failed --memory 400M --joblog jl7
check_rc "--retry-failed of a --memory log" 0
check_eq "--retry-failed: the failed job's command ran" "300" "$(cat ran)"

# A log without Memory keeps its columns when a --memory run resumes it;
# and one with Memory when a run without --memory does.
run_parc --joblog jl8 echo ::: a
run_parc --resume --memory 100M --joblog jl8 echo ::: a b
check_eq "a GNU log resumed with --memory: its header stands" \
  "Seq Host Starttime JobRuntime Send Receive Exitval Signal Command" \
  "$(head -n 1 jl8 | tr '\t' ' ')"
check_eq "a GNU log resumed with --memory: new lines as its header" "echo b" \
  "$(joblog_field jl8 2 Command)"
run_parc --memory 100M --joblog jl9 echo ::: a
run_parc --resume --joblog jl9 echo ::: a b
check_eq "a --memory log resumed without it: Memory 0 (none)" 0 "$(joblog_field jl9 2 Memory)"
check_eq "a --memory log resumed without it: Command in place" "echo b" "$(joblog_field jl9 2 Command)"

# Without --memory nothing changes: GNU's columns.
run_parc --joblog jl10 --results R10 echo ::: a
check_eq "without --memory: GNU's job log header" \
  "Seq Host Starttime JobRuntime Send Receive Exitval Signal Command" \
  "$(head -n 1 jl10 | tr '\t' ' ')"
check_not_contains "without --memory: no mem_limit in results.csv" mem_limit "$(csv_header R10/results.csv)"

done_testing
