#!/usr/bin/env bash
# parc plan: cores for a deadline (the seeds' 125 tasks x 70 s in 20 min
# needs 8), tasks from --grid, task times from a results.csv or job log
# (their distribution, longest first and in input order), Amdahl and
# Gustafson, the plot, and bad input. --halving: plan_halving.sh.
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

# --from keeps every successful job's time (failed ones are left out) and
# plans from their distribution. A job log: 10 s and 30 s drawn to 6 tasks
# are their quantiles 10, 10, 16.7, 23.3, 30, 30 (the work, 2:00, kept);
# longest first on 3 cores: 30+10, 30+10, 23.3+16.7 = 40 s; in input order
# (the 10 s job's three first): 10+23.3, 10+30, 16.7+30 = 46.7 s.
printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n' >"$T/log"
printf '1\t:\t1.0\t    10.000\t0\t0\t0\t0\tx a\tb\n' >>"$T/log"
printf '2\t:\t1.0\t    30.000\t0\t0\t0\t0\tx\n' >>"$T/log"
printf '3\t:\t1.0\t   999.000\t0\t0\t1\t0\tx\n' >>"$T/log"
printf '4\t:\t1.0\t   999.000\t0\t0\t0\t9\tx\n' >>"$T/log"
plan --from "$T/log" --tasks 6 --deadline 1m
check_rc "--from a job log" 0
check_contains "the 2 successful jobs' distribution" "Task times: 2 successful jobs in $T/log -- min 10 s, median 20 s, p90 30 s, max 30 s (mean 20 s)" "$OUT"
check_contains "6 tasks drawn by quantiles keep the work" "6 tasks, their quantiles = 2:00 of work" "$OUT"
check_match "6 tasks need 3 cores longest first: 40 s" '^Cores needed: 3 -- expected wall time 40 s, longest first' "$OUT"
check_match "2 cores: 1:03 either way, missing 1 min" '^ +2 +1:03 +no +1:03 +no' "$OUT"
check_match "3 cores: 40 s longest first, 46.7 s in input order" '^ +3 +40 s +yes +46\.7 s +yes' "$OUT"

# Fewer tasks than observed: 1..5 s drawn to 2 are the quantiles at 0.25
# and 0.75, 1.75 s and 4.25 s.
printf 'job,exit,signal,runtime\n1,0,0,1\n2,0,0,2\n3,0,0,3\n4,0,0,4\n5,0,0,5\n' >"$T/five.csv"
plan --from "$T/five.csv" --tasks 2 --deadline 4.25
check_contains "2 tasks from 5: 6 s of work" "2 tasks, their quantiles = 6 s of work" "$OUT"
check_match "the longer is 4.25 s: 1 core misses, 2 meet" '^ +2 +4\.25 s +yes' "$OUT"
check_match "and 1 core takes their sum" '^ +1 +6 s +no' "$OUT"

# Longest first (LPT) on a known distribution, in a results.csv with a
# quoted comma, a failed job and a job stopped early by --halving (left
# out): 3, 3, 3, 4, 5 s on 2 cores. Longest first, each to the core that
# frees first: 5 | 4, then 3 -> 4+3, 3 -> 5+3, 3 -> 7+3 = 10 s (the best
# order, 5+4 | 3+3+3, takes 9 s: the plan says so). In input order:
# 3 | 3, then 3 -> 6, 4 -> 3+4, 5 -> 6+5 = 11 s.
printf 'job,C,"note, quoted",exit,signal,start,runtime,host,pruned\n' >"$T/results.csv"
printf '1,1,"a,b",0,0,1.0,3,h,\n2,2,x,0,0,1.0,3,h,\n3,3,y,2,0,1.0,100,h,\n' >>"$T/results.csv"
printf '4,4,y,0,0,1.0,3,h,\n5,5,y,0,0,1.0,1,h,1\n6,6,y,0,0,1.0,4,h,\n7,7,y,0,0,1.0,5,h,\n' >>"$T/results.csv"
plan --from "$T/results.csv" --tasks 5 --deadline 10
check_rc "--from a results.csv" 0
check_contains "5 jobs kept: failed and pruned left out" "Task times: 5 successful jobs in $T/results.csv -- min 3 s, median 3 s, p90 5 s, max 5 s (mean 3.6 s)" "$OUT"
check_contains "as many tasks as jobs: those times" "5 tasks, those times = 18 s of work" "$OUT"
check_match "longest first on 2 cores: 10 s" '^Cores needed: 2 -- expected wall time 10 s, longest first' "$OUT"
check_match "in input order: 11 s, needing 3 cores" '^In input order \(as parc run starts them\): 11 s on 2 cores; 3 cores meet' "$OUT"
check_match "the row of 2 cores" '^ +2 +10 s +yes +11 s +no +<- fewest cores' "$OUT"
check_contains "no order beats 9 s" "No order does better on 2 cores than 9 s" "$OUT"

# Equal observed times go through the same schedule as --task-time: the
# seeds' 125 x 70 s in 20 min still needs 8 cores, 18:40.
printf 'job,exit,signal,runtime\n1,0,0,70\n2,0,0,70\n3,0,0,70\n' >"$T/equal.csv"
plan --from "$T/equal.csv" --tasks 125 --deadline 20m
check_match "equal observed times: 8 cores, 16 waves of 70 s" '^Cores needed: 8 -- expected wall time 18:40' "$OUT"
check_match "7 cores: 18 waves, 21:00" '^ +7 +21:00 +no +21:00 +no' "$OUT"

plan --from "$T/results.csv" --tasks 5 --deadline 4
check_rc "--from: a task longer than the deadline" 1
check_contains "says which" "one task takes longer than it (5 s)" "$OUT"

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
