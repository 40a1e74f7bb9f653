#!/usr/bin/env bash
# --halving: successive halving over a --budget axis. Jobs with known
# scores: the settings kept per rung, the rungs' budgets (scikit-learn's),
# asynchronous promotion (ASHA), early stopping on intermediate metrics,
# --average-over, results.csv's rung column, and a resume of an
# interrupted run giving the same final result.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

# score(a, budget): at n=10 it is a; at n=30 it is 10 - a; at n=90 100 + a.
# With 9 settings and factor 3: rung 0 keeps a = 7, 8, 9; rung 1 keeps 7.
cat >job.sh <<'SH'
#!/bin/sh
[ -n "${DELAY:-}" ] && sleep "$DELAY"
case "$2" in
  10) echo "score=$1";;
  30) echo "score=$((10 - $1))";;
  *)  echo "score=$((100 + $1))";;
esac
SH
chmod +x job.sh
rows_c() { # FILE: "C/n/rung/pruned" per row of results.csv, sorted
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { print $c["C"] "/" $c["n"] "/" $c["rung"] "/" $c["pruned"] }' "$1" | sort |
    tr '\n' ' ' | sed 's/ $//'
}
rows() { # FILE: "a/n/rung" per row of results.csv, sorted
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    { print $c["a"] "/" $c["n"] "/" $c["rung"] }' "$1" | sort -t/ -k3,3n -k1,1n |
    tr '\n' ' ' | sed 's/ $//'
}

run_parc -j2 --halving --budget n=10:90 --best score --grid a=1:9 \
  --results R ./job.sh {a} {n}
check_rc "halving runs" 0
check_eq "rung 0 all 9 at n=10, rung 1 the best 3 at n=30, rung 2 the best 1 at n=90" \
  "1/10/0 2/10/0 3/10/0 4/10/0 5/10/0 6/10/0 7/10/0 8/10/0 9/10/0 7/30/1 8/30/1 9/30/1 7/90/2" \
  "$(rows R/results.csv)"
check_contains "best is the last rung's best" "best: a=7 n=90  score = 107" "$OUT"
check_match "the summary names the rungs" "rung 1 +n=30 +3 settings" "$OUT"

# minimize: rung 0 keeps a = 1, 2, 3; rung 1 (10 - a, lowest) keeps 3
run_parc -j2 --halving --minimize --budget n=10:90 --best score \
  --grid a=1:9 --results M ./job.sh {a} {n}
check_eq "--minimize keeps the lowest" \
  "1/10/0 2/10/0 3/10/0 4/10/0 5/10/0 6/10/0 7/10/0 8/10/0 9/10/0 1/30/1 2/30/1 3/30/1 3/90/2" \
  "$(rows M/results.csv)"

# scikit-learn's rungs: 50 settings, 500:8000, factor 3 -> 500 1500 4500
run_parc --dry-run --halving --budget s=500:8000 --best acc --grid a=1:50 echo {s}
check_eq "dry run: rung 0 at the first budget" "500" "$(printf "%s\n" "$OUT" | sed "s/^echo //" | sort -u)"
check_eq "dry run: all 50 settings" 50 "$(printf '%s\n' "$OUT" | wc -l)"
run_parc -q -j2 --halving --budget s=500:8000 --best acc --grid a=1:50 \
  --results S sh -c 'echo acc={a}'
check_eq "rungs 500 1500 4500 with 50 17 6 settings" "50x500 17x1500 6x4500" \
  "$(awk -F, 'NR > 1 { print $3 }' S/results.csv | sort -n | uniq -c |
     awk '{ printf "%s%sx%s", (NR > 1 ? " " : ""), $1, $2 }')"
run_parc --dry-run --halving --factor 2 --budget s=1:1000 --best acc --grid a=1:8 echo {s}
check_eq "factor 2, 8 settings: 1000 // 2^3 = 125 first" 125 "$(printf "%s\n" "$OUT" | sed "s/^echo //" | sort -u)"

# 243 settings, factor 3: scikit-learn counts 1 + floor(log(243) / log(3))
# = 5 rungs (log(243) / log(3) is 4.999... in doubles), so the first budget
# is 100000 // 3^4 = 1234, not 100000 // 3^5 = 411
run_parc --dry-run --halving --budget s=1:100000 --best acc --grid a=1:243 echo {s}
check_eq "243 settings: scikit-learn's 5 rungs, first 1234" 1234 \
  "$(printf "%s\n" "$OUT" | sed "s/^echo //" | sort -u)"

# --average-over: a setting's score is the mean over its folds
cat >fold.sh <<'SH'
#!/bin/sh
# a=1: folds 9 and 0 (mean 4.5); a=2: 4 and 4 (4); a=3: 5 and 5 (5)
case "$1/$2" in 1/0) v=9;; 1/1) v=0;; 2/*) v=4;; 3/*) v=5;; esac
echo "acc=$v"
SH
chmod +x fold.sh
run_parc -j2 --halving --factor 3 --budget n=1:3 --best acc \
  --grid a=1:3 --grid fold=0:1 --average-over fold --results F ./fold.sh {a} {fold}
check_eq "3 settings x 2 folds at rung 0, then the best mean (a=3) x 2" \
  "1/1/0 1/1/0 2/1/0 2/1/0 3/1/0 3/1/0 3/3/1 3/3/1" "$(rows F/results.csv)"

# asynchronous: every setting at rung 0, no rung sends on more than the
# synchronous run, and the run ends with one setting at the last rung
run_parc -j2 --halving async --budget n=10:90 --best score --grid a=1:9 \
  --results A ./job.sh {a} {n}
check_rc "async runs" 0
check_eq "async: 9 at rung 0, 3 at rung 1, 1 at rung 2" "9 3 1" \
  "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
     { n[$c["rung"]]++ } END { print n[0], n[1], n[2] }' A/results.csv)"
# ASHA promotes before a rung is complete: with -j1 and settings in
# descending order, the first three (9 8 7) fill rung 0's first third, and
# 9 goes on to rung 1 before setting 6 runs
run_parc -j1 --halving async --budget n=10:90 --best score \
  --grid a=9,8,7,6,5,4,3,2,1 --joblog AJ ./job.sh {a} {n}
check_eq "async order: 9 8 7 at n=10, then 9 at n=30, then the rest" \
  "9/10 8/10 7/10 9/30 6/10" \
  "$(awk -F'\t' 'NR > 1 { split($NF, w, " "); print w[2] "/" w[3] }' AJ | head -5 |
     tr '\n' ' ' | sed 's/ $//')"

# early stopping: `step=S score=V` lines; settings come best first, so a
# later one below the best third of what its rung printed at a step stops
cat >steps.sh <<'SH'
#!/bin/sh
for s in 1 2 3 4 5 6; do echo "step=$s score=$1"; sleep 0.3; done
echo "score=$1"
SH
chmod +x steps.sh
run_parc -j3 --halving --budget n=10:90 --best score \
  --grid a=9,8,7,6,5,4,3,2,1 --results E ./steps.sh {a} {n}
check_rc "a run with jobs stopped early succeeds" 0
pruned=$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
  $c["pruned"] == 1 { print $c["a"] }' E/results.csv | sort -n | tr '\n' ' ' | sed 's/ $//')
check_eq "settings 1..6 were stopped early at rung 0" "1 2 3 4 5 6" "$pruned"
check_eq "and stopped at their first step" "1" \
  "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
     $c["pruned"] == 1 { print $c["step"] }' E/results.csv | sort -u)"
check_contains "the summary counts them" "6 jobs stopped early" "$OUT"
check_contains "best is still found" "best: a=9 n=90" "$OUT"

# resume of an interrupted run gives the same final result
DELAY=0.3 "$PARC" run -j2 --halving --budget n=10:90 --best score --grid a=1:9 \
  --results RR --joblog RJ ./job.sh {a} {n} >/dev/null 2>&1 &
pid=$!
BG_PIDS+=("$pid")
logged() { test "$(cat RJ 2>/dev/null | wc -l)" -ge "$1"; }
wait_for 60 logged 4 || fail "the run logged no 3 jobs in 60 s"
kill -INT "$pid"
wait "$pid"
check_eq "the interrupted run exits 130" 130 "$?"
done_before=$(($(wc -l < RJ) - 1))
check_true "it stopped before the end ($done_before jobs)" test "$done_before" -lt 13
DELAY=0.05 run_parc -j2 --halving --budget n=10:90 --best score --grid a=1:9 \
  --results RR --joblog RJ --resume ./job.sh {a} {n}
check_rc "the resume runs" 0
check_eq "13 jobs in all, none twice" 13 "$(($(wc -l < RJ) - 1))"
check_eq "the same rows as an uninterrupted run" "$(rows R/results.csv)" "$(rows RR/results.csv)"
check_contains "the same best" "best: a=7 n=90  score = 107" "$OUT"

# early stopping compares a job with the same fold of the other settings,
# never with its own setting's other folds: fold f of setting C scores
# C*10+f and fold 4 reports first; with -j5 the five folds of one setting
# run together, and before this rule C=9's own folds 2..4 cut its fold 1
cat >folds.sh <<'SH'
#!/bin/sh
sleep "0.$((4 - $2))"
echo "step=1 acc=$(($1 * 10 + $2))"
sleep 0.2
echo "acc=$(($1 * 10 + $2))"
SH
chmod +x folds.sh
run_parc -j5 --halving --budget n=1:9 --best acc --grid C=9,8,7 \
  --grid fold=0:4 --average-over fold --results PF ./folds.sh {C} {fold}
check_contains "the best setting goes on and wins" "best: C=9" "$OUT"
check_eq "no job was stopped by its own setting's folds" "" \
  "$(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
     $c["pruned"] == 1 && $c["C"] == 9' PF/results.csv)"

# a job stopped early that still exits 0 (it ignores TERM) is pruned on a
# resume too: its partial value is no score (it would win rung 0 here)
cat >stubborn.sh <<'SH'
#!/bin/sh
trap 'echo "acc=100"; exit 0' TERM
echo "step=1 acc=$1"
sleep 0.6
echo "acc=$1"
SH
chmod +x stubborn.sh
run_parc -j4 --halving --budget n=1:9 --best acc --grid C=9,8,7,6,5,4,3,2,1 \
  --results SR --joblog SJ ./stubborn.sh {C} {n}
check_contains "stubborn jobs: best is the best" "best: C=9" "$OUT"
full=$(rows_c SR/results.csv)
head -n 1 SJ >SJ0
awk -F'\t' 'NR > 1 && $NF ~ / 1$/' SJ >>SJ0 # rung 0 only (n=1)
mv SJ0 SJ
run_parc -j4 --halving --budget n=1:9 --best acc --grid C=9,8,7,6,5,4,3,2,1 \
  --results SR --joblog SJ --resume ./stubborn.sh {C} {n}
check_eq "resumed after rung 0: the same settings go on" "$full" "$(rows_c SR/results.csv)"

# a job stopped early is not one that ran out of --memory
run_parc -q -j4 --grace 0.1 --memory 200M --retry-memory 2 --halving \
  --budget n=1:9 --best acc --grid C=9,8,7,6,5 --results MR \
  sh -c 'trap "" TERM; echo step=1 acc={C}; sleep 0.5; echo acc={C}'
check_not_contains "no job said to run out of memory" "ran out of memory" "$ERR"

# usage
run_parc --halving --budget n=1:9 --best s --grid a=1:3 --joblog SJ --retry-failed echo {a}
check_rc "--halving --retry-failed" 255
run_parc --halving --best score --grid a=1:3 echo {a}
check_rc "--halving without --budget" 255
run_parc --halving --budget n=10:90 --grid a=1:3 echo {a}
check_rc "--halving without --best" 255
run_parc --halving --budget n=0:90 --best s --grid a=1:3 echo {a}
check_rc "a budget from 0" 255
check_contains "names it" "n=0:90" "$ERR"
run_parc --halving --budget a=1:9 --best s --grid a=1:3 echo {a}
check_rc "the budget axis is also a grid axis" 255
run_parc --halving --factor 1 --budget n=1:9 --best s --grid a=1:3 echo {a}
check_rc "--factor 1" 255
run_parc --budget n=1:9 --grid a=1:3 echo {a}
check_rc "--budget without --halving" 255
run_parc --halving --budget n=1:9 --best s --grid a=1:3 --joblog j --resume echo {a}
check_rc "--halving --resume without --results" 255
