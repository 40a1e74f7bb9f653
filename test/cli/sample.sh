#!/usr/bin/env bash
# --sample N: N settings drawn from the --grid axes' distributions
# (uniform:, loguniform:, int:, choice:, lists), reproducible from --seed,
# within bounds, the --average-over axes crossed with each setting, and
# a resume that finds the same commands.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

in_range() { # MIN MAX VALUES...: every value within [MIN, MAX]
  local lo=$1 hi=$2
  shift 2
  awk -v lo="$lo" -v hi="$hi" 'BEGIN { for (i = 1; i < ARGC; i++)
    if (!(ARGV[i] + 0 >= lo + 0 && ARGV[i] + 0 <= hi + 0)) exit 1 }' "$@"
}

# 200 settings of four kinds of axes
run_parc -k --sample 200 --seed 5 --grid lr=loguniform:1e-4:1e-1 \
  --grid u=uniform:-2:3 --grid n=int:3:7 --grid k=choice:rbf,poly \
  echo {lr} {u} {n} {k}
check_rc "200 settings run" 0
check_eq "200 jobs" 200 "$(printf '%s\n' "$OUT" | wc -l)"
FIRST=$OUT
lrs=$(printf '%s\n' "$OUT" | cut -d' ' -f1)
check_true "loguniform within [1e-4, 1e-1)" in_range 0.0001 0.1 $lrs
check_true "uniform within [-2, 3)" in_range -2 3 $(printf '%s\n' "$OUT" | cut -d' ' -f2)
check_eq "int: exactly the values 3..7, each drawn" "3 4 5 6 7" \
  "$(printf '%s\n' "$OUT" | cut -d' ' -f3 | sort -u | tr '\n' ' ' | sed 's/ $//')"
check_eq "choice: both values drawn" "poly rbf" \
  "$(printf '%s\n' "$OUT" | cut -d' ' -f4 | sort -u | tr '\n' ' ' | sed 's/ $//')"
# loguniform: about half of the draws below the geometric middle 3.16e-3
low=$(printf '%s\n' $lrs | awk '$1 < 0.00316228 { n++ } END { print n + 0 }')
check_true "loguniform: uniform in log space ($low of 200 below the middle)" \
  test "$low" -gt 70 -a "$low" -lt 130
check_eq "200 distinct settings" 200 "$(printf '%s\n' "$OUT" | sort -u | wc -l)"

run_parc -k --sample 200 --seed 5 --grid lr=loguniform:1e-4:1e-1 \
  --grid u=uniform:-2:3 --grid n=int:3:7 --grid k=choice:rbf,poly \
  echo {lr} {u} {n} {k}
check_eq "the same seed draws the same settings" "$FIRST" "$OUT"
run_parc -k -j1 --sample 200 --seed 5 --grid lr=loguniform:1e-4:1e-1 \
  --grid u=uniform:-2:3 --grid n=int:3:7 --grid k=choice:rbf,poly \
  echo {lr} {u} {n} {k}
check_eq "whatever -j is" "$FIRST" "$OUT"
run_parc -k --sample 200 --seed 6 --grid lr=loguniform:1e-4:1e-1 \
  --grid u=uniform:-2:3 --grid n=int:3:7 --grid k=choice:rbf,poly \
  echo {lr} {u} {n} {k}
check_ne "another seed, other settings" "$FIRST" "$OUT"

# only lists: N distinct settings, or all of them
run_parc -k --sample 4 --grid a=1,2,3 --grid b=x,y echo {a}{b}
check_eq "lists: 4 settings" 4 "$(printf '%s\n' "$OUT" | sort -u | wc -l)"
run_parc -k --sample 10 --grid a=1,2,3 --grid b=x,y echo {a}{b}
check_eq "lists: all 6 when N is more" "1x 1y 2x 2y 3x 3y" \
  "$(printf '%s\n' "$OUT" | sort | tr '\n' ' ' | sed 's/ $//')"

# --average-over axes are crossed with each drawn setting
run_parc -q -k --sample 3 --grid c=uniform:0:1 --grid fold=0:2 \
  --results R --best acc --average-over fold sh -c 'echo acc=0.5; echo {c}-{fold} >&2'
check_rc "sample with folds" 0
check_eq "3 settings x 3 folds" 9 "$(tail -n +2 R/results.csv | wc -l)"
check_eq "each setting has the 3 folds" "3 3 3" \
  "$(tail -n +2 R/results.csv | cut -d, -f2 | sort | uniq -c | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
check_contains "results.csv names the drawn axis" "job,c,fold," "$(head -1 R/results.csv)"

# a resume finds the drawn commands done
run_parc --sample 6 --seed 2 --grid x=uniform:0:1 --joblog jl echo {x}
run_parc --sample 8 --seed 2 --grid x=uniform:0:1 --joblog jl --resume echo {x}
check_eq "resume: the first 6 draws are the same, 2 new run" 2 \
  "$(printf '%s\n' "$OUT" | grep -c .)"

# a larger N keeps the first draws (lists: a random order of the grid)
run_parc -k --sample 3 --seed 7 --grid a=0:9 --grid b=0:9 echo {a}{b}
three=$OUT
run_parc -k --sample 5 --seed 7 --grid a=0:9 --grid b=0:9 echo {a}{b}
check_eq "--sample 5 begins with --sample 3's settings" "$three" \
  "$(printf '%s\n' "$OUT" | head -n 3)"
check_eq "5 distinct" 5 "$(printf '%s\n' "$OUT" | sort -u | wc -l)"
run_parc --dry-run --sample 200000 --grid a=0:999 --grid b=0:999 echo {a} {b}
check_eq "200000 distinct settings of 10^6, at once" 200000 \
  "$(printf '%s\n' "$OUT" | sort -u | wc -l)"

# usage
run_parc --sample 2 --grid a=1,2,3 --grid fold=int:0:4 --best acc \
  --average-over fold echo {a} {fold}
check_rc "a distribution on an axis not drawn" 255
check_contains "says which" "fold=int:0:4" "$ERR"
run_parc --sample 2 --grid a=1,2 echo {a} :::+ p q
check_rc "a :::+ source linked to a drawn axis" 255
run_parc --grid a=uniform:0:1 echo {a}
check_rc "a distribution without --sample" 255
check_contains "says so" "needs --sample" "$ERR"
run_parc --sample 3 --grid a=loguniform:0:1 echo {a}
check_rc "loguniform from 0" 255
run_parc --sample 3 --grid a=uniform:2:1 echo {a}
check_rc "uniform A >= B" 255
check_contains "names the axis" "a=uniform:2:1" "$ERR"
run_parc --sample 0 --grid a=1,2 echo {a}
check_rc "--sample 0" 255
run_parc --sample 3 --grid fold=0:2 --best acc --average-over fold echo {fold}
check_rc "nothing to draw" 255
check_contains "says what" "--sample needs a --grid axis" "$ERR"
