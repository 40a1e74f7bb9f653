#!/usr/bin/env bash
# --retries N runs a failing job up to N times in all, logging the last
# attempt; --timeout stops the whole process group of a job (TERM, --grace,
# KILL), logged with Exitval -1 and the signal, counted as failed.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
mkdir m p

# --- retries -----------------------------------------------------------
run_parc --retries 3 --joblog jl1 --results R1 --shell 'echo x >> m/fail{}; exit 4' ::: 1
check_rc "a job failing every attempt counts once" 1
check_eq "--retries 3: a failing job runs exactly 3 times" 3 "$(count_lines m/fail1)"
check_eq "--retries 3: one joblog line for the job" 2 "$(count_lines jl1)"
check_eq "--retries 3: the last attempt's exit status is logged" 4 \
  "$(awk -F'\t' 'NR == 2 { print $7 }' jl1)"
check_eq "--retries 3: one results.csv row" 2 "$(count_lines R1/results.csv)"

run_parc --retries 3 --joblog jl2 --shell 'echo x >> m/flaky{}; [ $(wc -l < m/flaky{}) -ge 2 ]' ::: 1
check_rc "a job succeeding on its second attempt" 0
check_eq "--retries 3: a job stops being retried once it succeeds" 2 "$(count_lines m/flaky1)"
check_eq "--retries 3: the successful attempt is logged" 0 \
  "$(awk -F'\t' 'NR == 2 { print $7 }' jl2)"
check_eq "--retries 3: one joblog line" 2 "$(count_lines jl2)"

run_parc --retries 3 --shell 'echo x >> m/good{}' ::: 1
check_eq "--retries 3: a good job runs once" 1 "$(count_lines m/good1)"

run_parc --shell 'echo x >> m/once{}; exit 1' ::: 1
check_eq "without --retries a failing job runs once" 1 "$(count_lines m/once1)"

run_parc --retries 2 -j 2 --shell 'echo x >> m/multi{}; exit 1' ::: 1 2 3
check_rc "--retries 2 with three failing jobs" 3
check_eq "--retries 2: each of three jobs ran twice" "2 2 2" \
  "$(for i in 1 2 3; do count_lines m/multi$i; done | tr '\n' ' ' | sed 's/ $//')"

# --- timeout: the whole process group ---------------------------------
# The job starts a background grandchild, then execs a long sleep; parc
# must stop both.
t0=$(date +%s)
run_parc --timeout 1 --joblog jl3 --results R3 --shell \
  'sleep 60 & echo $! > p/grand{}; echo $$ > p/main{}; exec sleep 61' ::: 1
t1=$(date +%s)
check_rc "a timed-out job counts as failed" 1
check_true "--timeout 1 stopped the job long before its 60 s ($((t1 - t0)) s)" [ $((t1 - t0)) -lt 30 ]
check_gone "--timeout: the job's main process is gone" "$(cat p/main1)"
check_gone "--timeout: the job's background grandchild is gone" "$(cat p/grand1)"
check_eq "--timeout: joblog Exitval -1" -1 "$(awk -F'\t' 'NR == 2 { print $7 }' jl3)"
check_eq "--timeout: joblog Signal 15" 15 "$(awk -F'\t' 'NR == 2 { print $8 }' jl3)"
check_eq "--timeout: results.csv exit -1" -1 "$(csv_field R3/results.csv job 1 exit)"
check_eq "--timeout: results.csv signal 15" 15 "$(csv_field R3/results.csv job 1 signal)"

# A job that ignores TERM is killed after --grace.
t0=$(date +%s)
run_parc --timeout 1 --grace 1 --joblog jl4 --shell \
  'trap "" TERM; sleep 60 & echo $! > p/igrand{}; sleep 61' ::: 1
t1=$(date +%s)
check_rc "a TERM-immune timed-out job counts as failed" 1
check_true "--grace 1: KILL came well before 60 s ($((t1 - t0)) s)" [ $((t1 - t0)) -lt 30 ]
check_gone "--grace: the TERM-immune grandchild is gone" "$(cat p/igrand1)"
check_eq "--grace: joblog Exitval -1" -1 "$(awk -F'\t' 'NR == 2 { print $7 }' jl4)"
check_eq "--grace: joblog Signal 9" 9 "$(awk -F'\t' 'NR == 2 { print $8 }' jl4)"

# Only the slow job times out; the quick ones succeed.
run_parc -j 3 --timeout 2 --joblog jl5 --shell 'if [ {} = slow ]; then sleep 30; fi; echo {}' ::: a slow b
check_rc "one of three jobs timed out" 1
check_eq "jobs within the timeout succeed" "$(lines a b)" "$(printf '%s\n' "$OUT" | sort)"
check_eq "joblog: only the slow job is -1" "-1 0 0" \
  "$(awk -F'\t' 'NR > 1 { print $7 }' jl5 | sort | tr '\n' ' ' | sed 's/ $//')"

# Retries and timeout together: each attempt times out.
run_parc --retries 2 --timeout 1 --shell 'echo x >> m/tr{}; sleep 30' ::: 1
check_rc "timed-out job with retries" 1
check_eq "--retries 2 --timeout: the job ran twice" 2 "$(count_lines m/tr1)"

done_testing
