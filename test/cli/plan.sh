#!/usr/bin/env bash
# parc plan: cores for a deadline (the seeds' 125 tasks x 70 s in 20 min
# needs 8), tasks from --grid, task time from a results.csv or job log,
# Amdahl and Gustafson, the plot, and bad input.
. "$(dirname "$0")/lib.sh"

plan() { run_parc_cmd plan "$@"; }

plan --tasks 125 --task-time 70 --deadline 20m
check_rc "the seeds' example" 0
check_match "the seeds' example needs 8 cores" '^Cores needed: 8 -- 16 waves, expected wall time 18:40' "$OUT"
check_match "7 cores miss the deadline" '^ +7 +18 +21:00 +no' "$OUT"
check_match "8 cores meet it" '^ +8 +16 +18:40 +yes' "$OUT"

plan --tasks 125 --task-time 70s --deadline 20m --price 0.5
check_match "cost: 8 cores x 18:40 at 0.5 per core-hour" 'cost 1\.24 \(0\.50 per core-hour\)' "$OUT"

plan --grid C=0.001,0.025,2.5,5,10 --grid kernel=rbf,poly --grid fold=0:4 \
  --task-time 70 --deadline 20m
check_match "--grid axes as parc run takes them: 50 tasks" '^50 tasks x 1:10' "$OUT"
check_match "50 x 70 s in 20 min needs 3 cores" '^Cores needed: 3 -- 17 waves' "$OUT"

plan --tasks 10 --task-time 2h --deadline 1h
check_rc "a task longer than the deadline" 1
check_contains "says why" "one task takes longer" "$OUT"

# Task time from a job log and from a results.csv: the mean of the
# successful jobs (failed ones are left out).
printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n' >"$T/log"
printf '1\t:\t1.0\t    10.000\t0\t0\t0\t0\tx a\tb\n' >>"$T/log"
printf '2\t:\t1.0\t    30.000\t0\t0\t0\t0\tx\n' >>"$T/log"
printf '3\t:\t1.0\t   999.000\t0\t0\t1\t0\tx\n' >>"$T/log"
plan --from "$T/log" --tasks 6 --deadline 1m
check_rc "--from a job log" 0
check_contains "mean of the 2 successful jobs" "Task time: 20 s, the mean of 2 successful jobs" "$OUT"
check_match "6 x 20 s in 1 min needs 2 cores" '^Cores needed: 2 -- 3 waves' "$OUT"

printf 'job,C,"note, quoted",exit,signal,start,runtime,host\n1,1,"a,b",0,0,1.0,4,h\n2,2,"x",0,0,1.0,8,h\n3,3,y,2,0,1.0,100,h\n' >"$T/results.csv"
plan --from "$T/results.csv" --tasks 4 --deadline 12
check_contains "--from a results.csv" "Task time: 6 s, the mean of 2 successful jobs" "$OUT"
check_match "4 x 6 s in 12 s needs 2 cores" '^Cores needed: 2 -- 2 waves' "$OUT"

plan --serial-fraction 0.05 --max-cores 8
check_rc "--serial-fraction alone" 0
check_match "Amdahl and Gustafson for 8 cores" '^ +8 +5\.93 +74% +7\.65 +96%' "$OUT"
check_contains "Amdahl's limit" "limit for any number of cores: 20.0" "$OUT"

if command -v gnuplot >/dev/null 2>&1; then
  plan --serial-fraction 0.1 --plot "$T/laws.svg"
  check_rc "--plot with gnuplot" 0
  check_true "the SVG is written" grep -q '<svg' "$T/laws.svg"
else
  echo "skip: gnuplot is not installed, --plot not tested"
fi

for bad in "--tasks 0 --task-time 1 --deadline 1" "--tasks 5 --task-time x --deadline 1" \
    "--tasks 5 --task-time 1" "--bogus" "--grid =1 --task-time 1 --deadline 1" \
    "--serial-fraction 2" "--tasks 5 --task-time 1 --deadline 1 --plot x.svg"; do
  # shellcheck disable=SC2086
  plan $bad
  check_rc "bad input: $bad" 2
  check_eq "one line for: $bad" 1 "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')"
done
plan --from "$T/nope" --tasks 1 --deadline 1
check_rc "unreadable --from" 2
check_contains "names the file" "nope" "$ERR"

done_testing
