#!/usr/bin/env bash
# The grid-search walkthrough of docs/parc-run.md, on a fresh directory:
# --results runs --joblog runs/joblog, three axes, --best over folds, then
# --resume after widening an axis runs only the new fits.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
mkdir m
cat >train <<'EOF'
#!/bin/sh
# ./train --C C --kernel K --fold F: a fake fit; accuracy depends on C only.
echo "$2 $4 $6" >> m/fits
case "$2" in 2.5) a=0.9;; *) a=0.5;; esac
echo "fitting C=$2 kernel=$4 fold=$6"
echo "accuracy=$a"
EOF
chmod +x train

args=(--results runs --joblog runs/joblog --grid kernel=rbf,poly --grid fold=0:1
      --best accuracy --average-over fold ./train --C '{C}' --kernel '{kernel}' --fold '{fold}')
run_parc -j 4 --grid C=0.001,2.5 "${args[@]}"
check_rc "walkthrough sweep on a fresh directory" 0
check_eq "8 fits ran" 8 "$(count_lines m/fits)"
check_eq "joblog inside the results directory: header and 8 lines" 9 "$(count_lines runs/joblog)"
check_eq "results.csv header as documented" "job,C,kernel,fold,exit,signal,start,runtime,host,accuracy" \
  "$(head -n 1 runs/results.csv)"
check_eq "a fit's output in runs/C=2.5,kernel=rbf,fold=1/stdout" \
  "$(lines 'fitting C=2.5 kernel=rbf fold=1' 'accuracy=0.9')" "$(cat 'runs/C=2.5,kernel=rbf,fold=1/stdout')"
best=$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -i best | tail -n 1)
check_contains "best setting is C=2.5" "2.5" "$best"

run_parc -j 4 --resume --grid C=0.001,2.5,10 "${args[@]}"
check_rc "--resume after widening C" 0
check_eq "--resume ran only the 4 new fits" 12 "$(count_lines m/fits)"
check_eq "the new fits are C=10" 4 "$(grep -c '^10 ' m/fits)"
check_eq "results.csv: the new rows join the old ones" 13 "$(count_lines runs/results.csv)"

done_testing
