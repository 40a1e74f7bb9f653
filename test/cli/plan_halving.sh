#!/usr/bin/env bash
# parc plan --halving: the rungs are scikit-learn's (HalvingGridSearchCV,
# min_resources='exhaust'), each rung scheduled longest first on the cores,
# the next when it ends; job times from --task-time scaled by the budget
# or from a results.csv over budgets; the fewest cores for a deadline, the
# exhaustive grid beside it, and bad input.
. "$(dirname "$0")/lib.sh"

plan() { run_parc_cmd plan "$@"; }

# 50 settings, samples 500..8000, factor 3: rungs (500, 50) (1500, 17)
# (4500, 6). A job at 8000 takes 80 s, so 5 s, 15 s and 45 s at the rungs.
# On c cores the rungs take ceil(50/c) 5 + ceil(17/c) 15 + ceil(6/c) 45:
# 8 cores 35 + 45 + 45 = 125 s, 9 cores 30 + 30 + 45 = 105 s.
plan --halving --budget samples=500:8000 --tasks 50 --task-time 80 \
  --deadline 2m --price 0.5
check_rc "halving of 50 settings" 0
check_match "rung 0: 500 samples, 50 settings" '^ +0 +500 +50 +50 +5 s +30 s$' "$OUT"
check_match "rung 1: 1500 samples, 17 settings" '^ +1 +1500 +17 +17 +15 s +30 s$' "$OUT"
check_match "rung 2: 4500 samples, 6 settings" '^ +2 +4500 +6 +6 +45 s +45 s$' "$OUT"
check_eq "no fourth rung" "" "$(grep -E '^ +3 +[0-9]' <<<"$OUT")"
check_match "total: 73 jobs, 1:45" '^ +total +73 +1:45$' "$OUT"
check_match "9 cores meet 2 min (8 take 2:05)" '^Cores needed: 9 -- expected wall time 1:45' "$OUT"
check_contains "cost: 9 cores x 105 s at 0.5" "cost 0.13 (0.50 per core-hour)" "$OUT"
check_contains "exhaustive: 50 x 80 s on 9 cores = 6 waves" "Exhaustive grid at samples=8000 on 9 cores: 50 jobs, wall time 8:00 (4.6x the halving's)" "$OUT"

# 27 settings x 3 folds (--average-over), budget 1..1000: rungs (37, 27)
# (111, 9) (333, 3) (999, 1), each setting 3 jobs.
plan --halving --budget samples=1:1000 --grid a=1:27 --grid fold=0:2 \
  --average-over fold --task-time 1000 --deadline 1h
check_rc "halving of 27 settings x 3 folds" 0
check_contains "settings and jobs" "Successive halving of 27 settings x 3 jobs (one per fold), samples 1 to 1000, factor 3" "$OUT"
check_match "rung 0: (37, 27), 81 jobs" '^ +0 +37 +27 +81 ' "$OUT"
check_match "rung 1: (111, 9), 27 jobs" '^ +1 +111 +9 +27 ' "$OUT"
check_match "rung 2: (333, 3), 9 jobs" '^ +2 +333 +3 +9 ' "$OUT"
check_match "rung 3: (999, 1), 3 jobs" '^ +3 +999 +1 +3 ' "$OUT"
check_match "exhaustive: 81 jobs at 1000" '^Exhaustive grid at samples=1000 on [0-9]+ cores: 81 jobs' "$OUT"

# --budget-exponent 2 (SVC training): a job at 4500 of 8000 takes
# 80 (4500/8000)^2 = 25.3 s, at 500 80/256 = 0.3125 s.
plan --halving --budget samples=500:8000 --tasks 50 --task-time 80 \
  --budget-exponent 2 --deadline 10m
check_match "time ~ budget^2 at 4500" '^ +2 +4500 +6 +6 +25\.3 s ' "$OUT"
check_match "and at 500" '^ +0 +500 +50 +50 +0\.312 s ' "$OUT"

# Job times from a halving run's results.csv: at 500 samples 5 and 6 s, at
# 1500 15 and 18 s (a failed and a pruned job left out): the fitted
# exponent is 1; rungs 0 and 1 use the observed times (*), rung 2 (4500,
# never run) all four scaled to it: 45, 54, 45, 54 s.
printf 'job,C,samples,exit,signal,start,runtime,host,rung,pruned\n' >"$T/h.csv"
printf '1,1,500,0,0,1,5,h,0,\n2,2,500,0,0,1,6,h,0,\n' >>"$T/h.csv"
printf '3,1,1500,0,0,1,15,h,1,\n4,2,1500,0,0,1,18,h,1,\n' >>"$T/h.csv"
printf '5,3,1500,0,0,1,2,h,1,1\n6,3,500,1,0,1,99,h,0,\n' >>"$T/h.csv"
plan --halving --budget samples=500:8000 --tasks 50 --from "$T/h.csv" \
  --deadline 5m
check_rc "--from a run over budgets" 0
check_contains "the exponent is fitted: 1" "(samples / theirs)^1 (fitted over 2 budgets)" "$OUT"
check_match "rung 0: observed at 500, median 5.5 s" '^ +0 +500\* +50 +50 +5\.5 s ' "$OUT"
check_match "rung 1: observed at 1500, median 16.5 s" '^ +1 +1500\* +17 +17 +16\.5 s ' "$OUT"
check_match "rung 2: scaled to 4500, median 49.5 s" '^ +2 +4500 +6 +6 +49\.5 s ' "$OUT"
# On 3 cores rung 2's six jobs, the quantiles of 45, 45, 54, 54 (45, 45,
# 46.5, 52.5, 54, 54), take 54+45 | 54+45 | 52.5+46.5 = 99 s; rung 1's 17
# (15 to 18 s) 99 s, rung 0's 50 (5 to 6 s) 93 s: 291 s in all.
check_match "3 cores: 4:51" '^Cores needed: 3 -- expected wall time 4:51' "$OUT"

# --budget-exponent given wins over the fit.
plan --halving --budget samples=500:8000 --tasks 50 --from "$T/h.csv" \
  --budget-exponent 2 --deadline 1h
check_contains "given exponent" "(samples / theirs)^2 (--budget-exponent)" "$OUT"
check_match "rung 2 scaled by squares: 405, 486, 135, 162 -> median 283.5 s" '^ +2 +4500 +6 +6 +4:44 ' "$OUT"

# A plain run's job log has no budget: its times are at the largest one.
printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n' >"$T/log"
printf '1\t:\t1.0\t    80.000\t0\t0\t0\t0\tx\n' >>"$T/log"
plan --halving --budget samples=500:8000 --tasks 50 --from "$T/log" --deadline 2m
check_contains "taken as at the largest budget" "taken as at samples=8000" "$OUT"
check_match "the same 9 cores as --task-time 80" '^Cores needed: 9 -- expected wall time 1:45' "$OUT"

plan --halving --budget samples=500:8000 --tasks 50 --task-time 80 --deadline 1m
check_rc "no cores meet a deadline shorter than the rungs' longest jobs" 1
check_contains "says so" "No number of cores meets the deadline: with one core per job the rungs take 1:05" "$OUT"

# Bad input: exit 2, one line that names the bad part.
bad() { # NEEDLE ARGS...
  local needle=$1
  shift
  plan "$@"
  check_rc "bad input: $*" 2
  check_eq "one line for: $*" 1 "$(printf '%s\n' "$ERR" | wc -l | tr -d ' ')"
  check_contains "names $needle" "$needle" "$ERR"
}
ok_args=(--tasks 50 --task-time 80 --deadline 1h)
bad "--halving needs --budget" --halving "${ok_args[@]}"
bad "bad --factor '1'" --halving --budget s=1:9 --factor 1 "${ok_args[@]}"
bad "bad --factor 'x'" --halving --budget s=1:9 --factor x "${ok_args[@]}"
bad "bad --budget-exponent '0'" --halving --budget s=1:9 --budget-exponent 0 "${ok_args[@]}"
bad "bad --budget-exponent '-1'" --halving --budget s=1:9 --budget-exponent -1 "${ok_args[@]}"
bad "bad --budget 's=9:1'" --halving --budget s=9:1 "${ok_args[@]}"
bad "bad --budget 's'" --halving --budget s "${ok_args[@]}"
bad "need --halving" --budget s=1:9 "${ok_args[@]}"
bad "need --halving" --factor 2 "${ok_args[@]}"
bad "--average-over fold is not a --grid axis" --halving --budget s=1:9 \
  --average-over fold "${ok_args[@]}"
bad "--budget C is also a --grid axis" --halving --budget C=1:9 \
  --grid C=1,2 --task-time 1 --deadline 1h
bad "need --deadline" --halving --budget s=1:9 --tasks 5 --task-time 1

done_testing
