#!/usr/bin/env bash
# --shuf runs every job once, in a random order (the same with --seed);
# --nice N runs the jobs at niceness N (not parc).
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

run_parc -j1 --shuf echo ::: $(seq 200)
check_rc "--shuf runs" 0
check_eq "--shuf: every job once" "$(seq 200)" "$(printf '%s\n' "$OUT" | sort -n)"
check_ne "--shuf: not in input order" "$(seq 200)" "$OUT"
first=$OUT
run_parc -j1 --shuf --seed 9 echo ::: $(seq 200)
seeded=$OUT
run_parc -j1 --shuf --seed 9 echo ::: $(seq 200)
check_eq "--shuf --seed: the same order twice" "$seeded" "$OUT"
run_parc -j1 --shuf --seed 10 echo ::: $(seq 200)
check_ne "another seed, another order" "$seeded" "$OUT"
run_parc -j1 --shuf echo ::: $(seq 3)
check_eq "--shuf: 3 jobs, each once" "1 2 3" "$(printf '%s\n' "$OUT" | sort -n | tr '\n' ' ' | sed 's/ $//')"
run_parc -j1 --shuf --seed 4 --joblog jl echo ::: $(seq 50)
run_parc -j1 --shuf --seed 5 --joblog jl --resume echo ::: $(seq 60)
check_eq "--shuf --resume: only the 10 new jobs run" "$(seq 51 60)" \
  "$(printf '%s\n' "$OUT" | sort -n)"
run_parc --shuf --pipe cat
check_rc "--shuf with --pipe is refused" 255

mine=$(ps -o ni= -p $$ | tr -d ' ')
run_parc -q -j2 --nice 7 sh -c 'ps -o ni= -p $$' ::: 1 2 3 4
check_eq "--nice 7: every job at niceness 7" "7 7 7 7" \
  "$(printf '%s\n' "$OUT" | tr -d ' ' | tr '\n' ' ' | sed 's/ $//')"
check_eq "parc itself keeps its niceness" "$mine" "$(ps -o ni= -p $$ | tr -d ' ')"
run_parc -q -j1 sh -c 'ps -o ni= -p $$' ::: 1
check_eq "without --nice: the jobs at parc's" "$mine" "$(printf '%s' "$OUT" | tr -d ' ')"
run_parc --nice 20 echo ::: a
check_rc "--nice 20 is refused" 255
check_contains "names it" "--nice '20'" "$ERR"

done_testing
